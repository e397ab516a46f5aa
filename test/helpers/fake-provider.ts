/**
 * An in-memory provider for workflow-tier tests (real Temporal server, activities over this).
 * Replicas become ready `loadMs` after they start, by the real clock; failLoad never does.
 * Integration tests use the real local runtime instead.
 */
import type { ObserverLease, RevisionFeed } from '../../observer/feed';
import { MemoryLeaseStore } from '../../observer/memory-lease';
import { observationFingerprint } from '../../workflows/deployment/observations';
import {
  absentRevision,
  type ApplyRevisionInput,
  type RevisionStatus,
  type RuntimeProvider,
} from '../../activities/providers/provider';

interface FakeReplica {
  id: string;
  startedAt: number;
  restarts: number;
  message?: string;
}

interface FakeRevision {
  input: ApplyRevisionInput;
  replicas: FakeReplica[];
  nextId: number;
}

export class FakeProvider implements RuntimeProvider {
  readonly revisions = new Map<string, FakeRevision>();
  readonly routes = new Map<string, number>();
  /** Every call, for assertions about what the workflow asked for. */
  readonly calls: { method: string; deploymentId: string; revision?: number; replicas?: number }[] =
    [];

  private readonly leases = new MemoryLeaseStore();

  /**
   * The observer's feed. A test double: it looks at this provider's memory every 25 ms (no I/O)
   * and delivers what changed, so changes made by tests straight on `revisions` are seen too.
   */
  revisionFeed(): RevisionFeed {
    let timer: NodeJS.Timeout | undefined;
    const known = new Map<string, string>();
    return {
      start: async (handlers) => {
        const look = () => {
          const now = new Set<string>();
          for (const rev of this.revisions.values()) {
            const status = this.status(rev.input.deploymentId, rev.input.revision);
            const k = this.key(status.deploymentId, status.revision);
            now.add(k);
            const fingerprint = observationFingerprint(status);
            if (known.get(k) === fingerprint) continue;
            known.set(k, fingerprint);
            handlers.onStatus(status);
          }
          for (const k of known.keys()) {
            if (now.has(k)) continue;
            known.delete(k);
            const at = k.lastIndexOf('#');
            handlers.onStatus(absentRevision(k.slice(0, at), Number(k.slice(at + 1))));
          }
        };
        look();
        timer = setInterval(look, 25);
      },
      stop: async () => clearInterval(timer),
    };
  }

  observerLease(holder: string): ObserverLease {
    return this.leases.lease(holder);
  }

  private key(deploymentId: string, revision: number) {
    return `${deploymentId}#${revision}`;
  }

  async applyRevision(input: ApplyRevisionInput): Promise<RevisionStatus> {
    this.calls.push({
      method: 'applyRevision',
      deploymentId: input.deploymentId,
      revision: input.revision,
      replicas: input.replicas,
    });
    const key = this.key(input.deploymentId, input.revision);
    const rev = this.revisions.get(key) ?? { input, replicas: [], nextId: 0 };
    rev.input = input;
    while (rev.replicas.length < input.replicas)
      rev.replicas.push({ id: `r${rev.nextId++}`, startedAt: Date.now(), restarts: 0 });
    rev.replicas.splice(input.replicas);
    this.revisions.set(key, rev);
    return this.status(input.deploymentId, input.revision);
  }

  async getRevision(deploymentId: string, revision: number): Promise<RevisionStatus> {
    return this.status(deploymentId, revision);
  }

  async listRevisions(deploymentId: string): Promise<RevisionStatus[]> {
    return [...this.revisions.values()]
      .filter((r) => r.input.deploymentId === deploymentId)
      .map((r) => this.status(deploymentId, r.input.revision));
  }

  async removeRevision(deploymentId: string, revision: number): Promise<void> {
    this.calls.push({ method: 'removeRevision', deploymentId, revision });
    this.revisions.delete(this.key(deploymentId, revision));
  }

  async routeTraffic(deploymentId: string, revision: number): Promise<void> {
    this.calls.push({ method: 'routeTraffic', deploymentId, revision });
    this.routes.set(deploymentId, revision);
  }

  async removeDeployment(deploymentId: string): Promise<void> {
    this.calls.push({ method: 'removeDeployment', deploymentId });
    for (const [key, rev] of this.revisions)
      if (rev.input.deploymentId === deploymentId) this.revisions.delete(key);
    this.routes.delete(deploymentId);
  }

  async endpoints(deploymentId: string): Promise<{ revision: number | null; urls: string[] }> {
    const revision = this.routes.get(deploymentId) ?? null;
    return { revision, urls: [] };
  }

  /** Simulates a replica crash: it restarts and loads its weights again. */
  crashReplica(
    deploymentId: string,
    revision: number,
    message = 'replica exited with code 137; restarted',
  ): void {
    const rev = this.revisions.get(this.key(deploymentId, revision));
    const replica = rev?.replicas[0];
    if (!replica) throw new Error(`no replica of ${deploymentId} revision ${revision}`);
    replica.restarts += 1;
    replica.startedAt = Date.now();
    replica.message = message;
  }

  revisionsOf(deploymentId: string): number[] {
    return [...this.revisions.values()]
      .filter((r) => r.input.deploymentId === deploymentId)
      .map((r) => r.input.revision)
      .sort();
  }

  private status(deploymentId: string, revision: number): RevisionStatus {
    const rev = this.revisions.get(this.key(deploymentId, revision));
    if (!rev) return absentRevision(deploymentId, revision);
    const now = Date.now();
    const replicas = rev.replicas.map((r) => {
      const ready = !rev.input.template.failLoad && now - r.startedAt >= rev.input.template.loadMs;
      return {
        id: r.id,
        url: `http://fake/${r.id}`,
        ready,
        restarts: r.restarts,
        startedAt: new Date(r.startedAt).toISOString(),
        ...(r.message
          ? { message: r.message }
          : rev.input.template.failLoad
            ? { message: 'failed to load weights: simulated' }
            : {}),
      };
    });
    return {
      deploymentId,
      revision,
      exists: true,
      desired: rev.input.replicas,
      ready: replicas.filter((r) => r.ready).length,
      restarts: replicas.reduce((sum, r) => sum + r.restarts, 0),
      replicas,
    };
  }
}
