/**
 * Scraping a replica's /metrics: loopback only unless allowed (refused without dialling), a
 * shared keep-alive pool, and undefined, never a throw, for any failure.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  closeScrapePool,
  isLoopbackUrl,
  mayScrape,
  scrapeReplica,
  type ScrapeFetch,
} from '../../observer/scrape';

const METRICS = [
  '# TYPE vllm:num_requests_running gauge',
  'vllm:num_requests_running{model_name="m"} 3',
  '',
].join('\n');

/** A fetch that answers `body` with `status` and records what it was asked. */
function fakeFetch(body = METRICS, status = 200): { fetch: ScrapeFetch; asked: string[] } {
  const asked: string[] = [];
  return {
    asked,
    fetch: (url) => {
      asked.push(url);
      return Promise.resolve({ ok: status < 300, status, text: () => Promise.resolve(body) });
    },
  };
}

describe('which replicas may be dialled', () => {
  it.each([
    ['http://127.0.0.1:8000', true],
    ['http://127.3.2.1:8000', true],
    ['http://[::1]:8000', true],
    ['http://[::ffff:127.0.0.1]:8000', true],
    ['http://localhost:8000', true],
    ['https://127.0.0.1', true],
    ['http://10.0.3.7:8000', false], // kwok's fake pod IPs
    ['http://[::ffff:10.0.3.7]:8000', false], // the same, IPv4-mapped
    ['http://172.16.5.4:8000', false],
    ['http://192.168.1.20:8000', false],
    ['http://127.0.100.2:8000', true], // kwok's pods in the loopback test range (LOOPBACK_PODS)
    ['http://[fd00::1]:8000', false],
    ['http://model.svc.cluster.local:8000', false],
    ['http://127.0.0.1.example.com', false],
    ['not a url', false],
  ])('%s: loopback %s', (url, loopback) => {
    expect(isLoopbackUrl(url)).toBe(loopback);
    expect(mayScrape(url)).toBe(loopback && url !== 'not a url');
  });

  it.each([
    ['http://10.0.3.7:8000', true],
    ['https://model.svc.cluster.local', true],
    ['ftp://127.0.0.1/metrics', false],
    ['file:///etc/passwd', false],
  ])('with allowNonLoopback, %s: %s', (url, allowed) => {
    expect(mayScrape(url, true)).toBe(allowed);
  });
});

describe('scrapeReplica', () => {
  it('refuses a non-loopback replica without dialling it', async () => {
    const { fetch, asked } = fakeFetch();
    const logged: string[] = [];
    const result = await scrapeReplica('http://10.0.3.7:8000', {
      fetch,
      log: (m) => logged.push(m),
    });
    expect(result).toBeUndefined();
    expect(asked).toEqual([]);
    expect(logged.join('\n')).toMatch(/allowNonLoopback/);
  });

  it('dials it when allowNonLoopback is set', async () => {
    const { fetch, asked } = fakeFetch();
    const result = await scrapeReplica('http://10.0.3.7:8000/', { fetch, allowNonLoopback: true });
    expect(asked).toEqual(['http://10.0.3.7:8000/metrics']);
    expect(result).toEqual([
      { name: 'vllm:num_requests_running', labels: { model_name: 'm' }, value: 3 },
    ]);
  });

  it.each<[string, ScrapeFetch]>([
    ['a 503', fakeFetch(METRICS, 503).fetch],
    ['a body without samples (not a metrics page)', fakeFetch('<html>hello</html>').fetch],
    ['a refused connection', () => Promise.reject(new Error('connect ECONNREFUSED'))],
    ['a body that breaks the parser', fakeFetch('vllm:num_requests_running .\n').fetch],
  ])('gives undefined for %s', async (_sentence, fetch) => {
    const logged: string[] = [];
    expect(
      await scrapeReplica('http://127.0.0.1:1', { fetch, log: (m) => logged.push(m) }),
    ).toBeUndefined();
    expect(logged).toHaveLength(1);
  });
});

describe('scrapeReplica over the shared pool, against a local server', () => {
  let server: http.Server;
  let url: string;
  let connections = 0;
  let answer: (res: http.ServerResponse) => void = () => undefined;

  beforeAll(async () => {
    server = http.createServer((_req, res) => answer(res));
    server.on('connection', () => (connections += 1));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterEach(async () => {
    await closeScrapePool();
    connections = 0;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it('reuses one connection for successive scrapes (keep-alive)', async () => {
    answer = (res) => res.end(METRICS);
    for (let i = 0; i < 3; i++) {
      expect(await scrapeReplica(url)).toEqual([
        { name: 'vllm:num_requests_running', labels: { model_name: 'm' }, value: 3 },
      ]);
    }
    expect(connections).toBe(1);
  });

  it('gives undefined when the replica does not answer within the timeout', async () => {
    answer = () => undefined; // never answers
    expect(await scrapeReplica(url, { timeoutMs: 50 })).toBeUndefined();
  });

  it('gives undefined when nothing listens there', async () => {
    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    expect(await scrapeReplica(`http://127.0.0.1:${port}`)).toBeUndefined();
  });
});
