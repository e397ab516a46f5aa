/**
 * The product's own decision path, as a deployment runs it, driven by simulated time:
 *
 * - the observer scrapes every ready replica once a second into the same windowed load
 *   (observer/replica-load.ts) and offers the workflow an observation by the same rules
 *   (observer/load-rules.ts: urgent at once, past tolerance only if the workflow says it
 *   matters, a rare keepalive);
 * - the gateway nudges the workflow when requests wait at zero, as api/metrics/wake-nudger.ts;
 * - the workflow's entity (workflows/deployment/entity.ts) takes each observation and decides
 *   with decideReplicas, carrying its state, and sets one timer for the next decision;
 * - requests outside schedule windows with scale to zero are refused, as the gateway does.
 *
 * Ties: a decision timer due at the same instant as a scrape fires first (so a scale it makes
 * starts at that instant, and that scrape already sees its replicas as set). A real workflow
 * decides a few ms after its signals and timers, so where they fall on the same instant either
 * order can happen; at such a tie a peak can differ by a step (the fidelity test,
 * test/time-skipping/simulator-fidelity.test.ts, follows the simulator's order).
 */
import { ReplicaLoad } from '../../observer/replica-load';
import { shouldNudge, wakeObservation } from '../../api/metrics/wake-nudger';
import { offered, sendDecision, type LastOffered } from '../../observer/load-rules';
import { DeploymentEntity, initialReplicas } from '../../workflows/deployment/entity';
import type { MetricsObservation } from '../../workflows/deployment/metrics';
import type { DeploymentSpec } from '../../workflows/domain/spec';
import { secondsUntilNextWindow } from '../../workflows/schedule';
import type { Controller, Simulation } from '../simulation';

/** The observer's scrape cadence (observer/load-observer.ts). */
export const SCRAPE_INTERVAL_MS = 1000;

export class ProductController implements Controller {
  private sim!: Simulation;
  private entity!: DeploymentEntity;
  private readonly load = new ReplicaLoad();
  private lastOffered?: LastOffered;
  private lastNudge?: { queued: number; at: number };
  private timerAt: number | null = null;

  constructor(private readonly spec: DeploymentSpec) {}

  start(sim: Simulation): void {
    this.sim = sim;
    const now = sim.now;
    const entity = new DeploymentEntity(
      { workspace: 'simulation', name: 'simulation', spec: this.spec },
      new Date(now),
    );
    // Created and Healthy when the trace starts: its initial replicas are up.
    entity.state = 'running';
    entity.activeRevision = 1;
    entity.desiredReplicas = initialReplicas(this.spec);
    entity.appliedReplicas = entity.desiredReplicas;
    this.entity = entity;
    sim.setReplicas(
      entity.desiredReplicas,
      'Created',
      'the deployment is up when the trace starts',
      true,
    );
    entity.broughtUp(now);
    this.decide(now);
    this.scrapeAt(now + SCRAPE_INTERVAL_MS);
  }

  refuse(now: number): string | undefined {
    const schedule = this.spec.schedule;
    if (!schedule?.enabled || !schedule.scaleToZeroOutsideWindows) return undefined;
    const seconds = secondsUntilNextWindow({ schedule, now });
    return seconds !== null && seconds > 0 ? 'outside schedule windows' : undefined;
  }

  /** The gateway's nudge (api/metrics/wake-nudger.ts): how many requests wait. */
  onHold(queued: number, now: number): void {
    if (!shouldNudge(this.lastNudge, queued, now)) return;
    this.lastNudge = { queued, at: now };
    this.signal(wakeObservation(now, queued, this.sim.lastRequestAt));
  }

  /** The observer's tick (observer/load-observer.ts): scrape, then offer what it measured. */
  private scrape(now: number): void {
    const ready = this.sim.ready();
    if (ready.length > 0) {
      for (const replica of ready) this.load.record(replica.name, now, replica.samples());
      const observation = this.load.observe(
        ready.map((r) => r.name),
        now,
      );
      if (observation) this.offer(observation, now);
    }
    this.scrapeAt(now + SCRAPE_INTERVAL_MS);
  }

  private scrapeAt(time: number): void {
    if (time <= this.sim.until) this.sim.at(time, () => this.scrape(time));
  }

  private offer(observation: MetricsObservation, now: number): void {
    const decision = sendDecision(this.lastOffered, observation, now);
    if (!decision) return;
    if (decision === 'ask' && !this.entity.observationMatters(observation)) {
      this.lastOffered = offered(this.lastOffered, observation, now, false);
      return;
    }
    this.lastOffered = offered(this.lastOffered, observation, now, true);
    this.signal(observation);
  }

  /** The observeMetrics signal: the entity takes it and decides at once. */
  private signal(observation: MetricsObservation): void {
    this.entity.observeMetrics(observation);
    this.decide(this.sim.now);
  }

  private decide(now: number): void {
    const entity = this.entity;
    if (!entity.decisionDue || entity.nextStep() !== 'decide') return;
    const { reason, from, to } = entity.decide(new Date(now));
    entity.appliedReplicas = entity.desiredReplicas;
    if (to !== from) {
      const message = (entity.events.at(-1)?.message ?? '').replace(/^replicas \d+ -> \d+: /, '');
      this.sim.setReplicas(to, reason, message);
    }
    this.setTimer(entity.nextDecisionAt);
  }

  /** The workflow's one decision timer: moved when the next decision's time moves. */
  private setTimer(at: number | null): void {
    if (at === this.timerAt) return;
    this.timerAt = at;
    if (at === null || at > this.sim.until) return;
    this.sim.at(at, () => {
      if (this.timerAt !== at) return;
      this.timerAt = null;
      this.entity.decisionTimerFired(this.sim.now);
      this.decide(this.sim.now);
    });
  }
}
