/**
 * A deployment's load as its replicas report it: a short history of each replica's scrapes,
 * turned into the observation its workflow takes (workflows/deployment/metrics.ts), the same
 * shape the API's collector builds from the traffic it proxies. Pure bookkeeping: the caller
 * scrapes and passes the time, so every rule here is table-testable.
 *
 * Per replica, over the window:
 *   concurrency  the mean of running + waiting over the scrapes;
 *   throughput   the increase of the finished-requests counter per second;
 *   latencyMs    the increase of the latency histogram's sum over that of its count;
 *   memory       the last KV cache usage, in %.
 *
 * Counters restart from 0 when a replica does: a counter lower than at the scrape before counts
 * from zero. A failed scrape is not recorded (it is not a replica without load). A replica needs
 * two scrapes in the window to have a rate: until then it is left out of the observation, as one
 * not measured yet, and the workflow counts it as starting.
 */
import type { MetricsObservation, ReplicaObservation } from '../workflows/deployment/metrics';
import { METRIC_WINDOW_MS, SHORT_WINDOW_MS } from './load-rules';
import { concurrencyOf, type ReplicaSamples } from './replica-metrics';

interface Scrape extends ReplicaSamples {
  at: number;
}

export interface ReplicaLoadOptions {
  /** Window of the per-replica averages (default METRIC_WINDOW_MS, 30 s). */
  windowMs?: number;
  /** Window of the `shortWindow` totals rapid autoscaling reacts to (default SHORT_WINDOW_MS, 6 s). */
  shortWindowMs?: number;
}

/** One per deployment: its replicas' scrapes, and when a request was last seen. */
export class ReplicaLoad {
  readonly windowMs: number;
  readonly shortWindowMs: number;
  private readonly scrapes = new Map<string, Scrape[]>();
  private lastRequest: number | undefined;

  constructor(options: ReplicaLoadOptions = {}) {
    this.windowMs = options.windowMs ?? METRIC_WINDOW_MS;
    this.shortWindowMs = options.shortWindowMs ?? SHORT_WINDOW_MS;
    if (this.shortWindowMs > this.windowMs) {
      throw new Error(
        `the short window (${this.shortWindowMs} ms) exceeds the window (${this.windowMs} ms)`,
      );
    }
  }

  /**
   * One scrape of `replica` taken at `at`; `undefined` (a scrape that failed) is skipped. A scrape
   * not newer than the replica's last one is ignored. Keeps only what the window can still read.
   */
  record(replica: string, at: number, samples: ReplicaSamples | undefined): void {
    if (!samples) return;
    const history = this.scrapes.get(replica) ?? [];
    const previous = history.at(-1);
    if (previous && at <= previous.at) return;
    if (requestSeen(previous, samples)) this.lastRequest = Math.max(this.lastRequest ?? at, at);
    history.push({ ...samples, at });
    while (history.length > 0 && history[0]!.at < at - this.windowMs) history.shift();
    this.scrapes.set(replica, history);
  }

  /** When a request was last seen arriving or finishing on any replica (epoch ms), if ever. */
  lastRequestAt(): number | undefined {
    return this.lastRequest;
  }

  /** How many scrapes are kept, over all replicas (they are bounded by the window). */
  size(): number {
    let n = 0;
    for (const history of this.scrapes.values()) n += history.length;
    return n;
  }

  /**
   * The observation at `now` of `replicas` (the deployment's ready ones, in the order given);
   * every other replica is forgotten. Replicas without a rate yet are left out. Undefined when
   * there are replicas but none of them is measured (all scrapes failing, or just started):
   * nothing is known, which must not read as an idle deployment.
   */
  observe(replicas: readonly string[], now: number): MetricsObservation | undefined {
    const ready = new Set(replicas);
    for (const replica of [...this.scrapes.keys()]) {
      if (!ready.has(replica)) this.scrapes.delete(replica);
    }
    const observed: ReplicaObservation[] = [];
    const short = { concurrency: 0, throughput: 0 };
    for (const replica of ready) {
      const inWindow = (this.scrapes.get(replica) ?? []).filter(
        (s) => s.at <= now && s.at >= now - this.windowMs,
      );
      if (inWindow.length < 2) continue;
      observed.push({ replica, ...measure(inWindow) });
      const recent = measure(inWindow.filter((s) => s.at >= now - this.shortWindowMs));
      short.concurrency += recent.concurrency;
      short.throughput += recent.throughput;
    }
    if (ready.size > 0 && observed.length === 0) return undefined;
    return {
      time: new Date(now).toISOString(),
      windowSeconds: this.windowMs / 1000,
      replicas: observed,
      // Requests held at the gateway (a deployment waking from zero) are the gateway's to report.
      queued: 0,
      ...(this.lastRequest !== undefined
        ? { lastRequestAt: new Date(this.lastRequest).toISOString() }
        : {}),
      shortWindow: { seconds: this.shortWindowMs / 1000, ...short },
    };
  }
}

/** A replica's averages over its scrapes (oldest first); zeros when there are none. */
function measure(scrapes: readonly Scrape[]): Omit<ReplicaObservation, 'replica'> {
  const concurrencies = scrapes.map(concurrencyOf).filter((c): c is number => c !== undefined);
  const concurrency =
    concurrencies.length > 0 ? concurrencies.reduce((a, b) => a + b, 0) / concurrencies.length : 0;

  let finished = 0;
  let finishedOverMs = 0;
  let latencySeconds = 0;
  let latencyCount = 0;
  for (let i = 1; i < scrapes.length; i++) {
    const [before, after] = [scrapes[i - 1]!, scrapes[i]!];
    if (before.requestSuccess !== undefined && after.requestSuccess !== undefined) {
      finished += increase(before.requestSuccess, after.requestSuccess);
      finishedOverMs += after.at - before.at;
    }
    if (
      before.latencyCount !== undefined &&
      after.latencyCount !== undefined &&
      before.latencySumSeconds !== undefined &&
      after.latencySumSeconds !== undefined
    ) {
      const restarted = after.latencyCount < before.latencyCount;
      latencyCount += restarted ? after.latencyCount : after.latencyCount - before.latencyCount;
      latencySeconds += restarted
        ? after.latencySumSeconds
        : after.latencySumSeconds - before.latencySumSeconds;
    }
  }
  let memory: number | undefined;
  for (const s of scrapes) memory = s.memoryPercent ?? memory;
  return {
    concurrency,
    throughput: finishedOverMs > 0 ? finished / (finishedOverMs / 1000) : 0,
    ...(latencyCount > 0 ? { latencyMs: (latencySeconds / latencyCount) * 1000 } : {}),
    ...(memory !== undefined ? { memory } : {}),
  };
}

/** A counter's increase between two scrapes: lower than before means it restarted from 0. */
function increase(before: number, after: number): number {
  return after >= before ? after - before : after;
}

/** Whether a request arrived or finished since the scrape before (or, on a first scrape, is there). */
function requestSeen(before: ReplicaSamples | undefined, after: ReplicaSamples): boolean {
  if (
    before?.requestSuccess !== undefined &&
    after.requestSuccess !== undefined &&
    increase(before.requestSuccess, after.requestSuccess) > 0
  ) {
    return true;
  }
  const now = concurrencyOf(after);
  if (now === undefined) return false;
  const then = before ? concurrencyOf(before) : undefined;
  return then === undefined ? now > 0 : now > then;
}
