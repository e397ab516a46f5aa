/** The gateway's holding rules, with a provider and deployment service in memory (pure logic). */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { describe, expect, it } from 'vitest';
import type { DeploymentService } from '../../../api/deployment-service';
import { HttpError } from '../../../api/errors';
import { Gateway, refuseAtOnce } from '../../../api/gateway';
import { TrafficMeter } from '../../../api/metrics/traffic-meter';
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
    const gateway = new Gateway({
      replicas: noReplica,
      deployments: service,
      meter,
      wake: () => undefined,
      maxHeld: 2,
      holdTimeoutMs: 10_000,
    });
    const started = Date.now();
    const err = await gateway
      .proxy(request, reply, 'ws', 'd', 'v1/models')
      .catch((e: unknown) => e);
    expect(err).toMatchObject({
      status: 503,
      message: expect.stringMatching(/2 requests are already waiting/),
    });
    expect(Date.now() - started).toBeLessThan(1000);
  });
});
