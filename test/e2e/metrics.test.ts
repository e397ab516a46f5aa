/**
 * Observability, end to end on real processes: a Temporal dev server, the local runtime agent,
 * the worker (running the observer, OBSERVER=worker), the API, and an observer process of its own
 * standing by. One deployment is driven through a life that exercises every metric: Healthy,
 * traffic, scaled to zero by its cooldown, woken by a request the gateway holds. Then each
 * process's /metrics is scraped and parsed (the project's Prometheus text parser), and every line
 * each process wrote is parsed as JSON. Last, the worker stops: the observer process takes over,
 * and its own /metrics shows the deployment's replicas.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { API_METRIC } from '../../api/metrics/prometheus';
import { OBSERVER_METRIC } from '../../observer/metrics';
import { parsePrometheusText, type PromSample } from '../../observer/prometheus-text';
import { DECISIONS_METRIC } from '../../workflows/deployment/telemetry';
import { dedicatedSpec } from '../helpers/catalog';
import { waitFor } from '../helpers/harness';
import {
  DIST,
  freePort,
  killAll,
  modelServerPids,
  startAgent,
  startNode,
  startWorkerProcess,
  workerProcessEnv,
  type RunningProcess,
} from '../helpers/processes';
import { startDevServer } from '../helpers/temporal';

const ws = `metrics-${Date.now().toString(36)}`;
const name = 'sleepy';
const deployment = `${ws}/${name}`;
const workflowId = `deployment:${ws}:${name}`;
const taskQueue = `metrics-${process.pid}`;
const key = `metrics-key-${ws}`;

let env: TestWorkflowEnvironment;
let dataDir: string;
const processes: RunningProcess[] = [];
let worker: RunningProcess;
let api: RunningProcess;
let observer: RunningProcess;
let apiUrl: string;
const metricsUrl = { worker: '', api: '', observer: '' };

beforeAll(async () => {
  const agentPort = await freePort();
  env = await startDevServer();
  const made = workerProcessEnv('md-metrics-', env.address, taskQueue, agentPort);
  dataDir = made.dataDir;
  const [workerMetrics, apiMetrics, observerMetrics, apiPort] = [
    await freePort(),
    await freePort(),
    await freePort(),
    await freePort(),
  ];
  metricsUrl.worker = `http://127.0.0.1:${workerMetrics}/metrics`;
  metricsUrl.api = `http://127.0.0.1:${apiMetrics}/metrics`;
  metricsUrl.observer = `http://127.0.0.1:${observerMetrics}/metrics`;
  apiUrl = `http://127.0.0.1:${apiPort}`;
  const common = {
    ...made.env,
    METRICS_HOST: '127.0.0.1',
    WORKER_METRICS_PORT: String(workerMetrics),
    API_METRICS_PORT: String(apiMetrics),
    OBSERVER_METRICS_PORT: String(observerMetrics),
    LOG_LEVEL: 'info',
  };
  processes.push(await startAgent(dataDir, agentPort));
  worker = await startWorkerProcess({ ...common, OBSERVER: 'worker' });
  processes.push(worker);
  // The worker's observer takes the lease first; the observer process then stands by.
  await waitFor(
    () => scrape(metricsUrl.worker),
    (s) => value(s, OBSERVER_METRIC.active, { runtime: 'dedicated' }) === 1,
    "the worker's observer active",
    30_000,
  );
  api = await startNode(
    path.join(DIST, 'api', 'main.js'),
    { ...common, API_PORT: String(apiPort), API_KEYS: `${key}=${ws}` },
    async () => (await fetch(`${apiUrl}/healthz`)).ok,
    'the API',
    30_000,
  );
  processes.push(api);
  observer = await startNode(
    path.join(DIST, 'observer', 'main.js'),
    common,
    (output) => output.includes('observer(s) started'),
    'the observer',
    30_000,
  );
  processes.push(observer);
}, 180_000);

afterAll(async () => {
  for (const p of processes) await p.stop('SIGKILL');
  await env?.teardown();
  killAll(modelServerPids(`${ws}--`));
  if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
});

async function scrape(url: string): Promise<PromSample[]> {
  const res = await fetch(url);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
  return parsePrometheusText(await res.text());
}

/** The samples named `name` whose labels include `labels`. */
function find(samples: PromSample[], name: string, labels: Record<string, string> = {}) {
  return samples.filter(
    (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  );
}

/** The value of the one such sample (undefined if none), or the sum of several. */
function value(samples: PromSample[], name: string, labels: Record<string, string> = {}) {
  const found = find(samples, name, labels);
  return found.length === 0 ? undefined : found.reduce((sum, s) => sum + s.value, 0);
}

async function call(method: string, urlPath: string, body?: unknown) {
  const res = await fetch(`${apiUrl}${urlPath}`, {
    method,
    headers: {
      authorization: `Bearer ${key}`,
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

const view = async () =>
  (await call('GET', `/v1/workspaces/${ws}/deployments/${name}`)).body as {
    health: string;
    replicas: { desired: number; ready: number };
  };

const infer = () =>
  call('POST', `/v1/endpoints/${ws}/${name}/v1/completions`, { prompt: 'hi', max_tokens: 2 });

/** Every line a process wrote, parsed as JSON (a line that is not JSON fails the test). */
function jsonLines(proc: RunningProcess, what: string): Record<string, unknown>[] {
  return proc
    .output()
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => {
      try {
        return JSON.parse(line) as Record<string, unknown>;
      } catch {
        throw new Error(`${what} wrote a line that is not JSON: ${line}`);
      }
    });
}

it('serves each process its /metrics (SDK, decisions, gateway, observer, replicas) and writes JSON log lines', async () => {
  expect(
    (
      await call('POST', `/v1/workspaces/${ws}/deployments`, {
        name,
        ...dedicatedSpec({
          // 3 s to load: a request at zero is held that long.
          model: 'slow-model',
          scaling: {
            minReplicas: 0,
            maxReplicas: 2,
            metric: 'concurrency',
            threshold: 4,
            scaleToZero: { enabled: true, cooldownSeconds: 10 },
          },
        }),
      })
    ).status,
  ).toBe(202);
  await waitFor(view, (v) => v.health === 'Healthy', 'Healthy', 30_000);
  for (let i = 0; i < 3; i++) expect((await infer()).status).toBe(200);

  // The replicas as the worker's observer sees them.
  const beforeZero = await waitFor(
    () => scrape(metricsUrl.worker),
    (s) =>
      value(s, OBSERVER_METRIC.replicasReady, { deployment }) === 1 &&
      value(s, OBSERVER_METRIC.replicasDesired, { deployment }) === 1,
    'replicas 1/1 on the worker',
  );
  expect(value(beforeZero, OBSERVER_METRIC.active, { runtime: 'dedicated' })).toBe(1);

  // Silence: scaled to zero by its cooldown, which the observer's gauges follow.
  await waitFor(view, (v) => v.replicas.desired === 0, 'scaled to zero', 60_000);
  await waitFor(
    () => scrape(metricsUrl.worker),
    (s) =>
      value(s, OBSERVER_METRIC.replicasDesired, { deployment }) === 0 &&
      value(s, OBSERVER_METRIC.replicasReady, { deployment }) === 0,
    'replicas 0/0 on the worker',
  );

  // A request at zero is held while a replica loads (3 s): the gauge shows it meanwhile.
  const woken = infer();
  const holding = await waitFor(
    () => scrape(metricsUrl.api),
    (s) => value(s, API_METRIC.held, { deployment }) === 1,
    'a held request on the API',
  );
  expect(value(holding, API_METRIC.heldTotal, { deployment })).toBeGreaterThanOrEqual(1);
  expect((await woken).status).toBe(200);

  // ---- the API ---------------------------------------------------------------------------
  const apiSamples = await scrape(metricsUrl.api);
  const duration = API_METRIC.gatewayDuration;
  // 3 answered while Healthy, 1 after the hold (the count is written once the answer ended).
  expect(value(apiSamples, `${duration}_count`, { deployment, code: '200' })).toBe(4);
  expect(value(apiSamples, `${duration}_sum`, { deployment, code: '200' })).toBeGreaterThan(0);
  const buckets = find(apiSamples, `${duration}_bucket`, { deployment, code: '200' });
  expect(buckets.map((b) => b.labels.le)).toEqual(expect.arrayContaining(['0.005', '60', '+Inf']));
  expect(buckets.find((b) => b.labels.le === '+Inf')?.value).toBe(4);
  // The held request waited for a replica to load: more than a second.
  expect(buckets.find((b) => b.labels.le === '1')?.value).toBeLessThan(4);
  expect(value(apiSamples, API_METRIC.heldTotal, { deployment })).toBe(1);
  expect(find(apiSamples, API_METRIC.held, { deployment })).toEqual([]); // none held now
  expect(value(apiSamples, 'process_resident_memory_bytes')).toBeGreaterThan(0);
  // The API port does not serve metrics (it would need a key, and it is not there).
  expect((await fetch(`${apiUrl}/metrics`)).status).toBe(401);

  // ---- the worker: the SDK's metrics, the workflows' decisions, the observer's --------------
  const workerSamples = await waitFor(
    () => scrape(metricsUrl.worker),
    (s) => value(s, OBSERVER_METRIC.replicasReady, { deployment }) === 1,
    'replicas back to 1 on the worker',
    30_000,
  );
  const sdk = workerSamples.filter((s) => s.name.startsWith('temporal_'));
  expect(sdk.length).toBeGreaterThan(0);
  expect(
    value(workerSamples, 'temporal_workflow_task_execution_latency_count', {
      task_queue: taskQueue,
    }),
  ).toBeGreaterThan(0);
  expect(
    find(workerSamples, 'temporal_worker_task_slots_available', { task_queue: taskQueue }).length,
  ).toBeGreaterThan(0);
  // Every decision counted by reason and direction; the SDK adds the labels of workflow metrics
  // (camelCase: namespace, taskQueue, workflowType).
  for (const [reason, direction] of [
    ['ScaledToZero', 'down'],
    ['WokenByRequest', 'up'],
  ]) {
    expect(
      value(workerSamples, DECISIONS_METRIC, {
        reason: reason!,
        direction: direction!,
        taskQueue,
        workflowType: 'deploymentWorkflow',
      }),
      reason,
    ).toBeGreaterThanOrEqual(1);
  }
  expect(value(workerSamples, DECISIONS_METRIC, { direction: 'none' })).toBeGreaterThanOrEqual(1);
  expect(
    value(workerSamples, OBSERVER_METRIC.signals, { kind: 'replicas', outcome: 'sent' }),
  ).toBeGreaterThanOrEqual(3); // loading, ready, gone at zero, back
  expect(value(workerSamples, OBSERVER_METRIC.scrapes, { result: 'ok' })).toBeGreaterThan(0);
  expect(value(workerSamples, OBSERVER_METRIC.replicasDesired, { deployment })).toBe(1);

  // ---- the observer process, standing by ---------------------------------------------------
  const standing = await scrape(metricsUrl.observer);
  expect(value(standing, OBSERVER_METRIC.active, { runtime: 'dedicated' })).toBe(0);
  expect(find(standing, OBSERVER_METRIC.replicasReady, { deployment })).toEqual([]);

  // ---- JSON logs -------------------------------------------------------------------------
  for (const [proc, what] of [
    [worker, 'worker'],
    [api, 'api'],
    [observer, 'observer'],
  ] as const) {
    const lines = jsonLines(proc, what);
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines) {
      expect(line).toMatchObject({ process: what, msg: expect.any(String) });
      expect(['trace', 'debug', 'info', 'warn', 'error']).toContain(line.level);
      expect(Number.isNaN(Date.parse(line.time as string))).toBe(false);
    }
  }
  const workerLines = jsonLines(worker, 'worker');
  const scaled = workerLines.filter((l) => l.workflowId === workflowId && l.reason !== undefined);
  expect(scaled.map((l) => [l.reason, l.from, l.to]).slice(0, 2)).toEqual([
    ['ScaledToZero', 1, 0],
    ['WokenByRequest', 0, 1],
  ]);
  for (const line of scaled) {
    expect(line).toMatchObject({
      deploymentId: deployment,
      workflowType: 'deploymentWorkflow',
      taskQueue,
      runId: expect.any(String),
    });
  }
  expect(workerLines.some((l) => /polling task queue/.test(l.msg as string))).toBe(true);
  expect(
    workerLines.some((l) => /observer: active/.test(l.msg as string) && l.runtime === 'dedicated'),
  ).toBe(true);
  // fastify's request lines (LOG_LEVEL=info) in the same shape; the API key is never written.
  const apiLines = jsonLines(api, 'api');
  expect(apiLines.some((l) => l.msg === 'request completed' && l.reqId !== undefined)).toBe(true);
  expect(api.output()).not.toContain(key);

  // ---- the worker stops: the observer process takes over, its /metrics shows the replicas ----
  await worker.stop('SIGTERM');
  const takenOver = await waitFor(
    () => scrape(metricsUrl.observer),
    (s) =>
      value(s, OBSERVER_METRIC.active, { runtime: 'dedicated' }) === 1 &&
      value(s, OBSERVER_METRIC.replicasReady, { deployment }) === 1,
    'the observer process active, replicas 1/1',
    30_000,
  );
  expect(value(takenOver, OBSERVER_METRIC.replicasDesired, { deployment })).toBe(1);
  // It resumed from its predecessor's checkpoint: the replicas' status was signalled already.
  expect(
    value(takenOver, OBSERVER_METRIC.signals, { kind: 'replicas', outcome: 'unchanged' }),
  ).toBeGreaterThanOrEqual(1);
  // The worker's shutdown wrote JSON lines too (the SDK's and the native core's included).
  expect(jsonLines(worker, 'worker').length).toBeGreaterThanOrEqual(workerLines.length);
  const observerLines = jsonLines(observer, 'observer');
  expect(
    observerLines.some((l) => /observer: active/.test(l.msg as string) && l.holder !== undefined),
  ).toBe(true);
}, 240_000);

it('a metrics port already taken is said in a JSON line, and the runtime runs without metrics', async () => {
  const taken = net.createServer();
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
  const port = (taken.address() as net.AddressInfo).port;
  try {
    const script = `
      const { installRuntime } = require(${JSON.stringify(path.join(DIST, 'worker', 'telemetry.js'))});
      const { jsonLog } = require(${JSON.stringify(path.join(DIST, 'config', 'logging.js'))});
      const { runtime, metricsUrl } = installRuntime({
        processName: 'worker', level: 'warn', metricsHost: '127.0.0.1', metricsPort: ${port},
        portVariable: 'WORKER_METRICS_PORT', log: jsonLog('worker'),
      });
      runtime.metricMeter.createCounter('still_counts').add(1);
      console.log(JSON.stringify({ msg: 'installed', metricsUrl: metricsUrl ?? null }));
      process.exit(0);`;
    const lines = execFileSync(process.execPath, ['-e', script], { encoding: 'utf8' })
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toEqual([
      expect.objectContaining({
        level: 'warn',
        process: 'worker',
        msg: expect.stringMatching(/metrics not served: .*in use.*set WORKER_METRICS_PORT/),
        metricsAddress: `127.0.0.1:${port}`,
      }),
      { msg: 'installed', metricsUrl: null },
    ]);
  } finally {
    taken.close();
  }
});
