/**
 * Metric observations: what the observer (scraping the replicas) tells a deployment's workflow
 * about its traffic, as a signal, only when something moved past tolerance and changes what the
 * workflow decides (plus a rare keepalive). Shared by the observer (sender) and the workflow.
 */
import { defineQuery, defineSignal } from '@temporalio/workflow';

export interface ReplicaObservation {
  /** The replica's base URL, stable for its life. */
  replica: string;
  /** Mean in-flight requests over the window. */
  concurrency: number;
  /** Completed requests per second over the window. */
  throughput: number;
  /** Mean latency of the requests completed in the window; absent when there were none. */
  latencyMs?: number;
  /** Memory use in % of the limit (KV cache on a GPU server); absent when not reported. */
  memory?: number;
}

export interface MetricsObservation {
  /** When it was measured (ISO). */
  time: string;
  /** Length of the window the averages cover, in seconds. */
  windowSeconds: number;
  replicas: ReplicaObservation[];
  /** Requests held at the gateway because no replica is ready (a deployment waking from zero). */
  queued: number;
  /** When the last request arrived (ISO), if any was ever seen. */
  lastRequestAt?: string;
  /** Totals over a short window (rapid autoscaling's panic mode reacts to these). */
  shortWindow: { seconds: number; concurrency: number; throughput: number };
}

/** An observation with no stated cause (tests, tools, and what observers sent before causes). */
export const observeMetricsSignal = defineSignal<[MetricsObservation]>('observeMetrics');

/**
 * Why an observation is signalled. Each cause is its own signal name, so the workflow's history
 * and the Temporal UI say what changed without opening the payload ("load: traffic started");
 * a signal cannot carry a summary. All are handled alike.
 */
export const METRICS_SIGNAL_CAUSES = {
  first: 'load: first measure',
  trafficStarted: 'load: traffic started',
  trafficStopped: 'load: traffic stopped',
  burst: 'load: burst',
  requestsWaiting: 'wake: requests waiting at zero',
  replicasChanged: 'load: replicas came or went',
  moved: 'load: moved past tolerance',
  keepalive: 'load: keepalive',
} as const;
export type MetricsSignalCause = keyof typeof METRICS_SIGNAL_CAUSES;

export const metricsSignals = Object.fromEntries(
  Object.entries(METRICS_SIGNAL_CAUSES).map(([cause, name]) => [
    cause,
    defineSignal<[MetricsObservation]>(name),
  ]),
) as Record<MetricsSignalCause, ReturnType<typeof defineSignal<[MetricsObservation]>>>;

export const NAMED_METRICS_SIGNALS = Object.values(metricsSignals);
/** Every signal that carries a metrics observation: the causes and the plain one. */
export const ALL_METRICS_SIGNALS = [observeMetricsSignal, ...NAMED_METRICS_SIGNALS];

/**
 * Whether an observation would change anything the workflow decides (DeploymentEntity.observationMatters).
 * The observer asks before signalling one that only moved past tolerance, and skips the signal
 * (and its history events) when it would not; urgent ones and keepalives are signalled at once.
 */
export const observationMattersQuery = defineQuery<boolean, [MetricsObservation]>(
  'observationMatters',
);

/** An observation held longer than this is replaced by the next one offered, whatever it says. */
export const OBSERVATION_REFRESH_MS = 10 * 60_000;
