/**
 * The Kubernetes provider: revisions as apps/v1 Deployments and the traffic route as a Service,
 * on any cluster a kubeconfig reaches. Writes are server-side apply with one field manager, so
 * a retried activity converges on the same objects and never duplicates anything.
 */
import {
  AppsV1Api,
  CoreV1Api,
  KubeConfig,
  KubernetesObjectApi,
  PatchStrategy,
  type V1Deployment,
  type V1Pod,
} from '@kubernetes/client-node';
import type { ObserverLease, RevisionFeed } from '../../observer/feed';
import { KubernetesRevisionFeed } from '../../observer/kubernetes-feed';
import { KubernetesLease } from '../../observer/kubernetes-lease';
import {
  absentRevision,
  type ApplyRevisionInput,
  type ReplicaStatus,
  type RevisionStatus,
  type RuntimeProvider,
} from './provider';
import {
  DEFAULT_DRAIN_GRACE_SECONDS,
  DEPLOYMENT_LABEL,
  FIELD_MANAGER,
  NODE_GROUP_LABEL,
  PRE_STOP_SECONDS,
  REVISION_LABEL,
  SERVER_PORT,
  deploymentLabel,
  deploymentManifest,
  objectName,
  revisionName,
  selectorOf,
  serviceManifest,
} from './kubernetes-manifests';

export interface KubernetesProviderOptions {
  kubeconfig: KubeConfig;
  namespace: string;
  image?: string;
  /** How long a replica being removed may answer its requests in flight (default 60 s). */
  drainGraceSeconds?: number;
}

export class KubernetesProvider implements RuntimeProvider {
  private readonly objects: KubernetesObjectApi;
  private readonly apps: AppsV1Api;
  private readonly core: CoreV1Api;

  constructor(private readonly options: KubernetesProviderOptions) {
    this.objects = KubernetesObjectApi.makeApiClient(options.kubeconfig);
    this.apps = options.kubeconfig.makeApiClient(AppsV1Api);
    this.core = options.kubeconfig.makeApiClient(CoreV1Api);
  }

  private get namespace(): string {
    return this.options.namespace;
  }

  private get drainGraceSeconds(): number {
    return this.options.drainGraceSeconds ?? DEFAULT_DRAIN_GRACE_SECONDS;
  }

  async applyRevision(input: ApplyRevisionInput): Promise<RevisionStatus> {
    await this.apply(
      deploymentManifest(input, this.namespace, this.options.image, this.drainGraceSeconds),
    );
    return this.getRevision(input.deploymentId, input.revision);
  }

  async getRevision(deploymentId: string, revision: number): Promise<RevisionStatus> {
    const name = revisionName(deploymentId, revision);
    const deployment = await this.apps
      .readNamespacedDeployment({ name, namespace: this.namespace })
      .catch(notFoundAs(undefined));
    const pods = deployment ? await this.pods(deploymentId, revision) : [];
    return revisionStatusOf(deployment, pods, deploymentId, revision);
  }

  async listRevisions(deploymentId: string): Promise<RevisionStatus[]> {
    const list = await this.apps.listNamespacedDeployment({
      namespace: this.namespace,
      labelSelector: `${DEPLOYMENT_LABEL}=${deploymentLabel(deploymentId)}`,
    });
    const revisions = list.items
      .map((d) => Number(d.metadata?.labels?.[REVISION_LABEL]))
      .filter((r) => Number.isInteger(r));
    return Promise.all(
      revisions.sort((a, b) => a - b).map((r) => this.getRevision(deploymentId, r)),
    );
  }

  /**
   * Deletes the revision and waits until it is gone: a foreground deletion keeps the object (and
   * its pods) for a while, and applying the same revision again meanwhile (a resume right after a
   * pause) would update the object on its way out instead of creating a new one.
   */
  async removeRevision(deploymentId: string, revision: number): Promise<void> {
    const name = revisionName(deploymentId, revision);
    const namespace = this.namespace;
    await this.apps
      .deleteNamespacedDeployment({ name, namespace, propagationPolicy: 'Foreground' })
      .catch(notFoundAs(undefined));
    // Pods drain first (preStop, then up to the drain grace): wait for that, and a minute more.
    const limitSeconds = PRE_STOP_SECONDS + this.drainGraceSeconds + 60;
    const until = Date.now() + limitSeconds * 1000;
    while (
      await this.apps.readNamespacedDeployment({ name, namespace }).catch(notFoundAs(undefined))
    ) {
      if (Date.now() > until)
        throw new Error(`deployment ${name} was not deleted within ${limitSeconds} s`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  /**
   * BYOC sizing: the replicas of every revision we run on a node group (by its node selector) and
   * the GPUs each takes, so the node group is sized for all of them, not just one deployment.
   */
  async replicasOnNodeGroup(
    nodeGroup: string,
  ): Promise<{ name: string; replicas: number; gpusPerReplica: number }[]> {
    const list = await this.apps.listNamespacedDeployment({
      namespace: this.namespace,
      labelSelector: `app.kubernetes.io/managed-by=${FIELD_MANAGER}`,
    });
    return list.items
      .filter((d) => d.spec?.template.spec?.nodeSelector?.[NODE_GROUP_LABEL] === nodeGroup)
      .map((d) => ({
        name: d.metadata?.name ?? '',
        replicas: d.spec?.replicas ?? 0,
        gpusPerReplica: (d.spec?.template.spec?.containers ?? []).reduce(
          (sum, c) => sum + Number(c.resources?.limits?.['nvidia.com/gpu'] ?? 0),
          0,
        ),
      }));
  }

  async routeTraffic(deploymentId: string, revision: number): Promise<void> {
    await this.apply(serviceManifest(deploymentId, revision, this.namespace));
  }

  async removeDeployment(deploymentId: string): Promise<void> {
    for (const r of await this.listRevisions(deploymentId))
      await this.removeRevision(deploymentId, r.revision);
    await this.core
      .deleteNamespacedService({ name: objectName(deploymentId), namespace: this.namespace })
      .catch(notFoundAs(undefined));
  }

  async endpoints(deploymentId: string): Promise<{ revision: number | null; urls: string[] }> {
    const service = await this.core
      .readNamespacedService({ name: objectName(deploymentId), namespace: this.namespace })
      .catch(notFoundAs(undefined));
    const revision = Number(service?.spec?.selector?.[REVISION_LABEL]);
    if (!Number.isInteger(revision)) return { revision: null, urls: [] };
    const ready = (await this.pods(deploymentId, revision)).filter(
      (p) => replicaStatus(p).ready && p.status?.podIP,
    );
    return { revision, urls: ready.map((p) => `http://${p.status!.podIP}:${SERVER_PORT}`) };
  }

  /** The observer's feed: one LIST+WATCH informer pair over everything this provider runs. */
  revisionFeed(): RevisionFeed {
    return new KubernetesRevisionFeed({
      kubeconfig: this.options.kubeconfig,
      namespace: this.namespace,
    });
  }

  observerLease(holder: string): ObserverLease {
    return new KubernetesLease({
      kubeconfig: this.options.kubeconfig,
      namespace: this.namespace,
      holder,
    });
  }

  private async apply(manifest: { kind: string; metadata: { name: string } }): Promise<void> {
    await this.objects.patch(
      manifest,
      undefined,
      undefined,
      FIELD_MANAGER,
      true,
      PatchStrategy.ServerSideApply,
    );
  }

  private async pods(deploymentId: string, revision: number): Promise<V1Pod[]> {
    const selector = Object.entries(selectorOf(deploymentId, revision))
      .map(([k, v]) => `${k}=${v}`)
      .join(',');
    const list = await this.core.listNamespacedPod({
      namespace: this.namespace,
      labelSelector: selector,
    });
    return list.items.filter((p) => !p.metadata?.deletionTimestamp);
  }
}

/**
 * A revision's status from its Deployment (undefined: there is none) and its pods, as getRevision
 * reads them and as the observer's informers cache them (objects from a watch keep their
 * timestamps as strings, those from a list as Dates: both are read through `new Date`). Pods being
 * deleted are no replicas any more.
 */
export function revisionStatusOf(
  deployment: V1Deployment | undefined,
  pods: readonly V1Pod[],
  deploymentId: string,
  revision: number,
): RevisionStatus {
  if (!deployment) return absentRevision(deploymentId, revision);
  const replicas = pods.filter((p) => !p.metadata?.deletionTimestamp).map(replicaStatus);
  return {
    deploymentId,
    revision,
    exists: true,
    desired: deployment.spec?.replicas ?? 0,
    ready: replicas.filter((r) => r.ready).length,
    restarts: replicas.reduce((sum, r) => sum + r.restarts, 0),
    replicas,
  };
}

/** A pod as a replica: ready from its Ready condition, restarts from its containers, and why not. */
export function replicaStatus(pod: V1Pod): ReplicaStatus {
  const ready =
    pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
  const restarts = (pod.status?.containerStatuses ?? []).reduce(
    (sum, c) => sum + (c.restartCount ?? 0),
    0,
  );
  const unschedulable = pod.status?.conditions?.find(
    (c) => c.type === 'PodScheduled' && c.status === 'False',
  );
  // The last container that ended says why the replica restarted (OOMKilled, Error with its code).
  const ended = (pod.status?.containerStatuses ?? [])
    .filter((c) => c.lastState?.terminated)
    .map((c) => ({ name: c.name, ...c.lastState!.terminated! }))
    .sort((a, b) => timeOf(a.finishedAt) - timeOf(b.finishedAt))
    .at(-1);
  const message = unschedulable
    ? `pod ${pod.metadata?.name} is Pending: ${unschedulable.message ?? unschedulable.reason ?? 'not scheduled'}`
    : ended
      ? `container ${ended.name} of pod ${pod.metadata?.name} ended: ${ended.reason ?? 'terminated'} (exit code ${ended.exitCode})`
      : undefined;
  const started = pod.status?.startTime ?? pod.metadata?.creationTimestamp;
  return {
    id: pod.metadata?.name ?? '',
    url: pod.status?.podIP ? `http://${pod.status.podIP}:${SERVER_PORT}` : '',
    ready,
    restarts,
    startedAt: started ? new Date(started).toISOString() : '',
    ...(message ? { message } : {}),
  };
}

/** A timestamp as a list (Date) or a watch (RFC 3339 string) gives it; 0 when absent. */
function timeOf(t: Date | string | undefined): number {
  return t ? new Date(t).getTime() : 0;
}

function notFoundAs<T>(value: T) {
  return (err: unknown): T => {
    if ((err as { code?: number }).code === 404) return value;
    throw err;
  };
}
