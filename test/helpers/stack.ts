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
import { MetricsCollector } from '../../api/metrics/collector';
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
  stop(): Promise<void>;
}

export async function startStack(
  options: { limits?: Record<string, number> } = {},
): Promise<Stack> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'md-stack-'));
  const agentUrl = `http://127.0.0.1:${await freePort()}`;
  const agent = await startAgent(dataDir, Number(new URL(agentUrl).port));
  const provider = new LocalRuntimeProvider(agentUrl);
  const harness = await startHarness({ limits: options.limits });
  await harness.startWorker(provider);
  const workspace = `ws-${Date.now().toString(36)}`;
  const otherWorkspace = `${workspace}-other`;
  const key = `test-key-${workspace}`;
  const otherKey = `test-key-${otherWorkspace}`;
  const port = await freePort();
  const baseUrl = `http://127.0.0.1:${port}`;
  const service = new DeploymentService({
    client: harness.env.client,
    taskQueue: harness.taskQueue,
    catalog: TEST_CATALOG,
    limitFor: () => options.limits?.H100 ?? 1000,
  });
  // As the API process does: replicas found through each deployment's placement.
  const gatewayLog: string[] = [];
  const replicas = new ReplicaEndpoints({
    dedicated: provider,
    deployments: service,
    log: (m) => gatewayLog.push(m),
  });
  const meter = new TrafficMeter();
  // Short windows so tests see scaling within seconds (production averages over 30 s).
  const collector = new MetricsCollector({
    client: harness.env.client,
    replicas,
    meter,
    windowMs: 4000,
    shortWindowMs: 2000,
  });
  collector.start();
  const app = await buildApp({
    service,
    replicas,
    meter,
    wake: () => collector.nudge(),
    catalog: TEST_CATALOG,
    apiKeys: new Map([
      [key, workspace],
      [otherKey, otherWorkspace],
    ]),
    publicUrl: baseUrl,
  });
  await app.listen({ host: '127.0.0.1', port });
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
    async stop(this: Stack) {
      collector.stop();
      await app.close();
      await harness.stop();
      await this.agent.stop('SIGTERM');
      killAll(replicaPids());
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
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
