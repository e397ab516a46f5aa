/** Metric observations as the collector sends them, for tests that signal a workflow directly. */
import type { MetricsObservation } from '../../workflows/deployment/metrics';

/** Per-replica concurrency (throughput alike), traffic just now; `extra` overrides any field. */
export function observation(
  perReplica: number[],
  extra: Partial<MetricsObservation> = {},
): MetricsObservation {
  return {
    time: new Date().toISOString(),
    windowSeconds: 30,
    replicas: perReplica.map((concurrency, i) => ({
      replica: `r${i}`,
      concurrency,
      throughput: concurrency,
    })),
    queued: 0,
    lastRequestAt: new Date().toISOString(),
    shortWindow: { seconds: 6, concurrency: perReplica.reduce((a, b) => a + b, 0), throughput: 0 },
    ...extra,
  };
}
