/**
 * A policy dry-run: a deployment spec against a traffic trace, with the product's own decision
 * code (controllers/product.ts), and the same trace under the baselines. Nothing is deployed.
 * Pure and synchronous: the API, the `simulate` command and the benchmarks all call this.
 */
import type { Catalog } from '../workflows/domain/catalog';
import type { DeploymentSpec } from '../workflows/domain/spec';
import { HpaDefaultController } from './controllers/hpa-default';
import { ProductController } from './controllers/product';
import { StaticPeakController } from './controllers/static-peak';
import { servingFigures, ServingFiguresError, type ServingFigures } from './serving-model';
import { Simulation, type Controller, type ReplicaChange } from './simulation';
import type { Trace } from './trace';

export const BASELINES = ['static-peak', 'hpa-default'] as const;
export type Baseline = (typeof BASELINES)[number];

/** The latency objective requests are held to when the request names none. */
export const DEFAULT_SLO_P99_MS = 2000;

export interface SimulationRequest {
  spec: DeploymentSpec;
  trace: Trace;
  catalog: Catalog;
  slo?: { p99LatencyMs: number };
  compareWith?: readonly Baseline[];
  /** Simulate on past the last request, to here (epoch ms): a cooldown after the traffic. */
  until?: number;
  onProgress?: (policy: string, done: number) => void;
}

export interface LatencySummary {
  p50: number;
  p90: number;
  p99: number;
}

export interface PolicyOutcome {
  gpuSeconds: number;
  latencyMs: LatencySummary;
  /** Requests served over the SLO's latency. */
  sloViolations: number;
  /** Requests answered 503 (outside windows, too many held, held too long). */
  rejected: number;
  coldStarts: number;
  scaleEvents: number;
  /** Replica count over time: the first entry is the start; each after it, a decision with why. */
  replicas: { at: string; replicas: number; reason: string; message: string }[];
}

export interface SimulationResult extends PolicyOutcome {
  requests: number;
  from: string;
  to: string;
  slo: { p99LatencyMs: number };
  /** What one replica was modelled with. */
  serving: ServingFigures;
  baselines: Partial<Record<Baseline, PolicyOutcome>>;
  /** For the chart: ready replicas over time, as [epoch ms, count]. */
  readyTimeline: [number, number][];
}

export function simulate(request: SimulationRequest): SimulationResult {
  const runs = plan(request);
  return runs.result(runs.policies.map((p) => p.sim.run()));
}

/**
 * The same, in slices of `sliceEvents` events with the event loop let through between them, so
 * a process that also serves (the API's gateway) keeps answering during a long simulation;
 * `signal` stops it between slices (the client went away).
 */
export async function simulateInSlices(
  request: SimulationRequest,
  options: { sliceEvents?: number; signal?: AbortSignal } = {},
): Promise<SimulationResult> {
  const { sliceEvents = 20_000, signal } = options;
  const runs = plan(request);
  const gpuSeconds: number[] = [];
  for (const { sim } of runs.policies) {
    sim.begin();
    while (sim.runUntil(Infinity, sliceEvents)) {
      await new Promise((r) => setImmediate(r));
      signal?.throwIfAborted();
    }
    gpuSeconds.push(sim.gpuSeconds());
  }
  return runs.result(gpuSeconds);
}

/** The runs a request asks for (the spec's first, then each baseline), and how to report them. */
function plan(request: SimulationRequest) {
  const { spec, trace, catalog } = request;
  if (spec.cloud.type !== 'dedicated') {
    throw new ServingFiguresError(
      'simulations need cloud.type "dedicated": the accelerators of a BYOC node group are not in the catalog',
      'cloud.type',
    );
  }
  const { type, count } = spec.cloud.accelerator;
  const figures = servingFigures(catalog, spec.model, type, count);
  const slo = request.slo ?? { p99LatencyMs: DEFAULT_SLO_P99_MS };
  const start = trace.at[0]!;
  const policy = (name: string, controller: Controller) => ({
    name,
    sim: new Simulation(
      {
        trace,
        figures,
        start,
        ...(request.until !== undefined ? { until: request.until } : {}),
        ...(request.onProgress
          ? { onProgress: (done: number) => request.onProgress!(name, done) }
          : {}),
      },
      controller,
    ),
  });
  const policies = [
    policy('product', new ProductController(spec)),
    ...(request.compareWith ?? []).map((baseline) =>
      policy(
        baseline,
        baseline === 'static-peak'
          ? new StaticPeakController(spec)
          : new HpaDefaultController(spec),
      ),
    ),
  ];
  const result = (gpuSeconds: number[]): SimulationResult => {
    const [product, ...others] = policies.map((p, i) => ({
      ...p,
      outcome: outcomeOf(p.sim, gpuSeconds[i]!, slo.p99LatencyMs),
    }));
    return {
      requests: trace.at.length,
      from: new Date(start).toISOString(),
      to: new Date(product!.sim.until).toISOString(),
      ...product!.outcome,
      slo,
      serving: figures,
      baselines: Object.fromEntries(others.map((o) => [o.name, o.outcome])),
      readyTimeline: product!.sim.readyTimeline,
    };
  };
  return { policies, result };
}

function outcomeOf(sim: Simulation, gpuSeconds: number, sloMs: number): PolicyOutcome {
  const served = sim.latencyMs.filter((l) => !Number.isNaN(l)).sort();
  let sloViolations = 0;
  for (let i = served.length - 1; i >= 0 && served[i]! > sloMs; i--) sloViolations++;
  return {
    gpuSeconds: round(gpuSeconds, 1),
    latencyMs: {
      p50: percentile(served, 0.5),
      p90: percentile(served, 0.9),
      p99: percentile(served, 0.99),
    },
    sloViolations,
    rejected: sim.rejected,
    coldStarts: sim.coldStarts,
    scaleEvents: Math.max(0, sim.timeline.length - 1),
    replicas: sim.timeline.map((c: ReplicaChange) => ({
      at: new Date(c.at).toISOString(),
      replicas: c.replicas,
      reason: c.reason,
      message: c.message,
    })),
  };
}

/** Nearest-rank percentile of sorted values, in whole ms (0 when there are none). */
function percentile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return Math.round(sorted[rank]!);
}

function round(value: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}
