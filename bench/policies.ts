/**
 * Benchmark: scaling policies on real traffic. The shipped trace (one hour of Azure's LLM
 * code-completion service, simulator/traces/azure-llm-2023-code.csv) through the simulator for
 * Llama 3.1 8B on 1 x H100 replicas, maxReplicas 8, a 2 s latency objective:
 *   - static-peak (8 replicas all the time) and hpa-default (plain Kubernetes HPA);
 *   - the product's defaults (no autoscalingPolicy: HPA semantics with no stabilization);
 *   - the best of a grid of the product's own settings: fewest GPU-seconds with no more SLO
 *     violations than hpa-default (the goal: at least 40% fewer GPU-seconds than static-peak).
 * Then the simulator's speed on a million requests (the trace repeated end to end).
 *
 *   npm run bench:policies                 TRACE=file.csv npm run bench:policies
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { comparisonTable } from '../simulator/report';
import { BASELINES, simulate, type PolicyOutcome } from '../simulator/simulate';
import { parseAzureCsv, type Trace } from '../simulator/trace';
import { BUILTIN_CATALOG } from '../workflows/domain/catalog';
import { describeViolations, validateSpec, type DeploymentSpec } from '../workflows/domain/spec';

const TRACE =
  process.env.TRACE ?? path.resolve(__dirname, '../../simulator/traces/azure-llm-2023-code.csv');
const SLO = { p99LatencyMs: 2000 };
const BASE = {
  model: 'llama-3.1-8b-instruct',
  cloud: { type: 'dedicated', accelerator: { type: 'H100', count: 1 } },
};

function spec(raw: Record<string, unknown>): DeploymentSpec {
  const result = validateSpec({ ...BASE, ...raw });
  if (!result.ok) throw new Error(describeViolations(result.violations));
  return result.value;
}

function main() {
  const trace = parseAzureCsv(readFileSync(TRACE, 'utf8'));
  console.log(`trace: ${TRACE} (${trace.at.length.toLocaleString('en')} requests)`);

  const defaults = spec({ scaling: { minReplicas: 1, maxReplicas: 8 } });
  const reference = simulate({
    spec: defaults,
    trace,
    catalog: BUILTIN_CATALOG,
    slo: SLO,
    compareWith: BASELINES,
  });
  const hpaViolations = reference.baselines['hpa-default']!.sloViolations;

  // The product's own settings, searched on a grid.
  const candidates: { label: string; raw: Record<string, unknown> }[] = [];
  for (const threshold of [2, 3, 4, 6, 8])
    for (const rapidAutoscaling of [false, true])
      for (const scaleDownWindow of [30, 60, 180])
        for (const zero of [false, true])
          candidates.push({
            label: `concurrency ${threshold}${rapidAutoscaling ? ', rapid' : ''}, scale-down window ${scaleDownWindow} s${zero ? ', to zero after 60 s' : ''}`,
            raw: {
              scaling: {
                minReplicas: zero ? 0 : 1,
                maxReplicas: 8,
                threshold,
                rapidAutoscaling,
                ...(zero ? { scaleToZero: { enabled: true, cooldownSeconds: 60 } } : {}),
              },
              autoscalingPolicy: {
                scaleUp: { stabilizationWindowSeconds: 0 },
                scaleDown: { stabilizationWindowSeconds: scaleDownWindow },
              },
            },
          });
  const searchStarted = performance.now();
  let best: { label: string; raw: Record<string, unknown>; outcome: PolicyOutcome } | undefined;
  for (const candidate of candidates) {
    const outcome = simulate({
      spec: spec(candidate.raw),
      trace,
      catalog: BUILTIN_CATALOG,
      slo: SLO,
    });
    if (outcome.sloViolations > hpaViolations) continue;
    if (!best || outcome.gpuSeconds < best.outcome.gpuSeconds) best = { ...candidate, outcome };
  }
  const searchSeconds = (performance.now() - searchStarted) / 1000;

  const rows = [
    ['product defaults', reference] as const,
    ...(best ? [[`best found`, best.outcome] as const] : []),
  ];
  const table = comparisonTable(
    {
      ...reference,
      baselines: {
        ...reference.baselines,
        ...Object.fromEntries(rows.slice(1).map(([name, o]) => [name, o])),
      },
    } as typeof reference,
    'product defaults',
  );
  console.log(`\n${table}\n`);
  console.log(`searched ${candidates.length} settings in ${searchSeconds.toFixed(1)} s`);
  if (best) {
    const peak = reference.baselines['static-peak']!.gpuSeconds;
    console.log(`best found: ${best.label}`);
    console.log(`  as a spec: ${JSON.stringify(best.raw)}`);
    console.log(
      `  ${(((peak - best.outcome.gpuSeconds) / peak) * 100).toFixed(0)}% fewer GPU-seconds than static-peak, ` +
        `${best.outcome.sloViolations} SLO violations (hpa-default: ${hpaViolations})`,
    );
  } else {
    console.log(
      `no setting on the grid had no more SLO violations than hpa-default (${hpaViolations})`,
    );
  }

  // Speed: a million requests, the trace repeated end to end.
  const million = repeat(trace, Math.ceil(1_000_000 / trace.at.length), 1_000_000);
  const started = performance.now();
  simulate({
    spec: defaults,
    trace: million,
    catalog: BUILTIN_CATALOG,
    slo: SLO,
    compareWith: BASELINES,
  });
  const seconds = (performance.now() - started) / 1000;
  console.log(
    `\nspeed: ${million.at.length.toLocaleString('en')} requests, 3 policies (product, static-peak, hpa-default), in ${seconds.toFixed(1)} s: ` +
      `${Math.round((3 * million.at.length) / seconds).toLocaleString('en')} simulated requests/s`,
  );
}

/** `times` copies of the trace, each after the one before (one second apart), cut at `limit`. */
function repeat(trace: Trace, times: number, limit: number): Trace {
  const n = Math.min(limit, trace.at.length * times);
  const span = trace.at[trace.at.length - 1]! - trace.at[0]! + 1000;
  const out: Trace = {
    at: new Float64Array(n),
    promptTokens: new Uint32Array(n),
    outputTokens: new Uint32Array(n),
  };
  for (let i = 0; i < n; i++) {
    const k = i % trace.at.length;
    out.at[i] = trace.at[k]! + Math.floor(i / trace.at.length) * span;
    out.promptTokens[i] = trace.promptTokens[k]!;
    out.outputTokens[i] = trace.outputTokens[k]!;
  }
  return out;
}

main();
