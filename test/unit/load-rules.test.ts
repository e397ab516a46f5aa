/** When a workflow is signalled (the collector's and the observer's rules): only on moves past tolerance, urgent changes, or keepalive. */
import { describe, expect, it } from 'vitest';
import { KEEPALIVE_MS, MIN_INTERVAL_MS, shouldSend } from '../../observer/load-rules';
import type { MetricsObservation } from '../../workflows/deployment/metrics';

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

describe('shouldSend', () => {
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
      'a new replica is urgent',
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
    expect(shouldSend(last, next, now)).toBe(expected);
  });
});
