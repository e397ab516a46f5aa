/**
 * The deployment's state inside its workflow: what the user asked for (spec, revision, state)
 * next to what was last observed (replicas, health), and the events log that explains every
 * change. No Temporal calls here: `now` comes in, so the class is plain to test and to carry
 * across continue-as-new.
 */
import type {
  DeploymentEvent,
  DeploymentState,
  DeploymentView,
  EventType,
  Health,
} from '../domain/deployment';
import { deploymentId } from '../domain/deployment';
import type { DeploymentSpec } from '../domain/spec';
import type { RevisionStatus } from '../../activities/providers/provider';
import type { CarriedState, DeploymentWorkflowInput } from './definitions';
import { evaluateHealth, msUntilReadinessTimeout } from './health';

export type NextStep = 'tearDown' | 'halt' | 'bringUp' | 'rollOut' | 'scale' | 'idle';

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
  }

  /** The resource version (ETag): unique per incarnation of the name, new on every accepted write. */
  get version(): string {
    return `${Date.parse(this.createdAt).toString(36)}.${this.writes}`;
  }

  /**
   * What the main loop does next to make reality match what was asked. One step at a time, so
   * every message that arrives meanwhile is taken into account before the next step.
   */
  nextStep(): NextStep {
    if (this.state === 'deleting') return 'tearDown';
    if (this.state === 'paused') return this.activeRevision !== null ? 'halt' : 'idle';
    if (this.activeRevision === null) return 'bringUp';
    if (this.revision !== this.activeRevision) return 'rollOut';
    if (this.desiredReplicas !== this.appliedReplicas) return 'scale';
    return 'idle';
  }

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
    };
  }

  record(now: Date, type: EventType, reason: string, message: string, revision?: number): void {
    this.events.push({
      time: now.toISOString(),
      type,
      reason,
      message,
      ...(revision !== undefined ? { revision } : {}),
    });
    if (this.events.length > MAX_EVENTS) this.events.splice(0, this.events.length - MAX_EVENTS);
  }

  append(events: DeploymentEvent[]): void {
    for (const e of events) this.events.push(e);
    if (this.events.length > MAX_EVENTS) this.events.splice(0, this.events.length - MAX_EVENTS);
  }

  /** A new replica count, recorded as a scale event with why (the main loop then applies it). */
  setReplicas(replicas: number, now: Date, reason: string, message: string): void {
    const from = this.desiredReplicas;
    if (replicas === from) return;
    this.desiredReplicas = replicas;
    const out = replicas > from;
    this.record(
      now,
      out ? 'ScaleOut' : 'ScaleIn',
      reason,
      `replicas ${from} -> ${replicas}: ${message}`,
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
      const count = status.restarts - this.restarts;
      const detail = status.replicas.map((r) => r.message).find((m) => m);
      this.record(
        now,
        'Restart',
        'ReplicaRestarted',
        `${count} replica restart(s)${detail ? `: ${detail}` : ''}`,
        status.revision,
      );
    }
    this.restarts = status.restarts;
    this.readyReplicas = status.exists ? status.ready : 0;
    this.replicaNote = status.replicas.find((r) => !r.ready && r.message)?.message;
    if (this.readyReplicas < this.desiredReplicas) this.unreadySince ??= now.toISOString();
    else this.unreadySince = undefined;
    this.refreshHealth(now);
  }

  /** Re-evaluates health (also when a readiness deadline passes with nothing observed). */
  refreshHealth(now: Date): void {
    const next = this.state === 'paused' ? 'NotPresent' : evaluateHealth(this.healthInput(now));
    this.setHealth(next, now);
  }

  setHealth(next: Health, now: Date, reason?: string, message?: string): void {
    if (next === this.health) return;
    const previous = this.health;
    this.health = next;
    this.record(
      now,
      'Health',
      reason ?? healthReason(next),
      message ?? this.healthMessage(previous, next),
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

  private healthMessage(previous: Health, next: Health): string {
    const replicas = `${this.readyReplicas}/${this.desiredReplicas} replica(s) ready`;
    switch (next) {
      case 'Healthy':
        return this.desiredReplicas === 0
          ? `${previous} -> Healthy: scaled to zero; the next request wakes it`
          : `${previous} -> Healthy: ${replicas}; accepting inference requests`;
      case 'ProgressingWithTimeout':
        return `${previous} -> ProgressingWithTimeout: ${replicas} after the readiness timeout of ${this.spec.readinessTimeoutSeconds}s${this.replicaNote ? ` (${this.replicaNote})` : ''}; still watching`;
      case 'Progressing':
        return `${previous} -> Progressing: ${replicas}`;
      case 'NotPresent':
        return `${previous} -> NotPresent: no replicas run`;
      case 'Unknown':
        return `${previous} -> Unknown: replica status cannot be determined`;
    }
  }
}

function healthReason(health: Health): string {
  switch (health) {
    case 'Healthy':
      return 'ReplicasReady';
    case 'ProgressingWithTimeout':
      return 'ReadinessTimeout';
    case 'Progressing':
      return 'ReplicasNotReady';
    case 'NotPresent':
      return 'NoReplicas';
    case 'Unknown':
      return 'StatusUnknown';
  }
}

/** A new or resumed deployment starts at minReplicas, and at least one so it can serve at once. */
export function initialReplicas(spec: DeploymentSpec): number {
  return Math.max(1, spec.scaling.minReplicas);
}

/** Edits keep the current count inside the new bounds (a deployment scaled to zero stays there if min allows). */
export function clampReplicas(current: number, spec: DeploymentSpec): number {
  return Math.min(spec.scaling.maxReplicas, Math.max(spec.scaling.minReplicas, current));
}
