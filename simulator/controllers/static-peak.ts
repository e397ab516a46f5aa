/** Baseline `static-peak`: maxReplicas all the time, as a team sized for its peak would run. */
import type { DeploymentSpec } from '../../workflows/domain/spec';
import type { Controller, Simulation } from '../simulation';

export class StaticPeakController implements Controller {
  constructor(private readonly spec: DeploymentSpec) {}

  start(sim: Simulation): void {
    const n = this.spec.scaling.maxReplicas;
    sim.setReplicas(n, 'StaticPeak', `maxReplicas ${n} all the time`, true);
  }
}
