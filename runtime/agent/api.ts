/**
 * The agent's HTTP API payloads, shared (as types only) with the LocalRuntimeProvider that
 * calls it, so the two sides cannot drift apart.
 */
import type { ReplicaStatus, RevisionTemplate } from '../../activities/providers/provider';

/** Body of PUT /v1/replicasets/:name. */
export interface ReplicaSetSpec {
  deploymentId: string;
  revision: number;
  replicas: number;
  template: RevisionTemplate;
}

export interface ReplicaInfo extends ReplicaStatus {
  /** null while the replica is being (re)started. */
  pid: number | null;
  /** 0 until the first process of the replica has started. */
  port: number;
}

/**
 * Answer of PUT and GET /v1/replicasets/:name, and of DELETE (202) while the set still drains;
 * DELETE answers 204 once it is gone.
 */
export interface ReplicaSetStatus {
  name: string;
  deploymentId: string;
  revision: number;
  exists: true;
  desired: number;
  ready: number;
  restarts: number;
  template: RevisionTemplate;
  replicas: ReplicaInfo[];
  /** Replicas out of the endpoints that are finishing their requests in flight before they stop. */
  draining: number;
  /** Removal requested: the set goes away (GET answers 404) once `draining` reaches 0. */
  terminating: boolean;
}

/** Answer of GET /v1/replicasets?deploymentId=X. */
export interface ReplicaSetList {
  items: ReplicaSetStatus[];
}

/** Body of PUT /v1/routes/:deploymentId. */
export interface RouteSpec {
  replicaSet: string;
}

/** Answer of GET /v1/routes/:deploymentId/endpoints (and of PUT /v1/routes/:deploymentId). */
export interface RouteEndpoints {
  replicaSet: string | null;
  revision: number | null;
  /** Base URLs of the ready replicas only. */
  urls: string[];
}

/** Body of every 4xx/5xx answer. */
export interface ErrorBody {
  error: string;
}

/** Answer of GET /v1/changes?since=CURSOR&waitMs=N (the observer's change stream). */
export interface ChangeList {
  /** Pass it as `since` next time. */
  cursor: string;
  /** The cursor could not be continued (first call, agent restarted): `items` is every set. */
  resync: boolean;
  /** Sets changed since the cursor, as they are now. */
  items: ReplicaSetStatus[];
  /** Sets removed since the cursor. */
  gone: { name: string; deploymentId: string; revision: number }[];
}

/** Body of PUT /v1/leases/:name. */
export interface LeaseRequest {
  holder: string;
  durationMs: number;
  /** Replaces the checkpoint kept with the lease (for the holder's successor). */
  checkpoint?: string;
}

/** Answer of PUT /v1/leases/:name: 200 held (with the checkpoint), 409 another holder has it. */
export interface LeaseAnswer {
  held: boolean;
  holder: string;
  expiresAt: number;
  checkpoint?: string;
}
