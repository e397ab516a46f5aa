/**
 * When a deployment's workflow is told about its load: at once for urgent changes (requests
 * held, traffic started or stopped, a burst); when replicas came or went, or the load moved past
 * tolerance, only if the workflow says that changes what it decides (a load moving within one
 * replica count's band writes nothing); otherwise as a rare keepalive. So a steady deployment
 * writes almost nothing to its history, and a change reaches the workflow at once. Pure.
 */
import type { MetricsObservation, MetricsSignalCause } from '../workflows/deployment/metrics';

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

/** The last observation offered to a workflow: when, and when one was last actually signalled. */
export interface LastOffered {
  observation: MetricsObservation;
  /** When it was offered (signalled, or found to change nothing). */
  at: number;
  /** When an observation was last signalled; absent: `at`. */
  deliveredAt?: number;
}

/**
 * What to do with an observation, given the last one offered: `send` it now (the first, an
 * urgent change, a keepalive), `ask` the workflow whether it changes anything and send it only
 * if it does (it moved past tolerance), or nothing (see the constants above).
 */
export function sendDecision(
  last: LastOffered | undefined,
  next: MetricsObservation,
  now: number,
): 'send' | 'ask' | undefined {
  const cause = offerCause(last, next, now);
  if (cause === undefined) return undefined;
  return asksFirst(cause) ? 'ask' : 'send';
}

/** Whether an observation offered for this cause is signalled only if the workflow says it matters. */
export function asksFirst(cause: MetricsSignalCause): boolean {
  return cause === 'moved' || cause === 'replicasChanged';
}

/**
 * Why an observation is offered now, or undefined when it is not (sendDecision's rules, with
 * their cause): the signal it goes as is named for it (METRICS_SIGNAL_CAUSES).
 */
export function offerCause(
  last: LastOffered | undefined,
  next: MetricsObservation,
  now: number,
): MetricsSignalCause | undefined {
  if (!last) return 'first';
  const urgent = urgentCause(last.observation, next);
  if (urgent) return urgent;
  // Replicas came or went: the per-replica averages moved with them; asked at once.
  if (replicaSet(last.observation) !== replicaSet(next)) return 'replicasChanged';
  if (now - last.at < MIN_INTERVAL_MS) return undefined;
  if (now - (last.deliveredAt ?? last.at) >= KEEPALIVE_MS) return 'keepalive';
  return movedPastTolerance(last.observation, next) ? 'moved' : undefined;
}

/** What is remembered of an observation just offered: `delivered`, signalled; else found to change nothing. */
export function offered(
  last: LastOffered | undefined,
  observation: MetricsObservation,
  now: number,
  delivered: boolean,
): LastOffered {
  if (delivered || !last) return { observation, at: now };
  return { observation, at: now, deliveredAt: last.deliveredAt ?? last.at };
}

/** Changes the workflow must see at once: requests queued, traffic started or stopped, a burst. */
export function isUrgent(before: MetricsObservation, after: MetricsObservation): boolean {
  return urgentCause(before, after) !== undefined;
}

function urgentCause(
  before: MetricsObservation,
  after: MetricsObservation,
): MetricsSignalCause | undefined {
  if (after.queued > before.queued) return 'requestsWaiting';
  if (isIdle(before) !== isIdle(after)) return isIdle(after) ? 'trafficStopped' : 'trafficStarted';
  const total = (
    o: MetricsObservation,
    pick: (r: MetricsObservation['replicas'][number]) => number,
  ) => sum(o.replicas.map(pick));
  const burst = (short: number, long: number) => short > 0 && short >= 2 * long;
  return burst(
    after.shortWindow.concurrency,
    total(after, (r) => r.concurrency),
  ) ||
    burst(
      after.shortWindow.throughput,
      total(after, (r) => r.throughput),
    )
    ? 'burst'
    : undefined;
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

function replicaSet(o: MetricsObservation): string {
  return o.replicas
    .map((r) => r.replica)
    .sort()
    .join(',');
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
