/**
 * BYOC in the deployment workflow, on a real Temporal dev server: a BYOC deployment is admitted
 * against its linked cluster (the node group exists, one replica fits a node) and holds its node
 * group's GPUs (gpusPerReplica x maxReplicas of the node group's capacity at its maximum size),
 * grows the node group before asking for replicas, runs on the cluster's provider, and can never
 * be moved to another cloud or cluster by an edit. Clusters are data here; the real chain (EKS on
 * moto, the EKS token, a real kube-apiserver) is test/integration/byoc.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deploymentWorkflowId } from '../../workflows/deployment/definitions';
import { quotaWorkflowId, usageQuery } from '../../workflows/quota/definitions';
import { byocSpec as byoc, dedicatedSpec } from '../helpers/catalog';
import { FakeClusters, h100NodeGroup } from '../helpers/fake-clusters';
import { FakeProvider } from '../helpers/fake-provider';
import { rejection, startHarness, waitFor, type Harness } from '../helpers/harness';
import { uniqueName } from '../helpers/temporal';

let h: Harness;
const dedicated = new FakeProvider();
let clusters: FakeClusters;

beforeAll(async () => {
  h = await startHarness({ limits: { H100: 8 } });
  clusters = new FakeClusters({
    'team-eks': [
      h100NodeGroup('gpu-h100', 1, 2), // 2 nodes x 8 H100 at most: 16 GPUs
      { ...h100NodeGroup('gpu-small', 1, 4, 4), instanceType: 'g6e.12xlarge', vcpus: 48 },
      { ...h100NodeGroup('cpu-only', 1, 4), gpu: undefined, instanceType: 'm5.large' },
    ],
  });
  await h.startWorker(dedicated, clusters);
});
afterAll(async () => h?.stop());

async function reservations(ws: string) {
  const usage = await h.env.client.workflow.getHandle(quotaWorkflowId(ws)).query(usageQuery);
  return usage.reservations;
}

describe('BYOC admission', () => {
  it('holds the node group GPUs, not the workspace accelerator quota, and refuses what the node group cannot hold', async () => {
    const ws = uniqueName('byoc-quota');
    // the workspace's dedicated H100 quota is all taken: BYOC does not use it
    await h.service.create(ws, {
      name: 'dedicated',
      ...dedicatedSpec({
        cloud: { type: 'dedicated', accelerator: { type: 'H100', count: 8 } },
        scaling: { minReplicas: 1, maxReplicas: 1, metric: 'concurrency', threshold: 8 },
      }),
    });
    await h.service.create(ws, { name: 'big', ...byoc({}, { maxReplicas: 2 }) });
    expect(await reservations(ws)).toContainEqual({
      holder: deploymentWorkflowId(ws, 'big'),
      gpus: { 'byoc:team-eks/gpu-h100': 16 },
    });

    const full = await rejection(h.service.create(ws, { name: 'more', ...byoc() }));
    expect(full.code).toBe('quota_exceeded');
    expect(full.message).toMatch(
      /node group gpu-h100 of cluster team-eks is full: 8 GPUs requested .*0 of 16 free/,
    );
    expect(dedicated.revisionsOf(`${ws}/more`)).toEqual([]);
    expect(clusters.provider_.revisionsOf(`${ws}/more`)).toEqual([]);

    // deleting the first gives the node group back
    await h.service.delete(ws, 'big');
    await h.env.client.workflow.getHandle(deploymentWorkflowId(ws, 'big')).result();
    await h.service.create(ws, { name: 'more', ...byoc() });
    expect((await reservations(ws)).map((r) => r.gpus)).toContainEqual({
      'byoc:team-eks/gpu-h100': 8,
    });
  });

  it.each([
    [
      'an unlinked cluster',
      { cluster: 'nowhere' },
      'cloud.cluster',
      /no cluster "nowhere" is linked/,
    ],
    [
      'a node group the cluster does not have',
      { nodeGroup: 'gpu-b200' },
      'cloud.nodeGroup',
      /has no node group "gpu-b200"/,
    ],
    ['a node group without GPUs', { nodeGroup: 'cpu-only' }, 'cloud.nodeGroup', /has no GPUs/],
    [
      'more GPUs per replica than a node has',
      { nodeGroup: 'gpu-small', gpusPerReplica: 8 },
      'cloud.gpusPerReplica',
      /8 GPUs per replica do not fit a node of node group "gpu-small" \(g6e.12xlarge\), which has 4 H100/,
    ],
    [
      'a CPU request bigger than a node',
      {
        nodeGroup: 'gpu-small',
        gpusPerReplica: 1,
        resources: { cpuRequest: '64', cpuLimit: '64', memoryRequest: '1Gi', memoryLimit: '1Gi' },
      },
      'cloud.resources.cpuRequest',
      /cpuRequest 64 does not fit a node .* which has 48 vCPUs/,
    ],
  ])('refuses %s with 400 naming the field, and runs nothing', async (_s, cloud, path, message) => {
    const ws = uniqueName('byoc-bad');
    const err = await rejection(h.service.create(ws, { name: 'bad', ...byoc(cloud) }));
    expect(err.code).toBe('invalid_spec');
    expect(err.details?.map((d) => d.path)).toEqual([path]);
    expect(err.message).toMatch(message);
    expect(clusters.provider_.revisionsOf(`${ws}/bad`)).toEqual([]);
    expect(dedicated.revisionsOf(`${ws}/bad`)).toEqual([]);
  });
});

describe('BYOC lifecycle', () => {
  it('grows the node group before the replicas, runs them on the cluster, and scales within it', async () => {
    const ws = uniqueName('byoc-run');
    const growthsBefore = clusters.growths.length;
    await h.service.create(ws, {
      name: 'llm',
      ...byoc({ nodeGroup: 'gpu-small', gpusPerReplica: 2 }, { minReplicas: 3, maxReplicas: 6 }),
    });
    const healthy = await waitFor(
      () => h.service.get(ws, 'llm'),
      (v) => v.health === 'Healthy',
      'the BYOC deployment Healthy',
    );
    expect(healthy.replicas).toEqual({ desired: 3, ready: 3 });
    // 3 replicas of 2 GPUs on 4-GPU nodes: 2 nodes; the node group had 1
    expect(clusters.growths.slice(growthsBefore)).toEqual([
      { nodeGroup: 'gpu-small', from: 1, to: 2 },
    ]);
    expect(clusters.provider_.revisionsOf(`${ws}/llm`)).toEqual([1]);
    expect(dedicated.revisionsOf(`${ws}/llm`)).toEqual([]);
    const events = await h.service.events(ws, 'llm');
    expect(events.map((e) => e.reason)).toEqual(
      expect.arrayContaining(['Placed', 'NodeGroupScaled', 'Provisioned']),
    );
    const reasons = events.map((e) => e.reason);
    expect(reasons.indexOf('NodeGroupScaled')).toBeLessThan(reasons.indexOf('Provisioned'));

    // an edit of the node group is a rollout on the same cluster
    await h.service.edit(ws, 'llm', { spec: { cloud: { nodeGroup: 'gpu-h100' } } });
    await waitFor(
      () => h.service.get(ws, 'llm'),
      (v) => v.revision === 2 && v.state === 'running' && v.health === 'Healthy',
      'revision 2 live',
    );
    expect(clusters.provider_.revisionsOf(`${ws}/llm`)).toEqual([2]);

    await h.service.delete(ws, 'llm');
    await h.env.client.workflow.getHandle(deploymentWorkflowId(ws, 'llm')).result();
    expect(clusters.provider_.revisionsOf(`${ws}/llm`)).toEqual([]);
    expect(await reservations(ws)).toEqual([]);
  });

  it('refuses an edit that moves a deployment to another cloud or cluster, and changes nothing', async () => {
    const ws = uniqueName('byoc-move');
    await h.service.create(ws, { name: 'stay', ...byoc() });
    await waitFor(
      () => h.service.get(ws, 'stay'),
      (v) => v.state === 'running',
      'running',
    );
    const toDedicated = await rejection(
      h.service.edit(ws, 'stay', {
        spec: {
          cloud: {
            type: 'dedicated',
            accelerator: { type: 'H100', count: 1 },
            cluster: null,
            nodeGroup: null,
            gpusPerReplica: null,
            resources: null,
          },
        },
      }),
    );
    expect(toDedicated.code).toBe('invalid_spec');
    expect(toDedicated.details).toEqual([
      {
        path: 'cloud.type',
        message: expect.stringMatching(/cannot change from "byoc" to "dedicated"/),
      },
    ]);
    const toOther = await rejection(
      h.service.edit(ws, 'stay', { spec: { cloud: { cluster: 'other-eks' } } }),
    );
    expect(toOther.details).toEqual([
      {
        path: 'cloud.cluster',
        message: expect.stringMatching(/cannot change from "team-eks" to "other-eks"/),
      },
    ]);
    const view = await h.service.get(ws, 'stay');
    expect(view.revision).toBe(1);
    expect(view.spec.cloud).toMatchObject({ type: 'byoc', cluster: 'team-eks' });
  });
});
