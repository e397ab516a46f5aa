/**
 * The metrics collector: once a second it measures each deployment the gateway has seen (traffic
 * from the TrafficMeter, memory from the replicas' /metrics) and signals the deployment's
 * workflow only when something moved past tolerance, or as a rare keepalive. So a steady
 * deployment writes almost nothing to its history, and a change reaches the workflow at once.
 */
import type { Client } from '@temporalio/client';
import type { ReplicaEndpointsSource } from '../replica-endpoints';
import { deploymentWorkflowId } from '../../workflows/deployment/definitions';
import { observeMetricsSignal, type MetricsObservation } from '../../workflows/deployment/metrics';
import type { TrafficMeter } from './traffic-meter';

export const METRIC_WINDOW_MS = 30_000;
export const SHORT_WINDOW_MS = 6_000;
/** Relative change that counts as "moved": the HPA tolerance. */
export const TOLERANCE = 0.1;
/** Even a steady deployment is told now and then that its metrics are fresh. */
export const KEEPALIVE_MS = 30 * 60_000;
/** Ordinary changes are sent at most this often; urgent ones (a burst, a wake) at once. */
export const MIN_INTERVAL_MS = 10_000;

export interface CollectorOptions {
  client: Client;
  /** Where each deployment's ready replicas are (see replica-endpoints.ts). */
  replicas: ReplicaEndpointsSource;
  meter: TrafficMeter;
  intervalMs?: number;
  /** Window of the averages (default METRIC_WINDOW_MS) and of rapid autoscaling's short window. */
  windowMs?: number;
  shortWindowMs?: number;
  /** Reads memory (% of limit) of one replica; the default scrapes its Prometheus /metrics. */
  readMemory?: (replicaUrl: string) => Promise<number | undefined>;
  log?: (message: string) => void;
}

export class MetricsCollector {
  private readonly lastSent = new Map<string, { observation: MetricsObservation; at: number }>();
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private again = false;

  constructor(private readonly options: CollectorOptions) {}

  start(): void {
    this.timer = setInterval(() => void this.tick(), this.options.intervalMs ?? 1000);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** Measure and report now (a request is waiting for a deployment to wake), not at the next tick. */
  nudge(): void {
    if (this.running) this.again = true;
    else void this.tick();
  }

  /** Measures every deployment once and sends what moved. Returns the deployments signalled. */
  async tick(now = Date.now()): Promise<string[]> {
    if (this.running) return []; // a slow tick is not stacked on top of another
    this.running = true;
    try {
      const sent: string[] = [];
      for (const deployment of this.options.meter.deployments()) {
        const observation = await this.observe(deployment, now).catch(() => undefined);
        if (!observation) continue;
        if (!shouldSend(this.lastSent.get(deployment), observation, now)) continue;
        const [workspace, name] = deployment.split('/') as [string, string];
        try {
          await this.options.client.workflow
            .getHandle(deploymentWorkflowId(workspace, name))
            .signal(observeMetricsSignal, observation);
          this.lastSent.set(deployment, { observation, at: now });
          sent.push(deployment);
        } catch (err) {
          this.options.log?.(`metrics for ${deployment} not delivered: ${(err as Error).message}`);
        }
      }
      return sent;
    } finally {
      this.running = false;
      if (this.again) {
        this.again = false;
        void this.tick();
      }
    }
  }

  async observe(deployment: string, now: number): Promise<MetricsObservation> {
    const { meter, replicas } = this.options;
    const { urls } = await replicas.endpoints(deployment);
    meter.prune(deployment, urls, now);
    const windowMs = this.options.windowMs ?? METRIC_WINDOW_MS;
    const shortWindowMs = this.options.shortWindowMs ?? SHORT_WINDOW_MS;
    const traffic = meter.snapshot(deployment, urls, now, windowMs);
    const short = meter.snapshot(deployment, urls, now, shortWindowMs);
    const readMemory = this.options.readMemory ?? scrapeMemory;
    const memory = await Promise.all(urls.map((url) => readMemory(url).catch(() => undefined)));
    const lastRequestAt = meter.lastRequestAt(deployment);
    return {
      time: new Date(now).toISOString(),
      windowSeconds: windowMs / 1000,
      replicas: traffic.map((t, i) => ({
        ...t,
        ...(memory[i] !== undefined ? { memory: memory[i] } : {}),
      })),
      queued: meter.queuedFor(deployment),
      ...(lastRequestAt !== undefined
        ? { lastRequestAt: new Date(lastRequestAt).toISOString() }
        : {}),
      shortWindow: {
        seconds: shortWindowMs / 1000,
        concurrency: sum(short.map((s) => s.concurrency)),
        throughput: sum(short.map((s) => s.throughput)),
      },
    };
  }
}

/** Whether an observation is worth a signal, given the last one sent (see the constants above). */
export function shouldSend(
  last: { observation: MetricsObservation; at: number } | undefined,
  next: MetricsObservation,
  now: number,
): boolean {
  if (!last) return true;
  if (isUrgent(last.observation, next)) return true;
  if (now - last.at < MIN_INTERVAL_MS) return false;
  return movedPastTolerance(last.observation, next) || now - last.at >= KEEPALIVE_MS;
}

/** Changes the workflow must see at once: replicas changed, requests queued, traffic started or stopped, a burst. */
export function isUrgent(before: MetricsObservation, after: MetricsObservation): boolean {
  const replicas = (o: MetricsObservation) =>
    o.replicas
      .map((r) => r.replica)
      .sort()
      .join(',');
  if (replicas(before) !== replicas(after) || after.queued > before.queued) return true;
  if (isIdle(before) !== isIdle(after)) return true;
  const total = (
    o: MetricsObservation,
    pick: (r: MetricsObservation['replicas'][number]) => number,
  ) => sum(o.replicas.map(pick));
  const burst = (short: number, long: number) => short > 0 && short >= 2 * long;
  return (
    burst(
      after.shortWindow.concurrency,
      total(after, (r) => r.concurrency),
    ) ||
    burst(
      after.shortWindow.throughput,
      total(after, (r) => r.throughput),
    )
  );
}

/** Whether any per-replica average moved by more than the tolerance. */
export function movedPastTolerance(before: MetricsObservation, after: MetricsObservation): boolean {
  const averages = (o: MetricsObservation) => {
    const n = Math.max(1, o.replicas.length);
    const mean = (pick: (r: MetricsObservation['replicas'][number]) => number | undefined) =>
      sum(o.replicas.map((r) => pick(r) ?? 0)) / n;
    return [
      mean((r) => r.concurrency),
      mean((r) => r.throughput),
      mean((r) => r.latencyMs),
      mean((r) => r.memory),
    ];
  };
  const [a, b] = [averages(before), averages(after)];
  return a.some((value, i) => moved(value, b[i]!));
}

function isIdle(o: MetricsObservation): boolean {
  return o.queued === 0 && o.replicas.every((r) => r.concurrency === 0 && r.throughput === 0);
}

function moved(before: number, after: number): boolean {
  if (before === after) return false;
  if (before === 0 || after === 0) return true;
  return Math.abs(after - before) / before > TOLERANCE;
}

function sum(values: number[]): number {
  return values.reduce((a, b) => a + b, 0);
}

/** Memory from a vLLM-style server: KV cache usage (0..1) as % of the limit. */
async function scrapeMemory(replicaUrl: string): Promise<number | undefined> {
  const res = await fetch(`${replicaUrl}/metrics`, { signal: AbortSignal.timeout(500) });
  if (!res.ok) return undefined;
  const match = /^vllm:gpu_cache_usage_perc(?:\{[^}]*\})?\s+([0-9.eE+-]+)/m.exec(await res.text());
  return match ? Math.round(Number(match[1]) * 1000) / 10 : undefined;
}
