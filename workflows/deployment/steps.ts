/**
 * The deployment workflow's I/O: each step the main loop takes (bring up, scale, roll out, halt,
 * tear down), admission (placement and quota), and the replica watch. Every call to the outside
 * goes through an activity or a child workflow here; the rules live in the entity.
 *
 * Runs inside the workflow sandbox: deterministic, no I/O but through Temporal.
 */
import {
  ActivityFailure,
  CancellationScope,
  ParentClosePolicy,
  condition,
  isCancellation,
  log,
  setCurrentDetails,
  startChild,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import type { RevisionStatus } from '../../activities/providers/provider';
import {
  WATCH_MAX_WAIT_MS,
  nodeGroupActivities,
  quickActivities,
  scaleStepActivities,
  removalActivities,
  watchActivities,
} from '../activity-options';
import { invalidSpecIn, quotaExceededIn } from '../domain/errors';
import { SA, tagSearchValues, tagValues } from '../domain/search-attributes';
import { gpuDemand, type RuntimeTarget } from '../domain/spec-facts';
import type { DeploymentSpec } from '../domain/spec';
import type { GpuDemand } from '../quota/definitions';
import type { RolloutResult } from '../rollout/definitions';
import { rolloutWorkflow } from '../rollout/workflow';
import { rolloutWorkflowId } from './definitions';
import { clockTime } from './autoscaler';
import {
  bringUpSummary,
  currentDetailsOf,
  haltSummary,
  oneLine,
  quotaSummary,
  routeSummary,
  scaleSummary,
  tearDownSummary,
} from './details';
import type { DeploymentEntity } from './entity';
import { events } from './events';
import { failureMessage, isOutsideFailure } from './failures';
import { SignalledReplicas, type ReplicaSource } from './signalled-replicas';
import { WakeTimer } from './wake-timer';

/** How long the loop waits before trying a failed step (or watch) again: doubling, capped. */
const RETRY_FIRST_MS = 5_000;
const RETRY_MAX_MS = 5 * 60_000;

export interface StepContext {
  d: DeploymentEntity;
  /** This workflow's ID: the holder of its quota reservation. */
  holder: string;
  /** BYOC on its linked cluster (BYOC_ON_CLUSTERS_PATCH). */
  byocOnClusters: boolean;
  /** Where replicas run: fixed at create. */
  target: RuntimeTarget;
  /**
   * Since DELETE_ALWAYS_WINS_PATCH: delete interrupts admission and every step, a delete of what
   * never ran removes nothing, quota is released under the handlers' lock, and a failed watch is
   * tried again after a backoff. Older histories take the older path.
   */
  deleteWins: boolean;
  /** The handlers' lock: quota changes of handlers and steps never interleave. */
  exclusively<T>(fn: () => Promise<T>): Promise<T>;
  /** Whether a handler is between its check and its change (it may be reserving quota). */
  handlersBusy(): boolean;
  /** Since OBSERVED_REPLICAS_PATCH: replicas observed by the observer's signals, not a watch. */
  observedBySignal: boolean;
  /** Steady and silent this long: ask the runtime (SAFETY_NET_MS, spread since FEWER_TIMERS_PATCH). */
  safetyNetMs: number;
  /** Since KEPT_WAKE_TIMER_PATCH: the idle wait's timer is kept while its deadline does not move. */
  keptWakeTimer: boolean;
  /** Since LOCAL_SCALE_STEP_PATCH: a scale step's runtime call is a local activity. */
  localScaleSteps: boolean;
  /** Temporal suggests continue-as-new (the history is getting long). */
  continueAsNewSuggested(): boolean;
}

/** The GPUs a spec holds (BYOC deployments from before BYOC_ON_CLUSTERS_PATCH hold none). */
export function demandOf(ctx: StepContext, spec: DeploymentSpec): GpuDemand {
  return spec.cloud.type === 'byoc' && !ctx.byocOnClusters ? {} : gpuDemand(spec);
}

/** Surface an activity's own domain failure (what is left, which field), not the wrapper. */
export const firstHand = (err: unknown) =>
  (err instanceof ActivityFailure && (quotaExceededIn(err) ?? invalidSpecIn(err))) || err;

export { failureMessage, isOutsideFailure };

export class DeploymentSteps {
  /** Something was (maybe) created on the runtime: a delete must remove it. */
  private provisionAttempted: boolean;
  private lastSearchAttributes = '';
  private lastDetails = '';
  /** The idle wait's timer (KEPT_WAKE_TIMER_PATCH). */
  private readonly wakeTimer = new WakeTimer();
  /** The step retry backoff, reset by a step that succeeds. */
  private retryMs = RETRY_FIRST_MS;
  /** How replicas are observed: the observer's signals (since OBSERVED_REPLICAS_PATCH), or a watch. */
  readonly watch: ReplicaSource;
  readonly signalled?: SignalledReplicas;

  constructor(private readonly ctx: StepContext) {
    this.provisionAttempted = ctx.d.state !== 'creating';
    if (ctx.observedBySignal) {
      this.signalled = new SignalledReplicas(ctx);
      this.watch = this.signalled;
    } else this.watch = new ReplicaWatch(ctx);
  }

  private get d(): DeploymentEntity {
    return this.ctx.d;
  }

  /** The target for runtime activities; left out for dedicated, so their inputs stay as they were. */
  private targeted(): { target?: RuntimeTarget } {
    return this.ctx.target.type === 'byoc' ? { target: this.ctx.target } : {};
  }

  /**
   * Sets the search attributes (a history event, only when they change) and the current details
   * (the workflow page's Markdown, no history event; rendered only when what it shows changed).
   */
  syncSearchAttributes(): void {
    this.syncDetails();
    const d = this.d;
    const attributes = [
      { key: SA.workspace, value: d.workspace },
      { key: SA.name, value: d.name },
      { key: SA.state, value: d.state },
      { key: SA.health, value: d.health },
      { key: SA.model, value: d.spec.model },
      {
        key: SA.tags,
        value: d.tagKeysSearchable ? tagSearchValues(d.spec.tags) : tagValues(d.spec.tags),
      },
    ];
    const serialized = JSON.stringify(attributes.map((a) => a.value));
    if (serialized === this.lastSearchAttributes) return;
    this.lastSearchAttributes = serialized;
    upsertSearchAttributes(attributes);
  }

  /** The current details in the Temporal UI: state, health, replicas, last decision, events. */
  private syncDetails(): void {
    const d = this.d;
    const key = JSON.stringify([
      d.state,
      d.health,
      d.revision,
      d.activeRevision,
      d.desiredReplicas,
      d.readyReplicas,
      d.events.length,
      d.events.at(-1),
      d.nextDecisionWhy,
    ]);
    if (key === this.lastDetails) return;
    this.lastDetails = key;
    setCurrentDetails(
      currentDetailsOf({
        state: d.state,
        health: d.health,
        revision: d.revision,
        activeRevision: d.activeRevision,
        desiredReplicas: d.desiredReplicas,
        readyReplicas: d.readyReplicas,
        lastScale: d.lastScale,
        nextDecisionWhy: d.nextDecisionWhy,
        events: d.events,
      }),
    );
  }

  // ---- admission and quota --------------------------------------------------------------------

  /** Reserve these GPUs for this deployment, replacing what it held (none: release). */
  async reserve(gpus: GpuDemand): Promise<void> {
    try {
      if (Object.keys(gpus).length > 0)
        await quickActivities.reserveQuota.executeWithOptions({ summary: quotaSummary(gpus) }, [
          { workspace: this.d.workspace, holder: this.ctx.holder, gpus },
        ]);
      else await this.release();
    } catch (err) {
      throw firstHand(err);
    }
  }

  private release(): Promise<void> {
    return quickActivities.releaseQuota.executeWithOptions({ summary: quotaSummary({}) }, [
      { workspace: this.d.workspace, holder: this.ctx.holder },
    ]);
  }

  /** BYOC: the linked cluster has the node group, and a replica fits one of its nodes. */
  async checkPlacement(spec: DeploymentSpec): Promise<string> {
    try {
      return (await quickActivities.checkPlacement({ workspace: this.d.workspace, spec })).message;
    } catch (err) {
      throw firstHand(err);
    }
  }

  /**
   * Admission: placement (BYOC) and quota. Resolves with the placement's description, or
   * 'deleted' when a delete came first (since DELETE_ALWAYS_WINS_PATCH); rejects with the
   * failure that refused it.
   */
  async admit(): Promise<{ placed?: string } | 'deleted'> {
    const work = async () => {
      const placed = this.ctx.byocOnClusters ? await this.checkPlacement(this.d.spec) : undefined;
      await this.reserve(demandOf(this.ctx, this.d.spec));
      return placed !== undefined ? { placed } : {};
    };
    if (!this.ctx.deleteWins) return work();
    return this.unlessDeleted(work);
  }

  /**
   * Runs `work` until it ends or a delete is accepted, whichever comes first; on a delete the
   * work is cancelled (its activities too) and 'deleted' is returned.
   */
  async unlessDeleted<T>(work: () => Promise<T>): Promise<T | 'deleted'> {
    const scope = new CancellationScope();
    let settled = false;
    const running = scope.run(work).finally(() => (settled = true));
    await condition(() => settled || this.d.state === 'deleting');
    if (settled) return running;
    scope.cancel();
    await running.catch((err: unknown) => {
      if (!isCancellation(err) && !isOutsideFailure(err)) throw err;
    });
    return 'deleted';
  }

  // ---- the main loop's steps --------------------------------------------------------------------

  /**
   * Runs one step of the main loop. Delete interrupts it (since DELETE_ALWAYS_WINS_PATCH). A
   * step whose activities gave up is reported (health Unknown, with the error) and tried again
   * after a backoff: the wait ends early on any message, so a delete still wins.
   */
  async run(what: string, step: () => Promise<void>): Promise<void> {
    try {
      if (this.ctx.deleteWins) await this.unlessDeleted(step);
      else await step();
      this.retryMs = RETRY_FIRST_MS;
    } catch (err) {
      if (!isOutsideFailure(err)) throw err;
      const wait = this.retryMs;
      this.retryMs = Math.min(this.retryMs * 2, RETRY_MAX_MS);
      this.d.unreachable(
        new Date(),
        events.runtimeUnreachable(what, failureMessage(err), wait / 1000),
      );
      log.warn('step failed', { deployment: this.d.id, step: what, error: failureMessage(err) });
      this.syncSearchAttributes();
      const seen = this.d.intentVersion;
      await condition(() => this.d.intentVersion !== seen, wait);
    }
  }

  /** BYOC: grow the node group (if needed) before asking for more replicas on it. */
  private async ensureNodeGroupCapacity(
    revision: number,
    replicas: number,
    spec: DeploymentSpec,
  ): Promise<void> {
    if (!this.ctx.byocOnClusters || replicas === 0) return;
    const sized = await nodeGroupActivities.ensureNodeGroupCapacity({
      deploymentId: this.d.id,
      revision,
      replicas,
      spec,
      target: this.ctx.target,
    });
    if (sized.message)
      this.d.recordText(new Date(), events.nodeGroupSized(sized.grew, sized.message), revision);
  }

  /**
   * Starts the current revision and routes traffic to it. What it starts is fixed when it begins:
   * an edit accepted meanwhile (a new revision) is rolled out after, never mixed into this one.
   */
  async bringUp(): Promise<void> {
    const d = this.d;
    const { revision, spec } = d;
    const replicas = d.desiredReplicas;
    this.provisionAttempted = true;
    await this.ensureNodeGroupCapacity(revision, replicas, spec);
    const now = new Date();
    this.watch.stepObserved(now.getTime());
    const status = await quickActivities.applyRevision.executeWithOptions(
      { summary: bringUpSummary(revision, replicas, spec.model) },
      [{ deploymentId: d.id, revision, replicas, spec, ...this.targeted() }],
    );
    await quickActivities.routeTraffic.executeWithOptions({ summary: routeSummary(revision) }, [
      { deploymentId: d.id, revision, ...this.targeted() },
    ]);
    d.activeRevision = revision;
    d.appliedReplicas = replicas;
    d.unreadySince = undefined;
    d.recordText(now, events.provisioned(revision, replicas, spec.model), revision);
    d.observe(status, new Date());
    // brought up again after its revision went missing mid-update: the update is this
    if (d.state === 'updating' && d.revision === revision) d.state = 'running';
  }

  /** Applies the replica count decided (by the autoscaler or an edit, which recorded why). */
  async scaleInPlace(): Promise<void> {
    const d = this.d;
    const { spec } = d;
    const revision = d.activeRevision!;
    const to = d.desiredReplicas;
    if (to > d.appliedReplicas) await this.ensureNodeGroupCapacity(revision, to, spec);
    this.watch.stepObserved(Date.now());
    // The summary (user metadata) says why in the event history; it takes no part in replay.
    const summary = scaleSummary(d.appliedReplicas, to, d.lastScale);
    const input = { deploymentId: d.id, revision, replicas: to, spec, ...this.targeted() };
    const status = this.ctx.localScaleSteps
      ? await scaleStepActivities.applyRevision.executeWithOptions({ summary }, [input])
      : await quickActivities.applyRevision.executeWithOptions({ summary }, [input]);
    d.appliedReplicas = to;
    d.observe(status, new Date());
  }

  /** Paused: remove every replica, then give the GPUs back (unless a resume took them meanwhile). */
  async halt(): Promise<void> {
    await this.watch.stop();
    await removalActivities.removeDeployment.executeWithOptions({ summary: haltSummary() }, [
      { deploymentId: this.d.id, ...this.targeted() },
    ]);
    if (this.ctx.deleteWins) {
      await this.ctx.exclusively(async () => {
        if (this.d.state === 'paused') await this.release();
      });
    } else await this.release();
    this.d.removed(new Date(), events.haltedHealth());
  }

  /**
   * A rolling update as a child workflow. Its result's steps join the events; a rollout that
   * rolls back (or fails outright) leaves the active revision serving and the spec back at it.
   */
  async rollOut(activeSpec: DeploymentSpec): Promise<void> {
    const d = this.d;
    const toRevision = d.revision;
    this.provisionAttempted = true;
    await this.watch.stop();
    this.watch.stepObserved(Date.now());
    const scope = new CancellationScope();
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
            ...this.targeted(),
          },
        ],
        parentClosePolicy: ParentClosePolicy.REQUEST_CANCEL,
      }),
    );
    let result: RolloutResult | undefined;
    const done = child.result().then(
      (r) => void (result = r),
      (err: unknown) => {
        if (!isOutsideFailure(err)) throw err;
        result = {
          outcome: 'rolledBack',
          reason: `the rollout failed: ${failureMessage(err)}`,
          steps: [],
        };
      },
    );
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
      d.recordText(now, events.rolloutSucceeded(toRevision), toRevision);
    } else {
      // Keep serving what runs; the spec goes back to the active revision's.
      d.recordText(
        now,
        events.rolloutFailed(d.activeRevision, result.reason ?? 'unknown'),
        toRevision,
      );
      d.spec = activeSpec;
      d.revision = d.activeRevision ?? d.revision;
    }
    if (d.state === 'updating') d.state = 'running';
    d.refreshHealth(now, result.outcome === 'succeeded');
  }

  /**
   * Deleted: remove every replica and release the quota, then the deployment is gone. Ends even
   * when the runtime cannot be reached (saying what may be left), so a delete always completes.
   */
  async tearDown(): Promise<void> {
    const d = this.d;
    await this.watch.stop();
    if (!this.ctx.deleteWins || this.provisionAttempted) {
      try {
        await removalActivities.removeDeployment.executeWithOptions(
          { summary: tearDownSummary() },
          [{ deploymentId: d.id, ...this.targeted() }],
        );
      } catch (err) {
        if (!this.ctx.deleteWins || !isOutsideFailure(err)) throw err;
        d.recordText(new Date(), events.removalAbandoned(failureMessage(err)));
      }
    }
    if (this.ctx.deleteWins) {
      // After every handler (a resume may be reserving right now), so nothing is left reserved.
      await condition(() => !this.ctx.handlersBusy());
      await this.release().catch((err: unknown) => {
        if (!isOutsideFailure(err)) throw err;
        log.error('quota not released', { deployment: d.id, error: failureMessage(err) });
      });
    } else await this.release();
    d.activeRevision = null;
    d.readyReplicas = 0;
    d.desiredReplicas = 0;
    d.setHealth(
      'NotPresent',
      new Date(),
      events.deletedHealth().reason,
      events.deletedHealth().message,
    );
    d.state = 'deleted';
    d.recordText(new Date(), events.deleted(d.name));
    this.syncSearchAttributes();
  }

  // ---- waiting --------------------------------------------------------------------------------

  /**
   * Waits for the first of: a replica change (the watch), a message, a step for the main loop
   * (`nextStep()` not idle: e.g. a decision due on a running deployment), the next autoscaling
   * decision or readiness deadline or watch retry (one timer, only when one is due), or a CAN
   * hint. Nothing else can end it, so a paused deployment's wait ends only on a message.
   */
  async idle(): Promise<void> {
    const d = this.d;
    await this.watch.ensure();
    const seenIntent = d.intentVersion;
    const wake = () =>
      this.watch.settled() ||
      d.intentVersion !== seenIntent ||
      d.nextStep() !== 'idle' ||
      this.ctx.continueAsNewSuggested();
    const now = Date.now();
    const deadlines = [
      d.msUntilReadinessTimeout(new Date(now)),
      d.nextDecisionAt !== null ? Math.max(1, d.nextDecisionAt - now) : undefined,
      this.watch.msUntilRetry(now),
    ];
    const timeout = deadlines.filter((t): t is number => t !== undefined);
    // What the timer waits for, as its summary in the event history (no part in replay).
    const summary = () => {
      const first = deadlines.indexOf(Math.min(...timeout));
      const at = clockTime(now + Math.min(...timeout), now);
      if (first === 0)
        return `readiness timeout ${at}: ProgressingWithTimeout unless replicas are ready`;
      if (first === 1) return oneLine(d.nextDecisionWhy ?? `next autoscaling decision ${at}`);
      return `check replica status ${at} (replicas starting, or status unknown)`;
    };
    if (this.ctx.keptWakeTimer) {
      this.wakeTimer.setFor(
        timeout.length > 0 ? now + Math.min(...timeout) : undefined,
        now,
        summary,
      );
      await condition(() => wake() || this.wakeTimer.rang());
      this.wakeTimer.consume();
    } else if (timeout.length === 0) await condition(wake);
    else await condition(wake, Math.min(...timeout), { summary: summary() });

    const at = new Date();
    if (!(await this.watch.take(at))) d.refreshHealth(at);
    d.decisionTimerFired(Date.now());
  }
}

/**
 * The replica watch: one long-poll activity at a time, kept running across scaling steps (a
 * metric signal must not cost a cancelled activity); stopped before anything that changes which
 * revision runs, and before continue-as-new. A watch that fails makes health Unknown (with the
 * error) and is tried again after a backoff, asking for the status at once.
 */
class ReplicaWatch implements ReplicaSource {
  private run?: {
    /** What the watch compares reality with; stale once a step observed something newer. */
    known: { ready: number; restarts: number };
    scope: CancellationScope;
    done: Promise<void>;
    result?: RevisionStatus;
    failure?: unknown;
  };
  private retryAt?: number;
  private backoffMs = RETRY_FIRST_MS;

  constructor(private readonly ctx: StepContext) {}

  settled(): boolean {
    return (
      this.run !== undefined && (this.run.result !== undefined || this.run.failure !== undefined)
    );
  }

  /** Milliseconds until a failed watch is tried again, when one waits for that. */
  msUntilRetry(now: number): number | undefined {
    return this.retryAt !== undefined && this.run === undefined
      ? Math.max(1, this.retryAt - now)
      : undefined;
  }

  /**
   * Renew a watch comparing with stale values (a scale step may have observed a newer ready
   * count; such a watch could miss a change that comes back, 0 -> 1 -> 0), then start one if
   * none runs, unless a failed one waits for its retry.
   */
  async ensure(): Promise<void> {
    const d = this.ctx.d;
    const run = this.run;
    const stale = run && (run.known.ready !== d.readyReplicas || run.known.restarts !== d.restarts);
    if (stale && run.result === undefined && run.failure === undefined) await this.stop();
    if (this.run || d.activeRevision === null) return;
    if (this.retryAt !== undefined && Date.now() < this.retryAt) return;
    this.retryAt = undefined;
    // After a failure (health Unknown), compare with nothing, so the status comes back at once.
    const known =
      d.health === 'Unknown'
        ? { ready: -1, restarts: d.restarts }
        : { ready: d.readyReplicas, restarts: d.restarts };
    const scope = new CancellationScope();
    const started: NonNullable<ReplicaWatch['run']> = { known, scope, done: Promise.resolve() };
    const revision = d.activeRevision;
    started.done = scope
      .run(() =>
        watchActivities.watchRevision({
          deploymentId: d.id,
          revision,
          known: { ...known, exists: true },
          maxWaitMs: WATCH_MAX_WAIT_MS,
          ...(this.ctx.target.type === 'byoc' ? { target: this.ctx.target } : {}),
        }),
      )
      .then(
        (status) => void (started.result = status),
        (err) => void (started.failure = isCancellation(err) ? undefined : err),
      );
    this.run = started;
  }

  async stop(): Promise<void> {
    const run = this.run;
    if (!run) return;
    this.run = undefined;
    if (run.result === undefined && run.failure === undefined) run.scope.cancel();
    await run.done;
  }

  stepObserved(): void {
    // The watch compares with what the entity holds when it is (re)started.
  }

  /** Takes in a finished watch, if there is one. */
  async take(at: Date): Promise<boolean> {
    const run = this.run;
    if (!run || (run.result === undefined && run.failure === undefined)) return false;
    this.run = undefined;
    const d = this.ctx.d;
    if (run.result) {
      this.backoffMs = RETRY_FIRST_MS;
      if (!run.result.exists && this.ctx.deleteWins && d.activeRevision === run.result.revision) {
        // The runtime no longer has what serves (removed behind our back, its state lost):
        // start it again rather than watch nothing.
        d.revisionMissing(at);
        return true;
      }
      d.observe(run.result, at);
      return true;
    }
    const error = failureMessage(run.failure);
    const retryIn = this.ctx.deleteWins ? this.backoffMs : undefined;
    if (retryIn !== undefined) {
      this.retryAt = at.getTime() + retryIn;
      this.backoffMs = Math.min(this.backoffMs * 2, RETRY_MAX_MS);
    }
    d.unreachable(
      at,
      events.runtimeUnreachable(
        'replica status cannot be determined',
        error,
        retryIn !== undefined ? retryIn / 1000 : undefined,
      ),
    );
    log.warn('watch failed', { deployment: d.id, error });
    return true;
  }
}
