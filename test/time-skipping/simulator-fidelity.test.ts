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
 * wall-clock date does not matter). The test steps the simulation one scrape at a time and moves
 * the server's clock only when the workflow must act: to a decision timer's instant (after the
 * simulation has reached it, so the replicas it applies start then), and to a scrape's instant
 * before a signal. After each signal or timer it waits until the workflow has decided and the
 * scale step has reached the provider, so the next scrape sees the replicas it set.
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

const TRACE_PATH = path.join(__dirname, '../../../shared/data/azure-llm-2023-code.csv');
/**
 * The slice: 18:23:00-18:43:00 as timestamped (read as UTC), 3,950 requests. With the spec below
 * the simulator scales 19 times: out at 18:27, up to maxReplicas (8) step by step in the burst at
 * 18:32, in again step by step, out and in at 18:37 and 18:41.
 */
const SLICE_FROM = Date.UTC(2023, 10, 16, 18, 23);
const SLICE_MS = 20 * 60_000;
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

describe('the simulator against the real deployment workflow', () => {
  it('gives the same replica timeline on a 20-minute slice of the Azure trace', async () => {
    const realStart = Date.now();
    const parsed = validateSpec(SPEC);
    if (!parsed.ok) throw new Error(JSON.stringify(parsed.violations));
    const spec: DeploymentSpec = parsed.value;
    const figures = servingFigures(BUILTIN_CATALOG, spec.model, 'H100', 1);
    const slice = sliceTrace(
      parseAzureCsv(fs.readFileSync(TRACE_PATH, 'utf8')),
      SLICE_FROM,
      SLICE_FROM + SLICE_MS,
    );

    // ---- (a) the workflow, created and running before the slice starts --------------------
    const handle = await h.startDeployment('fidelity', 'azure-code', SPEC);
    await waitFor(
      () => handle.query(statusQuery),
      (v) => v.state === 'running' && v.replicas.ready === 1,
      'running with 1 replica',
    );
    const start = Math.ceil((await h.now()) / 1000) * 1000 + 1000;
    const until = start + SLICE_MS;
    const trace = shifted(slice, start - SLICE_FROM);

    const stats = { signals: 0, asked: 0, unchanged: 0, timers: 0, nudges: 0, maxLagMs: 0 };
    /** Moves the server's clock to `t` (never back: it runs on in real time while locked). */
    const advanceTo = async (t: number) => {
      const now = await h.now();
      if (t > now) await h.sleep(t - now);
      else stats.maxLagMs = Math.max(stats.maxLagMs, now - t);
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
    const signal = async (observation: MetricsObservation, at: number) => {
      await advanceTo(at);
      await handle.signal(observeMetricsSignal, observation);
      await settle(`the signal of ${observation.time}`, (a) => a.observedAt === observation.time);
    };

    const controller = new WorkflowController(provider);
    const sim = new Simulation({ trace, figures, start, until }, controller);
    sim.begin();
    const load = new ReplicaLoad();
    let lastOffered: LastOffered | undefined;
    for (let t = start + SCRAPE_INTERVAL_MS; t <= until; t += SCRAPE_INTERVAL_MS) {
      // The workflow's decision timers due by this scrape, each at its own instant, or at the
      // scrape's instant when it is just after it (see ON_THE_TICK_MS), before the scrape.
      while (nextDecisionAt !== null && nextDecisionAt <= t + ON_THE_TICK_MS) {
        const due = nextDecisionAt;
        const past = (due - start) % SCRAPE_INTERVAL_MS;
        sim.runUntil(past <= ON_THE_TICK_MS ? due - past : due);
        await advanceTo(due);
        stats.timers++;
        await settle(
          `the timer of ${new Date(due).toISOString()}`,
          (a) => a.nextDecisionAt !== due,
        );
      }
      sim.runUntil(t);
      // The gateway's nudges (requests held with no replica ready), as the simulator sends them.
      for (const nudge of controller.nudges.splice(0)) {
        stats.nudges++;
        await signal(nudge, t);
      }
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

    const report =
      `workflow (${workflow.length} changes):\n${render(workflow, start)}\n` +
      `simulator (${simulated.length} changes):\n${render(simulated, start)}\n` +
      `stats: ${JSON.stringify(stats)}; ${trace.at.length} requests; real time ${Date.now() - realStart} ms`;
    console.log(report);

    expect(simulated.length, 'the slice exercises scale-out and scale-in').toBeGreaterThanOrEqual(
      6,
    );
    const steps = (points: Point[]) => points.map((p) => `${p.replicas} ${p.reason}`);
    expect(steps(workflow), `replica counts (and reasons) in order\n${report}`).toEqual(
      steps(simulated),
    );
    const late = workflow
      .map((p, i) => ({ i, offBy: p.at - simulated[i]!.at }))
      .filter(({ offBy }) => Math.abs(offBy) > TOLERANCE_MS);
    expect(late, `decisions more than ${TOLERANCE_MS} ms apart\n${report}`).toEqual([]);
  }, 300_000);
});
