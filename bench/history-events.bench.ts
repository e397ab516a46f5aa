/**
 * Benchmark: history events per hour of a deployment, under steady load (target <= 10) and under
 * a changing load. Run with `npm run bench:history-events`.
 *
 * Hours of workflow time pass in seconds on the Temporal Java time-skipping server, with the real
 * workflow and the real observer policy (`sendDecision`: tolerance, minimum interval, urgency,
 * keepalive, and the workflow's own answer to whether an observation changes anything) deciding
 * which observations become signals, evaluated every 10 s of simulated time.
 *
 * Everything is measured, on the production path. Replicas are told to the workflow as in
 * production: by the real observer (observer/observer.ts) over the provider's change feed, one
 * signal when what the workflow cares about changed. Here replicas are ready the moment they are
 * asked for (a real replica that takes time to load adds one signal, about 4 events, per scale
 * step): the Java test server skips time whenever nothing is in flight, so a replica loading in
 * real time would let the workflow's own 5 s status call come due first, which production's
 * observer beats by seconds. Timers are cancelled as the real server cancels them (one
 * TimerCanceled), not left to fire unseen as the other time-skipping suites do
 * (test/time-skipping/cancellable-timers.ts).
 */
import { afterAll, beforeAll, it } from 'vitest';
import type { ApplyRevisionInput, RevisionStatus } from '../activities/providers/provider';
import { offered, sendDecision, type LastOffered } from '../observer/load-rules';
import type { Observer } from '../observer/observer';
import { startObserver } from '../observer/start';
import {
  observationMattersQuery,
  observeMetricsSignal,
  type MetricsObservation,
} from '../workflows/deployment/metrics';
import { statusQuery } from '../workflows/deployment/definitions';
import { FakeProvider } from '../test/helpers/fake-provider';
import { chainHistory, eventTimeMs } from '../test/helpers/history';
import { startTimeSkipping, type TimeSkippingHarness } from '../test/helpers/time-skipping';

const HOURS = Number(process.env.HOURS ?? 4);
const STEP_MS = 10_000;

/** Replicas ready the moment they are asked for (see above). */
class ReadyAtOnceProvider extends FakeProvider {
  override applyRevision(input: ApplyRevisionInput): Promise<RevisionStatus> {
    return super.applyRevision({ ...input, template: { ...input.template, loadMs: 0 } });
  }
}

let h: TimeSkippingHarness;
let observer: Observer | undefined;
beforeAll(async () => {
  h = await startTimeSkipping({ timers: 'cancelled' });
  const provider = new ReadyAtOnceProvider();
  await h.startWorker(provider);
  // Load comes from this bench's own observations below; the observer tells replicas only.
  observer = startObserver(provider, h.client, { load: false });
}, 120_000);
afterAll(async () => {
  await observer?.stop();
  await h?.stop();
});

function observation(now: number, perReplica: number[]): MetricsObservation {
  return {
    time: new Date(now).toISOString(),
    windowSeconds: 30,
    replicas: perReplica.map((c, i) => ({
      replica: `r${i}`,
      concurrency: c,
      throughput: c * 2,
      latencyMs: 200,
    })),
    queued: 0,
    lastRequestAt: new Date(now).toISOString(),
    shortWindow: { seconds: 6, concurrency: perReplica.reduce((a, b) => a + b, 0), throughput: 0 },
  };
}

/** Runs `hours` of simulated time with a load function; returns history events per hour. */
async function run(
  name: string,
  load: (minute: number) => number,
): Promise<{ perHour: number; signals: number }> {
  const handle = await h.startDeployment('bench', name, {
    model: 'fast-model',
    cloud: { type: 'dedicated', accelerator: { type: 'L4', count: 1 } },
    scaling: { minReplicas: 1, maxReplicas: 8, metric: 'concurrency', threshold: 8 },
    autoscalingPolicy: {},
  });
  await new Promise((r) => setTimeout(r, 1000)); // replicas load (real time)
  let last: LastOffered | undefined;
  // The first hour settles; count the events written after it (by their time, in every run).
  let countFrom = Number.POSITIVE_INFINITY;
  let signals = 0;
  let signalsCounted = 0;
  let unchanged = 0;
  const steps = ((HOURS + 1) * 3600_000) / STEP_MS;
  for (let step = 0; step < steps; step++) {
    const now = await h.env.currentTimeMs();
    if (step === 3600_000 / STEP_MS) countFrom = now;
    const view = await handle.query(statusQuery);
    const total = load((step * STEP_MS) / 60_000);
    const replicas = Math.max(1, view.replicas.ready);
    const obs = observation(
      now,
      Array.from({ length: replicas }, () => total / replicas),
    );
    // As the observer does (observer/load-observer.ts): urgent changes and keepalives at once;
    // a move past tolerance only if the workflow says it changes what it decides.
    const decision = sendDecision(last, obs, now);
    if (decision === 'ask' && !(await handle.query(observationMattersQuery, obs))) {
      last = offered(last, obs, now, false);
      unchanged += 1;
    } else if (decision) {
      await handle.signal(observeMetricsSignal, obs);
      last = offered(last, obs, now, true);
      signals += 1;
      if (now >= countFrom) signalsCounted += 1;
    }
    await h.env.sleep(STEP_MS);
  }
  const chain = await chainHistory(h.client, handle.workflowId, handle.firstExecutionRunId);
  const counted = chain.events.filter((e) => eventTimeMs(e) >= countFrom);
  const byType = new Map<string, number>();
  for (const e of counted) {
    const type =
      Object.keys(e).find(
        (k) => k.endsWith('EventAttributes') && (e as Record<string, unknown>)[k],
      ) ?? 'unknown';
    byType.set(
      type.replace('EventAttributes', ''),
      (byType.get(type.replace('EventAttributes', '')) ?? 0) + 1,
    );
  }
  const top = [...byType]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 8)
    .map(([t, n]) => `${t} ${(n / HOURS).toFixed(0)}`);
  console.log(
    `  ${name}: ${counted.length} events in ${HOURS} h over ${chain.runs} run(s) (continue-as-new), ${signalsCounted} signals in those hours (${unchanged} more observations found to change nothing, not signalled); per hour by type: ${top.join(', ')}`,
  );
  return { perHour: counted.length / HOURS, signals };
}

it(`measures history events per hour over ${HOURS} simulated hours`, async () => {
  const steady = await run('steady', () => 24); // 3 replicas' worth, constant
  // Changing: total in-flight swings between 4 and 52 over a 40-minute cycle.
  const changing = await run(
    'changing',
    (minute) => 28 + 24 * Math.sin((2 * Math.PI * minute) / 40),
  );
  const fmt = (n: number) => n.toFixed(1);
  console.log('history events per deployment per hour (everything in the histories, every run):');
  console.log(`  steady load:   ${fmt(steady.perHour)}   (target <= 10)`);
  console.log(
    `  changing load: ${fmt(changing.perHour)}   (target <= 100; ${changing.signals} signals sent over ${HOURS + 1} h; steady: ${steady.signals})`,
  );
}, 600_000);
