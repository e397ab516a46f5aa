/**
 * One long-lived workflow per deployment (ID `deployment:{workspace}:{name}`): the wiring.
 *
 * Messages (updates with synchronous validators) are checked and applied by the entity's rules
 * (entity.ts); the main loop asks the entity for the next step and runs it (steps.ts):
 *
 * 1. admission: placement (BYOC) and quota, or the deployment ends `failed`; a delete wins;
 * 2. loop: delete -> tear down and end; pause -> remove replicas, release quota;
 *    resume -> bring the revision back; new revision -> rolling update child workflow;
 *    replica count changed -> scale in place; a decision due -> autoscale; otherwise wait for
 *    something to do (a message, an observation, the replica watch, one timer);
 * 3. continue as new when the history grows large, carrying the state and events.
 */
import {
  allHandlersFinished,
  condition,
  continueAsNew,
  patched,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import { ErrorType, domainFailure, isDomainFailure } from '../domain/errors';
import { canonicalJson, changesWhatRuns, runtimeTargetOf } from '../domain/spec-facts';
import type { DeploymentSpec } from '../domain/spec';
import type { RuntimeTarget } from '../domain/spec';
import { combineDemands } from '../quota/ledger';
import { SAFETY_NET_MS, safetyNetMsFor } from './signalled-replicas';
import {
  BYOC_ON_CLUSTERS_PATCH,
  DELETE_ALWAYS_WINS_PATCH,
  OBSERVED_REPLICAS_PATCH,
  FEWER_TIMERS_PATCH,
  KEPT_WAKE_TIMER_PATCH,
  LOCAL_SCALE_STEP_PATCH,
  RECOMMENDATION_IN_FORCE_PATCH,
  IDLE_SINCE_UP_PATCH,
  NAMED_METRICS_SIGNALS_PATCH,
  TAG_KEYS_SEARCHABLE_PATCH,
  admissionUpdate,
  autoscalerQuery,
  deleteUpdate,
  editUpdate,
  eventsQuery,
  patchUpdate,
  pauseUpdate,
  resumeUpdate,
  statusQuery,
  type DeploymentEnding,
  type DeploymentWorkflowInput,
} from './definitions';
import { DeploymentEntity } from './entity';
import { reportDecision } from './telemetry';
import { events } from './events';
import {
  NAMED_METRICS_SIGNALS,
  observationMattersQuery,
  observeMetricsSignal,
  type MetricsObservation,
} from './metrics';
import { observeReplicasSignal } from './observations';
import {
  DeploymentSteps,
  demandOf,
  failureMessage,
  isOutsideFailure,
  type StepContext,
} from './steps';

type Admission =
  'pending' | 'accepted' | { rejected: string; type: ErrorType; details?: unknown[] };

export async function deploymentWorkflow(
  input: DeploymentWorkflowInput,
): Promise<DeploymentEnding> {
  const d = new DeploymentEntity(input, new Date());
  /**
   * BYOC deployments run on their linked cluster and hold their node group's GPUs. Deployments
   * created before that (patch absent) keep running where they were, with no reservation.
   */
  const byocOnClusters =
    d.spec.cloud.type === 'byoc' &&
    (input.carried ? input.carried.byocOnClusters === true : patched(BYOC_ON_CLUSTERS_PATCH));
  const deleteWins = patched(DELETE_ALWAYS_WINS_PATCH);
  const observedBySignal = patched(OBSERVED_REPLICAS_PATCH);
  const fewerTimers = patched(FEWER_TIMERS_PATCH);
  const keptWakeTimer = patched(KEPT_WAKE_TIMER_PATCH);
  d.everyExpiry = !fewerTimers;
  d.recommendationsAsPoints = !patched(RECOMMENDATION_IN_FORCE_PATCH);
  d.idleBeforeUp = !patched(IDLE_SINCE_UP_PATCH);
  d.tagKeysSearchable = patched(TAG_KEYS_SEARCHABLE_PATCH);
  /** Where replicas run: fixed at create, since an edit cannot change the cloud or cluster. */
  const target: RuntimeTarget = byocOnClusters ? runtimeTargetOf(d.spec) : { type: 'dedicated' };

  /** Handlers that await (quota) take turns, so two edits never interleave. */
  let handlerBusy = false;
  async function exclusively<T>(fn: () => Promise<T>): Promise<T> {
    await condition(() => !handlerBusy);
    handlerBusy = true;
    try {
      return await fn();
    } finally {
      handlerBusy = false;
    }
  }

  const ctx: StepContext = {
    d,
    holder: workflowInfo().workflowId,
    byocOnClusters,
    target,
    deleteWins,
    observedBySignal,
    safetyNetMs: fewerTimers ? safetyNetMsFor(workflowInfo().workflowId) : SAFETY_NET_MS,
    keptWakeTimer,
    localScaleSteps: patched(LOCAL_SCALE_STEP_PATCH),
    exclusively,
    handlersBusy: () => handlerBusy,
    continueAsNewSuggested: () => workflowInfo().continueAsNewSuggested,
  };
  const steps = new DeploymentSteps(ctx);
  let admission: Admission = input.carried ? 'accepted' : 'pending';
  /** The spec of the revision that runs: what a failed rollout goes back to. */
  let activeSpec: DeploymentSpec = d.spec;

  // ---- messages ---------------------------------------------------------------------------

  setHandler(statusQuery, () => d.view());
  setHandler(eventsQuery, () => d.events);
  setHandler(autoscalerQuery, () => ({
    ...(d.autoscaler.observation
      ? { observedAt: d.autoscaler.observation.time, observation: d.autoscaler.observation }
      : {}),
    decisionDue: d.decisionDue,
    nextDecisionAt: d.nextDecisionAt,
  }));
  setHandler(observationMattersQuery, (observation) => d.observationMatters(observation));
  // One handler for every metrics signal: the name only says, in the history, what changed.
  const observeMetrics = (observation: MetricsObservation) => {
    steps.signalled?.heard();
    d.observeMetrics(observation);
  };
  setHandler(observeMetricsSignal, observeMetrics);
  for (const signal of NAMED_METRICS_SIGNALS) {
    setHandler(signal, (observation) => {
      // Ignored where the code that ran had no handler for it (a replay of such a history).
      if (patched(NAMED_METRICS_SIGNALS_PATCH)) observeMetrics(observation);
    });
  }
  // Registered in every run (a signal to a run on the older watch is kept and ignored).
  setHandler(observeReplicasSignal, (observation) => steps.signalled?.receive(observation));

  setHandler(admissionUpdate, async () => {
    await condition(() => admission !== 'pending');
    if (typeof admission === 'object') {
      throw domainFailure(admission.type, admission.rejected, admission.details);
    }
    return d.view();
  });

  /** An edit that passed its rules: placement and quota for it, then the entity takes it. */
  async function acceptEdit(next: DeploymentSpec) {
    const runs = changesWhatRuns(d.spec, next);
    if (runs && byocOnClusters) await steps.checkPlacement(next);
    if (d.state === 'running') {
      // A rollout may end on either spec (success or rollback): hold enough for both until then.
      const demand = runs
        ? combineDemands(demandOf(ctx, d.spec), demandOf(ctx, next))
        : demandOf(ctx, next);
      if (canonicalJson(demand) !== canonicalJson(demandOf(ctx, d.spec)))
        await steps.reserve(demand);
    }
    d.checkWrite('edit'); // a delete may have come while this waited
    d.applyEdit(next, new Date());
    steps.syncSearchAttributes();
    return d.view();
  }

  setHandler(
    editUpdate,
    (spec) =>
      exclusively(async () => {
        d.checkWrite('edit');
        return acceptEdit(d.parseEdit(spec));
      }),
    {
      validator: (spec) => {
        d.checkWrite('edit');
        d.parseEdit(spec);
      },
    },
  );

  setHandler(
    patchUpdate,
    (request) =>
      exclusively(async () => {
        // Checked again in turn: an edit before this one may have changed the spec or version.
        d.checkWrite('edit', request);
        return acceptEdit(d.parsePatch(request));
      }),
    {
      validator: (request) => {
        d.checkWrite('edit', request);
        d.parsePatch(request);
      },
    },
  );

  setHandler(
    pauseUpdate,
    (request) =>
      exclusively(async () => {
        d.checkWrite('pause', request);
        d.pause(new Date());
        steps.syncSearchAttributes();
        return d.view();
      }),
    { validator: (request) => d.checkWrite('pause', request) },
  );

  setHandler(
    resumeUpdate,
    (request) =>
      exclusively(async () => {
        d.checkWrite('resume', request);
        await steps.reserve(demandOf(ctx, d.spec));
        d.checkWrite('resume'); // a delete may have come while this reserved
        d.resume(new Date());
        steps.syncSearchAttributes();
        return d.view();
      }),
    { validator: (request) => d.checkWrite('resume', request) },
  );

  const markDeleting = async (request: { ifVersion?: string } | undefined) => {
    d.checkWrite('delete', request);
    d.markDeleting(new Date());
    steps.syncSearchAttributes();
    return d.view();
  };
  setHandler(
    deleteUpdate,
    // Delete always wins: it does not wait for a handler's turn (those check again after they wait).
    (request) => (deleteWins ? markDeleting(request) : exclusively(() => markDeleting(request))),
    { validator: (request) => d.checkWrite('delete', request) },
  );

  const ending = async (): Promise<DeploymentEnding> => {
    await condition(allHandlersFinished);
    return { view: d.view(), events: d.events };
  };

  // ---- admission --------------------------------------------------------------------------

  if (!input.carried) {
    steps.syncSearchAttributes();
    let admitted: Awaited<ReturnType<DeploymentSteps['admit']>>;
    try {
      admitted = await steps.admit();
    } catch (err) {
      const refusal = refusalOf(err);
      if (!refusal) throw err;
      admission = refusal;
      d.fail(
        new Date(),
        refusal.type === ErrorType.QuotaExceeded
          ? events.quotaExceeded(refusal.rejected)
          : refusal.type === ErrorType.InvalidSpec
            ? events.placementRejected(refusal.rejected)
            : events.admissionFailed(refusal.rejected),
      );
      steps.syncSearchAttributes();
      return ending();
    }
    if (admitted === 'deleted') {
      admission = {
        type: ErrorType.Conflict,
        rejected: `deployment "${d.name}" was deleted before it was admitted`,
      };
    } else {
      if (admitted.placed) d.recordText(new Date(), events.placed(admitted.placed));
      admission = 'accepted';
      d.recordText(new Date(), events.created(d.name, d.spec.model, d.spec.cloud.type), d.revision);
      await steps.run('starting replicas', async () => {
        await steps.bringUp();
        d.broughtUp(Date.now());
      });
      if (d.state === 'creating') d.state = 'running';
      steps.syncSearchAttributes();
    }
  }

  // ---- main loop ----------------------------------------------------------------------------

  /** The state now: handlers change it while the loop awaits, which TypeScript's narrowing cannot see. */
  const stateNow = () => d.state;

  for (;;) {
    switch (d.nextStep()) {
      case 'tearDown':
        await steps.tearDown();
        return ending();
      case 'halt':
        await steps.run('removing replicas', () => steps.halt());
        break;
      case 'bringUp':
        await steps.run('starting replicas', async () => {
          await steps.bringUp();
          // Decide once now: a schedule floor or a scale-to-zero cooldown applies before any traffic.
          d.broughtUp(Date.now());
        });
        break;
      case 'rollOut': {
        const held = combineDemands(demandOf(ctx, activeSpec), demandOf(ctx, d.spec));
        await steps.rollOut(activeSpec);
        activeSpec = d.spec;
        // Back to the demand of the spec that won; never more than was held, so it always fits.
        if (
          stateNow() !== 'deleting' &&
          canonicalJson(held) !== canonicalJson(demandOf(ctx, d.spec))
        ) {
          await steps.run('settling quota after the rollout', () =>
            steps.reserve(demandOf(ctx, d.spec)),
          );
        }
        break;
      }
      case 'scale':
        await steps.run('scaling replicas', () => steps.scaleInPlace());
        break;
      case 'decide':
        activeSpec = d.spec;
        // Counted and logged through sinks: no history event, nothing while replaying.
        reportDecision(d.id, d.decide(new Date()));
        break;
      case 'idle':
        activeSpec = d.spec;
        if (workflowInfo().continueAsNewSuggested) {
          await steps.watch.stop();
          await condition(allHandlersFinished);
          const state = stateNow();
          if (state === 'running' || state === 'paused') {
            // A replica observation signalled and not taken in yet would be lost with this run.
            if (steps.signalled?.takeSignalled(new Date()) && d.nextStep() !== 'idle') break;
            await continueAsNew<typeof deploymentWorkflow>({
              workspace: d.workspace,
              name: d.name,
              spec: d.spec,
              carried: { ...d.carried(), byocOnClusters },
            });
          }
          break;
        }
        await steps.idle();
        break;
    }
    steps.syncSearchAttributes();
  }
}

/**
 * Why admission was refused, as the admission update answers it: a domain answer (quota,
 * placement), or what could not be reached once its retries were spent. Undefined for a bug.
 */
function refusalOf(err: unknown): Exclude<Admission, 'pending' | 'accepted'> | undefined {
  if (isDomainFailure(err, ErrorType.QuotaExceeded, ErrorType.InvalidSpec)) {
    return {
      rejected: err.message,
      type: err.type as ErrorType,
      details: [...(err.details ?? [])],
    };
  }
  if (isOutsideFailure(err)) {
    return {
      rejected: `admission could not be completed, nothing was created: ${failureMessage(err)}`,
      type: ErrorType.Unavailable,
    };
  }
  return undefined;
}
