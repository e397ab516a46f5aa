/**
 * Load measured at the replicas, end to end on the local runtime: the observer scrapes each
 * replica's /metrics, so traffic is counted once whichever API replica proxied it, and traffic
 * sent straight to a replica (not through any gateway) is counted too.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { autoscalerQuery, deploymentWorkflowId } from '../../workflows/deployment/definitions';
import type { MetricsObservation } from '../../workflows/deployment/metrics';
import { dedicatedSpec } from '../helpers/catalog';
import { waitFor } from '../helpers/harness';
import { closedLoop } from '../helpers/load';
import { apiClient, startStack, type Stack } from '../helpers/stack';

let stack: Stack;
let api: ReturnType<typeof apiClient>;
let base: string;

beforeAll(async () => {
  stack = await startStack();
  api = apiClient(stack);
  base = `/v1/workspaces/${stack.workspace}/deployments`;
});
afterAll(async () => stack?.stop());

/** Keeps `clients` requests in flight against `url` until stopped. */
const load = (url: string, clients: number, key?: string) =>
  closedLoop(() => url, clients, key ? { authorization: `Bearer ${key}` } : {});

/** A deployment that never scales (1 replica), so what it observes is the load, nothing else. */
async function steady(name: string): Promise<void> {
  await api('POST', base, {
    name,
    ...dedicatedSpec({
      scaling: { minReplicas: 1, maxReplicas: 1, metric: 'concurrency', threshold: 100 },
    }),
  });
  await waitFor(
    async () => (await api('GET', `${base}/${name}`)).body as { health: string },
    (v) => v.health === 'Healthy',
    `${name} Healthy`,
  );
}

const observation = (name: string) => async () =>
  (
    await stack.harness.env.client.workflow
      .getHandle(deploymentWorkflowId(stack.workspace, name))
      .query(autoscalerQuery)
  ).observation;

/**
 * What the active observer measured and last offered the workflow. The workflow holds an
 * observation only when it changes what it decides (this deployment never scales), so the
 * measure is read from the observer.
 */
const measured = (name: string) => async () =>
  stack.harness
    .observers()
    .map((o) => o.load?.lastOffered(`${stack.workspace}/${name}`))
    .find((o) => o !== undefined);

const concurrency = (o: MetricsObservation | undefined) =>
  (o?.replicas ?? []).reduce((sum, r) => sum + r.concurrency, 0);

it('counts traffic sent straight to a replica, which no gateway sees', async () => {
  await steady('direct');
  const { urls } = await stack.provider.endpoints(`${stack.workspace}/direct`);
  expect(urls).toHaveLength(1);
  const traffic = load(`${urls[0]}/v1/completions`, 4);
  try {
    const seen = await waitFor(
      measured('direct'),
      (o) => concurrency(o) >= 3,
      'the observer to measure about 4 requests in flight at the replica',
      20_000,
    );
    expect(seen!.replicas).toHaveLength(1);
    expect(seen!.replicas[0]!.replica).toBe(urls[0]);
    // and the workflow was told the traffic started (urgent: signalled at once)
    const held = await waitFor(observation('direct'), (o) => concurrency(o) > 0, 'traffic held');
    expect(held!.replicas[0]!.replica).toBe(urls[0]);
  } finally {
    expect(await traffic.stop()).toBeGreaterThan(0);
  }
}, 60_000);

it('counts traffic through two API replicas once, not half in each', async () => {
  await steady('twoapis');
  const second = await stack.startApiReplica();
  const path = `/v1/endpoints/${stack.workspace}/twoapis/v1/completions`;
  const a = load(`${stack.baseUrl}${path}`, 3, stack.key);
  const b = load(`${second}${path}`, 3, stack.key);
  try {
    // 6 in flight in all: each API process alone would have seen 3.
    const seen = await waitFor(
      measured('twoapis'),
      (o) => concurrency(o) >= 5,
      'the observer to measure the traffic of both API replicas together',
      20_000,
    );
    expect(concurrency(seen)).toBeLessThanOrEqual(7); // counted once, not twice
  } finally {
    expect(await a.stop()).toBeGreaterThan(0);
    expect(await b.stop()).toBeGreaterThan(0);
  }
}, 60_000);
