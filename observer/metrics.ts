/**
 * The observer's metrics, on a Temporal `MetricMeter` (the runtime's, served on the /metrics of
 * the process the observer runs in: the worker's, or the observer process's own):
 *
 * - `model_deployments_observer_signals_total{kind, outcome}`: what became of each thing the
 *   observer had to tell a workflow. `kind="replicas"` (a revision's status from the feed):
 *   `sent`, `unchanged` (nothing a workflow needs changed: no signal), `failed` (Temporal did not
 *   take it; tried again). `kind="metrics"` (the load scraped at the replicas): `sent`,
 *   `unchanged` (the workflow, asked, said it changes nothing: no signal), `failed`.
 * - `model_deployments_observer_asks_total{answer}`: queries asking a workflow whether a load
 *   that moved changes its decision: `matters`, `unchanged`, `no_answer` (signalled anyway).
 * - `model_deployments_observer_scrapes_total{result}`: replica /metrics scrapes, `ok` or `failed`.
 * - `model_deployments_observer_active{runtime}`: 1 while this process's observer of that runtime
 *   holds the lease (`dedicated`, or `cluster:{workspace}/{cluster}` for BYOC), else 0.
 * - `model_deployments_replicas_desired{deployment}` and `..._ready{deployment}`: the active
 *   observer's view from its feed, summed over the deployment's revisions (both during a
 *   rollout). An observer that stands by, or a deployment gone, reports 0, so summing over
 *   processes gives the runtime's count.
 */
import { noopMetricMeter, type MetricMeter } from '@temporalio/common';
import type { RevisionStatus } from '../activities/providers/provider';

export const OBSERVER_METRIC = {
  signals: 'model_deployments_observer_signals_total',
  asks: 'model_deployments_observer_asks_total',
  scrapes: 'model_deployments_observer_scrapes_total',
  active: 'model_deployments_observer_active',
  replicasDesired: 'model_deployments_replicas_desired',
  replicasReady: 'model_deployments_replicas_ready',
} as const;

export type SignalKind = 'replicas' | 'metrics';
export type SignalOutcome = 'sent' | 'unchanged' | 'failed';
export type AskAnswer = 'matters' | 'unchanged' | 'no_answer';

export interface ObserverMetrics {
  signal(kind: SignalKind, outcome: SignalOutcome): void;
  asked(answer: AskAnswer): void;
  scraped(ok: boolean): void;
  active(runtime: string, active: boolean): void;
  replicas(deploymentId: string, desired: number, ready: number): void;
}

/** The observer's metrics on `meter` (a no-op meter, e.g. in tests, records nothing). */
export function observerMetrics(meter: MetricMeter = noopMetricMeter): ObserverMetrics {
  const signals = meter.createCounter(
    OBSERVER_METRIC.signals,
    undefined,
    'What the observer had to tell deployment workflows, by kind and outcome',
  );
  const asks = meter.createCounter(
    OBSERVER_METRIC.asks,
    undefined,
    'Queries asking a workflow whether a load that moved changes its decision, by answer',
  );
  const scrapes = meter.createCounter(
    OBSERVER_METRIC.scrapes,
    undefined,
    "Scrapes of the replicas' /metrics, by result",
  );
  const active = meter.createGauge(
    OBSERVER_METRIC.active,
    'int',
    undefined,
    "1 while this process's observer of the runtime holds the lease",
  );
  const desired = meter.createGauge(
    OBSERVER_METRIC.replicasDesired,
    'int',
    undefined,
    "Replicas the runtime is asked to run for the deployment (the active observer's feed)",
  );
  const ready = meter.createGauge(
    OBSERVER_METRIC.replicasReady,
    'int',
    undefined,
    "Ready replicas of the deployment (the active observer's feed)",
  );
  return {
    signal: (kind, outcome) => signals.add(1, { kind, outcome }),
    asked: (answer) => asks.add(1, { answer }),
    scraped: (ok) => scrapes.add(1, { result: ok ? 'ok' : 'failed' }),
    active: (runtime, isActive) => active.set(isActive ? 1 : 0, { runtime }),
    replicas: (deployment, d, r) => {
      desired.set(d, { deployment });
      ready.set(r, { deployment });
    },
  };
}

/**
 * Replicas per deployment from revision statuses: the totals over its revisions that exist.
 * Pure; the observer sets its gauges from what `update` returns.
 */
export class ReplicaTally {
  private readonly byDeployment = new Map<
    string,
    Map<number, { desired: number; ready: number }>
  >();

  /** A revision's status: the deployment's totals after it. */
  update(
    status: Pick<RevisionStatus, 'deploymentId' | 'revision' | 'exists' | 'desired' | 'ready'>,
  ): { deploymentId: string; desired: number; ready: number } {
    const { deploymentId } = status;
    let revisions = this.byDeployment.get(deploymentId);
    if (status.exists) {
      if (!revisions) this.byDeployment.set(deploymentId, (revisions = new Map()));
      revisions.set(status.revision, { desired: status.desired, ready: status.ready });
    } else if (revisions) {
      revisions.delete(status.revision);
      if (revisions.size === 0) this.byDeployment.delete(deploymentId);
    }
    let desired = 0;
    let ready = 0;
    for (const revision of this.byDeployment.get(deploymentId)?.values() ?? []) {
      desired += revision.desired;
      ready += revision.ready;
    }
    return { deploymentId, desired, ready };
  }

  /** Forgets every deployment; returns the ones it knew (their gauges go back to 0). */
  clear(): string[] {
    const known = [...this.byDeployment.keys()];
    this.byDeployment.clear();
    return known;
  }
}
