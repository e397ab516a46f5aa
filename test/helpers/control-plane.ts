/**
 * The control plane scaled out, as separate processes on one machine: N workers
 * (dist/worker/main.js, each hosting an observer; the local agent's lease keeps one active) and
 * N API processes (dist/api/main.js), all on one Temporal cluster with their own mTLS
 * certificates, over one local runtime agent. Each process can be SIGKILLed and started again.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import { LocalRuntimeProvider } from '../../activities/providers/local';
import type { TemporalCluster } from './temporal-cluster';
import {
  DIST,
  freePort,
  startAgent,
  startNode,
  startWorkerProcess,
  workerProcessEnv,
  type RunningProcess,
} from './processes';

export interface ControlPlaneProcesses {
  workspace: string;
  key: string;
  provider: LocalRuntimeProvider;
  /** Base URLs of the API processes, by index (stable across restarts). */
  apiUrls: string[];
  workers: (RunningProcess | undefined)[];
  apis: (RunningProcess | undefined)[];
  startWorker(index: number): Promise<RunningProcess>;
  startApi(index: number): Promise<RunningProcess>;
  /** SIGKILL (no drain, no lease release): a crashed process or a lost node. */
  kill(kind: 'worker' | 'api', index: number): Promise<void>;
  /**
   * The index of the worker that completed `workflowId`'s latest workflow task (it holds the
   * workflow in its cache, sticky), from the identity the SDK records in history (pid@host).
   */
  workerHolding(client: Client, workflowId: string): Promise<number>;
  stop(): Promise<void>;
}

export async function startControlPlaneProcesses(
  cluster: TemporalCluster,
  options: { workers: number; apis: number; workspace: string },
): Promise<ControlPlaneProcesses> {
  const agentPort = await freePort();
  const taskQueue = `production-${process.pid}`;
  const { dataDir, env: base } = workerProcessEnv(
    'md-prod-',
    cluster.address,
    taskQueue,
    agentPort,
  );
  const agent = await startAgent(dataDir, agentPort);
  const key = `key-${options.workspace}`;
  const apiPorts = await Promise.all(Array.from({ length: options.apis }, () => freePort()));
  const workers: (RunningProcess | undefined)[] = Array.from({ length: options.workers });
  const apis: (RunningProcess | undefined)[] = Array.from({ length: options.apis });

  // Every process has its own certificate, as every pod would.
  const envFor = (name: string): NodeJS.ProcessEnv => ({
    ...base,
    ...cluster.clientEnv(cluster.pki.issue(name)),
    // Metrics listeners are not what this tier tests: off, so the processes never share a port.
    WORKER_METRICS_PORT: '0',
    API_METRICS_PORT: '0',
    OBSERVER_METRICS_PORT: '0',
    DATA_DIR: path.join(dataDir, name),
  });

  const plane: ControlPlaneProcesses = {
    workspace: options.workspace,
    key,
    provider: new LocalRuntimeProvider(`http://127.0.0.1:${agentPort}`),
    apiUrls: apiPorts.map((port) => `http://127.0.0.1:${port}`),
    workers,
    apis,
    async startWorker(index) {
      const name = `worker-${index}`;
      fs.mkdirSync(path.join(dataDir, name), { recursive: true });
      const worker = await startWorkerProcess(envFor(name));
      workers[index] = worker;
      return worker;
    },
    async startApi(index) {
      const name = `api-${index}`;
      fs.mkdirSync(path.join(dataDir, name), { recursive: true });
      const url = plane.apiUrls[index]!;
      const api = await startNode(
        path.join(DIST, 'api', 'main.js'),
        {
          ...envFor(name),
          API_PORT: String(apiPorts[index]),
          API_KEYS: `${key}=${options.workspace}`,
          PUBLIC_URL: url,
        },
        async () => (await fetch(`${url}/healthz`)).ok,
        `API process ${index}`,
        30_000,
      );
      apis[index] = api;
      return api;
    },
    async kill(kind, index) {
      const list = kind === 'worker' ? workers : apis;
      await list[index]?.stop('SIGKILL');
      list[index] = undefined;
    },
    async workerHolding(client, workflowId) {
      const history = await client.workflow.getHandle(workflowId).fetchHistory();
      const identity = [...(history.events ?? [])]
        .reverse()
        .map((e) => e.workflowTaskCompletedEventAttributes?.identity)
        .find((id): id is string => Boolean(id));
      const pid = Number(identity?.split('@')[0]);
      const index = workers.findIndex((w) => w?.child.pid === pid);
      if (index < 0) {
        throw new Error(
          `${workflowId}: its last task was completed by ${identity}, not a running worker of this plane`,
        );
      }
      return index;
    },
    async stop() {
      for (const p of [...apis, ...workers]) await p?.stop('SIGTERM');
      await agent.stop('SIGTERM');
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
  for (let i = 0; i < options.workers; i++) await plane.startWorker(i);
  for (let i = 0; i < options.apis; i++) await plane.startApi(i);
  return plane;
}

/** JSON calls to one API process with the workspace's key. */
export function apiOf(plane: ControlPlaneProcesses, index: number) {
  return async (method: string, urlPath: string, body?: unknown) => {
    const res = await fetch(`${plane.apiUrls[index]}${urlPath}`, {
      method,
      headers: {
        authorization: `Bearer ${plane.key}`,
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    let json: Record<string, unknown> = {};
    try {
      json = JSON.parse(text) as Record<string, unknown>;
    } catch {
      json = { raw: text };
    }
    return { status: res.status, body: json };
  };
}
