/**
 * Scaling decisions are counted from workflow code (the SDK's workflow metric meter, served by the
 * runtime's Prometheus exporter, as on the worker's /metrics) when the workflow makes them, and
 * not again when its history is replayed (after a worker restart or a cache eviction): the count
 * is a sink call, suppressed while replaying, and writes nothing to the history.
 */
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { parsePrometheusText, type PromSample } from '../../observer/prometheus-text';
import { deploymentWorkflowId } from '../../workflows/deployment/definitions';
import { observeMetricsSignal } from '../../workflows/deployment/metrics';
import { DECISIONS_METRIC } from '../../workflows/deployment/telemetry';
import { dedicatedSpec } from '../helpers/catalog';
import { FakeProvider } from '../helpers/fake-provider';
import { startHarness, waitFor, type Harness } from '../helpers/harness';
import { observation } from '../helpers/observations';
import { freePort } from '../helpers/processes';
import { uniqueName, workflowBundle } from '../helpers/temporal';

let h: Harness;
let metricsUrl: string;
const ws = 'decision-metrics';

beforeAll(async () => {
  // This file's process: its runtime exports Prometheus metrics (installed before any worker).
  const port = await freePort();
  Runtime.install({
    logger: new DefaultLogger('WARN'),
    telemetryOptions: { metrics: { prometheus: { bindAddress: `127.0.0.1:${port}` } } },
  });
  metricsUrl = `http://127.0.0.1:${port}/metrics`;
  h = await startHarness();
  await h.startWorker(new FakeProvider());
});
afterAll(async () => h?.stop());

async function decisions(): Promise<PromSample[]> {
  const samples = parsePrometheusText(await (await fetch(metricsUrl)).text());
  return samples.filter((s) => s.name === DECISIONS_METRIC);
}

const total = (samples: PromSample[]) => samples.reduce((sum, s) => sum + s.value, 0);

it('counts each decision when it is made, by reason and direction, and nothing when the history replays', async () => {
  const name = uniqueName('counted');
  await h.service.create(ws, {
    name,
    ...dedicatedSpec({
      scaling: { minReplicas: 1, maxReplicas: 4, metric: 'concurrency', threshold: 8 },
    }),
  });
  await waitFor(
    () => h.service.get(ws, name),
    (v) => v.health === 'Healthy',
    'Healthy',
  );
  const handle = h.env.client.workflow.getHandle(deploymentWorkflowId(ws, name));
  await handle.signal(observeMetricsSignal, observation([20]));
  await waitFor(
    () => h.service.get(ws, name),
    (v) => v.replicas.desired === 3,
    '3 replicas',
  );
  const live = await waitFor(
    decisions,
    (s) => s.some((d) => d.labels.direction === 'up'),
    'the scale-out counted',
  );
  const ours = live.filter((d) => d.labels.taskQueue === h.taskQueue);
  expect(ours).toContainEqual({
    name: DECISIONS_METRIC,
    labels: {
      namespace: 'default',
      taskQueue: h.taskQueue,
      workflowType: 'deploymentWorkflow',
      reason: 'DesiredWithinRange',
      direction: 'up',
    },
    value: 1,
  });
  // The decision taken once the replica was up, which kept the count.
  expect(ours.some((d) => d.labels.direction === 'none' && d.value >= 1)).toBe(true);

  // Ended, so no decision is made live meanwhile; then its whole history replayed here.
  await handle.terminate('replayed next');
  const before = await decisions();
  const history = await handle.fetchHistory();
  await Worker.runReplayHistory({ workflowBundle: await workflowBundle() }, history);
  const after = await decisions();
  expect(total(after)).toBe(total(before));
  expect(after).toEqual(before);
});
