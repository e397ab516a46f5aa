/**
 * The gateway's proxy against real local replicas (HTTP servers on 127.0.0.1): which replica
 * gets a request (least outstanding requests, ties round robin), answers streamed as they come,
 * connections kept alive and reused, what is passed on and what is not, retries of requests a
 * replica never received, and the TrafficMeter hooks. The gateway's routes listen on 127.0.0.1
 * too, so a real client reads the streamed answers.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { useZodSchemas } from '../../../api/app';
import type { DeploymentService } from '../../../api/deployment-service';
import { errorHandler } from '../../../api/errors';
import { Gateway } from '../../../api/gateway';
import { leastOutstanding } from '../../../api/replica-choice';
import { TrafficMeter } from '../../../api/metrics/traffic-meter';
import { endpointRoutes } from '../../../api/routes/endpoints';
import type { DeploymentView } from '../../../workflows/domain/deployment';
import { validateSpec } from '../../../workflows/domain/spec';

const running = (() => {
  const parsed = validateSpec({
    model: 'm',
    cloud: { type: 'dedicated', accelerator: { type: 'L4' } },
  });
  if (!parsed.ok) throw new Error('bad spec');
  return {
    name: 'd',
    workspace: 'ws',
    state: 'running',
    health: 'Healthy',
    replicas: { desired: 1, ready: 0 },
    spec: parsed.value,
  } as DeploymentView;
})();

/** A TrafficMeter that records the gateway's calls, and lets a test wait for one. */
class RecordingMeter extends TrafficMeter {
  readonly calls: string[] = [];
  private readonly waiting = new Set<() => void>();

  override begin(deployment: string, replica: string, now: number) {
    const end = super.begin(deployment, replica, now);
    this.record(`begin ${deployment} ${replica}`);
    return (endedAt: number, completed = true) => {
      end(endedAt, completed);
      this.record(`end ${deployment} ${replica}${completed ? '' : ' (not received)'}`);
    };
  }

  /** Resolves once `predicate` holds (checked after every call the gateway makes). */
  async until(predicate: (calls: string[]) => boolean): Promise<void> {
    while (!predicate(this.calls)) await new Promise<void>((resolve) => this.waiting.add(resolve));
  }

  private record(call: string): void {
    this.calls.push(call);
    for (const resolve of this.waiting) resolve();
    this.waiting.clear();
  }
}

/** A local replica: its URL, the requests it received, the connections it accepted. */
interface Replica {
  url: string;
  server: http.Server;
  requests: { method: string; url: string; headers: http.IncomingHttpHeaders; body: Buffer }[];
  connections: number;
}

const servers: (http.Server | https.Server)[] = [];
const apps: FastifyInstance[] = [];
afterEach(async () => {
  await Promise.all(apps.splice(0).map((app) => app.close()));
});
afterAll(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

/** Waiting for the next request any replica receives. */
const arrivals: (() => void)[] = [];
const nextArrival = () => new Promise<void>((resolve) => arrivals.push(resolve));

/** A replica answering with `handle` once it has read the whole request. */
async function replica(
  handle: (req: http.IncomingMessage, res: http.ServerResponse) => void,
): Promise<Replica> {
  const server = http.createServer();
  const r: Replica = { url: '', server, requests: [], connections: 0 };
  server.on('connection', () => (r.connections += 1));
  server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      r.requests.push({
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks),
      });
      handle(req, res);
      for (const resolve of arrivals.splice(0)) resolve();
    });
  });
  servers.push(server);
  r.url = await new Promise<string>((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`),
    ),
  );
  return r;
}

/** The gateway's routes over these replicas (in this order), listening on 127.0.0.1. */
async function gatewayOver(urls: () => string[], meter = new RecordingMeter()) {
  const app = Fastify();
  useZodSchemas(app); // as buildApp does
  app.setErrorHandler(errorHandler);
  await app.register(endpointRoutes, {
    gateway: new Gateway({
      replicas: { endpoints: async () => ({ revision: 1, urls: urls() }) },
      deployments: { get: async () => running } as unknown as DeploymentService,
      meter,
      wake: () => undefined,
      holdTimeoutMs: 200,
      pollMs: 10,
    }),
  });
  apps.push(app);
  const address = await app.listen({ host: '127.0.0.1', port: 0 });
  return { url: `${address}/v1/endpoints/ws/d`, meter };
}

const ok = (_req: http.IncomingMessage, res: http.ServerResponse) =>
  res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');

describe('leastOutstanding', () => {
  const load = (counts: Record<string, number>) => (url: string) => counts[url] ?? 0;
  it.each([
    [
      'the replica with the fewest outstanding requests',
      ['a', 'b', 'c'],
      { a: 2, b: 0, c: 1 },
      2,
      1,
    ],
    ['a tie goes to the first after the last chosen', ['a', 'b', 'c'], {}, 0, 1],
    ['round robin wraps around', ['a', 'b', 'c'], {}, 2, 0],
    ['a tie among the least loaded only', ['a', 'b', 'c'], { a: 1 }, 1, 2],
    ['no replica chosen before: the first', ['a', 'b'], {}, -1, 0],
    ['a last index past the list (it shrank): still one of it', ['a', 'b'], {}, 4, 1],
  ])('%s', (_sentence, candidates, counts, last, chosen) => {
    expect(leastOutstanding(candidates, load(counts), last)).toBe(chosen);
  });
});

describe('choosing a replica', () => {
  it('a replica holding its requests gets no new ones while another has none outstanding', async () => {
    const slow = await replica(() => undefined); // never answers: every request stays outstanding
    const fast = await replica(ok);
    const { url, meter } = await gatewayOver(() => [slow.url, fast.url]);
    const pending: Promise<unknown>[] = [];
    try {
      for (let i = 0; i < 20; i++) {
        const arrival = nextArrival();
        pending.push(
          fetch(`${url}/v1/completions`, { method: 'POST', body: `${i}` }).catch(() => undefined),
        );
        await arrival;
        // The fast replica's answer is through: its request no longer counts as outstanding.
        await meter.until(
          (calls) =>
            calls.filter((c) => c.startsWith(`end ws/d ${fast.url}`)).length ===
            fast.requests.length,
        );
      }
      // Round robin would have sent 10 of the 20 to the replica that holds them. Least
      // outstanding sends it the first (both at 0: a tie) and none after.
      expect(slow.requests.map((r) => r.body.toString())).toEqual(['0']);
      expect(fast.requests).toHaveLength(19);
    } finally {
      // The held requests end (the gateway sends them to the other replica: none was answered).
      slow.server.closeAllConnections();
      await Promise.all(pending);
    }
  });

  it('replicas with as many outstanding requests take turns', async () => {
    const a = await replica(ok);
    const b = await replica(ok);
    const { url } = await gatewayOver(() => [a.url, b.url]);
    const answeredBy: string[] = [];
    for (let i = 0; i < 6; i++) {
      const before = a.requests.length;
      await (await fetch(`${url}/v1/models`)).text();
      answeredBy.push(a.requests.length > before ? 'a' : 'b');
    }
    expect(answeredBy).toEqual(['a', 'b', 'a', 'b', 'a', 'b']);
  });
});

describe('streaming and connections', () => {
  it("passes the replica's answer on as it comes: the first chunk arrives before the replica ends it", async () => {
    let finish!: () => void;
    const finished = new Promise<void>((resolve) => (finish = resolve));
    let ended = false;
    const streaming = await replica((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('data: first\n\n');
      void finished.then(() => {
        ended = true;
        res.end('data: [DONE]\n\n');
      });
    });
    const { url } = await gatewayOver(() => [streaming.url]);
    const res = await fetch(`${url}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"stream":true}',
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/event-stream');
    const reader = res.body!.getReader();
    const first = await reader.read();
    expect(new TextDecoder().decode(first.value)).toBe('data: first\n\n');
    expect(ended).toBe(false);
    finish();
    let rest = '';
    for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) {
      rest += new TextDecoder().decode(chunk.value);
    }
    expect(rest).toBe('data: [DONE]\n\n');
  });

  it('keeps connections to a replica alive: twenty requests one after another, one connection', async () => {
    const kept = await replica(ok);
    const { url } = await gatewayOver(() => [kept.url]);
    for (let i = 0; i < 20; i++) {
      const res = await fetch(`${url}/v1/completions`, { method: 'POST', body: '{}' });
      expect(await res.text()).toBe('ok');
    }
    expect(kept.requests).toHaveLength(20);
    expect(kept.connections).toBe(1);
  });
});

describe('what is passed on', () => {
  it('any content type and body byte for byte, the path as encoded, the query; not our key nor hop-by-hop headers', async () => {
    const echo = await replica((_req, res) =>
      res
        .writeHead(201, {
          'content-type': 'application/octet-stream',
          'x-replica-id': 'echo',
          'keep-alive': 'timeout=5',
        })
        .end(Buffer.from([0, 255, 1])),
    );
    const { url } = await gatewayOver(() => [echo.url]);
    const body = Buffer.concat([Buffer.from('--xyz\r\n'), Buffer.from([0, 1, 254, 255])]);
    const res = await new Promise<http.IncomingMessage & { body: Buffer }>((resolve, reject) => {
      const req = http.request(
        `${url}/v1/audio/a%2Fb%3F.wav?lang=en&x=%20`,
        {
          method: 'POST',
          headers: {
            authorization: 'Bearer our-key',
            'proxy-authorization': 'Basic x',
            'content-type': 'multipart/form-data; boundary=xyz',
            te: 'trailers',
            'x-request-id': 'r1',
          },
        },
        (answer) => {
          const chunks: Buffer[] = [];
          answer.on('data', (c: Buffer) => chunks.push(c));
          answer.on('end', () => resolve(Object.assign(answer, { body: Buffer.concat(chunks) })));
        },
      );
      req.on('error', reject);
      req.end(body);
    });
    expect(res.statusCode).toBe(201);
    expect(res.headers['x-replica-id']).toBe('echo');
    expect(res.headers['keep-alive']).not.toBe('timeout=5');
    expect([...res.body]).toEqual([0, 255, 1]);

    const [received] = echo.requests;
    expect(received?.method).toBe('POST');
    expect(received?.url).toBe('/v1/audio/a%2Fb%3F.wav?lang=en&x=%20');
    expect(received?.headers['content-type']).toBe('multipart/form-data; boundary=xyz');
    expect(received?.headers['x-request-id']).toBe('r1');
    expect(received?.body.equals(body)).toBe(true);
    expect(received?.headers).not.toHaveProperty('authorization');
    expect(received?.headers).not.toHaveProperty('proxy-authorization');
    expect(received?.headers).not.toHaveProperty('te');
  });

  it('a body without a content type goes without one', async () => {
    const echo = await replica(ok);
    const { url } = await gatewayOver(() => [echo.url]);
    await new Promise<void>((resolve, reject) => {
      const req = http.request(`${url}/v1/raw`, { method: 'PUT' }, (answer) =>
        answer.resume().on('end', resolve),
      );
      req.on('error', reject);
      req.end('raw bytes');
    });
    expect(echo.requests[0]?.body.toString()).toBe('raw bytes');
    expect(echo.requests[0]?.headers).not.toHaveProperty('content-type');
  });

  it("checks a replica's TLS certificate (reply-from would not): a self-signed one is a 502", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'md-gateway-tls-'));
    try {
      const [key, cert] = [path.join(dir, 'key.pem'), path.join(dir, 'cert.pem')];
      const openssl = (args: string[]) => {
        try {
          execFileSync('openssl', args, { stdio: 'ignore' });
        } catch (err) {
          throw new Error(
            `this test makes a self-signed certificate with the \`openssl\` command, which failed or is missing (Debian: apt-get install openssl): ${(err as Error).message}`,
          );
        }
      };
      openssl([
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-days',
        '1',
        '-subj',
        '/CN=127.0.0.1',
        '-keyout',
        key,
        '-out',
        cert,
      ]);
      let received = 0;
      const server = https.createServer(
        { key: fs.readFileSync(key), cert: fs.readFileSync(cert) },
        (_req, res) => {
          received += 1;
          res.end('secret');
        },
      );
      servers.push(server);
      const port = await new Promise<number>((resolve) =>
        server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)),
      );
      const { url } = await gatewayOver(() => [`https://127.0.0.1:${port}`]);
      const res = await fetch(`${url}/v1/models`);
      expect(res.status).toBe(502);
      expect(await res.json()).toMatchObject({
        error: { code: 'bad_gateway', message: expect.stringMatching(/self[- ]signed/) },
      });
      expect(received).toBe(0);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a replica that answers 503 is answered 503, not retried', async () => {
    const loading = await replica((_req, res) => res.writeHead(503).end('loading'));
    const { url } = await gatewayOver(() => [loading.url]);
    const res = await fetch(`${url}/v1/models`);
    expect(res.status).toBe(503);
    expect(await res.text()).toBe('loading');
    expect(loading.requests).toHaveLength(1);
  });
});

describe('a replica that never received the request', () => {
  it('one that resets the connection before answering: the request, body and all, goes to another; the meter hears both', async () => {
    const resetting = await replica((req) => req.socket.destroy());
    const live = await replica((req, res) => res.writeHead(200).end(`live ${req.method}`));
    const meter = new RecordingMeter();
    const { url } = await gatewayOver(() => [resetting.url, live.url], meter);
    const res = await fetch(`${url}/v1/completions`, { method: 'POST', body: '{"p":1}' });
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('live POST');
    expect(live.requests[0]?.body.toString()).toBe('{"p":1}');
    await meter.until((calls) => calls.length === 4);
    expect(meter.calls).toEqual([
      `begin ws/d ${resetting.url}`,
      `end ws/d ${resetting.url} (not received)`,
      `begin ws/d ${live.url}`,
      `end ws/d ${live.url}`,
    ]);
  });

  it('none ready: held, then 503 in the error shape', async () => {
    const { url } = await gatewayOver(() => []);
    const res = await fetch(`${url}/v1/models`);
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('10');
    expect(await res.json()).toMatchObject({
      error: { code: 'unavailable', message: expect.stringMatching(/no ready replica after/) },
    });
  });
});
