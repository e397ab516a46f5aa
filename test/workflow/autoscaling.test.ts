/**
 * Autoscaling inside the deployment workflow, on a real dev server: metric observations arrive
 * as signals (as the collector sends them), decisions are events with their reasons, and due
 * decisions happen on a timer without a new observation.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LoadObserver } from '../../observer/load-observer';
import { VLLM_METRICS } from '../../observer/replica-metrics';
import { autoscalerQuery, deploymentWorkflowId } from '../../workflows/deployment/definitions';
import { deploymentId } from '../../workflows/domain/deployment';
import {
  ALL_METRICS_SIGNALS,
  METRICS_SIGNAL_CAUSES,
  observeMetricsSignal,
  type MetricsObservation,
} from '../../workflows/deployment/metrics';
import { dedicatedSpec } from '../helpers/catalog';
import { FakeProvider } from '../helpers/fake-provider';
import { startHarness, waitFor, type Harness } from '../helpers/harness';
import { uniqueName } from '../helpers/temporal';
import { observation } from '../helpers/observations';

let h: Harness;
const provider = new FakeProvider();
const ws = 'autoscaling';

beforeAll(async () => {
  h = await startHarness();
  await h.startWorker(provider);
});
afterAll(async () => h?.stop());

async function created(
  spec: Record<string, unknown>,
): Promise<{ name: string; signal: (o: MetricsObservation) => Promise<void> }> {
  const name = uniqueName('as');
  await h.service.create(ws, { name, ...dedicatedSpec(spec) });
  await waitFor(
    () => h.service.get(ws, name),
    (v) => v.health === 'Healthy',
    'Healthy',
  );
  const handle = h.env.client.workflow.getHandle(deploymentWorkflowId(ws, name));
  return { name, signal: (o) => handle.signal(observeMetricsSignal, o) };
}

const replicas = (name: string) => h.service.get(ws, name).then((v) => v.replicas.desired);
const scaleEvents = async (name: string) =>
  (await h.service.events(ws, name)).filter((e) => e.type === 'ScaleOut' || e.type === 'ScaleIn');

describe('autoscaling decisions in the workflow', () => {
  it('scales out on a burst, and the event says what was observed and recommended', async () => {
    const { name, signal } = await created({
      scaling: { minReplicas: 1, maxReplicas: 4, metric: 'concurrency', threshold: 8 },
    });
    await signal(observation([20]));
    await waitFor(
      () => replicas(name),
      (n) => n === 3,
      '3 replicas',
    );
    const [event] = await scaleEvents(name);
    expect(event).toMatchObject({ type: 'ScaleOut', reason: 'DesiredWithinRange' });
    expect(event!.message).toMatch(
      /replicas 1 -> 3: concurrency 20 in flight per replica .*threshold 8/,
    );
  });

  it('caps a scale-out at maxReplicas and says so', async () => {
    const { name, signal } = await created({
      scaling: { minReplicas: 1, maxReplicas: 2, metric: 'concurrency', threshold: 8 },
    });
    await signal(observation([40]));
    await waitFor(
      () => replicas(name),
      (n) => n === 2,
      '2 replicas',
    );
    expect((await scaleEvents(name))[0]!.message).toMatch(/max/i);
  });

  it('holds a scale-in for the stabilization window, then scales in on its own timer', async () => {
    const { name, signal } = await created({
      scaling: { minReplicas: 1, maxReplicas: 4, metric: 'concurrency', threshold: 8 },
      autoscalingPolicy: {
        scaleUp: { stabilizationWindowSeconds: 0 },
        scaleDown: { stabilizationWindowSeconds: 3 },
      },
    });
    await signal(observation([30]));
    await waitFor(
      () => replicas(name),
      (n) => n === 4,
      '4 replicas',
    );
    await signal(observation([1, 1, 1, 1]));
    await waitFor(
      () => replicas(name),
      (n) => n === 1,
      'scaled in after stabilization',
      15_000,
    );
    const [out, scaleIn] = await scaleEvents(name);
    expect(scaleIn?.message).toMatch(/replicas 4 -> 1/);
    // The recommendation of 4 keeps the count up until it leaves the 3 s window (workflow time).
    expect(Date.parse(scaleIn!.time) - Date.parse(out!.time)).toBeGreaterThanOrEqual(3000);
  });

  it('rate-limits a ramp with a Pods policy', async () => {
    const { name, signal } = await created({
      scaling: { minReplicas: 1, maxReplicas: 8, metric: 'concurrency', threshold: 8 },
      autoscalingPolicy: {
        scaleUp: {
          stabilizationWindowSeconds: 0,
          policies: [{ type: 'Pods', value: 1, periodSeconds: 2 }],
        },
      },
    });
    await signal(observation([64]));
    await waitFor(
      () => replicas(name),
      (n) => n === 2,
      'first step',
    );
    expect((await scaleEvents(name))[0]!.reason).toBe('ScaleUpLimit');
    await waitFor(
      () => replicas(name),
      (n) => n === 3,
      'second step after the policy period',
      10_000,
    );
  });

  it('never scales down on stale metrics', async () => {
    const { name, signal } = await created({
      scaling: { minReplicas: 1, maxReplicas: 4, metric: 'concurrency', threshold: 8 },
    });
    await signal(observation([30]));
    await waitFor(
      () => replicas(name),
      (n) => n === 4,
      '4 replicas',
    );
    const stale = new Date(Date.now() - 60 * 60_000).toISOString();
    await signal(observation([0.1, 0.1, 0.1, 0.1], { time: stale }));
    // Wait until the workflow took the stale observation in and decided on it, then look.
    const handle = h.env.client.workflow.getHandle(deploymentWorkflowId(ws, name));
    await waitFor(
      () => handle.query(autoscalerQuery),
      (a) => a.observedAt === stale && !a.decisionDue,
      'the stale observation decided on',
    );
    expect(await replicas(name)).toBe(4);
    expect((await scaleEvents(name)).map((e) => e.type)).toEqual(['ScaleOut']);
  });

  it('scales to zero after the cooldown with no traffic, and wakes for a waiting request', async () => {
    const { name, signal } = await created({
      scaling: {
        minReplicas: 0,
        maxReplicas: 2,
        metric: 'concurrency',
        threshold: 8,
        scaleToZero: { enabled: true, cooldownSeconds: 10 },
      },
    });
    const idleSince = new Date(Date.now() - 9_000).toISOString();
    await signal(
      observation([0], {
        lastRequestAt: idleSince,
        shortWindow: { seconds: 6, concurrency: 0, throughput: 0 },
      }),
    );
    await waitFor(
      () => replicas(name),
      (n) => n === 0,
      'scaled to zero',
      10_000,
    );
    const view = await h.service.get(ws, name);
    expect(view.health).toBe('Healthy');
    expect((await scaleEvents(name)).at(-1)).toMatchObject({
      type: 'ScaleIn',
      reason: 'ScaledToZero',
    });
    await signal(
      observation([], { queued: 1, shortWindow: { seconds: 6, concurrency: 0, throughput: 0 } }),
    );
    await waitFor(
      () => h.service.get(ws, name),
      (v) => v.replicas.desired === 1 && v.replicas.ready === 1,
      'woken',
      10_000,
    );
    expect((await scaleEvents(name)).at(-1)).toMatchObject({
      type: 'ScaleOut',
      reason: 'WokenByRequest',
    });
  });

  it('rapid autoscaling scales up at once on a short-window burst, ignoring stabilization', async () => {
    const { name, signal } = await created({
      scaling: {
        minReplicas: 1,
        maxReplicas: 6,
        metric: 'concurrency',
        threshold: 8,
        rapidAutoscaling: true,
      },
      autoscalingPolicy: {
        scaleUp: {
          stabilizationWindowSeconds: 600,
          policies: [{ type: 'Pods', value: 1, periodSeconds: 600 }],
        },
      },
    });
    await signal(
      observation([10], { shortWindow: { seconds: 6, concurrency: 40, throughput: 0 } }),
    );
    await waitFor(
      () => replicas(name),
      (n) => n === 5,
      'panic scale-up',
      10_000,
    );
    expect((await scaleEvents(name))[0]).toMatchObject({ reason: 'Panic' });
  });
});

describe('the observer asks the workflow before it signals a load that only moved', () => {
  it('signals a load that changes the decision, and skips one that moves within the same replica count (no history for it)', async () => {
    const { name } = await created({
      scaling: { minReplicas: 1, maxReplicas: 4, metric: 'concurrency', threshold: 8 },
      autoscalingPolicy: { scaleUp: { stabilizationWindowSeconds: 0 } },
    });
    const handle = h.env.client.workflow.getHandle(deploymentWorkflowId(ws, name));
    let inFlight = 4;
    const observer = new LoadObserver({
      client: h.env.client,
      allowNonLoopback: true, // the fake provider's replica URLs; nothing is dialled
      windowMs: 1_000,
      shortWindowMs: 500,
      scrape: async () => [{ name: VLLM_METRICS.running, labels: {}, value: inFlight }],
    });
    observer.update(await provider.getRevision(deploymentId(ws, name), 1));
    const t = Date.now();
    // Two scrapes make an observation (a window needs two).
    const measured = async (at: number) => {
      await observer.tick(at - 500);
      await observer.tick(at);
    };
    await measured(t); // the first: signalled
    inFlight = 5; // 25 % more, still one replica's worth at a threshold of 8: asked, skipped
    await measured(t + 11_000);
    inFlight = 12; // 1.5 x the threshold: asked, signalled, and the workflow scales out
    await measured(t + 22_000);
    expect(observer.stats).toMatchObject({ signals: 2, unchanged: 1 });
    await waitFor(
      () => replicas(name),
      (n) => n === 2,
      '2 replicas',
    );
    const signalled = metricsSignalsIn(await handle.fetchHistory());
    expect(signalled.map((e) => eventConcurrency(e))).toEqual([4, 12]);
    // Each signal is named for what changed, so the history reads without opening payloads.
    expect(signalled.map(signalNameOf)).toEqual([
      METRICS_SIGNAL_CAUSES.first,
      METRICS_SIGNAL_CAUSES.moved,
    ]);
    await observer.stop();
  });
});

describe('the observer when the workflow cannot answer', () => {
  it('signals all the same once its question has waited ASK_TIMEOUT_MS (no worker for it)', async () => {
    // A deployment workflow on a task queue no worker polls: a question can never be answered.
    const name = uniqueName('unanswered');
    const handle = await h.env.client.workflow.start('deploymentWorkflow', {
      workflowId: deploymentWorkflowId(ws, name),
      taskQueue: uniqueName('nobody-polls'),
      args: [],
    });
    let inFlight = 4;
    const observer = new LoadObserver({
      client: h.env.client,
      allowNonLoopback: true,
      windowMs: 1_000,
      shortWindowMs: 500,
      scrape: async () => [{ name: VLLM_METRICS.running, labels: {}, value: inFlight }],
    });
    observer.update({
      ...(await provider.getRevision('none/none', 1)),
      deploymentId: deploymentId(ws, name),
      exists: true,
      replicas: [{ id: 'r0', url: 'http://fake/r0', ready: true, restarts: 0, startedAt: '' }],
    });
    const t = Date.now();
    await observer.tick(t - 500);
    await observer.tick(t); // the first: signalled without asking
    inFlight = 6;
    await observer.tick(t + 10_500);
    await observer.tick(t + 11_000); // asked; no answer within the deadline: signalled
    expect(observer.stats).toMatchObject({ signals: 2, unchanged: 0 });
    const signalled = metricsSignalsIn(await handle.fetchHistory());
    expect(signalled.map((e) => eventConcurrency(e))).toEqual([4, 6]);
    await handle.terminate('test over');
    await observer.stop();
  });
});

function eventConcurrency(e: {
  workflowExecutionSignaledEventAttributes?: {
    input?: { payloads?: { data?: Uint8Array | null }[] | null } | null;
  } | null;
}): number | undefined {
  const data = e.workflowExecutionSignaledEventAttributes?.input?.payloads?.[0]?.data;
  if (!data) return undefined;
  const o = JSON.parse(Buffer.from(data).toString()) as MetricsObservation;
  return o.replicas[0]?.concurrency;
}

type HistoryEvent = NonNullable<
  Awaited<
    ReturnType<ReturnType<Harness['env']['client']['workflow']['getHandle']>['fetchHistory']>
  >['events']
>[number];

const METRICS_SIGNAL_NAMES = new Set(ALL_METRICS_SIGNALS.map((s) => s.name));

/** The history's metrics signals, whatever cause each is named for. */
function metricsSignalsIn(history: { events?: HistoryEvent[] | null }): HistoryEvent[] {
  return (history.events ?? []).filter((e) =>
    METRICS_SIGNAL_NAMES.has(e.workflowExecutionSignaledEventAttributes?.signalName ?? ''),
  );
}

function signalNameOf(e: HistoryEvent): string | undefined {
  return e.workflowExecutionSignaledEventAttributes?.signalName ?? undefined;
}
