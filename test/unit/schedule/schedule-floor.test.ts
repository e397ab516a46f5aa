/**
 * The schedule's pod floor, when it next changes, and how long until the next window. Instants
 * are local times with their UTC offset; none depends on the host's time zone.
 */
import { describe, expect, it } from 'vitest';
import type { Schedule, ScheduleWindow, Weekday } from '../../../workflows/domain/spec';
import {
  nextScheduleChange,
  scheduleFloor,
  secondsUntilNextWindow,
  type ScheduleFloor,
} from '../../../workflows/schedule';

const WEEKDAYS: Weekday[] = ['mon', 'tue', 'wed', 'thu', 'fri'];

const guided = (
  days: Weekday[],
  wakeAt: string,
  coolDownAt: string,
  minPods: number,
  timezone = 'UTC',
): ScheduleWindow => ({ timezone, minPods, days, wakeAt, coolDownAt });

const schedule = (windows: ScheduleWindow[], scaleToZeroOutsideWindows = true): Schedule => ({
  enabled: true,
  scaleToZeroOutsideWindows,
  windows,
});

const at = (iso: string) => Date.parse(iso);

// Window 1: office hours, 2 pods. Window 2: a lunch peak inside it, 5 pods. Window 3: a custom
// evening window overlapping the end of office hours, 3 pods.
const office = guided(WEEKDAYS, '09:00', '18:00', 2);
const lunch = guided(WEEKDAYS, '12:00', '14:00', 5);
const evening: ScheduleWindow = {
  timezone: 'UTC',
  minPods: 3,
  startCron: '0 17 * * 1-5',
  endCron: '0 20 * * 1-5',
};
const day = schedule([office, lunch, evening]);

type Floor = Omit<ScheduleFloor, 'message'>;

describe('scheduleFloor: overlapping windows and cool-downs on a Monday', () => {
  it.each<[sentence: string, now: string, expected: Floor]>([
    [
      'before any window, with scale to 0 outside windows, there is no floor and the caller scales to 0',
      '2026-01-05T08:00:00Z',
      { floor: null, active: [], outside: 'scaleToZero', reason: 'OutsideWindowsScaleToZero' },
    ],
    [
      'office hours open at 09:00: at least 2 pods',
      '2026-01-05T09:00:00Z',
      { floor: 2, active: [{ index: 0, minPods: 2 }], reason: 'WindowActive' },
    ],
    [
      'the lunch window overlaps office hours: the higher minPods, 5, wins',
      '2026-01-05T12:00:00Z',
      {
        floor: 5,
        active: [
          { index: 0, minPods: 2 },
          { index: 1, minPods: 5 },
        ],
        reason: 'WindowActive',
      },
    ],
    [
      'one millisecond before lunch ends it is still 5',
      '2026-01-05T13:59:59.999Z',
      {
        floor: 5,
        active: [
          { index: 0, minPods: 2 },
          { index: 1, minPods: 5 },
        ],
        reason: 'WindowActive',
      },
    ],
    [
      'when lunch closes its 5 pods hold for the cool-down, until 14:05',
      '2026-01-05T14:00:00Z',
      {
        floor: 5,
        active: [{ index: 0, minPods: 2 }],
        coolingDown: { index: 1, minPods: 5, until: at('2026-01-05T14:05:00Z') },
        reason: 'CoolingDown',
      },
    ],
    [
      'one millisecond before the cool-down ends it still holds 5',
      '2026-01-05T14:04:59.999Z',
      {
        floor: 5,
        active: [{ index: 0, minPods: 2 }],
        coolingDown: { index: 1, minPods: 5, until: at('2026-01-05T14:05:00Z') },
        reason: 'CoolingDown',
      },
    ],
    [
      'exactly five minutes after lunch closed the floor drops back to office hours’ 2',
      '2026-01-05T14:05:00Z',
      { floor: 2, active: [{ index: 0, minPods: 2 }], reason: 'WindowActive' },
    ],
    [
      'the custom evening window overlaps the end of office hours: 3 wins',
      '2026-01-05T17:30:00Z',
      {
        floor: 3,
        active: [
          { index: 0, minPods: 2 },
          { index: 2, minPods: 3 },
        ],
        reason: 'WindowActive',
      },
    ],
    [
      'a cool-down lower than an open window does not set the floor',
      '2026-01-05T18:00:00Z',
      { floor: 3, active: [{ index: 2, minPods: 3 }], reason: 'WindowActive' },
    ],
    [
      'after the last window closes its 3 pods hold until 20:05',
      '2026-01-05T20:00:00Z',
      {
        floor: 3,
        active: [],
        coolingDown: { index: 2, minPods: 3, until: at('2026-01-05T20:05:00Z') },
        reason: 'CoolingDown',
      },
    ],
    [
      'after the last cool-down the deployment is outside all windows',
      '2026-01-05T20:05:00Z',
      { floor: null, active: [], outside: 'scaleToZero', reason: 'OutsideWindowsScaleToZero' },
    ],
    [
      'on Saturday no window applies',
      '2026-01-10T12:00:00Z',
      { floor: null, active: [], outside: 'scaleToZero', reason: 'OutsideWindowsScaleToZero' },
    ],
  ])('%s', (_sentence, now, expected) => {
    const { message: _message, ...floor } = scheduleFloor({ schedule: day, now: at(now) });
    expect(floor).toEqual(expected);
  });
});

describe('scheduleFloor: the cool-down lasts exactly five minutes', () => {
  const officeOnly = schedule([guided(WEEKDAYS, '09:00', '18:00', 3)]);
  // 2026-11-01 01:58 EDT: the cool-down crosses the clocks going back at 02:00 EDT.
  const nightBeforeFallBack = schedule([guided(['sat'], '22:00', '01:58', 4, 'America/New_York')]);
  it.each<[sentence: string, schedule: Schedule, now: string, floor: number | null]>([
    ['the window is open just before it closes', officeOnly, '2026-01-05T17:59:59.999Z', 3],
    ['the floor holds at the instant it closes', officeOnly, '2026-01-05T18:00:00Z', 3],
    ['the floor holds half-way through the cool-down', officeOnly, '2026-01-05T18:02:30Z', 3],
    ['the floor holds until the last millisecond', officeOnly, '2026-01-05T18:04:59.999Z', 3],
    ['the floor is released five minutes after closing', officeOnly, '2026-01-05T18:05:00Z', null],
    [
      'a cool-down across the clocks going back still holds for five real minutes',
      nightBeforeFallBack,
      '2026-11-01T01:02:59.999-05:00',
      4,
    ],
    [
      'and is released five real minutes after closing (01:03 EST)',
      nightBeforeFallBack,
      '2026-11-01T01:03:00-05:00',
      null,
    ],
  ])('%s', (_sentence, s, now, floor) => {
    expect(scheduleFloor({ schedule: s, now: at(now) }).floor).toBe(floor);
  });
});

describe('scheduleFloor: outside windows and a schedule that is off', () => {
  type Row = [sentence: string, schedule: Schedule | undefined, now: string, expected: object];
  it.each<Row>([
    [
      'without scale to 0 outside windows the standard min/max replicas apply',
      schedule([office], false),
      '2026-01-05T08:00:00Z',
      { floor: null, outside: 'standard', reason: 'OutsideWindows' },
    ],
    [
      'with scale to 0 outside windows the caller scales to 0',
      schedule([office], true),
      '2026-01-05T08:00:00Z',
      { floor: null, outside: 'scaleToZero', reason: 'OutsideWindowsScaleToZero' },
    ],
    [
      'a disabled schedule sets no floor, even inside a window’s hours',
      { ...schedule([office]), enabled: false },
      '2026-01-05T10:00:00Z',
      { floor: null, outside: undefined, reason: 'ScheduleDisabled' },
    ],
    [
      'no schedule at all sets no floor',
      undefined,
      '2026-01-05T10:00:00Z',
      { floor: null, outside: undefined, reason: 'ScheduleDisabled' },
    ],
  ])('%s', (_sentence, s, now, expected) => {
    const { floor, outside, reason } = scheduleFloor({ schedule: s, now: at(now) });
    expect({ floor, outside, reason }).toEqual(expected);
  });
});

describe('scheduleFloor: messages in plain words', () => {
  const kolkata = guided(WEEKDAYS, '09:00', '18:00', 2, 'Asia/Kolkata');
  it.each<[sentence: string, schedule: Schedule | undefined, now: string, message: string]>([
    [
      'one open window is named, numbered from 1, with its days, hours and time zone',
      schedule([guided(['sat', 'sun'], '10:00', '16:00', 1), kolkata]),
      '2026-01-05T10:00:00+05:30',
      'window 2 (Mon-Fri 09:00-18:00 Asia/Kolkata) is active: at least 2 pods',
    ],
    [
      'several open windows name the highest',
      day,
      '2026-01-05T12:00:00Z',
      '2 windows are active (1, 2); the highest is window 2 (Mon-Fri 12:00-14:00 UTC): at least 5 pods',
    ],
    [
      'a cool-down says until when, in the window’s time zone',
      day,
      '2026-01-05T14:00:00Z',
      'window 2 (Mon-Fri 12:00-14:00 UTC) has closed; its floor of 5 pods holds for the 5-minute cool-down, until Mon 2026-01-05 14:05 UTC; open windows ask for 2 pods',
    ],
    [
      'outside windows with scale to 0, it says which window starts next and when',
      schedule([kolkata]),
      '2026-01-10T12:00:00+05:30',
      'outside all schedule windows: 0 pods until window 1 (Mon-Fri 09:00-18:00 Asia/Kolkata) starts at Mon 2026-01-12 09:00 Asia/Kolkata',
    ],
    [
      'outside windows without scale to 0, standard replicas apply',
      schedule([guided(['fri'], '22:00', '02:00', 1, 'Europe/London')], false),
      '2026-01-07T12:00:00Z',
      'outside all schedule windows: standard min/max replicas apply until window 1 (Fri 22:00-02:00 (next day) Europe/London) starts at Fri 2026-01-09 22:00 Europe/London',
    ],
    [
      'a schedule that is off says so',
      undefined,
      '2026-01-05T12:00:00Z',
      'schedule-based scaling is off',
    ],
  ])('%s', (_sentence, s, now, message) => {
    expect(scheduleFloor({ schedule: s, now: at(now) }).message).toBe(message);
  });
});

describe('nextScheduleChange', () => {
  const earlySunday = schedule([guided(['sun'], '02:30', '09:00', 1, 'America/New_York')]);
  const fallBackSunday = schedule([guided(['sun'], '01:30', '03:00', 1, 'America/New_York')]);
  const saturdayNight = schedule([guided(['sat'], '22:00', '01:30', 1, 'America/New_York')]);
  const kolkata = schedule([guided(WEEKDAYS, '09:00', '18:00', 2, 'Asia/Kolkata')]);
  const auckland = schedule([guided(['mon'], '09:00', '17:00', 2, 'Pacific/Auckland')]);
  it.each<[sentence: string, schedule: Schedule | undefined, now: string, next: string | null]>([
    [
      'before office hours: the office window’s start',
      day,
      '2026-01-05T08:00:00Z',
      '2026-01-05T09:00:00Z',
    ],
    [
      'at the office start: the lunch window’s start',
      day,
      '2026-01-05T09:00:00Z',
      '2026-01-05T12:00:00Z',
    ],
    ['during lunch: the lunch window’s end', day, '2026-01-05T12:30:00Z', '2026-01-05T14:00:00Z'],
    ['when lunch ends: its cool-down expiry', day, '2026-01-05T14:00:00Z', '2026-01-05T14:05:00Z'],
    [
      'after the cool-down: the evening window’s start',
      day,
      '2026-01-05T14:05:00Z',
      '2026-01-05T17:00:00Z',
    ],
    [
      'during the overlap: the office window’s end',
      day,
      '2026-01-05T17:30:00Z',
      '2026-01-05T18:00:00Z',
    ],
    [
      'when office hours end: their cool-down expiry',
      day,
      '2026-01-05T18:00:00Z',
      '2026-01-05T18:05:00Z',
    ],
    [
      'when the evening ends: its cool-down expiry',
      day,
      '2026-01-05T20:00:00Z',
      '2026-01-05T20:05:00Z',
    ],
    [
      'after the last cool-down: tomorrow’s office start',
      day,
      '2026-01-05T20:05:00Z',
      '2026-01-06T09:00:00Z',
    ],
    ['on Friday night: Monday’s office start', day, '2026-01-09T21:00:00Z', '2026-01-12T09:00:00Z'],
    [
      'before a wake-up skipped by spring forward: the instant the clock skips past it',
      earlySunday,
      '2026-03-08T01:00:00-05:00',
      '2026-03-08T03:00:00-04:00',
    ],
    [
      'in the repeated hour of fall back: the end at 03:00 EST',
      fallBackSunday,
      '2026-11-01T01:15:00-05:00',
      '2026-11-01T03:00:00-05:00',
    ],
    [
      'before an end at a repeated time: the first one (EDT)',
      saturdayNight,
      '2026-11-01T01:00:00-04:00',
      '2026-11-01T01:30:00-04:00',
    ],
    [
      'in the repeated hour after that end: its cool-down is over, so the next Saturday',
      saturdayNight,
      '2026-11-01T01:15:00-05:00',
      '2026-11-07T22:00:00-05:00',
    ],
    [
      'in Kolkata on Sunday: Monday 09:00 there',
      kolkata,
      '2026-01-04T12:00:00Z',
      '2026-01-05T09:00:00+05:30',
    ],
    [
      'in Auckland: Monday 09:00 there, on Sunday in UTC',
      auckland,
      '2026-01-04T12:00:00Z',
      '2026-01-04T20:00:00Z',
    ],
    ['a disabled schedule never changes', { ...day, enabled: false }, '2026-01-05T08:00:00Z', null],
    ['no schedule never changes', undefined, '2026-01-05T08:00:00Z', null],
  ])('%s', (_sentence, s, now, next) => {
    expect(nextScheduleChange({ schedule: s, now: at(now) })).toBe(next === null ? null : at(next));
  });
});

describe('secondsUntilNextWindow', () => {
  const officeOnly = schedule([office]);
  const auckland = schedule([guided(WEEKDAYS, '09:00', '17:00', 1, 'Pacific/Auckland')]);
  const kolkata = schedule([guided(WEEKDAYS, '09:00', '18:00', 2, 'Asia/Kolkata')]);
  const H = 3600;
  it.each<[sentence: string, schedule: Schedule | undefined, now: string, seconds: number | null]>([
    ['inside a window it is 0', officeOnly, '2026-01-05T10:00:00Z', 0],
    [
      'from Friday’s close to Monday’s start is 63 hours',
      officeOnly,
      '2026-01-09T18:00:00Z',
      63 * H,
    ],
    ['from Saturday noon it is 45 hours', officeOnly, '2026-01-10T12:00:00Z', 45 * H],
    ['a part second is rounded up', officeOnly, '2026-01-11T23:59:59.500Z', 9 * H + 1],
    [
      'during a cool-down it counts to the next start',
      officeOnly,
      '2026-01-05T18:02:00Z',
      14 * H + 58 * 60,
    ],
    [
      'over Auckland’s weekend, across the date line, it is 64 hours',
      auckland,
      '2026-01-09T17:00:00+13:00',
      64 * H,
    ],
    [
      'from Sunday 22:00 UTC to Monday 09:00 in Kolkata is 5.5 hours',
      kolkata,
      '2026-01-04T22:00:00Z',
      5.5 * H,
    ],
    [
      'a disabled schedule has no next window',
      { ...officeOnly, enabled: false },
      '2026-01-10T12:00:00Z',
      null,
    ],
    ['no schedule has no next window', undefined, '2026-01-10T12:00:00Z', null],
  ])('%s', (_sentence, s, now, seconds) => {
    expect(secondsUntilNextWindow({ schedule: s, now: at(now) })).toBe(seconds);
  });
});
