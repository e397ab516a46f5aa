/**
 * Fidelity, proven: a 20-minute slice of the shipped Azure trace through
 *
 * (a) the real deployment workflow on the Java test server (time skipping), its replicas served
 *     by the simulator's queueing model behind a test provider (helpers/simulated-fleet.ts),
 *     with the observer's decision path run here against the workflow: a scrape every second
 *     into ReplicaLoad, sendDecision, the 'ask' answered by the workflow's observationMatters
 *     query, the observeMetrics signal; the workflow's timers fire in skipped time; and
 * (b) the simulator (ProductController: its copy of that path, driving a DeploymentEntity),
 *
 * must give the same replica timeline: the same counts in the same order, each decision within
 * one decision interval (the observer's 1 s scrape cadence) of the simulator's.
 *
 * Time: the trace is shifted so that the slice starts on a whole second just after the test
 * server's clock (the deployment is created and running by then; the spec has no schedule, so the
 * wall-clock date does not matter). The test steps the simulation one scrape at a time (and,
 * within it, one arrival at a time) and moves the server's clock only when the workflow must act:
 * to a decision timer's instant (after the simulation has reached it, so the replicas it applies
 * start then), to a scrape's instant before the observer's signal, and to a hold's instant before
 * the gateway's nudge (a request held with no replica ready: the simulator's ProductController
 * signals at that instant, as api/metrics/wake-nudger.ts does). After each signal or timer it
 * waits until the workflow has decided and the scale step has reached the provider, so the
 * simulation goes on with the replicas it set, from that instant.
 *
 * Two cases: minReplicas 1 on a busy slice (scale out and in), and scale to zero on a quiet slice
 * with long gaps (scaled to zero after the cooldown, woken by held requests' nudges).
 */
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Worker } from '@temporalio/worker';
import { sendDecision, offered, type LastOffered } from '../../observer/load-rules';
import { ReplicaLoad } from '../../observer/replica-load';
import { ProductController, SCRAPE_INTERVAL_MS } from '../../simulator/controllers/product';
import { servingFigures } from '../../simulator/serving-model';
import { Simulation, type ReplicaChange } from '../../simulator/simulation';
import { parseAzureCsv, sliceTrace, type Trace } from '../../simulator/trace';
import { createWorker } from '../../worker/create-worker';
import {
  autoscalerQuery,
  eventsQuery,
  statusQuery,
  type AutoscalerView,
} from '../../workflows/deployment/definitions';
import {
  observationMattersQuery,
  observeMetricsSignal,
  type MetricsObservation,
} from '../../workflows/deployment/metrics';
import { BUILTIN_CATALOG } from '../../workflows/domain/catalog';
import { validateSpec, type DeploymentSpec } from '../../workflows/domain/spec';
import { waitFor } from '../helpers/harness';
import { SimulatedFleetProvider, WorkflowController } from '../helpers/simulated-fleet';
import {
  startTimeSkipping,
  timeSkippingBundle,
  type TimeSkippingHarness,
} from '../helpers/time-skipping';

const TRACE_PATH = path.join(__dirname, '../../simulator/traces/azure-llm-2023-code.csv');
const SLICE_MS = 20 * 60_000;
/**
 * The busy slice: 18:23:00-18:43:00 as timestamped (read as UTC), 3,950 requests. With SPEC below
 * the simulator scales 19 times: out at 18:27, up to maxReplicas (8) step by step in the burst at
 * 18:32, in again step by step, out and in at 18:37 and 18:41.
 */
const SLICE_FROM = Date.UTC(2023, 10, 16, 18, 23);
/**
 * The quiet slice: 18:54:00-19:14:00, 1,639 requests, its gaps as long as 217 s (19:04:39.8 ->
 * 19:08:17.0). With ZERO_SPEC the simulator scales to zero 5 times (each 60 s after the last
 * request) and is woken 5 times by a held request (ScaledToZero at 18:57:57, 19:01:24, 19:02:46,
 * 19:05:41, 19:11:44; WokenByRequest at 18:58:59.965, 19:01:30.034, 19:04:33.690, 19:08:16.970,
 * 19:12:01.387); the load never asks for a second replica.
 */
const ZERO_SLICE_FROM = Date.UTC(2023, 10, 16, 18, 54);
/**
 * The workflow's times run a few milliseconds behind the simulator's: it decides when its task
 * runs, after the signal or timer, and a stabilization or policy timer it sets counts from that
 * decision (the simulator's from the tick). So a timer the simulator fires on a scrape's instant,
 * before that scrape (its convention: a timer due at a tick goes first), the workflow fires a
 * few ms after it. Left so (0 here), the scrape reaches the workflow before its timer, and a
 * different observation decides; and replicas the timer starts miss, by those few ms, the scrape
 * 3 s later that sees them ready, so the observer's next offers come one second late. On this
 * slice that gave 17 changes, not 19: no 6 -> 8 at +09:26 (the newer, lower observation came
 * first), so 6 -> 4 at +10:29 for 8 -> 4 at +10:27; 2 -> 1 at +06:02, not +06:01; one 4 -> 1 at
 * +19:43 for 4 -> 2 at +19:42 and 2 -> 1 at +19:43. Neither order is wrong
 * for the product (an observer scrapes at any phase against the workflow's timers); the test
 * follows the simulator's: a timer due this soon after a scrape instant is taken as due at it,
 * fired before that scrape, its replicas started at that instant.
 */
const ON_THE_TICK_MS = 500;
/** Within one decision interval: the observer's scrape cadence. */
const TOLERANCE_MS = SCRAPE_INTERVAL_MS;

const SPEC = {
  model: 'llama-3.1-8b-instruct',
  cloud: { type: 'dedicated', accelerator: { type: 'H100', count: 1 } },
  scaling: { minReplicas: 1, maxReplicas: 8, metric: 'concurrency', threshold: 2 },
  autoscalingPolicy: { scaleDown: { stabilizationWindowSeconds: 60 } },
};
const ZERO_SPEC = {
  ...SPEC,
  scaling: {
    minReplicas: 0,
    maxReplicas: 8,
    metric: 'concurrency',
    threshold: 2,
    scaleToZero: { enabled: true, cooldownSeconds: 60 },
  },
};

interface Point {
  at: number;
  replicas: number;
  reason: string;
}

let h: TimeSkippingHarness;
let worker: Worker | undefined;
let running: Promise<void> | undefined;
const provider = new SimulatedFleetProvider();

beforeAll(async () => {
  h = await startTimeSkipping();
  worker = await createWorker({
    connection: h.env.nativeConnection,
    namespace: h.env.namespace ?? 'default',
    taskQueue: h.taskQueue,
    workflowBundle: await timeSkippingBundle(),
    deps: {
      client: h.client,
      taskQueue: h.taskQueue,
      limitFor: () => 1000,
      provider,
      catalog: BUILTIN_CATALOG,
    },
  });
  running = worker.run();
});

afterAll(async () => {
  if (worker?.getState() === 'RUNNING') worker.shutdown();
  await running?.catch(() => undefined);
  await h?.stop();
});

function shifted(trace: Trace, by: number): Trace {
  return { ...trace, at: trace.at.map((t) => t + by) };
}

const clock = (at: number, start: number) => {
  const ms = at - start;
  const m = Math.floor(ms / 60_000);
  const s = ((ms % 60_000) / 1000).toFixed(3).padStart(6, '0');
  return `+${String(m).padStart(2, '0')}:${s}`;
};

function render(points: Point[], start: number): string {
  return points.map((p) => `  ${clock(p.at, start)} -> ${p.replicas} ${p.reason}`).join('\n');
}

interface Fidelity {
  workflow: Point[];
  simulated: Point[];
  report: string;
  /** Cold starts (0 -> more replicas after the start): with the workflow's counts, and the simulator's. */
  coldStarts: { workflow: number; simulated: number };
  /** Requests refused (held past the hold timeout, or over the hold limit): the same two. */
  rejected: { workflow: number; simulated: number };
  /** The gateway's nudges signalled to the workflow (each at its hold's instant). */
  nudges: number;
}

/** Runs a 20-minute slice through the workflow (a) and the simulator (b): their timelines. */
async function runSlice(name: string, rawSpec: typeof SPEC, from: number): Promise<Fidelity> {
  const realStart = Date.now();
  const parsed = validateSpec(rawSpec);
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.violations));
  const spec: DeploymentSpec = parsed.value;
  const figures = servingFigures(BUILTIN_CATALOG, spec.model, 'H100', 1);
  const slice = sliceTrace(
    parseAzureCsv(fs.readFileSync(TRACE_PATH, 'utf8')),
    from,
    from + SLICE_MS,
  );

  // ---- (a) the workflow, created and running before the slice starts --------------------
  provider.sim = undefined; // the previous case's simulation is done
  const handle = await h.startDeployment('fidelity', name, rawSpec);
  await waitFor(
    () => handle.query(statusQuery),
    (v) => v.state === 'running' && v.replicas.ready === 1,
    'running with 1 replica',
  );
  const start = Math.ceil((await h.now()) / 1000) * 1000 + 1000;
  const until = start + SLICE_MS;
  const trace = shifted(slice, start - from);

  const stats = {
    signals: 0,
    asked: 0,
    unchanged: 0,
    timers: 0,
    nudges: 0,
    maxLagMs: 0,
    /** How late (server time) a nudge to a deployment at zero, the one that wakes it, went. */
    maxWakeLagMs: 0,
  };
  /**
   * Moves the server's clock to `t` (never back: it runs on in real time while locked); returns
   * how far past `t` it already was.
   */
  const advanceTo = async (t: number): Promise<number> => {
    const now = await h.now();
    if (t > now) {
      await h.sleep(t - now);
      return 0;
    }
    stats.maxLagMs = Math.max(stats.maxLagMs, now - t);
    return now - t;
  };
  let nextDecisionAt: number | null = (await handle.query(autoscalerQuery)).nextDecisionAt;
  /** Waits until the workflow has taken what it was sent, decided, and applied the count. */
  const settle = async (what: string, taken: (a: AutoscalerView) => boolean) => {
    const deadline = Date.now() + 20_000;
    for (;;) {
      const [a, view] = await Promise.all([
        handle.query(autoscalerQuery),
        handle.query(statusQuery),
      ]);
      if (taken(a) && !a.decisionDue && provider.applied === view.replicas.desired) {
        nextDecisionAt = a.nextDecisionAt;
        return;
      }
      if (Date.now() > deadline) {
        throw new Error(
          `the workflow did not settle after ${what}: ${JSON.stringify({ a, replicas: view.replicas, applied: provider.applied })}`,
        );
      }
      await delay(5);
    }
  };
  const signal = async (observation: MetricsObservation, at: number): Promise<number> => {
    const lag = await advanceTo(at);
    await handle.signal(observeMetricsSignal, observation);
    await settle(`the signal of ${observation.time}`, (a) => a.observedAt === observation.time);
    return lag;
  };

  const controller = new WorkflowController(provider);
  const sim = new Simulation({ trace, figures, start, until }, controller);
  sim.begin();
  const load = new ReplicaLoad();
  let lastOffered: LastOffered | undefined;
  let arrival = 0; // the next arrival the simulation has not reached
  for (let t = start + SCRAPE_INTERVAL_MS; t <= until; t += SCRAPE_INTERVAL_MS) {
    // Before the scrape, in time order: each arrival (a request held with no replica ready is
    // nudged at its instant, as ProductController.onHold signals it), and the workflow's decision
    // timers due by this scrape, each at its own instant, or at the scrape's instant when it is
    // just after it (see ON_THE_TICK_MS). An arrival at a timer's instant goes first, as in the
    // simulator. After a nudge the timer is looked at again: the workflow's decision moved it.
    for (;;) {
      const due =
        nextDecisionAt !== null && nextDecisionAt <= t + ON_THE_TICK_MS ? nextDecisionAt : null;
      const past = due === null ? 0 : (due - start) % SCRAPE_INTERVAL_MS;
      const to = due === null ? t : past <= ON_THE_TICK_MS ? due - past : due;
      const at = trace.at[arrival];
      if (at !== undefined && at <= to) {
        sim.runUntil(at);
        while ((trace.at[arrival] ?? Infinity) <= at) arrival++;
        for (const nudge of controller.nudges.splice(0)) {
          stats.nudges++;
          const atZero = provider.applied === 0;
          const lag = await signal(nudge, at);
          if (atZero) stats.maxWakeLagMs = Math.max(stats.maxWakeLagMs, lag);
        }
        continue;
      }
      if (due === null) break;
      sim.runUntil(to);
      await advanceTo(due);
      stats.timers++;
      await settle(`the timer of ${new Date(due).toISOString()}`, (a) => a.nextDecisionAt !== due);
    }
    sim.runUntil(t);
    if (controller.nudges.length > 0) throw new Error('a nudge not at an arrival');
    // The observer's tick: scrape the ready replicas, offer what it measured.
    const ready = sim.ready();
    if (ready.length === 0) continue;
    for (const replica of ready) load.record(replica.name, t, replica.samples());
    const observation = load.observe(
      ready.map((r) => r.name),
      t,
    );
    if (!observation) continue;
    const decision = sendDecision(lastOffered, observation, t);
    if (!decision) continue;
    if (decision === 'ask') {
      stats.asked++;
      if (!(await handle.query(observationMattersQuery, observation))) {
        stats.unchanged++;
        lastOffered = offered(lastOffered, observation, t, false);
        continue;
      }
    }
    lastOffered = offered(lastOffered, observation, t, true);
    stats.signals++;
    await signal(observation, t);
  }
  sim.runUntil(Infinity); // the requests still held or in flight: finished or refused
  const events = await handle.query(eventsQuery);
  await handle.terminate('slice simulated');

  const workflow: Point[] = events
    .filter((e) => (e.type === 'ScaleOut' || e.type === 'ScaleIn') && Date.parse(e.time) >= start)
    .map((e) => ({
      at: Date.parse(e.time),
      replicas: Number(/^replicas \d+ -> (\d+)/.exec(e.message)?.[1]),
      reason: e.reason,
    }));

  // ---- (b) the simulator, same trace, same start -----------------------------------------
  const reference = new Simulation({ trace, figures, start, until }, new ProductController(spec));
  reference.run();
  const simulated: Point[] = reference.timeline
    .slice(1) // the start: 1 replica, as the workflow's
    .map((c: ReplicaChange) => ({ at: c.at, replicas: c.replicas, reason: c.reason }));

  const coldStarts = { workflow: sim.coldStarts, simulated: reference.coldStarts };
  const rejected = { workflow: sim.rejected, simulated: reference.rejected };
  const report =
    `workflow (${workflow.length} changes):\n${render(workflow, start)}\n` +
    `simulator (${simulated.length} changes):\n${render(simulated, start)}\n` +
    `cold starts ${JSON.stringify(coldStarts)}; rejected ${JSON.stringify(rejected)}\n` +
    `stats: ${JSON.stringify(stats)}; ${trace.at.length} requests; real time ${Date.now() - realStart} ms`;
  console.log(report);
  return { workflow, simulated, report, coldStarts, rejected, nudges: stats.nudges };
}

/** The same counts and reasons in the same order, each decision within TOLERANCE_MS. */
function expectSameTimeline({ workflow, simulated, report }: Fidelity): void {
  const steps = (points: Point[]) => points.map((p) => `${p.replicas} ${p.reason}`);
  expect(steps(workflow), `replica counts (and reasons) in order\n${report}`).toEqual(
    steps(simulated),
  );
  const late = workflow
    .map((p, i) => ({ i, offBy: p.at - simulated[i]!.at }))
    .filter(({ offBy }) => Math.abs(offBy) > TOLERANCE_MS);
  expect(late, `decisions more than ${TOLERANCE_MS} ms apart\n${report}`).toEqual([]);
}

describe('the simulator against the real deployment workflow', () => {
  it('gives the same replica timeline on a 20-minute slice of the Azure trace', async () => {
    const fidelity = await runSlice('azure-code', SPEC, SLICE_FROM);
    expect(
      fidelity.simulated.length,
      'the slice exercises scale-out and scale-in',
    ).toBeGreaterThanOrEqual(6);
    expectSameTimeline(fidelity);
  }, 300_000);

  it('gives the same timeline with scale to zero: scaled to zero, woken by held requests', async () => {
    const fidelity = await runSlice('azure-code-zero', ZERO_SPEC, ZERO_SLICE_FROM);
    const reasons = fidelity.simulated.map((p) => p.reason);
    expect(reasons, 'the slice scales to zero').toContain('ScaledToZero');
    expect(reasons, 'the slice is woken by a held request').toContain('WokenByRequest');
    expect(fidelity.nudges, 'held requests nudged the workflow').toBeGreaterThan(0);
    expectSameTimeline(fidelity);
    expect(fidelity.coldStarts.simulated, 'a cold start per wake').toBe(
      reasons.filter((r) => r === 'WokenByRequest').length,
    );
    expect(fidelity.coldStarts, `cold starts\n${fidelity.report}`).toEqual({
      workflow: fidelity.coldStarts.simulated,
      simulated: fidelity.coldStarts.simulated,
    });
    expect(fidelity.rejected, `requests refused\n${fidelity.report}`).toEqual({
      workflow: fidelity.rejected.simulated,
      simulated: fidelity.rejected.simulated,
    });
  }, 300_000);
});
