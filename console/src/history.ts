/**
 * Replicas desired / ready over time, and the load metric against its threshold, for the chart.
 *
 * The API has no time series. The points are (1) the polling samples taken while the console is
 * open (desired and ready every ~2 s, kept per deployment for the tab's life) and (2) for the
 * time before, what the events say, in the words of workflows/deployment/events.ts: "replicas
 * A -> B: <metric> <value> ..." (ScaleOut / ScaleIn: desired and the observed load), "r/d
 * replica(s) ready" (Health), "revision N: k replica(s) ... starting" (Provisioned), "resuming
 * revision N with k replica(s)" (Resumed), "-> NotPresent" / "scaled to zero" (none).
 */

export interface Sample {
  at: number;
  desired: number;
  ready: number;
}
export interface Point {
  at: number;
  v: number;
}
export interface History {
  desired: Point[];
  ready: Point[];
  /** The observed metric at each scale event that says it. */
  load: Point[];
}

export function historyFromEvents(
  events: { time: string; type: string; reason: string; message: string; revision?: number }[],
  metric: string,
): History {
  const h: History = { desired: [], ready: [], load: [] };
  const loadRe = new RegExp(`: ${metric} (\\d+(?:\\.\\d+)?)`);
  for (const e of events) {
    const at = Date.parse(e.time);
    if (Number.isNaN(at)) continue;
    const m = e.message;
    let r: RegExpExecArray | null;
    if (
      (e.type === 'ScaleOut' || e.type === 'ScaleIn') &&
      (r = /replicas (\d+) -> (\d+)/.exec(m))
    ) {
      h.desired.push({ at, v: Number(r[2]) });
      const load = loadRe.exec(m);
      if (load) h.load.push({ at, v: Number(load[1]) });
    } else if (e.type === 'Health' && (r = /(\d+)\/(\d+) replica\(s\) ready/.exec(m))) {
      h.ready.push({ at, v: Number(r[1]) });
      h.desired.push({ at, v: Number(r[2]) });
    } else if (e.type === 'Health' && /-> NotPresent|scaled to zero/.test(m)) {
      h.ready.push({ at, v: 0 });
      h.desired.push({ at, v: 0 });
    } else if (e.reason === 'Provisioned' && (r = /: (\d+) replica\(s\)/.exec(m))) {
      h.desired.push({ at, v: Number(r[1]) });
      if (e.revision === 1) h.ready.push({ at, v: 0 });
    } else if (e.reason === 'Resumed' && (r = /with (\d+) replica\(s\)/.exec(m))) {
      h.desired.push({ at, v: Number(r[1]) });
      h.ready.push({ at, v: 0 });
    }
  }
  return h;
}
