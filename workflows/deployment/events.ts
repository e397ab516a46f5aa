/**
 * Every text the deployment's events log says, in one place: what people read in
 * `GET .../events` and in the Temporal UI. Each function builds one event's reason and message
 * from what happened; the entity and the workflow's steps record them.
 */
import type { EventType, Health } from '../domain/deployment';

export interface EventText {
  type: EventType;
  reason: string;
  message: string;
}

const lifecycle = (reason: string, message: string): EventText => ({
  type: 'Lifecycle',
  reason,
  message,
});

export const events = {
  created: (name: string, model: string, cloud: string) =>
    lifecycle('Created', `deployment "${name}" created: ${model} on ${cloud}`),
  provisioned: (revision: number, replicas: number, model: string) =>
    lifecycle(
      'Provisioned',
      `revision ${revision}: ${replicas} replica(s) of ${model} starting; waiting for weights to load`,
    ),
  editedRollout: (revision: number, paused: boolean) =>
    lifecycle(
      'Edited',
      `revision ${revision}: ${paused ? 'takes effect on resume' : 'rolling update started'}`,
    ),
  editedInPlace: () => lifecycle('Edited', 'applied in place (scaling, schedule, policy or tags)'),
  paused: () =>
    lifecycle(
      'Paused',
      'pause requested: replicas are being removed; quota is released until resume',
    ),
  resumed: (revision: number, replicas: number) =>
    lifecycle('Resumed', `resuming revision ${revision} with ${replicas} replica(s)`),
  deleting: () =>
    lifecycle('Deleting', 'delete requested: removing every replica and releasing quota'),
  revisionMissing: (revision: number | null) =>
    lifecycle(
      'RevisionMissing',
      `revision ${revision} is not on the runtime any more (removed outside this deployment, or the runtime lost it); starting it again`,
    ),
  deleted: (name: string) => lifecycle('Deleted', `deployment "${name}" deleted`),
  /** A delete that found its runtime unreachable still ends; what may be left is said. */
  removalAbandoned: (error: string) =>
    lifecycle(
      'RemovalFailed',
      `replicas could not be removed (${error}); anything left runs under this deployment's labels and must be removed by hand`,
    ),

  /** Admission refused (quota, or a placement the cluster cannot take). */
  quotaExceeded: (message: string): EventText => ({
    type: 'Quota',
    reason: 'QuotaExceeded',
    message,
  }),
  placementRejected: (message: string): EventText => ({
    type: 'Capacity',
    reason: 'PlacementRejected',
    message,
  }),
  /** Admission could not be completed: what it needed did not answer (bounded retries spent). */
  admissionFailed: (message: string): EventText => ({
    type: 'Capacity',
    reason: 'AdmissionFailed',
    message,
  }),
  placed: (message: string): EventText => ({ type: 'Capacity', reason: 'Placed', message }),
  nodeGroupSized: (grew: boolean, message: string): EventText => ({
    type: 'Capacity',
    reason: grew ? 'NodeGroupScaled' : 'NodeGroupNotScaled',
    message,
  }),

  /** Why the replica count changes: `reason` from the autoscaler or the edit. */
  scaled: (from: number, to: number, reason: string, why: string): EventText => ({
    type: to > from ? 'ScaleOut' : 'ScaleIn',
    reason,
    message: `replicas ${from} -> ${to}: ${why}`,
  }),
  editBounds: (minReplicas: number, maxReplicas: number) =>
    `edit: minReplicas ${minReplicas}, maxReplicas ${maxReplicas}`,

  restarted: (count: number, detail?: string): EventText => ({
    type: 'Restart',
    reason: 'ReplicaRestarted',
    message: `${count} replica restart(s)${detail ? `: ${detail}` : ''}`,
  }),

  rolloutSucceeded: (revision: number): EventText => ({
    type: 'Rollout',
    reason: 'RolloutSucceeded',
    message: `revision ${revision} is live`,
  }),
  rolloutFailed: (activeRevision: number | null, reason: string): EventText => ({
    type: 'Rollout',
    reason: 'RolloutFailed',
    message: `rolled back to revision ${activeRevision}: ${reason}`,
  }),

  health: (reason: string, message: string): EventText => ({ type: 'Health', reason, message }),
  haltedHealth: () => ({
    reason: 'Paused',
    message: 'paused: all replicas removed, configuration kept',
  }),
  deletedHealth: () => ({
    reason: 'Deleted',
    message: 'deleted: every replica removed and quota released',
  }),
  /** The runtime could not be asked; the next try is in `retryInSeconds`. */
  runtimeUnreachable: (what: string, error: string, retryInSeconds?: number) => ({
    reason: 'RuntimeUnreachable',
    message: `${what}: ${error}${retryInSeconds !== undefined ? `; trying again in ${retryInSeconds} s` : ''}`,
  }),
} as const;

/** The Health event's reason for a transition the entity worked out itself. */
export function healthReason(health: Health): string {
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

/** The Health event's message for a transition the entity worked out itself. */
export function healthMessage(
  previous: Health,
  next: Health,
  facts: {
    ready: number;
    desired: number;
    readinessTimeoutSeconds: number;
    replicaNote?: string;
    /** Held at zero by the schedule (scaleToZeroOutsideWindows): requests are refused, not held. */
    outsideWindows?: boolean;
  },
): string {
  const replicas = `${facts.ready}/${facts.desired} replica(s) ready`;
  switch (next) {
    case 'Healthy':
      return facts.desired === 0
        ? facts.outsideWindows
          ? `${previous} -> Healthy: scaled to zero outside its schedule windows; requests get 503 until the next window opens`
          : `${previous} -> Healthy: scaled to zero; the next request wakes it`
        : `${previous} -> Healthy: ${replicas}; accepting inference requests`;
    case 'ProgressingWithTimeout':
      return `${previous} -> ProgressingWithTimeout: ${replicas} after the readiness timeout of ${facts.readinessTimeoutSeconds}s${facts.replicaNote ? ` (${facts.replicaNote})` : ''}; still watching`;
    case 'Progressing':
      return `${previous} -> Progressing: ${replicas}`;
    case 'NotPresent':
      return `${previous} -> NotPresent: no replicas run`;
    case 'Unknown':
      return `${previous} -> Unknown: replica status cannot be determined`;
  }
}
