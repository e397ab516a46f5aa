/**
 * `npm run simulate -- --trace FILE --spec FILE [--slo MS] [--svg OUT] [--json OUT]`: a policy
 * dry-run from the command line. The trace is an Azure LLM inference CSV
 * (TIMESTAMP,ContextTokens,GeneratedTokens) or a JSON array of { at, promptTokens, outputTokens };
 * the spec, a deployment spec as POST /v1/workspaces/{ws}/deployments takes it (JSON or YAML).
 * Prints the spec's outcome next to static-peak and hpa-default, with a progress bar on stderr
 * for long traces. The catalog is the server's (CATALOG_FILE, or the built-in one).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { parse as parseYaml } from 'yaml';
import { loadConfig } from '../config';
import { simulationChart } from '../simulator/chart';
import { comparisonTable } from '../simulator/report';
import { BASELINES, simulate } from '../simulator/simulate';
import { ServingFiguresError } from '../simulator/serving-model';
import {
  parseAzureCsv,
  parseRequests,
  TraceError,
  type Trace,
  type TraceRequest,
} from '../simulator/trace';
import { checkAgainstCatalog } from '../workflows/domain/catalog';
import { describeViolations } from '../workflows/domain/spec-facts';
import { validateSpec } from '../workflows/domain/spec';

const USAGE =
  'usage: npm run simulate -- --trace FILE --spec FILE [--slo P99_MS] [--svg OUT.svg] [--json OUT.json]';

function main(): number {
  const { values } = parseArgs({
    options: {
      trace: { type: 'string' },
      spec: { type: 'string' },
      slo: { type: 'string' },
      svg: { type: 'string' },
      json: { type: 'string' },
      help: { type: 'boolean' },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (!values.trace || !values.spec) return fail(`--trace and --spec are required\n${USAGE}`);
  const catalog = loadConfig().catalog;

  const spec = validateSpec(readStructured(values.spec));
  if (!spec.ok) return fail(`${values.spec}: ${describeViolations(spec.violations)}`);
  const catalogViolations = checkAgainstCatalog(spec.value, catalog);
  if (catalogViolations.length > 0)
    return fail(`${values.spec}: ${describeViolations(catalogViolations)}`);

  let trace: Trace;
  try {
    trace = readTrace(values.trace);
  } catch (err) {
    if (err instanceof TraceError) return fail(`${values.trace}: ${err.message}`);
    throw err;
  }
  const slo = values.slo !== undefined ? Number(values.slo) : undefined;
  if (slo !== undefined && !(slo > 0)) return fail(`--slo must be a latency in ms greater than 0`);

  const started = performance.now();
  const progress = progressBar(trace.at.length);
  let result;
  try {
    result = simulate({
      spec: spec.value,
      trace,
      catalog,
      compareWith: BASELINES,
      ...(slo !== undefined ? { slo: { p99LatencyMs: slo } } : {}),
      onProgress: progress,
    });
  } catch (err) {
    if (err instanceof ServingFiguresError)
      return fail(`${values.spec}: ${err.path}: ${err.message}`);
    throw err;
  } finally {
    progress.done();
  }
  const seconds = (performance.now() - started) / 1000;
  const runs = 1 + Object.keys(result.baselines).length;
  console.log(
    `${result.requests.toLocaleString('en')} requests from ${result.from} to ${result.to}; ` +
      `one replica = ${spec.value.cloud.type === 'dedicated' ? `${spec.value.cloud.accelerator.count} x ${spec.value.cloud.accelerator.type}` : ''}: ` +
      `prefill ${Math.round(result.serving.prefillTokensPerSecond)} tokens/s, decode ${Math.round(result.serving.decodeTokensPerSecond)} tokens/s per sequence, ` +
      `${result.serving.maxConcurrentSequences} sequences at once, ready ${result.serving.loadSeconds} s after start\n`,
  );
  console.log(comparisonTable(result));
  console.log(
    `\nsimulated ${runs} policies in ${seconds.toFixed(1)} s (${Math.round((result.requests * runs) / seconds).toLocaleString('en')} requests/s)`,
  );
  if (values.svg) {
    writeFileSync(values.svg, simulationChart(result, trace));
    console.log(`chart: ${values.svg}`);
  }
  if (values.json) {
    const { readyTimeline: _ready, ...json } = result;
    writeFileSync(values.json, `${JSON.stringify(json, null, 2)}\n`);
    console.log(`outcome: ${values.json}`);
  }
  return 0;
}

function readStructured(file: string): unknown {
  const text = readFileSync(file, 'utf8');
  return /\.ya?ml$/i.test(file) ? parseYaml(text) : JSON.parse(text);
}

function readTrace(file: string): Trace {
  const text = readFileSync(file, 'utf8');
  if (text.trimStart().startsWith('[')) return parseRequests(JSON.parse(text) as TraceRequest[]);
  return parseAzureCsv(text);
}

/** A bar on stderr when it is a terminal and the trace is long; silent otherwise. */
function progressBar(requests: number) {
  const shown = process.stderr.isTTY === true && requests >= 100_000;
  let last = '';
  const update = (policy: string, done: number) => {
    if (!shown) return;
    const width = 30;
    const filled = Math.round(done * width);
    const text = `${policy.padEnd(12)} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${Math.round(done * 100)}%`;
    if (text === last) return;
    last = text;
    process.stderr.write(`\r${text}`);
  };
  return Object.assign(update, {
    done: () => {
      if (shown && last) process.stderr.write('\n');
    },
  });
}

function fail(message: string): number {
  console.error(message);
  return 2;
}

process.exitCode = main();
