/**
 * Cron expressions of schedule windows: the guided form converted to cron, and occurrences
 * found in wall time (see wall-clock.ts). cron-parser always runs with `tz: 'UTC'` and an
 * explicit `currentDate` here: in wall time there is no DST, so next() and prev() agree with
 * each other (in a DST zone cron-parser's prev() skips or repeats occurrences that next() does
 * not), and the host TZ never leaks in.
 */
import { CronExpressionParser, type CronExpression } from 'cron-parser';
import type { ScheduleWindow, Weekday } from '../domain/spec';

/** The fields of a window that say when it is open (minPods is not needed). */
export type WindowTiming = Pick<
  ScheduleWindow,
  'timezone' | 'days' | 'wakeAt' | 'coolDownAt' | 'startCron' | 'endCron'
>;

export interface WindowCrons {
  startCron: string;
  endCron: string;
  timezone: string;
}

/** Cron day-of-week numbers (Sunday is 0). */
export const DAY_OF_WEEK: Record<Weekday, number> = {
  mon: 1,
  tue: 2,
  wed: 3,
  thu: 4,
  fri: 5,
  sat: 6,
  sun: 0,
};

/**
 * A window as a start cron, an end cron and a time zone. A custom window is returned as is. A
 * guided window wakes at `wakeAt` on each selected day; it cools down the same day, or, when
 * `coolDownAt` is earlier than `wakeAt`, the next day (a Friday 22:00-02:00 window ends on
 * Saturday at 02:00).
 */
export function windowCrons(window: WindowTiming): WindowCrons {
  const { timezone } = window;
  if (window.startCron !== undefined && window.endCron !== undefined) {
    return { startCron: window.startCron, endCron: window.endCron, timezone };
  }
  const { days, wakeAt, coolDownAt } = window;
  if (days === undefined || days.length === 0 || wakeAt === undefined || coolDownAt === undefined) {
    throw new TypeError(
      'a schedule window needs startCron and endCron, or days, wakeAt and coolDownAt',
    );
  }
  const startDays = days.map((day) => DAY_OF_WEEK[day]);
  const overnight = coolDownAt < wakeAt; // "HH:MM" strings compare as times of day
  const endDays = overnight ? startDays.map((d) => (d + 1) % 7) : startDays;
  return {
    startCron: `${timeFields(wakeAt)} * * ${dayField(startDays)}`,
    endCron: `${timeFields(coolDownAt)} * * ${dayField(endDays)}`,
    timezone,
  };
}

/** "09:30" -> "30 9" (minute, hour). */
function timeFields(hhmm: string): string {
  const [hour, minute] = hhmm.split(':').map(Number);
  return `${minute} ${hour}`;
}

function dayField(days: number[]): string {
  const unique = [...new Set(days)].sort((a, b) => a - b);
  return unique.length === 7 ? '*' : unique.join(',');
}

/** Parsed expressions, reset to each query's date: parsing costs as much as a search. */
const parsed = new Map<string, CronExpression>();
const MAX_PARSED = 256;

function at(expression: string, wall: number): CronExpression {
  let cron = parsed.get(expression);
  if (cron) {
    cron.reset(new Date(wall));
    return cron;
  }
  cron = CronExpressionParser.parse(expression, { tz: 'UTC', currentDate: new Date(wall) });
  if (parsed.size >= MAX_PARSED) parsed.clear();
  parsed.set(expression, cron);
  return cron;
}

/** cron-parser's errors for a search that finds nothing; any other error is a bug to surface. */
const NOT_FOUND = ['Invalid expression, loop limit exceeded', 'Out of the time span range'];

function orNull(search: () => number): number | null {
  try {
    return search();
  } catch (err) {
    if (err instanceof Error && NOT_FOUND.includes(err.message)) return null;
    throw err;
  }
}

/** The first occurrence strictly after `wall`, in wall time; null if there is none. */
export function nextWallOccurrence(expression: string, wall: number): number | null {
  return orNull(() => at(expression, wall).next().getTime());
}

/** The last occurrence at or before `wall`, in wall time; null if there is none. */
export function lastWallOccurrence(expression: string, wall: number): number | null {
  // prev() is strictly before its current date, at millisecond precision.
  return orNull(() =>
    at(expression, wall + 1)
      .prev()
      .getTime(),
  );
}
