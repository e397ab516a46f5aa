/**
 * Schedule-based autoscaling maths: which windows are open at an instant, the pod floor they
 * set, and when that can next change. Pure (`now` is epoch milliseconds passed in), so the
 * deployment workflow can call it in its sandbox and set one timer for the next change.
 *
 * Semantics (the tests pin each):
 * - A window's start and end crons are events in its time zone's wall time. A window is open
 *   when its most recent start is at or after its most recent end: open from the start instant
 *   (inclusive) until the end instant (exclusive). Where starts and ends alternate (every guided
 *   window) this is the same as "the next end comes before the next start"; where they do not
 *   (a custom window starting on weekdays but ending every day) the last event decides, so an
 *   end without a start before it changes nothing. A start and an end at the same instant: the
 *   window is open after it.
 * - DST: see wall-clock.ts (a skipped wall time happens when the clock skips past it; a
 *   repeated one happens the first time only).
 * - Cool-down: when a window closes, its minPods keeps holding for SCHEDULE_COOL_DOWN_SECONDS,
 *   from the end instant (inclusive) to end + 5 minutes (exclusive).
 * - The floor is the highest minPods of the open and cooling-down windows.
 */
import { SCHEDULE_COOL_DOWN_SECONDS } from '../domain/spec-facts';
import type { Schedule, ScheduleWindow } from '../domain/spec';
import { lastWallOccurrence, nextWallOccurrence, windowCrons, type WindowTiming } from './cron';
import { describeWindow } from './describe';
import { effectiveWallClock, formatLocal, instantOfWall } from './wall-clock';

const COOL_DOWN_MS = SCHEDULE_COOL_DOWN_SECONDS * 1000;

/** Where one window stands at an instant. */
export interface WindowState {
  active: boolean;
  /** When the window is closed but its floor still holds: the instant the cool-down ends. */
  coolingDownUntil?: number;
  /**
   * The next instant the window opens (when closed) or closes (when open); null if never. An end
   * at the same instant as a start closes nothing: a timer set for it just finds nothing changed.
   */
  nextTransition: number | null;
}

/** Where `window` stands at `now` (epoch ms). */
export function windowState(window: WindowTiming, now: number): WindowState {
  const { startCron, endCron, timezone } = windowCrons(window);
  const wall = effectiveWallClock(now, timezone);
  const lastStart = lastWallOccurrence(startCron, wall);
  const lastEnd = lastWallOccurrence(endCron, wall);
  const active = lastStart !== null && (lastEnd === null || lastStart >= lastEnd);
  const next = nextWallOccurrence(active ? endCron : startCron, wall);
  const state: WindowState = {
    active,
    nextTransition: next === null ? null : instantOfWall(next, timezone),
  };
  if (!active && lastStart !== null) {
    // The end that closed the window is the first one after its last start.
    const closedAt = nextWallOccurrence(endCron, lastStart);
    if (closedAt !== null) {
      const until = instantOfWall(closedAt, timezone) + COOL_DOWN_MS;
      if (now < until) state.coolingDownUntil = until;
    }
  }
  return state;
}

/**
 * Whether `window` is open at `now` (epoch ms): open at its start instant, closed at its end
 * instant. The cool-down after closing is not part of the window (see scheduleFloor).
 */
export function isWindowActive(window: WindowTiming, now: number): boolean {
  return windowState(window, now).active;
}

export type ScheduleFloorReason =
  | 'ScheduleDisabled'
  | 'WindowActive'
  | 'CoolingDown'
  | 'OutsideWindowsScaleToZero'
  | 'OutsideWindows';

export interface ScheduleFloor {
  /** The least number of pods the schedule requires now; null when no window applies. */
  floor: number | null;
  /** The open windows, by index into `schedule.windows`. */
  active: { index: number; minPods: number }[];
  /** Set when a closed window's cool-down sets the floor (higher than every open window). */
  coolingDown?: { index: number; minPods: number; until: number };
  /**
   * Only when `floor` is null because no window applies: 'scaleToZero' (the caller scales to 0
   * and the gateway answers 503 until the next window) or 'standard' (min/max replicas apply).
   * Undefined when a window applies or schedule-based scaling is off.
   */
  outside?: 'scaleToZero' | 'standard';
  reason: ScheduleFloorReason;
  message: string;
}

export interface ScheduleAt {
  /** `spec.schedule`; undefined or `enabled: false` means schedule-based scaling is off. */
  schedule: Schedule | undefined;
  /** Epoch milliseconds. */
  now: number;
}

function windowsOf(schedule: Schedule | undefined): ScheduleWindow[] {
  return schedule?.enabled ? schedule.windows : [];
}

/** "window 2 (Mon-Fri 09:00-18:00 Asia/Kolkata)": numbered from 1, as listed in the product. */
function label(windows: ScheduleWindow[], index: number): string {
  const window = windows[index];
  return `window ${index + 1}${window ? ` (${describeWindow(window)})` : ''}`;
}

function pods(n: number): string {
  return `${n} pod${n === 1 ? '' : 's'}`;
}

/**
 * The pod floor the schedule sets at `now`.
 *
 * 1. Schedule off (absent or disabled): no floor.
 * 2. Open windows: the floor is the highest of their minPods.
 * 3. Closed windows still cooling down keep their minPods until the cool-down ends; the highest
 *    of open and cooling-down windows wins.
 * 4. No window applies: no floor, and `outside` says what the caller does instead.
 */
export function scheduleFloor({ schedule, now }: ScheduleAt): ScheduleFloor {
  if (!schedule?.enabled) {
    return {
      floor: null,
      active: [],
      reason: 'ScheduleDisabled',
      message: 'schedule-based scaling is off',
    };
  }
  const windows = schedule.windows;
  const states = windows.map((window) => windowState(window, now));
  const active: { index: number; minPods: number }[] = [];
  let cooling: { index: number; minPods: number; until: number } | undefined;
  windows.forEach((window, index) => {
    const state = states[index] as WindowState;
    if (state.active) {
      active.push({ index, minPods: window.minPods });
    } else if (state.coolingDownUntil !== undefined) {
      const candidate = { index, minPods: window.minPods, until: state.coolingDownUntil };
      // The highest floor, held longest, wins.
      if (
        !cooling ||
        candidate.minPods > cooling.minPods ||
        (candidate.minPods === cooling.minPods && candidate.until > cooling.until)
      ) {
        cooling = candidate;
      }
    }
  });

  const top = active.reduce<{ index: number; minPods: number } | undefined>(
    (best, w) => (!best || w.minPods > best.minPods ? w : best),
    undefined,
  );
  if (cooling && (!top || cooling.minPods > top.minPods)) {
    const window = windows[cooling.index] as ScheduleWindow;
    const still = top ? `; open windows ask for ${pods(top.minPods)}` : '';
    return {
      floor: cooling.minPods,
      active,
      coolingDown: cooling,
      reason: 'CoolingDown',
      message: `${label(windows, cooling.index)} has closed; its floor of ${pods(cooling.minPods)} holds for the ${SCHEDULE_COOL_DOWN_SECONDS / 60}-minute cool-down, until ${formatLocal(cooling.until, window.timezone)}${still}`,
    };
  }
  if (top) {
    const message =
      active.length === 1
        ? `${label(windows, top.index)} is active: at least ${pods(top.minPods)}`
        : `${active.length} windows are active (${active.map((w) => w.index + 1).join(', ')}); the highest is ${label(windows, top.index)}: at least ${pods(top.minPods)}`;
    return { floor: top.minPods, active, reason: 'WindowActive', message };
  }

  const next = nextWindowStart(states);
  const until = next
    ? ` until ${label(windows, next.index)} starts at ${formatLocal(next.at, (windows[next.index] as ScheduleWindow).timezone)}`
    : '; no window starts again';
  if (schedule.scaleToZeroOutsideWindows) {
    return {
      floor: null,
      active,
      outside: 'scaleToZero',
      reason: 'OutsideWindowsScaleToZero',
      message: `outside all schedule windows: 0 pods${until}`,
    };
  }
  return {
    floor: null,
    active,
    outside: 'standard',
    reason: 'OutsideWindows',
    message: `outside all schedule windows: standard min/max replicas apply${until}`,
  };
}

/** The earliest next start of a closed window; undefined if none will start. */
function nextWindowStart(states: WindowState[]): { index: number; at: number } | undefined {
  let best: { index: number; at: number } | undefined;
  states.forEach((state, index) => {
    if (!state.active && state.nextTransition !== null) {
      if (!best || state.nextTransition < best.at) best = { index, at: state.nextTransition };
    }
  });
  return best;
}

/**
 * The next instant (epoch ms, after `now`) at which scheduleFloor's answer can change: a closed
 * window opening, an open window closing or a cool-down ending. Null when the schedule is off
 * or nothing will change. The workflow sets one timer for it.
 */
export function nextScheduleChange({ schedule, now }: ScheduleAt): number | null {
  let next: number | null = null;
  for (const window of windowsOf(schedule)) {
    const state = windowState(window, now);
    for (const at of [state.nextTransition, state.coolingDownUntil]) {
      if (at !== null && at !== undefined && at > now && (next === null || at < next)) next = at;
    }
  }
  return next;
}

/**
 * Whole seconds (rounded up) until the next window starts: 0 while a window is open, null when
 * the schedule is off or no window will start again. For the gateway's Retry-After while the
 * deployment is scaled to zero outside windows.
 */
export function secondsUntilNextWindow({ schedule, now }: ScheduleAt): number | null {
  const states = windowsOf(schedule).map((window) => windowState(window, now));
  if (states.some((state) => state.active)) return 0;
  const next = nextWindowStart(states);
  return next ? Math.ceil((next.at - now) / 1000) : null;
}
