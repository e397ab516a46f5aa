/**
 * What an observer needs from a runtime: a feed of revision changes and a lease. Each runtime
 * implements them its own way (Kubernetes: a LIST+WATCH informer and a Lease object; the local
 * runtime: the agent's change stream and an agent-held lease; tests: in memory).
 */
import type { RevisionStatus } from '../activities/providers/provider';

export interface RevisionFeedHandlers {
  /**
   * A revision's status, whenever anything in it may have changed (ready count, restarts and
   * their reasons, Pending reasons, desired count), and once for every revision at the start and
   * after every resync. A revision that went away comes as `exists: false`. May repeat a status
   * already delivered: the observer compares and signals only what changed.
   */
  onStatus(status: RevisionStatus): void;
  /**
   * After a (re)list: the complete set of revisions that exist now. Revisions delivered before
   * and absent here went away while the feed was not watching.
   */
  onResync?(existing: { deploymentId: string; revision: number }[]): void;
  /** The feed lost its connection and is reconnecting (it resyncs itself). */
  onError?(err: Error): void;
  /**
   * The feed works (again): after its first list, and after every recovery from an error, once
   * what changed meanwhile was delivered.
   */
  onRecovered?(): void;
}

export interface RevisionFeed {
  /** Starts watching; resolves once the first full list was delivered. */
  start(handlers: RevisionFeedHandlers): Promise<void>;
  stop(): Promise<void>;
}

/**
 * A lease that makes one observer per runtime the active one. `tryAcquire` takes it when free or
 * expired, or renews it when this holder has it; false while another holder's lease is live.
 */
export interface ObserverLease {
  readonly holder: string;
  /** Lease duration: a holder that stops renewing loses it after this long. */
  readonly durationMs: number;
  /**
   * Takes or renews the lease. A holder may leave a checkpoint with it (what it has signalled,
   * so a successor signals only what differs); leases that cannot keep one ignore it.
   */
  tryAcquire(checkpoint?: string): Promise<boolean>;
  /** The checkpoint found with the lease when it was last acquired, if the lease keeps one. */
  readonly checkpoint?: string;
  /** Gives it up at once (a clean shutdown), so another observer takes over without waiting. */
  release(): Promise<void>;
}
