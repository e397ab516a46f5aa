/** The runtime activities' own waits, over the in-memory provider, in a mock activity context. */
import { MockActivityEnvironment } from '@temporalio/testing';
import { describe, expect, it } from 'vitest';
import { createRuntimeActivities } from '../../activities/runtime';
import { TEST_CATALOG } from '../helpers/catalog';
import { FakeProvider } from '../helpers/fake-provider';

describe('waitForRevisionReady', () => {
  it('answers not ready at once, without waiting out its deadline, for a revision that is gone', async () => {
    const provider = new FakeProvider();
    const activities = createRuntimeActivities({ provider, catalog: TEST_CATALOG });
    const env = new MockActivityEnvironment();
    const heartbeats: unknown[] = [];
    env.on('heartbeat', (details: unknown) => heartbeats.push(details));

    // Removed while it loaded (a cancelled rollout's cleanup): nothing can become ready.
    const waited = await env.run(activities.waitForRevisionReady, {
      deploymentId: 'ws/gone',
      revision: 2,
      replicas: 1,
      deadline: new Date(Date.now() + 3_600_000).toISOString(),
    });

    expect(waited).toMatchObject({ ready: false, status: { exists: false, revision: 2 } });
    expect(heartbeats).toEqual([]); // it did not go round its polling loop
  });
});
