/**
 * Draining on the local runtime, with real processes: the compiled agent runs real model-server
 * replicas, and requests go through the real gateway (its fastify routes) over the provider.
 *
 * A replica taken out of service (scale-in, the old revision after a rollout, scale to zero,
 * pause / delete) leaves the endpoints at once and answers every request it already has before
 * it stops; a request racing the change is retried on a replica that is still serving.
 * Each test has its own deployment.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalRuntimeProvider, replicaSetName } from '../../activities/providers/local';
import { useZodSchemas } from '../../api/app';
import type { DeploymentService } from '../../api/deployment-service';
import { errorHandler } from '../../api/errors';
import { Gateway } from '../../api/gateway';
import { TrafficMeter } from '../../api/metrics/traffic-meter';
import { ReplicaEndpoints, type ReplicaEndpointsSource } from '../../api/replica-endpoints';
import { endpointRoutes } from '../../api/routes/endpoints';
import type { ReplicaSetStatus } from '../../runtime/agent/api';
import type { DeploymentView } from '../../workflows/domain/deployment';
import { validateSpec } from '../../workflows/domain/spec';
import { dedicatedSpec } from '../helpers/catalog';
import { waitFor } from '../helpers/harness';
import {
  freePort,
  killAll,
  modelServerPids,
  startAgent,
  type RunningProcess,
} from '../helpers/processes';

const WS = `drain${process.pid}`;
const TEMPLATE = { model: 'm', loadMs: 200 };
/** 1,500 tokens at the model server's 2 ms per token: a 3 s generation. */
const LONG = 1500;

let dataDir: string;
let agentPort: number;
let agent: RunningProcess;
let provider: LocalRuntimeProvider;
let app: FastifyInstance;
let gateway: string;
let counter = 0;

beforeAll(async () => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'md-drain-'));
  agentPort = await freePort();
  agent = await startAgent(dataDir, agentPort);
  provider = new LocalRuntimeProvider(`http://127.0.0.1:${agentPort}`);

  const gw = await startGateway(new ReplicaEndpoints({ dedicated: provider, deployments }));
  app = gw.app;
  gateway = gw.url;
});

const running = (() => {
  const parsed = validateSpec(dedicatedSpec());
  if (!parsed.ok) throw new Error('bad spec');
  return { state: 'running', spec: parsed.value } as DeploymentView;
})();
const deployments = { get: async () => running } as unknown as DeploymentService;

/** The gateway's routes on a free port, over `replicas`. */
async function startGateway(replicas: ReplicaEndpointsSource) {
  const gatewayApp = Fastify();
  useZodSchemas(gatewayApp); // as buildApp does
  gatewayApp.setErrorHandler(errorHandler);
  await gatewayApp.register(endpointRoutes, {
    gateway: new Gateway({
      replicas,
      deployments,
      meter: new TrafficMeter(),
      wake: () => undefined,
      holdTimeoutMs: 10_000,
    }),
  });
  const port = await freePort();
  await gatewayApp.listen({ host: '127.0.0.1', port });
  return { app: gatewayApp, url: `http://127.0.0.1:${port}` };
}

afterAll(async () => {
  await app?.close();
  await agent?.stop('SIGKILL');
  killAll(modelServerPids(`${WS}--`));
  if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
});

/** A deployment of its own, with `replicas` ready replicas of revision 1 getting its traffic. */
async function deployment(replicas: number, revision = 1): Promise<string> {
  const id = `${WS}/d${++counter}`;
  await provider.applyRevision({ deploymentId: id, revision, replicas, template: TEMPLATE });
  await waitFor(
    () => provider.getRevision(id, revision),
    (s) => s.ready === replicas,
    `${replicas} ready replica(s)`,
  );
  await provider.routeTraffic(id, revision);
  return id;
}

/** An inference request through the gateway; resolves its status and the replica that answered. */
async function infer(id: string, maxTokens: number): Promise<{ status: number; replica: string }> {
  const res = await fetch(`${gateway}/v1/endpoints/${id}/v1/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ prompt: 'hello', max_tokens: maxTokens }),
  });
  const body = await res.text();
  return { status: res.status, replica: res.headers.get('x-replica-id') ?? body };
}

/** Requests the replicas are working on (decoding or queued), from their own /metrics. */
async function inFlight(urls: string[]): Promise<number> {
  let total = 0;
  for (const url of urls) {
    const text = await (await fetch(`${url}/metrics`)).text();
    for (const name of ['vllm:num_requests_running', 'vllm:num_requests_waiting']) {
      total += Number(new RegExp(`^${name}\\{[^}]*\\} (\\d+)`, 'm').exec(text)?.[1] ?? 0);
    }
  }
  return total;
}

/** Sends `count` long generations; resolves once the replicas are working on all of them. */
async function longRequests(id: string, count: number) {
  const { urls } = await provider.endpoints(id);
  const requests = Promise.all(Array.from({ length: count }, () => infer(id, LONG)));
  await waitFor(
    () => inFlight(urls),
    (n) => n === count,
    `${count} requests in flight`,
  );
  return { answers: requests };
}

/** Short requests back to back (4 at a time) until stop() is called; resolves every status. */
function steadyTraffic(id: string) {
  let stopped = false;
  const statuses: number[] = [];
  const loops = Array.from({ length: 4 }, async () => {
    while (!stopped) statuses.push((await infer(id, 1)).status);
  });
  return {
    async stop() {
      stopped = true;
      await Promise.all(loops);
      return statuses;
    },
  };
}

async function agentSet(name: string): Promise<{ status: number; body?: ReplicaSetStatus }> {
  const res = await fetch(`http://127.0.0.1:${agentPort}/v1/replicasets/${name}`);
  return {
    status: res.status,
    ...(res.ok ? { body: (await res.json()) as ReplicaSetStatus } : {}),
  };
}

describe('draining replicas on the local runtime', () => {
  it('scale-in 2 -> 1 with eight generations in flight and steady traffic: 0 lost', async () => {
    const id = await deployment(2);
    const { answers } = await longRequests(id, 8);
    const traffic = steadyTraffic(id);

    const scaled = await provider.applyRevision({
      deploymentId: id,
      revision: 1,
      replicas: 1,
      template: TEMPLATE,
    });
    expect(scaled.desired).toBe(1);
    // Out of the endpoints at once, while it still answers what it has.
    const after = (await provider.endpoints(id)).urls;
    expect(after).toEqual([scaled.replicas[0]?.url]);
    expect((await agentSet(replicaSetName(id, 1))).body?.draining).toBe(1);

    const results = await answers;
    expect(results.map((r) => r.status)).toEqual(Array(8).fill(200));
    // Both replicas answered some of them: the removed one finished its share.
    expect(new Set(results.map((r) => r.replica)).size).toBe(2);
    const statuses = await traffic.stop();
    expect(statuses.length).toBeGreaterThan(0);
    expect(statuses.filter((s) => s !== 200)).toEqual([]);

    await waitFor(
      () => agentSet(replicaSetName(id, 1)),
      (s) => s.body?.draining === 0,
      'the removed replica stopped',
    );
    expect(modelServerPids(replicaSetName(id, 1))).toHaveLength(1);
  });

  it('rollout: traffic switched to the new revision, the old one removed with requests in flight: 0 lost', async () => {
    const id = await deployment(2);
    const { answers } = await longRequests(id, 8);
    await provider.applyRevision({
      deploymentId: id,
      revision: 2,
      replicas: 2,
      template: TEMPLATE,
    });
    await waitFor(
      () => provider.getRevision(id, 2),
      (s) => s.ready === 2,
      'revision 2 ready',
    );
    const traffic = steadyTraffic(id);

    await provider.routeTraffic(id, 2);
    // Waits until revision 1 is gone: its replicas first answer the eight generations.
    await provider.removeRevision(id, 1);
    expect(modelServerPids(replicaSetName(id, 1))).toEqual([]);
    expect((await provider.listRevisions(id)).map((r) => r.revision)).toEqual([2]);

    const results = await answers;
    expect(results.map((r) => r.status)).toEqual(Array(8).fill(200));
    expect(results.every((r) => r.replica.startsWith(replicaSetName(id, 1)))).toBe(true);
    const statuses = await traffic.stop();
    expect(statuses.filter((s) => s !== 200)).toEqual([]);
    expect((await infer(id, 1)).replica).toMatch(new RegExp(`^${replicaSetName(id, 2)}/`));
  });

  it('scale to zero with generations in flight: 0 lost, no endpoint left, the replica stops after', async () => {
    const id = await deployment(1);
    const { answers } = await longRequests(id, 4);
    const scaled = await provider.applyRevision({
      deploymentId: id,
      revision: 1,
      replicas: 0,
      template: TEMPLATE,
    });
    expect(scaled).toMatchObject({ desired: 0, ready: 0 });
    expect((await provider.endpoints(id)).urls).toEqual([]);

    expect((await answers).map((r) => r.status)).toEqual(Array(4).fill(200));
    await waitFor(
      async () => modelServerPids(replicaSetName(id, 1)),
      (pids) => pids.length === 0,
      'the replica stopped',
    );
  });

  it('pause / delete (removeDeployment) with generations in flight: 0 lost, nothing left once it returns', async () => {
    const id = await deployment(2);
    const { answers } = await longRequests(id, 6);
    await provider.removeDeployment(id);
    expect(modelServerPids(replicaSetName(id, 1))).toEqual([]);
    expect(await provider.listRevisions(id)).toEqual([]);
    expect(await provider.endpoints(id)).toEqual({ revision: null, urls: [] });
    expect((await answers).map((r) => r.status)).toEqual(Array(6).fill(200));
  });

  it('a removed set keeps its name until its last replica is gone: applying it again meanwhile is refused (409)', async () => {
    const id = await deployment(1);
    const name = replicaSetName(id, 1);
    const { answers: answer } = await longRequests(id, 1);
    const deleted = await fetch(`http://127.0.0.1:${agentPort}/v1/replicasets/${name}`, {
      method: 'DELETE',
    });
    expect(deleted.status).toBe(202);
    expect(await deleted.json()).toMatchObject({ terminating: true, desired: 0, draining: 1 });

    await expect(
      provider.applyRevision({ deploymentId: id, revision: 1, replicas: 1, template: TEMPLATE }),
    ).rejects.toThrow(/HTTP 409: .*is being removed/);
    await expect(provider.routeTraffic(id, 1)).rejects.toThrow(/HTTP 409/);

    expect((await answer).map((r) => r.status)).toEqual([200]);
    await waitFor(
      () => agentSet(name),
      (s) => s.status === 404,
      'the set gone',
    );
    // Gone: the same name starts afresh, its replica numbering too.
    const again = await provider.applyRevision({
      deploymentId: id,
      revision: 1,
      replicas: 1,
      template: TEMPLATE,
    });
    expect(again.replicas.map((r) => r.id)).toEqual(['r1']);
  });

  it('a request sent to a replica that stopped listening (draining) is retried on a serving one', async () => {
    const id = await deployment(2);
    const before = await provider.endpoints(id);
    const { answers } = await longRequests(id, 2);
    const scaled = await provider.applyRevision({
      deploymentId: id,
      revision: 1,
      replicas: 1,
      template: TEMPLATE,
    });
    const removed = before.urls.find((url) => url !== scaled.replicas[0]?.url)!;
    // The removed replica still runs (it answers its generation) but accepts no connection.
    await waitFor(
      () =>
        fetch(`${removed}/health`).then(
          () => 'accepts',
          () => 'refuses',
        ),
      (s) => s === 'refuses',
      'the draining replica refusing connections',
    );
    // A gateway that picked the removed replica just before the scale-in: its first lookup is
    // the old list, every later one asks the runtime again.
    let lookups = 0;
    const racing = await startGateway({
      endpoints: async (deployment) =>
        lookups++ === 0 ? { revision: 1, urls: [removed] } : provider.endpoints(deployment),
    });
    try {
      const res = await fetch(`${racing.url}/v1/endpoints/${id}/v1/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ prompt: 'hello', max_tokens: 1 }),
      });
      expect(res.status).toBe(200);
      expect(res.headers.get('x-replica-id')).toBe(`${replicaSetName(id, 1)}/r1`);
      expect(lookups).toBe(2);
    } finally {
      await racing.app.close();
    }
    expect((await answers).map((r) => r.status)).toEqual([200, 200]);
  });

  it('an agent killed while a replica drains finishes the drain after its restart', async () => {
    const id = await deployment(1);
    const name = replicaSetName(id, 1);
    const { answers: answer } = await longRequests(id, 1);
    const [pid] = modelServerPids(name);
    await fetch(`http://127.0.0.1:${agentPort}/v1/replicasets/${name}`, { method: 'DELETE' });
    await agent.stop('SIGKILL');
    agent = await startAgent(dataDir, agentPort);

    expect(agent.output()).toContain(`replica ${name}/r1 still draining (pid ${pid}); adopted`);
    expect((await agentSet(name)).body).toMatchObject({ terminating: true, draining: 1 });
    expect((await answer).map((r) => r.status)).toEqual([200]);
    await waitFor(
      () => agentSet(name),
      (s) => s.status === 404,
      'the set gone',
    );
    expect(modelServerPids(name)).toEqual([]);
  });
});

describe('the drain grace', () => {
  it('kills a replica still answering when the grace runs out, and says so', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'md-drain-grace-'));
    const port = await freePort();
    const shortAgent = await startAgent(dir, port, { DRAIN_GRACE_SECONDS: '1' });
    try {
      const local = new LocalRuntimeProvider(`http://127.0.0.1:${port}`);
      const id = `${WS}/grace`;
      await local.applyRevision({ deploymentId: id, revision: 1, replicas: 1, template: TEMPLATE });
      const ready = await waitFor(
        () => local.getRevision(id, 1),
        (s) => s.ready === 1,
        'ready',
      );
      const url = ready.replicas[0]!.url;
      // 4,000 tokens: 8 s, longer than the 1 s grace.
      const answer = fetch(`${url}/v1/completions`, {
        method: 'POST',
        body: JSON.stringify({ prompt: 'x', max_tokens: 4000 }),
      }).then(
        (res) => res.status,
        (err: Error) =>
          `failed: ${(err.cause as { code?: string } | undefined)?.code ?? err.message}`,
      );
      await waitFor(
        () => inFlight([url]),
        (n) => n === 1,
        'in flight',
      );
      await local.removeRevision(id, 1);
      expect(await answer).toMatch(/^failed/);
      expect(shortAgent.output()).toMatch(
        new RegExp(
          `replica ${replicaSetName(id, 1)}/r1 still had requests in flight after the drain grace; killed`,
        ),
      );
    } finally {
      await shortAgent.stop('SIGKILL');
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
