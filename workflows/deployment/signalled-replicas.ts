/**
 * How a deployment's workflow learns what its replicas do (since OBSERVED_REPLICAS_PATCH): the
 * runtime's observer signals each change (observations.ts), and the workflow only asks itself
 * (a short status call, never a held slot) when it has heard nothing for a while:
 *
 * - while replicas are not all ready, or health is Unknown: after 5 s, doubling to 5 minutes
 *   (with an observer the signal comes first; without one, readiness is still seen, and a
 *   replica that never loads costs a dozen calls an hour, not one a second);
 * - when steady: after two hours of silence (SAFETY_NET_MS, plus up to 30 min fixed per
 *   deployment since FEWER_TIMERS_PATCH), on one long timer that a signal
 *   does not cancel, so a steady deployment costs a handful of history events an hour;
 * - with nothing running (paused, scaled to zero): never (there is nothing to lose track of).
 *
 * A status call that fails makes health Unknown (with the error) and is tried again after a
 * backoff, like every failing step.
 *
 * Runs inside the workflow sandbox: deterministic, no I/O but through Temporal.
 */
import { log, sleep } from '@temporalio/workflow';
import { clockTime } from './autoscaler';
import type { RevisionStatus } from '../../activities/providers/provider';
import { statusActivities } from '../activity-options';
import type { DeploymentEntity } from './entity';
import { events } from './events';
import { failureMessage, isOutsideFailure } from './failures';
import type { ReplicasObservation } from './observations';
import type { RuntimeTarget } from '../domain/spec';

/** Steady and silent this long: ask the runtime once (the observer may be gone). */
export const SAFETY_NET_MS = 2 * 60 * 60_000;
/** Since FEWER_TIMERS_PATCH each deployment adds up to this much, fixed by its ID. */
export const SAFETY_NET_SPREAD_MS = 30 * 60_000;

/**
 * A deployment's safety-net period: SAFETY_NET_MS plus a part of SAFETY_NET_SPREAD_MS fixed by
 * its workflow ID (FNV-1a), so deployments created together drift apart instead of asking the
 * runtime in the same minute every 2 h. Deterministic: the same ID gives the same period.
 */
export function safetyNetMsFor(workflowId: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < workflowId.length; i++) {
    hash ^= workflowId.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return SAFETY_NET_MS + Math.floor((hash / 0x1_0000_0000) * SAFETY_NET_SPREAD_MS);
}
/** Not converged: ask after this long without news, doubling up to LOADING_CHECK_MAX_MS. */
export const LOADING_CHECK_FIRST_MS = 5_000;
export const LOADING_CHECK_MAX_MS = 5 * 60_000;
const FAILURE_RETRY_FIRST_MS = 5_000;
const FAILURE_RETRY_MAX_MS = 5 * 60_000;

/** What the main loop needs from whichever way replicas are observed (this, or the old watch). */
export interface ReplicaSource {
  /** Before waiting: start what the wait needs (a watch, a timer). */
  ensure(): Promise<void>;
  /** Before anything changes which revision runs, and before continue-as-new. */
  stop(): Promise<void>;
  /** Something to take in now (the wait ends). */
  settled(): boolean;
  /** Milliseconds until the wait must end to ask again, if it must. */
  msUntilRetry(now: number): number | undefined;
  /** Takes in what came (or asks, when it is time); false when there was nothing to do. */
  take(at: Date): Promise<boolean>;
  /** A step observed the replicas itself at `at` (its status supersedes older signals). */
  stepObserved(at: number): void;
}

export interface SignalledReplicasContext {
  d: DeploymentEntity;
  target: RuntimeTarget;
  /** Steady and silent this long: ask (SAFETY_NET_MS, or safetyNetMsFor this deployment). */
  safetyNetMs: number;
}

export class SignalledReplicas implements ReplicaSource {
  /** The newest observation per revision (the active one, or one a rollout is bringing up). */
  private readonly latest = new Map<number, ReplicasObservation>();
  /** Workflow time of the last news about the replicas (a signal, a step, a status call). */
  private lastHeardAt: number;
  /** Signals seen before this (workflow ms) are older than what a step read since. */
  private stepStartedAt = 0;
  private loadingCheckMs = LOADING_CHECK_FIRST_MS;
  private failureRetryMs = FAILURE_RETRY_FIRST_MS;
  /** After a failed status call: not before this. */
  private retryAt?: number;
  /** The steady safety-net timer: one long sleep, never cancelled, re-armed when it fires. */
  private safetyNet?: { at: number; fired: boolean };

  constructor(private readonly ctx: SignalledReplicasContext) {
    this.lastHeardAt = Date.now();
  }

  /** A signal from the observer. Keeps the newest per revision; taken in by the main loop. */
  receive(observation: ReplicasObservation): void {
    const before = this.latest.get(observation.revision);
    if (before && before.observedAt > observation.observedAt) return;
    this.latest.set(observation.revision, observation);
    // Only the revisions that can matter: what serves and what is being brought up.
    const d = this.ctx.d;
    for (const revision of this.latest.keys())
      if (
        revision !== d.activeRevision &&
        revision !== d.revision &&
        revision !== observation.revision
      )
        this.latest.delete(revision);
  }

  /** Any news from the observer (a metrics keepalive too): it is alive, no need to ask. */
  heard(): void {
    this.lastHeardAt = Date.now();
  }

  stepObserved(at: number): void {
    this.stepStartedAt = at;
    this.lastHeardAt = at;
    this.loadingCheckMs = LOADING_CHECK_FIRST_MS;
  }

  private pending(): ReplicasObservation | undefined {
    const active = this.ctx.d.activeRevision;
    if (active === null) return undefined;
    const observation = this.latest.get(active);
    if (!observation) return undefined;
    if (Date.parse(observation.observedAt) < this.stepStartedAt) {
      this.latest.delete(active); // older than what a step has read since
      return undefined;
    }
    return observation;
  }

  /** Replicas not all ready, or health not known: worth asking soon when nothing is heard. */
  private converging(): boolean {
    const d = this.ctx.d;
    return d.health === 'Unknown' || d.readyReplicas < d.appliedReplicas;
  }

  async ensure(): Promise<void> {
    const d = this.ctx.d;
    // Nothing runs (paused, scaled to zero): nothing to lose track of, so no timer at all.
    if (d.activeRevision === null || d.appliedReplicas === 0 || this.converging()) return;
    if (this.safetyNet && !this.safetyNet.fired) return;
    const now = Date.now();
    const net = { at: Math.max(now, this.lastHeardAt) + this.ctx.safetyNetMs, fired: false };
    this.safetyNet = net;
    // Not in a cancellable scope of a step: it lives across steps, and fires at most once.
    const summary = `safety net: ask the runtime for replica status unless heard from by ${clockTime(net.at, now)}`;
    void sleep(net.at - now, { summary }).then(
      () => void (net.fired = true),
      () => undefined,
    );
  }

  async stop(): Promise<void> {
    // Nothing runs between waits: signals keep coming and are sorted by revision.
  }

  settled(): boolean {
    return this.pending() !== undefined || this.safetyNet?.fired === true;
  }

  msUntilRetry(now: number): number | undefined {
    if (this.ctx.d.activeRevision === null) return undefined;
    if (this.retryAt !== undefined) return Math.max(1, this.retryAt - now);
    if (!this.converging()) return undefined;
    return Math.max(1, this.lastHeardAt + this.loadingCheckMs - now);
  }

  /**
   * Takes in a signal that came and was not taken yet (before continue-as-new: the next run does
   * not have this run's signals). No call: synchronous, so nothing can arrive in between.
   */
  takeSignalled(at: Date): boolean {
    const observation = this.pending();
    if (!observation) return false;
    this.latest.delete(observation.revision);
    this.apply(observation, at);
    return true;
  }

  async take(at: Date): Promise<boolean> {
    const d = this.ctx.d;
    const observation = this.pending();
    if (observation) {
      this.latest.delete(observation.revision);
      this.apply(observation, at);
      return true;
    }
    const now = at.getTime();
    if (this.safetyNet?.fired) this.safetyNet = undefined;
    if (d.activeRevision === null) return false;
    const due = this.converging()
      ? now >= (this.retryAt ?? this.lastHeardAt + this.loadingCheckMs)
      : d.appliedReplicas > 0 && now - this.lastHeardAt >= this.ctx.safetyNetMs;
    if (!due) return false;
    await this.ask(d.activeRevision);
    return true;
  }

  /** The short status call: the safety net when no signal came. */
  private async ask(revision: number): Promise<void> {
    const d = this.ctx.d;
    const startedAt = Date.now();
    try {
      const status = await statusActivities.getRevisionStatus({
        deploymentId: d.id,
        revision,
        ...(this.ctx.target.type === 'byoc' ? { target: this.ctx.target } : {}),
      });
      this.retryAt = undefined;
      this.failureRetryMs = FAILURE_RETRY_FIRST_MS;
      if (d.activeRevision !== revision) return; // a step changed what runs meanwhile
      this.stepStartedAt = startedAt;
      this.loadingCheckMs = Math.min(this.loadingCheckMs * 2, LOADING_CHECK_MAX_MS);
      this.apply(status, new Date());
    } catch (err) {
      if (!isOutsideFailure(err)) throw err;
      const error = failureMessage(err);
      const retryIn = this.failureRetryMs;
      this.retryAt = Date.now() + retryIn;
      this.failureRetryMs = Math.min(this.failureRetryMs * 2, FAILURE_RETRY_MAX_MS);
      d.unreachable(
        new Date(),
        events.runtimeUnreachable('replica status cannot be determined', error, retryIn / 1000),
      );
      log.warn('replica status call failed', { deployment: d.id, error });
    }
  }

  private apply(status: RevisionStatus & { unreachable?: string }, at: Date): void {
    const d = this.ctx.d;
    this.lastHeardAt = at.getTime();
    if (status.unreachable !== undefined) {
      d.unreachable(
        at,
        events.runtimeUnreachable('replica status cannot be determined', status.unreachable),
      );
      return;
    }
    if (!status.exists && d.activeRevision === status.revision) {
      // The runtime no longer has what serves (removed behind our back, its state lost):
      // start it again rather than watch nothing.
      d.revisionMissing(at);
      return;
    }
    d.observe(status, at);
  }
}
