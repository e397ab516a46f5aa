/**
 * Randomized message sequences on the Java time-skipping test server (hours pass in a sleep, so
 * long timers expire): see test/helpers/message-sequences.ts. One at a time: the server's clock
 * is shared by every workflow and skips only while no activity is in flight anywhere.
 */
import { afterAll, beforeAll, describe, it } from 'vitest';
import { FakeProvider } from '../helpers/fake-provider';
import {
  TIME_SKIPPING_SEQUENCES,
  TimeGate,
  runSequences,
  ws,
  type SequenceEnv,
} from '../helpers/message-sequences';
import { startTimeSkipping, type TimeSkippingHarness } from '../helpers/time-skipping';

describe('on the time-skipping server', () => {
  let h: TimeSkippingHarness;
  let env: SequenceEnv;
  beforeAll(async () => {
    h = await startTimeSkipping();
    const provider = new FakeProvider();
    await h.startWorker(provider);
    env = {
      client: h.client,
      provider,
      gate: new TimeGate(true),
      startDeployment: (name, spec) => h.startDeployment(ws, name, spec),
      sleep: (ms) => h.sleep(ms),
      now: () => h.now(),
    };
  }, 180_000);
  afterAll(async () => h?.stop());

  it(`${TIME_SKIPPING_SEQUENCES} random message sequences with hours passing: the same holds`, async () => {
    await runSequences(env, TIME_SKIPPING_SEQUENCES, 't', 1);
  }, 1_800_000);
});
