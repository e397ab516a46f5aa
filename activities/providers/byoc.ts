/**
 * BYOC: the customer clusters a workspace has linked (config/clusters.ts), reached through EKS.
 * For each registered cluster this gives the node groups (with their GPUs), grows a node group
 * so replicas fit, and a Kubernetes provider that authenticates with an EKS token.
 *
 * Credentials come from the secret the registry names, read when needed; they never enter an
 * activity's input or result, so they never reach workflow history or logs.
 */
import { KubeConfig } from '@kubernetes/client-node';
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import {
  clustersOf,
  findCluster,
  type ClusterRegistry,
  type RegisteredCluster,
} from '../../config/clusters';
import {
  AwsCallError,
  EksNodeGroups,
  eksToken,
  type AwsCredentials,
  type NodeGroupInfo,
} from './eks';
import { KubernetesProvider } from './kubernetes';
import { nodesForReplicas } from './node-group-fit';
import type { RuntimeProvider } from './provider';

/** EKS accepts a token for 15 minutes; a provider is rebuilt with a fresh one well before. */
const TOKEN_REUSE_MS = 10 * 60 * 1000;
/** Node groups change rarely; admission and sizing within this window share one lookup. */
const NODE_GROUPS_CACHE_MS = 30 * 1000;

/** An edge gateway's token: long enough that guessing it is hopeless (e.g. `openssl rand -hex 32`). */
export const EDGE_TOKEN_MIN_LENGTH = 32;
const edgeTokenSchema = z.object({ token: z.string().trim().min(EDGE_TOKEN_MIN_LENGTH) });

/** A cluster's edge gateway as the control plane's gateway uses it: where, and the token to present. */
export interface EdgeGateway {
  /** The registry name of the cluster (what cloud.cluster names). */
  cluster: string;
  url: string;
  /** The secret's name (said in errors; never its value). */
  tokenSecret: string;
  token: string;
}

const awsCredentialsSchema = z.object({
  accessKeyId: z.string().min(1),
  secretAccessKey: z.string().min(1),
  sessionToken: z.string().min(1).optional(),
});

/** Why a cluster cannot be used, said to the user against the field they set. */
export class ClusterError extends Error {
  constructor(
    readonly path: 'cloud.cluster' | 'cloud.nodeGroup',
    message: string,
  ) {
    super(message);
  }
}

/** A node group sized for more replicas: from and to (equal when it is at its maximum), and the nodes needed. */
export interface NodeGroupGrowth {
  grewFrom: number;
  grewTo: number;
  needed: number;
  max: number;
}

/** What the activities need of BYOC clusters; tests of workflow logic hand in a fake. */
export interface ByocClusters {
  /** The node group, with its GPUs and node shape. Throws ClusterError when there is no such thing. */
  nodeGroup(workspace: string, cluster: string, nodeGroup: string): Promise<NodeGroupInfo>;
  /** The provider that runs replicas on the cluster (Kubernetes, with an EKS token). */
  provider(workspace: string, cluster: string): Promise<RuntimeProvider>;
  /**
   * The edge gateway inference reaches the cluster's pods through (config/clusters.ts), with its
   * token as the named secret holds it now; undefined when the registry gives the cluster none.
   * Throws ClusterError when the cluster is not linked or the secret cannot be read.
   */
  edgeGateway?(workspace: string, cluster: string): EdgeGateway | undefined;
  /**
   * Every linked cluster, once per place (clusters shared by workspaces appear once per
   * workspace, with the same key), for their observers (observer/byoc.ts).
   */
  observable?(): { key: string; workspace: string; cluster: string }[];
  /**
   * Grows the node group (never shrinks it) so every replica we run there fits once `replicas`
   * of this revision run, and waits until EKS says it is ACTIVE. Returns what changed, if anything.
   */
  ensureCapacity(input: {
    workspace: string;
    cluster: string;
    nodeGroup: string;
    /** The Kubernetes object of the revision being sized, whose count `replicas` replaces. */
    revisionObject: string;
    replicas: number;
    gpusPerReplica: number;
    heartbeat: (info: NodeGroupInfo) => void;
  }): Promise<NodeGroupGrowth | null>;
}

export interface EksClustersOptions {
  registry: ClusterRegistry;
  secretsDir: string;
  /** The model-server image when the registry names none for the cluster. */
  image?: string;
  scaleTimeoutMs: number;
  pollMs?: number;
}

export class EksClusters implements ByocClusters {
  private readonly providers = new Map<string, { provider: KubernetesProvider; until: number }>();
  private readonly groups = new Map<string, { groups: NodeGroupInfo[]; until: number }>();

  constructor(private readonly options: EksClustersOptions) {}

  observable(): { key: string; workspace: string; cluster: string }[] {
    return Object.entries(this.options.registry).flatMap(([workspace, clusters]) =>
      Object.keys(clusters).flatMap((name) => {
        const found = findCluster(this.options.registry, workspace, name);
        if (!found) return [];
        const where = found.kubernetes?.server ?? `${found.region}/${found.eksClusterName}`;
        return [{ key: `${where}/${found.namespace}`, workspace, cluster: name }];
      }),
    );
  }

  /** The clusters linked to the workspace. */
  linked(workspace: string): RegisteredCluster[] {
    return clustersOf(this.options.registry, workspace);
  }

  async nodeGroup(workspace: string, cluster: string, nodeGroup: string): Promise<NodeGroupInfo> {
    const groups = await this.nodeGroups(workspace, cluster);
    const found = groups.find((g) => g.name === nodeGroup);
    if (!found) {
      const known = groups.map(
        (g) => `${g.name} (${g.gpu ? `${g.gpu.count} x ${g.gpu.type}` : 'no GPUs'})`,
      );
      throw new ClusterError(
        'cloud.nodeGroup',
        `cluster "${cluster}" has no node group "${nodeGroup}"; it has: ${known.join(', ') || 'none'}`,
      );
    }
    return found;
  }

  /** Every node group of the cluster, with GPU type and node shape (cached briefly). */
  async nodeGroups(workspace: string, cluster: string): Promise<NodeGroupInfo[]> {
    const registered = this.cluster(workspace, cluster);
    const key = `${workspace}/${cluster}`;
    const cached = this.groups.get(key);
    if (cached && cached.until > Date.now()) return cached.groups;
    const groups = await this.eks(registered)
      .discover(registered.eksClusterName)
      .catch((err: unknown) => {
        throw notFound(err)
          ? new ClusterError(
              'cloud.cluster',
              `EKS has no cluster "${registered.eksClusterName}" in ${registered.region} (registered as "${cluster}")`,
            )
          : asClusterError(registered, err);
      });
    this.groups.set(key, { groups, until: Date.now() + NODE_GROUPS_CACHE_MS });
    return groups;
  }

  async provider(workspace: string, cluster: string): Promise<KubernetesProvider> {
    const registered = this.cluster(workspace, cluster);
    const key = `${workspace}/${cluster}`;
    const cached = this.providers.get(key);
    if (cached && cached.until > Date.now()) return cached.provider;
    const kubeconfig = await this.kubeconfig(registered).catch((err: unknown) => {
      throw asClusterError(registered, err);
    });
    const provider = new KubernetesProvider({
      kubeconfig,
      namespace: registered.namespace,
      ...((registered.image ?? this.options.image)
        ? { image: registered.image ?? this.options.image }
        : {}),
    });
    this.providers.set(key, { provider, until: Date.now() + TOKEN_REUSE_MS });
    return provider;
  }

  edgeGateway(workspace: string, cluster: string): EdgeGateway | undefined {
    const registered = this.cluster(workspace, cluster);
    if (!registered.gateway) return undefined;
    const { tokenSecret, url } = registered.gateway;
    const parsed = edgeTokenSchema.safeParse(this.secret(tokenSecret, 'edge gateway token'));
    if (!parsed.success) {
      throw new ClusterError(
        'cloud.cluster',
        `the cluster's edge gateway token secret "${tokenSecret}" must hold {"token": "..."} of at least ${EDGE_TOKEN_MIN_LENGTH} characters`,
      );
    }
    return { cluster, url, tokenSecret, token: parsed.data.token };
  }

  async ensureCapacity(input: Parameters<ByocClusters['ensureCapacity']>[0]) {
    const group = await this.nodeGroup(input.workspace, input.cluster, input.nodeGroup);
    const gpusPerNode = group.gpu?.count ?? 0;
    const provider = await this.provider(input.workspace, input.cluster);
    const others = (await provider.replicasOnNodeGroup(input.nodeGroup)).filter(
      (r) => r.name !== input.revisionObject,
    );
    const replicaGpus = [
      ...others.flatMap((r) => Array<number>(r.replicas).fill(r.gpusPerReplica)),
      ...Array<number>(input.replicas).fill(input.gpusPerReplica),
    ].filter((gpus) => gpus > 0);
    const needed = nodesForReplicas(replicaGpus, gpusPerNode);
    const target = Math.min(needed, group.size.max);
    if (needed <= group.size.desired) return null;
    if (target <= group.size.desired)
      return {
        grewFrom: group.size.desired,
        grewTo: group.size.desired,
        needed,
        max: group.size.max,
      };
    const registered = this.cluster(input.workspace, input.cluster);
    const grown = await this.eks(registered)
      .ensureNodes(registered.eksClusterName, input.nodeGroup, target, {
        timeoutMs: this.options.scaleTimeoutMs,
        pollMs: this.options.pollMs ?? 5000,
        heartbeat: input.heartbeat,
      })
      .catch((err: unknown) => {
        throw asClusterError(registered, err);
      });
    this.groups.delete(`${input.workspace}/${input.cluster}`);
    return {
      grewFrom: group.size.desired,
      grewTo: grown.size.desired,
      needed,
      max: group.size.max,
    };
  }

  private cluster(workspace: string, name: string): RegisteredCluster {
    const found = findCluster(this.options.registry, workspace, name);
    if (!found) {
      throw new ClusterError(
        'cloud.cluster',
        `no cluster "${name}" is linked to workspace "${workspace}" (clusters are registered in CLUSTERS_FILE)`,
      );
    }
    return found;
  }

  /** AWS clients with the secret as it is now (read per use, so a rotated secret takes effect). */
  private eks(cluster: RegisteredCluster): EksNodeGroups {
    return new EksNodeGroups({
      region: cluster.region,
      ...(cluster.credentialsSecret
        ? { credentials: this.credentials(cluster.credentialsSecret) }
        : {}),
      ...(cluster.awsEndpoint ? { endpoint: cluster.awsEndpoint } : {}),
    });
  }

  /** A kubeconfig for the cluster's API: EKS's endpoint and CA (or the registry's), an EKS token. */
  private async kubeconfig(cluster: RegisteredCluster): Promise<KubeConfig> {
    const eks = this.eks(cluster);
    const reported = cluster.kubernetes
      ? undefined
      : await eks.describeCluster(cluster.eksClusterName);
    const server = cluster.kubernetes?.server ?? reported?.endpoint;
    if (!server) {
      throw new ClusterError(
        'cloud.cluster',
        `EKS reports no API endpoint for cluster "${cluster.eksClusterName}" (status ${reported?.status ?? 'unknown'})`,
      );
    }
    const token = await eksToken(cluster.eksClusterName, {
      region: cluster.region,
      credentials: await eks.credentials(),
      ...(cluster.awsEndpoint ? { endpoint: cluster.awsEndpoint } : {}),
    });
    const kubeconfig = new KubeConfig();
    kubeconfig.loadFromOptions({
      clusters: [
        {
          name: cluster.name,
          server,
          skipTLSVerify: cluster.kubernetes?.insecureSkipTlsVerify ?? false,
          ...(cluster.kubernetes?.caFile
            ? { caFile: cluster.kubernetes.caFile }
            : reported?.caData
              ? { caData: reported.caData }
              : {}),
        },
      ],
      users: [{ name: 'eks', token }],
      contexts: [{ name: cluster.name, cluster: cluster.name, user: 'eks' }],
      currentContext: cluster.name,
    });
    return kubeconfig;
  }

  /** The cluster's AWS credentials, from the secret the registry names. */
  private credentials(name: string): AwsCredentials {
    const parsed = awsCredentialsSchema.safeParse(this.secret(name, 'credentials'));
    if (!parsed.success) {
      throw new ClusterError(
        'cloud.cluster',
        `the cluster's credentials secret "${name}" must hold accessKeyId and secretAccessKey`,
      );
    }
    return parsed.data;
  }

  /**
   * A secret by name, `<SECRETS_DIR>/<name>.json`, read now (a rotated secret takes effect at
   * once). Errors name the secret, never its content.
   */
  private secret(name: string, what: string): unknown {
    const file = path.join(this.options.secretsDir, `${name}.json`);
    try {
      return JSON.parse(fs.readFileSync(file, 'utf8')) as unknown;
    } catch (err) {
      const why =
        (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'does not exist' : 'is not JSON';
      throw new ClusterError(
        'cloud.cluster',
        `the cluster's ${what} secret "${name}" ${why} (${file})`,
      );
    }
  }
}

function notFound(err: unknown): boolean {
  return err instanceof AwsCallError
    ? err.code === 'ResourceNotFoundException'
    : err instanceof Error && err.name === 'ResourceNotFoundException';
}

/**
 * AWS refused the cluster's credentials: said against `cloud.cluster`, naming the secret (never
 * its content) and AWS's error code (never its message, which can echo the request).
 */
function refusedCredentials(cluster: RegisteredCluster, err: AwsCallError): ClusterError {
  const whose = cluster.credentialsSecret
    ? `the credentials in secret "${cluster.credentialsSecret}"`
    : 'the AWS default credentials of the control plane';
  return new ClusterError(
    'cloud.cluster',
    `AWS refused ${whose} for cluster "${cluster.name}" (${err.call}: ${err.code}${err.httpStatus ? `, HTTP ${err.httpStatus}` : ''}); an administrator must fix the credentials, or use another cluster`,
  );
}

/** An AWS failure as the user is told it: refused credentials are a ClusterError; others stay. */
function asClusterError(cluster: RegisteredCluster, err: unknown): unknown {
  return err instanceof AwsCallError && err.refused ? refusedCredentials(cluster, err) : err;
}
