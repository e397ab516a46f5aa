/**
 * The real stack in one test process: a Temporal dev server, a real local runtime agent
 * (real model-server processes), a worker running the real workflows and activities, and the
 * HTTP API listening on a free port.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { LocalRuntimeProvider } from '../../activities/providers/local';
import { buildApp } from '../../api/app';
import { DeploymentService } from '../../api/deployment-service';
import { WakeNudger } from '../../api/metrics/wake-nudger';
import { ReplicaEndpoints } from '../../api/replica-endpoints';
import { TrafficMeter } from '../../api/metrics/traffic-meter';
import { TEST_CATALOG } from './catalog';
import { startHarness, type Harness } from './harness';
import { freePort, killAll, modelServerPids, startAgent, type RunningProcess } from './processes';

export interface Stack {
  harness: Harness;
  agent: RunningProcess;
  agentPort: number;
  provider: LocalRuntimeProvider;
  app: FastifyInstance;
  baseUrl: string;
  dataDir: string;
  /** Key for `workspace`; `otherKey` reaches `otherWorkspace` only. */
  workspace: string;
  key: string;
  otherWorkspace: string;
  otherKey: string;
  /** Model-server processes of this stack's workspace. */
  replicaPids(): number[];
  /** What the gateway's replica lookup logged (e.g. falling back to the last known endpoints). */
  gatewayLog: string[];
  /** Another API process's worth (REST API and gateway) over the same stack; its base URL. */
  startApiReplica(): Promise<string>;
  stop(): Promise<void>;
}

export async function startStack(
  options: { limits?: Record<string, number> } = {},
): Promise<Stack> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'md-stack-'));
  const agentUrl = `http://127.0.0.1:${await freePort()}`;
  const agent = await startAgent(dataDir, Number(new URL(agentUrl).port));
  const provider = new LocalRuntimeProvider(agentUrl);
  // Short windows so tests see scaling within seconds (production averages over 30 s).
  const harness = await startHarness({
    limits: options.limits,
    observerLoad: { windowMs: 4000, shortWindowMs: 2000 },
  });
  await harness.startWorker(provider);
  const workspace = `ws-${Date.now().toString(36)}`;
  const otherWorkspace = `${workspace}-other`;
  const key = `test-key-${workspace}`;
  const otherKey = `test-key-${otherWorkspace}`;
  const apiKeys = new Map([
    [key, workspace],
    [otherKey, otherWorkspace],
  ]);
  const limitFor = () => options.limits?.H100 ?? 1000;
  const gatewayLog: string[] = [];
  const first = await startApiReplica(harness, provider, apiKeys, limitFor, gatewayLog);
  const more: FastifyInstance[] = [];
  const { app, baseUrl } = first;
  const replicaPids = () => modelServerPids(`${workspace}--`);
  return {
    harness,
    agent,
    agentPort: Number(new URL(agentUrl).port),
    provider,
    app,
    baseUrl,
    dataDir,
    workspace,
    key,
    otherWorkspace,
    otherKey,
    replicaPids,
    gatewayLog,
    async startApiReplica() {
      const replica = await startApiReplica(harness, provider, apiKeys, limitFor, []);
      more.push(replica.app);
      return replica.baseUrl;
    },
    async stop(this: Stack) {
      for (const other of more) await other.close();
      await app.close();
      await harness.stop();
      await this.agent.stop('SIGTERM');
      killAll(replicaPids());
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * One API process's worth (REST API and gateway) on a free port, as api/main.ts builds it:
 * replicas found through each deployment's placement, held requests nudging the workflow.
 */
async function startApiReplica(
  harness: Harness,
  provider: LocalRuntimeProvider,
  apiKeys: Map<string, string>,
  limitFor: () => number,
  gatewayLog: string[],
): Promise<{ app: FastifyInstance; baseUrl: string }> {
  const port = await freePort();
  const baseUrl = `http://127.0.0.1:${port}`;
  const service = new DeploymentService({
    client: harness.env.client,
    taskQueue: harness.taskQueue,
    catalog: TEST_CATALOG,
    limitFor,
  });
  const replicas = new ReplicaEndpoints({
    dedicated: provider,
    deployments: service,
    log: (m) => gatewayLog.push(m),
  });
  const meter = new TrafficMeter();
  const nudger = new WakeNudger({ client: harness.env.client, meter });
  const app = await buildApp({
    service,
    replicas,
    meter,
    wake: (id) => nudger.nudge(id),
    catalog: TEST_CATALOG,
    apiKeys,
    publicUrl: baseUrl,
  });
  await app.listen({ host: '127.0.0.1', port });
  return { app, baseUrl };
}

/** fetch with the stack's key and JSON in and out. */
export function apiClient(stack: Stack, key = stack.key) {
  return async (
    method: string,
    urlPath: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ) => {
    const res = await fetch(`${stack.baseUrl}${urlPath}`, {
      method,
      headers: {
        authorization: `Bearer ${key}`,
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...headers,
      },
      ...(body !== undefined
        ? { body: typeof body === 'string' ? body : JSON.stringify(body) }
        : {}),
    });
    const text = await res.text();
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = text;
    }
    return {
      status: res.status,
      headers: res.headers,
      body: json as Record<string, unknown> & { items?: unknown[] },
    };
  };
}
