/**
 * Records the replay fixtures in test/replay/histories/: complete (closed) histories of the
 * real workflows, run on a dev server with the in-memory FakeProvider. replay.test.ts replays
 * them against the current workflow code, so a change that would break running workflows fails
 * the tests. Not part of `npm test`; run it on purpose (see vitest.record.config.ts):
 *
 *   npx tsc -p tsconfig.build.json && npx vitest run --config test/replay/vitest.record.config.ts
 *
 * Files are named `<scenario>--<workflowType>.json` (the type the history starts, checked by
 * the replay test). Every history ends closed: Completed, or ContinuedAsNew for the runs that
 * handed over to a next one (the quota ledger never completes on its own, so its fixture is a
 * run that continued as new on a server that suggests it early).
 *
 * The scaling scenarios (metric observations signalled as the collector sends them) also write
 * `<scenario>--deploymentWorkflow.events.json`: the deployment's events log as its query answered
 * after the run, since the reasons of scale decisions are not in the history itself.
 */
import fs from 'node:fs';
import path from 'node:path';
import { historyToJSON, type History } from '@temporalio/common/lib/proto-utils';
import { afterAll, describe, expect, it } from 'vitest';
import {
  deploymentWorkflowId,
  eventsQuery,
  rolloutWorkflowId,
} from '../../workflows/deployment/definitions';
import {
  metricsSignals,
  observeMetricsSignal,
  type MetricsObservation,
} from '../../workflows/deployment/metrics';
import type { DeploymentView } from '../../workflows/domain/deployment';
import { quotaWorkflowId } from '../../workflows/quota/definitions';
import { byocSpec, dedicatedSpec } from '../helpers/catalog';
import { FakeClusters, h100NodeGroup } from '../helpers/fake-clusters';
import { FakeProvider } from '../helpers/fake-provider';
import { startHarness, waitFor, type Harness } from '../helpers/harness';
import { observation } from '../helpers/observations';

const OUT = path.join(__dirname, 'histories');
const ws = 'replay';

const harnesses: Harness[] = [];
afterAll(async () => {
  for (const h of harnesses) await h.stop();
});

async function harness(
  devServerArgs: string[] = [],
): Promise<{ h: Harness; provider: FakeProvider }> {
  const h = await startHarness({ devServerArgs });
  harnesses.push(h);
  const provider = new FakeProvider();
  await h.startWorker(provider);
  return { h, provider };
}

function isClosed(history: History): boolean {
  const last = history.events?.at(-1);
  return !!(
    last?.workflowExecutionCompletedEventAttributes ||
    last?.workflowExecutionContinuedAsNewEventAttributes
  );
}

async function save(
  h: Harness,
  scenario: string,
  workflowType: string,
  workflowId: string,
  runId?: string,
): Promise<void> {
  const history = await h.env.client.workflow.getHandle(workflowId, runId).fetchHistory();
  expect(isClosed(history), `${scenario}: ${workflowId} must be closed`).toBe(true);
  const started = history.events?.[0]?.workflowExecutionStartedEventAttributes;
  expect(started?.workflowType?.name).toBe(workflowType);
  fs.mkdirSync(OUT, { recursive: true });
  fs.writeFileSync(
    path.join(OUT, `${scenario}--${workflowType}.json`),
    `${historyToJSON(history)}\n`,
  );
}

function until(h: Harness, name: string, predicate: (v: DeploymentView) => boolean, what: string) {
  return waitFor(() => h.service.get(ws, name), predicate, `${name}: ${what}`, 30_000);
}

async function deleteAndWait(h: Harness, name: string): Promise<void> {
  await h.service.delete(ws, name);
  await h.env.client.workflow.getHandle(deploymentWorkflowId(ws, name)).result();
}

const healthy = (v: DeploymentView) => v.state === 'running' && v.health === 'Healthy';

/** Signals an observation and waits until a workflow task has handled it. */
async function signal(
  h: Harness,
  name: string,
  o: MetricsObservation,
  definition: typeof observeMetricsSignal = observeMetricsSignal,
): Promise<void> {
  const handle = h.env.client.workflow.getHandle(deploymentWorkflowId(ws, name));
  await handle.signal(definition, o);
  await waitFor(
    () => handle.fetchHistory(),
    (history) => {
      const events = history.events ?? [];
      const signalled = events
        .map((e) => !!e.workflowExecutionSignaledEventAttributes)
        .lastIndexOf(true);
      return events.slice(signalled).some((e) => e.workflowTaskCompletedEventAttributes);
    },
    `${name}: the observation handled`,
  );
}

/** Waits until the replica count is `n` and every replica is ready (the watch has seen them). */
const settled = (h: Harness, name: string, n: number, what: string) =>
  until(
    h,
    name,
    (v) => healthy(v) && v.replicas.desired === n && v.replicas.ready === n,
    `${n} replica(s) ready: ${what}`,
  );

/** A deployment of 1..4 replicas (threshold 8) scaling out at once and in after `scaleDownWindow` s. */
async function createScaling(h: Harness, name: string, scaleDownWindow: number): Promise<void> {
  await h.service.create(ws, {
    name,
    ...dedicatedSpec({
      scaling: { minReplicas: 1, maxReplicas: 4, metric: 'concurrency', threshold: 8 },
      autoscalingPolicy: {
        scaleUp: { stabilizationWindowSeconds: 0 },
        scaleDown: { stabilizationWindowSeconds: scaleDownWindow },
      },
    }),
  });
  await settled(h, name, 1, 'created');
}

/** Out to 2, then to 4, on observations; then a quiet one that recommends 1. */
async function outToFourThenQuiet(h: Harness, name: string): Promise<void> {
  await signal(h, name, observation([12]));
  await settled(h, name, 2, 'out to 2');
  await signal(h, name, observation([16, 16]));
  await settled(h, name, 4, 'out to 4');
  await signal(h, name, observation([1, 1, 1, 1]));
}

/** Deletes a scaling scenario's deployment and saves its history and its events log. */
/** A deployment that may scale to zero after 10 s idle (0 to 2 replicas), brought up to 1. */
async function createScaleToZero(h: Harness, name: string): Promise<void> {
  await h.service.create(ws, {
    name,
    ...dedicatedSpec({
      scaling: {
        minReplicas: 0,
        maxReplicas: 2,
        metric: 'concurrency',
        threshold: 8,
        scaleToZero: { enabled: true, cooldownSeconds: 10 },
      },
    }),
  });
  await settled(h, name, 1, 'created');
}

async function deleteAndSaveScaling(h: Harness, name: string): Promise<void> {
  await deleteAndWait(h, name);
  const workflowId = deploymentWorkflowId(ws, name);
  await save(h, name, 'deploymentWorkflow', workflowId);
  const events = await h.env.client.workflow.getHandle(workflowId).query(eventsQuery);
  fs.writeFileSync(
    path.join(OUT, `${name}--deploymentWorkflow.events.json`),
    `${JSON.stringify(events, null, 2)}\n`,
  );
}

/** `M H * * *` for the whole UTC minute `at` falls in. */
function dailyCronAt(at: number): string {
  const d = new Date(at);
  return `${d.getUTCMinutes()} ${d.getUTCHours()} * * *`;
}

describe('record replay histories', () => {
  it('records metrics signals named for their cause, as the observer and the gateway send them', async () => {
    const { h } = await harness();
    const name = 'named-metrics-signals';
    await createScaling(h, name, 1);
    await signal(h, name, observation([12]), metricsSignals.trafficStarted);
    await settled(h, name, 2, 'out to 2 on "load: traffic started"');
    await signal(h, name, observation([1, 1]), metricsSignals.moved);
    await settled(h, name, 1, 'in to 1 after the 1 s window');
    await deleteAndSaveScaling(h, name);
  });

  it('records tag keys searchable alone (TAG_KEYS_SEARCHABLE_PATCH): tags at create, a tag edit, delete', async () => {
    const { h } = await harness();
    const name = 'tag-keys';
    await h.service.create(ws, { name, ...dedicatedSpec({ tags: { env: 'prod' } }) });
    await until(h, name, healthy, 'Healthy');
    await h.service.edit(ws, name, { spec: { tags: { env: 'prod', team: 'search' } } });
    await until(h, name, (v) => v.spec.tags.team === 'search', 'the tag edit applied');
    await deleteAndWait(h, name);
    await save(h, name, 'deploymentWorkflow', deploymentWorkflowId(ws, name));
  });

  it('records the paths issue 8 added: patch edits, a pause that hears traffic and a decision timer, resume, delete', async () => {
    const { h } = await harness();
    const name = 'paused-hears-traffic';
    await h.service.create(ws, {
      name,
      ...dedicatedSpec({
        scaling: {
          minReplicas: 0,
          maxReplicas: 3,
          metric: 'concurrency',
          threshold: 8,
          scaleToZero: { enabled: true, cooldownSeconds: 10 },
        },
      }),
    });
    await until(h, name, healthy, 'Healthy');
    // a merge patch applied in the workflow, with If-Match
    const view = await h.service.get(ws, name);
    await h.service.edit(
      ws,
      name,
      { spec: { tags: { team: 'replay' } } },
      { ifVersion: view.version },
    );
    await until(h, name, (v) => v.spec.tags.team === 'replay', 'the patch applied');
    // traffic, then idle for 8 of the 10 s cooldown: a decision timer 2 s away...
    await signal(h, name, observation([20]));
    await settled(h, name, 3, 'scaled out by the traffic');
    await signal(
      h,
      name,
      observation([0, 0, 0], {
        lastRequestAt: new Date(Date.now() - 8_000).toISOString(),
        shortWindow: { seconds: 6, concurrency: 0, throughput: 0 },
      }),
    );
    // ...and paused before it fires; the observation after it (traffic stopping) and the timer
    // firing while paused both wait for the resume
    await h.service.pause(ws, name);
    await until(h, name, (v) => v.health === 'NotPresent', 'paused');
    await signal(h, name, observation([0]));
    await new Promise((r) => setTimeout(r, 3_000));
    await h.service.resume(ws, name);
    await until(h, name, (v) => v.state === 'running' && v.health === 'Healthy', 'resumed');
    await deleteAndSaveScaling(h, name);
  });

  it('records replicas observed by the observer: readiness, a restart, a revision removed out of band, delete', async () => {
    const { h, provider } = await harness();
    const name = 'observed-replicas';
    await h.service.create(ws, { name, ...dedicatedSpec() });
    await until(h, name, healthy, 'Healthy (the observer signalled the ready replica)');
    provider.crashReplica(`${ws}/${name}`, 1);
    await until(
      h,
      name,
      (v) => healthy(v) && v.replicas.ready === 1,
      'Healthy again after the restart',
    );
    await waitFor(
      () => h.service.events(ws, name),
      (events) => events.some((e) => e.reason === 'ReplicaRestarted'),
      `${name}: the restart recorded`,
    );
    // removed behind the control plane's back: the observer says it is gone, the workflow brings it up again
    provider.revisions.delete(`${ws}/${name}#1`);
    await waitFor(
      () => h.service.events(ws, name),
      (events) => events.filter((e) => e.reason === 'Provisioned').length === 2,
      `${name}: brought up again`,
    );
    await until(h, name, healthy, 'Healthy after being brought up again');
    await deleteAndWait(h, name);
    await save(h, name, 'deploymentWorkflow', deploymentWorkflowId(ws, name));
  });

  it('records a BYOC deployment on a linked cluster: admission, node group growth, rollout, pause, resume, delete', async () => {
    const h = await startHarness();
    harnesses.push(h);
    await h.startWorker(
      new FakeProvider(),
      new FakeClusters({ 'team-eks': [h100NodeGroup('gpu-h100', 0, 4)] }),
    );
    const byoc = byocSpec({}, { maxReplicas: 2 });
    await h.service.create(ws, { name: 'byoc', ...byoc });
    await until(h, 'byoc', healthy, 'Healthy');
    await h.service.edit(ws, 'byoc', { spec: { model: 'fast-model-v2' } });
    await until(h, 'byoc', (v) => healthy(v) && v.revision === 2, 'revision 2 live');
    await h.service.pause(ws, 'byoc');
    await until(h, 'byoc', (v) => v.health === 'NotPresent', 'NotPresent');
    await h.service.resume(ws, 'byoc');
    await until(h, 'byoc', healthy, 'Healthy after resume');
    await deleteAndWait(h, 'byoc');
    await save(h, 'byoc', 'deploymentWorkflow', deploymentWorkflowId(ws, 'byoc'));
    await save(h, 'byoc', 'rolloutWorkflow', rolloutWorkflowId(ws, 'byoc', 2));
  });

  it('records deployment and rollout histories for the lifecycle, rollout and readiness scenarios', async () => {
    const { h } = await harness();

    // lifecycle: create, scale edit, pause, resume, delete
    await h.service.create(ws, { name: 'lifecycle', ...dedicatedSpec() });
    await until(h, 'lifecycle', healthy, 'Healthy');
    await h.service.edit(ws, 'lifecycle', {
      spec: { scaling: { minReplicas: 2, maxReplicas: 3 } },
    });
    await until(h, 'lifecycle', (v) => healthy(v) && v.replicas.ready === 2, '2 ready');
    await h.service.pause(ws, 'lifecycle');
    await until(h, 'lifecycle', (v) => v.health === 'NotPresent', 'NotPresent');
    await h.service.resume(ws, 'lifecycle');
    await until(
      h,
      'lifecycle',
      (v) => healthy(v) && v.replicas.ready === 2,
      'Healthy after resume',
    );
    await deleteAndWait(h, 'lifecycle');
    await save(h, 'lifecycle', 'deploymentWorkflow', deploymentWorkflowId(ws, 'lifecycle'));

    // rollout-succeeded: create, model edit, delete
    await h.service.create(ws, { name: 'rollout-succeeded', ...dedicatedSpec() });
    await until(h, 'rollout-succeeded', healthy, 'Healthy');
    await h.service.edit(ws, 'rollout-succeeded', { spec: { model: 'fast-model-v2' } });
    await until(h, 'rollout-succeeded', (v) => healthy(v) && v.revision === 2, 'revision 2 live');
    await deleteAndWait(h, 'rollout-succeeded');
    await save(
      h,
      'rollout-succeeded',
      'deploymentWorkflow',
      deploymentWorkflowId(ws, 'rollout-succeeded'),
    );
    await save(
      h,
      'rollout-succeeded',
      'rolloutWorkflow',
      rolloutWorkflowId(ws, 'rollout-succeeded', 2),
    );

    // rollout-rolled-back: create, edit to a model that never loads, delete
    await h.service.create(ws, {
      name: 'rollout-rolled-back',
      ...dedicatedSpec({ readinessTimeoutSeconds: 1 }),
    });
    await until(h, 'rollout-rolled-back', healthy, 'Healthy');
    await h.service.edit(ws, 'rollout-rolled-back', { spec: { model: 'broken-model' } });
    await until(
      h,
      'rollout-rolled-back',
      (v) => healthy(v) && v.revision === 1 && v.spec.model === 'fast-model',
      'rolled back',
    );
    await deleteAndWait(h, 'rollout-rolled-back');
    await save(
      h,
      'rollout-rolled-back',
      'deploymentWorkflow',
      deploymentWorkflowId(ws, 'rollout-rolled-back'),
    );
    await save(
      h,
      'rollout-rolled-back',
      'rolloutWorkflow',
      rolloutWorkflowId(ws, 'rollout-rolled-back', 2),
    );

    // readiness-timeout: a slow model with a 1 s timeout, ProgressingWithTimeout, then Healthy
    await h.service.create(ws, {
      name: 'readiness-timeout',
      ...dedicatedSpec({ model: 'slow-model', readinessTimeoutSeconds: 1 }),
    });
    await until(
      h,
      'readiness-timeout',
      (v) => v.health === 'ProgressingWithTimeout',
      'ProgressingWithTimeout',
    );
    await until(h, 'readiness-timeout', healthy, 'Healthy');
    await deleteAndWait(h, 'readiness-timeout');
    await save(
      h,
      'readiness-timeout',
      'deploymentWorkflow',
      deploymentWorkflowId(ws, 'readiness-timeout'),
    );
  });

  it('records runs that continued as new: the quota ledger and a deployment, first and last run', async () => {
    const { h, provider } = await harness([
      '--dynamic-config-value',
      'limit.historyCount.suggestContinueAsNew=40',
    ]);
    const name = 'continue-as-new';
    const workflowId = deploymentWorkflowId(ws, name);
    await h.service.create(ws, {
      name,
      ...dedicatedSpec({ scaling: { minReplicas: 1, maxReplicas: 4 } }),
    });
    await until(h, name, healthy, 'Healthy');
    for (const scaling of [
      { minReplicas: 2 },
      { minReplicas: 3 },
      { minReplicas: 1, maxReplicas: 2 },
    ]) {
      await h.service.edit(ws, name, { spec: { scaling } });
      await until(
        h,
        name,
        (v) => healthy(v) && v.replicas.ready === v.replicas.desired,
        JSON.stringify(scaling),
      );
    }
    provider.crashReplica(`${ws}/${name}`, 1);
    await waitFor(
      () => h.service.events(ws, name),
      (events) => events.some((e) => e.reason === 'ReplicaRestarted'),
      'a restart event',
    );
    await until(h, name, healthy, 'Healthy after the crash');
    // each quota update writes a few events: enough of them make the ledger continue as new
    for (let i = 0; i < 6; i++) {
      await h.service.create(ws, { name: `extra-${i}`, ...dedicatedSpec() });
      await deleteAndWait(h, `extra-${i}`);
    }
    await deleteAndWait(h, name);

    const runsOf = async (id: string) => {
      const runs: { runId: string; status: string; startTime: Date }[] = [];
      for await (const e of h.env.client.workflow.list({ query: `WorkflowId = '${id}'` }))
        runs.push({ runId: e.runId, status: e.status.name, startTime: e.startTime });
      return runs.sort((a, b) => a.startTime.getTime() - b.startTime.getTime());
    };
    const runs = await waitFor(
      () => runsOf(workflowId),
      (r) =>
        r.length >= 2 && r[0]!.status === 'CONTINUED_AS_NEW' && r.at(-1)!.status === 'COMPLETED',
      'the deployment continued as new, then completed',
    );
    await save(h, `${name}-first-run`, 'deploymentWorkflow', workflowId, runs[0]!.runId);
    await save(h, `${name}-last-run`, 'deploymentWorkflow', workflowId, runs.at(-1)!.runId);

    const ledgerRuns = await waitFor(
      () => runsOf(quotaWorkflowId(ws)),
      (r) => r[0]?.status === 'CONTINUED_AS_NEW',
      'the ledger continued as new',
    );
    await save(
      h,
      'quota-ledger-first-run',
      'quotaWorkflow',
      quotaWorkflowId(ws),
      ledgerRuns[0]!.runId,
    );
  });

  it('records decision timers since FEWER_TIMERS_PATCH: a scale-in held by the window sets one timer, for the value it holds', async () => {
    const { h } = await harness();
    const name = 'held-scale-in';
    await createScaling(h, name, 4);
    await outToFourThenQuiet(h, name);
    await settled(h, name, 1, 'in once the 4 has left the window');
    await deleteAndSaveScaling(h, name);
  });

  it('records a recommendation in force until replaced (RECOMMENDATION_IN_FORCE_PATCH), and one wake timer kept across observations that leave its deadline (KEPT_WAKE_TIMER_PATCH)', async () => {
    const { h } = await harness();
    const name = 'in-force-hold';
    await createScaling(h, name, 4);
    await signal(h, name, observation([32]));
    await settled(h, name, 4, 'out to 4');
    // the 4 was recommended over 4 s ago, and is in force until a lower load replaces it
    await new Promise((resolve) => setTimeout(resolve, 6_000));
    await signal(h, name, observation([1, 1, 1, 1]));
    await signal(h, name, observation([1.5, 1.5, 1.5, 1.5]));
    await settled(h, name, 1, 'in, 4 s after the 4 was replaced');
    await deleteAndSaveScaling(h, name);
  });

  it("records scale steps as local activities (LOCAL_SCALE_STEP_PATCH): out on signals, in on the window's timer, each step one marker", async () => {
    const { h } = await harness();
    const name = 'local-scale-steps';
    await createScaling(h, name, 3);
    await outToFourThenQuiet(h, name);
    await settled(h, name, 1, 'in once the 4 has been replaced for 3 s');
    await deleteAndSaveScaling(h, name);
  });

  it('records idleness counted from the bring-up (IDLE_SINCE_UP_PATCH): an idle window reaching back before it holds scale to zero for the cooldown', async () => {
    const { h } = await harness();
    const name = 'idle-since-up';
    await createScaleToZero(h, name);
    // No traffic in a 300 s window and no request ever seen: before the patch, idle since the
    // window's start, so zero at once; since, idle since the bring-up, so zero 10 s after it.
    const { lastRequestAt: _never, ...quiet } = observation([0], {
      windowSeconds: 300,
      shortWindow: { seconds: 6, concurrency: 0, throughput: 0 },
    });
    await signal(h, name, quiet);
    await settled(h, name, 0, 'scaled to zero after the cooldown');
    await deleteAndSaveScaling(h, name);
  });

  it(
    'records the scaling scenarios: burst, stabilized scale-in, policy ramp, scale to zero and wake, panic, schedule day',
    {
      timeout: 180_000,
    },
    async () => {
      const { h } = await harness();
      const started = Date.now();

      // schedule-day (first, as it waits for a whole minute; the others run meanwhile): outside
      // its one window (scale to zero outside windows) until the window opens at the next whole
      // UTC minute, with at least 15 s to go so the first decision comes before it
      const day = 'schedule-day';
      const opensAt = Math.ceil((Date.now() + 15_000) / 60_000) * 60_000;
      await h.service.create(ws, {
        name: day,
        ...dedicatedSpec({
          scaling: { minReplicas: 0, maxReplicas: 3, metric: 'concurrency', threshold: 8 },
          schedule: {
            scaleToZeroOutsideWindows: true,
            windows: [
              {
                timezone: 'UTC',
                minPods: 2,
                startCron: dailyCronAt(opensAt),
                endCron: dailyCronAt(opensAt + 60 * 60_000),
              },
            ],
          },
        }),
      });
      // the first decision comes right after bring-up: outside the window, down to zero
      await settled(h, day, 0, 'scaled to zero outside the window');

      // burst: a burst scales out within range, a bigger one is capped at maxReplicas
      const burst = 'burst-scale-out';
      await h.service.create(ws, {
        name: burst,
        ...dedicatedSpec({
          scaling: { minReplicas: 1, maxReplicas: 4, metric: 'concurrency', threshold: 8 },
        }),
      });
      await settled(h, burst, 1, 'created');
      await signal(h, burst, observation([20]));
      await settled(h, burst, 3, 'burst');
      await signal(h, burst, observation([20, 20, 20]));
      await settled(h, burst, 4, 'capped at max');
      await deleteAndSaveScaling(h, burst);

      // stabilized-scale-in: out at once, in only after the 3 s scale-down stabilization window
      const scaleIn = 'stabilized-scale-in';
      await h.service.create(ws, {
        name: scaleIn,
        ...dedicatedSpec({
          scaling: { minReplicas: 1, maxReplicas: 4, metric: 'concurrency', threshold: 8 },
          autoscalingPolicy: {
            scaleUp: { stabilizationWindowSeconds: 0 },
            scaleDown: { stabilizationWindowSeconds: 3 },
          },
        }),
      });
      await settled(h, scaleIn, 1, 'created');
      await signal(h, scaleIn, observation([30]));
      await settled(h, scaleIn, 4, 'scaled out');
      await signal(h, scaleIn, observation([1, 1, 1, 1]));
      await settled(h, scaleIn, 1, 'scaled in after stabilization');
      await deleteAndSaveScaling(h, scaleIn);

      // policy-limited-ramp: a burst worth 8 replicas, one more every 2 s up to maxReplicas 4
      const ramp = 'policy-limited-ramp';
      await h.service.create(ws, {
        name: ramp,
        ...dedicatedSpec({
          scaling: { minReplicas: 1, maxReplicas: 4, metric: 'concurrency', threshold: 8 },
          autoscalingPolicy: {
            scaleUp: {
              stabilizationWindowSeconds: 0,
              policies: [{ type: 'Pods', value: 1, periodSeconds: 2 }],
            },
          },
        }),
      });
      await settled(h, ramp, 1, 'created');
      await signal(h, ramp, observation([64]));
      await settled(h, ramp, 4, 'ramped to max');
      await deleteAndSaveScaling(h, ramp);

      // scale-to-zero-and-wake: idle for 9 s of a 10 s cooldown, zero a second later on the
      // workflow's timer, then woken by a request waiting at the gateway
      const zero = 'scale-to-zero-and-wake';
      await createScaleToZero(h, zero);
      await signal(
        h,
        zero,
        observation([0], {
          lastRequestAt: new Date(Date.now() - 9_000).toISOString(),
          shortWindow: { seconds: 6, concurrency: 0, throughput: 0 },
        }),
      );
      await settled(h, zero, 0, 'scaled to zero');
      await signal(
        h,
        zero,
        observation([], { queued: 1, shortWindow: { seconds: 6, concurrency: 0, throughput: 0 } }),
      );
      await settled(h, zero, 1, 'woken');
      await deleteAndSaveScaling(h, zero);

      // panic: rapid autoscaling jumps to what the short-window burst needs, past a slow policy,
      // and a quiet observation right after does not scale in while panicking
      const panic = 'panic';
      await h.service.create(ws, {
        name: panic,
        ...dedicatedSpec({
          scaling: {
            minReplicas: 1,
            maxReplicas: 6,
            metric: 'concurrency',
            threshold: 8,
            rapidAutoscaling: true,
          },
          autoscalingPolicy: {
            scaleUp: {
              stabilizationWindowSeconds: 600,
              policies: [{ type: 'Pods', value: 1, periodSeconds: 600 }],
            },
            scaleDown: { stabilizationWindowSeconds: 0 },
          },
        }),
      });
      await settled(h, panic, 1, 'created');
      await signal(
        h,
        panic,
        observation([10], { shortWindow: { seconds: 6, concurrency: 40, throughput: 0 } }),
      );
      await settled(h, panic, 5, 'panic scale-up');
      await signal(h, panic, observation([1, 1, 1, 1, 1]));
      await deleteAndSaveScaling(h, panic);

      // schedule-day, continued: the window opens on the workflow's own timer (no observation)
      await waitFor(
        () => h.service.get(ws, day),
        (v) => healthy(v) && v.replicas.desired === 2 && v.replicas.ready === 2,
        `${day}: window open at ${new Date(opensAt).toISOString()}, 2 ready`,
        Math.max(0, opensAt - Date.now()) + 20_000,
      );
      await deleteAndSaveScaling(h, day);

      console.log(`scaling scenarios recorded in ${Math.round((Date.now() - started) / 1000)} s`);
    },
  );
});
