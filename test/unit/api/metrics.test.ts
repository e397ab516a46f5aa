/**
 * The API's metrics (api/metrics/prometheus.ts): the gateway's latency and held requests per
 * deployment, recorded by the gateway's route (a replica and the deployments in memory), served
 * on a listener of their own and read back with the project's Prometheus text parser.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useZodSchemas } from '../../../api/app';
import { DomainError, type DeploymentService } from '../../../api/deployment-service';
import { errorHandler } from '../../../api/errors';
import { Gateway } from '../../../api/gateway';
import { API_METRIC, ApiMetrics, serveMetrics } from '../../../api/metrics/prometheus';
import { TrafficMeter } from '../../../api/metrics/traffic-meter';
import { endpointRoutes } from '../../../api/routes/endpoints';
import type { Log } from '../../../config/logging';
import { parsePrometheusText, type PromSample } from '../../../observer/prometheus-text';
import type { DeploymentView } from '../../../workflows/domain/deployment';
import { validateSpec } from '../../../workflows/domain/spec';
import { freePort } from '../../helpers/processes';

function view(name: string): DeploymentView {
  const parsed = validateSpec({
    model: 'm',
    cloud: { type: 'dedicated', accelerator: { type: 'L4' } },
  });
  if (!parsed.ok) throw new Error('bad spec');
  return {
    name,
    workspace: 'ws',
    spec: parsed.value,
    revision: 1,
    state: 'running',
    health: 'Healthy',
    replicas: { desired: 1, ready: 1 },
    restarts: 0,
    createdAt: '',
    updatedAt: '',
    version: 'v.0',
  };
}

const value = (samples: PromSample[], name: string, labels: Record<string, string>) =>
  samples.find(
    (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  )?.value;

const silent = (): Log & { warnings: string[] } => {
  const warnings: string[] = [];
  return {
    info: () => undefined,
    warn: (m) => void warnings.push(m),
    error: () => undefined,
    warnings,
  };
};

let replica: http.Server;
let replicaUrl: string;

beforeAll(async () => {
  replica = http.createServer((req, res) => {
    res.writeHead(req.url?.includes('fail') ? 500 : 200).end('answer');
  });
  await new Promise<void>((resolve) => replica.listen(0, '127.0.0.1', resolve));
  replicaUrl = `http://127.0.0.1:${(replica.address() as AddressInfo).port}`;
});
afterAll(() => replica.close());

describe("the gateway's metrics", () => {
  /** The gateway's route over deployments "ws/live" (a ready replica) and "ws/waking" (none until `wake`). */
  async function gatewayApp() {
    const meter = new TrafficMeter();
    const metrics = new ApiMetrics({ meter, processMetrics: false });
    let awake = false;
    const app = Fastify();
    useZodSchemas(app);
    app.setErrorHandler(errorHandler);
    await app.register(endpointRoutes, {
      gateway: new Gateway({
        replicas: {
          endpoints: async (id) => ({
            revision: 1,
            urls: id === 'ws/live' || (id === 'ws/waking' && awake) ? [replicaUrl] : [],
          }),
        },
        deployments: {
          get: async (_ws: string, name: string) => {
            if (name === 'live' || name === 'waking') return view(name);
            throw new DomainError('not_found', `deployment "${name}" not found`);
          },
        } as unknown as DeploymentService,
        meter,
        wake: () => undefined,
        holdTimeoutMs: 10_000,
        pollMs: 10,
        metrics,
      }),
    });
    const scrape = async () => parsePrometheusText(await metrics.registry.metrics());
    return { app, scrape, wake: () => (awake = true) };
  }

  it('records each answer by deployment and status, and nothing for a deployment that does not exist', async () => {
    const { app, scrape } = await gatewayApp();
    const post = (name: string, path = 'v1/completions') =>
      app.inject({ method: 'POST', url: `/v1/endpoints/ws/${name}/${path}`, payload: 'x' });
    expect((await post('live')).statusCode).toBe(200);
    expect((await post('live')).statusCode).toBe(200);
    expect((await post('live', 'fail')).statusCode).toBe(500);
    expect((await post('made-up')).statusCode).toBe(404);
    const samples = await scrape();
    const count = `${API_METRIC.gatewayDuration}_count`;
    expect(value(samples, count, { deployment: 'ws/live', code: '200' })).toBe(2);
    expect(value(samples, count, { deployment: 'ws/live', code: '500' })).toBe(1);
    expect(
      value(samples, `${API_METRIC.gatewayDuration}_bucket`, {
        deployment: 'ws/live',
        code: '200',
        le: '+Inf',
      }),
    ).toBe(2);
    expect(
      value(samples, `${API_METRIC.gatewayDuration}_sum`, { deployment: 'ws/live', code: '200' }),
    ).toBeGreaterThan(0);
    expect(samples.some((s) => s.labels.deployment === 'ws/made-up')).toBe(false);
    await app.close();
  });

  it('shows a request held while its deployment has no ready replica, then counts it', async () => {
    const { app, scrape, wake } = await gatewayApp();
    const answer = app.inject({
      method: 'POST',
      url: '/v1/endpoints/ws/waking/v1/x',
      payload: 'x',
    });
    const until = Date.now() + 5000;
    let held: number | undefined;
    while (held === undefined && Date.now() < until) {
      held = value(await scrape(), API_METRIC.held, { deployment: 'ws/waking' });
      await new Promise((r) => setTimeout(r, 5));
    }
    expect(held).toBe(1);
    wake();
    expect((await answer).statusCode).toBe(200);
    const samples = await scrape();
    expect(value(samples, API_METRIC.heldTotal, { deployment: 'ws/waking' })).toBe(1);
    // None held any more: no series for it.
    expect(value(samples, API_METRIC.held, { deployment: 'ws/waking' })).toBeUndefined();
    expect(
      value(samples, `${API_METRIC.gatewayDuration}_count`, {
        deployment: 'ws/waking',
        code: '200',
      }),
    ).toBe(1);
    await app.close();
  });
});

describe('serveMetrics', () => {
  it('serves GET /metrics on its own port (process metrics included), and nothing else', async () => {
    const metrics = new ApiMetrics({ meter: new TrafficMeter() });
    metrics.answered('ws/a', 200, 0.02);
    const port = await freePort();
    const server = await serveMetrics({
      registry: metrics.registry,
      host: '127.0.0.1',
      port,
      portVariable: 'API_METRICS_PORT',
      log: silent(),
    });
    try {
      expect(server.url).toBe(`http://127.0.0.1:${port}/metrics`);
      const res = await fetch(server.url!);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
      const samples = parsePrometheusText(await res.text());
      expect(
        value(samples, `${API_METRIC.gatewayDuration}_count`, { deployment: 'ws/a', code: '200' }),
      ).toBe(1);
      expect(value(samples, 'process_resident_memory_bytes', {})).toBeGreaterThan(0);
      expect((await fetch(`http://127.0.0.1:${port}/`)).status).toBe(404);
      expect((await fetch(server.url!, { method: 'POST' })).status).toBe(404);
      const head = await fetch(server.url!, { method: 'HEAD' });
      expect(head.status).toBe(200);
    } finally {
      await server.close();
    }
  });

  it('with its port taken, says so and serves nothing (the API runs on); port 0 serves nothing', async () => {
    const metrics = new ApiMetrics({ meter: new TrafficMeter(), processMetrics: false });
    const port = await freePort();
    const first = await serveMetrics({
      registry: metrics.registry,
      host: '127.0.0.1',
      port,
      portVariable: 'API_METRICS_PORT',
      log: silent(),
    });
    const log = silent();
    const second = await serveMetrics({
      registry: metrics.registry,
      host: '127.0.0.1',
      port,
      portVariable: 'API_METRICS_PORT',
      log,
    });
    expect(first.url).toBeDefined();
    expect(second.url).toBeUndefined();
    expect(log.warnings).toEqual([expect.stringMatching(/EADDRINUSE.*set API_METRICS_PORT/)]);
    await second.close();
    await first.close();
    const off = await serveMetrics({
      registry: metrics.registry,
      host: '127.0.0.1',
      port: 0,
      portVariable: 'API_METRICS_PORT',
      log,
    });
    expect(off.url).toBeUndefined();
    await off.close();
  });
});
