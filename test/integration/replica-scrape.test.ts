/**
 * Load measured at the replicas, end to end: real simulated model servers (the compiled
 * runtime/model-server) on 127.0.0.1 take requests sent straight to them, their /metrics is
 * scraped, and the observation comes out of what they report. Scrape times are given (logical
 * seconds), so the rates are exact; latencies are checked against bounds the requests set.
 */
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ReplicaLoad } from '../../observer/replica-load';
import { replicaSamples, type ReplicaSamples } from '../../observer/replica-metrics';
import { closeScrapePool, scrapeReplica } from '../../observer/scrape';
import { DIST, freePort, startNode, type RunningProcess } from '../helpers/processes';

const T = Date.parse('2026-01-01T00:00:00Z');
const MS_PER_TOKEN = 25;

const servers: RunningProcess[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.stop('SIGKILL')));
  await closeScrapePool();
});

async function startModelServer(port: number, maxNumSeqs = 8): Promise<string> {
  const url = `http://127.0.0.1:${port}`;
  servers.push(
    await startNode(
      path.join(DIST, 'runtime', 'model-server', 'main.js'),
      {
        MODEL_SERVER_HOST: '127.0.0.1',
        MODEL_SERVER_PORT: String(port),
        MODEL_SERVER_MODEL: 'llama-3.1-8b-instruct',
        MODEL_SERVER_LOAD_MS: '0',
        MODEL_SERVER_MS_PER_TOKEN: String(MS_PER_TOKEN),
        MODEL_SERVER_MAX_NUM_SEQS: String(maxNumSeqs),
      },
      async () => (await fetch(`${url}/health`)).ok,
      'the model server',
    ),
  );
  return url;
}

/** A completion of `maxTokens` tokens; resolves with how long the client waited (ms). */
async function complete(url: string, maxTokens: number): Promise<number> {
  const started = performance.now();
  const res = await fetch(`${url}/v1/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ prompt: 'Hello', max_tokens: maxTokens }),
  });
  expect(res.status).toBe(200);
  await res.text();
  return performance.now() - started;
}

/** One scrape (retried until the replica answers: a failed scrape is not what is tested here). */
async function scrape(url: string): Promise<ReplicaSamples> {
  return vi.waitFor(
    async () => {
      const samples = await scrapeReplica(url);
      if (!samples) throw new Error(`no scrape of ${url}`);
      return replicaSamples(samples);
    },
    { timeout: 5000, interval: 20 },
  );
}

describe('load measured at a real model server', () => {
  it('concurrency, throughput and latency of requests sent straight to it', async () => {
    const decodeTokens = 100; // 2.5 s of decoding a request
    const url = await startModelServer(await freePort(), 2);
    const load = new ReplicaLoad();

    const idle = await scrape(url);
    expect(idle).toEqual({
      running: 0,
      waiting: 0,
      requestSuccess: 0,
      latencySumSeconds: 0,
      latencyCount: 0,
      memoryPercent: 0,
    });
    load.record(url, T, idle);

    // Five at once on two decode slots: two run, three wait.
    const requests = Array.from({ length: 5 }, () => complete(url, decodeTokens));
    await vi.waitFor(
      async () => {
        const s = await scrape(url);
        expect((s.running ?? 0) + (s.waiting ?? 0)).toBe(5);
      },
      { timeout: 2000, interval: 20 },
    );
    const busy = await scrape(url);
    expect(busy).toMatchObject({ running: 2, waiting: 3, requestSuccess: 0, memoryPercent: 100 });
    load.record(url, T + 1000, busy);

    const clientMs = await Promise.all(requests);
    const done = await scrape(url);
    expect(done).toMatchObject({ running: 0, waiting: 0, requestSuccess: 5, latencyCount: 5 });
    load.record(url, T + 10_000, done);

    const observation = load.observe([url], T + 10_000)!;
    expect(observation.replicas).toHaveLength(1);
    const [replica] = observation.replicas;
    expect(replica!.concurrency).toBe(5 / 3); // scrapes of 0, 5 and 0 requests
    expect(replica!.throughput).toBe(0.5); // 5 requests in 10 s
    expect(replica!.memory).toBe(0);
    // Each request decoded for 2.5 s; the server measured each inside the client's wait.
    const meanClientMs = clientMs.reduce((a, b) => a + b, 0) / clientMs.length;
    expect(replica!.latencyMs).toBeGreaterThanOrEqual(decodeTokens * MS_PER_TOKEN - 5);
    expect(replica!.latencyMs).toBeLessThanOrEqual(meanClientMs);
    expect(observation.lastRequestAt).toBe(new Date(T + 10_000).toISOString());
  });

  it('two replicas, each with its own traffic', async () => {
    const [a, b] = [
      await startModelServer(await freePort()),
      await startModelServer(await freePort()),
    ];
    const load = new ReplicaLoad();
    for (const url of [a, b]) load.record(url, T, await scrape(url));
    await Promise.all([
      ...Array.from({ length: 4 }, () => complete(a, 1)),
      ...Array.from({ length: 2 }, () => complete(b, 1)),
    ]);
    for (const url of [a, b]) load.record(url, T + 2000, await scrape(url));
    const observation = load.observe([a, b], T + 2000)!;
    expect(observation.replicas.map((r) => [r.replica, r.throughput])).toEqual([
      [a, 2],
      [b, 1],
    ]);
  });

  it('a replica restarted at the same address: its counters count from zero', async () => {
    const port = await freePort();
    let url = await startModelServer(port);
    const load = new ReplicaLoad();
    load.record(url, T, await scrape(url));
    await Promise.all(Array.from({ length: 3 }, () => complete(url, 1)));
    load.record(url, T + 1000, await scrape(url));

    await servers.pop()!.stop();
    url = await startModelServer(port);
    await Promise.all(Array.from({ length: 2 }, () => complete(url, 1)));
    const restarted = await scrape(url);
    expect(restarted.requestSuccess).toBe(2);
    load.record(url, T + 2000, restarted);

    const [replica] = load.observe([url], T + 2000)!.replicas;
    expect(replica!.throughput).toBe(2.5); // 3 + 2 requests in 2 s (read naively: 3 - 1)
    expect(replica!.latencyMs).toBeGreaterThanOrEqual(MS_PER_TOKEN - 5);
  });
});
