/**
 * The deployment workflow on a real Temporal dev server (activities over an in-memory provider):
 * create, readiness timeout, pause / resume / edit / delete, rollouts and rollbacks.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DomainError } from '../../api/deployment-service';
import { deploymentWorkflowId, rolloutWorkflowId } from '../../workflows/deployment/definitions';
import { FakeProvider } from '../helpers/fake-provider';
import { dedicatedSpec } from '../helpers/catalog';
import { startHarness, waitFor, type Harness } from '../helpers/harness';
import { uniqueName } from '../helpers/temporal';

let h: Harness;
const provider = new FakeProvider();
const ws = 'default';

beforeAll(async () => {
  h = await startHarness();
  await h.startWorker(provider);
});
afterAll(async () => h?.stop());

const get = (name: string) => () => h.service.get(ws, name);
const reasons = async (name: string) => (await h.service.events(ws, name)).map((e) => e.reason);

describe('deployment lifecycle', () => {
  it('creates a deployment that becomes Healthy once its replicas are ready', async () => {
    const name = uniqueName('create');
    const created = await h.service.create(ws, { name, ...dedicatedSpec() });
    expect(created).toMatchObject({ name, workspace: ws, revision: 1, health: 'Progressing' });
    const healthy = await waitFor(get(name), (v) => v.health === 'Healthy', 'Healthy');
    expect(healthy).toMatchObject({ state: 'running', replicas: { desired: 1, ready: 1 } });
    expect(healthy.spec.autoscalingPolicy).toBeUndefined();
    expect(await reasons(name)).toEqual(
      expect.arrayContaining(['Created', 'Provisioned', 'ReplicasReady']),
    );
    expect(provider.routes.get(`${ws}/${name}`)).toBe(1);
  });

  it('turns ProgressingWithTimeout past the readiness timeout, then Healthy when weights load', async () => {
    const name = uniqueName('slow');
    await h.service.create(ws, {
      name,
      ...dedicatedSpec({ model: 'slow-model', readinessTimeoutSeconds: 1 }),
    });
    await waitFor(
      get(name),
      (v) => v.health === 'ProgressingWithTimeout',
      'ProgressingWithTimeout',
    );
    const healthy = await waitFor(
      get(name),
      (v) => v.health === 'Healthy',
      'Healthy after the slow load',
    );
    expect(healthy.replicas.ready).toBe(1);
    const transitions = (await h.service.events(ws, name))
      .filter((e) => e.type === 'Health')
      .map((e) => e.reason);
    expect(transitions).toEqual(['ReadinessTimeout', 'ReplicasReady']);
  });

  it('rejects a second deployment with the same name (409)', async () => {
    const name = uniqueName('dup');
    await h.service.create(ws, { name, ...dedicatedSpec() });
    await expect(h.service.create(ws, { name, ...dedicatedSpec() })).rejects.toMatchObject({
      code: 'conflict',
    });
  });

  it('replaces a crashed replica and logs a restart', async () => {
    const name = uniqueName('crash');
    await h.service.create(ws, { name, ...dedicatedSpec() });
    await waitFor(get(name), (v) => v.health === 'Healthy', 'Healthy');
    provider.crashReplica(`${ws}/${name}`, 1);
    await waitFor(
      () => reasons(name),
      (r) => r.includes('ReplicaRestarted'),
      'a restart event',
    );
    await waitFor(get(name), (v) => v.health === 'Healthy', 'Healthy again');
  });

  it('pauses (replicas removed, NotPresent), rejects a second pause, and resumes', async () => {
    const name = uniqueName('pause');
    const id = `${ws}/${name}`;
    await h.service.create(ws, { name, ...dedicatedSpec() });
    await waitFor(get(name), (v) => v.health === 'Healthy', 'Healthy');
    const paused = await h.service.pause(ws, name);
    expect(paused.state).toBe('paused');
    await waitFor(get(name), (v) => v.health === 'NotPresent', 'NotPresent');
    expect(provider.revisionsOf(id)).toEqual([]);
    await expect(h.service.pause(ws, name)).rejects.toMatchObject({ code: 'conflict' });
    const resumed = await h.service.resume(ws, name);
    expect(resumed.state).toBe('running');
    await waitFor(get(name), (v) => v.health === 'Healthy', 'Healthy after resume');
    expect(provider.revisionsOf(id)).toEqual([1]);
    await expect(h.service.resume(ws, name)).rejects.toMatchObject({ code: 'conflict' });
  });

  it('applies a scaling-only edit in place, without a new revision', async () => {
    const name = uniqueName('scale');
    await h.service.create(ws, { name, ...dedicatedSpec() });
    await waitFor(get(name), (v) => v.health === 'Healthy', 'Healthy');
    const edited = await h.service.edit(ws, name, {
      spec: { scaling: { minReplicas: 2, maxReplicas: 3 }, tags: { team: 'search' } },
    });
    expect(edited).toMatchObject({ revision: 1, state: 'running' });
    const view = await waitFor(
      get(name),
      (v) => v.replicas.desired === 2 && v.replicas.ready === 2,
      '2 ready replicas',
    );
    expect(view.spec.tags).toEqual({ team: 'search' });
    expect(await reasons(name)).toContain('ScaledOut');
  });

  it('rejects a bad edit with the field and rule, and changes nothing', async () => {
    const name = uniqueName('bad-edit');
    await h.service.create(ws, { name, ...dedicatedSpec() });
    const err = await h.service
      .edit(ws, name, { spec: { scaling: { minReplicas: 5, maxReplicas: 2 } } })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DomainError);
    expect((err as DomainError).details).toEqual([
      expect.objectContaining({ path: 'spec.scaling.minReplicas' }),
    ]);
    const readOnly = await h.service.edit(ws, name, { revision: 9 }).catch((e: unknown) => e);
    expect((readOnly as DomainError).details?.[0]?.path).toBe('revision');
    expect((await h.service.get(ws, name)).spec.scaling.maxReplicas).toBe(2);
  });

  it('rolls out an edit that changes what runs as a child workflow, switching traffic after readiness', async () => {
    const name = uniqueName('rollout');
    const id = `${ws}/${name}`;
    await h.service.create(ws, { name, ...dedicatedSpec() });
    await waitFor(get(name), (v) => v.health === 'Healthy', 'Healthy');
    const edited = await h.service.edit(ws, name, { spec: { model: 'fast-model-v2' } });
    expect(edited).toMatchObject({ revision: 2, state: 'updating' });
    const done = await waitFor(
      get(name),
      (v) => v.state === 'running' && v.health === 'Healthy',
      'running on revision 2',
    );
    expect(done.revision).toBe(2);
    expect(provider.routes.get(id)).toBe(2);
    expect(provider.revisionsOf(id)).toEqual([2]);
    const rollout = await h.env.client.workflow.getHandle(rolloutWorkflowId(ws, name, 2)).result();
    expect(rollout.outcome).toBe('succeeded');
    expect(rollout.steps.map((s: { reason: string }) => s.reason)).toEqual([
      'RevisionCreated',
      'RevisionReady',
      'TrafficSwitched',
      'OldRevisionRemoved',
    ]);
    expect(await reasons(name)).toContain('RolloutSucceeded');
  });

  it('rolls back a revision that never becomes ready, and says why', async () => {
    const name = uniqueName('rollback');
    const id = `${ws}/${name}`;
    await h.service.create(ws, { name, ...dedicatedSpec({ readinessTimeoutSeconds: 2 }) });
    await waitFor(get(name), (v) => v.health === 'Healthy', 'Healthy');
    await h.service.edit(ws, name, { spec: { model: 'broken-model' } });
    await expect(
      h.service.edit(ws, name, { spec: { scaling: { maxReplicas: 3 } } }),
    ).rejects.toMatchObject({ code: 'conflict' });
    const back = await waitFor(get(name), (v) => v.state === 'running', 'rollout finished', 30_000);
    expect(back).toMatchObject({ revision: 1, health: 'Healthy' });
    expect(back.spec.model).toBe('fast-model');
    expect(provider.routes.get(id)).toBe(1);
    expect(provider.revisionsOf(id)).toEqual([1]);
    const failed = (await h.service.events(ws, name)).find((e) => e.reason === 'RolloutFailed');
    expect(failed?.message).toMatch(/revision 2 did not become ready within 2s/);
    // revisions are never reused: the next edit that changes what runs is revision 3
    const next = await h.service.edit(ws, name, { spec: { model: 'fast-model-v2' } });
    expect(next.revision).toBe(3);
  });

  it('deletes: removes every replica, ends the workflow, then answers not found', async () => {
    const name = uniqueName('delete');
    const id = `${ws}/${name}`;
    await h.service.create(ws, { name, ...dedicatedSpec() });
    await waitFor(get(name), (v) => v.health === 'Healthy', 'Healthy');
    const deleting = await h.service.delete(ws, name);
    expect(deleting.state).toBe('deleting');
    await h.env.client.workflow.getHandle(deploymentWorkflowId(ws, name)).result();
    expect(provider.revisionsOf(id)).toEqual([]);
    expect(provider.routes.has(id)).toBe(false);
    await expect(h.service.get(ws, name)).rejects.toMatchObject({ code: 'not_found' });
    // the name is free again
    await h.service.create(ws, { name, ...dedicatedSpec() });
  });
});
