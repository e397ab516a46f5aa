/**
 * The deployment's state inside its workflow, and every rule that changes it: what the user asked
 * for (spec, revision, state) next to what was last observed (replicas, health), the autoscaler's
 * memory, and the events log that explains every change.
 *
 * Each message has its rule here as a method that takes `now` (check it, then apply it), and
 * `nextStep()` says what the workflow's main loop does next. No Temporal calls: the class is
 * plain to table-test and to carry across continue-as-new. The workflow (workflow.ts) only wires
 * messages to these methods and runs the I/O steps (steps.ts).
 */
import type {
  DeploymentEvent,
  DeploymentState,
  DeploymentView,
  Health,
} from '../domain/deployment';
import { deploymentId } from '../domain/deployment';
import { ErrorType, domainFailure } from '../domain/errors';
import { patchResourceSpec } from '../domain/merge-patch';
import {
  canonicalJson,
  changesWhatRuns,
  describeViolations,
  placementChange,
  type Violation,
} from '../domain/spec-facts';
import { validateSpec } from '../domain/lazy-spec';
import type { DeploymentSpec } from '../domain/spec';
import type { RevisionStatus } from '../../activities/providers/provider';
import { decideReplicas, initialAutoscalerState, type AutoscalerState } from './autoscaler';
import type {
  CarriedState,
  DeploymentWorkflowInput,
  PatchRequest,
  WriteRequest,
} from './definitions';
import { events, healthMessage, healthReason, type EventText } from './events';
import { evaluateHealth, msUntilReadinessTimeout } from './health';
import { OBSERVATION_REFRESH_MS, type MetricsObservation } from './metrics';
import { scheduleFloor } from '../schedule';

export type NextStep = 'tearDown' | 'halt' | 'bringUp' | 'rollOut' | 'scale' | 'decide' | 'idle';

/** The writes a client can make, and the states each is allowed in. */
export const ALLOWED_IN: Record<Write, readonly DeploymentState[]> = {
  edit: ['running', 'paused'],
  pause: ['running'],
  resume: ['paused'],
  delete: ['creating', 'running', 'paused', 'updating', 'failed'],
};
export type Write = 'edit' | 'pause' | 'resume' | 'delete';

/** The events log is bounded; older events remain in the workflow histories. */
export const MAX_EVENTS = 200;

export class DeploymentEntity {
  readonly workspace: string;
  readonly name: string;
  readonly id: string;
  spec: DeploymentSpec;
  /** Revision of the spec the user asked for; bumps on every edit that changes what runs. */
  revision: number;
  /** Revision actually running and receiving traffic; null while nothing runs. */
  activeRevision: number | null;
  /** Highest revision number ever handed out (revisions are never reused, even after a rollback). */
  lastRevisionNumber: number;
  state: DeploymentState;
  health: Health;
  desiredReplicas: number;
  readyReplicas = 0;
  restarts = 0;
  /** Replica count last applied to the provider for the active revision. */
  appliedReplicas = 0;
  unreadySince?: string;
  events: DeploymentEvent[];
  createdAt: string;
  updatedAt: string;
  /** Bumped by every accepted message, so the main loop knows to look again. */
  intentVersion = 0;
  /** Accepted writes so far: the counter in `version`, carried across continue-as-new. */
  writes: number;
  /** Why a replica is not ready, as the provider last said (e.g. stuck Pending on GPUs). */
  replicaNote?: string;
  /** Autoscaling: the decision's memory, when it is next due, and whether it is due now. */
  autoscaler: AutoscalerState;
  nextDecisionAt: number | null;
  /** Why the next decision is due then, in words (the decision timer's summary in the UI). */
  nextDecisionWhy: string | null = null;
  decisionDue = false;
  /**
   * The last replica count set, with why (the scale step's summary in the UI). Not carried across
   * continue-as-new: the events log holds it too.
   */
  lastScale?: { from: number; to: number; reason: string; message: string };
  /** Decision timers as before FEWER_TIMERS_PATCH (set by the workflow for older histories). */
  everyExpiry = false;
  /** Recommendations as points, before RECOMMENDATION_IN_FORCE_PATCH (older histories). */
  recommendationsAsPoints = false;
  /** Idleness counted from before the replicas came up, before IDLE_SINCE_UP_PATCH (older histories). */
  idleBeforeUp = false;
  /** Tag keys alone in the tags search attribute too, since TAG_KEYS_SEARCHABLE_PATCH. */
  tagKeysSearchable = false;

  constructor(input: DeploymentWorkflowInput, now: Date) {
    this.workspace = input.workspace;
    this.name = input.name;
    this.id = deploymentId(input.workspace, input.name);
    const c: CarriedState | undefined = input.carried;
    this.spec = c?.spec ?? input.spec;
    this.revision = c?.revision ?? 1;
    this.activeRevision = c ? c.activeRevision : null;
    this.lastRevisionNumber = c?.lastRevisionNumber ?? 1;
    this.state = c?.state ?? 'creating';
    this.health = c?.health ?? 'Progressing';
    this.desiredReplicas = c?.desiredReplicas ?? initialReplicas(this.spec);
    this.readyReplicas = c?.readyReplicas ?? 0;
    this.restarts = c?.restarts ?? 0;
    this.appliedReplicas = c?.appliedReplicas ?? 0;
    this.unreadySince = c?.unreadySince;
    this.events = c?.events ?? [];
    this.createdAt = c?.createdAt ?? now.toISOString();
    this.updatedAt = c?.updatedAt ?? this.createdAt;
    this.writes = c?.writes ?? 0;
    this.autoscaler = c?.autoscaler ?? initialAutoscalerState();
    this.nextDecisionAt = c?.nextDecisionAt ?? null;
    this.decisionDue = c?.decisionDue ?? false;
  }

  /** The resource version (ETag): unique per incarnation of the name, new on every accepted write. */
  get version(): string {
    return `${Date.parse(this.createdAt).toString(36)}.${this.writes}`;
  }

  /**
   * What the main loop does next to make reality match what was asked. One step at a time, so
   * every message that arrives meanwhile is taken into account before the next step. `idle`
   * means nothing is to be done until a message, an observation or a timer says otherwise.
   */
  nextStep(): NextStep {
    if (this.state === 'deleting') return 'tearDown';
    if (this.state === 'paused') return this.activeRevision !== null ? 'halt' : 'idle';
    if (this.activeRevision === null) return 'bringUp';
    if (this.revision !== this.activeRevision) return 'rollOut';
    if (this.desiredReplicas !== this.appliedReplicas) return 'scale';
    // Only a running deployment decides: paused or mid-rollout, an observation waits its turn.
    if (this.decisionDue && this.state === 'running') return 'decide';
    return 'idle';
  }

  // ---- message rules: each check throws the domain failure the client gets, changing nothing --

  /** A write's precondition (If-Match) and whether the state allows it. */
  checkWrite(write: Write, request?: WriteRequest): void {
    if (request?.ifVersion !== undefined && request.ifVersion !== this.version) {
      throw domainFailure(
        ErrorType.PreconditionFailed,
        `deployment "${this.name}" is at version ${this.version}, not ${request.ifVersion} (If-Match): read it again, then retry`,
      );
    }
    if (!ALLOWED_IN[write].includes(this.state)) {
      throw domainFailure(
        ErrorType.Conflict,
        `cannot ${write} deployment "${this.name}" while it is ${this.state}${this.state === 'updating' ? ' (a rolling update is in progress)' : ''}`,
      );
    }
  }

  /** An edit's spec: valid on its own, and on the same cloud and cluster. */
  parseEdit(spec: unknown): DeploymentSpec {
    const result = validateSpec(spec);
    if (!result.ok) throw invalidSpec(result.violations);
    const moved = placementChange(this.spec, result.value);
    if (moved) throw invalidSpec([moved]);
    return result.value;
  }

  /**
   * A merge patch applied to the spec held here (so concurrent edits of different fields both
   * survive), with the same rules as a whole-spec edit. `checked` is what the API validated
   * against the catalog; where model or cloud came out differently here, a concurrent edit
   * changed them meanwhile, and the catalog's verdict no longer holds.
   */
  parsePatch(request: PatchRequest): DeploymentSpec {
    const patched = patchResourceSpec(
      this.view() as unknown as Record<string, unknown>,
      request.patch,
    );
    if (!patched.ok) throw invalidSpec(patched.violations);
    const next = this.parseEdit(patched.spec);
    const catalogFacts = (s: DeploymentSpec) => canonicalJson({ model: s.model, cloud: s.cloud });
    if (catalogFacts(next) !== catalogFacts(request.checked)) {
      throw domainFailure(
        ErrorType.Conflict,
        `deployment "${this.name}" was edited meanwhile (its model or cloud changed): read it again, then retry`,
      );
    }
    return next;
  }

  // ---- message transitions ------------------------------------------------------------------

  /** Takes an accepted edit (quota already held for it). A change to what runs is a new revision. */
  applyEdit(next: DeploymentSpec, now: Date): void {
    const runs = changesWhatRuns(this.spec, next);
    this.spec = next;
    if (this.state !== 'paused') {
      const bounded = clampReplicas(this.desiredReplicas, next);
      const reason = bounded > this.desiredReplicas ? 'ScaledOut' : 'ScaledIn';
      this.setReplicas(
        bounded,
        now,
        reason,
        events.editBounds(next.scaling.minReplicas, next.scaling.maxReplicas),
      );
      this.decisionDue = true; // new bounds or threshold: let the autoscaler look again
    }
    if (runs) {
      this.lastRevisionNumber += 1;
      this.revision = this.lastRevisionNumber;
      if (this.state === 'running') this.state = 'updating';
      this.recordText(
        now,
        events.editedRollout(this.revision, this.state === 'paused'),
        this.revision,
      );
    } else {
      this.recordText(now, events.editedInPlace(), this.revision);
    }
    this.touch(now);
  }

  pause(now: Date): void {
    this.state = 'paused';
    this.recordText(now, events.paused());
    this.touch(now);
  }

  /** Takes an accepted resume (quota already held again): back at the initial replica count. */
  resume(now: Date): void {
    this.state = 'running';
    this.desiredReplicas = initialReplicas(this.spec);
    this.recordText(now, events.resumed(this.revision, this.desiredReplicas), this.revision);
    this.touch(now);
  }

  markDeleting(now: Date): void {
    this.state = 'deleting';
    this.recordText(now, events.deleting());
    this.touch(now);
  }

  /** A metric observation: kept, and a decision is due (made once the deployment runs). */
  observeMetrics(observation: MetricsObservation): void {
    this.autoscaler = { ...this.autoscaler, observation };
    this.decisionDue = true;
  }

  /**
   * Whether a metrics observation would change anything if it were signalled (the observer asks
   * before it signals one that only moved past tolerance): the replica count decided with it, the
   * reason, the next decision's time, the recommendation in force or a burst's hold. Pure, at the
   * observation's own time. An observation that leaves them all as they are writes nothing to the
   * history; the one held is refreshed every OBSERVATION_REFRESH_MS all the same, so it never
   * grows stale and the status stays close to the load. When in doubt (not running, nothing held,
   * older histories' rules), it matters.
   */
  observationMatters(observation: MetricsObservation): boolean {
    const held = this.autoscaler.observation;
    const now = Date.parse(observation.time);
    if (
      this.state !== 'running' ||
      this.desiredReplicas === 0 ||
      this.recommendationsAsPoints ||
      held === undefined ||
      !Number.isFinite(now) ||
      now - Date.parse(held.time) >= OBSERVATION_REFRESH_MS
    )
      return true;
    const outcome = (state: AutoscalerState) => {
      const decision = decideReplicas({
        now,
        spec: this.spec,
        currentReplicas: this.desiredReplicas,
        state,
        everyExpiry: this.everyExpiry,
        idleBeforeUp: this.idleBeforeUp,
      });
      return JSON.stringify([
        decision.replicas,
        decision.reason,
        decision.nextDecisionAt,
        decision.state.recommendations.at(-1)?.replicas,
        decision.state.panicUntil,
      ]);
    };
    return outcome(this.autoscaler) !== outcome({ ...this.autoscaler, observation });
  }

  /**
   * The decision timer fired: decide now if running. Paused, the timer is spent and not set
   * again; the resume decides afresh.
   */
  decisionTimerFired(now: number): void {
    if (this.nextDecisionAt === null || now < this.nextDecisionAt) return;
    if (this.state === 'paused') {
      this.nextDecisionAt = null;
      this.nextDecisionWhy = null;
    } else this.decisionDue = true;
  }

  /** Replicas came up (created, resumed): decide once now, for a schedule floor or cooldown. */
  broughtUp(now: number): void {
    this.autoscaler = { ...this.autoscaler, upSince: now };
    this.decisionDue = true;
  }

  /**
   * Runs the autoscaler and sets the replica count it decides (the main loop then applies it).
   * Returns the decision: its reason and the replica counts before and after.
   */
  decide(now: Date): { reason: string; from: number; to: number } {
    this.decisionDue = false;
    const from = this.desiredReplicas;
    const decision = decideReplicas({
      now: now.getTime(),
      spec: this.spec,
      currentReplicas: this.desiredReplicas,
      state: this.autoscaler,
      everyExpiry: this.everyExpiry,
      recommendationsAsPoints: this.recommendationsAsPoints,
      idleBeforeUp: this.idleBeforeUp,
    });
    this.autoscaler = decision.state;
    this.nextDecisionAt = decision.nextDecisionAt;
    this.nextDecisionWhy = decision.nextDecisionWhy ?? null;
    this.setReplicas(decision.replicas, now, decision.reason, decision.message);
    return { reason: decision.reason, from, to: this.desiredReplicas };
  }

  /** Admission refused: the deployment ends `failed`, with why. */
  fail(now: Date, text: EventText): void {
    this.state = 'failed';
    this.recordText(now, text);
  }

  // ---- views ----------------------------------------------------------------------------------

  view(): DeploymentView {
    return {
      name: this.name,
      workspace: this.workspace,
      spec: this.spec,
      revision: this.revision,
      state: this.state,
      health: this.health,
      replicas: { desired: this.desiredReplicas, ready: this.readyReplicas },
      restarts: this.restarts,
      createdAt: this.createdAt,
      updatedAt: this.updatedAt,
      version: this.version,
    };
  }

  carried(): CarriedState {
    if (this.state !== 'running' && this.state !== 'paused') {
      throw new Error(`cannot continue as new in state ${this.state}`);
    }
    return {
      spec: this.spec,
      revision: this.revision,
      activeRevision: this.activeRevision,
      lastRevisionNumber: this.lastRevisionNumber,
      state: this.state,
      health: this.health,
      desiredReplicas: this.desiredReplicas,
      readyReplicas: this.readyReplicas,
      restarts: this.restarts,
      appliedReplicas: this.appliedReplicas,
      unreadySince: this.unreadySince,
      events: this.events,
      createdAt: this.createdAt,
      updatedAt: this.updatedAt,
      writes: this.writes,
      autoscaler: this.autoscaler,
      nextDecisionAt: this.nextDecisionAt,
      decisionDue: this.decisionDue,
    };
  }

  // ---- the events log -------------------------------------------------------------------------

  record(
    now: Date,
    type: DeploymentEvent['type'],
    reason: string,
    message: string,
    revision?: number,
  ): void {
    this.events.push({
      time: now.toISOString(),
      type,
      reason,
      message,
      ...(revision !== undefined ? { revision } : {}),
    });
    if (this.events.length > MAX_EVENTS) this.events.splice(0, this.events.length - MAX_EVENTS);
  }

  recordText(now: Date, text: EventText, revision?: number): void {
    this.record(now, text.type, text.reason, text.message, revision);
  }

  append(more: DeploymentEvent[]): void {
    for (const e of more) this.events.push(e);
    if (this.events.length > MAX_EVENTS) this.events.splice(0, this.events.length - MAX_EVENTS);
  }

  // ---- replicas and health --------------------------------------------------------------------

  /** A new replica count, recorded as a scale event with why (the main loop then applies it). */
  setReplicas(replicas: number, now: Date, reason: string, message: string): void {
    const from = this.desiredReplicas;
    if (replicas === from) return;
    this.desiredReplicas = replicas;
    this.lastScale = { from, to: replicas, reason, message };
    this.recordText(
      now,
      events.scaled(from, replicas, reason, message),
      this.activeRevision ?? undefined,
    );
  }

  touch(now: Date): void {
    this.updatedAt = now.toISOString();
    this.intentVersion++;
    this.writes++;
  }

  get readinessTimeoutMs(): number {
    return this.spec.readinessTimeoutSeconds * 1000;
  }

  /** Take in what the provider reports for the active revision: restarts, readiness, health. */
  observe(status: RevisionStatus, now: Date): void {
    if (status.restarts > this.restarts) {
      const detail = status.replicas.map((r) => r.message).find((m) => m);
      this.recordText(
        now,
        events.restarted(status.restarts - this.restarts, detail),
        status.revision,
      );
    }
    this.restarts = status.restarts;
    this.readyReplicas = status.exists ? status.ready : 0;
    this.replicaNote = status.replicas.find((r) => !r.ready && r.message)?.message;
    if (this.readyReplicas < this.desiredReplicas) this.unreadySince ??= now.toISOString();
    else this.unreadySince = undefined;
    this.refreshHealth(now, true);
  }

  /** The runtime does not have the active revision: it is brought up again (the next step). */
  revisionMissing(now: Date): void {
    const revision = this.activeRevision;
    this.activeRevision = null;
    this.appliedReplicas = 0;
    this.readyReplicas = 0;
    this.recordText(now, events.revisionMissing(revision), revision ?? undefined);
  }

  /** Replicas were removed (paused or deleted): nothing runs, nothing is ready. */
  removed(now: Date, how: { reason: string; message: string }): void {
    this.activeRevision = null;
    this.appliedReplicas = 0;
    this.readyReplicas = 0;
    this.unreadySince = undefined;
    this.setHealth('NotPresent', now, how.reason, how.message);
  }

  /**
   * The runtime could not be asked: health Unknown, with the error. Every failure is an event
   * (retries are backed off, so there are few), not only the first.
   */
  unreachable(now: Date, why: { reason: string; message: string }): void {
    if (this.health === 'Unknown') this.recordText(now, events.health(why.reason, why.message));
    else this.setHealth('Unknown', now, why.reason, why.message);
  }

  /**
   * Re-evaluates health (also when a readiness deadline passes with nothing observed). Unknown
   * stays until something is observed: counts from before it say nothing about now.
   */
  refreshHealth(now: Date, observed = false): void {
    if (this.health === 'Unknown' && !observed && this.state !== 'paused') return;
    const next = this.state === 'paused' ? 'NotPresent' : evaluateHealth(this.healthInput(now));
    this.setHealth(next, now);
  }

  setHealth(next: Health, now: Date, reason?: string, message?: string): void {
    if (next === this.health) return;
    const previous = this.health;
    this.health = next;
    this.recordText(
      now,
      events.health(
        reason ?? healthReason(next),
        message ??
          healthMessage(previous, next, {
            ready: this.readyReplicas,
            desired: this.desiredReplicas,
            readinessTimeoutSeconds: this.spec.readinessTimeoutSeconds,
            ...(this.replicaNote ? { replicaNote: this.replicaNote } : {}),
            ...(scheduleFloor({ schedule: this.spec.schedule, now: now.getTime() }).outside ===
            'scaleToZero'
              ? { outsideWindows: true }
              : {}),
          }),
      ),
      this.activeRevision ?? undefined,
    );
  }

  msUntilReadinessTimeout(now: Date): number | undefined {
    return msUntilReadinessTimeout(this.healthInput(now));
  }

  private healthInput(now: Date) {
    return {
      desired: this.desiredReplicas,
      ready: this.readyReplicas,
      unreadySince: this.unreadySince,
      readinessTimeoutMs: this.readinessTimeoutMs,
      now: now.getTime(),
    };
  }
}

function invalidSpec(violations: Violation[]) {
  return domainFailure(ErrorType.InvalidSpec, describeViolations(violations), [violations]);
}

/** A new or resumed deployment starts at minReplicas, and at least one so it can serve at once. */
export function initialReplicas(spec: DeploymentSpec): number {
  return Math.max(1, spec.scaling.minReplicas);
}

/** Edits keep the current count inside the new bounds (a deployment scaled to zero stays there if min allows). */
export function clampReplicas(current: number, spec: DeploymentSpec): number {
  return Math.min(spec.scaling.maxReplicas, Math.max(spec.scaling.minReplicas, current));
}
