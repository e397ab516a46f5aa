/**
 * The production topology, for real: a Temporal cluster on PostgreSQL with mTLS, two worker
 * processes, two API processes and two observer processes (one active by lease), over the
 * local runtime. Any API process serves any deployment; a worker and an API SIGKILLed in the
 * middle of a rolling update, or of a scale step, lose nothing and duplicate nothing; the
 * Temporal server killed and started again leaves every deployment converging.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Client, Connection } from '@temporalio/client';
import { replicaSetName } from '../../activities/providers/local';
import { deploymentWorkflowId, rolloutWorkflowId } from '../../workflows/deployment/definitions';
import { waitFor } from '../helpers/harness';
import { killAll, modelServerPids } from '../helpers/processes';
import {
  apiOf,
  startControlPlaneProcesses,
  type ControlPlaneProcesses,
} from '../helpers/control-plane';
import { startTemporalCluster, type TemporalCluster } from '../helpers/temporal-cluster';

let cluster: TemporalCluster;
let plane: ControlPlaneProcesses;
let client: Client;
let connection: Connection;
const workspace = `prod-${Date.now().toString(36)}`;
const deployments = `/v1/workspaces/${workspace}/deployments`;

interface View {
  state: string;
  health: string;
  revision: number;
  replicas: { desired: number; ready: number };
  spec: { model: string; scaling: { minReplicas: number; maxReplicas: number } };
}
interface Event {
  reason: string;
  revision?: number;
}

beforeAll(async () => {
  cluster = await startTemporalCluster();
  plane = await startControlPlaneProcesses(cluster, {
    workers: 2,
    apis: 2,
    observers: 2,
    workspace,
  });
  ({ client, connection } = await cluster.connect());
}, 300_000);

afterAll(async () => {
  await connection?.close();
  await plane?.stop();
  await cluster?.stop();
  killAll(modelServerPids(`${workspace}--`));
});

const api = (index: number) => apiOf(plane, index);

async function view(index: number, name: string): Promise<View> {
  const res = await api(index)('GET', `${deployments}/${name}`);
  if (res.status !== 200)
    throw new Error(`GET ${name} via API ${index}: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body as unknown as View;
}

async function names(index: number): Promise<string[]> {
  const res = await api(index)('GET', `${deployments}?pageSize=100`);
  expect(res.status).toBe(200);
  return (res.body as { items: { name: string }[] }).items.map((d) => d.name).sort();
}

async function events(index: number, name: string): Promise<Event[]> {
  const res = await api(index)('GET', `${deployments}/${name}/events?pageSize=500`);
  expect(res.status).toBe(200);
  return (res.body as { items: Event[] }).items;
}

function count(list: Event[], reason: string, revision?: number): number {
  return list.filter(
    (e) => e.reason === reason && (revision === undefined || e.revision === revision),
  ).length;
}

function spec(model: string, minReplicas: number, maxReplicas = minReplicas) {
  return {
    model,
    cloud: { type: 'dedicated', accelerator: { type: 'L4', count: 1 } },
    scaling: { minReplicas, maxReplicas, metric: 'concurrency', threshold: 8 },
    readinessTimeoutSeconds: 60,
  };
}

async function infer(index: number, name: string): Promise<number> {
  const res = await fetch(
    `${plane.apiUrls[index]}/v1/endpoints/${workspace}/${name}/v1/completions`,
    {
      method: 'POST',
      headers: { authorization: `Bearer ${plane.key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ prompt: 'hello', max_tokens: 2 }),
    },
  );
  await res.arrayBuffer();
  return res.status;
}

it('runs the whole lifecycle through either API process', async () => {
  const created = await api(0)('POST', deployments, {
    name: 'either',
    ...spec('fast-model', 1, 2),
  });
  expect(created.status).toBe(202);
  // Created through one process, seen through the other.
  await waitFor(
    () => view(1, 'either'),
    (v) => v.health === 'Healthy',
    'Healthy via API 1',
    60_000,
  );
  expect(await infer(0, 'either')).toBe(200);
  expect(await infer(1, 'either')).toBe(200);

  const edited = await api(1)('PATCH', `${deployments}/either`, {
    spec: { model: 'fast-model-v2' },
  });
  expect(edited.status).toBe(202);
  await waitFor(
    () => view(0, 'either'),
    (v) => v.revision === 2 && v.state === 'running' && v.health === 'Healthy',
    'rolled out, seen via API 0',
    60_000,
  );
  expect((await api(0)('POST', `${deployments}/either/pause`)).status).toBe(202);
  await waitFor(
    () => view(1, 'either'),
    (v) => v.health === 'NotPresent',
    'paused via API 1',
  );
  expect((await api(1)('POST', `${deployments}/either/resume`)).status).toBe(202);
  await waitFor(
    () => view(0, 'either'),
    (v) => v.health === 'Healthy',
    'resumed',
    60_000,
  );

  const listed = await api(1)('GET', deployments);
  expect((listed.body as { items: { name: string }[] }).items.map((d) => d.name)).toContain(
    'either',
  );
  expect((await api(1)('DELETE', `${deployments}/either`)).status).toBe(202);
  for (const index of [0, 1]) {
    await waitFor(
      async () => (await api(index)('GET', `${deployments}/either`)).status,
      (s) => s === 404,
      `deleted, seen via API ${index}`,
      60_000,
    );
  }
  await waitFor(
    async () => modelServerPids(`${workspace}--either`),
    (p) => p.length === 0,
    'no replica left',
  );
}, 240_000);

it('finishes a rollout when a worker and an API process are SIGKILLed in the middle of it', async () => {
  const id = `${workspace}/roll`;
  expect(
    (await api(0)('POST', deployments, { name: 'roll', ...spec('slow-model', 2) })).status,
  ).toBe(202);
  await waitFor(
    () => view(0, 'roll'),
    (v) => v.health === 'Healthy',
    'Healthy',
    90_000,
  );

  expect(
    (await api(1)('PATCH', `${deployments}/roll`, { spec: { model: 'slow-model-v2' } })).status,
  ).toBe(202);
  // The new revision's replicas are loading (3 s): the rollout is mid-way.
  await waitFor(
    () => plane.provider.getRevision(id, 2),
    (s) => s.exists && s.ready === 0,
    'revision 2 created and loading',
  );
  // The worker that runs the rollout (it holds the child workflow) and the API that started it.
  const holder = await plane.workerHolding(client, rolloutWorkflowId(workspace, 'roll', 2));
  await Promise.all([plane.kill('worker', holder), plane.kill('api', 1)]);

  // The surviving worker takes the rollout over; the surviving API answers.
  const done = await waitFor(
    () => view(0, 'roll'),
    (v) => v.state === 'running' && v.revision === 2 && v.health === 'Healthy',
    'Healthy on revision 2',
    120_000,
  );
  expect(done.replicas).toEqual({ desired: 2, ready: 2 });
  expect(done.spec.model).toBe('slow-model-v2');
  const revisions = await plane.provider.listRevisions(id);
  expect(revisions.map((r) => [r.revision, r.desired, r.ready])).toEqual([[2, 2, 2]]);
  expect(modelServerPids(`${workspace}--roll`)).toHaveLength(2);
  expect(modelServerPids(replicaSetName(id, 1))).toEqual([]);
  const history = await events(0, 'roll');
  expect(count(history, 'RevisionCreated', 2)).toBe(1);
  expect(count(history, 'RolloutSucceeded', 2)).toBe(1);
  expect(count(history, 'Created')).toBe(1);

  // Back to two of each; the restarted API serves the deployment at once.
  await Promise.all([plane.startWorker(holder), plane.startApi(1)]);
  expect((await view(1, 'roll')).revision).toBe(2);
  expect(await infer(1, 'roll')).toBe(200);
}, 300_000);

it('finishes a scale step when a worker, an API process and the active observer are SIGKILLed in the middle of it', async () => {
  const id = `${workspace}/grow`;
  expect(
    (await api(1)('POST', deployments, { name: 'grow', ...spec('slow-model', 1, 4) })).status,
  ).toBe(202);
  await waitFor(
    () => view(1, 'grow'),
    (v) => v.health === 'Healthy',
    'Healthy',
    90_000,
  );

  const edited = await api(0)('PATCH', `${deployments}/grow`, {
    spec: { scaling: { minReplicas: 3, maxReplicas: 4, metric: 'concurrency', threshold: 8 } },
  });
  expect(edited.status).toBe(202);
  // Three replicas asked for, the new ones loading (3 s): the scale step is mid-way.
  await waitFor(
    () => plane.provider.getRevision(id, 1),
    (s) => s.desired === 3 && s.ready < 3,
    'scaling to 3',
  );
  // The worker that holds the deployment (its scale steps run in its workflow tasks), and the
  // active observer (it reports the new replicas ready): the standby takes its lease over.
  const holder = await plane.workerHolding(client, deploymentWorkflowId(workspace, 'grow'));
  const observer = await plane.activeObserver();
  expect(observer).toBeDefined();
  await Promise.all([
    plane.kill('worker', holder),
    plane.kill('api', 0),
    plane.kill('observer', observer!),
  ]);

  const done = await waitFor(
    () => view(1, 'grow'),
    (v) => v.replicas.desired === 3 && v.replicas.ready === 3 && v.health === 'Healthy',
    '3 ready replicas',
    120_000,
  );
  expect(done.revision).toBe(1);
  expect(done.spec.scaling.minReplicas).toBe(3);
  expect(
    (await plane.provider.listRevisions(id)).map((r) => [r.revision, r.desired, r.ready]),
  ).toEqual([[1, 3, 3]]);
  expect(modelServerPids(`${workspace}--grow`)).toHaveLength(3);
  await waitFor(
    () => plane.activeObserver(),
    (active) => active !== undefined && active !== observer,
    'the standby observer active',
    60_000,
  );
  await Promise.all([plane.startWorker(holder), plane.startApi(0), plane.startObserver(observer!)]);
  expect((await view(0, 'grow')).replicas).toEqual({ desired: 3, ready: 3 });
}, 300_000);

it('converges after the Temporal server is killed and started again mid-rollout', async () => {
  const id = `${workspace}/durable`;
  expect(
    (await api(0)('POST', deployments, { name: 'durable', ...spec('slow-model', 1) })).status,
  ).toBe(202);
  await waitFor(
    () => view(0, 'durable'),
    (v) => v.health === 'Healthy',
    'Healthy',
    90_000,
  );
  expect(
    (await api(1)('PATCH', `${deployments}/durable`, { spec: { model: 'slow-model-v2' } })).status,
  ).toBe(202);
  await waitFor(
    () => plane.provider.getRevision(id, 2),
    (s) => s.exists && s.ready === 0,
    'revision 2 created and loading',
  );

  const before = await names(0);
  await cluster.stopServer('SIGKILL');
  // With Temporal down, an API process says so (503, naming Temporal) instead of hanging.
  const down = await api(0)('GET', `${deployments}/durable`);
  expect(down.status).toBe(503);
  expect(JSON.stringify(down.body)).toMatch(/temporal/i);
  await cluster.startServer();

  const done = await waitFor(
    () => view(1, 'durable'),
    (v) => v.state === 'running' && v.revision === 2 && v.health === 'Healthy',
    'Healthy on revision 2 after the server restart',
    180_000,
  );
  expect(done.replicas).toEqual({ desired: 1, ready: 1 });
  expect(
    (await plane.provider.listRevisions(id)).map((r) => [r.revision, r.desired, r.ready]),
  ).toEqual([[2, 1, 1]]);
  const history = await events(1, 'durable');
  expect(count(history, 'RolloutSucceeded', 2)).toBe(1);
  // Everything from before the restart is still there and still served; new work is accepted.
  expect(await names(1)).toEqual(before);
  for (const name of before) {
    await waitFor(
      () => view(0, name),
      (v) => v.health === 'Healthy',
      `${name} Healthy`,
      60_000,
    );
  }
  expect(
    (await api(1)('POST', deployments, { name: 'after', ...spec('fast-model', 1) })).status,
  ).toBe(202);
  await waitFor(
    () => view(0, 'after'),
    (v) => v.health === 'Healthy',
    'new deployment Healthy',
    60_000,
  );
  expect(await infer(0, 'after')).toBe(200);
}, 300_000);
