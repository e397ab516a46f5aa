/**
 * Randomized message sequences on the dev server (the real server; time passes for real): see
 * test/helpers/message-sequences.ts for what is generated and checked, and how to repeat a seed.
 */
import { afterAll, beforeAll, describe, it } from 'vitest';
import {
  DEPLOYMENT_WORKFLOW_TYPE,
  deploymentWorkflowId,
} from '../../workflows/deployment/definitions';
import type { deploymentWorkflow } from '../../workflows/deployment/workflow';
import { FakeProvider } from '../helpers/fake-provider';
import { startHarness, type Harness } from '../helpers/harness';
import {
  SEQUENCES,
  TimeGate,
  parse,
  runSequences,
  ws,
  type SequenceEnv,
} from '../helpers/message-sequences';

describe('on the dev server', () => {
  let h: Harness;
  let env: SequenceEnv;
  beforeAll(async () => {
    h = await startHarness();
    const provider = new FakeProvider();
    await h.startWorker(provider);
    env = {
      client: h.env.client,
      provider,
      gate: new TimeGate(false),
      startDeployment: (name, spec) =>
        h.env.client.workflow.start<typeof deploymentWorkflow>(DEPLOYMENT_WORKFLOW_TYPE, {
          workflowId: deploymentWorkflowId(ws, name),
          taskQueue: h.taskQueue,
          args: [{ workspace: ws, name, spec: parse(spec) }],
        }),
      sleep: (ms) => new Promise((r) => setTimeout(r, Math.min(ms, 1_500))),
      now: async () => Date.now(),
    };
  }, 180_000);
  afterAll(async () => h?.stop());

  it(`${SEQUENCES} random message sequences: every task completes, the end state is what they imply`, async () => {
    await runSequences(env, SEQUENCES, 'd');
  }, 1_800_000);
});
