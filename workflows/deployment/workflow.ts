import {
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  ParentClosePolicy,
  allHandlersFinished,
  condition,
  continueAsNew,
  isCancellation,
  log,
  patched,
  proxyActivities,
  setHandler,
  startChild,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../../activities';
import type { RevisionStatus } from '../../activities/providers/provider';
import { ErrorType, invalidSpecIn, quotaExceededIn } from '../domain/errors';
import { SA, tagValues } from '../domain/search-attributes';
import type { DeploymentSpec, RuntimeTarget } from '../domain/spec';
import {
  canonicalJson,
  changesWhatRuns,
  describeViolations,
  gpuDemand,
  placementChange,
  runtimeTargetOf,
  validateSpec,
} from '../domain/spec';
import { nodeGroupActivities, removalActivities } from '../long-activities';
import type { GpuDemand } from '../quota/definitions';
import { combineDemands } from '../quota/ledger';
import { rolloutWorkflow } from '../rollout/workflow';
import type { RolloutResult } from '../rollout/definitions';
import { BYOC_ON_CLUSTERS_PATCH, type DeploymentWorkflowInput } from './definitions';
import {
  admissionUpdate,
  deleteUpdate,
  editUpdate,
  eventsQuery,
  pauseUpdate,
  resumeUpdate,
  rolloutWorkflowId,
  statusQuery,
} from './definitions';
import { DeploymentEntity, clampReplicas, initialReplicas } from './entity';
import { decideReplicas, initialAutoscalerState, type AutoscalerState } from './autoscaler';
import { observeMetricsSignal } from './metrics';

const quick = proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  retry: {
    initialInterval: '200 ms',
    maximumInterval: '10 seconds',
    nonRetryableErrorTypes: [ErrorType.QuotaExceeded, ErrorType.InvalidSpec],
  },
});

/** A steady deployment's watch returns this often, so it writes a handful of events an hour. */
const WATCH_MAX_WAIT_MS = 30 * 60 * 1000;
const watcher = proxyActivities<Activities>({
  startToCloseTimeout: WATCH_MAX_WAIT_MS + 60_000,
  heartbeatTimeout: '10 seconds',
  retry: { initialInterval: '500 ms', maximumInterval: '10 seconds', maximumAttempts: 3 },
});

/**
 * One long-lived workflow per deployment (ID `deployment:{workspace}:{name}`).
 *
 * Messages (updates with synchronous validators) record what the user wants; the main loop
 * makes reality match it, one step at a time, and watches replicas in between:
 *
 * 1. reserve quota (or fail the admission), provision the first revision, route traffic;
 * 2. loop: delete -> tear down and end; pause -> remove replicas, release quota;
 *    resume -> bring the revision back; new revision -> rolling update child workflow;
 *    replica count changed -> scale in place; otherwise watch health until something changes;
 * 3. continue as new when the history grows large, carrying the state and events.
 */
export async function deploymentWorkflow(input: DeploymentWorkflowInput): Promise<void> {
  const d = new DeploymentEntity(input, new Date());
  const holder = workflowInfo().workflowId;
  /**
   * BYOC deployments run on their linked cluster and hold their node group's GPUs. Deployments
   * created before that (patch absent) keep running where they were, with no reservation.
   */
  const byocOnClusters =
    d.spec.cloud.type === 'byoc' &&
    (input.carried ? input.carried.byocOnClusters === true : patched(BYOC_ON_CLUSTERS_PATCH));
  /** Where replicas run: fixed at create, since an edit cannot change the cloud or cluster. */
  const target: RuntimeTarget = byocOnClusters ? runtimeTargetOf(d.spec) : { type: 'dedicated' };
  const demandOf = (spec: DeploymentSpec): GpuDemand =>
    spec.cloud.type === 'byoc' && !byocOnClusters ? {} : gpuDemand(spec);
  /** The target for runtime activities; left out for dedicated, so their inputs stay as they were. */
  const targeted = () => (target.type === 'byoc' ? { target } : {});
  let admission:
    'pending' | 'accepted' | { rejected: string; type: ErrorType; details?: unknown[] } =
    input.carried ? 'accepted' : 'pending';
  let handlerBusy = false;
  /** The spec of the revision that runs: what a failed rollout goes back to. */
  let activeSpec: DeploymentSpec = d.spec;
  /** Autoscaling: the decision's memory, and when it is next due. */
  let autoscaler: AutoscalerState = input.carried?.autoscaler ?? initialAutoscalerState();
  let nextDecisionAt: number | null = input.carried?.nextDecisionAt ?? null;
  let decisionDue = false;

  // ---- messages -------------------------------------------------------------------------

  /** Handlers that await (quota) take turns, so two edits never interleave. */
  async function exclusively<T>(fn: () => Promise<T>): Promise<T> {
    await condition(() => !handlerBusy);
    handlerBusy = true;
    try {
      return await fn();
    } finally {
      handlerBusy = false;
    }
  }

  const conflict = (message: string) =>
    ApplicationFailure.create({ type: ErrorType.Conflict, message, nonRetryable: true });
  const requireState = (action: string, ...allowed: string[]) => {
    if (!allowed.includes(d.state)) {
      throw conflict(
        `cannot ${action} deployment "${d.name}" while it is ${d.state}${d.state === 'updating' ? ' (a rolling update is in progress)' : ''}`,
      );
    }
  };

  setHandler(statusQuery, () => d.view());
  setHandler(observeMetricsSignal, (observation) => {
    autoscaler = { ...autoscaler, observation };
    decisionDue = true;
  });
  setHandler(eventsQuery, () => d.events);

  setHandler(admissionUpdate, async () => {
    await condition(() => admission !== 'pending');
    if (typeof admission === 'object') {
      throw ApplicationFailure.create({
        type: admission.type,
        message: admission.rejected,
        ...(admission.details ? { details: admission.details } : {}),
        nonRetryable: true,
      });
    }
    return d.view();
  });

  setHandler(
    editUpdate,
    (spec) =>
      exclusively(async () => {
        requireState('edit', 'running', 'paused');
        const next = parseEdit(spec);
        const now = () => new Date();
        const runs = changesWhatRuns(d.spec, next);
        if (runs && byocOnClusters) await checkPlacement(next);
        if (d.state === 'running') {
          // A rollout may end on either spec (success or rollback): hold enough for both until then.
          const demand = runs ? combineDemands(demandOf(d.spec), demandOf(next)) : demandOf(next);
          if (canonicalJson(demand) !== canonicalJson(demandOf(d.spec))) await reserve(demand);
        }
        d.spec = next;
        if (d.state !== 'paused') {
          const bounded = clampReplicas(d.desiredReplicas, next);
          const reason = bounded > d.desiredReplicas ? 'ScaledOut' : 'ScaledIn';
          const bounds = `edit: minReplicas ${next.scaling.minReplicas}, maxReplicas ${next.scaling.maxReplicas}`;
          d.setReplicas(bounded, now(), reason, bounds);
          decisionDue = true; // new bounds or threshold: let the autoscaler look again
        }
        if (runs) {
          d.lastRevisionNumber += 1;
          d.revision = d.lastRevisionNumber;
          if (d.state === 'running') d.state = 'updating';
          d.record(
            now(),
            'Lifecycle',
            'Edited',
            `revision ${d.revision}: ${d.state === 'paused' ? 'takes effect on resume' : 'rolling update started'}`,
            d.revision,
          );
        } else {
          d.record(
            now(),
            'Lifecycle',
            'Edited',
            'applied in place (scaling, schedule, policy or tags)',
            d.revision,
          );
        }
        d.touch(now());
        syncSearchAttributes();
        return d.view();
      }),
    {
      validator: (spec) => {
        requireState('edit', 'running', 'paused');
        parseEdit(spec);
      },
    },
  );

  setHandler(
    pauseUpdate,
    (_request) =>
      exclusively(async () => {
        requireState('pause', 'running');
        d.state = 'paused';
        d.record(
          new Date(),
          'Lifecycle',
          'Paused',
          'pause requested: replicas are being removed; quota is released until resume',
        );
        d.touch(new Date());
        syncSearchAttributes();
        return d.view();
      }),
    { validator: (_request) => requireState('pause', 'running') },
  );

  setHandler(
    resumeUpdate,
    (_request) =>
      exclusively(async () => {
        requireState('resume', 'paused');
        await reserve(demandOf(d.spec));
        d.state = 'running';
        d.desiredReplicas = initialReplicas(d.spec);
        d.record(
          new Date(),
          'Lifecycle',
          'Resumed',
          `resuming revision ${d.revision} with ${d.desiredReplicas} replica(s)`,
          d.revision,
        );
        d.touch(new Date());
        syncSearchAttributes();
        return d.view();
      }),
    { validator: (_request) => requireState('resume', 'paused') },
  );

  setHandler(
    deleteUpdate,
    (_request) =>
      exclusively(async () => {
        requireState('delete', 'creating', 'running', 'paused', 'updating');
        d.state = 'deleting';
        d.record(
          new Date(),
          'Lifecycle',
          'Deleting',
          'delete requested: removing every replica and releasing quota',
        );
        d.touch(new Date());
        syncSearchAttributes();
        return d.view();
      }),
    {
      validator: (_request) => requireState('delete', 'creating', 'running', 'paused', 'updating'),
    },
  );

  // ---- helpers ----------------------------------------------------------------------------

  function parseSpec(spec: DeploymentSpec): DeploymentSpec {
    const result = validateSpec(spec);
    if (!result.ok) {
      throw ApplicationFailure.create({
        type: ErrorType.InvalidSpec,
        message: describeViolations(result.violations),
        details: [result.violations],
        nonRetryable: true,
      });
    }
    return result.value;
  }

  /** An edit's spec: valid on its own, and on the same cloud and cluster. */
  function parseEdit(spec: DeploymentSpec): DeploymentSpec {
    const next = parseSpec(spec);
    const moved = placementChange(d.spec, next);
    if (moved) {
      throw ApplicationFailure.create({
        type: ErrorType.InvalidSpec,
        message: describeViolations([moved]),
        details: [[moved]],
        nonRetryable: true,
      });
    }
    return next;
  }

  /** Surface an activity's own domain failure (what is left, which field), not the wrapper. */
  const firstHand = (err: unknown) =>
    (err instanceof ActivityFailure && (quotaExceededIn(err) ?? invalidSpecIn(err))) || err;

  /** Reserve these GPUs for this deployment, replacing what it held (none: release). */
  async function reserve(gpus: GpuDemand): Promise<void> {
    try {
      if (Object.keys(gpus).length > 0)
        await quick.reserveQuota({ workspace: d.workspace, holder, gpus });
      else await quick.releaseQuota({ workspace: d.workspace, holder });
    } catch (err) {
      throw firstHand(err);
    }
  }

  /** BYOC: the linked cluster has the node group, and a replica fits one of its nodes. */
  async function checkPlacement(spec: DeploymentSpec): Promise<string> {
    try {
      return (await quick.checkPlacement({ workspace: d.workspace, spec })).message;
    } catch (err) {
      throw firstHand(err);
    }
  }

  /** BYOC: grow the node group (if needed) before asking for more replicas on it. */
  async function ensureNodeGroupCapacity(revision: number, replicas: number): Promise<void> {
    if (!byocOnClusters || replicas === 0) return;
    const sized = await nodeGroupActivities.ensureNodeGroupCapacity({
      deploymentId: d.id,
      revision,
      replicas,
      spec: d.spec,
      target,
    });
    if (sized.message) {
      d.record(
        new Date(),
        'Capacity',
        sized.grew ? 'NodeGroupScaled' : 'NodeGroupNotScaled',
        sized.message,
        revision,
      );
    }
  }

  let lastSearchAttributes = '';
  function syncSearchAttributes(): void {
    const attributes = [
      { key: SA.workspace, value: d.workspace },
      { key: SA.name, value: d.name },
      { key: SA.state, value: d.state },
      { key: SA.health, value: d.health },
      { key: SA.model, value: d.spec.model },
      { key: SA.tags, value: tagValues(d.spec.tags) },
    ];
    const serialized = JSON.stringify(attributes.map((a) => a.value));
    if (serialized === lastSearchAttributes) return;
    lastSearchAttributes = serialized;
    upsertSearchAttributes(attributes);
  }

  async function bringUp(): Promise<void> {
    await ensureNodeGroupCapacity(d.revision, d.desiredReplicas);
    const now = new Date();
    const status = await quick.applyRevision({
      deploymentId: d.id,
      revision: d.revision,
      replicas: d.desiredReplicas,
      spec: d.spec,
      ...targeted(),
    });
    await quick.routeTraffic({ deploymentId: d.id, revision: d.revision, ...targeted() });
    d.activeRevision = d.revision;
    d.appliedReplicas = d.desiredReplicas;
    d.unreadySince = undefined;
    d.record(
      now,
      'Lifecycle',
      'Provisioned',
      `revision ${d.revision}: ${d.desiredReplicas} replica(s) of ${d.spec.model} starting; waiting for weights to load`,
      d.revision,
    );
    d.observe(status, new Date());
  }

  async function halt(): Promise<void> {
    await removalActivities.removeDeployment({ deploymentId: d.id, ...targeted() });
    await quick.releaseQuota({ workspace: d.workspace, holder });
    d.activeRevision = null;
    d.appliedReplicas = 0;
    d.readyReplicas = 0;
    d.unreadySince = undefined;
    d.setHealth(
      'NotPresent',
      new Date(),
      'Paused',
      'paused: all replicas removed, configuration kept',
    );
  }

  async function rollOut(): Promise<void> {
    const toRevision = d.revision;
    const scope = new CancellationScope();
    {
      const child = await scope.run(() =>
        startChild(rolloutWorkflow, {
          workflowId: rolloutWorkflowId(d.workspace, d.name, toRevision),
          args: [
            {
              deploymentId: d.id,
              fromRevision: d.activeRevision,
              toRevision,
              replicas: d.desiredReplicas,
              spec: d.spec,
              readinessTimeoutSeconds: d.spec.readinessTimeoutSeconds,
              ...targeted(),
            },
          ],
          parentClosePolicy: ParentClosePolicy.REQUEST_CANCEL,
        }),
      );
      let result: RolloutResult | undefined;
      const done = child.result().then((r) => (result = r));
      await Promise.race([done, condition(() => d.state === 'deleting')]);
      if (!result) {
        scope.cancel();
        await done.catch(() => undefined);
        return;
      }
      d.append(result.steps);
      const now = new Date();
      if (result.outcome === 'succeeded') {
        d.activeRevision = toRevision;
        d.appliedReplicas = d.desiredReplicas;
        d.readyReplicas = d.desiredReplicas;
        d.unreadySince = undefined;
        d.record(now, 'Rollout', 'RolloutSucceeded', `revision ${toRevision} is live`, toRevision);
      } else {
        // Keep serving what runs; the spec goes back to the active revision's.
        d.record(
          now,
          'Rollout',
          'RolloutFailed',
          `rolled back to revision ${d.activeRevision}: ${result.reason}`,
          toRevision,
        );
        d.spec = activeSpec;
        d.revision = d.activeRevision ?? d.revision;
      }
      if (d.state === 'updating') d.state = 'running';
      d.refreshHealth(now);
    }
  }

  /** Applies the replica count decided (by the autoscaler or an edit, which recorded why). */
  async function scaleInPlace(): Promise<void> {
    const to = d.desiredReplicas;
    if (to > d.appliedReplicas) await ensureNodeGroupCapacity(d.activeRevision!, to);
    const status = await quick.applyRevision({
      deploymentId: d.id,
      revision: d.activeRevision!,
      replicas: to,
      spec: d.spec,
      ...targeted(),
    });
    d.appliedReplicas = to;
    d.observe(status, new Date());
  }

  async function tearDown(): Promise<void> {
    await removalActivities.removeDeployment({ deploymentId: d.id, ...targeted() });
    await quick.releaseQuota({ workspace: d.workspace, holder });
    d.activeRevision = null;
    d.readyReplicas = 0;
    d.desiredReplicas = 0;
    d.setHealth(
      'NotPresent',
      new Date(),
      'Deleted',
      'deleted: every replica removed and quota released',
    );
    d.state = 'deleted';
    d.record(new Date(), 'Lifecycle', 'Deleted', `deployment "${d.name}" deleted`);
    syncSearchAttributes();
  }

  /**
   * The replica watch: one long-poll activity at a time, kept running across scaling steps (a
   * metric signal must not cost a cancelled activity); stopped before anything that changes
   * which revision runs, and before continue-as-new.
   */
  interface WatchRun {
    /** What the watch compares reality with; stale once a step observed something newer. */
    known: { ready: number; restarts: number };
    scope: CancellationScope;
    done: Promise<void>;
    result?: RevisionStatus;
    failure?: unknown;
  }
  let watchRun: WatchRun | undefined;

  function startWatch(): void {
    if (watchRun || d.activeRevision === null) return;
    const known = { ready: d.readyReplicas, restarts: d.restarts };
    const run: WatchRun = { known, scope: new CancellationScope(), done: Promise.resolve() };
    const revision = d.activeRevision;
    run.done = run.scope
      .run(() =>
        watcher.watchRevision({
          deploymentId: d.id,
          revision,
          known: { ...known, exists: true },
          maxWaitMs: WATCH_MAX_WAIT_MS,
          ...targeted(),
        }),
      )
      .then(
        (status) => void (run.result = status),
        (err) => void (run.failure = isCancellation(err) ? undefined : err),
      );
    watchRun = run;
  }

  async function stopWatch(): Promise<void> {
    const run = watchRun;
    if (!run) return;
    watchRun = undefined;
    if (run.result === undefined && run.failure === undefined) run.scope.cancel();
    await run.done;
  }

  /**
   * Waits for the first of: a replica change, a new message, a metrics observation, the next
   * autoscaling decision or readiness deadline (one timer, only when one is due), or a CAN hint.
   */
  async function idle(): Promise<void> {
    // A scale step may have observed a newer ready count than the running watch knows; a watch
    // comparing with stale values could miss a change that comes back (0 -> 1 -> 0), so renew it.
    const stale =
      watchRun &&
      (watchRun.known.ready !== d.readyReplicas || watchRun.known.restarts !== d.restarts);
    if (stale && watchRun?.result === undefined && watchRun?.failure === undefined)
      await stopWatch();
    startWatch();
    const run = watchRun;
    const seenIntent = d.intentVersion;
    const wake = () =>
      run?.result !== undefined ||
      run?.failure !== undefined ||
      d.intentVersion !== seenIntent ||
      decisionDue ||
      workflowInfo().continueAsNewSuggested;
    const now = Date.now();
    const deadlines = [
      d.msUntilReadinessTimeout(new Date(now)),
      nextDecisionAt !== null ? Math.max(1, nextDecisionAt - now) : undefined,
    ];
    const timeout = deadlines.filter((t): t is number => t !== undefined);
    if (timeout.length === 0) await condition(wake);
    else await condition(wake, Math.min(...timeout));

    const at = new Date();
    if (run && (run.result !== undefined || run.failure !== undefined)) {
      watchRun = undefined;
      if (run.result) d.observe(run.result, at);
      else {
        d.setHealth(
          'Unknown',
          at,
          'RuntimeUnreachable',
          `replica status cannot be determined: ${(run.failure as Error).message}`,
        );
        log.warn('watch failed', { deployment: d.id, error: String(run.failure) });
      }
    } else d.refreshHealth(at);
    if (nextDecisionAt !== null && Date.now() >= nextDecisionAt) decisionDue = true;
  }

  /** Runs the autoscaler and sets the replica count it decides (the main loop then applies it). */
  function decide(): void {
    decisionDue = false;
    const decision = decideReplicas({
      now: Date.now(),
      spec: d.spec,
      currentReplicas: d.desiredReplicas,
      state: autoscaler,
    });
    autoscaler = decision.state;
    nextDecisionAt = decision.nextDecisionAt;
    d.setReplicas(decision.replicas, new Date(), decision.reason, decision.message);
  }

  // ---- main loop ----------------------------------------------------------------------------

  /** The state now: handlers change it while the loop awaits, which TypeScript's narrowing cannot see. */
  const stateNow = () => d.state;

  if (!input.carried) {
    syncSearchAttributes();
    let placed: string | undefined;
    try {
      if (byocOnClusters) placed = await checkPlacement(d.spec);
      await reserve(demandOf(d.spec));
    } catch (err) {
      if (!(
        err instanceof ApplicationFailure &&
        (err.type === ErrorType.QuotaExceeded || err.type === ErrorType.InvalidSpec)
      ))
        throw err;
      const type = err.type;
      admission = { rejected: err.message, type, details: [...(err.details ?? [])] };
      d.state = 'failed';
      d.record(
        new Date(),
        type === ErrorType.QuotaExceeded ? 'Quota' : 'Capacity',
        type === ErrorType.QuotaExceeded ? 'QuotaExceeded' : 'PlacementRejected',
        err.message,
      );
      syncSearchAttributes();
      await condition(allHandlersFinished);
      return;
    }
    if (placed) d.record(new Date(), 'Capacity', 'Placed', placed);
    admission = 'accepted';
    d.record(
      new Date(),
      'Lifecycle',
      'Created',
      `deployment "${d.name}" created: ${d.spec.model} on ${d.spec.cloud.type}`,
      d.revision,
    );
    await bringUp();
    autoscaler = { ...autoscaler, upSince: Date.now() };
    decisionDue = true;
    if (d.state === 'creating') d.state = 'running';
    syncSearchAttributes();
  }

  for (;;) {
    switch (d.nextStep()) {
      case 'tearDown':
        await stopWatch();
        await tearDown();
        await condition(allHandlersFinished);
        return;
      case 'halt':
        await stopWatch();
        await halt();
        break;
      case 'bringUp':
        await bringUp();
        // Decide once now: a schedule floor or a scale-to-zero cooldown applies before any traffic.
        autoscaler = { ...autoscaler, upSince: Date.now() };
        decisionDue = true;
        break;
      case 'rollOut': {
        const held = combineDemands(demandOf(activeSpec), demandOf(d.spec));
        await stopWatch();
        await rollOut();
        activeSpec = d.spec;
        // Back to the demand of the spec that won; never more than was held, so it always fits.
        if (stateNow() !== 'deleting' && canonicalJson(held) !== canonicalJson(demandOf(d.spec))) {
          await reserve(demandOf(d.spec));
        }
        break;
      }
      case 'scale':
        await scaleInPlace();
        break;
      case 'idle':
        activeSpec = d.spec;
        if (decisionDue && d.state === 'running' && d.activeRevision !== null) {
          decide();
          break;
        }
        if (workflowInfo().continueAsNewSuggested) {
          await stopWatch();
          await condition(allHandlersFinished);
          const state = stateNow();
          if (state === 'running' || state === 'paused') {
            await continueAsNew<typeof deploymentWorkflow>({
              workspace: d.workspace,
              name: d.name,
              spec: d.spec,
              carried: { ...d.carried(), autoscaler, nextDecisionAt, byocOnClusters },
            });
          }
          break;
        }
        await idle();
        break;
    }
    syncSearchAttributes();
  }
}
