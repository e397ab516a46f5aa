/**
 * The metrics collector: once a second it measures each deployment the gateway has seen (traffic
 * from the TrafficMeter, memory from the replicas' /metrics) and signals the deployment's
 * workflow only when something moved past tolerance, or as a rare keepalive (the rules, shared
 * with the observer, are in observer/load-rules.ts).
 */
import type { Client } from '@temporalio/client';
import type { ReplicaEndpointsSource } from '../replica-endpoints';
import { deploymentWorkflowId } from '../../workflows/deployment/definitions';
import { observeMetricsSignal, type MetricsObservation } from '../../workflows/deployment/metrics';
import { METRIC_WINDOW_MS, SHORT_WINDOW_MS, shouldSend } from '../../observer/load-rules';
import type { TrafficMeter } from './traffic-meter';

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
