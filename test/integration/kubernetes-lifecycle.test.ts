/**
 * The deployment lifecycle on the Kubernetes provider: the real workflows on a dev server, the
 * real provider on the local control plane with kwok GPU nodes.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { KubernetesProvider } from '../../activities/providers/kubernetes';
import { objectName } from '../../activities/providers/kubernetes-manifests';
import { dedicatedSpec } from '../helpers/catalog';
import { startHarness, waitFor, type Harness } from '../helpers/harness';
import { startControlPlane, type ControlPlane } from '../helpers/kubernetes';

let cp: ControlPlane;
let h: Harness;
const namespace = 'deployments';
const ws = 'k8s';
const H100 = { type: 'dedicated', accelerator: { type: 'H100', count: 2 } };

beforeAll(async () => {
  cp = await startControlPlane();
  await cp.kubectl('create', 'namespace', namespace);
  h = await startHarness();
  await h.startWorker(new KubernetesProvider({ kubeconfig: cp.kubeconfig, namespace }));
}, 180_000);
afterAll(async () => {
  await h?.stop();
  await cp?.stop();
}, 60_000);

const get = (name: string) => () => h.service.get(ws, name);
const names = async (kind: string) =>
  (await cp.kubectl('get', kind, '-n', namespace, '-o', 'name')).trim().split('\n').filter(Boolean);

/** The revision the deployment's Service routes to. */
async function routedRevision(name: string): Promise<string | undefined> {
  const selector = await cp.kubectl(
    'get',
    'service',
    objectName(`${ws}/${name}`),
    '-n',
    namespace,
    '-o',
    'jsonpath={.spec.selector}',
  );
  return (JSON.parse(selector) as Record<string, string>)['model-deployments.dev/revision'];
}

/** Deletes the deployment and waits until nothing it created is left in the cluster. */
async function deleteAndCheckNothingLeft(name: string): Promise<void> {
  await h.service.delete(ws, name);
  await waitFor(
    () => names('deployments,services,pods'),
    (all) => all.length === 0,
    `nothing left after deleting ${name}`,
    30_000,
  );
}

it('creates, becomes Healthy after the weight load, rolls out an edit behind the Service, pauses and deletes', async () => {
  const started = Date.now();
  await h.service.create(ws, {
    name: 'llm',
    ...dedicatedSpec({
      model: 'slow-model',
      cloud: H100,
      scaling: { minReplicas: 2, maxReplicas: 3 },
    }),
  });
  const healthy = await waitFor(get('llm'), (v) => v.health === 'Healthy', 'Healthy', 30_000);
  expect(healthy.replicas).toEqual({ desired: 2, ready: 2 });
  expect(Date.now() - started).toBeGreaterThanOrEqual(3000); // slow-model loads in 3 s (kwok's pod-ready delay)

  await h.service.edit(ws, 'llm', { spec: { model: 'fast-model-v2' } });
  const switched = await waitFor(
    get('llm'),
    (v) => v.revision === 2 && v.state === 'running' && v.health === 'Healthy',
    'revision 2 live',
    30_000,
  );
  expect(switched.spec.model).toBe('fast-model-v2');
  expect(await routedRevision('llm')).toBe('2');
  await waitFor(
    () => names('deployments'),
    (d) => d.length === 1,
    'old revision removed',
    20_000,
  );
  expect(await names('deployments')).toEqual([`deployment.apps/md-${ws}--llm-r2`]);

  await h.service.pause(ws, 'llm');
  await waitFor(get('llm'), (v) => v.health === 'NotPresent', 'paused', 20_000);
  await waitFor(
    () => names('pods'),
    (p) => p.length === 0,
    'no pods while paused',
    20_000,
  );
  await h.service.resume(ws, 'llm');
  await waitFor(get('llm'), (v) => v.health === 'Healthy', 'resumed', 30_000);

  await deleteAndCheckNothingLeft('llm');
}, 150_000);

it('reports a deployment that asks for more GPUs than the node group has: stuck Pending, ProgressingWithTimeout', async () => {
  // 3 replicas x 8 H100: only 2 nodes of 8 exist, so one replica can never be scheduled.
  await h.service.create(ws, {
    name: 'greedy',
    ...dedicatedSpec({
      cloud: { type: 'dedicated', accelerator: { type: 'H100', count: 8 } },
      scaling: { minReplicas: 3, maxReplicas: 3 },
      readinessTimeoutSeconds: 3,
    }),
  });
  const stuck = await waitFor(
    get('greedy'),
    (v) => v.health === 'ProgressingWithTimeout',
    'ProgressingWithTimeout',
    30_000,
  );
  expect(stuck.replicas).toEqual({ desired: 3, ready: 2 });
  const timeout = (await h.service.events(ws, 'greedy')).find(
    (e) => e.reason === 'ReadinessTimeout',
  );
  expect(timeout?.message).toMatch(/Pending: .*Insufficient nvidia\.com\/gpu/);
  await deleteAndCheckNothingLeft('greedy');
}, 90_000);

it('rolls back a revision whose replicas never become ready: the Service never leaves the old one', async () => {
  await h.service.create(ws, {
    name: 'careful',
    ...dedicatedSpec({ cloud: H100, readinessTimeoutSeconds: 3 }),
  });
  await waitFor(get('careful'), (v) => v.health === 'Healthy', 'Healthy', 30_000);
  await h.service.edit(ws, 'careful', { spec: { model: 'broken-model' } });
  const back = await waitFor(
    get('careful'),
    (v) => v.state === 'running' && v.revision === 1,
    'rolled back',
    30_000,
  );
  expect(back).toMatchObject({ health: 'Healthy', spec: { model: 'fast-model' } });
  expect(await routedRevision('careful')).toBe('1');
  await waitFor(
    () => names('deployments'),
    (d) => d.length === 1,
    'the failed revision removed',
    20_000,
  );
  expect(await names('deployments')).toEqual([`deployment.apps/md-${ws}--careful-r1`]);
  const failed = (await h.service.events(ws, 'careful')).find((e) => e.reason === 'RolloutFailed');
  expect(failed?.message).toMatch(/revision 2 did not become ready within 3s/);
  await deleteAndCheckNothingLeft('careful');
}, 90_000);
