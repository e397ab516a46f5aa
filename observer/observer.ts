/**
 * The observer of one runtime: watches every revision it runs (a RevisionFeed) and signals a
 * deployment's workflow only when something that matters changed (observationFingerprint: ready
 * count, restarts and why, Pending reasons, existence). One observer per runtime is active (a
 * lease); the others stand by and take over within the lease's duration.
 *
 * Nothing here is per deployment per second: the feed is one watch, a steady deployment gets no
 * signal at all, and signals of a burst are coalesced per revision (only the newest status is
 * sent) and sent a bounded number at a time.
 *
 * Failover: the active observer leaves a checkpoint with its lease (a short hash of what it last
 * signalled per revision); its successor starts from it and signals only what differs, so a
 * takeover neither loses a change nor repeats a signal (at most the few sent since the last
 * renewal are sent again, and the workflow ignores a status it already has).
 */
import { createHash } from 'node:crypto';
import { gunzipSync, gzipSync } from 'node:zlib';
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { RevisionStatus } from '../activities/providers/provider';
import { deploymentWorkflowId } from '../workflows/deployment/definitions';
import {
  observationFingerprint,
  observeReplicasSignal,
} from '../workflows/deployment/observations';
import type { LogFn } from '../config/logging';
import type { ObserverLease, RevisionFeed } from './feed';
import { LoadObserver, type LoadObserverOptions } from './load-observer';
import { observerMetrics, ReplicaTally, type ObserverMetrics } from './metrics';

export interface ObserverOptions {
  feed: RevisionFeed;
  lease: ObserverLease;
  client: Client;
  /** How often the lease is renewed (or tried, standing by); default a third of its duration. */
  renewEveryMs?: number;
  /** How long the runtime may be unwatchable before its deployments are told (default 5 s). */
  unreachableAfterMs?: number;
  /** Signals in flight at once (to different deployments). */
  concurrency?: number;
  log?: LogFn;
  /** Load at the replicas: scraped and signalled while active (off when absent). */
  load?: Omit<LoadObserverOptions, 'client' | 'log' | 'metrics'>;
  /** Where its metrics go (observer/metrics.ts); none when absent. */
  metrics?: ObserverMetrics;
  /** The runtime it observes, as its metrics name it (default `dedicated`). */
  runtime?: string;
}

export interface ObserverStats {
  /** Signals delivered to workflows. */
  signals: number;
  /** Statuses from the feed that changed nothing a workflow needs. */
  unchanged: number;
  /** Signals that failed and were tried again. */
  retried: number;
  /** Times this observer became the active one. */
  takeovers: number;
}

/** How long the feed may fail before the deployments hear that their runtime is unreachable. */
const UNREACHABLE_AFTER_MS = 5_000;

const key = (s: { deploymentId: string; revision: number }) => `${s.deploymentId}#${s.revision}`;
const hash = (text: string) => createHash('sha1').update(text).digest('base64').slice(0, 8);

export class Observer {
  readonly stats: ObserverStats = { signals: 0, unchanged: 0, retried: 0, takeovers: 0 };
  private active = false;
  private stopped = false;
  private renewTimer?: NodeJS.Timeout;
  private ticking?: Promise<void>;
  /** What each revision's workflow was last told (a hash of its fingerprint). */
  private signalled = new Map<string, string>();
  private checkpointDirty = false;
  /** When the lease was last taken or renewed. */
  private renewedAt = 0;
  /** The newest status of each revision, and the revisions waiting for a signal (in order). */
  private readonly latest = new Map<string, RevisionStatus>();
  private readonly queue = new Set<string>();
  /** Revisions with a signal in flight, and the fingerprint being sent. */
  private readonly inFlight = new Map<string, string>();
  /** Why the feed fails, while it does; the deployments told so, and the timer before telling. */
  private feedError?: string;
  private toldUnreachable = false;
  private readonly unreachable = new Map<string, string>();
  private unreachableTimer?: NodeJS.Timeout;
  /** Revisions whose signal failed, sent again after a pause (not in a tight loop). */
  private readonly deferred = new Set<string>();
  private retryTimer?: NodeJS.Timeout;

  /** Scrapes the replicas' metrics while this observer is the active one. */
  readonly load?: LoadObserver;
  private readonly metrics: ObserverMetrics;
  /** Replicas per deployment from the feed, for the replica gauges. */
  private readonly tally = new ReplicaTally();

  constructor(private readonly options: ObserverOptions) {
    this.metrics = options.metrics ?? observerMetrics();
    if (options.load)
      this.load = new LoadObserver({
        ...options.load,
        client: options.client,
        metrics: this.metrics,
        ...(options.log ? { log: options.log } : {}),
      });
  }

  private get runtime(): string {
    return this.options.runtime ?? 'dedicated';
  }

  /** The replica gauges of every deployment it knew back to 0 (it no longer observes them). */
  private forgetReplicas(): void {
    for (const deploymentId of this.tally.clear()) this.metrics.replicas(deploymentId, 0, 0);
  }

  get isActive(): boolean {
    return this.active;
  }

  /** Starts trying for the lease (at once, then every renewal interval). */
  start(): void {
    this.metrics.active(this.runtime, false);
    const every = this.options.renewEveryMs ?? Math.max(100, this.options.lease.durationMs / 3);
    const tick = () => {
      if (this.stopped) return;
      this.ticking = this.tick().finally(() => {
        if (!this.stopped) this.renewTimer = setTimeout(tick, every);
      });
    };
    tick();
  }

  /** Stops watching and gives the lease up at once, so a standby takes over without waiting. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.unreachableTimer);
    clearTimeout(this.renewTimer);
    clearTimeout(this.retryTimer);
    // The feed first: a takeover in progress may be waiting for its first list (runtime down).
    await this.options.feed.stop();
    await this.ticking;
    await this.load?.stop();
    if (!this.active) return;
    this.active = false;
    this.metrics.active(this.runtime, false);
    this.forgetReplicas();
    await this.options.lease.tryAcquire(this.checkpoint()).catch(() => undefined);
    await this.options.lease.release().catch(() => undefined);
  }

  /** Simulates a crash (tests): stops without releasing the lease or saving anything. */
  async crash(): Promise<void> {
    this.stopped = true;
    this.active = false;
    clearTimeout(this.unreachableTimer);
    clearTimeout(this.renewTimer);
    clearTimeout(this.retryTimer);
    await this.options.feed.stop();
    await this.ticking;
    await this.options.feed.stop(); // a takeover that finished meanwhile started it again
    await this.load?.stop();
  }

  private async tick(): Promise<void> {
    try {
      await this.renew();
    } catch (err) {
      this.options.log?.(`observer: ${(err as Error).message}`);
    }
  }

  private async renew(): Promise<void> {
    const { lease, log } = this.options;
    let held: boolean;
    const checkpoint = this.active ? this.checkpoint() : undefined;
    try {
      held = await lease.tryAcquire(checkpoint).catch(async (err: unknown) => {
        if (checkpoint === undefined) throw err;
        // The lease may refuse the checkpoint (too large for where it is kept): keep the lease.
        log?.(
          `observer: checkpoint not saved (${(err as Error).message}); lease renewed without it`,
        );
        return lease.tryAcquire();
      });
      if (held) this.renewedAt = Date.now();
    } catch (err) {
      log?.(`observer: lease not renewed: ${(err as Error).message}`);
      if (checkpoint !== undefined) this.checkpointDirty = true; // not saved: next time
      // The lease lives on the runtime (the agent, the apiserver): unreachable, nobody else can
      // take it before it expires, so the holder stays active (and tells the deployments their
      // runtime is unreachable) until then, like leader election's renew deadline.
      held = this.active && Date.now() - this.renewedAt < lease.durationMs;
    }
    if (held && !this.active && !this.stopped) await this.becomeActive();
    else if (!held && this.active) await this.standBy();
  }

  private async becomeActive(): Promise<void> {
    const { lease, feed, log } = this.options;
    this.active = true;
    this.stats.takeovers++;
    this.metrics.active(this.runtime, true);
    this.signalled = parseCheckpoint(lease.checkpoint);
    log?.(
      `observer: active (holder ${lease.holder}${lease.checkpoint ? `, resuming from ${this.signalled.size} revision(s) signalled before` : ''})`,
      { runtime: this.runtime, holder: lease.holder },
    );
    this.load?.start();
    await feed.start({
      onStatus: (status) => this.onStatus(status),
      onResync: (existing) => this.onResync(existing),
      onError: (err) => this.onFeedError(err),
      onRecovered: () => this.onFeedRecovered(),
    });
    // Revisions the predecessor signalled that are gone now: their workflows must hear it.
    const seen = new Set(this.latest.keys());
    for (const k of this.signalled.keys()) {
      if (seen.has(k)) continue;
      const [deploymentId, revision] = splitKey(k);
      this.onStatus({
        deploymentId,
        revision,
        exists: false,
        desired: 0,
        ready: 0,
        restarts: 0,
        replicas: [],
      });
    }
  }

  private async standBy(): Promise<void> {
    this.active = false;
    this.metrics.active(this.runtime, false);
    this.forgetReplicas();
    this.options.log?.('observer: lease lost; standing by', { runtime: this.runtime });
    await this.options.feed.stop();
    await this.load?.stop();
    this.latest.clear();
    this.queue.clear();
    this.deferred.clear();
    clearTimeout(this.unreachableTimer);
    this.unreachableTimer = undefined;
  }

  private onStatus(status: RevisionStatus): void {
    if (!this.active) return;
    this.load?.update(status);
    const totals = this.tally.update(status);
    this.metrics.replicas(totals.deploymentId, totals.desired, totals.ready);
    const k = key(status);
    this.unreachable.delete(k); // a fresh status from the feed supersedes "unreachable"
    this.latest.set(k, status);
    const known = this.signalled.get(k);
    const next = hash(observationFingerprint(status));
    // Already told (or being told), or never told and gone already: nothing to send.
    const sending = this.inFlight.get(k);
    if (
      (sending === undefined && known === next) ||
      sending === next ||
      (known === undefined && sending === undefined && !status.exists)
    ) {
      if (!status.exists) this.latest.delete(k);
      this.queue.delete(k);
      this.stats.unchanged++;
      this.metrics.signal('replicas', 'unchanged');
      return;
    }
    this.queue.add(k);
    this.pump();
  }

  /**
   * The runtime cannot be watched: after UNREACHABLE_AFTER_MS of that, every deployment it runs is
   * told (its health turns Unknown, with why) once, not on every retry.
   */
  private onFeedError(err: Error): void {
    this.options.log?.(`observer: watch interrupted, resuming: ${err.message}`);
    this.feedError = err.message;
    if (this.unreachableTimer || this.toldUnreachable) return;
    this.unreachableTimer = setTimeout(() => {
      this.unreachableTimer = undefined;
      if (!this.active || this.feedError === undefined) return;
      this.toldUnreachable = true;
      for (const [k, status] of this.latest) {
        if (!status.exists) continue;
        this.unreachable.set(k, this.feedError);
        this.queue.add(k);
      }
      this.pump();
    }, this.options.unreachableAfterMs ?? UNREACHABLE_AFTER_MS);
  }

  /** Watching again: deployments told the runtime was unreachable hear how their replicas are. */
  private onFeedRecovered(): void {
    this.feedError = undefined;
    clearTimeout(this.unreachableTimer);
    this.unreachableTimer = undefined;
    if (!this.toldUnreachable) return;
    this.toldUnreachable = false;
    this.unreachable.clear();
    for (const [k, status] of this.latest) {
      if (!status.exists) continue;
      this.signalled.delete(k);
      this.queue.add(k);
    }
    this.pump();
  }

  private onResync(existing: { deploymentId: string; revision: number }[]): void {
    const now = new Set(existing.map(key));
    for (const [k, status] of this.latest) {
      if (!now.has(k) && status.exists)
        this.onStatus({ ...status, exists: false, ready: 0, replicas: [] });
    }
  }

  /** Sends queued signals, a bounded number at a time and one at a time per revision. */
  private pump(): void {
    const limit = this.options.concurrency ?? 32;
    for (const k of this.queue) {
      if (this.inFlight.size >= limit) return;
      if (this.inFlight.has(k)) continue;
      const known = this.latest.get(k);
      this.queue.delete(k);
      if (!known) continue;
      const why = this.unreachable.get(k);
      const status = why !== undefined ? { ...known, unreachable: why } : known;
      const fingerprint =
        why !== undefined ? `unreachable:${why}` : hash(observationFingerprint(status));
      if (fingerprint === this.signalled.get(k)) continue; // changed back meanwhile
      this.inFlight.set(k, fingerprint);
      void this.send(k, status, fingerprint).finally(() => {
        this.inFlight.delete(k);
        if (this.active) this.pump();
      });
    }
  }

  private async send(
    k: string,
    status: RevisionStatus & { unreachable?: string },
    fingerprint: string,
  ): Promise<void> {
    const [workspace, ...rest] = status.deploymentId.split('/');
    const name = rest.join('/');
    try {
      await this.options.client.workflow
        .getHandle(deploymentWorkflowId(workspace ?? '', name))
        .signal(observeReplicasSignal, { ...status, observedAt: new Date().toISOString() });
      this.stats.signals++;
      this.metrics.signal('replicas', 'sent');
    } catch (err) {
      if (!(err instanceof WorkflowNotFoundError)) {
        // Temporal unreachable: keep it queued (a newer status replaces it) and try again soon.
        this.stats.retried++;
        this.metrics.signal('replicas', 'failed');
        this.deferred.add(k);
        this.options.log?.(
          `observer: signal to ${status.deploymentId} failed (tried again in 1 s): ${(err as Error).message}`,
          { deploymentId: status.deploymentId },
        );
        this.retryTimer ??= setTimeout(() => {
          this.retryTimer = undefined;
          for (const d of this.deferred) this.queue.add(d);
          this.deferred.clear();
          if (this.active) this.pump();
        }, 1000);
        return;
      }
      // No workflow runs this deployment (deleted): nothing to tell.
    }
    if (status.exists) this.signalled.set(k, fingerprint);
    else {
      this.signalled.delete(k);
      if (this.latest.get(k) === status) this.latest.delete(k);
    }
    this.checkpointDirty = true;
  }

  /**
   * What was signalled, for the successor; only when something changed since the last renewal.
   * Compressed: about 10 bytes a revision (a Kubernetes annotation holds 256 KB).
   */
  private checkpoint(): string | undefined {
    if (!this.checkpointDirty) return undefined;
    this.checkpointDirty = false;
    const json = JSON.stringify(Object.fromEntries(this.signalled));
    return `gz:${gzipSync(json).toString('base64')}`;
  }
}

function parseCheckpoint(text: string | undefined): Map<string, string> {
  if (!text) return new Map();
  try {
    const json = text.startsWith('gz:')
      ? gunzipSync(Buffer.from(text.slice(3), 'base64')).toString('utf8')
      : text;
    const parsed = JSON.parse(json) as Record<string, unknown>;
    return new Map(
      Object.entries(parsed).filter((e): e is [string, string] => typeof e[1] === 'string'),
    );
  } catch {
    return new Map();
  }
}

function splitKey(k: string): [string, number] {
  const at = k.lastIndexOf('#');
  return [k.slice(0, at), Number(k.slice(at + 1))];
}
