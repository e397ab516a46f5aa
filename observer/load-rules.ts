/**
 * When a deployment's workflow is told about its load: only when something moved past
 * tolerance, at once for urgent changes (replicas changed, requests held, traffic started or
 * stopped, a burst), and otherwise as a rare keepalive. So a steady deployment writes almost
 * nothing to its history, and a change reaches the workflow at once. Pure: shared by the API's
 * collector (load seen at the gateway) and the observer (load scraped from the replicas).
 */
import type { MetricsObservation } from '../workflows/deployment/metrics';

/** Window of the per-replica averages an observation reports. */
export const METRIC_WINDOW_MS = 30_000;
/** Rapid autoscaling's short window (an observation's `shortWindow` totals). */
export const SHORT_WINDOW_MS = 6_000;
/** Relative change that counts as "moved": the HPA tolerance. */
export const TOLERANCE = 0.1;
/**
 * Even a steady deployment is told now and then that its metrics are fresh: within the 45 minutes
 * after which the workflow counts them stale (STALE_OBSERVATION_MS), and rarely enough that a
 * steady deployment costs under 10 history events an hour (bench:history-events).
 */
export const KEEPALIVE_MS = 40 * 60_000;
/** Ordinary changes are sent at most this often; urgent ones (a burst, a wake) at once. */
export const MIN_INTERVAL_MS = 10_000;

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
