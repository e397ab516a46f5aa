/**
 * The provider interface: the only way the control plane touches replicas.
 *
 * A provider runs *revisions* of a deployment. A revision is one immutable version of what
 * runs (model, accelerator, resources, SSH); scaling changes only its replica count. Traffic
 * for a deployment goes to exactly one revision at a time (like a Kubernetes Service whose
 * selector the rollout switches).
 *
 * Every method is idempotent: activities are retried after crashes, so calling any method
 * twice with the same arguments must leave the same result and never duplicate anything.
 */
import type { ObserverLease, RevisionFeed } from '../../observer/feed';

export interface ReplicaStatus {
  /** Stable id of the replica inside its revision. */
  id: string;
  /** Base URL the gateway can proxy to, e.g. http://127.0.0.1:41234 */
  url: string;
  ready: boolean;
  restarts: number;
  startedAt: string;
  readyAt?: string;
  /** Last reason the replica was (re)started or is not ready, for events. */
  message?: string;
}

export interface RevisionStatus {
  deploymentId: string;
  revision: number;
  /** false when the provider has no such revision (never created, or removed). */
  exists: boolean;
  desired: number;
  ready: number;
  /** Total restarts of replicas of this revision since it was created. */
  restarts: number;
  replicas: ReplicaStatus[];
}

/** The status of a revision the provider does not run (never created, or removed). */
export function absentRevision(deploymentId: string, revision: number): RevisionStatus {
  return { deploymentId, revision, exists: false, desired: 0, ready: 0, restarts: 0, replicas: [] };
}

/** What one revision runs. Built by the workflow from the spec and the model catalog. */
export interface RevisionTemplate {
  model: string;
  /** Simulated (local runtime) or expected weight-load time, in milliseconds. */
  loadMs: number;
  /** Local runtime only: the simulated server never becomes ready (to test rollbacks). */
  failLoad?: boolean;
  /** Simulation only (the local control plane's kwok): replicas' containers restart a few times after they become ready. */
  simulateRestarts?: boolean;
  accelerator?: { type: string; count: number };
  /** BYOC: the customer's node group, GPUs per replica, and CPU / memory requests and limits (Kubernetes quantities). */
  nodeGroup?: string;
  gpusPerReplica?: number;
  resources?: { cpuRequest: string; cpuLimit: string; memoryRequest: string; memoryLimit: string };
  /** SSH access: users with the *names* of the Secrets holding their public keys. */
  ssh?: { runtime: 'sidecar' | 'main'; users: { username: string; keySecret: string }[] };
  /** Plain, non-secret settings; secrets travel by name only. */
  env?: Record<string, string>;
}

export interface ApplyRevisionInput {
  deploymentId: string;
  revision: number;
  replicas: number;
  template: RevisionTemplate;
}

/**
 * Replicas are stopped by draining: a replica scaled away, or of a revision being removed, gets
 * no new request from that moment (it leaves `endpoints` at once) and finishes the ones it has,
 * for at most the drain grace (DRAIN_GRACE_SECONDS), before it is stopped.
 */
export interface RuntimeProvider {
  /**
   * Create the revision if missing, else set its replica count. Returns the status after, at
   * once: replicas scaled away drain in the background.
   */
  applyRevision(input: ApplyRevisionInput): Promise<RevisionStatus>;
  /** Current status; `exists: false` when there is no such revision. */
  getRevision(deploymentId: string, revision: number): Promise<RevisionStatus>;
  /** All revisions the provider runs for this deployment (to find and remove leftovers). */
  listRevisions(deploymentId: string): Promise<RevisionStatus[]>;
  /**
   * Stop and forget one revision, its replicas drained first; resolves once it is gone (so
   * applying it again afterwards creates it afresh). No error when it does not exist.
   */
  removeRevision(deploymentId: string, revision: number): Promise<void>;
  /** Send the deployment's traffic to this revision (only its ready replicas get requests). */
  routeTraffic(deploymentId: string, revision: number): Promise<void>;
  /** Remove the route, then every revision (drained); resolves once all are gone. No error when nothing exists. */
  removeDeployment(deploymentId: string): Promise<void>;
  /** Ready replica URLs of the revision that currently gets traffic (the gateway's view). */
  endpoints(deploymentId: string): Promise<{ revision: number | null; urls: string[] }>;
  /**
   * For the runtime's observer: every revision it runs, then each change (observer/feed.ts).
   * A runtime without one is observed only by the workflows' own safety-net status calls.
   */
  revisionFeed?(): RevisionFeed;
  /** The lease that makes one observer of this runtime the active one. */
  observerLease?(holder: string): ObserverLease;
}
