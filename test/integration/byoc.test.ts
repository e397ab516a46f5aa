/**
 * BYOC end to end on real servers: a workspace links an EKS cluster (moto for EKS, EC2 and STS),
 * whose Kubernetes API is the local control plane with kwok GPU nodes, authenticating our EKS
 * token through webhook token authentication (a stand-in aws-iam-authenticator). The real
 * workflows run on a dev server; the worker's activities use the real EksClusters.
 *
 * kwok gives pods private addresses here (10.0.x.x): every connection this process opens goes
 * through a guard that refuses those before anything is sent (test/helpers/private-network.ts),
 * and the file ends by checking that nothing (the gateway, the collector) tried one.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CreateNodegroupCommand, DescribeNodegroupCommand, EKSClient } from '@aws-sdk/client-eks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EksClusters } from '../../activities/providers/byoc';
import { KubernetesProvider } from '../../activities/providers/kubernetes';
import { objectName } from '../../activities/providers/kubernetes-manifests';
import { buildApp } from '../../api/app';
import { parseApiKeys } from '../../api/auth';
import { TrafficMeter } from '../../api/metrics/traffic-meter';
import { ReplicaEndpoints } from '../../api/replica-endpoints';
import { clustersSchema } from '../../config/clusters';
import { deploymentWorkflowId } from '../../workflows/deployment/definitions';
import { TEST_CATALOG, byocSpec } from '../helpers/catalog';
import { startByocCluster, type ByocCluster } from '../helpers/eks-authenticator';
import { rejection, startHarness, waitFor, type Harness } from '../helpers/harness';
import { startMoto, type Moto } from '../helpers/moto';
import { freePort } from '../helpers/processes';
import { guardNetwork, type NetworkGuard } from '../helpers/private-network';
import type { DeploymentEnding } from '../../workflows/deployment/definitions';
import { statusQuery } from '../../workflows/deployment/definitions';

let guard: NetworkGuard;
let byoc: ByocCluster;
/** An AWS that refuses our credentials (moto with its IAM checks on). */
let lockedAws: Moto;
let h: Harness;
let clusters: EksClusters;
let secretsDir: string;
const ws = 'team';
const EKS_NAME = 'byoc-eks';

beforeAll(async () => {
  guard = guardNetwork();
  byoc = await startByocCluster({ cluster: EKS_NAME, namespace: 'byoc' });
  // One EKS node group of p5.48xlarge (8 x H100 each), empty: the kwok nodes gpu-h100-0 and -1
  // stand for the two nodes it may grow to.
  await new EKSClient(byoc.access).send(
    new CreateNodegroupCommand({
      clusterName: EKS_NAME,
      nodegroupName: 'gpu-h100',
      nodeRole: 'arn:aws:iam::123456789012:role/node',
      subnets: ['subnet-1'],
      instanceTypes: ['p5.48xlarge'],
      scalingConfig: { minSize: 0, maxSize: 2, desiredSize: 0 },
    }),
  );
  lockedAws = await startMoto({ refuseCredentials: true });
  secretsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'md-secrets-'));
  fs.writeFileSync(path.join(secretsDir, 'aws-team.json'), JSON.stringify(byoc.access.credentials));
  const server = byoc.controlPlane.kubeconfig.getCurrentCluster()?.server;
  if (!server) throw new Error('the control plane kubeconfig names no server');
  // What an operator writes in CLUSTERS_FILE, parsed by the same schema.
  const registry = clustersSchema.parse({
    [ws]: {
      'team-eks': {
        provider: 'eks',
        region: byoc.access.region,
        eksClusterName: EKS_NAME,
        credentialsSecret: 'aws-team',
        namespace: byoc.namespace,
        awsEndpoint: byoc.moto.endpoint,
        kubernetes: { server, insecureSkipTlsVerify: true },
      },
      // the same cluster, but AWS refuses the credentials
      'locked-eks': {
        provider: 'eks',
        region: byoc.access.region,
        eksClusterName: EKS_NAME,
        credentialsSecret: 'aws-team',
        namespace: byoc.namespace,
        awsEndpoint: lockedAws.endpoint,
        kubernetes: { server, insecureSkipTlsVerify: true },
      },
      // AWS cannot be reached at all (nothing listens there)
      'unreachable-eks': {
        provider: 'eks',
        region: byoc.access.region,
        eksClusterName: EKS_NAME,
        credentialsSecret: 'aws-team',
        namespace: byoc.namespace,
        awsEndpoint: `http://127.0.0.1:${await freePort()}`,
        kubernetes: { server, insecureSkipTlsVerify: true },
      },
    },
  });
  h = await startHarness();
  await byoc.controlPlane.kubectl('create', 'namespace', 'dedicated');
  clusters = new EksClusters({ registry, secretsDir, scaleTimeoutMs: 30_000, pollMs: 200 });
  await h.startWorker(
    new KubernetesProvider({ kubeconfig: byoc.controlPlane.kubeconfig, namespace: 'dedicated' }),
    clusters,
  );
}, 180_000);
afterAll(async () => {
  await h?.stop();
  await byoc?.stop();
  await lockedAws?.stop();
  if (secretsDir) fs.rmSync(secretsDir, { recursive: true, force: true });
  guard?.restore();
}, 60_000);

const kubectl = (...args: string[]) => byoc.controlPlane.kubectl(...args);
const get = (name: string) => () => h.service.get(ws, name);
const namesIn = async (namespace: string) =>
  (await kubectl('get', 'deployments,services,pods', '-n', namespace, '-o', 'name'))
    .trim()
    .split('\n')
    .filter(Boolean);

async function nodeGroupSize(): Promise<number | undefined> {
  const described = await new EKSClient(byoc.access).send(
    new DescribeNodegroupCommand({ clusterName: EKS_NAME, nodegroupName: 'gpu-h100' }),
  );
  return described.nodegroup?.scalingConfig?.desiredSize;
}

interface Pod {
  metadata: { labels: Record<string, string> };
  spec: {
    nodeName?: string;
    containers: {
      resources: { limits: Record<string, string>; requests: Record<string, string> };
    }[];
  };
}
async function pods(): Promise<Pod[]> {
  return (
    JSON.parse(await kubectl('get', 'pods', '-n', byoc.namespace, '-o', 'json')) as {
      items: Pod[];
    }
  ).items;
}

const ROLLOUT_ORDER = ['NodeGroupScaled', 'RevisionCreated', 'RevisionReady', 'TrafficSwitched'];

describe('a BYOC deployment on a linked EKS cluster', () => {
  it('runs its whole lifecycle there: node group grown first, EKS token, rollout, pause, resume, delete', async () => {
    const reviewsBefore = byoc.authenticator.reviews.length;
    await h.service.create(ws, { name: 'llm', ...byocSpec() });
    const healthy = await waitFor(get('llm'), (v) => v.health === 'Healthy', 'Healthy', 60_000);
    expect(healthy.replicas).toEqual({ desired: 1, ready: 1 });

    // placed on the node group, grown from 0 to 1 node before the replica was asked for
    expect(await nodeGroupSize()).toBe(1);
    const events = await h.service.events(ws, 'llm');
    const reasons = events.map((e) => e.reason);
    expect(events.find((e) => e.reason === 'Placed')?.message).toMatch(
      /node group gpu-h100 of cluster team-eks: p5\.48xlarge, 8 x H100 per node, 0 of at most 2 nodes \(16 GPUs\)/,
    );
    expect(events.find((e) => e.reason === 'NodeGroupScaled')?.message).toMatch(
      /grown from 0 to 1 node/,
    );
    expect(reasons.indexOf('NodeGroupScaled')).toBeLessThan(reasons.indexOf('Provisioned'));

    // the replica runs on a gpu-h100 node with the spec's GPUs, CPU and memory
    const [pod, ...others] = await pods();
    expect(others).toEqual([]);
    expect(pod?.spec.nodeName).toMatch(/^gpu-h100-\d$/);
    expect(pod?.spec.containers[0]?.resources).toMatchObject({
      limits: { 'nvidia.com/gpu': '8', cpu: '16', memory: '128Gi' },
      requests: { cpu: '8', memory: '64Gi' },
    });
    expect(await namesIn('dedicated')).toEqual([]);

    // the cluster's own observer (with the cluster's EKS token) told the workflow its replica is ready
    const history = await h.env.client.workflow
      .getHandle(deploymentWorkflowId(ws, 'llm'))
      .fetchHistory();
    const observed = (history.events ?? []).filter(
      (e) => e.workflowExecutionSignaledEventAttributes?.signalName === 'observeReplicas',
    );
    expect(observed.length).toBeGreaterThan(0);

    // every call went through the EKS token, accepted by the apiserver's webhook
    const reviews = byoc.authenticator.reviews.slice(reviewsBefore);
    expect(reviews.length).toBeGreaterThan(0);
    expect(reviews.every((r) => r.authenticated)).toBe(true);
    expect(reviews[0]?.user?.groups).toContain(byoc.group);

    // an edit of the model is a rollout; both revisions need a node: the group grows to 2
    await h.service.edit(ws, 'llm', { spec: { model: 'fast-model-v2' } });
    const rolled = await waitFor(
      get('llm'),
      (v) => v.revision === 2 && v.state === 'running' && v.health === 'Healthy',
      'revision 2 live',
      60_000,
    );
    expect(rolled.spec.model).toBe('fast-model-v2');
    expect(await nodeGroupSize()).toBe(2);
    const selector = JSON.parse(
      await kubectl(
        'get',
        'service',
        objectName(`${ws}/llm`),
        '-n',
        byoc.namespace,
        '-o',
        'jsonpath={.spec.selector}',
      ),
    ) as Record<string, string>;
    expect(selector['model-deployments.dev/revision']).toBe('2');
    const rollout = (await h.service.events(ws, 'llm'))
      .filter((e) => e.revision === 2)
      .map((e) => e.reason);
    // every step is there, in this order (indexOf of a missing step would be -1 and pass)
    expect(rollout.filter((r) => ROLLOUT_ORDER.includes(r))).toEqual(ROLLOUT_ORDER);
    await waitFor(
      pods,
      (p) => p.length === 1 && p[0]?.metadata.labels['model-deployments.dev/revision'] === '2',
      'only revision 2 pods',
      30_000,
    );

    // pause removes the replicas, resume brings them back
    await h.service.pause(ws, 'llm');
    await waitFor(pods, (p) => p.length === 0, 'no pods while paused', 30_000);
    await h.service.resume(ws, 'llm');
    await waitFor(
      get('llm'),
      (v) => v.health === 'Healthy' && v.replicas.ready === 1,
      'Healthy after resume',
      60_000,
    );

    // delete leaves nothing in the namespace, and gives the node group's GPUs back
    await h.service.delete(ws, 'llm');
    await h.env.client.workflow.getHandle(deploymentWorkflowId(ws, 'llm')).result();
    expect(await namesIn(byoc.namespace)).toEqual([]);
  }, 240_000);

  it('refuses, before anything runs, a node group the cluster lacks and more GPUs than it can hold', async () => {
    const missing = await rejection(
      h.service.create(ws, { name: 'nope', ...byocSpec({ nodeGroup: 'gpu-b200' }) }),
    );
    expect(missing).toMatchObject({
      code: 'invalid_spec',
      details: [
        {
          path: 'cloud.nodeGroup',
          message: expect.stringMatching(/no node group "gpu-b200"; it has: gpu-h100 \(8 x H100\)/),
        },
      ],
    });
    const tooBig = await rejection(
      h.service.create(ws, { name: 'huge', ...byocSpec({}, { maxReplicas: 3 }) }),
    );
    expect(tooBig).toMatchObject({
      code: 'quota_exceeded',
      message: expect.stringMatching(
        /node group gpu-h100 of cluster team-eks is full: 24 GPUs requested .* of 16 free/,
      ),
    });
    expect(await namesIn(byoc.namespace)).toEqual([]);
  });
});

/** As the API process finds replicas: through each deployment's placement. */
const replicaEndpoints = () =>
  new ReplicaEndpoints({
    dedicated: new KubernetesProvider({
      kubeconfig: byoc.controlPlane.kubeconfig,
      namespace: 'dedicated',
    }),
    clusters,
    deployments: h.service,
  });

describe('a cluster AWS will not let us use', () => {
  it('a create whose credentials AWS refuses ends failed at once, saying why, with nothing created', async () => {
    const err = await rejection(
      h.service.create(ws, { name: 'locked', ...byocSpec({ cluster: 'locked-eks' }) }),
    );
    expect(err.code).toBe('invalid_spec');
    expect(err.details).toEqual([
      {
        path: 'cloud.cluster',
        message: expect.stringMatching(
          /AWS refused the credentials in secret "aws-team" for cluster "locked-eks" \(EKS ListNodegroups: \w+/,
        ),
      },
    ]);
    // AWS's own message (which can echo the request and the key id) is not passed on
    expect(err.message).not.toMatch(/security token|credentials provided|testing/);
    const ending = (await h.env.client.workflow
      .getHandle(deploymentWorkflowId(ws, 'locked'))
      .result()) as DeploymentEnding;
    expect(ending.view.state).toBe('failed');
    expect(ending.events.map((e) => e.reason)).toEqual(['PlacementRejected']);
    // and the API shows it failed, with why, until the name is used again
    expect((await h.service.get(ws, 'locked')).state).toBe('failed');
    expect((await h.service.events(ws, 'locked')).map((e) => e.message)).toEqual([
      expect.stringContaining(err.details![0]!.message),
    ]);
    expect(await namesIn(byoc.namespace)).not.toContainEqual(expect.stringContaining('locked'));
  });

  it('a delete wins over a create still waiting for AWS, and completes', async () => {
    const creating = h.service
      .create(ws, { name: 'waiting', ...byocSpec({ cluster: 'unreachable-eks' }) })
      .catch((e: unknown) => e);
    const handle = h.env.client.workflow.getHandle(deploymentWorkflowId(ws, 'waiting'));
    await waitFor(
      () => handle.query(statusQuery),
      (v) => v.state === 'creating',
      'the create waiting for AWS',
    );
    const deleting = await h.service.delete(ws, 'waiting');
    expect(deleting.state).toBe('deleting');
    const ending = (await handle.result()) as DeploymentEnding;
    expect(ending.view.state).toBe('deleted');
    // nothing ran, so nothing was removed: straight to deleted
    expect(ending.events.map((e) => `${e.type}:${e.reason}`)).toEqual([
      'Lifecycle:Deleting',
      'Health:Deleted',
      'Lifecycle:Deleted',
    ]);
    // the create's caller is told it was not admitted (or, had it waited past the API's
    // deadline, that the outcome is unknown): never that it was created
    expect(await creating).toMatchObject({ code: expect.stringMatching(/conflict|unavailable/) });
  });
});

describe('the gateway and collector view of a BYOC deployment', () => {
  it("finds its ready replicas on the linked cluster, through the cluster's EKS token, and never hands the gateway their pod IPs", async () => {
    const replicas = replicaEndpoints();
    await h.service.create(ws, { name: 'served', ...byocSpec() });
    await waitFor(get('served'), (v) => v.health === 'Healthy', 'Healthy', 60_000);
    const [pod] = await pods();
    const podIP = (
      JSON.parse(
        await kubectl(
          'get',
          'pod',
          '-n',
          byoc.namespace,
          '-l',
          'model-deployments.dev/revision=1',
          '-o',
          'json',
        ),
      ) as { items: { status: { podIP: string } }[] }
    ).items[0]?.status.podIP;
    expect(pod).toBeDefined();
    expect(podIP).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    // the cluster reports a ready replica, at a private pod IP the control plane cannot reach
    // (nor must try): with no edge gateway for the cluster, the gateway is told so, not that IP
    expect(podIP).toMatch(/^10\./);
    const provider = await clusters.provider(ws, 'team-eks');
    expect(await provider.endpoints(`${ws}/served`)).toEqual({
      revision: 1,
      urls: [`http://${podIP}:8000`],
    });
    await expect(replicas.endpoints(`${ws}/served`)).rejects.toThrow(
      /runs on BYOC cluster "team-eks", which has no edge gateway/,
    );
    // and inference answers 503 saying what to configure, without dialling the pod
    const app = await buildApp({
      service: h.service,
      replicas,
      meter: new TrafficMeter(),
      wake: () => undefined,
      catalog: TEST_CATALOG,
      clusters,
      apiKeys: parseApiKeys('team-key=team'),
      publicUrl: 'http://127.0.0.1',
    });
    try {
      const res = await app.inject({
        method: 'POST',
        url: `/v1/endpoints/${ws}/served/v1/completions`,
        headers: { authorization: 'Bearer team-key', 'content-type': 'application/json' },
        payload: '{"prompt":"Hello"}',
      });
      expect(res.statusCode).toBe(503);
      expect(res.json().error.message).toMatch(
        /^deployment "served" runs on BYOC cluster "team-eks", which has no edge gateway: .*"gateway": \{"url", "tokenSecret"\} for cluster "team-eks" in CLUSTERS_FILE$/,
      );
    } finally {
      await app.close();
    }
    expect(guard.attempts).toEqual([]);
    // nothing of it is on the dedicated runtime
    expect(await namesIn('dedicated')).toEqual([]);
    await h.service.delete(ws, 'served');
    await h.env.client.workflow.getHandle(deploymentWorkflowId(ws, 'served')).result();
    expect(await provider.endpoints(`${ws}/served`)).toEqual({ revision: null, urls: [] });
  }, 120_000);
});

describe('the clusters API', () => {
  it('lists the linked clusters and their node groups with GPUs, capacity and what deployments hold', async () => {
    const app = await buildApp({
      service: h.service,
      replicas: replicaEndpoints(),
      meter: new TrafficMeter(),
      wake: () => undefined,
      catalog: TEST_CATALOG,
      clusters,
      apiKeys: parseApiKeys('team-key=team,other-key=other'),
      publicUrl: 'http://127.0.0.1',
    });
    const as = (key: string, url: string) =>
      app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${key}` } });
    try {
      const listed = await as('team-key', `/v1/workspaces/${ws}/clusters`);
      expect(listed.statusCode).toBe(200);
      const items = (listed.json() as { items: { name: string }[] }).items;
      expect(items.map((c) => c.name).sort()).toEqual([
        'locked-eks',
        'team-eks',
        'unreachable-eks',
      ]);
      expect(items.find((c) => c.name === 'team-eks')).toEqual({
        name: 'team-eks',
        provider: 'eks',
        region: 'us-east-1',
        eksClusterName: EKS_NAME,
        namespace: byoc.namespace,
        credentialsSecret: 'aws-team',
      });
      expect(JSON.stringify(listed.json())).not.toContain('testing'); // the secret's content

      await h.service.create(ws, { name: 'held', ...byocSpec() });
      const groups = await as('team-key', `/v1/workspaces/${ws}/clusters/team-eks/node-groups`);
      expect(groups.statusCode).toBe(200);
      expect(groups.json()).toEqual({
        items: [
          {
            name: 'gpu-h100',
            instanceType: 'p5.48xlarge',
            gpu: { type: 'H100', count: 8, memoryMiB: expect.any(Number) },
            vcpus: 192,
            memoryMiB: expect.any(Number),
            nodes: { min: 0, max: 2, desired: expect.any(Number) },
            status: 'ACTIVE',
            gpuCapacity: 16,
            gpusReserved: 8,
          },
        ],
      });
      await h.service.delete(ws, 'held');

      const unknown = await as('team-key', `/v1/workspaces/${ws}/clusters/nowhere/node-groups`);
      expect(unknown.statusCode).toBe(404);
      expect(unknown.json().error.message).toMatch(
        /no cluster "nowhere" is linked to workspace "team"/,
      );
      // another workspace sees none of team's clusters
      expect((await as('other-key', '/v1/workspaces/other/clusters')).json()).toEqual({
        items: [],
      });
      expect(
        (await as('other-key', '/v1/workspaces/other/clusters/team-eks/node-groups')).statusCode,
      ).toBe(404);
    } finally {
      await app.close();
    }
  });
});

describe("kwok's pod IPs (10.0.x.x)", () => {
  it('were never dialled by anything in this process: the gateway, the collector, the providers', () => {
    // The cluster's observer (with its load scrapes) ran through every test above.
    expect(h.observers().some((o) => o.load !== undefined)).toBe(true);
    expect(guard.attempts).toEqual([]);
  });
});
