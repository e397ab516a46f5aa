/**
 * The deployment lifecycle on the Kubernetes provider: the real workflows on a dev server, the
 * real provider on the local control plane with kwok GPU nodes. The worker runs in this process,
 * except in the crash drill, which kills worker processes.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { AppsV1Api, CoreV1Api, type V1Pod } from '@kubernetes/client-node';
import { DeploymentService } from '../../api/deployment-service';
import { KubernetesProvider } from '../../activities/providers/kubernetes';
import {
  DEPLOYMENT_LABEL,
  REVISION_LABEL,
  deploymentLabel,
  objectName,
  revisionName,
} from '../../activities/providers/kubernetes-manifests';
import { deploymentWorkflowId, rolloutWorkflowId } from '../../workflows/deployment/definitions';
import { observeMetricsSignal } from '../../workflows/deployment/metrics';
import type { DeploymentEvent } from '../../workflows/domain/deployment';
import { TEST_CATALOG, dedicatedSpec } from '../helpers/catalog';
import { startHarness, waitFor, type Harness } from '../helpers/harness';
import { startControlPlane, type ControlPlane } from '../helpers/kubernetes';
import { observation } from '../helpers/observations';
import { DIST, startNode, type RunningProcess } from '../helpers/processes';

let cp: ControlPlane;
let h: Harness;
let provider: KubernetesProvider;
const namespace = 'deployments';
const ws = 'k8s';
const H100 = { type: 'dedicated', accelerator: { type: 'H100', count: 2 } };
/** Worker processes the crash drill starts (killed at the end whatever happens). */
const workerProcesses: RunningProcess[] = [];
let tmpDir: string | undefined;

beforeAll(async () => {
  cp = await startControlPlane();
  await cp.kubectl('create', 'namespace', namespace);
  h = await startHarness();
  provider = new KubernetesProvider({ kubeconfig: cp.kubeconfig, namespace });
  await h.startWorker(provider);
}, 180_000);
afterAll(async () => {
  for (const w of workerProcesses) await w.stop('SIGKILL');
  await h?.stop();
  await cp?.stop();
  if (tmpDir) fs.rmSync(tmpDir, { recursive: true, force: true });
}, 60_000);

const get = (name: string) => () => h.service.get(ws, name);
const names = async (kind: string) =>
  (await cp.kubectl('get', kind, '-n', namespace, '-o', 'name')).trim().split('\n').filter(Boolean);

/** The revision the deployment's Service routes to. */
async function routedRevision(name: string, workspace = ws): Promise<string | undefined> {
  const selector = await cp.kubectl(
    'get',
    'service',
    objectName(`${workspace}/${name}`),
    '-n',
    namespace,
    '-o',
    'jsonpath={.spec.selector}',
  );
  return (JSON.parse(selector) as Record<string, string>)['model-deployments.dev/revision'];
}

/** Deletes the deployment and waits until nothing it created is left in the cluster. */
async function deleteAndCheckNothingLeft(
  name: string,
  service = h.service,
  workspace = ws,
): Promise<void> {
  await service.delete(workspace, name);
  await waitFor(
    () => names('deployments,services,pods'),
    (all) => all.length === 0,
    `nothing left after deleting ${name}`,
    30_000,
  );
}

/** A revision's apps/v1 Deployment as the cluster has it: replicas asked for and ready. */
async function kubeDeployment(
  name: string,
  revision: number,
  workspace = ws,
): Promise<{ replicas: number; ready: number }> {
  const d = await cp.kubeconfig.makeApiClient(AppsV1Api).readNamespacedDeployment({
    name: revisionName(`${workspace}/${name}`, revision),
    namespace,
  });
  return { replicas: d.spec?.replicas ?? 0, ready: d.status?.readyReplicas ?? 0 };
}

/** The deployment's pods that are not on their way out. */
async function pods(name: string, workspace = ws): Promise<V1Pod[]> {
  const list = await cp.kubeconfig.makeApiClient(CoreV1Api).listNamespacedPod({
    namespace,
    labelSelector: `${DEPLOYMENT_LABEL}=${deploymentLabel(`${workspace}/${name}`)}`,
  });
  return list.items.filter((p) => !p.metadata?.deletionTimestamp);
}

/** Each pod as [its revision, whether it is Ready]. */
const revisionAndReady = (list: V1Pod[]) =>
  list.map((p) => [
    p.metadata?.labels?.[REVISION_LABEL],
    p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false,
  ]);

/** Restarts the workflow counted, from its Restart events ("N replica restart(s)..."). */
const restartsCounted = (events: DeploymentEvent[]) =>
  events
    .filter((e) => e.type === 'Restart')
    .reduce((sum, e) => sum + Number(/^(\d+) replica restart/.exec(e.message)?.[1] ?? NaN), 0);

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

it('counts the container restarts of a Ready pod as Restart events and stays Healthy', async () => {
  // kwok restarts the containers of this model's pods 3 times, every 2-3 s, once they are Ready.
  await h.service.create(ws, {
    name: 'flaky',
    ...dedicatedSpec({ model: 'restarting-model', cloud: H100 }),
  });
  await waitFor(get('flaky'), (v) => v.health === 'Healthy', 'Healthy', 30_000);
  const events = await waitFor(
    () => h.service.events(ws, 'flaky'),
    (e) => restartsCounted(e) === 3,
    '3 restarts counted',
    40_000,
  );
  for (const e of events.filter((e) => e.type === 'Restart'))
    expect(e).toMatchObject({
      reason: 'ReplicaRestarted',
      revision: 1,
      message: expect.stringMatching(/: container server of pod \S+ ended: Error \(exit code 1\)$/),
    });
  const running = await pods('flaky');
  expect(revisionAndReady(running)).toEqual([['1', true]]);
  expect(running[0]?.status?.containerStatuses).toMatchObject([
    { name: 'server', restartCount: 3, lastState: { terminated: { reason: 'Error' } } },
  ]);
  expect(await h.service.get(ws, 'flaky')).toMatchObject({
    health: 'Healthy',
    replicas: { desired: 1, ready: 1 },
    restarts: 3,
  });
  await deleteAndCheckNothingLeft('flaky');
}, 90_000);

it('scales out and back in through the autoscaler: the Deployment and its ready pods follow', async () => {
  await h.service.create(ws, {
    name: 'elastic',
    ...dedicatedSpec({
      cloud: H100,
      scaling: { minReplicas: 1, maxReplicas: 3, metric: 'concurrency', threshold: 8 },
      autoscalingPolicy: {
        scaleUp: { stabilizationWindowSeconds: 0 },
        scaleDown: { stabilizationWindowSeconds: 2 },
      },
    }),
  });
  await waitFor(get('elastic'), (v) => v.health === 'Healthy', 'Healthy', 30_000);
  // The Deployment's status comes from its controller, a moment after the pods turn Ready.
  await waitFor(
    () => kubeDeployment('elastic', 1),
    (d) => d.replicas === 1 && d.ready === 1,
    'the Deployment at 1 ready replica',
  );
  const handle = h.env.client.workflow.getHandle(deploymentWorkflowId(ws, 'elastic'));

  // 20 in flight on one replica, 8 per replica wanted: 3 replicas.
  await handle.signal(observeMetricsSignal, observation([20]));
  await waitFor(
    () => kubeDeployment('elastic', 1),
    (d) => d.replicas === 3 && d.ready === 3,
    'the Deployment at 3 ready replicas',
    30_000,
  );
  expect(revisionAndReady(await pods('elastic'))).toEqual([
    ['1', true],
    ['1', true],
    ['1', true],
  ]);
  await waitFor(
    get('elastic'),
    (v) => v.health === 'Healthy' && v.replicas.desired === 3 && v.replicas.ready === 3,
    'the deployment Healthy at 3',
    20_000,
  );

  // Load falls to 1 in flight per replica: back to 1 after the 2 s window.
  await handle.signal(observeMetricsSignal, observation([1, 1, 1]));
  await waitFor(
    () => kubeDeployment('elastic', 1),
    (d) => d.replicas === 1 && d.ready === 1,
    'the Deployment back at 1 replica',
    30_000,
  );
  await waitFor(
    () => pods('elastic'),
    (p) => p.length === 1,
    'the other pods gone',
    20_000,
  );
  await waitFor(
    get('elastic'),
    (v) => v.health === 'Healthy' && v.replicas.desired === 1 && v.replicas.ready === 1,
    'the deployment Healthy at 1',
  );
  const scaling = (await h.service.events(ws, 'elastic')).filter(
    (e) => e.type === 'ScaleOut' || e.type === 'ScaleIn',
  );
  expect(scaling.map((e) => [e.type, /replicas (\d+ -> \d+)/.exec(e.message)?.[1]])).toEqual([
    ['ScaleOut', '1 -> 3'],
    ['ScaleIn', '3 -> 1'],
  ]);
  expect(await names('deployments')).toEqual([
    `deployment.apps/${revisionName(`${ws}/elastic`, 1)}`,
  ]);
  await deleteAndCheckNothingLeft('elastic');
}, 120_000);

it('finishes a rollout interrupted by a worker crash (SIGKILL): nothing created twice, nothing left over', async () => {
  // Worker processes as in production (RUNTIME_PROVIDER=kubernetes), on their own task queue.
  tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'md-k8s-crash-'));
  const catalogFile = path.join(tmpDir, 'catalog.json');
  fs.writeFileSync(catalogFile, JSON.stringify(TEST_CATALOG));
  const taskQueue = `${h.taskQueue}-processes`;
  const startWorker = async () => {
    const worker = await startNode(
      path.join(DIST, 'worker', 'main.js'),
      {
        TEMPORAL_ADDRESS: h.env.address,
        TASK_QUEUE: taskQueue,
        RUNTIME_PROVIDER: 'kubernetes',
        KUBECONFIG: cp.kubeconfigPath,
        KUBE_NAMESPACE: namespace,
        CATALOG_FILE: catalogFile,
        DATA_DIR: tmpDir,
      },
      (output) => output.includes('polling task queue'),
      'the worker',
      60_000,
    );
    workerProcesses.push(worker);
    return worker;
  };
  const service = new DeploymentService({
    client: h.env.client,
    taskQueue,
    catalog: TEST_CATALOG,
    limitFor: () => 1000,
    answerTimeoutMs: 2000, // while no worker runs, reads fail fast and waitFor tries again
  });
  const crashWs = 'k8s-crash';
  const id = `${crashWs}/sturdy`;
  const first = await startWorker();
  await service.create(crashWs, {
    name: 'sturdy',
    ...dedicatedSpec({
      model: 'fast-model',
      cloud: H100,
      scaling: { minReplicas: 2, maxReplicas: 2 },
    }),
  });
  await waitFor(
    () => service.get(crashWs, 'sturdy'),
    (v) => v.health === 'Healthy',
    'Healthy',
    30_000,
  );

  await service.edit(crashWs, 'sturdy', { spec: { model: 'slow-model-v2' } });
  // The rollout applied revision 2 and waits for its pods to load (3 s). Kill the worker now.
  // (Killed inside applyRevision instead, the retry would wait out its 1-minute timeout.)
  const rollout = h.env.client.workflow.getHandle(rolloutWorkflowId(crashWs, 'sturdy', 2));
  await waitFor(
    () => rollout.describe(),
    (d) =>
      d.raw.pendingActivities?.some((a) => a.activityType?.name === 'waitForRevisionReady') ??
      false,
    'the rollout waiting for revision 2',
  );
  expect(await provider.getRevision(id, 2)).toMatchObject({ exists: true, desired: 2 });
  await first.stop('SIGKILL');
  await startWorker();

  const done = await waitFor(
    () => service.get(crashWs, 'sturdy'),
    (v) => v.state === 'running' && v.revision === 2 && v.health === 'Healthy',
    'Healthy on revision 2',
    90_000,
  );
  expect(done).toMatchObject({
    spec: { model: 'slow-model-v2' },
    replicas: { desired: 2, ready: 2 },
  });
  await waitFor(
    () => names('deployments'),
    (d) => d.length === 1,
    'revision 1 removed',
    30_000,
  );
  // Exactly one Deployment (of the live revision, at the desired count), one ReplicaSet, one
  // Service routing to it, and its two pods: a retried apply never made a second of anything.
  expect(await names('deployments')).toEqual([`deployment.apps/${revisionName(id, 2)}`]);
  await waitFor(
    () => kubeDeployment('sturdy', 2, crashWs),
    (d) => d.replicas === 2 && d.ready === 2,
    'the Deployment of revision 2 at 2 ready replicas',
  );
  expect(await names('replicasets')).toHaveLength(1);
  expect(await names('services')).toEqual([`service/${objectName(id)}`]);
  expect(await routedRevision('sturdy', crashWs)).toBe('2');
  await waitFor(
    () => pods('sturdy', crashWs),
    (p) => p.length === 2,
    'revision 1 pods gone',
    20_000,
  );
  expect(revisionAndReady(await pods('sturdy', crashWs))).toEqual([
    ['2', true],
    ['2', true],
  ]);
  const reasons = (await service.events(crashWs, 'sturdy')).map((e) => e.reason);
  expect(reasons).toEqual(
    expect.arrayContaining([
      'RevisionCreated',
      'TrafficSwitched',
      'OldRevisionRemoved',
      'RolloutSucceeded',
    ]),
  );
  await deleteAndCheckNothingLeft('sturdy', service, crashWs);
}, 180_000);
