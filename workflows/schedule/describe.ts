/**
 * Short human-readable summaries of cron expressions and schedule windows, for the text shown
 * below each cron input and for scaling messages. Common shapes only (fixed times, every N
 * minutes or hours; days of the week or of the month; months); anything else (L, #, both
 * day-of-month and day-of-week restricted, ...) is shown as the expression itself.
 */
import { CronExpressionParser } from 'cron-parser';
import { cronError } from '../domain/spec-facts';
import { DAY_OF_WEEK, type WindowTiming } from './cron';

const DAY_NAMES = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'] as const;
const MONTH_NAMES = [
  'Jan',
  'Feb',
  'Mar',
  'Apr',
  'May',
  'Jun',
  'Jul',
  'Aug',
  'Sep',
  'Oct',
  'Nov',
  'Dec',
] as const;
/** The most fixed times of day listed before giving up and showing the expression. */
const MAX_LISTED_TIMES = 6;

interface Fields {
  minutes: number[];
  hours: number[];
  daysOfMonth: number[] | 'any';
  months: number[];
  /** Cron day-of-week numbers, Sunday 0, sorted Monday first; 'any' when not restricted. */
  daysOfWeek: number[] | 'any';
}

/** The fields of a plain five-field expression; null for anything this module cannot word. */
function plainFields(expression: string): Fields | null {
  if (cronError(expression) !== null) return null;
  const fields = CronExpressionParser.parse(expression, {
    tz: 'UTC',
    currentDate: new Date(0),
  }).fields;
  const values = [
    fields.minute.values,
    fields.hour.values,
    fields.dayOfMonth.values,
    fields.month.values,
    fields.dayOfWeek.values,
  ];
  if (values.some((v) => v.some((x) => typeof x !== 'number')) || fields.dayOfWeek.nthDay > 0) {
    return null; // L (last), # (nth weekday)
  }
  const numbers = (v: readonly (number | string)[]) => v as number[];
  return {
    minutes: numbers(fields.minute.values),
    hours: numbers(fields.hour.values),
    daysOfMonth: fields.dayOfMonth.isWildcard ? 'any' : numbers(fields.dayOfMonth.values),
    months: numbers(fields.month.values),
    daysOfWeek: fields.dayOfWeek.isWildcard
      ? 'any'
      : weekOrder(numbers(fields.dayOfWeek.values).map((d) => d % 7)),
  };
}

/** Unique cron day numbers, Monday first (as the product's day picker). */
function weekOrder(days: number[]): number[] {
  return [...new Set(days)].sort((a, b) => ((a + 6) % 7) - ((b + 6) % 7));
}

function pad(n: number): string {
  return String(n).padStart(2, '0');
}

/** Step of an arithmetic sequence from 0 covering the whole range, e.g. [0, 15, 30, 45] -> 15. */
function stepFromZero(values: number[], range: number): number | null {
  const step = values[1] !== undefined ? values[1] - (values[0] ?? 0) : 0;
  if (values[0] !== 0 || step < 2 || range % step !== 0 || values.length !== range / step) {
    return null;
  }
  return values.every((v, i) => v === i * step) ? step : null;
}

type TimePhrase = { kind: 'at'; text: string } | { kind: 'every'; text: string };

function describeTimes(minutes: number[], hours: number[]): TimePhrase | null {
  const everyHour = hours.length === 24;
  if (minutes.length === 60) return everyHour ? { kind: 'every', text: 'every minute' } : null;
  const minuteStep = stepFromZero(minutes, 60);
  if (minuteStep !== null) {
    return everyHour ? { kind: 'every', text: `every ${minuteStep} minutes` } : null;
  }
  if (minutes.length === 1) {
    const minute = minutes[0] as number;
    const past = minute === 0 ? '' : ` at :${pad(minute)}`;
    if (everyHour) return { kind: 'every', text: `every hour${past}` };
    const hourStep = stepFromZero(hours, 24);
    if (hourStep !== null && hours.length > MAX_LISTED_TIMES) {
      return { kind: 'every', text: `every ${hourStep} hours${past}` };
    }
  }
  if (minutes.length * hours.length > MAX_LISTED_TIMES) return null;
  const times = hours.flatMap((h) => minutes.map((m) => `${pad(h)}:${pad(m)}`));
  return { kind: 'at', text: times.join(', ') };
}

/** "Mon, Tue, Wed" or "day 1 of the month"; 'every day'; null when both fields are restricted. */
function describeDays(fields: Fields): string | 'every day' | null {
  const { daysOfMonth, daysOfWeek } = fields;
  if (daysOfMonth !== 'any' && daysOfWeek !== 'any') return null; // cron ORs them: rare, unclear
  if (daysOfWeek !== 'any') {
    return daysOfWeek.length === 7 ? 'every day' : daysOfWeek.map((d) => DAY_NAMES[d]).join(', ');
  }
  if (daysOfMonth !== 'any' && daysOfMonth.length < 31) {
    return `day${daysOfMonth.length === 1 ? '' : 's'} ${daysOfMonth.join(', ')} of the month`;
  }
  return 'every day';
}

/**
 * A short summary of a five-field cron expression: "09:00 on Mon, Tue, Wed, Thu, Fri", "every
 * day at 18:00", "every 15 minutes", "every hour at :30 on Sat, Sun", "08:00 on day 1 of the
 * month in Jan, Jul". Anything less common is returned as the expression itself.
 */
export function describeCron(expression: string): string {
  const fields = plainFields(expression);
  if (!fields) return expression.trim();
  const time = describeTimes(fields.minutes, fields.hours);
  const days = describeDays(fields);
  if (!time || days === null) return expression.trim();
  const months =
    fields.months.length === 12
      ? ''
      : ` in ${fields.months.map((m) => MONTH_NAMES[m - 1]).join(', ')}`;
  if (days === 'every day') {
    return (time.kind === 'at' ? `every day at ${time.text}` : time.text) + months;
  }
  return `${time.text} on ${days}${months}`;
}

/** Days as the product shows them: "Mon-Fri", "Sat, Sun", "Mon, Wed-Fri", "every day". */
function compactDays(days: number[]): string {
  const ordered = weekOrder(days).map((d) => (d + 6) % 7); // Monday 0 .. Sunday 6
  if (ordered.length === 7) return 'every day';
  const name = (i: number) => DAY_NAMES[(i + 1) % 7];
  const runs: number[][] = [];
  for (const i of ordered) {
    const run = runs[runs.length - 1];
    if (run && run[run.length - 1] === i - 1) run.push(i);
    else runs.push([i]);
  }
  return runs
    .flatMap((run) =>
      run.length >= 3
        ? [`${name(run[0] as number)}-${name(run[run.length - 1] as number)}`]
        : run.map(name),
    )
    .join(', ');
}

/** One time on some days of the week, every month: the shape a guided window converts to. */
function dailyShape(expression: string): { minuteOfDay: number; days: number[] } | null {
  const fields = plainFields(expression);
  if (
    !fields ||
    fields.minutes.length !== 1 ||
    fields.hours.length !== 1 ||
    fields.daysOfMonth !== 'any' ||
    fields.months.length !== 12
  ) {
    return null;
  }
  const days = fields.daysOfWeek === 'any' ? [0, 1, 2, 3, 4, 5, 6] : fields.daysOfWeek;
  return { minuteOfDay: (fields.hours[0] as number) * 60 + (fields.minutes[0] as number), days };
}

function timeOfDay(minuteOfDay: number): string {
  return `${pad(Math.floor(minuteOfDay / 60))}:${pad(minuteOfDay % 60)}`;
}

function guidedText(days: number[], start: number, end: number, timezone: string): string {
  const overnight = end < start ? ' (next day)' : '';
  return `${compactDays(days)} ${timeOfDay(start)}-${timeOfDay(end)}${overnight} ${timezone}`;
}

/**
 * A short summary of a window: "Mon-Fri 09:00-18:00 Asia/Kolkata", "Fri 22:00-02:00 (next day)
 * Europe/London". A custom window of that same shape reads the same; any other custom window
 * reads "starts <start>; ends <end>; <time zone>".
 */
export function describeWindow(window: WindowTiming): string {
  const { timezone } = window;
  if (window.startCron === undefined || window.endCron === undefined) {
    const days = (window.days ?? []).map((d) => DAY_OF_WEEK[d]);
    const [wh = 0, wm = 0] = (window.wakeAt ?? '00:00').split(':').map(Number);
    const [ch = 0, cm = 0] = (window.coolDownAt ?? '00:00').split(':').map(Number);
    return guidedText(days, wh * 60 + wm, ch * 60 + cm, timezone);
  }
  const start = dailyShape(window.startCron);
  const end = dailyShape(window.endCron);
  if (start && end && start.minuteOfDay !== end.minuteOfDay) {
    const expectedEndDays =
      end.minuteOfDay > start.minuteOfDay ? start.days : start.days.map((d) => (d + 1) % 7);
    if (sameDays(expectedEndDays, end.days)) {
      return guidedText(start.days, start.minuteOfDay, end.minuteOfDay, timezone);
    }
  }
  return `starts ${describeCron(window.startCron)}; ends ${describeCron(window.endCron)}; ${timezone}`;
}

function sameDays(a: number[], b: number[]): boolean {
  const x = weekOrder(a);
  const y = weekOrder(b);
  return x.length === y.length && x.every((d, i) => d === y[i]);
}
