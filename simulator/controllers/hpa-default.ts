/**
 * Baseline `hpa-default`: a plain Kubernetes HPA on the same replicas, as most teams run one.
 * Every 15 s (the controller manager's --horizontal-pod-autoscaler-sync-period) it reads the
 * per-replica concurrency (a Prometheus adapter over the same 30 s window the observer scrapes,
 * once a second), recommends with the HPA replica calculator, and applies the default behavior
 * the API server fills in (KUBERNETES_DEFAULT_BEHAVIOR: scale up at once, 4 pods or 100% per
 * 15 s; scale down after a 300 s window). It never goes below one replica and knows no
 * schedule, scale to zero or panic mode. Same scaling core as the product (workflows/scaling).
 */
import { ReplicaLoad } from '../../observer/replica-load';
import {
  KUBERNETES_DEFAULT_BEHAVIOR,
  desiredReplicasForMetric,
  normalizeWithBehavior,
  storeScaleEvent,
  type PodSample,
  type Recommendation,
  type ScaleEvent,
} from '../../workflows/scaling';
import type { DeploymentSpec } from '../../workflows/domain/spec';
import type { Controller, Simulation } from '../simulation';
import { SCRAPE_INTERVAL_MS } from './product';

export const HPA_SYNC_PERIOD_MS = 15_000;

export class HpaDefaultController implements Controller {
  private sim!: Simulation;
  private readonly load = new ReplicaLoad();
  private recommendations: Recommendation[] = [];
  private scaleUpEvents: ScaleEvent[] = [];
  private scaleDownEvents: ScaleEvent[] = [];
  private readonly minReplicas: number;
  private readonly maxReplicas: number;
  private readonly threshold: number;

  constructor(spec: DeploymentSpec) {
    this.minReplicas = Math.max(1, spec.scaling.minReplicas);
    this.maxReplicas = spec.scaling.maxReplicas;
    // A plain HPA scales on concurrency: the product's threshold when it scales on it too.
    this.threshold = spec.scaling.metric === 'concurrency' ? spec.scaling.threshold : 8;
  }

  start(sim: Simulation): void {
    this.sim = sim;
    sim.setReplicas(
      this.minReplicas,
      'Created',
      'the deployment is up when the trace starts',
      true,
    );
    this.every(sim.now + SCRAPE_INTERVAL_MS, SCRAPE_INTERVAL_MS, (now) => this.scrape(now));
    this.every(sim.now + HPA_SYNC_PERIOD_MS, HPA_SYNC_PERIOD_MS, (now) => this.sync(now));
  }

  private every(first: number, period: number, fn: (now: number) => void): void {
    if (first > this.sim.until) return;
    this.sim.at(first, () => {
      fn(first);
      this.every(first + period, period, fn);
    });
  }

  private scrape(now: number): void {
    for (const replica of this.sim.ready()) this.load.record(replica.name, now, replica.samples());
  }

  private sync(now: number): void {
    const sim = this.sim;
    const current = sim.replicaCount;
    const ready = sim.ready();
    const observation = this.load.observe(
      ready.map((r) => r.name),
      now,
    );
    if (!observation) return; // no metrics: the HPA does not scale
    const pods: PodSample[] = observation.replicas.map((r) => ({
      name: r.replica,
      ready: true,
      value: r.concurrency,
    }));
    for (let i = pods.length; i < current; i++) pods.push({ name: `starting-${i}`, ready: false });
    const metric = desiredReplicasForMetric({
      currentReplicas: current,
      pods,
      threshold: this.threshold,
    });
    const decision = normalizeWithBehavior({
      now,
      currentReplicas: current,
      desiredReplicas: metric.replicas,
      minReplicas: this.minReplicas,
      maxReplicas: this.maxReplicas,
      behavior: KUBERNETES_DEFAULT_BEHAVIOR,
      recommendations: this.recommendations,
      scaleUpEvents: this.scaleUpEvents,
      scaleDownEvents: this.scaleDownEvents,
    });
    this.recommendations = decision.recommendations;
    if (decision.replicas === current) return;
    const stored = storeScaleEvent({
      now,
      behavior: KUBERNETES_DEFAULT_BEHAVIOR,
      previousReplicas: current,
      newReplicas: decision.replicas,
      scaleUpEvents: this.scaleUpEvents,
      scaleDownEvents: this.scaleDownEvents,
    });
    this.scaleUpEvents = stored.scaleUpEvents;
    this.scaleDownEvents = stored.scaleDownEvents;
    sim.setReplicas(decision.replicas, decision.reason, `${metric.message}; ${decision.message}`);
  }
}
