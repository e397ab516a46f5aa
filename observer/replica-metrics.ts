/**
 * What one scrape of a replica's /metrics says about its load, from vLLM's metrics (which the
 * simulated model server, runtime/model-server/metrics.ts, serves under the same names). Pure.
 *
 * Every metric is summed over its label sets (`model_name`, `finished_reason`, an `engine` of
 * a data-parallel server). A metric the scrape does not have is absent here, never zero: a server
 * that does not report it, or a line the parser skipped (see prometheus-text.ts), is not a
 * replica without load.
 */
import type { PromSample } from './prometheus-text';

export const VLLM_METRICS = {
  running: 'vllm:num_requests_running',
  waiting: 'vllm:num_requests_waiting',
  requestSuccess: 'vllm:request_success_total',
  latencySum: 'vllm:e2e_request_latency_seconds_sum',
  latencyCount: 'vllm:e2e_request_latency_seconds_count',
  /** KV cache usage, 0..1 (vLLM 0.6 to 0.9). */
  gpuCacheUsage: 'vllm:gpu_cache_usage_perc',
  /** Its name from vLLM 0.10 on; read when the old one is not there. */
  kvCacheUsage: 'vllm:kv_cache_usage_perc',
} as const;

export interface ReplicaSamples {
  /** Requests being decoded (a gauge). */
  running?: number;
  /** Requests waiting for a decode slot (a gauge). */
  waiting?: number;
  /** Requests finished, for any reason (a counter: it restarts from 0 when the replica does). */
  requestSuccess?: number;
  /** End-to-end latency histogram: total seconds and number of requests (counters). */
  latencySumSeconds?: number;
  latencyCount?: number;
  /** KV cache usage in % of its capacity (the gauge's 0..1, times 100, to 0.1). */
  memoryPercent?: number;
}

export function replicaSamples(samples: readonly PromSample[]): ReplicaSamples {
  const byName = new Map<string, number[]>();
  for (const { name, value } of samples) {
    const values = byName.get(name);
    if (values) values.push(value);
    else byName.set(name, [value]);
  }
  const total = (name: string): number | undefined => {
    const values = byName.get(name);
    return values ? values.reduce((a, b) => a + b, 0) : undefined;
  };
  const mean = (name: string): number | undefined => {
    const values = byName.get(name);
    return values ? values.reduce((a, b) => a + b, 0) / values.length : undefined;
  };
  // Several label sets of the cache gauge are the caches of several engines: their mean.
  const cacheUsage = mean(VLLM_METRICS.gpuCacheUsage) ?? mean(VLLM_METRICS.kvCacheUsage);
  const result: ReplicaSamples = {
    running: total(VLLM_METRICS.running),
    waiting: total(VLLM_METRICS.waiting),
    requestSuccess: total(VLLM_METRICS.requestSuccess),
    latencySumSeconds: total(VLLM_METRICS.latencySum),
    latencyCount: total(VLLM_METRICS.latencyCount),
    memoryPercent: cacheUsage === undefined ? undefined : Math.round(cacheUsage * 1000) / 10,
  };
  // Absent stays absent: no key at all rather than a key holding undefined.
  for (const key of Object.keys(result) as (keyof ReplicaSamples)[]) {
    if (result[key] === undefined) delete result[key];
  }
  return result;
}

/** Requests on the replica (running + waiting), or undefined when it reports neither. */
export function concurrencyOf(samples: ReplicaSamples): number | undefined {
  if (samples.running === undefined && samples.waiting === undefined) return undefined;
  return (samples.running ?? 0) + (samples.waiting ?? 0);
}
