/**
 * Replays the recorded histories (test/replay/histories, see record-histories.record.ts) against
 * the current workflow bundle: a change that running workflows could not replay fails here.
 * Each history's behaviour is pinned too (activities, child workflows, updates, outcome), so a
 * change of behaviour shows up as a failing expectation that names it, and re-recording is a
 * reviewed diff. A deliberately changed bundle must fail replay with a DeterminismViolationError.
 *
 * The scaling histories (metric observations signalled to a deployment) pin their replica
 * timeline: the counts applied, in order, with what caused each (an observation, a timer), the
 * scale events' reasons from the events log recorded next to each, and today's autoscaler
 * deciding the same at the history's own tasks and times (replay alone cannot see a changed
 * count: activity inputs are not compared).
 */
import fs from 'node:fs';
import path from 'node:path';
import { defaultPayloadConverter } from '@temporalio/common';
import { historyFromJSON, type History } from '@temporalio/common/lib/proto-utils';
import { Worker, bundleWorkflowCode } from '@temporalio/worker';
import { DeterminismViolationError } from '@temporalio/workflow';
import { describe, expect, it } from 'vitest';
import { BUNDLER_OPTIONS } from '../../worker/create-worker';
import {
  FEWER_TIMERS_PATCH,
  KEPT_WAKE_TIMER_PATCH,
  LOCAL_SCALE_STEP_PATCH,
  RECOMMENDATION_IN_FORCE_PATCH,
  IDLE_SINCE_UP_PATCH,
  NAMED_METRICS_SIGNALS_PATCH,
  TAG_KEYS_SEARCHABLE_PATCH,
  type DeploymentWorkflowInput,
} from '../../workflows/deployment/definitions';
import { decideReplicas, initialAutoscalerState } from '../../workflows/deployment/autoscaler';
import { NAMED_METRICS_SIGNALS, type MetricsObservation } from '../../workflows/deployment/metrics';
import type { DeploymentEvent } from '../../workflows/domain/deployment';
import type { QuotaLedgerInput, Reservation } from '../../workflows/quota/definitions';
import type { RolloutResult } from '../../workflows/rollout/definitions';
import { workflowBundle } from '../helpers/temporal';

const HISTORIES = path.join(__dirname, 'histories');
type HistoryEvent = NonNullable<History['events']>[number];

function load(file: string): History {
  return historyFromJSON(JSON.parse(fs.readFileSync(path.join(HISTORIES, file), 'utf8')));
}

const fromPayload = <T>(payload: unknown): T =>
  defaultPayloadConverter.fromPayload<T>(
    payload as Parameters<typeof defaultPayloadConverter.fromPayload>[0],
  );

function events(history: History): HistoryEvent[] {
  return history.events ?? [];
}

function workflowTypeOf(history: History): string | null | undefined {
  return events(history)[0]?.workflowExecutionStartedEventAttributes?.workflowType?.name;
}

/**
 * Replica observation calls: how often they run depends on when replicas became ready (the
 * watch's long poll, or the safety net's status call when no signal came in time).
 */
const TIMING_DEPENDENT = new Set(['watchRevision', 'getRevisionStatus']);

/**
 * What a history did, in order, without what depends on timing: accepted updates, scheduled
 * activities (replica observation calls and readiness timers excluded) and started child
 * workflows.
 */
/**
 * The replica count an event applied, if it is a runtime call to apply a revision: an
 * applyRevision activity scheduled (its input), or since LOCAL_SCALE_STEP_PATCH a scale step's
 * local activity marker (its result, the runtime's status, which holds the count asked for).
 */
function appliedReplicas(e: HistoryEvent): number | undefined {
  const scheduled = e.activityTaskScheduledEventAttributes;
  if (scheduled?.activityType?.name === 'applyRevision')
    return fromPayload<{ replicas: number }>(scheduled.input?.payloads?.[0]).replicas;
  const marker = e.markerRecordedEventAttributes;
  if (marker?.markerName !== 'core_local_activity') return undefined;
  const data = fromPayload<{ activity_type?: string }>(marker.details?.data?.payloads?.[0]);
  if (data.activity_type !== 'applyRevision') return undefined;
  return fromPayload<{ desired: number }>(marker.details?.result?.payloads?.[0]).desired;
}

function trace(history: History): string[] {
  return events(history).flatMap((e) => {
    const update = e.workflowExecutionUpdateAcceptedEventAttributes?.acceptedRequest?.input?.name;
    if (update) return [`update:${update}`];
    const activity = e.activityTaskScheduledEventAttributes?.activityType?.name;
    if (activity) return TIMING_DEPENDENT.has(activity) ? [] : [activity];
    if (appliedReplicas(e) !== undefined) return ['applyRevision']; // a scale step's local activity
    const child = e.startChildWorkflowExecutionInitiatedEventAttributes?.workflowType?.name;
    if (child) return [`child:${child}`];
    return [];
  });
}

function input<T>(history: History): T {
  return fromPayload<T>(
    events(history)[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0],
  );
}

function ending(history: History): { completed?: unknown; continuedWith?: unknown } {
  const last = events(history).at(-1);
  const completed = last?.workflowExecutionCompletedEventAttributes;
  if (completed)
    return {
      completed: completed.result?.payloads?.[0]
        ? fromPayload(completed.result.payloads[0])
        : undefined,
    };
  const continued = last?.workflowExecutionContinuedAsNewEventAttributes;
  if (continued) return { continuedWith: fromPayload(continued.input?.payloads?.[0]) };
  throw new Error('the history does not end closed');
}

function childResults(history: History): RolloutResult[] {
  return events(history).flatMap((e) => {
    const payload = e.childWorkflowExecutionCompletedEventAttributes?.result?.payloads?.[0];
    return payload ? [fromPayload<RolloutResult>(payload)] : [];
  });
}

/** An event's time (epoch ms); `seconds` is a Long, or a number, depending on the decoder. */
function timeOf(e: HistoryEvent): number {
  return Number(e.eventTime?.seconds ?? 0) * 1000 + Math.floor((e.eventTime?.nanos ?? 0) / 1e6);
}

/** The patch IDs a history's markers record (`patched()` calls taken on its first run). */
function patchesOf(history: History): string[] {
  return events(history).flatMap((e) =>
    (e.markerRecordedEventAttributes?.details?.['patch-data']?.payloads ?? []).map(
      (p) => fromPayload<{ id: string }>(p).id,
    ),
  );
}

/** The tags search attribute as each upsert set it, in order. */
function upsertedTags(history: History): string[][] {
  return events(history).flatMap((e) => {
    const fields = e.upsertWorkflowSearchAttributesEventAttributes?.searchAttributes?.indexedFields;
    const tags = fields?.['DeploymentTags'];
    return tags ? [fromPayload<string[]>(tags)] : [];
  });
}

/** What woke the workflow task that applied a replica count. */
type Cause = 'signal' | 'timer' | 'activity' | 'update' | 'other';

interface Step {
  replicas: number;
  cause: Cause;
  /** When it was decided, in workflow time (epoch ms): the start of the task that applied it. */
  at: number;
}

/** The workflow task that scheduled all[index]: its completion, and the one before it. */
function taskOf(all: HistoryEvent[], index: number): { completed: number; previous: number } {
  let completed = index;
  while (completed >= 0 && !all[completed]!.workflowTaskCompletedEventAttributes) completed--;
  let previous = completed - 1;
  while (previous >= 0 && !all[previous]!.workflowTaskCompletedEventAttributes) previous--;
  return { completed, previous };
}

/**
 * What made the workflow task that scheduled all[index] act: an update it accepted, or else what
 * it was handed since the task before (a signal, a timer fired, an activity's result).
 */
function causeOf(all: HistoryEvent[], index: number): Cause {
  const { completed, previous } = taskOf(all, index);
  if (all.slice(completed, index).some((e) => e.workflowExecutionUpdateAcceptedEventAttributes))
    return 'update';
  const handed = all.slice(previous + 1, completed);
  if (handed.some((e) => e.workflowExecutionSignaledEventAttributes)) return 'signal';
  if (handed.some((e) => e.timerFiredEventAttributes)) return 'timer';
  if (handed.some((e) => e.activityTaskCompletedEventAttributes)) return 'activity';
  return 'other';
}

/** The workflow time of the task that scheduled all[index] (what its Date.now() read). */
function decidedAt(all: HistoryEvent[], index: number): number {
  const { completed } = taskOf(all, index);
  let started = completed;
  while (started >= 0 && !all[started]!.workflowTaskStartedEventAttributes) started--;
  return timeOf(all[started]!);
}

/**
 * The replica timeline: every replica count the history applied (the `replicas` of each
 * applyRevision it scheduled, bring-up included), with what woke the workflow to apply it.
 */
function replicaTimeline(history: History): Step[] {
  const all = events(history);
  return all.flatMap((e, i) => {
    const replicas = appliedReplicas(e);
    if (replicas === undefined) return [];
    return [{ replicas, cause: causeOf(all, i), at: decidedAt(all, i) }];
  });
}

const steps = (history: History) =>
  replicaTimeline(history).map((s): [number, Cause] => [s.replicas, s.cause]);

const NAMED_SIGNALS = new Set(NAMED_METRICS_SIGNALS.map((signal) => signal.name));

/**
 * Whether the workflow takes a signal of this name as a metric observation: observeMetrics
 * always; one named for its cause only since NAMED_METRICS_SIGNALS_PATCH (before it, no handler).
 */
function takesObservation(history: History, name: string | null | undefined): boolean {
  if (name === 'observeMetrics') return true;
  return NAMED_SIGNALS.has(name ?? '') && patchesOf(history).includes(NAMED_METRICS_SIGNALS_PATCH);
}

/** The names of the metrics signals (taken or not), in order. */
function signalNames(history: History): string[] {
  return events(history).flatMap((e) => {
    const name = e.workflowExecutionSignaledEventAttributes?.signalName;
    return name && name !== 'observeReplicas' ? [name] : [];
  });
}

/** The metric observations signalled (and taken), in order. */
function observations(history: History): { observation: MetricsObservation; at: number }[] {
  return events(history).flatMap((e) => {
    const signal = e.workflowExecutionSignaledEventAttributes;
    if (!takesObservation(history, signal?.signalName)) return [];
    const observation = fromPayload<MetricsObservation>(signal!.input?.payloads?.[0]);
    return [{ observation, at: timeOf(e) }];
  });
}

/**
 * The autoscaler's decisions as today's code makes them, at the history's own workflow tasks
 * and workflow times: in each task handed a metric observation, and in each task the workflow
 * woke from its idle wait (a timer, a signal, the replica watch) at or after the instant the
 * last decision said it was next due; never once the delete was accepted. The result lists
 * every decision that changed the replica count, with the task it was made in (the index of
 * its WorkflowTaskCompleted), which is the task that must have applied it.
 *
 * The history cannot show a decision's inputs or outputs (activity inputs are not compared on
 * replay), so this is what makes a change of the autoscaler's behaviour fail against the
 * committed histories, not only after re-recording.
 */
function redecide(history: History): { replicas: number; reason: string; task: number }[] {
  const all = events(history);
  const { spec } = input<DeploymentWorkflowInput>(history);
  const cancelled = new Set(
    all.flatMap((e) => {
      const id = e.activityTaskCancelRequestedEventAttributes?.scheduledEventId;
      return id === undefined || id === null ? [] : [Number(id)];
    }),
  );
  const activityOf = (scheduledEventId: unknown) =>
    all.find((e) => Number(e.eventId) === Number(scheduledEventId))
      ?.activityTaskScheduledEventAttributes?.activityType?.name;
  const changes: { replicas: number; reason: string; task: number }[] = [];
  // the autoscaler of the history's own version (FEWER_TIMERS_PATCH, RECOMMENDATION_IN_FORCE_PATCH)
  const everyExpiry = !patchesOf(history).includes(FEWER_TIMERS_PATCH);
  const recommendationsAsPoints = !patchesOf(history).includes(RECOMMENDATION_IN_FORCE_PATCH);
  const idleBeforeUp = !patchesOf(history).includes(IDLE_SINCE_UP_PATCH);
  let state = initialAutoscalerState();
  let nextDecisionAt: number | null = null;
  let due = false;
  let running = false;
  let current: number | undefined;
  let previous = -1;
  for (let task = 0; task < all.length; task++) {
    if (!all[task]!.workflowTaskCompletedEventAttributes) continue;
    const handed = all.slice(previous + 1, task);
    previous = task;
    const commands: HistoryEvent[] = [];
    for (let i = task + 1; i < all.length && !all[i]!.workflowTaskScheduledEventAttributes; i++)
      commands.push(all[i]!);
    const deleting = commands.some(
      (e) =>
        e.workflowExecutionUpdateAcceptedEventAttributes?.acceptedRequest?.input?.name === 'delete',
    );
    if (deleting) break;
    const started = handed.filter((e) => e.workflowTaskStartedEventAttributes).at(-1);
    const now = started ? timeOf(started) : 0;
    let woke = false;
    for (const e of handed) {
      const signal = e.workflowExecutionSignaledEventAttributes;
      if (takesObservation(history, signal?.signalName)) {
        state = { ...state, observation: fromPayload(signal!.input?.payloads?.[0]) };
        due = woke = true;
      }
      if (e.timerFiredEventAttributes) woke = true;
      const done = e.activityTaskCompletedEventAttributes;
      if (done && activityOf(done.scheduledEventId) === 'watchRevision')
        woke ||= !cancelled.has(Number(done.scheduledEventId));
      if (done && activityOf(done.scheduledEventId) === 'routeTraffic') {
        // Brought up: the workflow decides once at once (schedule floor, scale-to-zero cooldown).
        running = true;
        state = { ...state, upSince: now };
        due = true;
      }
    }
    for (const e of commands) if (current === undefined) current = appliedReplicas(e);
    if (woke && nextDecisionAt !== null && now >= nextDecisionAt) due = true;
    if (!due || !running || current === undefined) continue;
    due = false;
    const decision = decideReplicas({
      now,
      spec,
      currentReplicas: current,
      state,
      everyExpiry,
      recommendationsAsPoints,
      idleBeforeUp,
    });
    state = decision.state;
    nextDecisionAt = decision.nextDecisionAt;
    if (decision.replicas !== current)
      changes.push({ replicas: decision.replicas, reason: decision.reason, task });
    current = decision.replicas;
  }
  return changes;
}

/**
 * The scale events of a scaling history: its events log as the workflow's query answered after
 * the run (recorded next to it), since the reasons of the decisions are not in the history.
 */
function scaleEvents(file: string): { type: string; reason: string; from: number; to: number }[] {
  const log = JSON.parse(
    fs.readFileSync(path.join(HISTORIES, file.replace(/\.json$/, '.events.json')), 'utf8'),
  ) as DeploymentEvent[];
  return log.flatMap((e) => {
    if (e.type !== 'ScaleOut' && e.type !== 'ScaleIn') return [];
    const m = /^replicas (\d+) -> (\d+): /.exec(e.message);
    expect(m, `a scale event names its counts: ${e.message}`).not.toBeNull();
    return [{ type: e.type, reason: e.reason, from: Number(m![1]), to: Number(m![2]) }];
  });
}

/**
 * Pins a scaling history: the replica timeline it applied (count, and what caused it), the
 * scale events' types and reasons from its events log, and that the two tell the same story
 * (every step of the timeline after bring-up is one scale event, from the count before it).
 */
function expectScaling(
  file: string,
  history: History,
  timeline: [number, Cause][],
  reasons: [string, string][],
  /** What the run returned: nothing (recorded before the workflow returned its last view), or that view. */
  ends: 'nothing' | 'deleted view' = 'nothing',
): Step[] {
  const applied = replicaTimeline(history);
  expect(steps(history)).toEqual(timeline);
  const scaled = scaleEvents(file);
  expect(scaled.map((e) => [e.type, e.reason])).toEqual(reasons);
  expect(scaled.map((e) => [e.from, e.to])).toEqual(
    applied.slice(1).map((s, i) => [applied[i]!.replicas, s.replicas]),
  );
  expect(scaled.every((e) => (e.to > e.from ? 'ScaleOut' : 'ScaleIn') === e.type)).toBe(true);
  // today's autoscaler, deciding at the history's tasks, makes the same changes for the same
  // reasons in the very tasks that applied them
  const all = events(history);
  const appliedIn = all.flatMap((e, i) =>
    appliedReplicas(e) !== undefined ? [taskOf(all, i).completed] : [],
  );
  expect(redecide(history)).toEqual(
    applied.slice(1).map((s, i) => ({
      replicas: s.replicas,
      reason: reasons[i]![1],
      task: appliedIn[i + 1],
    })),
  );
  // nothing but scaling in place between create and delete
  expect(trace(history)).toEqual([
    ...CREATE,
    ...applied.slice(1).map(() => 'applyRevision'),
    ...DELETE,
  ]);
  if (ends === 'nothing') expect(ending(history)).toEqual({ completed: undefined });
  else expect(ending(history).completed).toMatchObject({ view: { state: 'deleted' } });
  return applied;
}

const CREATE = ['update:admission', 'reserveQuota', 'applyRevision', 'routeTraffic'];
const DELETE = ['update:delete', 'removeDeployment', 'releaseQuota'];

/** One entry per recorded history: what it must show about the workflow's behaviour. */
const EXPECTED: Record<string, (history: History) => void> = {
  'byoc--deploymentWorkflow.json': (history) => {
    // admitted against the node group, which grows before any replica is asked for
    expect(trace(history)).toEqual([
      ...['update:admission', 'checkPlacement', 'reserveQuota', 'ensureNodeGroupCapacity'],
      ...['applyRevision', 'routeTraffic'],
      ...['update:edit', 'checkPlacement', 'child:rolloutWorkflow'],
      ...['update:pause', 'removeDeployment', 'releaseQuota'],
      ...[
        'update:resume',
        'reserveQuota',
        'ensureNodeGroupCapacity',
        'applyRevision',
        'routeTraffic',
      ],
      ...DELETE,
    ]);
    // the change is guarded: this run took the patched path
    expect(
      events(history).some((e) => e.markerRecordedEventAttributes?.markerName === 'core_patch'),
    ).toBe(true);
    // the node group's key in the ledger, and every runtime call aimed at the cluster
    const scheduled = events(history).flatMap((e) => {
      const a = e.activityTaskScheduledEventAttributes;
      return a
        ? [
            {
              type: a.activityType?.name,
              input: fromPayload<Record<string, unknown>>(a.input?.payloads?.[0]),
            },
          ]
        : [];
    });
    expect(scheduled.find((a) => a.type === 'reserveQuota')?.input.gpus).toEqual({
      'byoc:team-eks/gpu-h100': 16,
    });
    for (const a of scheduled.filter((a) =>
      ['applyRevision', 'routeTraffic', 'removeDeployment'].includes(a.type ?? ''),
    ))
      expect(a.input.target).toEqual({ type: 'byoc', cluster: 'team-eks' });
  },
  'observed-replicas--deploymentWorkflow.json': (history) => {
    // since OBSERVED_REPLICAS_PATCH: told by the observer's signals, no watch holding a slot
    expect(trace(history)).toEqual([...CREATE, 'applyRevision', 'routeTraffic', ...DELETE]);
    const all = events(history);
    expect(all.some((e) => e.markerRecordedEventAttributes?.markerName === 'core_patch')).toBe(
      true,
    );
    expect(
      all.filter(
        (e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'watchRevision',
      ),
    ).toEqual([]);
    const signals = all.flatMap((e) => {
      const s = e.workflowExecutionSignaledEventAttributes;
      return s?.signalName === 'observeReplicas'
        ? [
            fromPayload<{ exists: boolean; ready: number; restarts: number }>(
              s.input?.payloads?.[0],
            ),
          ]
        : [];
    });
    // ready, a restart, the revision gone (then ready again after it was brought up)
    expect(signals.some((o) => o.exists && o.ready === 1)).toBe(true);
    expect(signals.some((o) => o.restarts === 1)).toBe(true);
    expect(signals.some((o) => !o.exists)).toBe(true);
    expect(ending(history).completed).toMatchObject({ view: { state: 'deleted' } });
  },
  'byoc--rolloutWorkflow.json': (history) => {
    expect(trace(history)).toEqual([
      'ensureNodeGroupCapacity',
      'applyRevision',
      'waitForRevisionReady',
      'routeTraffic',
      'removeRevision',
    ]);
    expect(ending(history).completed).toMatchObject({ outcome: 'succeeded' });
  },
  'lifecycle--deploymentWorkflow.json': (history) => {
    expect(trace(history)).toEqual([
      ...CREATE,
      ...['update:edit', 'reserveQuota', 'applyRevision'], // maxReplicas 2 -> 3: reserve, then scale in place
      ...['update:pause', 'removeDeployment', 'releaseQuota'],
      ...['update:resume', 'reserveQuota', 'applyRevision', 'routeTraffic'],
      ...DELETE,
    ]);
    expect(ending(history)).toEqual({ completed: undefined });
  },
  'rollout-succeeded--deploymentWorkflow.json': (history) => {
    expect(trace(history)).toEqual([...CREATE, 'update:edit', 'child:rolloutWorkflow', ...DELETE]);
    expect(childResults(history).map((r) => r.outcome)).toEqual(['succeeded']);
  },
  'rollout-succeeded--rolloutWorkflow.json': (history) => {
    expect(trace(history)).toEqual([
      'applyRevision',
      'waitForRevisionReady',
      'routeTraffic',
      'removeRevision',
    ]);
    expect(ending(history).completed).toMatchObject({ outcome: 'succeeded' });
  },
  'rollout-rolled-back--deploymentWorkflow.json': (history) => {
    expect(trace(history)).toEqual([...CREATE, 'update:edit', 'child:rolloutWorkflow', ...DELETE]);
    expect(childResults(history).map((r) => r.outcome)).toEqual(['rolledBack']);
  },
  'rollout-rolled-back--rolloutWorkflow.json': (history) => {
    expect(trace(history)).toEqual(['applyRevision', 'waitForRevisionReady', 'removeRevision']);
    expect(ending(history).completed).toMatchObject({
      outcome: 'rolledBack',
      reason: expect.stringMatching(/did not become ready within 1s/),
    });
  },
  'readiness-timeout--deploymentWorkflow.json': (history) => {
    expect(trace(history)).toEqual([...CREATE, ...DELETE]);
    // the readiness deadline is a workflow timer, and it fired before the slow model loaded
    expect(events(history).some((e) => e.timerFiredEventAttributes)).toBe(true);
  },
  'continue-as-new-first-run--deploymentWorkflow.json': (history) => {
    expect(trace(history).slice(0, CREATE.length)).toEqual(CREATE);
    const next = ending(history).continuedWith as DeploymentWorkflowInput;
    expect(next.carried).toMatchObject({ state: 'running', revision: 1, activeRevision: 1 });
    expect(next.carried?.events.map((e) => e.reason).slice(0, 2)).toEqual([
      'Created',
      'Provisioned',
    ]);
  },
  'continue-as-new-last-run--deploymentWorkflow.json': (history) => {
    // a continued run starts from the carried state: no admission, no new reservation
    expect(input<DeploymentWorkflowInput>(history).carried).toMatchObject({ state: 'running' });
    expect(trace(history)).not.toContain('update:admission');
    expect(trace(history)).not.toContain('reserveQuota');
    expect(trace(history).slice(-DELETE.length)).toEqual(DELETE);
    expect(ending(history)).toEqual({ completed: undefined });
  },
  'burst-scale-out--deploymentWorkflow.json': (history) => {
    // 20 in flight on 1 replica (threshold 8): 3 at once; 20 on each of 3: 8, capped at max 4
    expectScaling(
      'burst-scale-out--deploymentWorkflow.json',
      history,
      [
        [1, 'activity'],
        [3, 'signal'],
        [4, 'signal'],
      ],
      [
        ['ScaleOut', 'DesiredWithinRange'],
        ['ScaleOut', 'TooManyReplicas'],
      ],
    );
  },
  'stabilized-scale-in--deploymentWorkflow.json': (history) => {
    // out at once (scale-up window 0 s); in on the workflow's own timer, once the recommendation
    // of 4 has left the 3 s scale-down stabilization window
    const [, out, scaleIn] = expectScaling(
      'stabilized-scale-in--deploymentWorkflow.json',
      history,
      [
        [1, 'activity'],
        [4, 'signal'],
        [1, 'timer'],
      ],
      [
        ['ScaleOut', 'DesiredWithinRange'],
        ['ScaleIn', 'DesiredWithinRange'],
      ],
    );
    expect(scaleIn!.at - out!.at).toBeGreaterThanOrEqual(3000);
    // the quiet observation came first, and did not scale in by itself
    const quiet = observations(history)[1]!;
    expect(quiet.observation.replicas.map((r) => r.concurrency)).toEqual([1, 1, 1, 1]);
    expect(quiet.at).toBeLessThan(scaleIn!.at);
  },
  'held-scale-in--deploymentWorkflow.json': (history) => {
    // since FEWER_TIMERS_PATCH: out to 2, then to 4; a quiet observation is held back by the 4 s
    // scale-down window, and the one timer it sets is for when the newest 4 leaves the window
    // (not for the older 1 and 2 before it, which change nothing)
    expect(patchesOf(history)).toContain(FEWER_TIMERS_PATCH);
    const [, , toFour, scaleIn] = expectScaling(
      'held-scale-in--deploymentWorkflow.json',
      history,
      [
        [1, 'activity'],
        [2, 'signal'],
        [4, 'signal'],
        [1, 'timer'],
      ],
      [
        ['ScaleOut', 'DesiredWithinRange'],
        ['ScaleOut', 'DesiredWithinRange'],
        ['ScaleIn', 'DesiredWithinRange'],
      ],
      'deleted view',
    );
    expect(scaleIn!.at - toFour!.at).toBeGreaterThanOrEqual(4000);
    const quiet = observations(history).at(-1)!;
    expect(quiet.observation.replicas.map((r) => r.concurrency)).toEqual([1, 1, 1, 1]);
    const all = events(history);
    const after = all.filter((e) => timeOf(e) >= quiet.at && timeOf(e) <= scaleIn!.at);
    expect(after.filter((e) => e.timerFiredEventAttributes)).toHaveLength(1);
  },
  'in-force-hold--deploymentWorkflow.json': (history) => {
    // since RECOMMENDATION_IN_FORCE_PATCH: out to 4; 6 s later (past the 4 s scale-down window)
    // a quiet observation recommends 1, and the 4 it replaces holds the scale-in for 4 s from
    // then (as points, the 4 had left the window and the scale-in came at once). Since
    // KEPT_WAKE_TIMER_PATCH: a second quiet observation in the hold keeps the one timer.
    expect(patchesOf(history)).toEqual(
      expect.arrayContaining([RECOMMENDATION_IN_FORCE_PATCH, KEPT_WAKE_TIMER_PATCH]),
    );
    const [, toFour, scaleIn] = expectScaling(
      'in-force-hold--deploymentWorkflow.json',
      history,
      [
        [1, 'activity'],
        [4, 'signal'],
        [1, 'timer'],
      ],
      [
        ['ScaleOut', 'DesiredWithinRange'],
        ['ScaleIn', 'DesiredWithinRange'],
      ],
      'deleted view',
    );
    const [, quiet, quieter] = observations(history);
    expect(quiet!.observation.replicas.map((r) => r.concurrency)).toEqual([1, 1, 1, 1]);
    expect(quiet!.at - toFour!.at).toBeGreaterThanOrEqual(4000);
    expect(scaleIn!.at - quiet!.at).toBeGreaterThanOrEqual(4000);
    const between = events(history).filter(
      (e) => timeOf(e) >= quiet!.at && timeOf(e) <= scaleIn!.at,
    );
    expect(quieter!.at).toBeLessThan(scaleIn!.at);
    expect(between.filter((e) => e.timerStartedEventAttributes)).toHaveLength(1);
    expect(between.filter((e) => e.timerCanceledEventAttributes)).toHaveLength(0);
  },
  'local-scale-steps--deploymentWorkflow.json': (history) => {
    // since LOCAL_SCALE_STEP_PATCH: out to 2 and 4 on signals, in to 1 on the window's timer;
    // each scale step is one local activity marker in the task that decided it (bring-up keeps
    // its activity)
    expect(patchesOf(history)).toContain(LOCAL_SCALE_STEP_PATCH);
    expectScaling(
      'local-scale-steps--deploymentWorkflow.json',
      history,
      [
        [1, 'activity'],
        [2, 'signal'],
        [4, 'signal'],
        [1, 'timer'],
      ],
      [
        ['ScaleOut', 'DesiredWithinRange'],
        ['ScaleOut', 'DesiredWithinRange'],
        ['ScaleIn', 'DesiredWithinRange'],
      ],
      'deleted view',
    );
    const scheduled = events(history).filter(
      (e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'applyRevision',
    );
    expect(scheduled).toHaveLength(1);
  },
  'policy-limited-ramp--deploymentWorkflow.json': (history) => {
    // one observation worth 8 replicas; Pods 1 per 2 s lets one more in every 2 s, on timers,
    // up to maxReplicas 4
    const applied = expectScaling(
      'policy-limited-ramp--deploymentWorkflow.json',
      history,
      [
        [1, 'activity'],
        [2, 'signal'],
        [3, 'timer'],
        [4, 'timer'],
      ],
      [
        ['ScaleOut', 'ScaleUpLimit'],
        ['ScaleOut', 'ScaleUpLimit'],
        ['ScaleOut', 'TooManyReplicas'],
      ],
    );
    expect(observations(history)).toHaveLength(1);
    for (let i = 2; i < applied.length; i++)
      expect(applied[i]!.at - applied[i - 1]!.at).toBeGreaterThanOrEqual(2000);
  },
  'scale-to-zero-and-wake--deploymentWorkflow.json': (history) => {
    // idle since 9 s before the observation, cooldown 10 s: zero on the workflow's timer; then
    // a request waiting at the gateway wakes it with one replica
    const [, zero, woken] = expectScaling(
      'scale-to-zero-and-wake--deploymentWorkflow.json',
      history,
      [
        [1, 'activity'],
        [0, 'timer'],
        [1, 'signal'],
      ],
      [
        ['ScaleIn', 'ScaledToZero'],
        ['ScaleOut', 'WokenByRequest'],
      ],
    );
    const [idle, waiting] = observations(history);
    expect(zero!.at).toBeGreaterThanOrEqual(Date.parse(idle!.observation.lastRequestAt!) + 10_000);
    expect(waiting!.observation.queued).toBe(1);
    expect(woken!.at).toBeGreaterThanOrEqual(waiting!.at);
  },
  'idle-since-up--deploymentWorkflow.json': (history) => {
    // since IDLE_SINCE_UP_PATCH: an observation of no traffic over a 300 s window, right after
    // the bring-up, with no request ever seen, holds scale to zero until 10 s (the cooldown)
    // after the bring-up, on the workflow's timer (before: idle since the window's start, zero
    // in the observation's own task)
    expect(patchesOf(history)).toContain(IDLE_SINCE_UP_PATCH);
    const [up, zero] = expectScaling(
      'idle-since-up--deploymentWorkflow.json',
      history,
      [
        [1, 'activity'],
        [0, 'timer'],
      ],
      [['ScaleIn', 'ScaledToZero']],
      'deleted view',
    );
    const [quiet] = observations(history);
    expect(quiet!.observation.lastRequestAt).toBeUndefined();
    expect(quiet!.observation.windowSeconds).toBe(300);
    expect(zero!.at).toBeGreaterThanOrEqual(up!.at + 10_000);
    expect(zero!.at).toBeGreaterThan(quiet!.at);
  },
  'named-metrics-signals--deploymentWorkflow.json': (history) => {
    // since NAMED_METRICS_SIGNALS_PATCH: observations under the names the observer gives them
    // ("load: traffic started", "load: moved past tolerance") are taken as observeMetrics is;
    // the patch is recorded where the first one is handled
    expect(patchesOf(history)).toContain(NAMED_METRICS_SIGNALS_PATCH);
    expectScaling(
      'named-metrics-signals--deploymentWorkflow.json',
      history,
      [
        [1, 'activity'],
        [2, 'signal'],
        [1, 'timer'],
      ],
      [
        ['ScaleOut', 'DesiredWithinRange'],
        ['ScaleIn', 'DesiredWithinRange'],
      ],
      'deleted view',
    );
    expect(signalNames(history)).toEqual(['load: traffic started', 'load: moved past tolerance']);
    expect(observations(history)).toHaveLength(2);
  },
  'named-signal-before-handlers--deploymentWorkflow.json': (history) => {
    // recorded by the code before NAMED_METRICS_SIGNALS_PATCH (an observer upgraded before the
    // workers): it had no handler for "load: burst" (40 in flight, which would ask for 5
    // replicas) and ignored it; today's code ignores it on replay too, and scales out to 2 only
    // on the plain observation after it
    expect(patchesOf(history)).not.toContain(NAMED_METRICS_SIGNALS_PATCH);
    expectScaling(
      'named-signal-before-handlers--deploymentWorkflow.json',
      history,
      [
        [1, 'activity'],
        [2, 'signal'],
      ],
      [['ScaleOut', 'DesiredWithinRange']],
      'deleted view',
    );
    expect(signalNames(history)).toEqual(['load: burst', 'observeMetrics']);
    expect(observations(history).map((o) => o.observation.replicas[0]?.concurrency)).toEqual([12]);
  },
  'panic--deploymentWorkflow.json': (history) => {
    // 40 in flight over the short window on 1 replica (over 2 x the threshold 8): 5 replicas at
    // once, past a 600 s scale-up window and a Pods 1 per 600 s policy; the quiet observation
    // right after does not scale in (no scale-down while panicking, though its window is 0 s)
    expectScaling(
      'panic--deploymentWorkflow.json',
      history,
      [
        [1, 'activity'],
        [5, 'signal'],
      ],
      [['ScaleOut', 'Panic']],
    );
    expect(observations(history).map((o) => o.observation.shortWindow.concurrency)).toEqual([
      40, 5,
    ]);
  },
  'schedule-day--deploymentWorkflow.json': (history) => {
    // scale to zero outside windows: the first observation (an idle keepalive) takes it to 0;
    // the window opens at a whole UTC minute on the workflow's timer, raising it to minPods 2
    const [, , opened] = expectScaling(
      'schedule-day--deploymentWorkflow.json',
      history,
      [
        [1, 'activity'],
        [0, 'activity'],
        [2, 'timer'],
      ],
      [
        ['ScaleIn', 'OutsideScheduleWindows'],
        ['ScaleOut', 'ScheduleWindow'],
      ],
    );
    const window = input<DeploymentWorkflowInput>(history).spec.schedule!.windows[0]!;
    const [minute, hour] = window.startCron!.split(' ').map(Number);
    const at = new Date(opened!.at);
    expect([at.getUTCHours(), at.getUTCMinutes()]).toEqual([hour, minute]);
    expect(at.getUTCSeconds()).toBeLessThan(5);
  },
  'tag-keys--deploymentWorkflow.json': (history) => {
    // since TAG_KEYS_SEARCHABLE_PATCH: each key alone is searchable too (`?tag=team`)
    expect(patchesOf(history)).toContain(TAG_KEYS_SEARCHABLE_PATCH);
    expect(upsertedTags(history).at(-1)).toEqual(['env:prod', 'team:search', 'env', 'team']);
  },
  'paused-hears-traffic--deploymentWorkflow.json': (history) => {
    // recorded before TAG_KEYS_SEARCHABLE_PATCH: its tag edit upserts "key:value" entries only,
    // and replays so
    expect(patchesOf(history)).not.toContain(TAG_KEYS_SEARCHABLE_PATCH);
    expect(upsertedTags(history).at(-1)).toEqual(['team:replay']);
    // since DELETE_ALWAYS_WINS_PATCH (its marker is in the history); an edit by merge patch
    const markers = events(history).flatMap(
      (e) => e.markerRecordedEventAttributes?.details?.['patch-data']?.payloads ?? [],
    );
    expect(markers.map((p) => fromPayload<{ id: string }>(p).id)).toContain('delete-always-wins');
    const t = trace(history);
    expect(t.slice(0, CREATE.length + 2)).toEqual([...CREATE, 'update:patch', 'applyRevision']);
    // paused: replicas removed and quota released; the observation and the decision timer that
    // came while paused changed nothing until the resume
    const paused = t.indexOf('update:pause');
    const resumed = t.indexOf('update:resume');
    expect(t.slice(paused, resumed)).toEqual(['update:pause', 'removeDeployment', 'releaseQuota']);
    expect(t.slice(resumed, resumed + 4)).toEqual([
      'update:resume',
      'reserveQuota',
      'applyRevision',
      'routeTraffic',
    ]);
    const all = events(history);
    const pauseAt = all.findIndex(
      (e) =>
        e.workflowExecutionUpdateAcceptedEventAttributes?.acceptedRequest?.input?.name === 'pause',
    );
    const resumeAt = all.findIndex(
      (e) =>
        e.workflowExecutionUpdateAcceptedEventAttributes?.acceptedRequest?.input?.name === 'resume',
    );
    const whilePaused = all.slice(pauseAt, resumeAt);
    expect(whilePaused.some((e) => e.workflowExecutionSignaledEventAttributes)).toBe(true);
    expect(whilePaused.some((e) => e.timerFiredEventAttributes)).toBe(true);
    expect(t.slice(-DELETE.length)).toEqual(DELETE);
    expect(ending(history).completed).toMatchObject({ view: { state: 'deleted' } });
  },
  'quota-ledger-first-run--quotaWorkflow.json': (history) => {
    expect(new Set(trace(history))).toEqual(new Set(['update:reserve', 'update:release']));
    // the reservations handed to the next run are the accepted updates applied in order
    let reservations: Reservation[] = input<QuotaLedgerInput>(history).reservations ?? [];
    for (const e of events(history)) {
      const request = e.workflowExecutionUpdateAcceptedEventAttributes?.acceptedRequest?.input;
      if (!request) continue;
      // a reserve request is the reservation plus the limits it was checked against
      const {
        limit: _limit,
        limits: _limits,
        ...reservation
      } = fromPayload<Record<string, unknown>>(request.args?.payloads?.[0]);
      reservations = reservations.filter((r) => r.holder !== reservation.holder);
      if (request.name === 'reserve') reservations.push(reservation as unknown as Reservation);
    }
    const next = ending(history).continuedWith as QuotaLedgerInput;
    expect(next.reservations).toEqual(reservations);
  },
};

/** The histories (`<scenario>--<workflowType>.json`), not the events logs recorded next to some. */
const files = fs
  .readdirSync(HISTORIES)
  .filter((f) => /^[^.]+--[A-Za-z]+\.json$/.test(f))
  .sort();

describe('replay of recorded histories', () => {
  it('has an expectation for every recorded history, and a history for every expectation', () => {
    expect(files).toEqual(Object.keys(EXPECTED).sort());
  });

  it.each(files)('%s replays against the current workflow code', async (file) => {
    const history = load(file);
    expect(workflowTypeOf(history)).toBe(file.replace(/\.json$/, '').split('--')[1]);
    await Worker.runReplayHistory({ workflowBundle: await workflowBundle() }, history);
  });

  it.each(files)('%s shows the pinned behaviour', (file) => {
    const check = EXPECTED[file];
    expect(check, `no expectation for ${file}`).toBeDefined();
    check!(load(file));
  });
});

describe('replay with changed workflow code', () => {
  let changed: Promise<{ code: string }> | undefined;
  const changedBundle = () =>
    (changed ??= bundleWorkflowCode({
      workflowsPath: path.join(__dirname, 'changed-workflow', 'index.ts'),
      ignoreModules: BUNDLER_OPTIONS.ignoreModules,
    }));

  it.each(['lifecycle--deploymentWorkflow.json', 'rollout-succeeded--rolloutWorkflow.json'])(
    '%s fails with a DeterminismViolationError when the workflow issues an extra command first',
    async (file) => {
      await expect(
        Worker.runReplayHistory({ workflowBundle: await changedBundle() }, load(file)),
      ).rejects.toBeInstanceOf(DeterminismViolationError);
    },
  );

  it('replays the unchanged quota workflow from the same bundle (the control case)', async () => {
    await Worker.runReplayHistory(
      { workflowBundle: await changedBundle() },
      load('quota-ledger-first-run--quotaWorkflow.json'),
    );
  });
});
