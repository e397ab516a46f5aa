/**
 * The Kubernetes provider against a real control plane (etcd, kube-apiserver, controller-manager,
 * scheduler) with kwok's fake GPU nodes: 2 x 8 H100 and 1 x 4 A100-80GB.
 *
 * Each test stands alone: its own deployment, created in the test and removed after it, so any
 * one runs by itself or in any order. Nothing dials the pods' (private) IPs.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { KubernetesProvider } from '../../activities/providers/kubernetes';
import {
  deploymentLabel,
  objectName,
  revisionName,
} from '../../activities/providers/kubernetes-manifests';
import type { RevisionStatus, RevisionTemplate } from '../../activities/providers/provider';
import { waitFor } from '../helpers/harness';
import { startControlPlane, type ControlPlane } from '../helpers/kubernetes';

let cp: ControlPlane;
let provider: KubernetesProvider;
const namespace = 'deployments';
const template: RevisionTemplate = {
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

/** Deployments the current test created; removed after it. */
const created: string[] = [];
let counter = 0;
afterEach(async () => {
  for (const id of created.splice(0)) await provider.removeDeployment(id);
}, 60_000);

function newDeployment(): string {
  const id = `team-a/llm-${++counter}`;
  created.push(id);
  return id;
}

/** A deployment of its own with `replicas` ready replicas of revision 1. */
async function readyDeployment(replicas: number): Promise<string> {
  const id = newDeployment();
  await provider.applyRevision({ deploymentId: id, revision: 1, replicas, template });
  await waitFor(
    () => provider.getRevision(id, 1),
    (s: RevisionStatus) => s.ready === replicas,
    `${replicas} ready replica(s)`,
    20_000,
  );
  return id;
}

/** kubectl get <kinds> of one deployment's objects, by its label. */
const objectsOf = (id: string, kinds: string, output = 'name') =>
  cp.kubectl(
    'get',
    kinds,
    '-n',
    namespace,
    '-l',
    `model-deployments.dev/deployment=${deploymentLabel(id)}`,
    '-o',
    output,
  );

describe('Kubernetes provider', () => {
  it('runs a revision on the GPU nodes: not ready while the weights load, ready after the delay', async () => {
    const id = newDeployment();
    const started = Date.now();
    const applied = await provider.applyRevision({
      deploymentId: id,
      revision: 1,
      replicas: 2,
      template,
    });
    expect(applied).toMatchObject({ exists: true, desired: 2, ready: 0 });
    const ready = await waitFor(
      () => provider.getRevision(id, 1),
      (s: RevisionStatus) => s.ready === 2,
      '2 ready replicas',
      20_000,
    );
    // A lower bound (the simulated weight load), not an upper one.
    expect(Date.now() - started).toBeGreaterThanOrEqual(1500);
    expect(ready.replicas.every((r) => r.url.startsWith('http://'))).toBe(true);
    const nodes = await objectsOf(id, 'pods', 'jsonpath={.items[*].spec.nodeName}');
    expect(nodes.split(' ').every((n) => n.startsWith('gpu-h100-'))).toBe(true);
  });

  it('drains pods it removes: the apiserver keeps the preStop pause and the termination grace', async () => {
    const id = await readyDeployment(1);
    const pod = JSON.parse(await objectsOf(id, 'pods', 'json')) as {
      items: {
        spec: {
          terminationGracePeriodSeconds: number;
          containers: { name: string; lifecycle?: unknown }[];
        };
      }[];
    };
    const spec = pod.items[0]!.spec;
    expect(spec.terminationGracePeriodSeconds).toBe(65);
    expect(spec.containers.find((c) => c.name === 'server')?.lifecycle).toEqual({
      preStop: { sleep: { seconds: 5 } },
    });
  });

  it('is idempotent: applying the same revision again creates nothing twice', async () => {
    const id = await readyDeployment(2);
    await provider.applyRevision({ deploymentId: id, revision: 1, replicas: 2, template });
    await provider.applyRevision({ deploymentId: id, revision: 1, replicas: 2, template });
    expect((await objectsOf(id, 'deployments')).trim().split('\n')).toEqual([
      `deployment.apps/${revisionName(id, 1)}`,
    ]);
    expect((await provider.listRevisions(id)).map((r) => r.revision)).toEqual([1]);
  });

  it('routes traffic with a Service whose selector names the revision', async () => {
    const id = await readyDeployment(2);
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
    // The one A100 node has 4 GPUs: one replica of 4 fits, the second cannot be scheduled.
    const id = newDeployment();
    await provider.applyRevision({
      deploymentId: id,
      revision: 1,
      replicas: 2,
      template: { ...template, accelerator: { type: 'A100-80GB', count: 4 } },
    });
    const stuck = await waitFor(
      () => provider.getRevision(id, 1),
      (s: RevisionStatus) => s.ready === 1 && s.replicas.some((r) => r.message),
      'a Pending replica',
      20_000,
    );
    expect(stuck.replicas.find((r) => r.message)?.message).toMatch(
      /Pending: .*Insufficient nvidia\.com\/gpu/,
    );
  });

  it('removes everything it created', async () => {
    const id = await readyDeployment(2);
    await provider.routeTraffic(id, 1);
    await provider.removeDeployment(id);
    await waitFor(
      () => objectsOf(id, 'deployments,services,pods'),
      (out) => out.trim() === '',
      'nothing left',
      30_000,
    );
    expect(await provider.getRevision(id, 1)).toMatchObject({ exists: false });
    expect(await provider.endpoints(id)).toEqual({ revision: null, urls: [] });
  });
});
