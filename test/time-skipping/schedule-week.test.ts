/**
 * A simulated week on the Temporal Java test server (time skipping): the deployment workflow,
 * its schedule timers and scale-to-zero cooldown run through days of workflow time in seconds of
 * real time. Activities (FakeProvider, 0.3 s loads) run in real time while workflow time stands
 * still; the replica watch is the time-skipping double in ./watch-interceptor.ts.
 *
 * Expected times are computed here with Intl only (not with workflows/schedule), so the test is
 * an independent oracle for the schedule maths.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { temporal } from '@temporalio/proto';
import { eventsQuery, statusQuery } from '../../workflows/deployment/definitions';
import { observeMetricsSignal, type MetricsObservation } from '../../workflows/deployment/metrics';
import type { DeploymentEvent, DeploymentView } from '../../workflows/domain/deployment';
import { dedicatedSpec } from '../helpers/catalog';
import { FakeProvider } from '../helpers/fake-provider';
import { waitFor } from '../helpers/harness';
import { startTimeSkipping, type TimeSkippingHarness } from '../helpers/time-skipping';

const { EventType } = temporal.api.enums.v1;
const NY = 'America/New_York';
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const WEEKDAYS = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri'];

let h: TimeSkippingHarness;
const provider = new FakeProvider();

beforeAll(async () => {
  h = await startTimeSkipping();
  await h.startWorker(provider);
});
afterAll(async () => h?.stop());

// ---- wall time in New York, by Intl (independent of workflows/schedule) --------------------

const formatter = new Intl.DateTimeFormat('en-US', {
  timeZone: NY,
  hourCycle: 'h23',
  weekday: 'short',
  year: 'numeric',
  month: 'numeric',
  day: 'numeric',
  hour: '2-digit',
  minute: '2-digit',
  second: '2-digit',
});

interface Wall {
  weekday: string;
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
}

function wallOf(instant: number): Wall {
  const parts: Record<string, string> = {};
  for (const p of formatter.formatToParts(instant)) parts[p.type] = p.value;
  return {
    weekday: parts.weekday!,
    year: Number(parts.year),
    month: Number(parts.month),
    day: Number(parts.day),
    hour: Number(parts.hour),
    minute: Number(parts.minute),
    second: Number(parts.second),
  };
}

/** "Mon 09:00" (New York): the resolution the assertions use. */
function label(instant: number): string {
  const w = wallOf(instant);
  return `${w.weekday} ${String(w.hour).padStart(2, '0')}:${String(w.minute).padStart(2, '0')}`;
}

/** The instant of a New York wall time (not inside a DST gap). */
function nyInstant(year: number, month: number, day: number, hour: number, minute: number) {
  const wall = Date.UTC(year, month - 1, day, hour, minute);
  const offset = (t: number) => {
    const w = wallOf(t);
    return Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute, w.second) - (t - (t % 1000));
  };
  const guess = wall - offset(wall);
  return wall - offset(guess);
}

/** The first Monday `hh:mm` in New York at least a minute after `now`. */
function nextMonday(now: number, hour: number, minute: number): number {
  const today = wallOf(now);
  for (let d = 0; d <= 7; d++) {
    const date = new Date(Date.UTC(today.year, today.month - 1, today.day + d));
    const at = nyInstant(
      date.getUTCFullYear(),
      date.getUTCMonth() + 1,
      date.getUTCDate(),
      hour,
      minute,
    );
    if (wallOf(at).weekday === 'Mon' && at > now + MINUTE) return at;
  }
  throw new Error('no Monday within a week');
}

/** The product's answer: 3 pods Mon-Fri from 09:00 until the cool-down ends at 18:05, else 0. */
function expectedReplicas(instant: number): number {
  const w = wallOf(instant);
  const minutes = w.hour * 60 + w.minute;
  return WEEKDAYS.includes(w.weekday) && minutes >= 9 * 60 && minutes < 18 * 60 + 5 ? 3 : 0;
}

// ---- driving the test server --------------------------------------------------------------

/** Skips workflow time to `instant` (the server only skips while nothing is in flight). */
async function advanceTo(instant: number): Promise<void> {
  const now = await h.env.currentTimeMs();
  if (instant > now) await h.env.sleep(instant - now);
}

const scaleEvents = (events: DeploymentEvent[]) =>
  events.filter((e) => e.type === 'ScaleOut' || e.type === 'ScaleIn');

/** History events per New York calendar day ("Sat 2026-12-05"). */
function eventsPerDay(history: temporal.api.history.v1.IHistory): Map<string, number> {
  const perDay = new Map<string, number>();
  for (const e of history.events ?? []) {
    const w = wallOf(Number(e.eventTime?.seconds ?? 0) * 1000);
    const day = `${w.weekday} ${w.year}-${String(w.month).padStart(2, '0')}-${String(w.day).padStart(2, '0')}`;
    perDay.set(day, (perDay.get(day) ?? 0) + 1);
  }
  return perDay;
}

describe('a simulated week on the time-skipping test server', () => {
  it('runs office-hours windows: 0 pods outside, 3 inside, the 5-minute cool-down, weekends off', async () => {
    const realStart = Date.now();
    // The test server's clock starts at the real time: skip (nothing runs yet) to Monday 07:30.
    const start = nextMonday(await h.env.currentTimeMs(), 7, 30);
    await advanceTo(start);
    const handle = await h.startDeployment('week', 'office-hours', {
      ...dedicatedSpec(),
      scaling: { minReplicas: 0, maxReplicas: 4, metric: 'concurrency', threshold: 8 },
      schedule: {
        enabled: true,
        scaleToZeroOutsideWindows: true,
        windows: [
          {
            timezone: NY,
            days: ['mon', 'tue', 'wed', 'thu', 'fri'],
            wakeAt: '09:00',
            coolDownAt: '18:00',
            minPods: 3,
          },
        ],
      },
    });
    const status = () => handle.query(statusQuery);
    await waitFor(status, (v) => v.state === 'running', 'running');
    const created = (await handle.query(eventsQuery)).find((e) => e.reason === 'Created');
    // Workflow time is the test server's clock: the deployment was created at Monday 07:30.
    expect(label(Date.parse(created!.time))).toBe('Mon 07:30');

    // No traffic is ever observed here: the schedule alone must take it to zero outside windows.
    await advanceTo(start + 30 * MINUTE);
    expect(
      (await status()).replicas.desired,
      'Mon 08:00, outside every window, scaleToZeroOutsideWindows: 0 pods (no metric observation needed)',
    ).toBe(0);

    // Samples: every hour at :30 for 8 days, plus both sides of each window edge and of the
    // cool-down's end. Each is read once nothing is in flight, so replicas must be settled.
    const end = start + 7 * DAY + 3 * HOUR; // the next Monday, 10:30
    const samples = new Set<number>();
    for (let t = start + HOUR; t <= end; t += HOUR) samples.add(t);
    for (let d = 0; d <= 7; d++) {
      const date = wallOf(start + d * DAY + 12 * HOUR);
      for (const [hh, mm] of [
        [8, 59],
        [9, 1],
        [17, 59],
        [18, 1],
        [18, 4],
        [18, 6],
      ] as const) {
        const at = nyInstant(date.year, date.month, date.day, hh, mm);
        if (at <= end) samples.add(at);
      }
    }
    const observed: string[] = [];
    const expected: string[] = [];
    const timeline: { at: number; view: DeploymentView }[] = [];
    for (const at of [...samples].sort((a, b) => a - b)) {
      await advanceTo(at);
      const view = await status();
      timeline.push({ at, view });
      observed.push(`${label(at)} ${view.replicas.desired}/${view.replicas.ready} ${view.health}`);
      const want = expectedReplicas(at);
      expected.push(`${label(at)} ${want}/${want} Healthy`);
    }
    const transitions = timeline
      .filter(
        (s, i) => i === 0 || s.view.replicas.desired !== timeline[i - 1]!.view.replicas.desired,
      )
      .map((s) => `${label(s.at)} -> ${s.view.replicas.desired}`);
    console.log(
      `week simulated in ${Date.now() - realStart} ms (${timeline.length} samples); replicas: ${transitions.join(', ')}`,
    );
    expect(observed).toEqual(expected);

    // Every scale is an event with its reason, timed (workflow time) at the window's edge.
    const firstWindow = nyInstant(wallOf(start).year, wallOf(start).month, wallOf(start).day, 9, 0);
    const events = scaleEvents(await handle.query(eventsQuery));
    const before = events.filter((e) => Date.parse(e.time) < firstWindow);
    for (const e of before) {
      // Created outside its windows: any scale before 09:00 only takes it to zero.
      expect(e).toMatchObject({ type: 'ScaleIn', reason: 'OutsideScheduleWindows' });
      expect(e.message).toMatch(/-> 0:/);
    }
    const during = events
      .filter((e) => Date.parse(e.time) >= firstWindow)
      .map((e) => `${label(Date.parse(e.time))} ${e.type} ${e.reason} ${e.message.split(':')[0]}`);
    const week = WEEKDAYS.flatMap((day) => [
      `${day} 09:00 ScaleOut ScheduleWindow replicas 0 -> 3`,
      `${day} 18:05 ScaleIn OutsideScheduleWindows replicas 3 -> 0`,
    ]);
    expect(during).toEqual([...week, 'Mon 09:00 ScaleOut ScheduleWindow replicas 0 -> 3']);
    for (const e of events.filter((e) => Date.parse(e.time) >= firstWindow)) {
      // Decided when the timer fired: within seconds of the edge, not at the next sample.
      const t = Date.parse(e.time);
      expect(t % MINUTE, `${e.time} is on the minute`).toBeLessThan(5_000);
    }

    // History: timers, not ticks. Measured per weekday: 09:00 costs about 33 events (timer
    // fired, applyRevision, the loading check's status call (the double waits out the load in
    // real time), the readiness timer started and cancelled, health search-attribute upserts,
    // workflow tasks, the next timer); 18:00 costs 5; 18:05 costs about 17. No observer runs
    // here, so while 3 replicas run (09:00-18:05) the workflow asks for their status itself every
    // SAFETY_NET_MS of silence (2 h: timer, status call, workflow tasks, about 12 events each,
    // 4 a day): 105 a day. A weekend day costs nothing (scaled to zero, no safety net; one timer
    // spans Fri 18:05 to Mon 09:00). Bound: 120 per day (the double leaves a wait's timer to fire
    // unseen rather than cancel it, a few events more). With an observer, its signals and
    // metric keepalives replace the status calls (bench:history-events).
    const history = await handle.fetchHistory();
    const perDay = eventsPerDay(history);
    console.log(`history: ${history.events?.length} events;`, Object.fromEntries(perDay));
    expect(history.events?.at(-1)?.eventType).not.toBe(
      EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW,
    );
    const [startDay, ...days] = [...perDay.keys()];
    // Weekend days write nothing at all (no day appears without events).
    expect(days.filter((day) => /^(Sat|Sun)/.test(day))).toEqual([]);
    for (const day of days) expect(perDay.get(day), day).toBeLessThanOrEqual(120);
    expect(startDay).toMatch(/^Mon/); // creation day: quota, provisioning, first readiness, 09:00
    await handle.terminate('week simulated');
  });

  it('scales to zero after the cooldown with no traffic, and wakes for a waiting request', async () => {
    const handle = await h.startDeployment('week', 'scale-to-zero', {
      ...dedicatedSpec(),
      scaling: {
        minReplicas: 0,
        maxReplicas: 2,
        metric: 'concurrency',
        threshold: 8,
        scaleToZero: { enabled: true, cooldownSeconds: 3600 },
      },
    });
    const status = () => handle.query(statusQuery);
    await waitFor(
      status,
      (v) => v.health === 'Healthy' && v.replicas.ready === 1,
      'Healthy with 1 replica',
    );

    const observation = (
      at: number,
      extra: Partial<MetricsObservation> = {},
    ): MetricsObservation => ({
      time: new Date(at).toISOString(),
      windowSeconds: 30,
      replicas: [{ replica: 'r0', concurrency: 0, throughput: 0 }],
      queued: 0,
      lastRequestAt: new Date(stoppedAt).toISOString(),
      shortWindow: { seconds: 6, concurrency: 0, throughput: 0 },
      ...extra,
    });
    // Traffic stopped at T: the observer says so at once, then sends a keepalive every 40 min
    // (its KEEPALIVE_MS; observations older than 45 min cannot justify a scale-down).
    const stoppedAt = await h.env.currentTimeMs();
    await handle.signal(observeMetricsSignal, observation(stoppedAt));
    await advanceTo(stoppedAt + 40 * MINUTE);
    await handle.signal(observeMetricsSignal, observation(await h.env.currentTimeMs()));

    await advanceTo(stoppedAt + 59 * MINUTE);
    expect((await status()).replicas.desired).toBe(1);
    await advanceTo(stoppedAt + 61 * MINUTE);
    const zero = await status();
    expect(zero.replicas).toEqual({ desired: 0, ready: 0 });
    expect(zero.health).toBe('Healthy');
    const scaledIn = scaleEvents(await handle.query(eventsQuery)).at(-1)!;
    expect(scaledIn).toMatchObject({ type: 'ScaleIn', reason: 'ScaledToZero' });
    // On the cooldown's own timer: 60 minutes after traffic stopped.
    expect(Math.abs(Date.parse(scaledIn.time) - (stoppedAt + 60 * MINUTE))).toBeLessThan(5_000);

    // A request waits at the gateway: the collector sends it at once; the deployment wakes.
    await handle.signal(
      observeMetricsSignal,
      observation(await h.env.currentTimeMs(), { replicas: [], queued: 1 }),
    );
    await waitFor(
      status,
      (v) => v.replicas.desired === 1 && v.replicas.ready === 1 && v.health === 'Healthy',
      'woken and Healthy',
    );
    expect(scaleEvents(await handle.query(eventsQuery)).at(-1)).toMatchObject({
      type: 'ScaleOut',
      reason: 'WokenByRequest',
    });
    await handle.terminate('done');
  });
});
