/**
 * Why it scaled, in the Temporal UI (user metadata): a deployment scaled out by a metrics signal
 * says so in its history (the scale step's summary), its decision timer says what it waits for,
 * the workflow list shows the static summary the API set, and the workflow page's current
 * details show the state, the last decision and the last events. Read back as the UI reads them:
 * the history's user metadata, DescribeWorkflowExecution, and the `__temporal_workflow_metadata`
 * query.
 */
import { defaultPayloadConverter } from '@temporalio/common';
import type { temporal } from '@temporalio/proto';
import { Worker } from '@temporalio/worker';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { deploymentWorkflowId } from '../../workflows/deployment/definitions';
import { observeMetricsSignal } from '../../workflows/deployment/metrics';
import { dedicatedSpec } from '../helpers/catalog';
import { FakeProvider } from '../helpers/fake-provider';
import { startHarness, waitFor, type Harness } from '../helpers/harness';
import { observation } from '../helpers/observations';
import { uniqueName, workflowBundle } from '../helpers/temporal';

type HistoryEvent = temporal.api.history.v1.IHistoryEvent;

let h: Harness;
const ws = 'why-it-scaled';

beforeAll(async () => {
  h = await startHarness();
  await h.startWorker(new FakeProvider());
});
afterAll(async () => h?.stop());

/** An event's summary, as the UI shows it (a JSON string payload, default converter). */
function summaryOf(event: HistoryEvent): string | undefined {
  const payload = event.userMetadata?.summary;
  return payload ? defaultPayloadConverter.fromPayload<string>(payload) : undefined;
}

const EventType = {
  WorkflowExecutionStarted: 1,
  ActivityTaskScheduled: 10,
  TimerStarted: 17,
  MarkerRecorded: 25,
} as const;

it('a scale-out driven by a metrics signal says why in the history, the timer, and the details', async () => {
  const name = uniqueName('scaled');
  await h.service.create(ws, {
    name,
    ...dedicatedSpec({
      scaling: { minReplicas: 1, maxReplicas: 6, metric: 'concurrency', threshold: 8 },
      // A scale-out limited to 2 replicas a minute: the scale step says so, and the decision
      // timer waits for the policy's period.
      autoscalingPolicy: {
        scaleUp: {
          stabilizationWindowSeconds: 0,
          policies: [{ type: 'Pods', value: 2, periodSeconds: 60 }],
        },
      },
      tags: { team: 'search', env: 'prod' },
    }),
  });
  await waitFor(
    () => h.service.get(ws, name),
    (v) => v.health === 'Healthy',
    'Healthy',
  );
  const handle = h.env.client.workflow.getHandle(deploymentWorkflowId(ws, name));
  // 40 in flight on 1 replica at a threshold of 8: 5 recommended, 3 allowed by the policy.
  await handle.signal(observeMetricsSignal, observation([40]));
  await waitFor(
    () => h.service.get(ws, name),
    (v) => v.replicas.desired === 3,
    '3 replicas',
  );

  const summaries = async () => {
    const history = await handle.fetchHistory();
    return (history.events ?? [])
      .map((e) => ({ type: e.eventType as number, summary: summaryOf(e) }))
      .filter((e) => e.summary !== undefined);
  };
  const POLICY_TIMER =
    /^scale out policy period ends \d\d:\d\d:\d\d UTC \(Pods 2\/60s\), then scale out toward 5$/;
  const seen = await waitFor(
    summaries,
    (s) =>
      s.some((e) => e.summary!.startsWith('scale 1 -> 3')) &&
      s.some((e) => e.type === EventType.TimerStarted && POLICY_TIMER.test(e.summary!)),
    'the scale step and the policy timer in the history',
  );

  // The scale step (a local activity since LOCAL_SCALE_STEP_PATCH: its MarkerRecorded event
  // carries the summary) says the counts, the reason and what limited it.
  const scale = seen.find((e) => e.summary!.startsWith('scale 1 -> 3'))!;
  expect(scale.type).toBe(EventType.MarkerRecorded);
  expect(scale.summary).toMatch(
    /^scale 1 -> 3 \(ScaleUpLimit\): concurrency 40 in flight per replica over 1 replica\(s\) \(threshold 8\): .*; recommended 5, limited to 3 by scale-up policy Pods 2 per 60 s$/,
  );
  // The bring-up and the quota reservation are activities, named too.
  const activities = seen.filter((e) => e.type === EventType.ActivityTaskScheduled);
  expect(activities.map((e) => e.summary)).toEqual(
    expect.arrayContaining([
      'reserve quota 6 x L4',
      'bring up revision 1: 1 replica(s) of fast-model',
      'route traffic to revision 1',
    ]),
  );

  // The workflow list's summary column (the started event carries it), and the static details.
  expect(seen[0]).toEqual({
    type: EventType.WorkflowExecutionStarted,
    summary: 'fast-model on 1 x L4 (dedicated) · env=prod, team=search',
  });
  const described = await handle.describe();
  expect(await described.staticSummary()).toBe(
    'fast-model on 1 x L4 (dedicated) · env=prod, team=search',
  );
  expect(await described.staticDetails()).toContain(
    `**Deployment** \`${name}\` in workspace \`${ws}\``,
  );

  // The workflow page's current details: state, replicas, the last decision, the next one, events.
  const metadata = await handle.query<{ currentDetails?: string }>('__temporal_workflow_metadata');
  const details = metadata.currentDetails ?? '';
  expect(details).toMatch(/^\*\*running\*\* · health \*\*\w+\*\* · revision 1\n/);
  expect(details).toContain('- replicas: 3 desired, ');
  expect(details).toMatch(/- last decision: 1 -> 3 ScaleUpLimit: concurrency 40 in flight/);
  expect(details).toMatch(/- next decision: scale out policy period ends \d\d:\d\d:\d\d UTC/);
  expect(details).toMatch(/\*\*Last 5 event\(s\)\*\*\n\n- \S+Z /);
  expect(details).toContain('ScaleOut ScaleUpLimit: replicas 1 -> 3');

  // The history with its summaries replays against the same code (the committed histories,
  // recorded before any summary, replay in test/replay).
  await handle.terminate('done');
  await Worker.runReplayHistory(
    { workflowBundle: await workflowBundle() },
    await handle.fetchHistory(),
  );
});
