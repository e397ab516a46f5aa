/**
 * The agent's durable desired state: DATA_DIR/agent/state.json.
 *
 * It holds what must survive a restart of the agent: the replica sets with their templates
 * and replicas (pid and port, so running processes can be re-adopted), the replicas still
 * draining (so a restarted agent finishes stopping them), and the routes.
 * Readiness is not stored; it is probed again after a restart.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { RevisionTemplate } from '../../activities/providers/provider';

export interface ReplicaRecord {
  /** r1, r2, ... in creation order; scaling down removes the highest first. */
  id: string;
  /** null while no process runs for the replica (starting, or waiting to restart). */
  pid: number | null;
  port: number;
  startedAt: string;
  restarts: number;
  /** Why the replica was last (re)started. */
  message?: string;
}

/**
 * A replica taken out of service (scaled away, or its set removed): out of the endpoints at once,
 * its process answers what is in flight and exits (SIGTERM), or is killed at the deadline.
 */
export interface DrainRecord {
  id: string;
  pid: number;
  port: number;
  /** When draining began and when it ends at the latest (SIGKILL), ISO times. */
  since: string;
  deadline: string;
}

export interface ReplicaSetRecord {
  name: string;
  deploymentId: string;
  revision: number;
  template: RevisionTemplate;
  /** Next replica number; never reused, so a new replica never takes an old one's logs. */
  nextIndex: number;
  /** Restarts of all replicas since creation, including replicas scaled away since. */
  restarts: number;
  /** One record per desired replica, oldest first. */
  replicas: ReplicaRecord[];
  /** Replicas stopping gracefully; absent in state files written before draining existed. */
  draining?: DrainRecord[];
  /**
   * Removal requested: no replica is desired any more and the set is forgotten once its last
   * replica has drained. Until then its name cannot be applied again (409).
   */
  terminating?: boolean;
}

export interface RouteRecord {
  replicaSet: string;
  revision: number;
}

export interface AgentState {
  version: 1;
  replicaSets: Record<string, ReplicaSetRecord>;
  /** Keyed by deploymentId. */
  routes: Record<string, RouteRecord>;
}

export class StateFile {
  constructor(readonly file: string) {}

  load(): AgentState {
    let text: string;
    try {
      text = fs.readFileSync(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT')
        return { version: 1, replicaSets: {}, routes: {} };
      throw err;
    }
    let state: AgentState;
    try {
      state = JSON.parse(text) as AgentState;
    } catch (err) {
      throw new Error(
        `${this.file} is not valid JSON (${(err as Error).message}); move it aside to start with no replica sets`,
      );
    }
    if (state.version !== 1)
      throw new Error(`${this.file} has unknown version ${String(state.version)}`);
    return state;
  }

  /**
   * Write to a temporary file, then rename over the old one: a crash at any moment leaves
   * either the old or the new state, never half of one. Synchronous on purpose, so the
   * pid of a process just spawned is on disk before anything else can happen.
   */
  save(state: AgentState): void {
    const tmp = `${this.file}.tmp`;
    fs.mkdirSync(path.dirname(this.file), { recursive: true });
    fs.writeFileSync(tmp, JSON.stringify(state, null, 2) + '\n');
    fs.renameSync(tmp, this.file);
  }
}
