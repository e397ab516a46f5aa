/** Starts the observers of the runtimes a worker uses: the dedicated one, and each BYOC cluster. */
import { randomUUID } from 'node:crypto';
import os from 'node:os';
import type { Client } from '@temporalio/client';
import type { ByocClusters } from '../activities/providers/byoc';
import type { RuntimeProvider } from '../activities/providers/provider';
import { startByocObservers } from './byoc';
import type { LogFn } from '../config/logging';
import type { LoadObserverOptions } from './load-observer';
import type { ObserverMetrics } from './metrics';
import { Observer } from './observer';

export interface StartObserverOptions {
  holder?: string;
  log?: LogFn;
  /** Scrape the replicas' load (default on, loopback replicas only). */
  load?: Omit<LoadObserverOptions, 'client' | 'log' | 'metrics'> | false;
  /** Where the observers' metrics go (observer/metrics.ts); none when absent. */
  metrics?: ObserverMetrics;
}

const defaultHolder = () => `${os.hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;

/**
 * The observer for `provider`, started (it stands by until it holds the lease), or undefined
 * when the runtime cannot be observed (its workflows then rely on their safety-net calls).
 */
export function startObserver(
  provider: RuntimeProvider,
  client: Client,
  options: StartObserverOptions = {},
): Observer | undefined {
  if (!provider.revisionFeed || !provider.observerLease) return undefined;
  const observer = new Observer({
    feed: provider.revisionFeed(),
    lease: provider.observerLease(options.holder ?? defaultHolder()),
    client,
    ...(options.log ? { log: options.log } : {}),
    ...(options.load !== false ? { load: options.load ?? {} } : {}),
    ...(options.metrics ? { metrics: options.metrics } : {}),
  });
  observer.start();
  return observer;
}

/** The dedicated runtime's observer and one per linked BYOC cluster. */
export function startObservers(
  provider: RuntimeProvider,
  clusters: ByocClusters | undefined,
  client: Client,
  options: StartObserverOptions = {},
): Observer[] {
  const holder = options.holder ?? defaultHolder();
  const dedicated = startObserver(provider, client, { ...options, holder });
  const byoc = clusters
    ? startByocObservers(clusters, client, holder, {
        ...(options.log ? { log: options.log } : {}),
        ...(options.load !== false ? { load: options.load ?? {} } : {}),
        ...(options.metrics ? { metrics: options.metrics } : {}),
      })
    : [];
  return [...(dedicated ? [dedicated] : []), ...byoc];
}
