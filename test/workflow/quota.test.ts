/**
 * GPU quota on a real Temporal dev server: each dedicated deployment reserves
 * accelerator.count x scaling.maxReplicas GPUs of its type in its workspace, through the
 * per-workspace quota workflow (race-free), and gives them back on delete and pause.
 *
 * Chosen semantics (documented here and in the Paused event): pause releases the reservation,
 * resume checks quota again and fails with quota_exceeded, leaving the deployment paused, when
 * the GPUs were taken meanwhile.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DomainError } from '../../api/deployment-service';
import { deploymentWorkflowId } from '../../workflows/deployment/definitions';
import type { DeploymentView } from '../../workflows/domain/deployment';
import { quotaWorkflowId, usageQuery } from '../../workflows/quota/definitions';
import { dedicatedSpec } from '../helpers/catalog';
import { FakeProvider } from '../helpers/fake-provider';
import { rejection, startHarness, waitFor, type Harness } from '../helpers/harness';
import { uniqueName } from '../helpers/temporal';

let h: Harness;
const provider = new FakeProvider();
const LIMIT = 8;

beforeAll(async () => {
  h = await startHarness({ limits: { H100: LIMIT } });
  await h.startWorker(provider);
});
afterAll(async () => h?.stop());

/** A dedicated H100 spec: it reserves count x maxReplicas GPUs. */
function h100(maxReplicas: number, count = 1, overrides: Record<string, unknown> = {}) {
  return dedicatedSpec({
    cloud: { type: 'dedicated', accelerator: { type: 'H100', count } },
    scaling: { minReplicas: 1, maxReplicas, metric: 'concurrency', threshold: 8 },
    ...overrides,
  });
}

async function h100Quota(ws: string) {
  const line = (await h.service.quotas(ws)).find((q) => q.accelerator === 'H100');
  if (!line) throw new Error('no H100 line in the quotas');
  return line;
}

/** Who holds a reservation in the ledger (deployment workflow IDs), sorted. */
async function holders(ws: string): Promise<string[]> {
  const usage = await h.env.client.workflow.getHandle(quotaWorkflowId(ws)).query(usageQuery);
  return usage.reservations.map((r) => r.holder).sort();
}

async function createHealthy(
  ws: string,
  name: string,
  spec: Record<string, unknown>,
): Promise<DeploymentView> {
  await h.service.create(ws, { name, ...spec });
  return waitFor(
    () => h.service.get(ws, name),
    (v) => v.health === 'Healthy',
    `${name} Healthy`,
  );
}

async function deleteAndWait(ws: string, name: string): Promise<void> {
  await h.service.delete(ws, name);
  await h.env.client.workflow.getHandle(deploymentWorkflowId(ws, name)).result();
}

/** Reads every 50 ms for `ms`; returns the first value that breaks the predicate, else the last. */
async function holdsFor<T>(
  read: () => Promise<T> | T,
  predicate: (value: T) => boolean,
  ms: number,
): Promise<T> {
  const until = Date.now() + ms;
  let last = await read();
  while (Date.now() < until) {
    if (!predicate(last)) return last;
    await new Promise((r) => setTimeout(r, 50));
    last = await read();
  }
  return last;
}

describe('GPU quota', () => {
  it('admits exactly as many concurrent creates as the workspace limit allows and rejects the rest with what is left', async () => {
    const ws = uniqueName('race');
    const names = Array.from({ length: 12 }, (_, i) => `d${i}`);
    const results = await Promise.allSettled(
      names.map((name) => h.service.create(ws, { name, ...h100(2) })),
    );

    const admitted = names.filter((_, i) => results[i]!.status === 'fulfilled');
    const rejected = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
    expect(admitted).toHaveLength(4);
    expect(rejected).toHaveLength(8);
    for (const err of rejected) {
      expect(err).toBeInstanceOf(DomainError);
      expect(err).toMatchObject({
        code: 'quota_exceeded',
        message: expect.stringMatching(/H100: 2 GPUs requested .*0 of 8 available/),
      });
    }
    expect(await h100Quota(ws)).toEqual({
      accelerator: 'H100',
      limit: 8,
      reserved: 8,
      available: 0,
    });
    expect(await holders(ws)).toEqual(
      admitted.map((name) => deploymentWorkflowId(ws, name)).sort(),
    );
    // the rejected deployments started nothing
    const rejectedNames = names.filter((name) => !admitted.includes(name));
    expect(rejectedNames.flatMap((name) => provider.revisionsOf(`${ws}/${name}`))).toEqual([]);
  });

  it('releases the GPUs of a deleted deployment, so a new create fits again', async () => {
    const ws = uniqueName('delete');
    for (const name of ['a', 'b', 'c', 'd']) await h.service.create(ws, { name, ...h100(2) });
    await expect(h.service.create(ws, { name: 'e', ...h100(2) })).rejects.toMatchObject({
      code: 'quota_exceeded',
    });

    await deleteAndWait(ws, 'b');
    expect(await h100Quota(ws)).toMatchObject({ reserved: 6, available: 2 });

    await h.service.create(ws, { name: 'e', ...h100(2) });
    expect(await h100Quota(ws)).toMatchObject({ reserved: 8, available: 0 });
    expect(await holders(ws)).toEqual(['a', 'c', 'd', 'e'].map((n) => deploymentWorkflowId(ws, n)));
  });

  it('releases the reservation on pause and reserves it again on resume', async () => {
    const ws = uniqueName('pause');
    await createHealthy(ws, 'a', h100(2, 2)); // 2 x 2 = 4 GPUs
    expect(await h100Quota(ws)).toMatchObject({ reserved: 4 });

    await h.service.pause(ws, 'a');
    await waitFor(
      () => h100Quota(ws),
      (q) => q.reserved === 0,
      'the reservation released',
    );

    const resumed = await h.service.resume(ws, 'a');
    expect(resumed.state).toBe('running');
    expect(await h100Quota(ws)).toMatchObject({ reserved: 4, available: 4 });
    await waitFor(
      () => h.service.get(ws, 'a'),
      (v) => v.health === 'Healthy',
      'Healthy after resume',
    );
  });

  it('refuses to resume when the GPUs were taken while paused, and the deployment stays paused', async () => {
    const ws = uniqueName('taken');
    await createHealthy(ws, 'a', h100(4)); // 4 GPUs
    await h.service.pause(ws, 'a');
    await waitFor(
      () => h100Quota(ws),
      (q) => q.reserved === 0,
      'the reservation released',
    );
    await h.service.create(ws, { name: 'b', ...h100(3, 2) }); // 6 GPUs: 2 left

    const err = await rejection(h.service.resume(ws, 'a'));
    expect(err.code).toBe('quota_exceeded');
    expect(err.message).toMatch(/H100: 4 GPUs requested .*2 of 8 available/);
    expect(await h.service.get(ws, 'a')).toMatchObject({ state: 'paused', health: 'NotPresent' });
    expect(await h100Quota(ws)).toMatchObject({ reserved: 6 });
    expect((await h.service.events(ws, 'a')).map((e) => e.reason)).not.toContain('Resumed');

    // once the GPUs are free again, resume succeeds
    await deleteAndWait(ws, 'b');
    expect((await h.service.resume(ws, 'a')).state).toBe('running');
    expect(await h100Quota(ws)).toMatchObject({ reserved: 4 });
  });

  it('runs no replicas while paused, since a paused deployment holds no GPUs', async () => {
    const ws = uniqueName('idle');
    const id = `${ws}/a`;
    await createHealthy(ws, 'a', h100(2));
    await h.service.pause(ws, 'a');
    await waitFor(
      () => Promise.resolve(provider.revisionsOf(id)),
      (revisions) => revisions.length === 0,
      'replicas removed',
    );
    const callsBefore = provider.calls.filter((c) => c.deploymentId === id).length;
    const revisions = await holdsFor(
      () => provider.revisionsOf(id),
      (r) => r.length === 0,
      2_000,
    );
    expect(revisions).toEqual([]);
    expect(provider.calls.filter((c) => c.deploymentId === id).slice(callsBefore)).toEqual([]);
    expect((await h.service.events(ws, 'a')).map((e) => e.reason)).not.toContain('RevisionCreated');
  });

  it.each([
    { change: 'a scaling-only edit', patch: { scaling: { maxReplicas: 5 } } },
    {
      change: 'an edit that also changes the model',
      patch: { model: 'fast-model-v2', scaling: { maxReplicas: 5 } },
    },
  ])(
    'rejects $change that needs more GPUs than are left, and changes nothing',
    async ({ patch }) => {
      const ws = uniqueName('edit');
      await createHealthy(ws, 'a', h100(2)); // 2 GPUs
      await h.service.create(ws, { name: 'b', ...h100(4) }); // 4 GPUs: 2 left
      const before = await h.service.get(ws, 'a');
      const eventsBefore = await h.service.events(ws, 'a');

      const err = await rejection(h.service.edit(ws, 'a', { spec: patch }));
      expect(err.code).toBe('quota_exceeded');
      // 'a' already holds 2 of them, so 4 of 8 are available to it
      expect(err.message).toMatch(/H100: 5 GPUs requested .*4 of 8 available/);

      const after = await h.service.get(ws, 'a');
      expect(after.spec).toEqual(before.spec);
      expect(after).toMatchObject({ revision: 1, state: 'running' });
      expect(await h.service.events(ws, 'a')).toEqual(eventsBefore);
      expect(await h100Quota(ws)).toMatchObject({ reserved: 6 });

      // an edit that fits exactly what is left is accepted
      const fits = await h.service.edit(ws, 'a', { spec: { scaling: { maxReplicas: 4 } } });
      expect(fits.spec.scaling.maxReplicas).toBe(4);
      expect(await h100Quota(ws)).toMatchObject({ reserved: 8, available: 0 });
    },
  );

  it('gives back the GPUs an edit reserved when its rollout is rolled back', async () => {
    const ws = uniqueName('rollback');
    await createHealthy(ws, 'a', h100(2, 1, { readinessTimeoutSeconds: 1 }));
    await h.service.edit(ws, 'a', { spec: { model: 'broken-model', scaling: { maxReplicas: 4 } } });
    const back = await waitFor(
      () => h.service.get(ws, 'a'),
      (v) => v.state === 'running',
      'the rollout rolled back',
      20_000,
    );
    expect(back.spec).toMatchObject({ model: 'fast-model', scaling: { maxReplicas: 2 } });
    // (the reservation may be adjusted just after the rollout ends)
    await waitFor(
      () => h100Quota(ws),
      (q) => q.reserved === 2,
      'the reservation back at 2 GPUs',
      5_000,
    );
  });

  it('never runs more replicas than the maxReplicas an edit reserved GPUs for', async () => {
    const ws = uniqueName('lower');
    const id = `${ws}/a`;
    await createHealthy(ws, 'a', h100(2, 1, { scaling: { minReplicas: 2, maxReplicas: 2 } }));
    await h.service.edit(ws, 'a', {
      spec: { model: 'fast-model-v2', scaling: { minReplicas: 1, maxReplicas: 1 } },
    });
    const done = await waitFor(
      () => h.service.get(ws, 'a'),
      (v) => v.state === 'running' && v.revision === 2,
      'revision 2 running',
    );
    await waitFor(
      () => h100Quota(ws),
      (q) => q.reserved === 1,
      'the reservation at 1 GPU',
      5_000,
    );
    expect(done.replicas.desired).toBe(1);
    expect(provider.revisions.get(`${id}#2`)?.replicas).toHaveLength(1);
  });
});
