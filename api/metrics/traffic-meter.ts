/**
 * Measures the traffic the gateway proxies, per deployment and replica: in-flight requests
 * (time-weighted), completed requests and their latency, in one-second buckets. Pure
 * bookkeeping: every method takes `now`, so it is table-testable.
 */

const BUCKET_MS = 1000;

interface Bucket {
  start: number;
  completed: number;
  latencySumMs: number;
  /** Integral of in-flight requests over time, in request-milliseconds. */
  inFlightMs: number;
}

interface ReplicaMeter {
  inFlight: number;
  /** When inFlight last changed (or was last accounted). */
  since: number;
  buckets: Bucket[];
}

export interface ReplicaTraffic {
  replica: string;
  concurrency: number;
  throughput: number;
  latencyMs?: number;
}

export class TrafficMeter {
  private readonly replicas = new Map<string, Map<string, ReplicaMeter>>();
  private readonly queued = new Map<string, number>();
  private readonly lastRequest = new Map<string, number>();

  constructor(private readonly keepMs = 60_000) {}

  /**
   * A request starts on a replica; call the returned function when it ends, with `completed`
   * false when the replica never got it (a refused connection the gateway retries elsewhere).
   */
  begin(
    deployment: string,
    replica: string,
    now: number,
  ): (endedAt: number, completed?: boolean) => void {
    const meter = this.meter(deployment, replica, now);
    this.account(meter, now);
    meter.inFlight += 1;
    this.lastRequest.set(deployment, now);
    return (endedAt: number, completed = true) => {
      this.account(meter, endedAt);
      meter.inFlight -= 1;
      if (!completed) return;
      const bucket = this.bucket(meter, endedAt);
      bucket.completed += 1;
      bucket.latencySumMs += endedAt - now;
    };
  }

  /** A request waits at the gateway for a replica (waking from zero); call the result when it stops waiting. */
  hold(deployment: string, now: number): () => void {
    this.queued.set(deployment, (this.queued.get(deployment) ?? 0) + 1);
    this.lastRequest.set(deployment, now);
    return () => this.queued.set(deployment, Math.max(0, (this.queued.get(deployment) ?? 1) - 1));
  }

  deployments(): string[] {
    return [...new Set([...this.replicas.keys(), ...this.queued.keys()])];
  }

  queuedFor(deployment: string): number {
    return this.queued.get(deployment) ?? 0;
  }

  lastRequestAt(deployment: string): number | undefined {
    return this.lastRequest.get(deployment);
  }

  /** Per replica averages over the last `windowMs` (only the given replicas, e.g. the ready ones). */
  snapshot(
    deployment: string,
    replicas: string[],
    now: number,
    windowMs: number,
  ): ReplicaTraffic[] {
    return replicas.map((replica) => {
      const meter = this.replicas.get(deployment)?.get(replica);
      if (!meter) return { replica, concurrency: 0, throughput: 0 };
      this.account(meter, now);
      const from = now - windowMs;
      let completed = 0;
      let latencySumMs = 0;
      let inFlightMs = 0;
      for (const b of meter.buckets) {
        if (b.start + BUCKET_MS <= from || b.start > now) continue;
        // A bucket cut by the window's start counts in proportion.
        const share = b.start >= from ? 1 : (b.start + BUCKET_MS - from) / BUCKET_MS;
        completed += b.completed * share;
        latencySumMs += b.latencySumMs * share;
        inFlightMs += b.inFlightMs * share;
      }
      return {
        replica,
        concurrency: round(inFlightMs / windowMs),
        throughput: round((completed * 1000) / windowMs),
        ...(completed > 0 ? { latencyMs: round(latencySumMs / completed) } : {}),
      };
    });
  }

  /** Forget replicas that are gone and buckets too old to matter. */
  prune(deployment: string, liveReplicas: string[], now: number): void {
    const meters = this.replicas.get(deployment);
    if (!meters) return;
    for (const [replica, meter] of meters) {
      if (!liveReplicas.includes(replica) && meter.inFlight === 0) meters.delete(replica);
      else meter.buckets = meter.buckets.filter((b) => b.start > now - this.keepMs);
    }
  }

  private meter(deployment: string, replica: string, now: number): ReplicaMeter {
    let meters = this.replicas.get(deployment);
    if (!meters) this.replicas.set(deployment, (meters = new Map()));
    let meter = meters.get(replica);
    if (!meter) meters.set(replica, (meter = { inFlight: 0, since: now, buckets: [] }));
    return meter;
  }

  /** Adds in-flight time since the last change to the buckets it spans. */
  private account(meter: ReplicaMeter, now: number): void {
    if (meter.inFlight === 0) {
      meter.since = Math.max(meter.since, now);
      return;
    }
    let t = meter.since;
    while (t < now) {
      const bucket = this.bucket(meter, t);
      const end = Math.min(now, bucket.start + BUCKET_MS);
      bucket.inFlightMs += meter.inFlight * (end - t);
      t = end;
    }
    meter.since = Math.max(meter.since, now);
  }

  private bucket(meter: ReplicaMeter, at: number): Bucket {
    const start = at - (at % BUCKET_MS);
    let bucket = meter.buckets.find((b) => b.start === start);
    if (!bucket) {
      bucket = { start, completed: 0, latencySumMs: 0, inFlightMs: 0 };
      meter.buckets.push(bucket);
      if (meter.buckets.length > this.keepMs / BUCKET_MS + 2) meter.buckets.shift();
    }
    return bucket;
  }
}

function round(n: number): number {
  return Math.round(n * 1000) / 1000;
}
