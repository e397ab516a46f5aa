/**
 * The three ways a pause used to wedge the worker (issue 8, item 1), each on a real dev server:
 * the paused deployment's main loop spun without yielding once a decision was marked due (by a
 * metrics signal, or by the decision timer), so its workflow task never completed and the
 * worker died. Each test ends with a resume that must be served, and no failed workflow task.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deploymentWorkflowId } from '../../workflows/deployment/definitions';
import { observeMetricsSignal } from '../../workflows/deployment/metrics';
import { dedicatedSpec } from '../helpers/catalog';
import { FakeProvider } from '../helpers/fake-provider';
import { startHarness, waitFor, type Harness } from '../helpers/harness';
import { failedWorkflowTasks } from '../helpers/history';
import { observation } from '../helpers/observations';
import { uniqueName } from '../helpers/temporal';

let h: Harness;
const provider = new FakeProvider();
const ws = 'pause';

beforeAll(async () => {
  h = await startHarness();
  await h.startWorker(provider);
});
afterAll(async () => h?.stop());

const get = (name: string) => () => h.service.get(ws, name);

async function healthy(spec: Record<string, unknown> = {}): Promise<string> {
  const name = uniqueName('p');
  await h.service.create(ws, { name, ...dedicatedSpec(spec) });
  await waitFor(get(name), (v) => v.health === 'Healthy', 'Healthy');
  return name;
}

async function paused(name: string): Promise<void> {
  await h.service.pause(ws, name);
  await waitFor(get(name), (v) => v.health === 'NotPresent', 'paused with no replicas');
  expect(provider.revisionsOf(`${ws}/${name}`)).toEqual([]);
}

/** The deployment still answers, a resume brings it back, and no workflow task failed. */
async function expectServed(name: string): Promise<void> {
  await h.service.resume(ws, name);
  const back = await waitFor(get(name), (v) => v.health === 'Healthy', 'Healthy after resume');
  expect(back).toMatchObject({ state: 'running', replicas: { ready: back.replicas.desired } });
  expect(await failedWorkflowTasks(h.env.client, deploymentWorkflowId(ws, name))).toEqual([]);
}

describe('a paused deployment waits for a message, whatever else arrives', () => {
  it('a metrics observation after pause (traffic stopping) is kept, not decided on', async () => {
    const name = await healthy();
    await paused(name);
    const handle = h.env.client.workflow.getHandle(deploymentWorkflowId(ws, name));
    await handle.signal(observeMetricsSignal, observation([0]));
    await handle.signal(observeMetricsSignal, observation([30]));
    // The signals are handled (a query is answered after them), and change nothing while paused.
    const view = await waitFor(get(name), () => true, 'an answer after the signals');
    expect(view).toMatchObject({ state: 'paused', health: 'NotPresent' });
    expect(provider.revisionsOf(`${ws}/${name}`)).toEqual([]);
    await expectServed(name);
  });

  it('a scale-to-zero deployment paused before its cooldown ends (the decision timer fires while paused)', async () => {
    const name = await healthy({
      scaling: {
        minReplicas: 0,
        maxReplicas: 2,
        metric: 'concurrency',
        threshold: 8,
        scaleToZero: { enabled: true, cooldownSeconds: 10 },
      },
    });
    // Idle for 8 of the 10 s: the decision timer is set to fire 2 s from now.
    const handle = h.env.client.workflow.getHandle(deploymentWorkflowId(ws, name));
    await handle.signal(
      observeMetricsSignal,
      observation([0], {
        lastRequestAt: new Date(Date.now() - 8_000).toISOString(),
        shortWindow: { seconds: 6, concurrency: 0, throughput: 0 },
      }),
    );
    await paused(name);
    const pausedAt = Date.now();
    // Past the cooldown: the decision timer set before the pause has fired.
    await waitFor(
      async () => Date.now() - pausedAt,
      (ms) => ms > 3_000,
      'the cooldown to pass',
      10_000,
    );
    expect(await failedWorkflowTasks(h.env.client, deploymentWorkflowId(ws, name))).toEqual([]);
    expect((await h.service.get(ws, name)).state).toBe('paused');
    await expectServed(name);
  });

  it('pause, resume and pause back to back after a quiet while: ends paused with nothing running', async () => {
    const name = await healthy();
    await paused(name);
    await new Promise((r) => setTimeout(r, 3_000));
    await h.service.resume(ws, name);
    await h.service.pause(ws, name);
    const view = await waitFor(
      get(name),
      (v) => v.health === 'NotPresent' && provider.revisionsOf(`${ws}/${name}`).length === 0,
      'paused again with no replicas',
    );
    expect(view.state).toBe('paused');
    expect(await failedWorkflowTasks(h.env.client, deploymentWorkflowId(ws, name))).toEqual([]);
    await expectServed(name);
  });
});
