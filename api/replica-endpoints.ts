/**
 * Where a deployment's ready replicas are, for the gateway and the metrics collector: asked of
 * the provider of the deployment's placement (the dedicated runtime, or its BYOC cluster's).
 * Placement is fixed at create, so it is looked up once and remembered for a minute.
 *
 * The last good answer per deployment is kept: when the provider cannot be reached (the local
 * runtime agent restarting, a cluster's API server down), the replicas usually still run, so
 * traffic keeps going to the last known ones (a replica that is gone meanwhile refuses the
 * connection and the gateway tries another). Each fallback is logged, at most once per
 * deployment per LOG_EVERY_MS.
 *
 * A BYOC cluster's pods are never handed to the gateway: their IPs are the customer's pod
 * network, which the control plane does not reach (and must not dial: they could be anyone's in
 * another network). Inference goes to the cluster's edge gateway instead (deploy/byoc-edge), one
 * URL per deployment under it, listed while the cluster reports a ready replica; a cluster
 * without one in the registry is an error (EdgeGatewayMissingError), and its pods are not asked.
 */
import type { ByocClusters, EdgeGateway } from '../activities/providers/byoc';
import type { LogFn } from '../config/logging';
import type { RuntimeProvider } from '../activities/providers/provider';
import { workspaceOf } from '../workflows/domain/deployment';
import { runtimeTargetOf, type RuntimeTarget } from '../workflows/domain/spec';
import type { DeploymentService } from './deployment-service';

const PLACEMENT_TTL_MS = 60_000;
const LOG_EVERY_MS = 30_000;

export interface Endpoints {
  revision: number | null;
  urls: string[];
  /** The urls are the cluster's edge gateway's (a BYOC cluster): present its token there. */
  edge?: EdgeGateway;
}

export interface ReplicaEndpointsSource {
  endpoints(deploymentId: string): Promise<Endpoints>;
}

/** A BYOC deployment whose cluster has no edge gateway in the registry: no way to its pods. */
export class EdgeGatewayMissingError extends Error {
  constructor(
    readonly deploymentId: string,
    readonly cluster: string,
  ) {
    super(
      `deployment "${deploymentId.slice(deploymentId.indexOf('/') + 1)}" runs on BYOC cluster "${cluster}", which has no edge gateway: ` +
        `inference reaches a customer cluster only through the edge gateway it runs (deploy/byoc-edge), ` +
        `registered as "gateway": {"url", "tokenSecret"} for cluster "${cluster}" in CLUSTERS_FILE`,
    );
    this.name = 'EdgeGatewayMissingError';
  }
}

/** Where the gateway sends a deployment's requests on a cluster's edge gateway (the rest of the path follows). */
export function edgeEndpointUrl(edge: Pick<EdgeGateway, 'url'>, deploymentId: string): string {
  const workspace = workspaceOf(deploymentId);
  const name = deploymentId.slice(workspace.length + 1);
  return `${edge.url}/v1/endpoints/${encodeURIComponent(workspace)}/${encodeURIComponent(name)}`;
}

export interface ReplicaEndpointsOptions {
  dedicated: RuntimeProvider;
  clusters?: ByocClusters;
  /** Reads a deployment (its spec says where it runs); throws when there is no such deployment. */
  deployments: Pick<DeploymentService, 'get'>;
  now?: () => number;
  /** Where fallbacks to the last known endpoints are reported (default: console.warn). */
  log?: LogFn;
}

export class ReplicaEndpoints implements ReplicaEndpointsSource {
  private readonly placements = new Map<string, { target: RuntimeTarget; until: number }>();
  private readonly lastKnown = new Map<string, Endpoints & { at: number }>();
  /** Per deployment: when a fallback was last logged, and how many were not logged since. */
  private readonly logged = new Map<string, { at: number; quiet: number }>();

  constructor(private readonly options: ReplicaEndpointsOptions) {}

  async endpoints(deploymentId: string): Promise<Endpoints> {
    const now = this.now();
    try {
      const found = await this.ask(deploymentId);
      if (found.revision === null && found.urls.length === 0) this.lastKnown.delete(deploymentId);
      else this.lastKnown.set(deploymentId, { ...found, at: now });
      if (this.logged.delete(deploymentId)) {
        this.log(`replicas of ${deploymentId}: the runtime answers again`, deploymentId);
      }
      return found;
    } catch (err) {
      const known = this.lastKnown.get(deploymentId);
      if (!known || err instanceof EdgeGatewayMissingError) throw err;
      this.reportFallback(deploymentId, known, err, now);
      return {
        revision: known.revision,
        urls: known.urls,
        ...(known.edge ? { edge: known.edge } : {}),
      };
    }
  }

  private reportFallback(
    deploymentId: string,
    known: Endpoints & { at: number },
    err: unknown,
    now: number,
  ): void {
    const last = this.logged.get(deploymentId);
    if (last && now - last.at < LOG_EVERY_MS) {
      last.quiet += 1;
      return;
    }
    const quiet = last?.quiet ? ` (${last.quiet} more since the last report)` : '';
    this.log(
      `replicas of ${deploymentId}: the runtime cannot be reached (${(err as Error).message}); ` +
        `using the ${known.urls.length} endpoint(s) last seen ${Math.round((now - known.at) / 1000)} s ago${quiet}`,
      deploymentId,
    );
    this.logged.set(deploymentId, { at: now, quiet: 0 });
  }

  private log(message: string, deploymentId: string): void {
    (this.options.log ?? ((m: string) => console.warn(m)))(message, { deploymentId });
  }

  private now(): number {
    return (this.options.now ?? Date.now)();
  }

  private async ask(deploymentId: string): Promise<Endpoints> {
    const target = await this.placement(deploymentId);
    if (target?.type === 'byoc') return this.askCluster(deploymentId, target.cluster);
    return this.options.dedicated.endpoints(deploymentId);
  }

  /**
   * A BYOC deployment: whether its cluster reports a ready replica (asked of its API server, as
   * the observer does), and if so its URL on the cluster's edge gateway; never the pods' own.
   */
  private async askCluster(deploymentId: string, cluster: string): Promise<Endpoints> {
    const workspace = workspaceOf(deploymentId);
    const clusters = this.options.clusters;
    const edge = clusters?.edgeGateway?.(workspace, cluster);
    if (!clusters || !edge) throw new EdgeGatewayMissingError(deploymentId, cluster);
    const found = await (await clusters.provider(workspace, cluster)).endpoints(deploymentId);
    return {
      revision: found.revision,
      urls: found.urls.length > 0 ? [edgeEndpointUrl(edge, deploymentId)] : [],
      edge,
    };
  }

  private async placement(deploymentId: string): Promise<RuntimeTarget | undefined> {
    const now = this.now();
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
