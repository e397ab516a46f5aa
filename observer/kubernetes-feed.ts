/**
 * The Kubernetes revision feed: one LIST+WATCH informer for the namespace's Deployments and one
 * for its pods (both selected by `app.kubernetes.io/managed-by`), instead of a GET per deployment
 * every second. Every event recomputes the one revision it touches from the informers' caches,
 * with the same pure function as the provider's getRevision, so the feed makes no request besides
 * its lists and watch connections.
 *
 * The client library (v2.0.1, `ListWatch` in dist/cache.js) re-watches from the last
 * resourceVersion when a watch ends cleanly or its `Watch` times out (no data for 30 s, so a quiet
 * namespace opens a new watch connection about twice a minute) and relists by itself after a 410
 * Gone, but it stops for good after any other error (a refused connection, a reset, a 5xx, a
 * failed list): it only emits `error`. So this feed restarts a failed informer after a backoff,
 * as a fresh informer, whose first list is a resync: the complete set goes to `onResync`, every
 * revision's status is delivered again, and a revision that went away while nothing was watching
 * comes as `exists: false`.
 */
import {
  AppsV1Api,
  CoreV1Api,
  KubeConfig,
  ListWatch,
  Watch,
  type KubernetesObject,
  type V1Deployment,
  type V1Pod,
} from '@kubernetes/client-node';
import {
  DEPLOYMENT_LABEL,
  FIELD_MANAGER,
  REVISION_LABEL,
  revisionOf,
} from '../activities/providers/kubernetes-manifests';
import { revisionStatusOf } from '../activities/providers/kubernetes';
import { absentRevision, type RevisionStatus } from '../activities/providers/provider';
import type { RevisionFeed, RevisionFeedHandlers } from './feed';

export type FeedResource = 'deployments' | 'pods';

export interface KubernetesRevisionFeedOptions {
  kubeconfig: KubeConfig;
  namespace: string;
  /**
   * Wait before restarting an informer that failed: `initialMs`, doubling up to `maxMs` while it
   * keeps failing, back to `initialMs` once a restart listed (default 1 s up to 30 s).
   */
  restartBackoff?: { initialMs: number; maxMs: number };
  /** Called for every HTTP request the feed makes: a LIST, or a WATCH connection. */
  onRequest?(kind: 'list' | 'watch', resource: FeedResource): void;
}

const MANAGED_BY = `app.kubernetes.io/managed-by=${FIELD_MANAGER}`;

/** The library's Watch, counting its requests (one per watch connection). */
class CountingWatch extends Watch {
  constructor(
    config: KubeConfig,
    private readonly counted: () => void,
  ) {
    super(config);
  }

  override watch(...args: Parameters<Watch['watch']>): ReturnType<Watch['watch']> {
    this.counted();
    return super.watch(...args);
  }
}

/** One informer run: a failed one is stopped and replaced, never restarted. */
interface Run<T extends KubernetesObject> {
  informer: ListWatch<T>;
  failed: boolean;
}

interface Known {
  deploymentId: string;
  revision: number;
  deployment: V1Deployment;
}

export class KubernetesRevisionFeed implements RevisionFeed {
  /** HTTP requests made so far: LISTs and WATCH connections (benchmarks report them per second). */
  readonly requests = { list: 0, watch: 0 };

  private readonly apps: AppsV1Api;
  private readonly core: CoreV1Api;
  private handlers?: RevisionFeedHandlers;
  private stopped = false;
  private deploymentsRun?: Run<V1Deployment>;
  private podsRun?: Run<V1Pod>;
  /** Resources whose informer listed and is watching; statuses are delivered only when both are. */
  private readonly inSync = new Set<FeedResource>();
  private readonly backoffMs: Record<FeedResource, number>;
  private readonly timers = new Set<NodeJS.Timeout>();
  private firstSync?: { resolve(): void; reject(err: Error): void };

  /** Revisions by their label key (deployment label and revision label), from the Deployments. */
  private revisions = new Map<string, Known>();
  /** Pods by the same key, then by name. */
  private podsByKey = new Map<string, Map<string, V1Pod>>();
  private podKeys = new Map<string, string>();
  /** Deployments whose id neither annotation nor label tells (reported once each). */
  private readonly unreadable = new Set<string>();

  constructor(private readonly options: KubernetesRevisionFeedOptions) {
    this.apps = options.kubeconfig.makeApiClient(AppsV1Api);
    this.core = options.kubeconfig.makeApiClient(CoreV1Api);
    const initial = this.backoff.initialMs;
    this.backoffMs = { deployments: initial, pods: initial };
  }

  private get backoff() {
    return this.options.restartBackoff ?? { initialMs: 1000, maxMs: 30_000 };
  }

  async start(handlers: RevisionFeedHandlers): Promise<void> {
    if (this.handlers) throw new Error('the feed was started already');
    this.handlers = handlers;
    const synced = new Promise<void>((resolve, reject) => {
      this.firstSync = { resolve, reject };
    });
    void this.startRun('deployments');
    void this.startRun('pods');
    await synced;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.firstSync?.reject(new Error('the feed was stopped before its first list'));
    this.firstSync = undefined;
    await Promise.all([this.deploymentsRun?.informer.stop(), this.podsRun?.informer.stop()]);
  }

  private count(kind: 'list' | 'watch', resource: FeedResource): void {
    this.requests[kind]++;
    this.options.onRequest?.(kind, resource);
  }

  /** A fresh informer for the resource; its first list replaces what the feed knew of it. */
  private async startRun(resource: FeedResource): Promise<void> {
    if (this.stopped) return;
    this.inSync.delete(resource);
    const ns = this.options.namespace;
    const watch = new CountingWatch(this.options.kubeconfig, () => this.count('watch', resource));
    if (resource === 'deployments') {
      const run: Run<V1Deployment> = {
        informer: new ListWatch<V1Deployment>(
          `/apis/apps/v1/namespaces/${ns}/deployments`,
          watch,
          () => {
            this.count('list', resource);
            return this.apps.listNamespacedDeployment({ namespace: ns, labelSelector: MANAGED_BY });
          },
          false,
          MANAGED_BY,
        ),
        failed: false,
      };
      this.deploymentsRun = run;
      this.wire(run, resource, {
        upsert: (d) => this.deploymentChanged(d),
        remove: (d) => this.deploymentDeleted(d),
      });
      await run.informer.start();
      if (run.failed || this.stopped || this.deploymentsRun !== run) return this.retire(run);
      this.reindexDeployments(run.informer.list());
    } else {
      const run: Run<V1Pod> = {
        informer: new ListWatch<V1Pod>(
          `/api/v1/namespaces/${ns}/pods`,
          watch,
          () => {
            this.count('list', resource);
            return this.core.listNamespacedPod({ namespace: ns, labelSelector: MANAGED_BY });
          },
          false,
          MANAGED_BY,
        ),
        failed: false,
      };
      this.podsRun = run;
      this.wire(run, resource, {
        upsert: (p) => this.podChanged(p),
        remove: (p) => this.podDeleted(p),
      });
      await run.informer.start();
      if (run.failed || this.stopped || this.podsRun !== run) return this.retire(run);
      this.reindexPods(run.informer.list());
    }
    this.backoffMs[resource] = this.backoff.initialMs;
    this.inSync.add(resource);
    if (this.inSync.size === 2) this.resync();
  }

  /**
   * Stops a run that is no longer wanted, once more after its start returned: the library does not
   * look at `stop()` again between its list and its watch, so a stop during the list would leave
   * the watch connected.
   */
  private async retire<T extends KubernetesObject>(run: Run<T>): Promise<void> {
    await run.informer.stop();
  }

  /**
   * Events of a run update the index and deliver, once the run listed (the first list's own
   * events only fill the informer's cache: the reindex after it reads them all at once).
   * Callbacks are guarded: the library calls them from an async watch handler, where a throw
   * would be an unhandled rejection.
   */
  private wire<T extends KubernetesObject>(
    run: Run<T>,
    resource: FeedResource,
    on: { upsert(obj: T): void; remove(obj: T): void },
  ): void {
    const current = () =>
      !this.stopped &&
      !run.failed &&
      (resource === 'deployments' ? this.deploymentsRun : this.podsRun) === run;
    const guarded = (fn: (obj: T) => void) => (obj: T) => {
      if (!current() || !this.inSync.has(resource)) return;
      try {
        fn(obj);
      } catch (err) {
        this.report(err);
      }
    };
    run.informer.on('add', guarded(on.upsert));
    run.informer.on('update', guarded(on.upsert));
    run.informer.on('delete', guarded(on.remove));
    run.informer.on('error', (err: unknown) => {
      if (!current()) return; // a stopped or replaced run's abort
      run.failed = true;
      this.inSync.delete(resource);
      void run.informer.stop();
      const error = err instanceof Error ? err : new Error(String(err));
      this.report(new Error(`the ${resource} watch failed: ${error.message}`, { cause: error }));
      const delay = this.backoffMs[resource];
      this.backoffMs[resource] = Math.min(delay * 2, this.backoff.maxMs);
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        void this.startRun(resource);
      }, delay);
      this.timers.add(timer);
    });
  }

  private report(err: unknown): void {
    try {
      this.handlers?.onError?.(err instanceof Error ? err : new Error(String(err)));
    } catch {
      // a handler's own failure must not stop the feed
    }
  }

  /** After a (re)list: the set to onResync, then every revision's status; the ones gone as absent. */
  private resync(): void {
    const handlers = this.handlers;
    if (!handlers) return;
    const existing = [...this.revisions.values()].map(({ deploymentId, revision }) => ({
      deploymentId,
      revision,
    }));
    for (const key of this.revisions.keys()) this.deliver(key);
    for (const [key, gone] of this.goneSinceResync)
      if (!this.revisions.has(key)) this.emit(absentRevision(gone.deploymentId, gone.revision));
    this.goneSinceResync.clear();
    try {
      handlers.onResync?.(existing);
      handlers.onRecovered?.();
    } catch (err) {
      this.report(err);
    }
    this.firstSync?.resolve();
    this.firstSync = undefined;
  }

  /** Revisions a Deployments relist no longer had, by key (delivered as absent at the resync). */
  private readonly goneSinceResync = new Map<string, { deploymentId: string; revision: number }>();

  private reindexDeployments(deployments: readonly V1Deployment[]): void {
    const before = this.revisions;
    this.revisions = new Map();
    for (const d of deployments) this.indexDeployment(d);
    for (const [key, known] of before)
      if (!this.revisions.has(key))
        this.goneSinceResync.set(key, {
          deploymentId: known.deploymentId,
          revision: known.revision,
        });
  }

  private reindexPods(pods: readonly V1Pod[]): void {
    this.podsByKey = new Map();
    this.podKeys = new Map();
    for (const p of pods) this.indexPod(p);
  }

  private indexDeployment(d: V1Deployment): string | undefined {
    const key = keyOf(d);
    const id = revisionOf(d.metadata);
    if (!key || !id) {
      const name = d.metadata?.name ?? '';
      if (!this.unreadable.has(name)) {
        this.unreadable.add(name);
        this.report(new Error(`deployment ${name} names no revision: it is not observed`));
      }
      return undefined;
    }
    this.revisions.set(key, { ...id, deployment: d });
    return key;
  }

  private indexPod(p: V1Pod): string | undefined {
    const name = p.metadata?.name ?? '';
    const previous = this.podKeys.get(name);
    const key = keyOf(p);
    if (previous && previous !== key) this.unindexPod(name);
    if (!key) return previous;
    let pods = this.podsByKey.get(key);
    if (!pods) this.podsByKey.set(key, (pods = new Map()));
    pods.set(name, p);
    this.podKeys.set(name, key);
    return key;
  }

  private unindexPod(name: string): string | undefined {
    const key = this.podKeys.get(name);
    if (!key) return undefined;
    this.podKeys.delete(name);
    const pods = this.podsByKey.get(key);
    pods?.delete(name);
    if (pods?.size === 0) this.podsByKey.delete(key);
    return key;
  }

  private deploymentChanged(d: V1Deployment): void {
    const key = this.indexDeployment(d);
    if (key) this.deliver(key);
  }

  private deploymentDeleted(d: V1Deployment): void {
    const key = keyOf(d);
    const known = key ? this.revisions.get(key) : undefined;
    if (!key || !known) return;
    this.revisions.delete(key);
    this.emit(absentRevision(known.deploymentId, known.revision));
  }

  private podChanged(p: V1Pod): void {
    const previous = this.podKeys.get(p.metadata?.name ?? '');
    const key = this.indexPod(p);
    if (previous && previous !== key) this.deliver(previous);
    if (key) this.deliver(key);
  }

  private podDeleted(p: V1Pod): void {
    const key = this.unindexPod(p.metadata?.name ?? '');
    if (key) this.deliver(key);
  }

  /** The revision's status from the caches; pods of a revision without its Deployment say nothing. */
  private deliver(key: string): void {
    if (this.inSync.size < 2) return;
    const known = this.revisions.get(key);
    if (!known) return;
    const pods = [...(this.podsByKey.get(key)?.values() ?? [])];
    this.emit(revisionStatusOf(known.deployment, pods, known.deploymentId, known.revision));
  }

  private emit(status: RevisionStatus): void {
    try {
      this.handlers?.onStatus(status);
    } catch (err) {
      this.report(err);
    }
  }
}

/** The revision an object belongs to, by its labels (the same on a revision's Deployment and pods). */
function keyOf(obj: KubernetesObject): string | undefined {
  const labels = obj.metadata?.labels;
  const deployment = labels?.[DEPLOYMENT_LABEL];
  const revision = labels?.[REVISION_LABEL];
  return deployment && revision ? `${deployment}\u0000${revision}` : undefined;
}
