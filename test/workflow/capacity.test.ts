/**
 * No ceiling: one worker with the default 100 activity slots runs more than 100 deployments.
 * Before the observer, each deployment held a `watchRevision` long poll in a slot for its whole
 * life, so the 101st create waited for a slot (and answered 503) and never proceeded.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deploymentWorkflowId } from '../../workflows/deployment/definitions';
import { FakeProvider } from '../helpers/fake-provider';
import { dedicatedSpec } from '../helpers/catalog';
import { startHarness, waitFor, type Harness } from '../helpers/harness';

let h: Harness;
const provider = new FakeProvider();
const ws = 'capacity';
const SLOTS = 100;

beforeAll(async () => {
  h = await startHarness({ limits: { H100: 10_000 } });
  await h.startWorker(provider, undefined, { maxConcurrentActivityTaskExecutions: SLOTS });
});
afterAll(async () => h?.stop());

describe(`one worker with ${SLOTS} activity slots`, () => {
  it('brings the 101st..110th deployment to Healthy too, and holds no slot between steps', async () => {
    const names = Array.from(
      { length: SLOTS + 10 },
      (_, i) => `d${String(i + 1).padStart(3, '0')}`,
    );
    // Ten at a time, as a platform team's script would.
    for (let i = 0; i < names.length; i += 10) {
      await Promise.all(
        names.slice(i, i + 10).map((name) => h.service.create(ws, { name, ...dedicatedSpec() })),
      );
    }
    for (const name of names.slice(SLOTS)) {
      const view = await waitFor(
        () => h.service.get(ws, name),
        (v) => v.health === 'Healthy',
        `${name} Healthy`,
        60_000,
      );
      expect(view.replicas).toEqual({ desired: 1, ready: 1 });
    }
    // Every one of them, not only the last ten.
    const healthy = await Promise.all(names.map((name) => h.service.get(ws, name)));
    expect(healthy.filter((v) => v.health !== 'Healthy').map((v) => v.name)).toEqual([]);
    // Steady, a deployment has no activity in flight: nothing of it occupies a slot.
    for (const name of [names[0]!, names[SLOTS]!, names.at(-1)!]) {
      const described = await h.env.client.workflow
        .getHandle(deploymentWorkflowId(ws, name))
        .describe();
      expect(described.raw.pendingActivities ?? [], name).toEqual([]);
    }
  }, 240_000);
});
