/**
 * The simulator's fleet behind the real deployment workflow (test/time-skipping/simulator-fidelity):
 *
 * - SimulatedFleetProvider is the runtime the workflow's activities call: applyRevision sets the
 *   replica count of a Simulation (simulator/simulation.ts) at its current time, so the queueing
 *   model serves the trace with the replicas the workflow asked for. The workflow is told every
 *   replica is ready at once (it decides on metrics, never on readiness); the simulation still
 *   loads new replicas for the model's load time before they take requests.
 * - WorkflowController is the simulator's Controller for that Simulation: it only starts the
 *   fleet at the workflow's replica count and notes the gateway's nudges; the caller drives the
 *   observer's side (scrape, sendDecision, the 'ask' query, the signal) against the workflow.
 */
import type { MetricsObservation } from '../../workflows/deployment/metrics';
import {
  absentRevision,
  type ApplyRevisionInput,
  type RevisionStatus,
  type RuntimeProvider,
} from '../../activities/providers/provider';
import type { Controller, Simulation } from '../../simulator/simulation';
import { shouldNudge, wakeObservation } from '../../api/metrics/wake-nudger';

export class SimulatedFleetProvider implements RuntimeProvider {
  /** Set once the simulation exists (the deployment is created before the trace starts). */
  sim?: Simulation;
  /** The replica count last applied, and its revision. */
  applied = 0;
  private input?: ApplyRevisionInput;
  private route: number | null = null;
  /** Every applyRevision: the count and the simulation's time it was applied at. */
  readonly applies: { at: number | undefined; replicas: number }[] = [];

  async applyRevision(input: ApplyRevisionInput): Promise<RevisionStatus> {
    this.input = input;
    this.applied = input.replicas;
    this.applies.push({ at: this.sim?.now, replicas: input.replicas });
    this.sim?.setReplicas(input.replicas, 'Workflow', 'the workflow applied this count');
    return this.status(input.deploymentId, input.revision);
  }

  async getRevision(deploymentId: string, revision: number): Promise<RevisionStatus> {
    return this.status(deploymentId, revision);
  }

  async listRevisions(deploymentId: string): Promise<RevisionStatus[]> {
    return this.input ? [this.status(deploymentId, this.input.revision)] : [];
  }

  async removeRevision(deploymentId: string, revision: number): Promise<void> {
    if (this.input?.deploymentId === deploymentId && this.input.revision === revision)
      this.input = undefined;
  }

  async routeTraffic(_deploymentId: string, revision: number): Promise<void> {
    this.route = revision;
  }

  async removeDeployment(): Promise<void> {
    this.input = undefined;
    this.route = null;
  }

  async endpoints(): Promise<{ revision: number | null; urls: string[] }> {
    return { revision: this.route, urls: [] };
  }

  /** Every replica reported ready: the workflow's decisions do not wait on readiness. */
  private status(deploymentId: string, revision: number): RevisionStatus {
    const input = this.input;
    if (!input || input.deploymentId !== deploymentId || input.revision !== revision)
      return absentRevision(deploymentId, revision);
    const startedAt = new Date(0).toISOString();
    const replicas = Array.from({ length: input.replicas }, (_, i) => ({
      id: `r${i}`,
      url: `http://simulated/r${i}`,
      ready: true,
      restarts: 0,
      startedAt,
    }));
    return {
      deploymentId,
      revision,
      exists: true,
      desired: input.replicas,
      ready: input.replicas,
      restarts: 0,
      replicas,
    };
  }
}

export class WorkflowController implements Controller {
  /**
   * Gateway nudges not yet signalled (requests held at zero): the caller sends them at their
   * hold's instant (the simulation stopped at that arrival), as ProductController signals them.
   */
  readonly nudges: MetricsObservation[] = [];
  private sim!: Simulation;
  private lastNudge?: { queued: number; at: number };

  constructor(private readonly provider: SimulatedFleetProvider) {}

  start(sim: Simulation): void {
    this.sim = sim;
    this.provider.sim = sim;
    sim.setReplicas(
      this.provider.applied,
      'Created',
      'the deployment is up when the trace starts',
      true,
    );
  }

  /** As ProductController.onHold (api/metrics/wake-nudger.ts), queued for the caller to signal. */
  onHold(queued: number, now: number): void {
    if (!shouldNudge(this.lastNudge, queued, now)) return;
    this.lastNudge = { queued, at: now };
    this.nudges.push(wakeObservation(now, queued, this.sim.lastRequestAt));
  }
}
