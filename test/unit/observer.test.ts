/**
 * The observer's rules with its I/O replaced (a feed driven by the test, a lease in memory, a
 * client that records signals): what is signalled, what is not, and what a successor signals.
 */
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { describe, expect, it } from 'vitest';
import type { RevisionStatus, RuntimeProvider } from '../../activities/providers/provider';
import type { RevisionFeed, RevisionFeedHandlers } from '../../observer/feed';
import { RefreshingFeed } from '../../observer/byoc';
import { MemoryLeaseStore } from '../../observer/memory-lease';
import { Observer } from '../../observer/observer';

class ManualFeed implements RevisionFeed {
  handlers?: RevisionFeedHandlers;
  constructor(private readonly initial: RevisionStatus[] = []) {}
  async start(handlers: RevisionFeedHandlers) {
    this.handlers = handlers;
    for (const s of this.initial) handlers.onStatus(s);
    handlers.onResync?.(this.initial);
  }
  async stop() {
    this.handlers = undefined;
  }
}

interface Sent {
  workflowId: string;
  status: RevisionStatus;
}

function recordingClient(options: { fail?: () => Error | undefined } = {}) {
  const sent: Sent[] = [];
  const client = {
    workflow: {
      getHandle: (workflowId: string) => ({
        signal: async (_def: unknown, status: RevisionStatus) => {
          const err = options.fail?.();
          if (err) throw err;
          sent.push({ workflowId, status });
        },
      }),
    },
  } as unknown as Client;
  return { client, sent };
}

function status(
  deploymentId: string,
  ready: number,
  overrides: Partial<RevisionStatus> = {},
): RevisionStatus {
  return {
    deploymentId,
    revision: 1,
    exists: true,
    desired: 2,
    ready,
    restarts: 0,
    replicas: Array.from({ length: 2 }, (_, i) => ({
      id: `r${i}`,
      url: `http://127.0.0.1:${9000 + i}`,
      ready: i < ready,
      restarts: 0,
      startedAt: '2026-12-01T00:00:00.000Z',
    })),
    ...overrides,
  };
}

const settle = () => new Promise((r) => setTimeout(r, 20));

async function activeObserver(
  feed: ManualFeed,
  client: Client,
  store = new MemoryLeaseStore(),
  holder = 'a',
  leaseMs = 10_000,
) {
  const observer = new Observer({
    feed,
    lease: store.lease(holder, leaseMs),
    client,
    renewEveryMs: 10,
  });
  observer.start();
  await waitUntil(() => observer.isActive);
  return observer;
}

async function waitUntil(predicate: () => boolean, ms = 2000) {
  const until = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > until) throw new Error('condition not reached');
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('the observer', () => {
  it('signals each change once, to the deployment workflow, and never a status that changed nothing', async () => {
    const feed = new ManualFeed();
    const { client, sent } = recordingClient();
    const observer = await activeObserver(feed, client);
    feed.handlers!.onStatus(status('ws/a', 0));
    feed.handlers!.onStatus(
      status('ws/a', 0, {
        replicas: status('ws/a', 0).replicas.map((r) => ({ ...r, url: 'http://127.0.0.1:1' })),
      }),
    ); // only URLs differ
    await settle();
    feed.handlers!.onStatus(status('ws/a', 1));
    await settle();
    feed.handlers!.onStatus(status('ws/a', 1));
    await settle();
    expect(sent.map((s) => [s.workflowId, s.status.ready])).toEqual([
      ['deployment:ws:a', 0],
      ['deployment:ws:a', 1],
    ]);
    expect(observer.stats.unchanged).toBe(2);
    await observer.stop();
  });

  it('sends only the newest status of a revision when changes come faster than signals', async () => {
    const feed = new ManualFeed();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const sent: number[] = [];
    const client = {
      workflow: {
        getHandle: () => ({
          signal: async (_d: unknown, s: RevisionStatus) => {
            await gate;
            sent.push(s.ready);
          },
        }),
      },
    } as unknown as Client;
    const observer = await activeObserver(feed, client);
    feed.handlers!.onStatus(status('ws/a', 0)); // in flight, held by the gate
    feed.handlers!.onStatus(status('ws/a', 1)); // queued...
    feed.handlers!.onStatus(status('ws/a', 2)); // ...and replaced
    release();
    await waitUntil(() => sent.length === 2);
    await settle();
    expect(sent).toEqual([0, 2]);
    await observer.stop();
  });

  it('tells a workflow its revision went away, on the feed or missing from a resync; a revision never signalled and gone is not signalled', async () => {
    const feed = new ManualFeed();
    const { client, sent } = recordingClient();
    const observer = await activeObserver(feed, client);
    feed.handlers!.onStatus(status('ws/a', 2));
    feed.handlers!.onStatus(status('ws/b', 2));
    await settle();
    feed.handlers!.onStatus({ ...status('ws/a', 0), exists: false, replicas: [] });
    feed.handlers!.onResync!([]); // b is not there any more either
    feed.handlers!.onStatus({ ...status('ws/c', 0), exists: false, replicas: [] });
    await settle();
    expect(
      sent
        .filter((s) => !s.status.exists)
        .map((s) => s.workflowId)
        .sort(),
    ).toEqual(['deployment:ws:a', 'deployment:ws:b']);
    await observer.stop();
  });

  it('keeps a signal that failed and sends it again later, not in a tight loop', async () => {
    const feed = new ManualFeed();
    let failures = 0;
    const { client, sent } = recordingClient({
      fail: () => (failures++ < 1 ? new Error('temporal unavailable') : undefined),
    });
    const observer = await activeObserver(feed, client);
    feed.handlers!.onStatus(status('ws/a', 1));
    await settle();
    expect(sent).toEqual([]);
    expect(failures).toBe(1); // tried once, waiting for the retry
    await waitUntil(() => sent.length === 1, 3000);
    expect(observer.stats.retried).toBe(1);
    await observer.stop();
  });

  it('forgets a deployment whose workflow is gone (no retry)', async () => {
    const feed = new ManualFeed();
    const { client, sent } = recordingClient({
      fail: () => new WorkflowNotFoundError('gone', 'deployment:ws:a', undefined),
    });
    const observer = await activeObserver(feed, client);
    feed.handlers!.onStatus(status('ws/a', 1));
    await settle();
    feed.handlers!.onStatus(status('ws/a', 1));
    await settle();
    expect(sent).toEqual([]);
    expect(observer.stats.retried).toBe(0);
    await observer.stop();
  });

  it('hands over: the successor signals only what changed since its predecessor last renewed', async () => {
    const store = new MemoryLeaseStore();
    const steady = [status('ws/a', 2), status('ws/b', 2), status('ws/c', 2)];
    const first = recordingClient();
    const a = await activeObserver(new ManualFeed(steady), first.client, store, 'a', 100);
    await waitUntil(() => first.sent.length === 3);
    await new Promise((r) => setTimeout(r, 50)); // a renewal leaves the checkpoint
    await a.crash();
    // b's view: a unchanged, b lost a replica, c is gone
    const second = recordingClient();
    const b = new Observer({
      feed: new ManualFeed([steady[0]!, status('ws/b', 1)]),
      lease: store.lease('b', 10),
      client: second.client,
      renewEveryMs: 10,
    });
    b.start();
    await waitUntil(() => b.isActive, 3000);
    await settle();
    expect(second.sent.map((s) => [s.workflowId, s.status.exists, s.status.ready]).sort()).toEqual([
      ['deployment:ws:b', true, 1],
      ['deployment:ws:c', false, 0],
    ]);
    await b.stop();
  });

  it('tells every deployment once when the runtime cannot be watched, and how its replicas are when it can again', async () => {
    const feed = new ManualFeed();
    const { client, sent } = recordingClient();
    const observer = new Observer({
      feed,
      lease: new MemoryLeaseStore().lease('a'),
      client,
      renewEveryMs: 10,
      unreachableAfterMs: 30,
    });
    observer.start();
    await waitUntil(() => observer.isActive);
    feed.handlers!.onStatus(status('ws/a', 2));
    feed.handlers!.onStatus(status('ws/b', 2));
    await settle();
    sent.length = 0;
    feed.handlers!.onError!(new Error('agent not reachable'));
    feed.handlers!.onError!(new Error('agent not reachable')); // retries do not tell again
    await new Promise((r) => setTimeout(r, 100));
    expect(
      sent.map((s) => [s.workflowId, (s.status as { unreachable?: string }).unreachable]),
    ).toEqual([
      ['deployment:ws:a', 'agent not reachable'],
      ['deployment:ws:b', 'agent not reachable'],
    ]);
    sent.length = 0;
    feed.handlers!.onRecovered!(); // back, nothing changed meanwhile: the same counts, told again
    await settle();
    expect(sent.map((s) => [s.workflowId, s.status.ready, 'unreachable' in s.status])).toEqual([
      ['deployment:ws:a', 2, false],
      ['deployment:ws:b', 2, false],
    ]);
    await observer.stop();
  });

  it('does not tell anyone when the watch recovers before the grace', async () => {
    const feed = new ManualFeed();
    const { client, sent } = recordingClient();
    const observer = new Observer({
      feed,
      lease: new MemoryLeaseStore().lease('a'),
      client,
      renewEveryMs: 10,
      unreachableAfterMs: 200,
    });
    observer.start();
    await waitUntil(() => observer.isActive);
    feed.handlers!.onStatus(status('ws/a', 2));
    await settle();
    feed.handlers!.onError!(new Error('blip'));
    feed.handlers!.onRecovered!();
    await new Promise((r) => setTimeout(r, 300));
    expect(sent).toHaveLength(1);
    await observer.stop();
  });

  it('stays active while its lease cannot be renewed (the runtime holding it is down) until the lease would have expired', async () => {
    let down = false;
    const inner = new MemoryLeaseStore().lease('a', 150);
    const lease = {
      holder: 'a',
      durationMs: 150,
      get checkpoint() {
        return inner.checkpoint;
      },
      tryAcquire: async (c?: string) => {
        if (down) throw new Error('lease store unreachable');
        return inner.tryAcquire(c);
      },
      release: () => inner.release(),
    };
    const { client } = recordingClient();
    const observer = new Observer({ feed: new ManualFeed(), lease, client, renewEveryMs: 10 });
    observer.start();
    await waitUntil(() => observer.isActive);
    down = true;
    await new Promise((r) => setTimeout(r, 60));
    expect(observer.isActive).toBe(true); // within the lease: nobody else can have it
    await waitUntil(() => !observer.isActive, 1000); // past it: stands by
    down = false;
    await waitUntil(() => observer.isActive, 1000); // and takes it again once it can
    await observer.stop();
  });

  it('stands by while another holds the lease, and watches nothing meanwhile', async () => {
    const store = new MemoryLeaseStore();
    const { client } = recordingClient();
    const a = await activeObserver(new ManualFeed(), client, store, 'a');
    const feed = new ManualFeed();
    const b = new Observer({ feed, lease: store.lease('b'), client, renewEveryMs: 10 });
    b.start();
    await new Promise((r) => setTimeout(r, 50));
    expect(b.isActive).toBe(false);
    expect(feed.handlers).toBeUndefined();
    await a.stop(); // released: b takes over at its next try
    await waitUntil(() => b.isActive);
    expect(feed.handlers).toBeDefined();
    await b.stop();
  });
});

describe('a BYOC cluster feed', () => {
  it('connects through the current provider (a fresh token) again before the token expires, stopping the old watch', async () => {
    const feeds: { started: boolean; stopped: boolean }[] = [];
    const provider = async () =>
      ({
        revisionFeed: () => {
          const state = { started: false, stopped: false };
          feeds.push(state);
          return {
            start: async () => void (state.started = true),
            stop: async () => void (state.stopped = true),
          };
        },
      }) as unknown as RuntimeProvider;
    const feed = new RefreshingFeed(provider, 30);
    await feed.start({ onStatus: () => undefined });
    await waitUntil(() => feeds.length >= 3);
    await feed.stop();
    const last = feeds.at(-1)!;
    expect(feeds.slice(0, -1).every((f) => f.started && f.stopped)).toBe(true);
    expect(last.stopped).toBe(true);
  });
});
