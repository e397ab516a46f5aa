/**
 * Continue-as-new on a real Temporal dev server that suggests it after 40 history events
 * (production uses the server default): a deployment and the quota ledger go through several
 * runs, and nothing a user can see changes at the boundary.
 */
import { defaultPayloadConverter } from '@temporalio/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeploymentWorkflowInput } from '../../workflows/deployment/definitions';
import { deploymentWorkflowId } from '../../workflows/deployment/definitions';
import type { DeploymentEvent, DeploymentView } from '../../workflows/domain/deployment';
import type { QuotaLedgerInput } from '../../workflows/quota/definitions';
import { quotaWorkflowId } from '../../workflows/quota/definitions';
import { dedicatedSpec } from '../helpers/catalog';
import { FakeProvider } from '../helpers/fake-provider';
import { startHarness, waitFor, type Harness } from '../helpers/harness';
import { uniqueName } from '../helpers/temporal';

const SUGGEST_CONTINUE_AS_NEW_AFTER = 40;

let h: Harness;
const provider = new FakeProvider();

beforeAll(async () => {
  h = await startHarness({
    limits: { H100: 8 },
    devServerArgs: [
      '--dynamic-config-value',
      `limit.historyCount.suggestContinueAsNew=${SUGGEST_CONTINUE_AS_NEW_AFTER}`,
    ],
  });
  await h.startWorker(provider);
});
afterAll(async () => h?.stop());

interface Run {
  runId: string;
  status: string;
  startTime: Date;
}

/** Every run of a workflow ID (open and closed), oldest first. */
async function runsOf(workflowId: string): Promise<Run[]> {
  const runs: Run[] = [];
  for await (const e of h.env.client.workflow.list({ query: `WorkflowId = '${workflowId}'` })) {
    runs.push({ runId: e.runId, status: e.status.name, startTime: e.startTime });
  }
  return runs.sort((a, b) => a.startTime.getTime() - b.startTime.getTime());
}

const continuedAsNew = (runs: Run[]) => runs.filter((r) => r.status === 'CONTINUED_AS_NEW');

/** The input a closed run handed to the next one (its WorkflowExecutionContinuedAsNew event). */
async function handedOver<T>(workflowId: string, runId: string): Promise<T> {
  const history = await h.env.client.workflow.getHandle(workflowId, runId).fetchHistory();
  const last = history.events?.at(-1)?.workflowExecutionContinuedAsNewEventAttributes;
  const payload = last?.input?.payloads?.[0];
  if (!payload) throw new Error(`run ${runId} of ${workflowId} did not continue as new`);
  return defaultPayloadConverter.fromPayload<T>(payload);
}

const L4 = { type: 'dedicated', accelerator: { type: 'L4', count: 1 } };

function until(ws: string, name: string, predicate: (v: DeploymentView) => boolean, what: string) {
  return waitFor(() => h.service.get(ws, name), predicate, `${name}: ${what}`, 20_000);
}

const healthyWith = (replicas: number, revision?: number) => (v: DeploymentView) =>
  v.state === 'running' &&
  v.health === 'Healthy' &&
  v.replicas.ready === replicas &&
  v.replicas.desired === replicas &&
  (revision === undefined || v.revision === revision);

/**
 * Scaling edits, a crash, a rollout and a pause / resume: enough history for several runs.
 * Ends on revision 2 with scaling 1..2 and, with no traffic observed, 1 of 1 replica ready
 * (the autoscaler takes an idle deployment to minReplicas).
 */
async function driveThroughSeveralRuns(ws: string, name: string): Promise<{ crashes: number }> {
  const id = `${ws}/${name}`;
  await h.service.create(ws, {
    name,
    ...dedicatedSpec({ cloud: L4, scaling: { minReplicas: 1, maxReplicas: 4 } }),
  });
  await until(ws, name, healthyWith(1), 'Healthy');
  for (const minReplicas of [2, 3]) {
    await h.service.edit(ws, name, { spec: { scaling: { minReplicas } } });
    await until(ws, name, healthyWith(minReplicas), `${minReplicas} ready`);
  }
  provider.crashReplica(id, 1);
  await waitFor(
    () => h.service.events(ws, name),
    (events) => events.some((e) => e.reason === 'ReplicaRestarted'),
    'a restart event',
  );
  await until(ws, name, healthyWith(3), 'Healthy after the crash');
  await h.service.edit(ws, name, { spec: { model: 'fast-model-v2' } });
  await until(ws, name, healthyWith(3, 2), 'revision 2 live');
  await h.service.pause(ws, name);
  await until(ws, name, (v) => v.health === 'NotPresent', 'paused');
  await h.service.resume(ws, name);
  await until(ws, name, healthyWith(3, 2), 'Healthy after resume');
  await h.service.edit(ws, name, {
    spec: { scaling: { minReplicas: 1, maxReplicas: 2 }, tags: { team: 'search' } },
  });
  await until(ws, name, healthyWith(1), '1 ready: no load, so minReplicas');
  return { crashes: 1 };
}

describe('continue-as-new', () => {
  it('carries state, revision, spec, replicas and the whole events log into later runs', async () => {
    const ws = uniqueName('can');
    const name = 'model';
    const workflowId = deploymentWorkflowId(ws, name);
    const { crashes } = await driveThroughSeveralRuns(ws, name);

    // Read together (a run may still continue as new on a late signal between two reads).
    const { runs, current } = await waitFor(
      async () => ({
        runs: await runsOf(workflowId),
        current: await h.env.client.workflow.getHandle(workflowId).describe(),
      }),
      ({ runs: r, current: c }) =>
        continuedAsNew(r).length >= 2 &&
        r.at(-1)?.status === 'RUNNING' &&
        c.runId === r.at(-1)?.runId,
      'two runs continued as new, the last one running',
    );
    expect(current.runId).toBe(runs.at(-1)!.runId);
    expect(current.runId).not.toBe(runs[0]!.runId);

    const view = await h.service.get(ws, name);
    expect(view).toMatchObject({
      state: 'running',
      health: 'Healthy',
      revision: 2,
      replicas: { desired: 1, ready: 1 },
    });
    expect(view.spec).toMatchObject({
      model: 'fast-model-v2',
      scaling: { minReplicas: 1, maxReplicas: 2 },
      tags: { team: 'search' },
      cloud: L4,
    });

    // what the first run handed over is still the start of the events log, and nothing since is lost
    const firstRun = await handedOver<DeploymentWorkflowInput>(workflowId, runs[0]!.runId);
    expect(firstRun.carried?.createdAt).toBe(view.createdAt);
    const events = await h.service.events(ws, name);
    expect(firstRun.carried!.events.length).toBeGreaterThan(0);
    expect(events.slice(0, firstRun.carried!.events.length)).toEqual(firstRun.carried!.events);
    const reasons = events.map((e: DeploymentEvent) => e.reason);
    expect(reasons[0]).toBe('Created');
    for (const reason of [
      'Provisioned',
      'ScaledOut',
      'ReplicaRestarted',
      'RolloutSucceeded',
      'Paused',
      'Resumed',
      'ScaledIn',
    ]) {
      expect(reasons, reason).toContain(reason);
    }
    // a run that forgot the restart count would log the same crash again
    expect(reasons.filter((r) => r === 'ReplicaRestarted')).toHaveLength(crashes);

    // still listed by its search attributes
    const listed = await h.service.list(ws, { state: 'running', pageSize: 10 });
    expect(listed.items.map((v) => v.name)).toEqual([name]);
  });

  it('answers edits and deletes correctly after continuing as new', async () => {
    const ws = uniqueName('can-then');
    const name = 'model';
    const id = `${ws}/${name}`;
    const workflowId = deploymentWorkflowId(ws, name);
    await driveThroughSeveralRuns(ws, name);
    await waitFor(
      () => runsOf(workflowId),
      (r) => continuedAsNew(r).length >= 2,
      'two runs continued as new',
    );

    // a scaling edit applies in place, a model edit is revision 3 (revisions are never reused)
    expect(
      await h.service.edit(ws, name, { spec: { scaling: { minReplicas: 3, maxReplicas: 3 } } }),
    ).toMatchObject({ revision: 2, replicas: { desired: 3 } });
    await until(ws, name, healthyWith(3, 2), '3 ready');
    expect(await h.service.edit(ws, name, { spec: { model: 'fast-model' } })).toMatchObject({
      revision: 3,
      state: 'updating',
    });
    await until(ws, name, healthyWith(3, 3), 'revision 3 live');
    expect(provider.revisionsOf(id)).toEqual([3]);
    // a rejected edit still rejects
    await expect(
      h.service.edit(ws, name, { spec: { scaling: { minReplicas: 9 } } }),
    ).rejects.toMatchObject({ code: 'invalid_spec' });

    expect(await h.service.delete(ws, name)).toMatchObject({ state: 'deleting' });
    await h.env.client.workflow.getHandle(workflowId).result();
    expect(provider.revisionsOf(id)).toEqual([]);
    expect(provider.routes.has(id)).toBe(false);
    await expect(h.service.get(ws, name)).rejects.toMatchObject({ code: 'not_found' });
    expect((await h.service.quotas(ws)).filter((q) => q.reserved > 0)).toEqual([]);
  });

  it('keeps every quota reservation across the ledger continuing as new', async () => {
    const ws = uniqueName('ledger');
    const h100 = dedicatedSpec({
      cloud: { type: 'dedicated', accelerator: { type: 'H100', count: 1 } },
      scaling: { minReplicas: 1, maxReplicas: 1 },
    });
    const names = Array.from({ length: 8 }, (_, i) => `d${i}`);
    for (const name of names) await h.service.create(ws, { name, ...h100 });
    for (const name of names.slice(0, 3)) {
      await h.service.delete(ws, name);
      await h.env.client.workflow.getHandle(deploymentWorkflowId(ws, name)).result();
    }
    for (const name of ['e0', 'e1', 'e2']) await h.service.create(ws, { name, ...h100 });

    const runs = await waitFor(
      () => runsOf(quotaWorkflowId(ws)),
      (r) => continuedAsNew(r).length >= 1,
      'the ledger continued as new',
    );
    const handed = await handedOver<QuotaLedgerInput>(
      quotaWorkflowId(ws),
      continuedAsNew(runs)[0]!.runId,
    );
    expect(handed.reservations?.length).toBeGreaterThan(0);

    expect((await h.service.quotas(ws)).find((q) => q.accelerator === 'H100')).toMatchObject({
      reserved: 8,
      available: 0,
    });
    await expect(h.service.create(ws, { name: 'one-too-many', ...h100 })).rejects.toMatchObject({
      code: 'quota_exceeded',
      message: expect.stringMatching(/0 of 8 available/),
    });
  });
});
