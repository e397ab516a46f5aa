/**
 * Fault: the worker process is killed (SIGKILL) in the middle of a rolling update and a new one
 * is started. The deployment must end Healthy on the new revision with exactly the desired
 * replicas, and no replica process of the old revision (or a duplicate) may be left behind.
 */
import fs from 'node:fs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { DeploymentService } from '../../api/deployment-service';
import { LocalRuntimeProvider, replicaSetName } from '../../activities/providers/local';
import { TEST_CATALOG, dedicatedSpec } from '../helpers/catalog';
import { waitFor } from '../helpers/harness';
import {
  freePort,
  killAll,
  modelServerPids,
  startAgent,
  startWorkerProcess,
  workerProcessEnv,
  type RunningProcess,
} from '../helpers/processes';
import { startDevServer } from '../helpers/temporal';

let env: TestWorkflowEnvironment;
let agent: RunningProcess;
let dataDir: string;
let workerEnv: NodeJS.ProcessEnv;
const workers: RunningProcess[] = [];
const ws = `crash-${Date.now().toString(36)}`;
const taskQueue = `crash-${process.pid}`;

function startWorker(): Promise<RunningProcess> {
  return startWorkerProcess(workerEnv).then((w) => (workers.push(w), w));
}

beforeAll(async () => {
  const agentPort = await freePort();
  env = await startDevServer();
  ({ dataDir, env: workerEnv } = workerProcessEnv('md-crash-', env.address, taskQueue, agentPort));
  agent = await startAgent(dataDir, agentPort);
});

afterAll(async () => {
  for (const w of workers) await w.stop('SIGKILL');
  await env?.teardown();
  await agent?.stop();
  killAll(modelServerPids(`${ws}--`));
  fs.rmSync(dataDir, { recursive: true, force: true });
});

it('finishes a rollout interrupted by a worker crash: new revision, desired replicas, no orphans', async () => {
  const service = new DeploymentService({
    client: env.client,
    taskQueue,
    catalog: TEST_CATALOG,
    limitFor: () => 100,
    answerTimeoutMs: 2000,
  });
  const provider = new LocalRuntimeProvider(workerEnv.LOCAL_AGENT_URL!);
  const first = await startWorker();
  const id = `${ws}/llm`;

  await service.create(ws, {
    name: 'llm',
    ...dedicatedSpec({ model: 'fast-model', scaling: { minReplicas: 2, maxReplicas: 2 } }),
  });
  await waitFor(
    () => service.get(ws, 'llm'),
    (v) => v.health === 'Healthy',
    'Healthy',
    30_000,
  );

  await service.edit(ws, 'llm', { spec: { model: 'slow-model-v2' } });
  // The new revision's replicas are loading (3 s): the rollout is mid-way. Kill the worker now.
  await waitFor(
    () => provider.getRevision(id, 2),
    (s) => s.exists && s.ready === 0,
    'revision 2 created and loading',
  );
  await first.stop('SIGKILL');
  // With no worker, the API says so instead of hanging (how soon: npm run bench:no-worker-answer).
  await expect(service.get(ws, 'llm')).rejects.toMatchObject({
    code: 'unavailable',
    message: expect.stringMatching(/did not answer within 2 s: is a worker running/),
  });
  await startWorker();

  const done = await waitFor(
    () => service.get(ws, 'llm'),
    (v) => v.state === 'running' && v.revision === 2 && v.health === 'Healthy',
    'Healthy on revision 2',
    60_000,
  );
  expect(done.replicas).toEqual({ desired: 2, ready: 2 });
  expect(done.spec.model).toBe('slow-model-v2');

  const revisions = await provider.listRevisions(id);
  expect(revisions.map((r) => [r.revision, r.desired, r.ready])).toEqual([[2, 2, 2]]);
  expect((await provider.endpoints(id)).revision).toBe(2);
  const pids = modelServerPids(`${ws}--`);
  expect(pids).toHaveLength(2);
  expect(modelServerPids(replicaSetName(id, 1))).toEqual([]);
  const reasons = (await service.events(ws, 'llm')).map((e) => e.reason);
  expect(reasons).toEqual(
    expect.arrayContaining([
      'RevisionCreated',
      'RevisionReady',
      'TrafficSwitched',
      'OldRevisionRemoved',
      'RolloutSucceeded',
    ]),
  );
}, 120_000);
