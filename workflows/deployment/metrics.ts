/**
 * Metric observations: what the collector (next to the gateway) tells a deployment's workflow
 * about its traffic, as a signal, only when something moved past tolerance (plus a rare
 * keepalive). Shared by the API (sender) and the workflow (receiver).
 */
import { defineSignal } from '@temporalio/workflow';

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

export const observeMetricsSignal = defineSignal<[MetricsObservation]>('observeMetrics');
