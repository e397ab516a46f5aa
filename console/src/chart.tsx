/**
 * Replicas desired / ready over time, and the load metric against its threshold, as inline SVG,
 * from the polling samples and the events' history (./history.ts).
 */
import type { History, Point, Sample } from './history';

const W = 640;
const H = 200;
const PAD = { left: 36, right: 56, top: 12, bottom: 26 };
/** Events this close before the first sample may describe what the sample already shows. */
const OVERLAP_MS = 5000;

export function ReplicaChart(props: {
  samples: Sample[];
  history: History;
  threshold: number;
  metric: string;
  unit: string;
  maxReplicas: number;
  /** Where the time axis starts at the latest (the deployment's creation); at most an hour back. */
  since: number;
  now: number;
}) {
  const { samples, history, now } = props;
  const byTime = (a: Point, b: Point) => a.at - b.at;
  // The events fill in the time before the console watched; from then on the samples say it
  // (an event's time is the server's and a sample's the browser's: they need not agree to the
  // second, so events within OVERLAP_MS of the first sample are left to the samples).
  const watched = samples[0] ? samples[0].at - OVERLAP_MS : Infinity;
  const before = (pts: Point[]) => pts.filter((p) => p.at < watched);
  const desired = [
    ...before(history.desired),
    ...samples.map((x) => ({ at: x.at, v: x.desired })),
  ].sort(byTime);
  const ready = [...before(history.ready), ...samples.map((x) => ({ at: x.at, v: x.ready }))].sort(
    byTime,
  );
  const load = [...history.load].sort(byTime);

  const earliest = Math.max(
    Math.min(props.since, ...[...desired, ...ready].map((p) => p.at)),
    now - 3_600_000,
  );
  const span = Math.max(now - earliest, 30_000);
  const first = now - span;
  const yMax = Math.max(1, props.maxReplicas, ...desired.map((p) => p.v), ...ready.map((p) => p.v));
  const loadMax = Math.max(props.threshold * 1.5, ...load.map((p) => p.v)) || 1;
  const x = (at: number) => PAD.left + ((at - first) / span) * (W - PAD.left - PAD.right);
  const y = (v: number) => H - PAD.bottom - (v / yMax) * (H - PAD.top - PAD.bottom);
  const yLoad = (v: number) => H - PAD.bottom - (v / loadMax) * (H - PAD.top - PAD.bottom);
  const steps = (
    pts: { at: number; v: number }[],
    toNow: boolean,
    scaleY: (v: number) => number,
  ) => {
    if (!pts.length) return '';
    let d = `M${x(pts[0]!.at).toFixed(1)},${scaleY(pts[0]!.v).toFixed(1)}`;
    for (let i = 1; i < pts.length; i++) {
      d += ` H${x(pts[i]!.at).toFixed(1)} V${scaleY(pts[i]!.v).toFixed(1)}`;
    }
    if (toNow) d += ` H${x(now).toFixed(1)}`;
    return d;
  };
  const loadTicks = [0, 0.25, 0.5, 0.75, 1].map((k) => k * loadMax);
  const loadText = (v: number) =>
    Number.isInteger(v) ? String(v) : v.toFixed(v < 10 ? 1 : 0).replace(/\.0$/, '');
  const time = (at: number) =>
    new Date(at).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });
  const last = samples[samples.length - 1];
  return (
    <figure style="margin:0">
      <svg
        class="chart"
        viewBox={`0 0 ${W} ${H}`}
        width="100%"
        role="img"
        aria-label={`Replicas over time: now ${last?.ready ?? '?'} ready of ${last?.desired ?? '?'} desired; ${props.metric} threshold ${props.threshold}`}
      >
        <clipPath id="plot">
          <rect x={PAD.left} y={0} width={W - PAD.left - PAD.right} height={H - PAD.bottom + 4} />
        </clipPath>
        <rect
          x={PAD.left}
          y={PAD.top}
          width={W - PAD.left - PAD.right}
          height={H - PAD.top - PAD.bottom}
          fill="#fafbfc"
          stroke="#d8dde5"
        />
        {Array.from({ length: yMax + 1 }, (_, v) => v)
          .filter((v) => yMax <= 8 || v % Math.ceil(yMax / 8) === 0)
          .map((v) => (
            <text x={PAD.left - 6} y={y(v) + 4} text-anchor="end" key={v}>
              {v}
            </text>
          ))}
        <line
          x1={PAD.left}
          x2={W - PAD.right}
          y1={yLoad(props.threshold)}
          y2={yLoad(props.threshold)}
          stroke="#9a5b00"
          stroke-dasharray="4 3"
        />
        <g fill="#9a5b00" aria-hidden="true">
          <line
            x1={W - PAD.right}
            x2={W - PAD.right}
            y1={PAD.top}
            y2={H - PAD.bottom}
            stroke="#9a5b00"
          />
          {loadTicks.map((v, i) => (
            <g key={i}>
              <line
                x1={W - PAD.right}
                x2={W - PAD.right + 4}
                y1={yLoad(v)}
                y2={yLoad(v)}
                stroke="#9a5b00"
              />
              <text x={W - PAD.right + 6} y={yLoad(v) + 4}>
                {loadText(v)}
              </text>
            </g>
          ))}
          <text x={W - PAD.right - 4} y={9} text-anchor="end">
            {props.metric}
          </text>
        </g>
        <text
          x={PAD.left + 4}
          y={yLoad(props.threshold) - 4}
          fill="#9a5b00"
        >{`threshold ${props.threshold}`}</text>
        <g clip-path="url(#plot)">
          <path d={steps(desired, true, y)} fill="none" stroke="#2456c7" stroke-width="2" />
          <path
            d={steps(ready, true, y)}
            fill="none"
            stroke="#137a3c"
            stroke-width="2"
            stroke-dasharray="6 3"
          />
          {load.map((p, i) => (
            <circle cx={x(p.at)} cy={yLoad(p.v)} r="3.5" fill="#9a5b00" key={i}>
              <title>{`${props.metric} ${p.v} at ${time(p.at)}`}</title>
            </circle>
          ))}
        </g>
        <text x={PAD.left} y={H - 8}>
          {time(first)}
        </text>
        <text x={W - PAD.right} y={H - 8} text-anchor="end">
          {time(now)}
        </text>
      </svg>
      <figcaption class="hint">
        <span style="color:#2456c7">━ desired</span> · <span style="color:#137a3c">╍ ready</span> ·{' '}
        <span style="color:#9a5b00">
          ● {props.metric} ({props.unit}) at each scale event, ┅ threshold {props.threshold}
        </span>{' '}
        (right axis: {props.unit}; the left axis counts replicas). Sampled every 2 s while the
        console is open; earlier points from the events.
      </figcaption>
      <details>
        <summary>The points as a table</summary>
        <table aria-label="Replicas over time" data-testid="chart-data">
          <thead>
            <tr>
              <th scope="col">Time</th>
              <th scope="col">Desired</th>
              <th scope="col">Ready</th>
              <th scope="col">From</th>
            </tr>
          </thead>
          <tbody>
            {[
              ...before(history.desired).map((p) => ({ ...p, what: 'desired', from: 'event' })),
              ...before(history.ready).map((p) => ({ ...p, what: 'ready', from: 'event' })),
            ]
              .sort((a, b) => a.at - b.at)
              .map((p, i) => (
                <tr key={`e${i}`}>
                  <td>{time(p.at)}</td>
                  <td>{p.what === 'desired' ? p.v : ''}</td>
                  <td>{p.what === 'ready' ? p.v : ''}</td>
                  <td>{p.from}</td>
                </tr>
              ))}
            {samples.slice(-30).map((x, i) => (
              <tr key={`s${i}`}>
                <td>{time(x.at)}</td>
                <td>{x.desired}</td>
                <td>{x.ready}</td>
                <td>sample</td>
              </tr>
            ))}
          </tbody>
        </table>
      </details>
    </figure>
  );
}
