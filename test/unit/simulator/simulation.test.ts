/**
 * The simulator's model and runs, on small made-up traces where the answer can be worked out:
 * the serving figures, the replica queue, GPU-seconds, scale to zero with a cold start, the
 * schedule's 503s, and the baselines.
 */
import { describe, expect, it } from 'vitest';
import { BUILTIN_CATALOG } from '../../../workflows/domain/catalog';
import { validateSpec } from '../../../workflows/domain/spec';
import type { DeploymentSpec } from '../../../workflows/domain/spec';
import { SimulatedReplica } from '../../../simulator/replica';
import {
  servingFigures,
  ServingFiguresError,
  type ServingFigures,
} from '../../../simulator/serving-model';
import { simulate } from '../../../simulator/simulate';
import { Simulation, type Controller } from '../../../simulator/simulation';
import { parseRequests, type Trace } from '../../../simulator/trace';

const T0 = Date.UTC(2026, 0, 5, 12, 0, 0); // a Monday, 12:00 UTC

function spec(raw: Record<string, unknown> = {}): DeploymentSpec {
  const result = validateSpec({
    model: 'llama-3.1-8b-instruct',
    cloud: { type: 'dedicated', accelerator: { type: 'H100', count: 1 } },
    ...raw,
  });
  if (!result.ok) throw new Error(JSON.stringify(result.violations));
  return result.value;
}

/** `perSecond` requests a second (evenly spread) from `fromS` to `toS` seconds after T0. */
function steady(perSecond: number, fromS: number, toS: number, prompt = 1000, output = 20) {
  const requests = [];
  for (let t = fromS * 1000; t < toS * 1000; t += 1000 / perSecond)
    requests.push({
      at: new Date(T0 + t).toISOString(),
      promptTokens: prompt,
      outputTokens: output,
    });
  return requests;
}

const trace = (...parts: ReturnType<typeof steady>[]): Trace => parseRequests(parts.flat());

describe('servingFigures', () => {
  it('derives an 8B model on an H100 from the datasheet figures', () => {
    const f = servingFigures(BUILTIN_CATALOG, 'llama-3.1-8b-instruct', 'H100', 1);
    // 989 TFLOPS x 0.5 / (2 x 8.03e9 FLOPs per token); 3.35 TB/s x 0.7 / 16.06 GB.
    expect(f.prefillTokensPerSecond).toBeCloseTo(30791, -1);
    expect(f.decodeTokensPerSecond).toBeCloseTo(146, 0);
    expect(f).toMatchObject({ maxConcurrentSequences: 64, loadSeconds: 3, gpusPerReplica: 1 });
    const two = servingFigures(BUILTIN_CATALOG, 'llama-3.1-8b-instruct', 'H100', 2);
    expect(two.prefillTokensPerSecond / f.prefillTokensPerSecond).toBeCloseTo(1.8);
  });

  it('names what the catalog lacks', () => {
    const catalog = {
      ...BUILTIN_CATALOG,
      models: [{ ...BUILTIN_CATALOG.models[0]!, parametersBillions: undefined }],
    };
    expect(() => servingFigures(catalog, 'llama-3.1-8b-instruct', 'H100', 1)).toThrow(
      ServingFiguresError,
    );
    expect(() => servingFigures(catalog, 'llama-3.1-8b-instruct', 'H100', 1)).toThrow(
      /no parametersBillions/,
    );
  });
});

describe('SimulatedReplica', () => {
  const figures: ServingFigures = {
    prefillTokensPerSecond: 1000,
    decodeTokensPerSecond: 10,
    maxConcurrentSequences: 2,
    loadSeconds: 1,
    gpusPerReplica: 1,
  };

  it('prefills one request at a time, decodes in parallel, and queues past its slots', () => {
    const r = new SimulatedReplica('r', 0, 0, figures);
    // 1000 tokens = 1 s of prefill, 10 tokens = 1 s of decode.
    expect(r.accept(0, 1000, 10, 0)).toBe(2000);
    expect(r.accept(1, 1000, 10, 0)).toBe(3000); // waits for the first prefill
    expect(r.accept(2, 1000, 10, 0)).toBeUndefined(); // no slot
    expect(r.samples()).toMatchObject({
      running: 2,
      waiting: 1,
      requestSuccess: 0,
      memoryPercent: 100,
    });
    expect(r.finish(2000)).toBe(2);
    expect(r.admit(1000, 10, 2000)).toBe(4000);
    expect(r.samples()).toMatchObject({
      running: 2,
      waiting: 0,
      requestSuccess: 1,
      latencySumSeconds: 2,
    });
  });
});

describe('simulate', () => {
  it('is deterministic', () => {
    const request = {
      spec: spec({ scaling: { minReplicas: 1, maxReplicas: 4 } }),
      trace: trace(steady(40, 0, 120), steady(5, 120, 300)),
      catalog: BUILTIN_CATALOG,
      compareWith: ['static-peak', 'hpa-default'] as const,
    };
    expect(simulate(request)).toEqual(simulate(request));
  });

  it('static-peak holds maxReplicas for the whole span: GPU-seconds = max x GPUs x span', () => {
    const result = simulate({
      spec: spec({
        cloud: { type: 'dedicated', accelerator: { type: 'H100', count: 2 } },
        scaling: { minReplicas: 1, maxReplicas: 3 },
      }),
      trace: trace(steady(1, 0, 101)),
      catalog: BUILTIN_CATALOG,
      compareWith: ['static-peak'],
    });
    expect(result.baselines['static-peak']!.gpuSeconds).toBeCloseTo(3 * 2 * 100, 0);
    expect(result.baselines['static-peak']!.scaleEvents).toBe(0);
  });

  it('scales out under load on the product path, saying why, and back in after the load', () => {
    const result = simulate({
      spec: spec({
        scaling: { minReplicas: 1, maxReplicas: 6, threshold: 4 },
        autoscalingPolicy: {
          scaleUp: { stabilizationWindowSeconds: 0 },
          scaleDown: { stabilizationWindowSeconds: 30 },
        },
      }),
      // 20 req/s of 2,000-token prompts: 40k tokens/s, over one H100's 31k of prefill.
      trace: trace(steady(20, 0, 120, 2000, 20), steady(1, 120, 400, 100, 5)),
      catalog: BUILTIN_CATALOG,
    });
    const peak = Math.max(...result.replicas.map((r) => r.replicas));
    expect(peak).toBeGreaterThan(2);
    const out = result.replicas.find((r) => r.replicas > 1)!;
    expect(out.message).toMatch(/concurrency .* per replica .*threshold 4/);
    expect(result.replicas.at(-1)!.replicas).toBe(1);
    expect(result.rejected).toBe(0);
  });

  it('scales to zero after the cooldown; the next request is held through a cold start', () => {
    const result = simulate({
      spec: spec({
        scaling: {
          minReplicas: 0,
          maxReplicas: 2,
          scaleToZero: { enabled: true, cooldownSeconds: 60 },
        },
      }),
      trace: trace(steady(1, 0, 10), steady(1, 300, 301)),
      catalog: BUILTIN_CATALOG,
    });
    const counts = result.replicas.map((r) => [r.replicas, r.reason]);
    expect(counts).toEqual([
      [1, 'Created'],
      [0, 'ScaledToZero'],
      [1, 'WokenByRequest'],
    ]);
    expect(result.coldStarts).toBe(1);
    const zeroAt = Date.parse(result.replicas[1]!.at) - T0;
    expect(zeroAt).toBeGreaterThanOrEqual(69_000); // last request ~9 s, then 60 s of cooldown
    expect(zeroAt).toBeLessThan(80_000);
    // The woken request waited for the 3 s weight load.
    expect(result.latencyMs.p99).toBeGreaterThanOrEqual(3000);
    // GPUs were let go for most of the gap.
    expect(result.gpuSeconds).toBeLessThan(120);
  });

  it('answers 503 outside schedule windows with scale to zero, and counts them', () => {
    const result = simulate({
      spec: spec({
        scaling: { minReplicas: 0, maxReplicas: 2 },
        schedule: {
          scaleToZeroOutsideWindows: true,
          windows: [{ days: ['mon'], wakeAt: '12:02', coolDownAt: '13:00', minPods: 1 }],
        },
      }),
      // 12:00:00.5 to 12:03 (off the second, so the window's start comes before a request).
      trace: trace(steady(1, 0.5, 180)),
      catalog: BUILTIN_CATALOG,
    });
    expect(result.rejected).toBe(120);
    expect(result.replicas.map((r) => r.replicas)).toEqual([1, 0, 1]);
    expect(result.replicas[2]!.reason).toBe('ScheduleWindow');
  });

  it('serves while replicas are still up after a window closes (the gateway refuses only with none ready)', () => {
    const result = simulate({
      spec: spec({
        scaling: { minReplicas: 0, maxReplicas: 2 },
        schedule: {
          scaleToZeroOutsideWindows: true,
          windows: [{ days: ['mon'], wakeAt: '11:00', coolDownAt: '12:01', minPods: 1 }],
        },
      }),
      // 12:00:00.5 to 12:03: the window closes at 12:01, then its 5-minute cool-down holds a replica.
      trace: trace(steady(1, 0.5, 180)),
      catalog: BUILTIN_CATALOG,
    });
    expect(result.rejected).toBe(0);
    expect(result.replicas.map((r) => r.replicas)).toEqual([1]);
  });

  it("a replica's own latency metric leaves out the time a request was held at zero", () => {
    const figures = servingFigures(BUILTIN_CATALOG, 'llama-3.1-8b-instruct', 'H100', 1);
    // Starts at zero; the first held request wakes one replica (3 s of weight load).
    const wakeOnHold: Controller = {
      start: () => undefined,
      onHold: () => sim.setReplicas(1, 'Woken', 'a request waits'),
    };
    const sim = new Simulation(
      { trace: trace(steady(1, 0, 1, 1000, 10)), figures, start: T0 },
      wakeOnHold,
    );
    sim.run();
    const [replica] = sim.ready();
    const served = replica!.samples();
    expect(sim.latencyMs[0]).toBeGreaterThan(3000); // end to end: held through the load
    expect(served.latencySumSeconds).toBeLessThan(0.2); // at the replica: prefill and decode only
  });

  it('hpa-default never goes below one replica and scales on its 15 s sync', () => {
    const result = simulate({
      spec: spec({
        scaling: {
          minReplicas: 0,
          maxReplicas: 4,
          scaleToZero: { enabled: true, cooldownSeconds: 10 },
        },
      }),
      trace: trace(steady(60, 0, 60, 4000, 20), steady(1, 600, 601)),
      catalog: BUILTIN_CATALOG,
      compareWith: ['hpa-default'],
    });
    const hpa = result.baselines['hpa-default']!;
    expect(Math.min(...hpa.replicas.map((r) => r.replicas))).toBe(1);
    for (const change of hpa.replicas.slice(1))
      expect((Date.parse(change.at) - T0) % 15_000).toBe(0);
    expect(hpa.replicas.length).toBeGreaterThan(1);
  });

  it('refuses a BYOC spec, naming cloud.type', () => {
    const byoc = { ...spec(), cloud: { type: 'byoc' } } as unknown as DeploymentSpec;
    expect(() =>
      simulate({ spec: byoc, trace: trace(steady(1, 0, 2)), catalog: BUILTIN_CATALOG }),
    ).toThrow(/cloud.type "dedicated"/);
  });
});
