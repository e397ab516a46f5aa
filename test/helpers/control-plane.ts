/**
 * The control plane scaled out, as separate processes on one machine, in the topology of
 * deploy/kubernetes: N workers (dist/worker/main.js, OBSERVER=off), N API processes
 * (dist/api/main.js) and N observer processes (dist/observer/main.js; the local agent's lease
 * keeps one active), all on one Temporal cluster with their own mTLS certificates, over one local
 * runtime agent. Each process can be SIGKILLed and started again.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import { LocalRuntimeProvider } from '../../activities/providers/local';
import { parsePrometheusText } from '../../observer/prometheus-text';
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
  observers: (RunningProcess | undefined)[];
  startWorker(index: number): Promise<RunningProcess>;
  startApi(index: number): Promise<RunningProcess>;
  startObserver(index: number): Promise<RunningProcess>;
  /** The observer process whose observer of the local runtime is active (from its /metrics). */
  activeObserver(): Promise<number | undefined>;
  /** SIGKILL (no drain, no lease release): a crashed process or a lost node. */
  kill(kind: 'worker' | 'api' | 'observer', index: number): Promise<void>;
  /**
   * The index of the worker that completed `workflowId`'s latest workflow task (it holds the
   * workflow in its cache, sticky), from the identity the SDK records in history (pid@host).
   */
  workerHolding(client: Client, workflowId: string): Promise<number>;
  stop(): Promise<void>;
}

export async function startControlPlaneProcesses(
  cluster: TemporalCluster,
  options: { workers: number; apis: number; observers: number; workspace: string },
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
  const observers: (RunningProcess | undefined)[] = Array.from({ length: options.observers });
  const observerMetricsPorts = await Promise.all(
    Array.from({ length: options.observers }, () => freePort()),
  );

  // Every process has its own certificate, as every pod would.
  const envFor = (name: string): NodeJS.ProcessEnv => ({
    ...base,
    ...cluster.clientEnv(cluster.pki.issue(name)),
    // As in deploy/kubernetes: the observer runs as processes of its own, one active by lease.
    OBSERVER: 'off',
    // Only the observers' metrics are read here (which one is active): the others are off, so
    // no two processes want one port.
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
    observers,
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
    async startObserver(index) {
      const name = `observer-${index}`;
      fs.mkdirSync(path.join(dataDir, name), { recursive: true });
      const observer = await startNode(
        path.join(DIST, 'observer', 'main.js'),
        { ...envFor(name), OBSERVER_METRICS_PORT: String(observerMetricsPorts[index]) },
        (output) => output.includes('observer(s) started'),
        `observer process ${index}`,
        30_000,
      );
      observers[index] = observer;
      return observer;
    },
    async activeObserver() {
      for (const [index, observer] of observers.entries()) {
        if (!observer?.running()) continue;
        const res = await fetch(`http://127.0.0.1:${observerMetricsPorts[index]}/metrics`).catch(
          () => undefined,
        );
        if (!res?.ok) continue;
        const samples = parsePrometheusText(await res.text());
        if (samples.some((s) => s.name === 'model_deployments_observer_active' && s.value === 1)) {
          return index;
        }
      }
      return undefined;
    },
    async kill(kind, index) {
      const list = kind === 'worker' ? workers : kind === 'api' ? apis : observers;
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
      for (const p of [...apis, ...observers, ...workers]) await p?.stop('SIGTERM');
      await agent.stop('SIGTERM');
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
  for (let i = 0; i < options.workers; i++) await plane.startWorker(i);
  for (let i = 0; i < options.apis; i++) await plane.startApi(i);
  for (let i = 0; i < options.observers; i++) await plane.startObserver(i);
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
