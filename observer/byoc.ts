/**
 * Observers for BYOC clusters: each linked EKS cluster is a runtime of its own, with one active
 * observer (its Lease in the cluster's namespace). An EKS token lives 15 minutes, so the feed
 * and the lease ask for the cluster's provider (a fresh token every 10 minutes) each time they
 * connect, and the feed reconnects before its token expires (a relist: the observer signals
 * only what changed).
 *
 * Their load observers scrape loopback replicas only, whatever OBSERVER_SCRAPE_ANY_ADDRESS says:
 * a BYOC cluster's pod IPs are the customer's network, which the control plane never dials
 * (inference reaches them through the cluster's edge gateway; see api/replica-endpoints.ts).
 */
import type { Client } from '@temporalio/client';
import type { ByocClusters } from '../activities/providers/byoc';
import type { RuntimeProvider } from '../activities/providers/provider';
import type { ObserverLease, RevisionFeed, RevisionFeedHandlers } from './feed';
import { Observer, type ObserverOptions } from './observer';

/** Reconnect with a fresh token this often (EKS tokens live 15 minutes). */
const RECONNECT_MS = 10 * 60_000;

/** One linked cluster, as a workspace that can reach it names it. */
export interface ByocTarget {
  /** Where the cluster is (region, EKS name, namespace): clusters shared by workspaces once. */
  key: string;
  workspace: string;
  cluster: string;
}

/** A feed that connects through the cluster's current provider, again every RECONNECT_MS. */
export class RefreshingFeed implements RevisionFeed {
  private current?: RevisionFeed;
  private timer?: NodeJS.Timeout;
  private running = false;

  constructor(
    private readonly provider: () => Promise<RuntimeProvider>,
    private readonly reconnectMs = RECONNECT_MS,
  ) {}

  async start(handlers: RevisionFeedHandlers): Promise<void> {
    this.running = true;
    await this.connect(handlers);
  }

  async stop(): Promise<void> {
    this.running = false;
    clearTimeout(this.timer);
    await this.current?.stop();
  }

  private async connect(handlers: RevisionFeedHandlers): Promise<void> {
    let provider: RuntimeProvider;
    try {
      provider = await this.provider();
    } catch (err) {
      handlers.onError?.(err as Error);
      if (this.running) this.timer = setTimeout(() => void this.connect(handlers), 5_000);
      return;
    }
    if (!this.running || !provider.revisionFeed) return;
    const next = provider.revisionFeed();
    const before = this.current;
    this.current = next;
    await before?.stop();
    await next.start(handlers);
    if (this.running) this.timer = setTimeout(() => void this.connect(handlers), this.reconnectMs);
  }
}

/** A lease reached through the cluster's current provider (its token may have been renewed). */
export class RefreshingLease implements ObserverLease {
  readonly durationMs: number;
  checkpoint?: string;

  constructor(
    private readonly provider: () => Promise<RuntimeProvider>,
    readonly holder: string,
    durationMs = 10_000,
  ) {
    this.durationMs = durationMs;
  }

  private async lease(): Promise<ObserverLease> {
    const provider = await this.provider();
    if (!provider.observerLease) throw new Error('this runtime has no observer lease');
    return provider.observerLease(this.holder);
  }

  async tryAcquire(checkpoint?: string): Promise<boolean> {
    const lease = await this.lease();
    const held = await lease.tryAcquire(checkpoint);
    if (held && lease.checkpoint !== undefined) this.checkpoint = lease.checkpoint;
    return held;
  }

  async release(): Promise<void> {
    await (await this.lease()).release();
  }
}

/** An observer per linked cluster the registry names (none when there is no registry). */
export function startByocObservers(
  clusters: ByocClusters,
  client: Client,
  holder: string,
  options: Pick<ObserverOptions, 'log' | 'load' | 'metrics'> = {},
): Observer[] {
  const targets = clusters.observable?.() ?? [];
  const seen = new Set<string>();
  const observers: Observer[] = [];
  for (const target of targets) {
    if (seen.has(target.key)) continue;
    seen.add(target.key);
    const provider = () => clusters.provider(target.workspace, target.cluster);
    const log = options.log;
    const observer = new Observer({
      feed: new RefreshingFeed(provider),
      lease: new RefreshingLease(provider, holder),
      client,
      ...(log
        ? {
            log: (m: string, fields?: Record<string, unknown>) =>
              log(`[cluster ${target.key}] ${m}`, { cluster: target.key, ...fields }),
          }
        : {}),
      ...(options.load ? { load: { ...options.load, allowNonLoopback: false } } : {}),
      ...(options.metrics ? { metrics: options.metrics } : {}),
      runtime: `cluster:${target.key}`,
    });
    observer.start();
    observers.push(observer);
  }
  return observers;
}
