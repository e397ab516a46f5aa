/**
 * Replays the recorded histories (test/replay/histories, see record-histories.record.ts) against
 * the current workflow bundle: a change that running workflows could not replay fails here.
 * Each history's behaviour is pinned too (activities, child workflows, updates, outcome), so a
 * change of behaviour shows up as a failing expectation that names it, and re-recording is a
 * reviewed diff. A deliberately changed bundle must fail replay with a DeterminismViolationError.
 */
import fs from 'node:fs';
import path from 'node:path';
import { defaultPayloadConverter } from '@temporalio/common';
import { historyFromJSON, type History } from '@temporalio/common/lib/proto-utils';
import { Worker, bundleWorkflowCode } from '@temporalio/worker';
import { DeterminismViolationError } from '@temporalio/workflow';
import { describe, expect, it } from 'vitest';
import { BUNDLER_OPTIONS } from '../../worker/create-worker';
import type { DeploymentWorkflowInput } from '../../workflows/deployment/definitions';
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
 * What a history did, in order, without what depends on timing: accepted updates, scheduled
 * activities (watchRevision and readiness timers excluded: how often they run depends on when
 * replicas became ready) and started child workflows.
 */
function trace(history: History): string[] {
  return events(history).flatMap((e) => {
    const update = e.workflowExecutionUpdateAcceptedEventAttributes?.acceptedRequest?.input?.name;
    if (update) return [`update:${update}`];
    const activity = e.activityTaskScheduledEventAttributes?.activityType?.name;
    if (activity) return activity === 'watchRevision' ? [] : [activity];
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

const CREATE = ['update:admission', 'reserveQuota', 'applyRevision', 'routeTraffic'];
const DELETE = ['update:delete', 'removeDeployment', 'releaseQuota'];

/** One entry per recorded history: what it must show about the workflow's behaviour. */
const EXPECTED: Record<string, (history: History) => void> = {
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

const files = fs
  .readdirSync(HISTORIES)
  .filter((f) => f.endsWith('.json'))
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
