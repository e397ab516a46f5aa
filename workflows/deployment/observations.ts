/**
 * Replica observations: what the runtime's observer tells a deployment's workflow about its
 * replicas, as a signal, only when something that matters changed (ready count, restarts and
 * why, Pending reasons, existence). Shared by the observer (sender) and the workflow (receiver).
 */
import { defineSignal } from '@temporalio/workflow';
import type { RevisionStatus } from '../../activities/providers/provider';

export interface ReplicasObservation extends RevisionStatus {
  /** When the observer saw this (ISO): an older observation never replaces a newer one. */
  observedAt: string;
  /**
   * Set when the observer cannot see the runtime any more (why): the counts are the last known
   * ones, and health is Unknown until an observation without it comes.
   */
  unreachable?: string;
}

export const observeReplicasSignal = defineSignal<[ReplicasObservation]>('observeReplicas');

/**
 * What of a revision's status is worth a signal: everything the workflow's health, events and
 * restarts come from. URLs and start times are left out (they change nothing the workflow decides).
 */
export function observationFingerprint(status: RevisionStatus): string {
  return JSON.stringify([
    status.exists,
    status.desired,
    status.ready,
    status.restarts,
    status.replicas.map((r) => [r.id, r.ready, r.restarts, r.message ?? '']),
  ]);
}
