/**
 * Where a deployment's ready replicas are, for the gateway and the metrics collector: asked of
 * the provider of the deployment's placement (the dedicated runtime, or its BYOC cluster's).
 * Placement is fixed at create, so it is looked up once and remembered for a minute.
 */
import type { ByocClusters } from '../activities/providers/byoc';
import type { RuntimeProvider } from '../activities/providers/provider';
import { workspaceOf } from '../workflows/domain/deployment';
import { runtimeTargetOf, type RuntimeTarget } from '../workflows/domain/spec';
import type { DeploymentService } from './deployment-service';

const PLACEMENT_TTL_MS = 60_000;

export type ReplicaEndpointsSource = Pick<RuntimeProvider, 'endpoints'>;

export interface ReplicaEndpointsOptions {
  dedicated: RuntimeProvider;
  clusters?: ByocClusters;
  /** Reads a deployment (its spec says where it runs); throws when there is no such deployment. */
  deployments: Pick<DeploymentService, 'get'>;
  now?: () => number;
}

export class ReplicaEndpoints implements ReplicaEndpointsSource {
  private readonly placements = new Map<string, { target: RuntimeTarget; until: number }>();

  constructor(private readonly options: ReplicaEndpointsOptions) {}

  async endpoints(deploymentId: string): Promise<{ revision: number | null; urls: string[] }> {
    const target = await this.placement(deploymentId);
    if (target?.type === 'byoc' && this.options.clusters) {
      const cluster = await this.options.clusters.provider(
        workspaceOf(deploymentId),
        target.cluster,
      );
      return cluster.endpoints(deploymentId);
    }
    return this.options.dedicated.endpoints(deploymentId);
  }

  private async placement(deploymentId: string): Promise<RuntimeTarget | undefined> {
    const now = (this.options.now ?? Date.now)();
    const known = this.placements.get(deploymentId);
    if (known && known.until > now) return known.target;
    try {
      const workspace = workspaceOf(deploymentId);
      const view = await this.options.deployments.get(
        workspace,
        deploymentId.slice(workspace.length + 1),
      );
      const target = runtimeTargetOf(view.spec);
      this.placements.set(deploymentId, { target, until: now + PLACEMENT_TTL_MS });
      return target;
    } catch {
      return undefined; // no such deployment (yet): the caller finds no replicas and says why
    }
  }
}
