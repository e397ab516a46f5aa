/**
 * Benchmark: how fast the gateway refuses a request for a deployment whose queue of held
 * requests is full (503 at once, instead of waiting for a replica). (This figure used to be a
 * wall-clock bound in test/unit/api/gateway.test.ts.) In process: the real Gateway over an
 * in-memory deployment view and a provider with no ready replica.
 *
 *   npm run bench:gateway-refusal               (N=2000 refusals after 200 warm-up ones)
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { DeploymentService } from '../api/deployment-service';
import { Gateway } from '../api/gateway';
import { TrafficMeter } from '../api/metrics/traffic-meter';
import type { DeploymentView } from '../workflows/domain/deployment';
import { validateSpec } from '../workflows/domain/spec';
import { percentile } from './agent';

const N = Number(process.env.N ?? 2000);
const WARM_UP = 200;

async function main(): Promise<void> {
  const parsed = validateSpec({
    model: 'm',
    cloud: { type: 'dedicated', accelerator: { type: 'L4' } },
  });
  if (!parsed.ok) throw new Error('bad spec');
  const view = { name: 'd', state: 'running', spec: parsed.value } as DeploymentView;
  const meter = new TrafficMeter();
  meter.hold('ws/d', 0);
  meter.hold('ws/d', 0);
  const gateway = new Gateway({
    replicas: { endpoints: async () => ({ revision: 1, urls: [] }) },
    deployments: { get: async () => view } as unknown as DeploymentService,
    meter,
    wake: () => {
      throw new Error('a refused request must not wake the deployment');
    },
    maxHeld: 2,
    holdTimeoutMs: 60_000,
  });
  const request = { url: '/x', method: 'GET', headers: {} } as unknown as FastifyRequest;
  const times: number[] = [];
  for (let i = 0; i < WARM_UP + N; i++) {
    const t0 = performance.now();
    const err = await gateway.proxy(request, {} as FastifyReply, 'ws', 'd', 'v1/models').then(
      () => undefined,
      (e: unknown) => e as { status?: number },
    );
    const took = performance.now() - t0;
    if (err?.status !== 503) throw new Error(`expected a 503 refusal, got ${JSON.stringify(err)}`);
    if (i >= WARM_UP) times.push(took);
  }
  const sorted = times.sort((a, b) => a - b);
  const row = (p: number) => `${(percentile(sorted, p) * 1000).toFixed(0)} µs`;
  console.log(`gateway: refusal with the queue of held requests full, ${N} requests, in process:`);
  console.log(`  p50 ${row(50)}   p99 ${row(99)}   max ${row(100)}   (the old test bound was 1 s)`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
