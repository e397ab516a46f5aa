/**
 * The observer's metrics (observer/metrics.ts): the replica tally, and what the observer and the
 * load observer record, on a meter that keeps every value in memory, with their I/O replaced (a
 * feed driven by the test, a lease in memory, a client that records signals and answers queries).
 */
import type { Client } from '@temporalio/client';
import type { MetricMeter, MetricTags } from '@temporalio/common';
import { describe, expect, it } from 'vitest';
import type { RevisionStatus } from '../../activities/providers/provider';
import type { RevisionFeed, RevisionFeedHandlers } from '../../observer/feed';
import { LoadObserver } from '../../observer/load-observer';
import { MemoryLeaseStore } from '../../observer/memory-lease';
import { OBSERVER_METRIC, ReplicaTally, observerMetrics } from '../../observer/metrics';
import { Observer } from '../../observer/observer';
import { VLLM_METRICS } from '../../observer/replica-metrics';

/** A MetricMeter keeping each series' value: counters add, gauges set. */
function memoryMeter() {
  const values = new Map<string, number>();
  const series = (name: string, tags: MetricTags = {}) =>
    `${name}{${Object.entries(tags)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([k, v]) => `${k}=${String(v)}`)
      .join(',')}}`;
  const meter = {
    createCounter: (name: string) => ({
      add: (v: number, tags?: MetricTags) =>
        values.set(series(name, tags), (values.get(series(name, tags)) ?? 0) + v),
    }),
    createGauge: (name: string) => ({
      set: (v: number, tags?: MetricTags) => values.set(series(name, tags), v),
    }),
  } as unknown as MetricMeter;
  return { meter, get: (name: string, tags?: MetricTags) => values.get(series(name, tags)) };
}

function status(
  deploymentId: string,
  revision: number,
  desired: number,
  ready: number,
  exists = true,
): RevisionStatus {
  return {
    deploymentId,
    revision,
    exists,
    desired,
    ready,
    restarts: 0,
    replicas: Array.from({ length: desired }, (_, i) => ({
      id: `r${i}`,
      url: `http://127.0.0.1:${9000 + i}`,
      ready: i < ready,
      restarts: 0,
      startedAt: '2026-12-01T00:00:00.000Z',
    })),
  };
}

describe('ReplicaTally', () => {
  it('sums a deployment over its revisions, drops a revision gone, and forgets all on clear', () => {
    const tally = new ReplicaTally();
    expect(tally.update(status('ws/a', 1, 2, 1))).toEqual({
      deploymentId: 'ws/a',
      desired: 2,
      ready: 1,
    });
    // A rollout: the new revision next to the old one.
    expect(tally.update(status('ws/a', 2, 2, 0))).toMatchObject({ desired: 4, ready: 1 });
    expect(tally.update(status('ws/b', 1, 1, 1))).toMatchObject({ desired: 1, ready: 1 });
    expect(tally.update(status('ws/a', 1, 0, 0, false))).toMatchObject({ desired: 2, ready: 0 });
    expect(tally.update(status('ws/a', 2, 0, 0, false))).toMatchObject({ desired: 0, ready: 0 });
    // A revision never seen, gone: nothing to subtract.
    expect(tally.update(status('ws/c', 3, 0, 0, false))).toMatchObject({ desired: 0, ready: 0 });
    expect(tally.clear()).toEqual(['ws/b']);
    expect(tally.clear()).toEqual([]);
  });
});

describe('observerMetrics', () => {
  it('writes each event to its series', () => {
    const { meter, get } = memoryMeter();
    const metrics = observerMetrics(meter);
    metrics.signal('replicas', 'sent');
    metrics.signal('replicas', 'sent');
    metrics.signal('metrics', 'unchanged');
    metrics.asked('no_answer');
    metrics.scraped(true);
    metrics.scraped(false);
    metrics.active('dedicated', true);
    metrics.replicas('ws/a', 3, 2);
    expect(get(OBSERVER_METRIC.signals, { kind: 'replicas', outcome: 'sent' })).toBe(2);
    expect(get(OBSERVER_METRIC.signals, { kind: 'metrics', outcome: 'unchanged' })).toBe(1);
    expect(get(OBSERVER_METRIC.asks, { answer: 'no_answer' })).toBe(1);
    expect(get(OBSERVER_METRIC.scrapes, { result: 'ok' })).toBe(1);
    expect(get(OBSERVER_METRIC.scrapes, { result: 'failed' })).toBe(1);
    expect(get(OBSERVER_METRIC.active, { runtime: 'dedicated' })).toBe(1);
    expect(get(OBSERVER_METRIC.replicasDesired, { deployment: 'ws/a' })).toBe(3);
    expect(get(OBSERVER_METRIC.replicasReady, { deployment: 'ws/a' })).toBe(2);
  });

  it('without a meter, records nothing and throws nothing', () => {
    const metrics = observerMetrics();
    expect(() => {
      metrics.signal('replicas', 'failed');
      metrics.replicas('ws/a', 1, 1);
    }).not.toThrow();
  });
});

class ManualFeed implements RevisionFeed {
  handlers?: RevisionFeedHandlers;
  async start(handlers: RevisionFeedHandlers) {
    this.handlers = handlers;
    handlers.onResync?.([]);
  }
  async stop() {
    this.handlers = undefined;
  }
}

async function waitUntil(predicate: () => boolean, ms = 2000) {
  const until = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > until) throw new Error('condition not reached');
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('the observer', () => {
  it('reports its lease, the replicas per deployment, and what became of each signal; standing by, it reports 0', async () => {
    const { meter, get } = memoryMeter();
    let failing = false;
    const client = {
      workflow: {
        getHandle: () => ({
          signal: async () => {
            if (failing) throw new Error('Temporal unreachable');
          },
        }),
      },
    } as unknown as Client;
    const store = new MemoryLeaseStore();
    const feed = new ManualFeed();
    const observer = new Observer({
      feed,
      lease: store.lease('a', 10_000),
      client,
      renewEveryMs: 10,
      metrics: observerMetrics(meter),
      runtime: 'cluster:test',
    });
    expect(get(OBSERVER_METRIC.active, { runtime: 'cluster:test' })).toBeUndefined();
    observer.start();
    await waitUntil(() => observer.isActive);
    expect(get(OBSERVER_METRIC.active, { runtime: 'cluster:test' })).toBe(1);

    feed.handlers!.onStatus(status('ws/a', 1, 2, 1));
    feed.handlers!.onStatus(status('ws/a', 2, 1, 0)); // rolling out
    await waitUntil(() => observer.stats.signals === 2);
    expect(get(OBSERVER_METRIC.replicasDesired, { deployment: 'ws/a' })).toBe(3);
    expect(get(OBSERVER_METRIC.replicasReady, { deployment: 'ws/a' })).toBe(1);
    expect(get(OBSERVER_METRIC.signals, { kind: 'replicas', outcome: 'sent' })).toBe(2);

    feed.handlers!.onStatus(status('ws/a', 2, 1, 0)); // the same again: no signal
    expect(get(OBSERVER_METRIC.signals, { kind: 'replicas', outcome: 'unchanged' })).toBe(1);

    failing = true;
    feed.handlers!.onStatus(status('ws/a', 2, 1, 1));
    await waitUntil(() => observer.stats.retried > 0);
    expect(get(OBSERVER_METRIC.signals, { kind: 'replicas', outcome: 'failed' })).toBe(
      observer.stats.retried,
    );
    expect(get(OBSERVER_METRIC.replicasReady, { deployment: 'ws/a' })).toBe(2);

    // Another holder takes the lease: this one stands by and stops reporting the replicas.
    store.held = { holder: 'b', expiresAt: Date.now() + 60_000 };
    await waitUntil(() => !observer.isActive);
    expect(get(OBSERVER_METRIC.active, { runtime: 'cluster:test' })).toBe(0);
    expect(get(OBSERVER_METRIC.replicasDesired, { deployment: 'ws/a' })).toBe(0);
    expect(get(OBSERVER_METRIC.replicasReady, { deployment: 'ws/a' })).toBe(0);
    await observer.stop();
  });
});

describe('the load observer', () => {
  it('counts scrapes, the answers to its questions, and the metrics signals', async () => {
    const { meter, get } = memoryMeter();
    let answer: () => Promise<boolean> = async () => true;
    let signals = 0;
    const client = {
      workflow: {
        getHandle: () => ({
          signal: async () => void signals++,
          query: () => answer(),
        }),
      },
      withDeadline: (_deadline: number, fn: () => Promise<unknown>) => fn(),
    } as unknown as Client;
    let inFlight: number | undefined = 4;
    const load = new LoadObserver({
      client,
      windowMs: 1_000,
      shortWindowMs: 500,
      metrics: observerMetrics(meter),
      scrape: async () =>
        inFlight === undefined
          ? undefined
          : [{ name: VLLM_METRICS.running, labels: {}, value: inFlight }],
    });
    load.update(status('ws/a', 1, 1, 1));
    const t = Date.now();
    // Two scrapes make an observation; the first is signalled without asking.
    await load.tick(t - 500);
    await load.tick(t);
    expect(get(OBSERVER_METRIC.signals, { kind: 'metrics', outcome: 'sent' })).toBe(1);
    // Moved past tolerance: asked; the workflow says it changes nothing.
    answer = async () => false;
    inFlight = 6;
    await load.tick(t + 10_500);
    await load.tick(t + 11_000);
    expect(get(OBSERVER_METRIC.asks, { answer: 'unchanged' })).toBe(1);
    expect(get(OBSERVER_METRIC.signals, { kind: 'metrics', outcome: 'unchanged' })).toBe(1);
    // Moved again; the workflow cannot answer: signalled all the same.
    answer = async () => {
      throw new Error('deadline exceeded');
    };
    inFlight = 12;
    await load.tick(t + 21_500);
    await load.tick(t + 22_000);
    expect(get(OBSERVER_METRIC.asks, { answer: 'no_answer' })).toBe(1);
    expect(get(OBSERVER_METRIC.signals, { kind: 'metrics', outcome: 'sent' })).toBe(2);
    expect(signals).toBe(2);
    // A replica that does not answer its scrape.
    inFlight = undefined;
    await load.tick(t + 23_000);
    expect(get(OBSERVER_METRIC.scrapes, { result: 'ok' })).toBe(6);
    expect(get(OBSERVER_METRIC.scrapes, { result: 'failed' })).toBe(1);
    await load.stop();
  });
});
