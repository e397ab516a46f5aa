/**
 * The simulation as a chart (SVG): requests per second arriving (bars, left axis) and the
 * replicas set and ready (steps, right axis) over the trace, with static-peak and hpa-default's
 * replicas as faint steps when they ran. Pure string building; no fonts or scripts to load.
 */
import type { SimulationResult } from './simulate';
import type { Trace } from './trace';

const WIDTH = 960;
const HEIGHT = 360;
const PAD = { left: 56, right: 56, top: 36, bottom: 40 };
const BUCKETS = 240;

export function simulationChart(result: SimulationResult, trace: Trace): string {
  const from = Date.parse(result.from);
  const to = Math.max(Date.parse(result.to), from + 1000);
  const span = to - from;
  const plotW = WIDTH - PAD.left - PAD.right;
  const plotH = HEIGHT - PAD.top - PAD.bottom;
  const x = (t: number) => PAD.left + ((t - from) / span) * plotW;

  // Load: requests per second, in buckets.
  const bucketMs = span / BUCKETS;
  const counts = new Array<number>(BUCKETS).fill(0);
  for (const at of trace.at) {
    const i = Math.min(BUCKETS - 1, Math.floor((at - from) / bucketMs));
    if (i >= 0) counts[i]!++;
  }
  const rates = counts.map((c) => c / (bucketMs / 1000));
  const maxRate = niceCeiling(Math.max(1, ...rates));
  const yLoad = (r: number) => PAD.top + plotH - (r / maxRate) * plotH;

  const runs = [
    { name: 'static-peak', steps: result.baselines['static-peak']?.replicas, colour: '#bbbbbb' },
    { name: 'hpa-default', steps: result.baselines['hpa-default']?.replicas, colour: '#e8a33d' },
  ];
  // A loop, not Math.max(...): a timeline can be longer than the arguments a call takes.
  let maxReplicas = 1;
  for (const steps of [result.replicas, ...runs.map((r) => r.steps ?? [])])
    for (const step of steps) maxReplicas = Math.max(maxReplicas, step.replicas);
  const yRep = (n: number) => PAD.top + plotH - (n / maxReplicas) * plotH;

  const stepPath = (points: [number, number][]) => {
    if (points.length === 0) return '';
    let d = `M${x(points[0]![0]).toFixed(1)},${yRep(points[0]![1]).toFixed(1)}`;
    for (let i = 1; i < points.length; i++) {
      const [t, n] = points[i]!;
      d += `H${x(Math.min(t, to)).toFixed(1)}V${yRep(n).toFixed(1)}`;
    }
    return `${d}H${x(to).toFixed(1)}`;
  };
  const asPoints = (steps: { at: string; replicas: number }[]) =>
    steps.map((s) => [Date.parse(s.at), s.replicas] as [number, number]);

  const bars = rates
    .map((r, i) => {
      if (r === 0) return '';
      const x0 = x(from + i * bucketMs);
      const y0 = yLoad(r);
      return `<rect x="${x0.toFixed(1)}" y="${y0.toFixed(1)}" width="${Math.max(0.5, plotW / BUCKETS - 0.4).toFixed(2)}" height="${(PAD.top + plotH - y0).toFixed(1)}"/>`;
    })
    .join('');

  const ticks = (count: number, max: number, y: (v: number) => number, side: 'left' | 'right') =>
    Array.from({ length: count + 1 }, (_, k) => {
      const v = (max / count) * k;
      const label = Number.isInteger(v) ? String(v) : v.toFixed(1);
      const tx = side === 'left' ? PAD.left - 6 : WIDTH - PAD.right + 6;
      return `<text x="${tx}" y="${(y(v) + 4).toFixed(1)}" text-anchor="${side === 'left' ? 'end' : 'start'}">${label}</text>`;
    }).join('');
  const timeTicks = Array.from({ length: 7 }, (_, k) => {
    const t = from + (span / 6) * k;
    return `<text x="${x(t).toFixed(1)}" y="${HEIGHT - PAD.bottom + 16}" text-anchor="middle">${new Date(t).toISOString().slice(11, 19)}</text>`;
  }).join('');
  const replicaTicks = Math.min(maxReplicas, 8);

  const legend = [
    ['#7aa6d8', 'requests/s (left)'],
    ['#1f5fa8', 'replicas set'],
    ['#2e9e5b', 'replicas ready'],
    ...runs.filter((r) => r.steps).map((r) => [r.colour, r.name]),
  ]
    .map(
      ([colour, label], i) =>
        `<rect x="${PAD.left + i * 150}" y="10" width="12" height="12" fill="${colour}"/><text x="${PAD.left + i * 150 + 16}" y="20">${escapeXml(label!)}</text>`,
    )
    .join('');

  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="sans-serif" font-size="11" role="img" aria-label="load and replicas over time">`,
    `<title>${escapeXml(`${result.requests} requests, ${result.gpuSeconds} GPU-seconds, p99 ${result.latencyMs.p99} ms`)}</title>`,
    `<rect width="100%" height="100%" fill="white"/>`,
    legend,
    `<g fill="#7aa6d8">${bars}</g>`,
    ...runs
      .filter((r) => r.steps)
      .map(
        (r) =>
          `<path d="${stepPath(asPoints(r.steps!))}" fill="none" stroke="${r.colour}" stroke-width="1.5" stroke-dasharray="4 3"/>`,
      ),
    `<path d="${stepPath(result.readyTimeline)}" fill="none" stroke="#2e9e5b" stroke-width="1.5"/>`,
    `<path d="${stepPath(asPoints(result.replicas))}" fill="none" stroke="#1f5fa8" stroke-width="2"/>`,
    `<g fill="#333">${ticks(4, maxRate, yLoad, 'left')}${ticks(replicaTicks, maxReplicas, yRep, 'right')}${timeTicks}</g>`,
    `<rect x="${PAD.left}" y="${PAD.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#999"/>`,
    `<text x="${WIDTH / 2}" y="${HEIGHT - 6}" text-anchor="middle" fill="#333">time (UTC)</text>`,
    `</svg>`,
  ].join('\n');
}

function niceCeiling(value: number): number {
  const magnitude = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 2.5, 5, 10]) if (value <= step * magnitude) return step * magnitude;
  return 10 * magnitude;
}

function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
