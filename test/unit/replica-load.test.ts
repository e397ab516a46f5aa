/**
 * A deployment's load from its replicas' scrapes: the observation the workflow takes, from
 * timestamped scrapes (every time is given, none is read from a clock).
 */
import { describe, expect, it } from 'vitest';
import { isUrgent } from '../../observer/load-rules';
import { ReplicaLoad } from '../../observer/replica-load';
import type { ReplicaSamples } from '../../observer/replica-metrics';

const T = Date.parse('2026-01-01T00:00:00Z');
const iso = (ms: number) => new Date(ms).toISOString();

/** A scrape: running, waiting, finished requests, latency sum (s) and count, cache usage (%). */
function scrape(
  running: number,
  waiting: number,
  success: number,
  latency: [number, number] = [0, 0],
  memoryPercent?: number,
): ReplicaSamples {
  return {
    running,
    waiting,
    requestSuccess: success,
    latencySumSeconds: latency[0],
    latencyCount: latency[1],
    ...(memoryPercent !== undefined ? { memoryPercent } : {}),
  };
}

/** Scrapes of one replica "a" at T + seconds. */
function loadOf(
  scrapes: [seconds: number, samples: ReplicaSamples | undefined][],
  load = new ReplicaLoad(),
): ReplicaLoad {
  for (const [seconds, samples] of scrapes) load.record('a', T + seconds * 1000, samples);
  return load;
}

describe('ReplicaLoad: one replica over the window', () => {
  it.each<
    [
      string,
      [number, ReplicaSamples | undefined][],
      { concurrency: number; throughput: number; latencyMs?: number; memory?: number },
    ]
  >([
    [
      'concurrency is the mean of running + waiting; throughput the counter increase per second',
      [
        [0, scrape(2, 0, 100)],
        [1, scrape(4, 2, 102)],
        [2, scrape(3, 1, 110)],
      ],
      { concurrency: 4, throughput: 5 }, // (2 + 6 + 4) / 3; 10 requests in 2 s
    ],
    [
      'latency is the increase of the sum over that of the count',
      [
        [0, scrape(1, 0, 10, [5, 10])],
        [1, scrape(1, 0, 12, [6.5, 12])],
        [4, scrape(1, 0, 14, [9.5, 14])],
      ],
      { concurrency: 1, throughput: 1, latencyMs: 1125 }, // 4.5 s over 4 requests
    ],
    [
      'memory is the last cache usage reported',
      [
        [0, scrape(1, 0, 0, [0, 0], 80)],
        [1, scrape(1, 0, 0, [0, 0], 20.5)],
        [2, scrape(1, 0, 0)],
      ],
      { concurrency: 1, throughput: 0, memory: 20.5 },
    ],
    [
      'a counter lower than before restarted (the replica did): it counts from zero',
      [
        [0, scrape(0, 0, 100, [50, 100])],
        [1, scrape(0, 0, 104, [52, 104])],
        [2, scrape(0, 0, 3, [0.25, 3])],
        [3, scrape(0, 0, 5, [0.5, 5])],
      ],
      // 4 + 3 + 2 requests in 3 s; latency (2 + 0.25 + 0.25) s over 9 requests
      { concurrency: 0, throughput: 3, latencyMs: (2.5 / 9) * 1000 },
    ],
    [
      'a failed scrape is skipped, not counted as zero',
      [
        [0, scrape(4, 0, 0)],
        [1, undefined],
        [2, undefined],
        [3, scrape(4, 0, 12)],
      ],
      { concurrency: 4, throughput: 4 },
    ],
    [
      'no request finished in the window: no latency',
      [
        [0, scrape(2, 0, 7, [3, 7])],
        [1, scrape(2, 0, 7, [3, 7])],
      ],
      { concurrency: 2, throughput: 0 },
    ],
    [
      'scrapes older than the window are not averaged',
      [
        [0, scrape(50, 0, 0)],
        [20, scrape(50, 0, 1000)],
        [40, scrape(2, 0, 1000)],
        [60, scrape(4, 0, 1020)],
      ],
      { concurrency: 3, throughput: 1 }, // the window (30 s back from 60 s) holds the last two
    ],
    [
      'a scrape not newer than the last one is ignored',
      [
        [0, scrape(1, 0, 0)],
        [2, scrape(3, 0, 10)],
        [1, scrape(100, 0, 5000)],
        [2, scrape(100, 0, 5000)],
      ],
      { concurrency: 2, throughput: 5 },
    ],
    [
      'a server without the counter reads 0 requests per second; without the gauges, 0 in flight',
      [
        [0, { memoryPercent: 10 }],
        [1, { memoryPercent: 12 }],
      ],
      { concurrency: 0, throughput: 0, memory: 12 },
    ],
  ])('%s', (_sentence, scrapes, expected) => {
    const last = Math.max(...scrapes.map(([s]) => s));
    const observation = loadOf(scrapes).observe(['a'], T + last * 1000);
    expect(observation?.replicas).toEqual([{ replica: 'a', ...expected }]);
  });
});

describe('ReplicaLoad: the observation', () => {
  it('has the shape the collector sends: time, window, replicas, no queue, short-window totals', () => {
    const load = new ReplicaLoad();
    for (const [s, a, b] of [
      [0, scrape(1, 0, 0), scrape(2, 0, 0)],
      [20, scrape(1, 0, 25), scrape(2, 0, 50)],
      [26, scrape(5, 1, 31), scrape(2, 0, 51)],
      [30, scrape(5, 1, 55), scrape(2, 0, 55)],
    ] as const) {
      load.record('a', T + s * 1000, a);
      load.record('b', T + s * 1000, b);
    }
    expect(load.observe(['a', 'b'], T + 30_000)).toEqual({
      time: iso(T + 30_000),
      windowSeconds: 30,
      replicas: [
        { replica: 'a', concurrency: (1 + 1 + 6 + 6) / 4, throughput: 55 / 30 },
        { replica: 'b', concurrency: 2, throughput: 55 / 30 },
      ],
      queued: 0,
      lastRequestAt: iso(T + 30_000),
      // the last 6 s: the scrapes at 26 and 30
      shortWindow: { seconds: 6, concurrency: 6 + 2, throughput: 24 / 4 + 4 / 4 },
    });
  });

  it('a burst shows in the short window before the averages: urgent for the rules', () => {
    const load = new ReplicaLoad();
    for (let s = 0; s <= 24; s += 2) load.record('a', T + s * 1000, scrape(1, 0, s));
    const steady = load.observe(['a'], T + 24_000)!;
    load.record('a', T + 26_000, scrape(8, 8, 30));
    load.record('a', T + 28_000, scrape(8, 8, 34));
    const burst = load.observe(['a'], T + 28_000)!;
    // the last 6 s: the scrapes at 22, 24, 26 and 28; the window: 13 of 1 and 2 of 16
    expect(burst.shortWindow.concurrency).toBe((1 + 1 + 16 + 16) / 4);
    expect(burst.replicas[0]!.concurrency).toBe((13 + 32) / 15);
    expect(isUrgent(steady, burst)).toBe(true);
    expect(isUrgent(steady, load.observe(['a'], T + 24_000)!)).toBe(false);
  });

  it.each([
    ['a first scrape: no rate yet', [[0, scrape(3, 0, 10)]]],
    [
      'only one scrape left in the window',
      [
        [0, scrape(3, 0, 10)],
        [40, scrape(3, 0, 20)],
      ],
    ],
    [
      'every scrape since the first failed',
      [
        [0, scrape(3, 0, 10)],
        [1, undefined],
        [2, undefined],
      ],
    ],
  ] as [string, [number, ReplicaSamples | undefined][]][])(
    'nothing known about any replica (%s) is no observation, not an idle one',
    (_sentence, scrapes) => {
      const last = Math.max(...scrapes.map(([s]) => s));
      expect(loadOf(scrapes).observe(['a'], T + last * 1000)).toBeUndefined();
    },
  );

  it('a replica without a rate yet is left out while the others are observed', () => {
    const load = loadOf([
      [0, scrape(1, 0, 0)],
      [1, scrape(1, 0, 1)],
    ]);
    load.record('b', T + 1000, scrape(9, 0, 500));
    expect(load.observe(['a', 'b', 'c'], T + 1000)?.replicas.map((r) => r.replica)).toEqual(['a']);
    load.record('b', T + 2000, scrape(9, 0, 501));
    load.record('a', T + 2000, scrape(1, 0, 2));
    expect(load.observe(['a', 'b', 'c'], T + 2000)?.replicas.map((r) => r.replica)).toEqual([
      'a',
      'b',
    ]);
  });

  it('no replica at all (scaled to zero) is an observation with none', () => {
    const load = loadOf([
      [0, scrape(1, 0, 0)],
      [1, scrape(0, 0, 1)],
    ]);
    expect(load.observe([], T + 5000)).toEqual({
      time: iso(T + 5000),
      windowSeconds: 30,
      replicas: [],
      queued: 0,
      lastRequestAt: iso(T + 1000),
      shortWindow: { seconds: 6, concurrency: 0, throughput: 0 },
    });
  });

  it('windows are configurable', () => {
    const load = new ReplicaLoad({ windowMs: 10_000, shortWindowMs: 2_000 });
    for (let s = 0; s <= 20; s++) load.record('a', T + s * 1000, scrape(s, 0, s * 3));
    const observation = load.observe(['a'], T + 20_000)!;
    expect(observation.windowSeconds).toBe(10);
    expect(observation.replicas).toEqual([{ replica: 'a', concurrency: 15, throughput: 3 }]);
    expect(observation.shortWindow).toEqual({ seconds: 2, concurrency: 19, throughput: 3 });
    expect(() => new ReplicaLoad({ windowMs: 1000, shortWindowMs: 2000 })).toThrow(/exceeds/);
  });
});

describe('ReplicaLoad: lastRequestAt (when requests were last seen)', () => {
  it.each<[string, [number, ReplicaSamples][], number | undefined]>([
    [
      'never any request',
      [
        [0, scrape(0, 0, 0)],
        [1, scrape(0, 0, 0)],
      ],
      undefined,
    ],
    [
      'the finished counter went up',
      [
        [0, scrape(0, 0, 5)],
        [1, scrape(0, 0, 6)],
        [2, scrape(0, 0, 6)],
      ],
      1,
    ],
    [
      'running + waiting went up (a request arrived, none finished yet)',
      [
        [0, scrape(1, 0, 5)],
        [1, scrape(1, 1, 5)],
        [2, scrape(1, 0, 5)],
      ],
      1,
    ],
    [
      'a first scrape with requests in flight',
      [
        [0, scrape(0, 2, 0)],
        [1, scrape(0, 2, 0)],
      ],
      0,
    ],
    [
      'a first scrape with a high counter and nothing in flight says nothing about when',
      [
        [0, scrape(0, 0, 500)],
        [1, scrape(0, 0, 500)],
      ],
      undefined,
    ],
    [
      'a restart whose counter shows requests since',
      [
        [0, scrape(0, 0, 500)],
        [1, scrape(0, 0, 2)],
      ],
      1,
    ],
    [
      'a restart with no request since',
      [
        [0, scrape(0, 0, 500)],
        [1, scrape(0, 0, 0)],
      ],
      undefined,
    ],
  ])('%s', (_sentence, scrapes, expected) => {
    const load = loadOf(scrapes);
    expect(load.lastRequestAt()).toBe(expected === undefined ? undefined : T + expected * 1000);
    expect(load.observe(['a'], T + 2000)?.lastRequestAt).toBe(
      expected === undefined ? undefined : iso(T + expected * 1000),
    );
  });

  it('outlives the window and the replica it was seen on', () => {
    const load = loadOf([
      [0, scrape(0, 0, 0)],
      [1, scrape(0, 0, 4)],
    ]);
    load.record('b', T + 100_000, scrape(0, 0, 0));
    load.record('b', T + 101_000, scrape(0, 0, 0));
    expect(load.observe(['b'], T + 101_000)?.lastRequestAt).toBe(iso(T + 1000));
  });
});

describe('ReplicaLoad: memory stays bounded', () => {
  it('keeps only the scrapes the window can read', () => {
    const load = new ReplicaLoad();
    for (let s = 0; s < 3600; s++) load.record('a', T + s * 1000, scrape(1, 0, s));
    expect(load.size()).toBe(31); // 30 s back from the last, both ends included
  });

  it('forgets a replica that is no longer among the ready ones', () => {
    const load = loadOf([
      [0, scrape(1, 0, 0)],
      [1, scrape(1, 0, 1)],
    ]);
    load.record('b', T + 1000, scrape(1, 0, 0));
    load.observe(['b'], T + 1000);
    expect(load.size()).toBe(1);
    // Back with the same address (a restart): a fresh start, its old counters are gone.
    load.record('a', T + 2000, scrape(1, 0, 0));
    expect(load.observe(['a', 'b'], T + 2000)).toBeUndefined();
  });
});
