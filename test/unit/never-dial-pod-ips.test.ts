/**
 * Nothing in the control plane dials a pod IP it has no business reaching: a BYOC cluster's pods
 * (the customer's network) are reached only through the cluster's edge gateway, and the
 * collector (the observer's load scrapes) dials loopback replicas only unless told otherwise,
 * and BYOC clusters' never. Pods here are at 10.0.3.x, as kwok's are: every connection this
 * process opens goes through a guard that refuses private-range addresses before anything is
 * sent, and records them (test/helpers/private-network.ts), so the checks below hold even when
 * the code under test is wrong.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Client } from '@temporalio/client';
import Fastify from 'fastify';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { ByocClusters, EdgeGateway } from '../../activities/providers/byoc';
import type { RevisionStatus, RuntimeProvider } from '../../activities/providers/provider';
import { useZodSchemas } from '../../api/app';
import { DomainError } from '../../api/deployment-service';
import { errorHandler } from '../../api/errors';
import { Gateway } from '../../api/gateway';
import { TrafficMeter } from '../../api/metrics/traffic-meter';
import { ReplicaEndpoints } from '../../api/replica-endpoints';
import { endpointRoutes } from '../../api/routes/endpoints';
import { startByocObservers } from '../../observer/byoc';
import type { RevisionFeed, RevisionFeedHandlers } from '../../observer/feed';
import { LoadObserver } from '../../observer/load-observer';
import { MemoryLeaseStore } from '../../observer/memory-lease';
import { closeScrapePool, scrapeReplica } from '../../observer/scrape';
import type { DeploymentView } from '../../workflows/domain/deployment';
import { validateSpec } from '../../workflows/domain/spec';
import { byocSpec } from '../helpers/catalog';
import { guardNetwork, isPrivateAddress, type NetworkGuard } from '../helpers/private-network';

// The real scrape, watched: which URLs it was asked for, with which options.
vi.mock('../../observer/scrape', async (importOriginal) => {
  const actual = await importOriginal<typeof import('../../observer/scrape')>();
  return { ...actual, scrapeReplica: vi.fn(actual.scrapeReplica) };
});
const scrapes = vi.mocked(scrapeReplica);

const POD_URLS = ['http://10.0.3.7:8000', 'http://10.0.3.8:8000'];
const METRICS = '# TYPE vllm:num_requests_running gauge\nvllm:num_requests_running 2\n';

let guard: NetworkGuard;
beforeAll(() => {
  guard = guardNetwork();
});
afterEach(async () => {
  expect(guard.attempts, 'connections tried to private-range addresses').toEqual([]);
  scrapes.mockClear();
  await closeScrapePool();
});
afterAll(() => guard.restore());

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

/** An HTTP server on `host` that records the requests it gets and answers `body`. */
async function server(body: string, host = '127.0.0.1') {
  const received: { url: string; authorization?: string }[] = [];
  let connections = 0;
  const s = http.createServer((req, res) => {
    received.push({
      url: req.url ?? '',
      ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}),
    });
    res.end(body);
  });
  s.on('connection', () => (connections += 1));
  await new Promise<void>((resolve) => s.listen(0, host, resolve));
  closers.push(async () => {
    s.closeAllConnections();
    await new Promise((resolve) => s.close(resolve));
  });
  return {
    url: `http://${host}:${(s.address() as AddressInfo).port}`,
    received,
    connections: () => connections,
  };
}

describe('the network guard these tests rely on', () => {
  it.each([
    ['10.0.3.7', true],
    ['172.16.0.1', true],
    ['172.31.255.254', true],
    ['172.32.0.1', false],
    ['192.168.1.20', true],
    ['[::ffff:10.0.0.5]', true],
    ['fd00::1', true],
    ['127.0.100.2', false],
    ['::1', false],
    ['8.8.8.8', false],
  ])('%s is private: %s', (address, expected) => {
    expect(isPrivateAddress(address)).toBe(expected);
  });

  it('refuses, before anything is sent, a connection to a blocked address, by IP or by name', async () => {
    // Checked on loopback: a blocked 127.0.0.9 stands for a private address.
    const target = await server('hello', '127.0.0.9');
    const local = guardNetwork((a) => a === '127.0.0.9');
    try {
      await expect(fetch(`${target.url}/`)).rejects.toThrow();
      const { port } = new URL(target.url);
      expect(local.attempts).toEqual([`127.0.0.9:${port}`]);
    } finally {
      local.restore();
    }
    const byName = guardNetwork((a) => a === '127.0.0.1' || a === '::1');
    const named = await server('hello');
    try {
      const { port } = new URL(named.url);
      await expect(fetch(`http://localhost:${port}/`)).rejects.toThrow();
      expect(byName.attempts.join()).toMatch(/^localhost \((127\.0\.0\.1|::1)\):\d+/);
    } finally {
      byName.restore();
    }
    expect(target.connections()).toBe(0);
    expect(named.connections()).toBe(0);
    // and once restored, connections are made again
    expect(await (await fetch(`${target.url}/`)).text()).toBe('hello');
  });
});

describe("the control plane's gateway and a BYOC deployment whose pods are at 10.0.3.x", () => {
  const TOKEN = 'edge-token-0123456789abcdef0123456789abcdef';

  async function gatewayFor(edge: EdgeGateway | undefined) {
    const clusterAsks: string[] = [];
    const replicas = new ReplicaEndpoints({
      dedicated: {
        endpoints: async () => ({ revision: 1, urls: [] }),
      } as unknown as RuntimeProvider,
      clusters: {
        provider: async (_ws: string, cluster: string) => {
          clusterAsks.push(cluster);
          return {
            endpoints: async () => ({ revision: 1, urls: POD_URLS }),
          } as unknown as RuntimeProvider;
        },
        edgeGateway: () => edge,
      } as unknown as ByocClusters,
      deployments: {
        get: async (workspace: string, name: string) => {
          if (name !== 'own') throw new DomainError('not_found', 'no such deployment');
          const parsed = validateSpec(byocSpec());
          if (!parsed.ok) throw new Error('bad spec');
          return { name, workspace, state: 'running', spec: parsed.value } as DeploymentView;
        },
      },
    });
    const app = Fastify();
    useZodSchemas(app);
    app.setErrorHandler(errorHandler);
    await app.register(endpointRoutes, {
      gateway: new Gateway({ replicas, meter: new TrafficMeter(), wake: () => undefined }),
    });
    await app.listen({ host: '127.0.0.1', port: 0 });
    closers.push(() => app.close());
    const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    return { url, clusterAsks };
  }

  const infer = (base: string) =>
    fetch(`${base}/v1/endpoints/ws/own/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer client-key' },
      body: '{"prompt":"hi"}',
    });

  it("sends its requests to the cluster's edge gateway, with the edge's token, never to a pod", async () => {
    const edge = await server('{"choices":[{"text":"from the edge"}]}');
    const { url } = await gatewayFor({
      cluster: 'team-eks',
      url: edge.url,
      tokenSecret: 'edge-team',
      token: TOKEN,
    });
    const res = await infer(url);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('{"choices":[{"text":"from the edge"}]}');
    expect(edge.received).toEqual([
      { url: '/v1/endpoints/ws/own/v1/completions', authorization: `Bearer ${TOKEN}` },
    ]);
  });

  it('answers 503 naming the missing edge gateway configuration when its cluster has none', async () => {
    const { url, clusterAsks } = await gatewayFor(undefined);
    const res = await infer(url);
    expect(res.status).toBe(503);
    expect(await res.json()).toEqual({
      error: {
        code: 'unavailable',
        message: expect.stringMatching(
          /^deployment "own" runs on BYOC cluster "team-eks", which has no edge gateway: .*"gateway": \{"url", "tokenSecret"\} for cluster "team-eks" in CLUSTERS_FILE$/,
        ),
      },
    });
    expect(clusterAsks).toEqual([]);
  });
});

/** A revision with ready replicas at `urls`. */
function ready(deploymentId: string, urls: string[]): RevisionStatus {
  return {
    deploymentId,
    revision: 1,
    exists: true,
    desired: urls.length,
    ready: urls.length,
    restarts: 0,
    replicas: urls.map((url, i) => ({
      id: `r${i}`,
      url,
      ready: true,
      restarts: 0,
      startedAt: '2026-12-01T00:00:00.000Z',
    })),
  };
}

/** A Temporal client that accepts every signal and query (what the load observer sends is not the point). */
const quietClient = {
  withDeadline: <T>(_deadline: number, fn: () => Promise<T>) => fn(),
  workflow: {
    getHandle: () => ({ signal: async () => undefined, query: async () => true }),
  },
} as unknown as Client;

describe('the collector (the observer scraping replicas)', () => {
  it('scrapes loopback replicas and skips pod IPs by default', async () => {
    const replica = await server(METRICS);
    const load = new LoadObserver({ client: quietClient });
    load.update(ready('ws/a', [replica.url, ...POD_URLS]));
    await load.tick(Date.now());
    expect(replica.received.map((r) => r.url)).toEqual(['/metrics']);
    expect(scrapes.mock.calls.map(([url]) => url)).toEqual([replica.url]);
    expect(load.stats.skippedNotLoopback).toBe(2);
  });

  it('passes OBSERVER_SCRAPE_ANY_ADDRESS (allowNonLoopback) on to the scrape itself', async () => {
    const replica = await server(METRICS);
    for (const allowNonLoopback of [true, false]) {
      scrapes.mockClear();
      const load = new LoadObserver({ client: quietClient, allowNonLoopback });
      load.update(ready('ws/a', [replica.url]));
      await load.tick(Date.now());
      expect(scrapes.mock.calls).toEqual([[replica.url, { allowNonLoopback }]]);
    }
  });

  it("a BYOC cluster's observer never scrapes its pod IPs, even when told to scrape any address", async () => {
    const replica = await server(METRICS);
    let handlers: RevisionFeedHandlers | undefined;
    const feed: RevisionFeed = {
      start: async (h) => {
        handlers = h;
        h.onStatus(ready('ws/own', [replica.url, ...POD_URLS]));
      },
      stop: async () => {
        handlers = undefined;
      },
    };
    const leases = new MemoryLeaseStore();
    const clusters = {
      observable: () => [{ key: 'eks/team', workspace: 'ws', cluster: 'team-eks' }],
      provider: async () => ({
        revisionFeed: () => feed,
        observerLease: (h: string) => leases.lease(h),
      }),
    } as unknown as ByocClusters;
    const [observer] = startByocObservers(clusters, quietClient, 'holder', {
      load: { allowNonLoopback: true, intervalMs: 20 },
    });
    try {
      const until = Date.now() + 10_000;
      while (replica.received.length < 2 && Date.now() < until)
        await new Promise((r) => setTimeout(r, 10));
      expect(handlers).toBeDefined();
      expect(replica.received.length).toBeGreaterThanOrEqual(2);
      const asked = scrapes.mock.calls.map(([url]) => url);
      expect(asked.length).toBeGreaterThan(0);
      expect(asked.every((url) => url === replica.url)).toBe(true);
      expect(scrapes.mock.calls.every(([, options]) => options?.allowNonLoopback === false)).toBe(
        true,
      );
      expect(observer?.load?.stats.skippedNotLoopback).toBeGreaterThan(0);
    } finally {
      await observer?.stop();
    }
  });
});
