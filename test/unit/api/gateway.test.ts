/** The gateway's holding rules, with a provider and deployment service in memory (pure logic). */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeploymentService } from '../../../api/deployment-service';
import { useZodSchemas } from '../../../api/app';
import { HttpError, errorHandler } from '../../../api/errors';
import { Gateway, refuseAtOnce } from '../../../api/gateway';
import { TrafficMeter } from '../../../api/metrics/traffic-meter';
import { endpointRoutes } from '../../../api/routes/endpoints';
import type { RuntimeProvider } from '../../../activities/providers/provider';
import type { DeploymentView } from '../../../workflows/domain/deployment';
import { validateSpec } from '../../../workflows/domain/spec';

function view(
  overrides: Partial<DeploymentView> = {},
  spec: Record<string, unknown> = {},
): DeploymentView {
  const parsed = validateSpec({
    model: 'm',
    cloud: { type: 'dedicated', accelerator: { type: 'L4' } },
    ...spec,
  });
  if (!parsed.ok) throw new Error('bad spec');
  return {
    name: 'd',
    workspace: 'ws',
    spec: parsed.value,
    revision: 1,
    state: 'running',
    health: 'Healthy',
    replicas: { desired: 0, ready: 0 },
    restarts: 0,
    createdAt: '',
    updatedAt: '',
    version: 'v.0',
    ...overrides,
  };
}

describe('refuseAtOnce', () => {
  const schedule = {
    scaleToZeroOutsideWindows: true,
    windows: [{ timezone: 'UTC', startCron: '0 9 * * *', endCron: '0 17 * * *', minPods: 1 }],
  };
  const eight = Date.parse('2026-01-05T08:00:00Z');
  it.each([
    ['a paused deployment is refused', view({ state: 'paused' }), eight, 503, undefined],
    [
      'outside its windows with scale to zero, refused with Retry-After to the next window',
      view({}, { schedule, scaling: { minReplicas: 0 } }),
      eight,
      503,
      '3600',
    ],
    [
      'inside its window, not refused (it is waking)',
      view({}, { schedule, scaling: { minReplicas: 0 } }),
      Date.parse('2026-01-05T10:00:00Z'),
      undefined,
      undefined,
    ],
    [
      'a deployment scaled to zero by its cooldown is not refused (it wakes)',
      view({}, { scaling: { minReplicas: 0, scaleToZero: { enabled: true } } }),
      eight,
      undefined,
      undefined,
    ],
  ])('%s', (_sentence, v, now, status, retryAfter) => {
    const refusal = refuseAtOnce(v, now);
    expect(refusal?.status).toBe(status);
    expect(refusal?.headers['retry-after']).toBe(retryAfter);
  });
});

describe('holding requests while a deployment wakes', () => {
  const noReplica: RuntimeProvider = {
    endpoints: async () => ({ revision: 1, urls: [] }),
  } as unknown as RuntimeProvider;
  const service = { get: async () => view() } as unknown as DeploymentService;
  const request = { url: '/x', method: 'GET', headers: {} } as unknown as FastifyRequest;
  const reply = {} as FastifyReply;

  it('answers 503 with Retry-After when no replica is ready within the hold timeout, and wakes the deployment', async () => {
    const woken: string[] = [];
    const gateway = new Gateway({
      replicas: noReplica,
      deployments: service,
      meter: new TrafficMeter(),
      wake: (d) => woken.push(d),
      holdTimeoutMs: 100,
      pollMs: 10,
    });
    const err = await gateway
      .proxy(request, reply, 'ws', 'd', 'v1/models')
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HttpError);
    expect(err).toMatchObject({
      status: 503,
      code: 'unavailable',
      headers: { 'retry-after': '10' },
    });
    expect(woken).toEqual(['ws/d']);
  });

  it('refuses at once when the queue of held requests is full', async () => {
    const meter = new TrafficMeter();
    meter.hold('ws/d', 0);
    meter.hold('ws/d', 0);
    const woken: string[] = [];
    const gateway = new Gateway({
      replicas: noReplica,
      deployments: service,
      meter,
      wake: (d) => woken.push(d),
      maxHeld: 2,
      holdTimeoutMs: 10_000,
    });
    const err = await gateway
      .proxy(request, reply, 'ws', 'd', 'v1/models')
      .catch((e: unknown) => e);
    // Refused, not held: a held request would wake the deployment and end with "no ready
    // replica after 10 s" (how fast the refusal comes: npm run bench:gateway-refusal).
    expect(err).toMatchObject({
      status: 503,
      message: expect.stringMatching(/2 requests are already waiting/),
    });
    expect(woken).toEqual([]);
  });
});

describe('a replica that refuses the connection', () => {
  let live: http.Server;
  let liveUrl: string;
  let failing: http.Server;
  let failingUrl: string;
  const hits: string[] = [];

  beforeAll(async () => {
    live = http.createServer((req, res) => {
      hits.push(`live ${req.method} ${req.url}`);
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => res.writeHead(200, { 'x-replica-id': 'live' }).end(`echo ${body}`));
    });
    failing = http.createServer((_req, res) => {
      hits.push('failing');
      res.writeHead(500).end('replica error');
    });
    liveUrl = await listen(live);
    failingUrl = await listen(failing);
  });
  afterAll(() => {
    live.close();
    failing.close();
  });

  /** The gateway's route over `endpoints` (asked again on every lookup), in memory. */
  async function gatewayApp(endpoints: () => string[]) {
    const app = Fastify();
    useZodSchemas(app); // as buildApp does
    app.setErrorHandler(errorHandler);
    const lookups: string[][] = [];
    await app.register(endpointRoutes, {
      gateway: new Gateway({
        replicas: {
          endpoints: async () => {
            const urls = endpoints();
            lookups.push(urls);
            return { revision: 1, urls };
          },
        },
        deployments: { get: async () => view() } as unknown as DeploymentService,
        meter: new TrafficMeter(),
        wake: () => undefined,
        holdTimeoutMs: 200,
        pollMs: 10,
      }),
    });
    return { app, lookups };
  }

  const post = (app: FastifyInstance) =>
    app.inject({
      method: 'POST',
      url: '/v1/endpoints/ws/d/v1/completions',
      headers: { 'content-type': 'application/json' },
      payload: '{"prompt":"hi"}',
    });

  it('is left out and the request goes, body and all, to another ready replica, the endpoints asked again', async () => {
    hits.length = 0;
    const refusing = await closedPort();
    const { app, lookups } = await gatewayApp(() =>
      lookups.length === 0 ? [refusing] : [refusing, liveUrl],
    );
    const res = await post(app);
    expect(res.statusCode).toBe(200);
    expect(res.headers['x-replica-id']).toBe('live');
    expect(res.body).toBe('echo {"prompt":"hi"}');
    expect(lookups).toEqual([[refusing], [refusing, liveUrl]]);
    expect(hits).toEqual(['live POST /v1/completions']);
  });

  it('after three refusals the request fails with 502, naming the replica', async () => {
    const ports = [await closedPort(), await closedPort(), await closedPort()];
    const { app, lookups } = await gatewayApp(() => ports);
    const res = await post(app);
    expect(res.statusCode).toBe(502);
    expect(res.json()).toMatchObject({
      error: { code: 'bad_gateway', message: expect.stringMatching(/attempt 3 of 3/) },
    });
    expect(lookups).toHaveLength(3);
  });

  it('is not retried once the replica answered, even with an error', async () => {
    hits.length = 0;
    const { app } = await gatewayApp(() => [failingUrl, liveUrl]);
    const res = await post(app);
    expect(res.statusCode).toBe(500);
    expect(hits).toEqual(['failing']);
  });
});

function listen(server: http.Server): Promise<string> {
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`),
    ),
  );
}

/** A loopback URL where nothing listens (connections are refused). */
async function closedPort(): Promise<string> {
  const server = http.createServer();
  const url = await listen(server);
  await new Promise((resolve) => server.close(resolve));
  return url;
}
