/**
 * The Kubernetes provider against a real control plane (etcd, kube-apiserver, controller-manager,
 * scheduler) with kwok's fake GPU nodes: 2 x 8 H100 and 1 x 4 A100-80GB.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KubernetesProvider } from '../../activities/providers/kubernetes';
import { revisionName, objectName } from '../../activities/providers/kubernetes-manifests';
import type { RevisionStatus } from '../../activities/providers/provider';
import { waitFor } from '../helpers/harness';
import { startControlPlane, type ControlPlane } from '../helpers/kubernetes';

let cp: ControlPlane;
let provider: KubernetesProvider;
const namespace = 'deployments';
const id = 'team-a/llm';
const template = {
  model: 'llama-3.1-8b-instruct',
  loadMs: 1500,
  accelerator: { type: 'H100', count: 4 },
};

beforeAll(async () => {
  cp = await startControlPlane();
  await cp.kubectl('create', 'namespace', namespace);
  provider = new KubernetesProvider({ kubeconfig: cp.kubeconfig, namespace });
}, 180_000);
afterAll(async () => cp?.stop(), 60_000);

const revision = (r: number) => () => provider.getRevision(id, r);

describe('Kubernetes provider', () => {
  it('runs a revision on the GPU nodes: not ready while the weights load, ready after the delay', async () => {
    const started = Date.now();
    const created = await provider.applyRevision({
      deploymentId: id,
      revision: 1,
      replicas: 2,
      template,
    });
    expect(created).toMatchObject({ exists: true, desired: 2, ready: 0 });
    const ready = await waitFor(
      revision(1),
      (s: RevisionStatus) => s.ready === 2,
      '2 ready replicas',
      20_000,
    );
    expect(Date.now() - started).toBeGreaterThanOrEqual(1500);
    expect(ready.replicas.every((r) => r.url.startsWith('http://'))).toBe(true);
    const nodes = await cp.kubectl(
      'get',
      'pods',
      '-n',
      namespace,
      '-o',
      'jsonpath={.items[*].spec.nodeName}',
    );
    expect(nodes.split(' ').every((n) => n.startsWith('gpu-h100-'))).toBe(true);
  });

  it('is idempotent: applying the same revision again creates nothing twice', async () => {
    await provider.applyRevision({ deploymentId: id, revision: 1, replicas: 2, template });
    const deployments = await cp.kubectl('get', 'deployments', '-n', namespace, '-o', 'name');
    expect(deployments.trim().split('\n')).toEqual([`deployment.apps/${revisionName(id, 1)}`]);
    expect((await provider.listRevisions(id)).map((r) => r.revision)).toEqual([1]);
  });

  it('routes traffic with a Service whose selector names the revision', async () => {
    await provider.routeTraffic(id, 1);
    const selector = await cp.kubectl(
      'get',
      'service',
      objectName(id),
      '-n',
      namespace,
      '-o',
      'jsonpath={.spec.selector}',
    );
    expect(JSON.parse(selector)).toMatchObject({ 'model-deployments.dev/revision': '1' });
    expect((await provider.endpoints(id)).urls).toHaveLength(2);
  });

  it('says why a replica is stuck Pending when the GPUs run out', async () => {
    // 2 nodes x 8 H100 hold 4 replicas of 4 GPUs; the fifth cannot be scheduled.
    await provider.applyRevision({ deploymentId: id, revision: 1, replicas: 5, template });
    const stuck = await waitFor(
      revision(1),
      (s: RevisionStatus) => s.ready === 4 && s.replicas.some((r) => r.message),
      'a Pending replica',
      20_000,
    );
    expect(stuck.replicas.find((r) => r.message)?.message).toMatch(
      /Pending: .*Insufficient nvidia\.com\/gpu/,
    );
  });

  it('removes everything it created', async () => {
    await provider.removeDeployment(id);
    await waitFor(
      () => cp.kubectl('get', 'deployments,services,pods', '-n', namespace, '-o', 'name'),
      (out) => out.trim() === '',
      'nothing left',
      30_000,
    );
    expect(await provider.getRevision(id, 1)).toMatchObject({ exists: false });
  });
});
