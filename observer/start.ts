/** Starts the observer of a runtime, when the runtime offers a feed and a lease. */
import { randomUUID } from 'node:crypto';
import os from 'node:os';
import type { Client } from '@temporalio/client';
import type { RuntimeProvider } from '../activities/providers/provider';
import type { LoadObserverOptions } from './load-observer';
import { Observer } from './observer';

/**
 * The observer for `provider`, started (it stands by until it holds the lease), or undefined
 * when the runtime cannot be observed (its workflows then rely on their safety-net calls).
 */
export function startObserver(
  provider: RuntimeProvider,
  client: Client,
  options: {
    holder?: string;
    log?: (message: string) => void;
    /** Scrape the replicas' load (default on, loopback replicas only). */
    load?: Omit<LoadObserverOptions, 'client' | 'log'> | false;
  } = {},
): Observer | undefined {
  if (!provider.revisionFeed || !provider.observerLease) return undefined;
  const holder = options.holder ?? `${os.hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  const observer = new Observer({
    feed: provider.revisionFeed(),
    lease: provider.observerLease(holder),
    client,
    ...(options.log ? { log: options.log } : {}),
    ...(options.load !== false ? { load: options.load ?? {} } : {}),
  });
  observer.start();
  return observer;
}
