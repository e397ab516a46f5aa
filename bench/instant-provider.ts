/** A runtime provider for benchmarks: replicas are ready the moment they are asked for. */
import type {
  ApplyRevisionInput,
  RevisionStatus,
  RuntimeProvider,
} from '../activities/providers/provider';

/** Replicas are ready the moment they are asked for; every scale call is timestamped. */
export class InstantProvider implements RuntimeProvider {
  private readonly replicas = new Map<string, number>();
  readonly waiters = new Map<string, (at: number) => void>();

  async applyRevision({
    deploymentId,
    revision,
    replicas,
  }: ApplyRevisionInput): Promise<RevisionStatus> {
    const at = performance.now();
    const previous = this.replicas.get(deploymentId);
    this.replicas.set(deploymentId, replicas);
    if (previous !== undefined && previous !== replicas) this.waiters.get(deploymentId)?.(at);
    return this.getRevision(deploymentId, revision);
  }
  async getRevision(deploymentId: string, revision: number): Promise<RevisionStatus> {
    const n = this.replicas.get(deploymentId) ?? 0;
    const replicas = Array.from({ length: n }, (_, i) => ({
      id: `r${i}`,
      url: `http://instant/${i}`,
      ready: true,
      restarts: 0,
      startedAt: '',
    }));
    return {
      deploymentId,
      revision,
      exists: this.replicas.has(deploymentId),
      desired: n,
      ready: n,
      restarts: 0,
      replicas,
    };
  }
  async listRevisions(): Promise<RevisionStatus[]> {
    return [];
  }
  async removeRevision(): Promise<void> {}
  async routeTraffic(): Promise<void> {}
  async removeDeployment(deploymentId: string): Promise<void> {
    this.replicas.delete(deploymentId);
  }
  async endpoints(): Promise<{ revision: number | null; urls: string[] }> {
    return { revision: 1, urls: [] };
  }
}
