/**
 * The edge gateway a BYOC customer runs in their cluster (api/edge/), and the control plane's
 * gateway in front of it, on loopback: the edge's token check (constant time, a 401 with its own
 * realm, the probes open), its proxying to a ready pod (here a stand-in model server on
 * 127.0.0.1; the kube-apiserver lookup is faked, see test/integration/byoc-edge.test.ts for the
 * real one), TLS, and what the control plane's gateway makes of the edge: its token presented in
 * place of the client's key, the edge's 401 and the edge being down said as 502s naming it.
 */
import fs from 'node:fs';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import { Agent, fetch as undiciFetch } from 'undici';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { EdgeGateway } from '../../../activities/providers/byoc';
import { useZodSchemas } from '../../../api/app';
import { buildEdgeApp } from '../../../api/edge/app';
import { loadEdgeConfig } from '../../../api/edge/config';
import { errorHandler } from '../../../api/errors';
import { Gateway } from '../../../api/gateway';
import { TrafficMeter } from '../../../api/metrics/traffic-meter';
import { edgeEndpointUrl, type Endpoints } from '../../../api/replica-endpoints';
import { endpointRoutes } from '../../../api/routes/endpoints';
import { makeTestPki } from '../../helpers/certificates';
import { freePort } from '../../helpers/processes';

const TOKEN = 'edge-token-0123456789abcdef0123456789abcdef';
const CLIENT_KEY = 'client-api-key';

interface Received {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

/** A stand-in model server on 127.0.0.1: answers like the OpenAI API, records what it got. */
async function standIn(
  answer: (req: Received, res: http.ServerResponse) => void = (req, res) =>
    res
      .writeHead(200, { 'content-type': 'application/json', 'x-replica-id': 'pod-a' })
      .end(JSON.stringify({ object: 'text_completion', choices: [{ text: `got ${req.body}` }] })),
): Promise<{ url: string; received: Received[] }> {
  const received: Received[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const r = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body };
      received.push(r);
      answer(r, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  closers.push(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, received };
}

/** An edge gateway on 127.0.0.1 whose "cluster" has `pods` ready for every deployment. */
async function edge(
  pods: () => string[],
  options: { token?: string; ready?: () => Promise<void> } = {},
): Promise<{ url: string; asked: string[] }> {
  const asked: string[] = [];
  const app = await buildEdgeApp({
    replicas: {
      endpoints: async (id) => {
        asked.push(id);
        return { revision: 1, urls: pods() };
      },
    },
    token: options.token ?? TOKEN,
    ...(options.ready ? { ready: options.ready } : {}),
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  closers.push(() => app.close());
  return { url: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`, asked };
}

/** The control plane's gateway, for which deployment ws/llm is on cluster team-eks behind `edgeUrl`. */
async function controlPlane(edgeUrl: string): Promise<{ url: string; edge: EdgeGateway }> {
  const gatewayOf: EdgeGateway = {
    cluster: 'team-eks',
    url: edgeUrl,
    tokenSecret: 'edge-team',
    token: TOKEN,
  };
  const app: FastifyInstance = Fastify();
  useZodSchemas(app);
  app.setErrorHandler(errorHandler);
  const gateway = new Gateway({
    replicas: {
      endpoints: async (id): Promise<Endpoints> => ({
        revision: 1,
        urls: [edgeEndpointUrl(gatewayOf, id)],
        edge: gatewayOf,
      }),
    },
    meter: new TrafficMeter(),
    wake: () => undefined,
  });
  await app.register(endpointRoutes, { gateway });
  await app.listen({ host: '127.0.0.1', port: 0 });
  closers.push(() => app.close());
  return { url: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`, edge: gatewayOf };
}

const completion = (base: string, authorization?: string) =>
  fetch(`${base}/v1/endpoints/ws/llm/v1/completions?stream=false`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(authorization !== undefined ? { authorization } : {}),
    },
    body: '{"prompt":"Hello","max_tokens":4}',
  });

describe('the edge gateway', () => {
  it('proxies a request with the token to a ready pod, body byte for byte, the token not passed on', async () => {
    const pod = await standIn();
    const { url, asked } = await edge(() => [pod.url]);
    const res = await completion(url, `Bearer ${TOKEN}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('x-replica-id')).toBe('pod-a');
    expect(await res.json()).toEqual({
      object: 'text_completion',
      choices: [{ text: 'got {"prompt":"Hello","max_tokens":4}' }],
    });
    expect(asked).toEqual(['ws/llm']);
    expect(pod.received).toHaveLength(1);
    expect(pod.received[0]).toMatchObject({
      method: 'POST',
      url: '/v1/completions?stream=false',
      body: '{"prompt":"Hello","max_tokens":4}',
    });
    expect(pod.received[0]?.headers.authorization).toBeUndefined();
  });

  it.each([
    ['no Authorization header', undefined],
    ['another token', 'Bearer not-the-edge-token-0123456789abcdef0123456789'],
    ['the token with one more character', `Bearer ${TOKEN}x`],
    ['the token cut short', `Bearer ${TOKEN.slice(0, -1)}`],
    ['the token, not as a bearer token', `Basic ${TOKEN}`],
  ])('refuses %s with 401 in its own realm, and sends nothing to a pod', async (_what, header) => {
    const pod = await standIn();
    const { url, asked } = await edge(() => [pod.url]);
    const res = await completion(url, header);
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe('Bearer realm="model-deployments-edge"');
    const body = (await res.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('unauthorized');
    expect(JSON.stringify(body)).not.toContain(TOKEN);
    expect(asked).toEqual([]);
    expect(pod.received).toEqual([]);
  });

  it('needs the token on paths that match no route too, and not on its probes', async () => {
    const ready = { fail: false };
    const { url } = await edge(() => [], {
      ready: async () => {
        if (ready.fail) throw new Error('pods is forbidden');
      },
    });
    expect((await fetch(`${url}/v1/secrets`)).status).toBe(401);
    expect(
      (await fetch(`${url}/v1/secrets`, { headers: { authorization: `Bearer ${TOKEN}` } })).status,
    ).toBe(404);
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    expect((await fetch(`${url}/readyz`)).status).toBe(200);
    ready.fail = true;
    const unready = await fetch(`${url}/readyz`);
    expect(unready.status).toBe(503);
    expect(await unready.json()).toMatchObject({
      error: { code: 'unavailable', message: expect.stringMatching(/pods is forbidden/) },
    });
  });

  it('answers 503 at once when the deployment has no ready pod (the control plane holds requests, not the edge)', async () => {
    const { url } = await edge(() => []);
    const res = await completion(url, `Bearer ${TOKEN}`);
    expect(res.status).toBe(503);
    expect(await res.json()).toMatchObject({
      error: {
        code: 'unavailable',
        message: 'deployment "llm" of workspace "ws" has no ready replica here',
      },
    });
  });

  it('sends a request a pod refused to another ready pod', async () => {
    const pod = await standIn();
    const closed = await freePort(); // nothing listens there: the connection is refused
    const { url } = await edge(() => [`http://127.0.0.1:${closed}`, pod.url]);
    for (let i = 0; i < 2; i++) {
      const res = await completion(url, `Bearer ${TOKEN}`);
      expect(res.status).toBe(200);
    }
    expect(pod.received).toHaveLength(2);
  });

  it('serves https with the certificate of EDGE_TLS_CERT and EDGE_TLS_KEY', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'md-edge-tls-'));
    try {
      const pki = makeTestPki(dir, 'edge.test');
      const port = await freePort();
      const config = loadEdgeConfig({
        EDGE_TOKEN: TOKEN,
        EDGE_PORT: String(port),
        EDGE_TLS_CERT: pki.server.cert,
        EDGE_TLS_KEY: pki.server.key,
      });
      expect(config.tls?.cert.toString()).toContain('BEGIN CERTIFICATE');
      const pod = await standIn();
      const app = await buildEdgeApp({
        replicas: { endpoints: async () => ({ revision: 1, urls: [pod.url] }) },
        token: config.EDGE_TOKEN,
        ...(config.tls ? { https: config.tls } : {}),
      });
      await app.listen({ host: config.EDGE_HOST, port: config.EDGE_PORT });
      closers.push(() => app.close());
      const dispatcher = new Agent({ connect: { ca: fs.readFileSync(pki.ca) } });
      closers.push(() => dispatcher.close());
      const base = `https://127.0.0.1:${port}`;
      expect((await undiciFetch(`${base}/healthz`, { dispatcher })).status).toBe(200);
      const refused = await undiciFetch(`${base}/v1/endpoints/ws/llm/v1/models`, { dispatcher });
      expect(refused.status).toBe(401);
      const served = await undiciFetch(`${base}/v1/endpoints/ws/llm/v1/models`, {
        dispatcher,
        headers: { authorization: `Bearer ${TOKEN}` },
      });
      expect(served.status).toBe(200);
      expect(pod.received.map((r) => r.url)).toEqual(['/v1/models']);
      // not over plain http
      await expect(fetch(`http://127.0.0.1:${port}/healthz`)).rejects.toThrow();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('its configuration', () => {
  it('refuses a short or missing token, and one TLS file without the other, never echoing the token', () => {
    expect(() => loadEdgeConfig({})).toThrow(/EDGE_TOKEN: is required/);
    expect(() => loadEdgeConfig({ EDGE_TOKEN: 'short-secret' })).toThrow(
      /EDGE_TOKEN: must be at least 32 characters/,
    );
    expect(() => loadEdgeConfig({ EDGE_TOKEN: 'short-secret' })).not.toThrow(/short-secret/);
    expect(() => loadEdgeConfig({ EDGE_TOKEN: TOKEN, EDGE_TLS_CERT: '/tls.crt' })).toThrow(
      /EDGE_TLS_CERT and EDGE_TLS_KEY go together/,
    );
  });

  it('keeps a token read from a file with a trailing newline the same token, and defaults to loopback', () => {
    expect(loadEdgeConfig({ EDGE_TOKEN: `${TOKEN}\n` })).toMatchObject({
      EDGE_TOKEN: TOKEN,
      EDGE_HOST: '127.0.0.1',
      EDGE_PORT: 8443,
      KUBE_NAMESPACE: 'model-deployments',
    });
  });
});

describe("the control plane's gateway in front of an edge gateway", () => {
  it("presents the edge's token in place of the client's key, and passes the pod's answer on", async () => {
    const pod = await standIn();
    const edgeServer = await edge(() => [pod.url]);
    const cp = await controlPlane(edgeServer.url);
    const res = await completion(cp.url, `Bearer ${CLIENT_KEY}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('x-replica-id')).toBe('pod-a');
    expect(pod.received).toHaveLength(1);
    expect(pod.received[0]?.url).toBe('/v1/completions?stream=false');
    // neither the client's key nor the edge's token reaches the pod
    expect(pod.received[0]?.headers.authorization).toBeUndefined();
    expect(JSON.stringify(pod.received[0]?.headers)).not.toContain(CLIENT_KEY);
  });

  it('answers 502 naming the edge and the secret when the edge refuses the token, never the token', async () => {
    const pod = await standIn();
    const edgeServer = await edge(() => [pod.url], {
      token: 'the-edge-was-given-another-token-0123456789',
    });
    const cp = await controlPlane(edgeServer.url);
    const res = await completion(cp.url, `Bearer ${CLIENT_KEY}`);
    expect(res.status).toBe(502);
    expect(res.headers.get('www-authenticate')).toBeNull();
    const text = await res.text();
    expect(JSON.parse(text)).toEqual({
      error: {
        code: 'bad_gateway',
        message: `the edge gateway of cluster "team-eks" (${edgeServer.url}) refused the control plane's token: the secret "edge-team" does not hold the token that edge gateway was given`,
      },
    });
    expect(text).not.toContain(TOKEN);
    expect(text).not.toContain('another-token');
    expect(pod.received).toEqual([]);
  });

  it("passes a model server's own 401 on as it is (it is the client's business)", async () => {
    const pod = await standIn((_req, res) =>
      res
        .writeHead(401, { 'content-type': 'application/json', 'www-authenticate': 'Bearer' })
        .end('{"error":"Unauthorized"}'),
    );
    const edgeServer = await edge(() => [pod.url]);
    const cp = await controlPlane(edgeServer.url);
    const res = await completion(cp.url, `Bearer ${CLIENT_KEY}`);
    expect(res.status).toBe(401);
    expect(await res.text()).toBe('{"error":"Unauthorized"}');
  });

  it('sends a request to the edge once: one that drops the connection is a 502, not retried', async () => {
    let connections = 0;
    const dropping = net.createServer((socket) => {
      connections += 1;
      socket.destroy();
    });
    await new Promise<void>((resolve) => dropping.listen(0, '127.0.0.1', resolve));
    closers.push(() => new Promise((resolve) => dropping.close(() => resolve())));
    const edgeUrl = `http://127.0.0.1:${(dropping.address() as AddressInfo).port}`;
    const cp = await controlPlane(edgeUrl);
    const res = await completion(cp.url, `Bearer ${CLIENT_KEY}`);
    expect(res.status).toBe(502);
    expect(await res.json()).toMatchObject({
      error: {
        code: 'bad_gateway',
        message: expect.stringContaining(
          `the edge gateway of cluster "team-eks" (${edgeUrl}) did not answer: `,
        ),
      },
    });
    expect(connections).toBe(1);
  });

  it('answers 502 naming the edge when it cannot be reached', async () => {
    const down = `http://127.0.0.1:${await freePort()}`;
    const cp = await controlPlane(down);
    const res = await completion(cp.url, `Bearer ${CLIENT_KEY}`);
    expect(res.status).toBe(502);
    expect(await res.json()).toEqual({
      error: {
        code: 'bad_gateway',
        message: expect.stringMatching(
          new RegExp(
            `^the edge gateway of cluster "team-eks" \\(${down.replace(/\./g, '\\.')}\\) did not answer: connect ECONNREFUSED 127\\.0\\.0\\.1:\\d+$`,
          ),
        ),
      },
    });
  });

  it("passes the edge's own 503 (no ready pod in the cluster) on", async () => {
    const edgeServer = await edge(() => []);
    const cp = await controlPlane(edgeServer.url);
    const res = await completion(cp.url, `Bearer ${CLIENT_KEY}`);
    expect(res.status).toBe(503);
    expect(await res.json()).toMatchObject({ error: { code: 'unavailable' } });
  });
});

afterAll(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});
