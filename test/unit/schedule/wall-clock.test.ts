/** The wall-clock primitives under the schedule maths, and the DST rules they encode. */
import { describe, expect, it } from 'vitest';
import {
  effectiveWallClock,
  instantOfWall,
  wallClockAt,
} from '../../../workflows/schedule/wall-clock';

const at = (iso: string) => Date.parse(iso);
/** A wall value: the local date and time written as if it were UTC. */
const wall = (local: string) => Date.parse(`${local}Z`);

describe('wallClockAt', () => {
  it.each<[sentence: string, instant: string, timeZone: string, local: string]>([
    ['UTC is the instant itself', '2026-01-05T09:00:00.123Z', 'UTC', '2026-01-05T09:00:00.123'],
    ['Kolkata is 5.5 hours ahead', '2026-01-05T03:30:00Z', 'Asia/Kolkata', '2026-01-05T09:00:00'],
    [
      'Auckland in summer is on the next day',
      '2026-01-04T20:00:00Z',
      'Pacific/Auckland',
      '2026-01-05T09:00:00',
    ],
    [
      'Honolulu is on the previous day',
      '2026-01-06T02:00:00Z',
      'Pacific/Honolulu',
      '2026-01-05T16:00:00',
    ],
    [
      'midnight reads 00:00, not 24:00',
      '2026-01-05T05:00:00Z',
      'America/New_York',
      '2026-01-05T00:00:00',
    ],
  ])('%s', (_sentence, instant, timeZone, local) => {
    expect(wallClockAt(at(instant), timeZone)).toBe(wall(local));
  });
});

describe('instantOfWall', () => {
  it.each<[sentence: string, local: string, timeZone: string, instant: string]>([
    [
      'an ordinary wall time is its one instant',
      '2026-01-05T09:00:00',
      'Asia/Kolkata',
      '2026-01-05T09:00:00+05:30',
    ],
    [
      'a wall time skipped by spring forward happens when the clock skips past it (New York)',
      '2026-03-08T02:30:00',
      'America/New_York',
      '2026-03-08T03:00:00-04:00',
    ],
    [
      'the start of the skipped hour also happens at the jump',
      '2026-03-08T02:00:00',
      'America/New_York',
      '2026-03-08T03:00:00-04:00',
    ],
    [
      'a wall time skipped by spring forward happens when the clock skips past it (London)',
      '2026-03-29T01:30:00',
      'Europe/London',
      '2026-03-29T02:00:00+01:00',
    ],
    [
      'a wall time repeated by fall back happens the first time (New York)',
      '2026-11-01T01:30:00',
      'America/New_York',
      '2026-11-01T01:30:00-04:00',
    ],
    [
      'a wall time repeated by fall back happens the first time (London)',
      '2026-10-25T01:30:00',
      'Europe/London',
      '2026-10-25T01:30:00+01:00',
    ],
    [
      'the wall time the clock was turned back from happens after the repeated hour',
      '2026-11-01T02:00:00',
      'America/New_York',
      '2026-11-01T02:00:00-05:00',
    ],
    [
      'a half-hour fall back (Lord Howe Island) repeats 01:30-02:00 once only',
      '2026-04-05T01:45:00',
      'Australia/Lord_Howe',
      '2026-04-05T01:45:00+11:00',
    ],
  ])('%s', (_sentence, local, timeZone, instant) => {
    expect(instantOfWall(wall(local), timeZone)).toBe(at(instant));
  });
});

describe('effectiveWallClock', () => {
  it.each<[sentence: string, instant: string, timeZone: string, local: string]>([
    [
      'it is the wall clock on an ordinary day',
      '2026-01-05T09:00:00Z',
      'Europe/London',
      '2026-01-05T09:00:00',
    ],
    [
      'it is the wall clock in the first pass of a repeated hour',
      '2026-11-01T01:15:00-04:00',
      'America/New_York',
      '2026-11-01T01:15:00',
    ],
    [
      'it stays just below 02:00 in the second pass of the repeated hour',
      '2026-11-01T01:15:00-05:00',
      'America/New_York',
      '2026-11-01T01:59:59.999',
    ],
    [
      'it moves on again when the wall clock passes 02:00',
      '2026-11-01T02:00:00-05:00',
      'America/New_York',
      '2026-11-01T02:00:00',
    ],
    [
      'a day later it is the wall clock again',
      '2026-11-02T01:15:00-05:00',
      'America/New_York',
      '2026-11-02T01:15:00',
    ],
    [
      'it jumps with the wall clock at spring forward',
      '2026-03-08T03:00:00-04:00',
      'America/New_York',
      '2026-03-08T03:00:00',
    ],
  ])('%s', (_sentence, instant, timeZone, local) => {
    expect(effectiveWallClock(at(instant), timeZone)).toBe(wall(local));
  });
});
