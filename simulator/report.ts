/** The comparison table the `simulate` command and `bench:policies` print. Pure. */
import type { PolicyOutcome, SimulationResult } from './simulate';

export function comparisonTable(result: SimulationResult, productLabel = 'this spec'): string {
  const rows: [string, PolicyOutcome][] = [
    [productLabel, result],
    ...Object.entries(result.baselines).map(([name, o]) => [name, o] as [string, PolicyOutcome]),
  ];
  const peak = result.baselines['static-peak']?.gpuSeconds;
  const header = [
    'policy',
    'GPU-seconds',
    peak !== undefined ? 'vs static-peak' : '',
    'p50 ms',
    'p90 ms',
    'p99 ms',
    `over ${result.slo.p99LatencyMs} ms`,
    '503s',
    'cold starts',
    'scale events',
  ].filter((h) => h !== '');
  const body = rows.map(([name, o]) => [
    name,
    o.gpuSeconds.toFixed(0),
    ...(peak !== undefined ? [saving(o.gpuSeconds, peak)] : []),
    String(o.latencyMs.p50),
    String(o.latencyMs.p90),
    String(o.latencyMs.p99),
    String(o.sloViolations),
    String(o.rejected),
    String(o.coldStarts),
    String(o.scaleEvents),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n');
}

function saving(gpuSeconds: number, peak: number): string {
  if (peak === 0) return '-';
  const change = (gpuSeconds - peak) / peak;
  return `${change <= 0 ? '-' : '+'}${Math.abs(change * 100).toFixed(0)}%`;
}
