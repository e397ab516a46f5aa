/**
 * Wall-clock time in an IANA time zone, as numbers: a "wall" value is the local date and time
 * written as if it were UTC epoch milliseconds (09:30 local on 2026-01-05 is
 * Date.UTC(2026, 0, 5, 9, 30)). Cron expressions are matched in wall time, where days are
 * always 24 hours long; only the mapping between wall time and real instants knows about DST.
 *
 * The rules for the two DST cases (the tests pin both):
 * - Spring forward (a wall time that does not exist that day, e.g. 02:30 in New York on
 *   2026-03-08): it happens at the instant the clock skips past it (03:00 EDT).
 * - Fall back (a wall time that happens twice, e.g. 01:30 in New York on 2026-11-01): it happens
 *   the first time only. During the repeated hour the effective wall clock stays where it was
 *   when the clock was turned back, so nothing starts or ends twice.
 *
 * Pure and sandbox-safe: needs `Intl.DateTimeFormat` with IANA time zones (full ICU), as
 * cron-parser (through luxon) and the schema's time-zone check already do. No host TZ is read.
 */

const MINUTE_MS = 60_000;
const HOUR_MS = 60 * MINUTE_MS;
/** Wider than any real clock change: a fall back is looked for this far into the past. */
const LOOK_BACK_MS = 26 * HOUR_MS;

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formatters.set(timeZone, f);
  }
  return f;
}

/** The local wall clock at `instant` in `timeZone` (wall value, see the module comment). */
export function wallClockAt(instant: number, timeZone: string): number {
  const fields: Record<string, number> = {};
  for (const part of formatter(timeZone).formatToParts(instant)) {
    if (part.type !== 'literal') fields[part.type] = Number(part.value);
  }
  const millis = instant - Math.floor(instant / 1000) * 1000;
  return (
    Date.UTC(
      fields.year ?? 1970,
      (fields.month ?? 1) - 1,
      fields.day ?? 1,
      fields.hour ?? 0,
      fields.minute ?? 0,
      fields.second ?? 0,
    ) + millis
  );
}

/** UTC offset in milliseconds at `instant` (wall minus instant). */
export function offsetAt(instant: number, timeZone: string): number {
  return wallClockAt(instant, timeZone) - instant;
}

/** Smallest instant in (lo, hi] for which `reached` holds; `reached` is monotone and true at hi. */
function firstInstant(lo: number, hi: number, reached: (t: number) => boolean): number {
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (reached(mid)) hi = mid;
    else lo = mid;
  }
  return hi;
}

/**
 * The wall clock as the schedule sees it: the local wall clock, except during the second pass
 * of a repeated (fall-back) hour, where it stays just below the wall time at which the clock was
 * turned back. It never goes backwards, so every wall time is reached exactly once.
 */
export function effectiveWallClock(instant: number, timeZone: string): number {
  const wall = wallClockAt(instant, timeZone);
  const offsetNow = wall - instant;
  const offsetBefore = offsetAt(instant - LOOK_BACK_MS, timeZone);
  if (offsetBefore <= offsetNow) return wall;
  // The clock went back (once) within the look-back: find when, and the highest wall reached.
  const turnedBackAt = firstInstant(
    instant - LOOK_BACK_MS,
    instant,
    (t) => offsetAt(t, timeZone) <= offsetNow,
  );
  return Math.max(wall, turnedBackAt - 1 + offsetBefore);
}

/**
 * The first instant at which the effective wall clock reaches `wall`: the ordinary instant; the
 * earlier of the two for a repeated wall time; the end of the gap for a skipped one.
 */
export function instantOfWall(wall: number, timeZone: string): number {
  // The real instant is within 14 hours of `wall`; the offsets a day either side bracket it.
  const offsetA = offsetAt(wall - 24 * HOUR_MS, timeZone);
  const offsetB = offsetAt(wall + 24 * HOUR_MS, timeZone);
  const candidates = [wall - offsetA, wall - offsetB].filter(
    (t) => wallClockAt(t, timeZone) === wall,
  );
  if (candidates.length > 0) return Math.min(...candidates);
  // Skipped by a spring forward: the wall clock jumps over `wall` between the two candidates.
  const lo = Math.min(wall - offsetA, wall - offsetB);
  const hi = Math.max(wall - offsetA, wall - offsetB);
  return firstInstant(lo, hi, (t) => wallClockAt(t, timeZone) >= wall);
}

/** Formats a wall value as "HH:MM". */
export function hhmm(wall: number): string {
  const d = new Date(wall);
  return `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}`;
}

const DAY_NAMES = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'] as const;

/** Formats an instant as local time in `timeZone`: "Mon 2026-01-05 09:00 Asia/Kolkata". */
export function formatLocal(instant: number, timeZone: string): string {
  const d = new Date(wallClockAt(instant, timeZone));
  const date = `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`;
  return `${DAY_NAMES[d.getUTCDay()]} ${date} ${hhmm(d.getTime())} ${timeZone}`;
}

function pad(n: number): string {
  return String(n).padStart(2, '0');
}
