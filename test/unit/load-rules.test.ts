/**
 * When a workflow is signalled (the observer's rules): urgent changes and keepalives at once;
 * moves past tolerance and replicas that came or went only if the workflow says they matter.
 */
import { describe, expect, it } from 'vitest';
import {
  KEEPALIVE_MS,
  MIN_INTERVAL_MS,
  offerCause,
  offered,
  sendDecision,
  type LastOffered,
} from '../../observer/load-rules';
import {
  METRICS_SIGNAL_CAUSES,
  type MetricsObservation,
  type MetricsSignalCause,
} from '../../workflows/deployment/metrics';

function obs(
  replicas: Partial<MetricsObservation['replicas'][number]>[],
  extra: Partial<MetricsObservation> = {},
): MetricsObservation {
  return {
    time: '2026-01-01T00:00:00Z',
    windowSeconds: 30,
    replicas: replicas.map((r, i) => ({ replica: `r${i}`, concurrency: 0, throughput: 0, ...r })),
    queued: 0,
    shortWindow: { seconds: 6, concurrency: 0, throughput: 0 },
    ...extra,
  };
}

const steady = obs([{ concurrency: 4, throughput: 10 }]);
const at = 1_000_000;

describe('sendDecision', () => {
  const moved = obs([{ concurrency: 5, throughput: 10 }]);
  it.each<
    [string, LastOffered | undefined, MetricsObservation, number, 'send' | 'ask' | undefined]
  >([
    ['the first observation is sent', undefined, steady, at, 'send'],
    [
      'a move past tolerance is asked about',
      { observation: steady, at },
      moved,
      at + MIN_INTERVAL_MS,
      'ask',
    ],
    [
      'a new replica is asked about at once',
      { observation: steady, at },
      obs([{ concurrency: 4, throughput: 10 }, {}]),
      at + 100,
      'ask',
    ],
    ['traffic stopping is sent at once', { observation: steady, at }, obs([{}]), at + 100, 'send'],
    [
      'the keepalive counts from the last signal, not from observations found to change nothing',
      { observation: steady, at: at + KEEPALIVE_MS - 20_000, deliveredAt: at },
      steady,
      at + KEEPALIVE_MS,
      'send',
    ],
    [
      'within the minimum interval of the last offer, nothing',
      { observation: steady, at: at + KEEPALIVE_MS - 1, deliveredAt: at },
      moved,
      at + KEEPALIVE_MS,
      undefined,
    ],
  ])('%s', (_sentence, last, next, now, expected) => {
    expect(sendDecision(last, next, now)).toBe(expected);
  });

  it('remembers an offer found to change nothing without moving the last signal', () => {
    const first = offered(undefined, steady, at, false);
    expect(first).toEqual({ observation: steady, at });
    const skipped = offered(first, moved, at + 30_000, false);
    expect(skipped).toEqual({ observation: moved, at: at + 30_000, deliveredAt: at });
    expect(offered(skipped, steady, at + 60_000, false).deliveredAt).toBe(at);
    expect(offered(skipped, steady, at + 60_000, true)).toEqual({
      observation: steady,
      at: at + 60_000,
    });
  });
});

describe('offerCause: what the signal is named for', () => {
  const idle = obs([{}]);
  it.each<[MetricsSignalCause | undefined, LastOffered | undefined, MetricsObservation, number]>([
    ['first', undefined, steady, at],
    ['trafficStarted', { observation: idle, at }, steady, at + 100],
    ['trafficStopped', { observation: steady, at }, idle, at + 100],
    [
      'burst',
      { observation: steady, at },
      obs([{ concurrency: 4, throughput: 10 }], {
        shortWindow: { seconds: 6, concurrency: 9, throughput: 10 },
      }),
      at + 100,
    ],
    ['requestsWaiting', { observation: obs([]), at }, obs([], { queued: 2 }), at + 100],
    [
      'replicasChanged',
      { observation: steady, at },
      obs([{ concurrency: 4, throughput: 10 }, {}]),
      at + 100,
    ],
    [
      'moved',
      { observation: steady, at },
      obs([{ concurrency: 5, throughput: 10 }]),
      at + MIN_INTERVAL_MS,
    ],
    ['keepalive', { observation: steady, at }, steady, at + KEEPALIVE_MS],
    [undefined, { observation: steady, at }, steady, at + MIN_INTERVAL_MS],
  ])('%s', (cause, last, next, now) => {
    expect(offerCause(last, next, now)).toBe(cause);
  });

  it('names a distinct signal for each cause', () => {
    const names = Object.values(METRICS_SIGNAL_CAUSES);
    expect(new Set(names).size).toBe(names.length);
    expect(names).not.toContain('observeMetrics');
  });
});

describe('whether an observation is offered at all (sent, or asked about)', () => {
  it.each([
    ['the first observation is always sent', undefined, steady, at, true],
    [
      'a change within the tolerance is not sent',
      { observation: steady, at },
      obs([{ concurrency: 4.3, throughput: 10.5 }]),
      at + MIN_INTERVAL_MS,
      false,
    ],
    [
      'a change past the tolerance is sent after the minimum interval',
      { observation: steady, at },
      obs([{ concurrency: 5, throughput: 10 }]),
      at + MIN_INTERVAL_MS,
      true,
    ],
    [
      'a change past the tolerance waits for the minimum interval',
      { observation: steady, at },
      obs([{ concurrency: 5, throughput: 10 }]),
      at + 1000,
      false,
    ],
    ['traffic stopping is urgent', { observation: steady, at }, obs([{}]), at + 1000, true],
    [
      'a request held at zero replicas is urgent',
      { observation: obs([]), at },
      obs([], { queued: 1 }),
      at + 100,
      true,
    ],
    [
      'a new replica is offered at once',
      { observation: steady, at },
      obs([{ concurrency: 4, throughput: 10 }, {}]),
      at + 100,
      true,
    ],
    [
      'a burst in the short window is urgent',
      { observation: steady, at },
      obs([{ concurrency: 4, throughput: 10 }], {
        shortWindow: { seconds: 6, concurrency: 9, throughput: 10 },
      }),
      at + 100,
      true,
    ],
    [
      'a steady deployment gets a keepalive',
      { observation: steady, at },
      steady,
      at + KEEPALIVE_MS,
      true,
    ],
    [
      'a steady deployment is otherwise quiet',
      { observation: steady, at },
      steady,
      at + KEEPALIVE_MS - 1,
      false,
    ],
  ])('%s', (_sentence, last, next, now, expected) => {
    expect(sendDecision(last, next, now) !== undefined).toBe(expected);
  });
});
