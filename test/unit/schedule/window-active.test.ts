/**
 * When a window is open. Instants are written as local times with their UTC offset, so each row
 * reads as the clock on the wall there; none depends on the host's time zone.
 */
import { describe, expect, it } from 'vitest';
import type { Weekday } from '../../../workflows/domain/spec';
import { describeWindow, isWindowActive, type WindowTiming } from '../../../workflows/schedule';

const guided = (
  days: Weekday[],
  wakeAt: string,
  coolDownAt: string,
  timezone = 'UTC',
): WindowTiming => ({ timezone, days, wakeAt, coolDownAt });
const custom = (startCron: string, endCron: string, timezone = 'UTC'): WindowTiming => ({
  timezone,
  startCron,
  endCron,
});

const WEEKDAYS: Weekday[] = ['mon', 'tue', 'wed', 'thu', 'fri'];

type Row = [sentence: string, now: string, active: boolean];

/** One table per window: each row is an instant and whether the window is open then. */
function opens(window: WindowTiming, rows: Row[]): void {
  describe(describeWindow(window), () => {
    it.each(rows)('%s', (_sentence, now, active) => {
      expect(isWindowActive(window, Date.parse(now))).toBe(active);
    });
  });
}

describe('isWindowActive: the start and end instants', () => {
  const office = guided(WEEKDAYS, '09:00', '18:00');

  opens(office, [
    ['one millisecond before the start it is closed', '2026-01-05T08:59:59.999Z', false],
    ['at the start instant it is open', '2026-01-05T09:00:00.000Z', true],
    ['one millisecond after the start it is open', '2026-01-05T09:00:00.001Z', true],
    ['in the middle of the day it is open', '2026-01-05T13:00:00Z', true],
    ['one millisecond before the end it is open', '2026-01-05T17:59:59.999Z', true],
    ['at the end instant it is closed', '2026-01-05T18:00:00.000Z', false],
    ['in the evening it is closed', '2026-01-05T21:00:00Z', false],
    ['on Friday afternoon it is open', '2026-01-09T17:00:00Z', true],
    ['on Saturday, not a selected day, it is closed', '2026-01-10T12:00:00Z', false],
    ['on Sunday at the wake-up time it is closed', '2026-01-11T09:00:00Z', false],
  ]);
});

describe('isWindowActive: windows crossing midnight', () => {
  const fridayNight = guided(['fri'], '22:00', '02:00');
  const sundayNight = guided(['sun'], '22:00', '06:00', 'Europe/Paris');

  opens(fridayNight, [
    ['Friday 21:59:59.999 is before the Friday night window', '2026-01-09T21:59:59.999Z', false],
    ['Friday 22:00 opens it', '2026-01-09T22:00:00Z', true],
    ['Friday 23:00 is inside it', '2026-01-09T23:00:00Z', true],
    ['Saturday 00:00, the day boundary, is inside it', '2026-01-10T00:00:00Z', true],
    ['Saturday 01:00 is inside it', '2026-01-10T01:00:00Z', true],
    ['Saturday 02:00 closes it', '2026-01-10T02:00:00Z', false],
    ['Saturday 03:00 is after it', '2026-01-10T03:00:00Z', false],
    [
      'Friday 01:00 is not inside it: Thursday night is not selected',
      '2026-01-09T01:00:00Z',
      false,
    ],
    ['Thursday 23:00 is not inside it', '2026-01-08T23:00:00Z', false],
    ['Saturday 23:00 is not inside it', '2026-01-10T23:00:00Z', false],
    ['Sunday 01:00 is not inside it', '2026-01-11T01:00:00Z', false],
  ]);

  opens(sundayNight, [
    [
      'a Sunday night window in Paris is open on Sunday at 23:00 there',
      '2026-01-11T23:00:00+01:00',
      true,
    ],
    ['it is still open at midnight between Sunday and Monday', '2026-01-12T00:00:00+01:00', true],
    ['it is open on Monday at 05:59 (the week wraps to Monday)', '2026-01-12T05:59:00+01:00', true],
    ['it closes on Monday at 06:00', '2026-01-12T06:00:00+01:00', false],
    ['it is closed on Monday night', '2026-01-12T23:00:00+01:00', false],
    [
      'it is closed on Sunday morning (Saturday night is not selected)',
      '2026-01-11T01:00:00+01:00',
      false,
    ],
  ]);
});

describe('isWindowActive: time zones far from UTC', () => {
  const kolkata = guided(WEEKDAYS, '09:00', '18:00', 'Asia/Kolkata');
  const aucklandMonday = guided(['mon'], '09:00', '17:00', 'Pacific/Auckland');
  const aucklandFridayNight = guided(['fri'], '22:00', '02:00', 'Pacific/Auckland');
  const honoluluMonday = guided(['mon'], '09:00', '17:00', 'Pacific/Honolulu');

  opens(kolkata, [
    ['Kolkata (+05:30) opens at 09:00 there, 03:30 UTC', '2026-01-05T03:30:00Z', true],
    ['Kolkata is closed one millisecond earlier', '2026-01-05T03:29:59.999Z', false],
    ['Kolkata closes at 18:00 there, 12:30 UTC', '2026-01-05T12:30:00Z', false],
    ['Kolkata is open at 12:29 UTC', '2026-01-05T12:29:00Z', true],
    ['Sunday 22:00 UTC is Monday 03:30 in Kolkata: closed', '2026-01-04T22:00:00Z', false],
    ['Saturday 04:00 UTC is Saturday 09:30 in Kolkata: closed', '2026-01-10T04:00:00Z', false],
  ]);

  opens(aucklandMonday, [
    [
      'Auckland’s Monday 09:00 (+13:00 in summer) is Sunday 20:00 UTC: open',
      '2026-01-04T20:00:00Z',
      true,
    ],
    ['Sunday 19:59:59.999 UTC is before Auckland’s Monday', '2026-01-04T19:59:59.999Z', false],
    ['Sunday 21:00 UTC is inside Auckland’s Monday', '2026-01-04T21:00:00Z', true],
    ['Monday 04:00 UTC is Auckland’s Monday 17:00: closed', '2026-01-05T04:00:00Z', false],
    ['Monday 21:00 UTC is Tuesday 10:00 in Auckland: closed', '2026-01-05T21:00:00Z', false],
    [
      'in July Auckland is +12:00: Monday 09:00 there is Sunday 21:00 UTC',
      '2026-07-05T21:00:00Z',
      true,
    ],
    ['in July Sunday 20:59 UTC is still before it', '2026-07-05T20:59:00Z', false],
  ]);

  opens(aucklandFridayNight, [
    ['Auckland’s Friday night lies wholly inside Friday UTC', '2026-01-09T12:00:00Z', true],
    ['it closes at 13:00 UTC on Friday, Saturday 02:00 in Auckland', '2026-01-09T13:00:00Z', false],
  ]);

  opens(honoluluMonday, [
    ['Honolulu’s (-10:00) Monday runs into Tuesday UTC', '2026-01-06T02:00:00Z', true],
    ['Honolulu’s Monday closes at 03:00 UTC on Tuesday', '2026-01-06T03:00:00Z', false],
  ]);
});

describe('isWindowActive: DST in New York', () => {
  // 2026-03-08: at 02:00 EST the clocks go to 03:00 EDT, so 02:30 does not exist that day.
  const earlySunday = guided(['sun'], '02:30', '09:00', 'America/New_York');
  const endsInTheGap = guided(['sun'], '01:00', '02:30', 'America/New_York');
  // 2026-11-01: at 02:00 EDT the clocks go back to 01:00 EST, so 01:30 happens twice.
  const fallBackSunday = guided(['sun'], '01:30', '03:00', 'America/New_York');
  const saturdayNight = guided(['sat'], '22:00', '01:30', 'America/New_York');

  opens(earlySunday, [
    ['a normal Sunday opens at 02:30 EST', '2026-03-01T02:30:00-05:00', true],
    ['a normal Sunday is closed at 02:29:59.999 EST', '2026-03-01T02:29:59.999-05:00', false],
    [
      'on the spring-forward Sunday it is closed just before the clocks jump',
      '2026-03-08T01:59:59.999-05:00',
      false,
    ],
    [
      'the missing 02:30 wake-up happens when the clock skips past it, at 03:00 EDT',
      '2026-03-08T03:00:00-04:00',
      true,
    ],
    ['it is open at 03:30 EDT', '2026-03-08T03:30:00-04:00', true],
    ['it closes at 09:00 EDT as usual', '2026-03-08T09:00:00-04:00', false],
    ['the next Sunday opens at 02:30 EDT', '2026-03-15T02:30:00-04:00', true],
    ['the next Sunday is closed at 02:29:59.999 EDT', '2026-03-15T02:29:59.999-04:00', false],
  ]);

  opens(endsInTheGap, [
    [
      'a window ending at the missing 02:30 is open just before the jump',
      '2026-03-08T01:59:59.999-05:00',
      true,
    ],
    [
      'a window ending at the missing 02:30 closes at 03:00 EDT',
      '2026-03-08T03:00:00-04:00',
      false,
    ],
  ]);

  opens(fallBackSunday, [
    [
      'on the fall-back Sunday it is closed just before the first 01:30',
      '2026-11-01T01:29:59.999-04:00',
      false,
    ],
    ['it opens at the first 01:30 (EDT)', '2026-11-01T01:30:00-04:00', true],
    ['it stays open through the repeated hour (01:15 EST)', '2026-11-01T01:15:00-05:00', true],
    ['it stays open at the second 01:30 (EST)', '2026-11-01T01:30:00-05:00', true],
    ['it is open at 02:59:59.999 EST', '2026-11-01T02:59:59.999-05:00', true],
    [
      'it closes at 03:00 EST, two and a half real hours after opening',
      '2026-11-01T03:00:00-05:00',
      false,
    ],
  ]);

  opens(saturdayNight, [
    [
      'a window ending at 01:30 is open until the first 01:30',
      '2026-11-01T01:29:59.999-04:00',
      true,
    ],
    [
      'a window ending at 01:30 closes at the first 01:30 (EDT)',
      '2026-11-01T01:30:00-04:00',
      false,
    ],
    [
      'it does not reopen when the clock goes back to 01:00 EST',
      '2026-11-01T01:00:00-05:00',
      false,
    ],
    ['it does not reopen at 01:15 EST', '2026-11-01T01:15:00-05:00', false],
  ]);
});

describe('isWindowActive: DST in London', () => {
  // 2026-03-29: at 01:00 GMT the clocks go to 02:00 BST, so 01:30 does not exist that day.
  const springSunday = guided(['sun'], '01:30', '06:00', 'Europe/London');
  // 2026-10-25: at 02:00 BST the clocks go back to 01:00 GMT, so 01:30 happens twice.
  const autumnSunday = guided(['sun'], '01:30', '03:00', 'Europe/London');
  const endsAtRepeated = guided(['sun'], '00:00', '01:30', 'Europe/London');

  opens(springSunday, [
    ['it is closed just before the clocks go forward', '2026-03-29T00:59:59.999+00:00', false],
    ['the missing 01:30 wake-up happens at 02:00 BST', '2026-03-29T02:00:00+01:00', true],
    ['it is open at 05:59:59.999 BST', '2026-03-29T05:59:59.999+01:00', true],
    ['it closes at 06:00 BST', '2026-03-29T06:00:00+01:00', false],
  ]);

  opens(autumnSunday, [
    ['it is closed just before the first 01:30 in October', '2026-10-25T01:29:59.999+01:00', false],
    ['it opens at the first 01:30 (BST)', '2026-10-25T01:30:00+01:00', true],
    ['it stays open through the repeated hour (01:15 GMT)', '2026-10-25T01:15:00+00:00', true],
    ['it stays open at the second 01:30 (GMT)', '2026-10-25T01:30:00+00:00', true],
    ['it closes at 03:00 GMT', '2026-10-25T03:00:00+00:00', false],
  ]);

  opens(endsAtRepeated, [
    [
      'a window ending at 01:30 closes at the first 01:30 (BST)',
      '2026-10-25T01:30:00+01:00',
      false,
    ],
    ['and does not reopen in the repeated hour (01:15 GMT)', '2026-10-25T01:15:00+00:00', false],
  ]);
});

describe('isWindowActive: custom windows', () => {
  const weekdayStartsDailyEnds = custom('0 9 * * 1-5', '0 18 * * *');
  const dailyStartsWeekdayEnds = custom('0 9 * * *', '0 18 * * 1-5');
  const sharedInstant = custom('0 9 * * *', '0 9,18 * * *');
  const kolkataCustom = custom('30 9 * * 1,2,3,4,5', '0 18 * * 1,2,3,4,5', 'Asia/Kolkata');

  opens(kolkataCustom, [
    ['a custom window follows its crons in its time zone', '2026-01-05T09:30:00+05:30', true],
    ['and is closed before its start', '2026-01-05T09:29:00+05:30', false],
  ]);

  opens(weekdayStartsDailyEnds, [
    ['weekday starts with daily ends: open on a weekday', '2026-01-09T17:00:00Z', true],
    [
      'weekday starts with daily ends: an end without a start changes nothing on Saturday morning',
      '2026-01-10T10:00:00Z',
      false,
    ],
    ['weekday starts with daily ends: closed on Saturday evening', '2026-01-10T19:00:00Z', false],
  ]);

  opens(dailyStartsWeekdayEnds, [
    ['daily starts with weekday ends: the Saturday start opens it', '2026-01-10T10:00:00Z', true],
    [
      'daily starts with weekday ends: it stays open until Monday’s end',
      '2026-01-12T17:59:00Z',
      true,
    ],
    ['daily starts with weekday ends: Monday’s end closes it', '2026-01-12T18:00:00Z', false],
  ]);

  opens(sharedInstant, [
    ['a start and an end at the same instant: open after it', '2026-01-05T09:00:00Z', true],
    [
      'a start and an end at the same instant: closed just before it',
      '2026-01-05T08:59:59.999Z',
      false,
    ],
    [
      'a start and an end at the same instant: the later end closes it',
      '2026-01-05T18:00:00Z',
      false,
    ],
  ]);
});
