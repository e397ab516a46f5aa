/**
 * Benchmark: one worker at scale (issue 9). N deployments are created on a real runtime and
 * observed by the runtime's observer, then a sample of them is made to scale, then the population
 * is left alone and what it costs is counted.
 *
 *   npm run bench:scale                                   (N=100, RUNTIME=kubernetes)
 *   N=5000 npm run bench:scale
 *   N=200 RUNTIME=local npm run bench:scale
 *
 * Env: N (deployments, 100), RUNTIME (kubernetes | local), CONCURRENCY (creates in flight, 20),
 * STEADY_SECONDS (60), PER_WORKSPACE (deployments per workspace, 100), DECISIONS (decisions in
 * the sample, 200), DECISION_CONCURRENCY (deployments deciding at once, 5), HISTORY_SAMPLE
 * (deployments whose history is counted, 200), RUN_MINUTES (the whole run's budget, 25).
 *
 * What runs, all real, in one process but the servers:
 * - a Temporal dev server (the project's Temporal CLI, in-memory SQLite, its own process);
 * - the runtime: RUNTIME=kubernetes, the local control plane (scripts/k8s/control-plane.sh:
 *   etcd, kube-apiserver, controller-manager, scheduler, kwok) plus a bench-only group of fake T4
 *   nodes sized for N; RUNTIME=local, the compiled agent with real model-server processes;
 * - in this process: one worker (createWorker with workerCapacity of the default config, the real
 *   workflows and activities, the real provider), the observer started as worker/main.ts starts
 *   it (startObserver with the provider, default scrape settings), a DeploymentService for the
 *   creates, and the bench's own bookkeeping. So the RSS reported is the worker's plus those.
 *
 * Every deployment runs `bge-large-en-v1.5` (weights load in 1 s; kwok readies its pods after 1-2 s)
 * on one T4, scaling 1..2 on concurrency with threshold 8 and no autoscaling policy (no
 * stabilization), in workspaces of PER_WORKSPACE deployments with a quota that never refuses.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime, type Worker } from '@temporalio/worker';
import { AppsV1Api, CoreV1Api } from '@kubernetes/client-node';
import { KubernetesProvider } from '../activities/providers/kubernetes';
import { DEPLOYMENT_LABEL, deploymentLabel } from '../activities/providers/kubernetes-manifests';
import { LocalRuntimeProvider } from '../activities/providers/local';
import type { ApplyRevisionInput, RuntimeProvider } from '../activities/providers/provider';
import { DeploymentService } from '../api/deployment-service';
import { DomainError } from '../api/errors';
import { loadConfig } from '../config';
import type { RevisionFeed } from '../observer/feed';
import { AgentRevisionFeed } from '../observer/local-feed';
import { KubernetesRevisionFeed } from '../observer/kubernetes-feed';
import type { Observer } from '../observer/observer';
import { startObserver } from '../observer/start';
import { temporalCliPath } from '../scripts/toolchain';
import { startControlPlane, type ControlPlane } from '../test/helpers/kubernetes';
import { createWorker, workerCapacity } from '../worker/create-worker';
import { BUILTIN_CATALOG } from '../workflows/domain/catalog';
import type { DeploymentEvent } from '../workflows/domain/deployment';
import { SA, SEARCH_ATTRIBUTE_FLAGS } from '../workflows/domain/search-attributes';
import {
  DEPLOYMENT_WORKFLOW_TYPE,
  deploymentWorkflowId,
  type DeploymentEnding,
  eventsQuery,
  statusQuery,
} from '../workflows/deployment/definitions';
import { observeMetricsSignal, type MetricsObservation } from '../workflows/deployment/metrics';
import { SAFETY_NET_MS } from '../workflows/deployment/signalled-replicas';
import { KEEPALIVE_MS } from '../observer/load-rules';
import { startBenchAgent, percentile, type BenchAgent } from './agent';
import { RequestCounter, kubernetesKind } from './http-requests';
import { ProcessCpu, childrenOf, rssMbOf, type CpuSample } from './process-cpu';

const N = Number(process.env.N ?? 100);
const RUNTIME = (process.env.RUNTIME ?? 'kubernetes') as 'kubernetes' | 'local';
const CONCURRENCY = Number(process.env.CONCURRENCY ?? 20);
const STEADY_SECONDS = Number(process.env.STEADY_SECONDS ?? 60);
const PER_WORKSPACE = Number(process.env.PER_WORKSPACE ?? 100);
const DECISIONS = Number(process.env.DECISIONS ?? 200);
const DECISION_CONCURRENCY = Number(process.env.DECISION_CONCURRENCY ?? 5);
const HISTORY_SAMPLE = Math.min(N, Number(process.env.HISTORY_SAMPLE ?? 200));
const RUN_MINUTES = Number(process.env.RUN_MINUTES ?? 25);
/** Creates in workspace order (one workspace's ledger at a time) or round-robin over workspaces. */
const ORDER = (process.env.ORDER ?? 'workspace') as 'workspace' | 'interleaved';
/**
 * Diagnosis only: restart the local control plane's kube-controller-manager with this client QPS
 * (burst 1.5x) instead of its default (20 QPS, burst 30), to see whether its rate limit is what
 * paces pods at scale. Unset: the control plane exactly as scripts/k8s/control-plane.sh starts it.
 */
const KCM_QPS = Number(process.env.KCM_QPS ?? 0);

const MODEL = 'bge-large-en-v1.5';
const ACCELERATOR = 'T4';
const NAMESPACE = 'model-deployments';
/** Bench-only fake nodes: GPUs (and pods) per node; kwok pods need no CPU or memory here. */
const PODS_PER_NODE = 100;
const DECISION_TIMEOUT_MS = 30_000;
const MB = 1024 * 1024;

if (!['kubernetes', 'local'].includes(RUNTIME)) throw new Error('RUNTIME is kubernetes or local');

const started = performance.now();
const elapsed = () => (performance.now() - started) / 1000;
const deadline = started + RUN_MINUTES * 60_000;
const log = (line: string) => console.log(`[${elapsed().toFixed(0).padStart(5)} s] ${line}`);
const fmt = (n: number, digits = 1) => (Number.isFinite(n) ? n.toFixed(digits) : '-');

interface Target {
  workspace: string;
  name: string;
}
const idOf = (t: Target) => `${t.workspace}/${t.name}`;

/**
 * The real provider, with every call counted and every applyRevision timestamped (the scale
 * command): a decision waits here for its deployment's applyRevision to the replica count it
 * asked for.
 */
class TrackedProvider {
  readonly calls = new Map<string, number>();
  /** The replica count each deployment's last applyRevision asked for. */
  readonly applied = new Map<string, number>();
  feed?: RevisionFeed;
  readonly provider: RuntimeProvider;
  private readonly waiters = new Map<string, { replicas: number; resolve(at: number): void }>();

  constructor(inner: RuntimeProvider) {
    this.provider = new Proxy(inner, {
      get: (target, prop) => {
        const value: unknown = Reflect.get(target, prop, target);
        if (typeof value !== 'function' || typeof prop !== 'string') return value;
        return (...args: unknown[]) => {
          this.calls.set(prop, (this.calls.get(prop) ?? 0) + 1);
          if (prop === 'applyRevision') this.onApply(args[0] as ApplyRevisionInput);
          if (prop === 'getRevision') this.asked.add(args[0] as string);
          const result: unknown = (value as (...a: unknown[]) => unknown).apply(target, args);
          if (prop === 'applyRevision') {
            const first = this.firstApply.get((args[0] as ApplyRevisionInput).deploymentId);
            if (first && first.returned === undefined)
              void (result as Promise<unknown>).then(
                () => (first.returned ??= Date.now()),
                () => undefined,
              );
          }
          if (prop === 'revisionFeed') this.feed = result as RevisionFeed;
          return result;
        };
      },
    });
  }

  /** Deployments whose workflow asked getRevision (a loading check or the safety net). */
  readonly asked = new Set<string>();

  /** Wall-clock time of each deployment's first applyRevision: called, returned. */
  readonly firstApply = new Map<string, { called: number; returned?: number }>();

  /** Wall-clock times of every applyRevision call per deployment (diagnosis). */
  readonly applyCalls = new Map<string, number[]>();

  private onApply(input: ApplyRevisionInput): void {
    const calls = this.applyCalls.get(input.deploymentId) ?? [];
    calls.push(Date.now());
    this.applyCalls.set(input.deploymentId, calls);
    if (!this.firstApply.has(input.deploymentId))
      this.firstApply.set(input.deploymentId, { called: Date.now() });
    const at = performance.now();
    this.applied.set(input.deploymentId, input.replicas);
    const waiter = this.waiters.get(input.deploymentId);
    if (waiter && waiter.replicas === input.replicas) {
      this.waiters.delete(input.deploymentId);
      waiter.resolve(at);
    }
  }

  /** When the deployment is next asked to run `replicas` (undefined after the timeout). */
  nextApply(
    deploymentId: string,
    replicas: number,
    timeoutMs: number,
  ): Promise<number | undefined> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiters.delete(deploymentId);
        resolve(undefined);
      }, timeoutMs);
      this.waiters.set(deploymentId, {
        replicas,
        resolve: (at) => {
          clearTimeout(timer);
          resolve(at);
        },
      });
    });
  }

  callsSnapshot(): Map<string, number> {
    return new Map(this.calls);
  }
}

function observation(perReplica: number[]): MetricsObservation {
  const now = new Date().toISOString();
  const busy = perReplica.some((c) => c > 0);
  return {
    time: now,
    windowSeconds: 30,
    replicas: perReplica.map((c, i) => ({
      replica: `http://bench/${i}`,
      concurrency: c,
      throughput: c,
    })),
    queued: 0,
    ...(busy ? { lastRequestAt: now } : {}),
    shortWindow: { seconds: 6, concurrency: 0, throughput: 0 },
  };
}

function memory(): { rss: number; heap: number } {
  (globalThis as { gc?: () => void }).gc?.();
  const m = process.memoryUsage();
  return { rss: m.rss / MB, heap: m.heapUsed / MB };
}

/** Evenly spread indexes into [0, n). */
function spread(n: number, count: number): number[] {
  const k = Math.min(n, count);
  return Array.from({ length: k }, (_, i) => Math.floor((i * n) / k));
}

async function inLanes<T>(items: T[], lanes: number, work: (item: T) => Promise<void>) {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(lanes, items.length) }, async () => {
      while (next < items.length) await work(items[next++]!);
    }),
  );
}

// ---- the runtime -------------------------------------------------------------------------------

interface RuntimeUnderTest {
  provider: RuntimeProvider;
  /** Where the control plane's calls to the runtime go (counted). */
  origin: string;
  label: string;
  describe: string;
  /** Components whose CPU is sampled. */
  components: [string, () => number[]][];
  /** Kubernetes: when each deployment's first pod was created, scheduled and Ready (by label). */
  podTimes?(): Promise<Map<string, PodTimes>>;
  /** Lines of the runtime's own logs worth reporting (throttling, errors), read before stop. */
  logNotes?(): string[];
  stop(): Promise<void>;
}

interface PodTimes {
  /** The revision's ReplicaSet (by the deployment controller). */
  replicaSetCreated?: number;
  created: number;
  scheduled?: number;
  ready?: number;
}

async function kubernetesRuntime(): Promise<RuntimeUnderTest> {
  const cp: ControlPlane = await startControlPlane();
  const kubeDir = path.dirname(cp.kubeconfigPath);
  const pidOf = (name: string) => () => {
    try {
      return [Number(fs.readFileSync(path.join(kubeDir, 'pids', name), 'utf8'))];
    } catch {
      return [];
    }
  };
  try {
    await cp.kubectl('create', 'namespace', NAMESPACE);
    // Bench-only fake GPU nodes like scripts/k8s/node-groups.txt's (labels, annotation, taint),
    // as many as N deployments at 2 replicas for the decision sample need.
    const nodes = Math.ceil((N + Math.ceil(DECISIONS / 2) + 10) / PODS_PER_NODE);
    const manifest = Array.from(
      { length: nodes },
      (_, i) => `apiVersion: v1
kind: Node
metadata:
  name: bench-t4-${i}
  annotations: { kwok.x-k8s.io/node: fake }
  labels:
    kubernetes.io/hostname: bench-t4-${i}
    type: kwok
    eks.amazonaws.com/nodegroup: bench-t4
    nvidia.com/gpu.product: ${ACCELERATOR}
spec:
  taints: [{ key: nvidia.com/gpu, value: present, effect: NoSchedule }]
status:
  capacity: { cpu: "96", memory: 1Ti, pods: "${PODS_PER_NODE}", nvidia.com/gpu: "${PODS_PER_NODE}" }
  allocatable: { cpu: "96", memory: 1Ti, pods: "${PODS_PER_NODE}", nvidia.com/gpu: "${PODS_PER_NODE}" }
`,
    ).join('---\n');
    const file = path.join(kubeDir, 'bench-nodes.yaml');
    fs.writeFileSync(file, manifest);
    await cp.kubectl('apply', '-f', file);
    for (;;) {
      const out = await cp.kubectl('get', 'nodes', '--no-headers', '-l', 'type=kwok');
      const ready = out.split('\n').filter((l) => / Ready /.test(l) && l.startsWith('bench-t4-'));
      if (ready.length >= nodes) break;
      await sleep(500);
    }
    log(
      `kubernetes: local control plane up, ${nodes} fake ${ACCELERATOR} nodes x ${PODS_PER_NODE} GPUs`,
    );
    if (KCM_QPS) await restartControllerManager(kubeDir, KCM_QPS);
  } catch (err) {
    await cp.stop();
    throw err;
  }
  const server = cp.kubeconfig.getCurrentCluster()?.server ?? '';
  const core = cp.kubeconfig.makeApiClient(CoreV1Api);
  return {
    async podTimes() {
      const out = new Map<string, PodTimes>();
      const time = (t: Date | string | undefined) => (t ? new Date(t).getTime() : undefined);
      const pods = await core.listNamespacedPod({ namespace: NAMESPACE });
      for (const pod of pods.items) {
        const label = pod.metadata?.labels?.[DEPLOYMENT_LABEL];
        const created = time(pod.metadata?.creationTimestamp);
        if (!label || created === undefined) continue;
        const known = out.get(label);
        if (known && known.created <= created) continue; // the first replica
        const condition = (type: string) =>
          time(
            pod.status?.conditions?.find((c) => c.type === type && c.status === 'True')
              ?.lastTransitionTime,
          );
        out.set(label, {
          created,
          scheduled: condition('PodScheduled'),
          ready: condition('Ready'),
        });
      }
      const sets = await cp.kubeconfig
        .makeApiClient(AppsV1Api)
        .listNamespacedReplicaSet({ namespace: NAMESPACE });
      for (const set of sets.items) {
        const label = set.metadata?.labels?.[DEPLOYMENT_LABEL];
        const known = label ? out.get(label) : undefined;
        const created = time(set.metadata?.creationTimestamp);
        if (known && created !== undefined)
          known.replicaSetCreated = Math.min(known.replicaSetCreated ?? created, created);
      }
      return out;
    },
    logNotes() {
      const notes: string[] = [];
      for (const component of ['kube-controller-manager', 'kube-scheduler', 'kube-apiserver']) {
        let text = '';
        try {
          text = fs.readFileSync(path.join(kubeDir, 'logs', `${component}.log`), 'utf8');
        } catch {
          continue;
        }
        const throttled = text.split('\n').filter((l) => /client-side throttling/.test(l));
        notes.push(
          `${component}: ${throttled.length} "client-side throttling" log lines${throttled.length ? `; last: ${throttled.at(-1)!.slice(0, 240)}` : ''}`,
        );
      }
      return notes;
    },
    provider: new KubernetesProvider({ kubeconfig: cp.kubeconfig, namespace: NAMESPACE }),
    origin: server,
    label: 'apiserver',
    describe: `kube-apiserver ${server}`,
    components: [
      ['kube-apiserver', pidOf('kube-apiserver')],
      ['etcd', pidOf('etcd')],
      ['controller-manager', pidOf('kube-controller-manager')],
      ['scheduler', pidOf('kube-scheduler')],
      ['kwok', pidOf('kwok')],
    ],
    stop: () => cp.stop(),
  };
}

/** The script's kube-controller-manager again, same arguments plus a client QPS (see KCM_QPS). */
async function restartControllerManager(kubeDir: string, qps: number): Promise<void> {
  const pidFile = path.join(kubeDir, 'pids', 'kube-controller-manager');
  const pid = Number(fs.readFileSync(pidFile, 'utf8'));
  const args = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  process.kill(pid, 'SIGTERM');
  while (fs.existsSync(`/proc/${pid}`)) await sleep(100);
  const out = fs.openSync(path.join(kubeDir, 'logs', 'kube-controller-manager.log'), 'a');
  const child = spawn(
    args[0]!,
    [...args.slice(1), `--kube-api-qps=${qps}`, `--kube-api-burst=${Math.ceil(qps * 1.5)}`],
    { detached: true, stdio: ['ignore', out, out] },
  );
  child.unref();
  fs.writeFileSync(pidFile, String(child.pid));
  log(`kubernetes: kube-controller-manager restarted with --kube-api-qps=${qps} (diagnosis)`);
}

async function localRuntime(): Promise<RuntimeUnderTest> {
  const agent: BenchAgent = await startBenchAgent();
  const port = Number(new URL(agent.url).port);
  const agentPid = () =>
    childrenOf(process.pid, /runtime\/agent\/main\.js/).filter((pid) => pid > 0);
  const replicas = () => agentPid().flatMap((pid) => childrenOf(pid, /model-server/));
  let replicaPids = new Set<number>();
  const tracker = setInterval(() => {
    for (const pid of replicas()) replicaPids.add(pid);
  }, 5000);
  log(`local: agent on port ${port}`);
  return {
    provider: new LocalRuntimeProvider(agent.url),
    origin: agent.url,
    label: 'agent',
    describe: `local runtime agent ${agent.url}`,
    components: [
      ['agent', agentPid],
      ['model-servers', replicas],
    ],
    async stop() {
      clearInterval(tracker);
      for (const pid of replicas()) replicaPids.add(pid);
      await agent.stop(); // SIGTERM: the agent stops its replicas
      // Any replica it left behind was started for this run: stop it too.
      for (const pid of replicaPids) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone
        }
      }
      replicaPids = new Set();
    },
  };
}

// ---- the run -----------------------------------------------------------------------------------

/** Activity attempts by type: how many, how long, and why the failed ones failed. */
class ActivityStats {
  readonly byType = new Map<string, { ok: number; failed: number; ms: number[] }>();
  readonly errors = new Map<string, number>();

  record(type: string, ms: number, err?: unknown): void {
    let entry = this.byType.get(type);
    if (!entry) this.byType.set(type, (entry = { ok: 0, failed: 0, ms: [] }));
    entry.ms.push(ms);
    if (err === undefined) entry.ok++;
    else {
      entry.failed++;
      const key = `${type}: ${(err as Error).message ?? String(err)}`.slice(0, 160);
      this.errors.set(key, (this.errors.get(key) ?? 0) + 1);
    }
  }

  lines(): string[] {
    return [...this.byType].map(([type, e]) => {
      const sorted = [...e.ms].sort((a, b) => a - b);
      return `${type}: ${e.ok} ok, ${e.failed} failed attempts; duration p50 ${fmt(percentile(sorted, 50), 0)} ms, p99 ${fmt(percentile(sorted, 99), 0)} ms, max ${fmt(sorted.at(-1) ?? NaN, 0)} ms`;
    });
  }
}
const activityStats = new ActivityStats();

let runtimeComponents: [string, () => number[]][] = [];

async function main(): Promise<void> {
  Runtime.install({ logger: new DefaultLogger('WARN') });
  // The defaults (worker capacity, observer scrape settings), but WORKER_* set in the environment.
  const config = loadConfig(
    Object.fromEntries(
      Object.entries(process.env).filter(([k, v]) => k.startsWith('WORKER_') && v !== undefined),
    ),
  );
  const capacity = workerCapacity(config);
  const requests = new RequestCounter();
  requests.install();

  const env = await TestWorkflowEnvironment.createLocal({
    server: {
      executable: { type: 'existing-path', path: temporalCliPath() },
      extraArgs: SEARCH_ATTRIBUTE_FLAGS.flatMap((flag) => ['--search-attribute', flag]),
    },
  });
  const temporalPid = () => childrenOf(process.pid, /temporal/);
  let runtime: RuntimeUnderTest | undefined;
  try {
    runtime = RUNTIME === 'kubernetes' ? await kubernetesRuntime() : await localRuntime();
    requests.add({
      origin: runtime.origin,
      label: runtime.label,
      ...(RUNTIME === 'kubernetes' ? { kind: kubernetesKind } : {}),
    });
    await run(env, runtime, capacity, config, requests, temporalPid);
  } finally {
    await runtime?.stop().catch((err: unknown) => console.error('runtime stop failed:', err));
    await env.teardown();
    requests.uninstall();
  }
}

async function run(
  env: TestWorkflowEnvironment,
  runtime: RuntimeUnderTest,
  capacity: ReturnType<typeof workerCapacity>,
  config: ReturnType<typeof loadConfig>,
  requests: RequestCounter,
  temporalPid: () => number[],
): Promise<void> {
  const client: Client = env.client;
  const taskQueue = 'bench-scale';
  const limitFor = () => 1_000_000;
  const tracked = new TrackedProvider(runtime.provider);
  const worker: Worker = await createWorker({
    connection: env.nativeConnection,
    namespace: 'default',
    taskQueue,
    deps: { client, taskQueue, limitFor, provider: tracked.provider, catalog: BUILTIN_CATALOG },
    overrides: {
      ...capacity,
      interceptors: {
        activity: [
          (ctx) => ({
            inbound: {
              execute: async (input, next) => {
                const type = ctx.info.activityType;
                const startedAt = performance.now();
                try {
                  const result = await next(input);
                  activityStats.record(type, performance.now() - startedAt);
                  return result;
                } catch (err) {
                  activityStats.record(type, performance.now() - startedAt, err);
                  throw err;
                }
              },
            },
          }),
        ],
      },
    },
  });
  const service = new DeploymentService({
    client,
    taskQueue,
    catalog: BUILTIN_CATALOG,
    limitFor,
  });

  const cpu = new ProcessCpu();
  cpu.add('bench process', () => [process.pid]);
  cpu.add('temporal dev server', temporalPid);
  for (const [name, pids] of runtime.components) cpu.add(name, pids);
  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();

  log(
    `N=${N} RUNTIME=${RUNTIME} CONCURRENCY=${CONCURRENCY} STEADY_SECONDS=${STEADY_SECONDS}; one worker in this process: ` +
      `${capacity.maxConcurrentActivityTaskExecutions} activity slots, ${capacity.maxConcurrentWorkflowTaskExecutions} workflow-task slots, ` +
      `${capacity.maxCachedWorkflows} cached workflows (workerCapacity of the default config); machine ${os.cpus().length} cores, ` +
      `${fmt(os.totalmem() / 1024 / MB)} GiB`,
  );

  runtimeComponents = runtime.components;
  await worker.runUntil(async () => {
    const observer: Observer | undefined = startObserver(tracked.provider, client, {
      log: (m) => log(m),
      load: {
        intervalMs: config.OBSERVER_SCRAPE_INTERVAL_MS,
        allowNonLoopback: config.OBSERVER_SCRAPE_ANY_ADDRESS,
      },
    });
    if (!observer) throw new Error('the runtime offers no observer');
    while (!observer.isActive) await sleep(100);
    try {
      await scenario(client, service, tracked, observer, requests, cpu, loop, runtime);
    } finally {
      await observer.stop();
    }
  });
}

async function scenario(
  client: Client,
  service: DeploymentService,
  tracked: TrackedProvider,
  observer: Observer,
  requests: RequestCounter,
  cpu: ProcessCpu,
  loop: ReturnType<typeof monitorEventLoopDelay>,
  runtime: RuntimeUnderTest,
): Promise<void> {
  const targets: Target[] = Array.from({ length: N }, (_, i) => ({
    workspace: `ws-${String(Math.floor(i / PER_WORKSPACE)).padStart(2, '0')}`,
    name: `d-${String(i).padStart(5, '0')}`,
  }));
  const running = `WorkflowType = '${DEPLOYMENT_WORKFLOW_TYPE}' AND ExecutionStatus = 'Running'`;
  const healthyQuery = `${running} AND DeploymentHealth = 'Healthy'`;
  const countHealthy = async () => Number((await client.workflow.count(healthyQuery)).count);
  /** Deployments that ended (a refused or failed admission): they never become Healthy. */
  const endedQuery = `WorkflowType = '${DEPLOYMENT_WORKFLOW_TYPE}' AND ExecutionStatus != 'Running' AND ExecutionStatus != 'ContinuedAsNew'`;
  const countEnded = async () => Number((await client.workflow.count(endedQuery)).count);

  // ---- progress lines ----
  let created = 0;
  let createErrors = 0;
  let healthy = 0;
  const errors = new Map<string, number>();
  let last = { at: performance.now(), created: 0, healthy: 0, cpu: cpu.sample() };
  const cpuLine = (from: CpuSample, to: CpuSample) =>
    [...ProcessCpu.usage(from, to)].map(([k, v]) => `${k} ${fmt(v, 0)}%`).join(', ');
  const progress = (what: string) => {
    const now = performance.now();
    const s = cpu.sample();
    const dt = (now - last.at) / 1000;
    log(
      `${what}: created ${created}/${N} (${fmt((created - last.created) / dt)}/s, errors ${createErrors}), Healthy ${healthy} ` +
        `(${fmt((healthy - last.healthy) / dt)}/s); RSS ${fmt(process.memoryUsage().rss / MB, 0)} MB; ` +
        `event loop p99 ${fmt(loop.percentile(99) / 1e6, 0)} ms; observer signals ${observer.stats.signals}; cpu (% of a core): ${cpuLine(last.cpu, s)}`,
    );
    loop.reset();
    last = { at: now, created, healthy, cpu: s };
  };
  const ticker = setInterval(() => {
    void countHealthy()
      .then((n) => (healthy = n))
      .catch(() => undefined)
      .finally(() => progress('progress'));
  }, 10_000);

  // ---- 1. creates ----
  const createPhaseCpu = cpu.sample();
  const createStarted = performance.now();
  const createLatencies: number[] = [];
  const notCreated: Target[] = [];
  const createSentAt = new Map<string, number>();
  const budgetForCreates = deadline - (3 * 60_000 + STEADY_SECONDS * 1000);
  const spec = {
    model: MODEL,
    cloud: { type: 'dedicated', accelerator: { type: ACCELERATOR, count: 1 } },
    scaling: { minReplicas: 1, maxReplicas: 2, metric: 'concurrency', threshold: 8 },
  };
  const workspaces = Math.ceil(N / PER_WORKSPACE);
  const createOrder: Target[] = [];
  if (ORDER === 'interleaved') {
    for (let at = 0; at < PER_WORKSPACE; at++)
      for (let w = 0; w < workspaces; w++) {
        const t = targets[w * PER_WORKSPACE + at];
        if (t) createOrder.push(t);
      }
  } else createOrder.push(...targets);
  await inLanes(createOrder, CONCURRENCY, async (t) => {
    if (performance.now() > budgetForCreates) {
      notCreated.push(t);
      return;
    }
    createSentAt.set(idOf(t), Date.now());
    for (let attempt = 1; ; attempt++) {
      const sentAt = performance.now();
      try {
        await service.create(t.workspace, { name: t.name, ...spec });
        createLatencies.push(performance.now() - sentAt);
        created++;
        return;
      } catch (err) {
        const message =
          err instanceof DomainError ? `${err.code}: ${err.message}` : (err as Error).message;
        const key = message.replace(/"[^"]*"/g, '"…"').slice(0, 160);
        errors.set(key, (errors.get(key) ?? 0) + 1);
        createErrors++;
        // A 409 for the name: an earlier attempt that timed out was applied after all.
        if (err instanceof DomainError && err.code === 'conflict' && attempt > 1) {
          created++;
          return;
        }
        if (attempt >= 5) {
          notCreated.push(t);
          return;
        }
        await sleep(1000 * attempt);
      }
    }
  });
  const createSeconds = (performance.now() - createStarted) / 1000;
  log(
    `creates done: ${created} in ${fmt(createSeconds)} s (${fmt(created / createSeconds)}/s)${notCreated.length ? `, ${notCreated.length} not created` : ''}`,
  );

  // ---- 2. until every deployment is Healthy ----
  let allHealthyAt: number | undefined;
  const healthyDeadline = deadline - (2 * 60_000 + STEADY_SECONDS * 1000);
  let endedWhileWaiting = 0;
  for (;;) {
    healthy = await countHealthy();
    endedWhileWaiting = await countEnded();
    if (healthy + endedWhileWaiting >= created) {
      allHealthyAt = performance.now();
      break;
    }
    if (performance.now() > healthyDeadline) break;
    await sleep(1000);
  }
  const createPhase = { cpu: ProcessCpu.usage(createPhaseCpu, cpu.sample()) };
  const toAllHealthy = allHealthyAt !== undefined ? (allHealthyAt - createStarted) / 1000 : NaN;
  log(
    allHealthyAt !== undefined
      ? `all ${created - endedWhileWaiting} running deployments Healthy ${fmt(toAllHealthy)} s after the first create${endedWhileWaiting ? ` (${endedWhileWaiting} ended)` : ''}`
      : `NOT all Healthy: ${healthy}/${created} when the time budget ran out`,
  );
  const pop = await population(client);

  // ---- 3. decision latency under that population ----
  const decisionCpu = cpu.sample();
  const healthyTargets = targets.filter((t) => pop.healthy.has(idOf(t)));
  const kubernetes = RUNTIME === 'kubernetes';
  // Kubernetes: pairs 1 -> 2 -> 1 on DECISIONS/2 deployments. Local: the observer scrapes the
  // real (idle) replicas and scales a deployment back to 1 itself as soon as its second replica
  // is ready, so each sampled deployment takes one decision, 1 -> 2.
  const sampled = spread(
    healthyTargets.length,
    kubernetes ? Math.ceil(DECISIONS / 2) : DECISIONS,
  ).map((i) => healthyTargets[i]!);
  const latencies: { out: number[]; in: number[] } = { out: [], in: [] };
  const readyAfterScaleOut: number[] = [];
  let missed = 0;
  /** How long the signal call itself took (sent -> the server answered). */
  const signalRpc: number[] = [];
  const decide = async (t: Target, replicas: number, perReplica: number[]) => {
    const handle = client.workflow.getHandle(deploymentWorkflowId(t.workspace, t.name));
    const applied = tracked.nextApply(idOf(t), replicas, DECISION_TIMEOUT_MS);
    const sentAt = performance.now();
    const sent = await handle.signal(observeMetricsSignal, observation(perReplica)).then(
      () => {
        signalRpc.push(performance.now() - sentAt);
        return true;
      },
      (err: unknown) => {
        log(`decision signal to ${idOf(t)} failed: ${(err as Error).message}`);
        return false;
      },
    );
    const at = sent ? await applied : undefined;
    if (at === undefined) {
      missed++;
      return undefined;
    }
    (replicas > 1 ? latencies.out : latencies.in).push(at - sentAt);
    return at;
  };
  const decisionsStarted = performance.now();
  await inLanes(sampled, DECISION_CONCURRENCY, async (t) => {
    const out = await decide(t, 2, [20]);
    if (!kubernetes || out === undefined) return;
    // Let the second replica come up before scaling back in (as traffic would).
    const handle = client.workflow.getHandle(deploymentWorkflowId(t.workspace, t.name));
    const until = performance.now() + DECISION_TIMEOUT_MS;
    while (performance.now() < until) {
      const view = await handle.query(statusQuery);
      if (view.replicas.ready >= 2) {
        readyAfterScaleOut.push(performance.now() - out);
        break;
      }
      await sleep(100);
    }
    await decide(t, 1, [1, 1]);
  });
  if (process.env.DEBUG_DECISIONS) await dumpDecisions(client, sampled.slice(0, 3), tracked);
  let scaledBackByObserver = 0;
  if (!kubernetes) {
    // The load observer's own decisions: each sampled deployment back at 1 replica.
    const until = performance.now() + 60_000;
    while (performance.now() < until) {
      scaledBackByObserver = sampled.filter((t) => tracked.applied.get(idOf(t)) === 1).length;
      if (scaledBackByObserver === sampled.length) break;
      await sleep(500);
    }
  }
  const decisionSeconds = (performance.now() - decisionsStarted) / 1000;
  const decisionPhase = { cpu: ProcessCpu.usage(decisionCpu, cpu.sample()) };
  const all = [...latencies.out, ...latencies.in].sort((a, b) => a - b);
  log(
    `decisions: ${all.length} in ${fmt(decisionSeconds)} s (${missed} without a scale command within ${DECISION_TIMEOUT_MS / 1000} s)`,
  );

  // Settle: scale-ins finish, the observer's signals of them are sent.
  await sleep(10_000);
  healthy = await countHealthy();

  // ---- 4-6. steady state ----
  const historySample = spread(N, HISTORY_SAMPLE)
    .map((i) => targets[i]!)
    .filter((t) => !notCreated.includes(t));
  const historyBefore = await histories(client, historySample);
  const rssBefore = memory();
  const callsBefore = tracked.callsSnapshot();
  const observerBefore = { ...observer.stats };
  const loadBefore = { ...(observer.load?.stats ?? { scrapes: 0, signals: 0 }) };
  const feedBefore = feedRequests(tracked.feed);
  const steadyCpu = cpu.sample();
  const beforeSteady = requests.snapshot();
  requests.reset();
  const steadyStarted = performance.now();
  log(`steady window: ${STEADY_SECONDS} s, counting requests and history events`);
  while (performance.now() - steadyStarted < STEADY_SECONDS * 1000)
    await sleep(Math.min(1000, STEADY_SECONDS * 1000 - (performance.now() - steadyStarted)));
  const steadySeconds = (performance.now() - steadyStarted) / 1000;
  const counted = requests.snapshot();
  const steadyPhase = { cpu: ProcessCpu.usage(steadyCpu, cpu.sample()) };
  const callsAfter = tracked.callsSnapshot();
  const observerAfter = { ...observer.stats };
  const loadAfter = { ...(observer.load?.stats ?? { scrapes: 0, signals: 0 }) };
  const feedAfter = feedRequests(tracked.feed);
  const historyAfter = await histories(client, historySample);
  const rssAfter = memory();
  clearInterval(ticker);

  // What one metrics keepalive costs in history (the load observer sends one every 40 minutes
  // to a steady deployment it scrapes): a repeated idle observation, on deployments not sampled.
  const keepaliveSample = spread(healthyTargets.length, 20).map((i) => healthyTargets[i]!);
  const keepaliveCost = await keepaliveEvents(client, keepaliveSample);

  const stages = await stageBreakdown(
    client,
    runtime,
    tracked,
    spread(healthyTargets.length, 300).map((i) => healthyTargets[i]!),
    createSentAt,
  );
  const logNotes = runtime.logNotes?.() ?? [];
  const statusRound = await statusCallInHistory(client, targets, tracked);

  // ---- the report ----
  const steadyEvents = await diffHistories(client, historyBefore, historyAfter);
  const perDeployment = steadyEvents.events / Math.max(1, steadyEvents.deployments);
  const perHourMeasured = (perDeployment * 3600) / steadySeconds;
  const apiTotal = counted.byLabel.get(runtime_label()) ?? 0;
  const apiPerSecond = apiTotal / steadySeconds;
  const p = (xs: number[], q: number) =>
    xs.length
      ? percentile(
          [...xs].sort((a, b) => a - b),
          q,
        )
      : NaN;
  const createSorted = [...createLatencies].sort((a, b) => a - b);
  const processes = processMemory(runtimeComponents);

  console.log('');
  console.log(
    `==== bench:scale  N=${N}  RUNTIME=${RUNTIME}  CONCURRENCY=${CONCURRENCY}  ORDER=${ORDER}  STEADY_SECONDS=${STEADY_SECONDS}${KCM_QPS ? `  KCM_QPS=${KCM_QPS}` : ''}  (${fmt(elapsed(), 0)} s in all) ====`,
  );
  const rows: [string, string, string][] = [
    [
      '1. Healthy (headline)',
      `${healthy}/${N} Healthy; ${pop.stalled.count} running but not Healthy; ${pop.ended.count} ended${notCreated.length ? `; ${notCreated.length} never created (time budget)` : ''}`,
      'deployments whose DeploymentHealth search attribute is Healthy at the end (visibility count); not Healthy and ended as listed after the create phase',
    ],
    [
      '2. create throughput',
      `${fmt(created / createSeconds)} creates/s (${created} in ${fmt(createSeconds)} s); answer p50 ${fmt(p(createSorted, 50), 0)} ms, p99 ${fmt(p(createSorted, 99), 0)} ms; errors ${createErrors}`,
      `DeploymentService.create (update-with-start, answers once admitted: quota reserved), ${CONCURRENCY} in flight, ${ORDER === 'workspace' ? 'one workspace after another' : 'round-robin over the workspaces'} (${workspaces} workspaces of ${PER_WORKSPACE})`,
    ],
    [
      '2. last Healthy',
      allHealthyAt !== undefined
        ? `${fmt(toAllHealthy)} s after the first create (${fmt(toAllHealthy - createSeconds)} s after the last create answered)${endedWhileWaiting ? `; ${endedWhileWaiting} ended instead` : ''}`
        : `not reached (${healthy}/${created})`,
      'first create sent -> every created deployment counted Healthy or ended (polled each 1 s)',
    ],
    [
      '3. decision latency',
      `p50 ${fmt(p(all, 50))} ms, p99 ${fmt(p(all, 99))} ms, max ${fmt(all.at(-1) ?? NaN)} ms over ${all.length} decisions` +
        ` (of which the signal call itself p50 ${fmt(p(signalRpc, 50))} / p99 ${fmt(p(signalRpc, 99))} ms;` +
        ` scale-out p50 ${fmt(p(latencies.out, 50))} / p99 ${fmt(p(latencies.out, 99))} ms${kubernetes ? `; scale-in p50 ${fmt(p(latencies.in, 50))} / p99 ${fmt(p(latencies.in, 99))} ms` : ''}); missed ${missed}`,
      `observeMetricsSignal sent -> provider.applyRevision called with the new count, ${DECISION_CONCURRENCY} deployments at once, over ${sampled.length} deployments spread across the population (target p99 <= 200 ms; <= 1 s at 5,000)`,
    ],
    ...(kubernetes
      ? ([
          [
            '3. scale-out to ready',
            `p50 ${fmt(p(readyAfterScaleOut, 50), 0)} ms, p99 ${fmt(p(readyAfterScaleOut, 99), 0)} ms`,
            'applyRevision(2) -> the workflow reports 2 ready replicas (kwok readies pods after 1-2 s)',
          ],
        ] as [string, string, string][])
      : ([
          [
            '3. scaled back by the observer',
            `${scaledBackByObserver}/${sampled.length}`,
            'sampled deployments the load observer (idle replicas scraped) brought back to 1 replica',
          ],
        ] as [string, string, string][])),
    [
      '4. worker RSS',
      `${fmt(rssAfter.rss, 0)} MB after a GC at steady state (${fmt(rssBefore.rss, 0)} MB at its start); V8 heap ${fmt(rssAfter.heap, 0)} MB`,
      `process.memoryUsage().rss of this process: the worker (SDK core, workflow threads, ${N > 1000 ? '1000 cached of' : 'all'} ${N} workflows), the observer (informer caches / load), the Temporal client, the bench (target <= 2 GB at 5,000)`,
    ],
    [
      `5. requests to the ${runtime_label()}`,
      `${fmt(apiPerSecond, 2)}/s (${apiTotal} in ${fmt(steadySeconds, 0)} s)`,
      `every HTTP request this process made to the ${runtime_label()} in the steady window (after all Healthy and the decision sample); target < 50/s at 5,000`,
    ],
    [
      '6. history events (measured)',
      `${fmt(perHourMeasured, 2)} per deployment-hour (${steadyEvents.events} events over ${steadyEvents.deployments} deployments in ${fmt(steadySeconds, 0)} s${steadyEvents.continued ? `; ${steadyEvents.continued} continued as new` : ''})`,
      'history length added in the steady window over a sample of deployments, scaled to an hour (target <= 10)',
    ],
    [
      '6. history events (an hour, computed)',
      hourlyComputed(keepaliveCost),
      'from the workflow timers: the safety net every 2 h of silence, metric keepalives every 40 min from the load observer',
    ],
  ];
  const width = Math.max(...rows.map((r) => r[0].length));
  for (const [what, value, meaning] of rows) {
    console.log(`${what.padEnd(width)}  ${value}`);
    console.log(`${''.padEnd(width)}    (${meaning})`);
  }

  console.log('');
  console.log(`requests to the ${runtime_label()} in the steady window, by kind:`);
  for (const [kind, n] of [...counted.byKind].sort((a, b) => b[1] - a[1]))
    console.log(`  ${String(n).padStart(7)}  ${fmt(n / steadySeconds, 3).padStart(8)}/s  ${kind}`);
  if (counted.byKind.size === 0) console.log('  (none)');
  console.log(
    `  in the steady window: feed requests (its own counter) ${JSON.stringify(feedDiff(feedBefore, feedAfter))}; ` +
      `observer signals ${observerAfter.signals - observerBefore.signals}, unchanged statuses ${observerAfter.unchanged - observerBefore.unchanged}; ` +
      `load observer scrapes ${loadAfter.scrapes - loadBefore.scrapes}, metric signals ${loadAfter.signals - loadBefore.signals}`,
  );
  console.log(
    `requests to the ${runtime_label()} before the steady window (creates, readiness, the decision sample), by kind (per deployment created):`,
  );
  for (const [kind, n] of [...beforeSteady.byKind].sort((a, b) => b[1] - a[1]))
    console.log(
      `  ${String(n).padStart(7)}  ${fmt(n / Math.max(1, created), 2).padStart(8)}  ${kind}`,
    );
  console.log(
    `provider calls (activities) in the steady window: ${callsLine(callsBefore, callsAfter)}`,
  );
  console.log(`provider calls over the whole run: ${callsLine(new Map(), callsAfter)}`);
  if (steadyEvents.types.size > 0)
    console.log(
      `history events added in the steady window, by type: ${[...steadyEvents.types].map(([k, v]) => `${k} ${v}`).join(', ')}`,
    );
  console.log(
    `one metric keepalive (a repeated idle observation) adds ${fmt(keepaliveCost.perSignal, 2)} events (over ${keepaliveCost.deployments} deployments: ${[...keepaliveCost.types].map(([k, v]) => `${k} ${v}`).join(', ') || 'none'})`,
  );
  console.log('');
  console.log(
    'cpu by phase (% of one core; the machine has 2 cores, "machine" is busy % of both):',
  );
  for (const [phase, usage] of [
    ['create -> all Healthy', createPhase.cpu],
    ['decision sample', decisionPhase.cpu],
    ['steady window', steadyPhase.cpu],
  ] as const)
    console.log(
      `  ${phase.padEnd(22)} ${[...usage].map(([k, v]) => `${k} ${fmt(v, 0)}%`).join(', ')}`,
    );
  console.log(`process RSS at the end: ${processes}`);
  console.log('');
  console.log(
    'where a create spends its time (sampled deployments, first replica; wall clock; Kubernetes timestamps are whole seconds, so those stages are +-1 s):',
  );
  for (const line of stages) console.log(`  ${line}`);
  if (statusRound) console.log(`a status call as its history shows it: ${statusRound}`);
  console.log('activity attempts over the whole run:');
  for (const line of activityStats.lines()) console.log(`  ${line}`);
  for (const [message, n] of [...activityStats.errors].sort((a, b) => b[1] - a[1]).slice(0, 8))
    console.log(`    ${n} x ${message}`);
  for (const note of logNotes) console.log(`  ${note}`);
  if (createErrors > 0) {
    console.log('create errors (retried):');
    for (const [message, n] of errors) console.log(`  ${n} x ${message}`);
  }
  if (pop.stalled.count > 0) {
    console.log(
      `running but not Healthy after the create phase (${pop.stalled.count}), by health/state: ${pop.stalled.summary}`,
    );
    for (const line of pop.stalled.examples) console.log(`  ${line}`);
  }
  if (pop.ended.count > 0) {
    console.log(`ended (${pop.ended.count}): ${pop.ended.summary}`);
    for (const line of pop.ended.examples) console.log(`  ${line}`);
  }

  function runtime_label() {
    return kubernetes ? 'apiserver' : 'agent';
  }
}

function callsLine(before: Map<string, number>, after: Map<string, number>): string {
  const parts = [...after]
    .map(([k, v]) => [k, v - (before.get(k) ?? 0)] as const)
    .filter(([, v]) => v > 0)
    .map(([k, v]) => `${k} ${v}`);
  return parts.join(', ') || 'none';
}

function feedRequests(feed: RevisionFeed | undefined): Record<string, number> {
  if (feed instanceof KubernetesRevisionFeed) return { ...feed.requests };
  if (feed instanceof AgentRevisionFeed) return { requests: feed.requests };
  return {};
}

function feedDiff(a: Record<string, number>, b: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(b).map(([k, v]) => [k, v - (a[k] ?? 0)]));
}

function processMemory(components: [string, () => number[]][]): string {
  const ours = [`bench process ${fmt(process.memoryUsage().rss / MB, 0)} MB`];
  for (const pid of childrenOf(process.pid, /temporal/))
    ours.push(`temporal dev server ${fmt(rssMbOf(pid), 0)} MB`);
  for (const [name, pids] of components) {
    const list = pids();
    const total = list.reduce((sum, pid) => sum + rssMbOf(pid), 0);
    ours.push(`${name} ${fmt(total, 0)} MB${list.length > 1 ? ` (${list.length} processes)` : ''}`);
  }
  return ours.join(', ');
}

/** The safety net and keepalives, per real hour, from their periods and what each costs. */
function hourlyComputed(keepalive: { perSignal: number }): string {
  // A safety-net round (the timer fires, the workflow asks getRevisionStatus once): TimerFired,
  // WorkflowTask Scheduled/Started/Completed, ActivityTask Scheduled/Started/Completed,
  // WorkflowTask Scheduled/Started/Completed, TimerStarted (the next one) = 11 events.
  const safetyNetRound = 11;
  // The timer firing while keepalives keep the deployment "heard": TimerFired, a workflow task
  // (3), TimerStarted = 5 events, no status call.
  const timerOnly = 5;
  const perHour = 3600_000;
  const quiet = (safetyNetRound * perHour) / SAFETY_NET_MS;
  const scraped =
    (keepalive.perSignal * perHour) / KEEPALIVE_MS + (timerOnly * perHour) / SAFETY_NET_MS;
  return (
    `${fmt(quiet, 1)}/h where nothing is scraped (kwok: ${safetyNetRound} events per safety-net round every ${SAFETY_NET_MS / 3600_000} h); ` +
    `${fmt(scraped, 1)}/h where the load observer scrapes (${fmt(keepalive.perSignal, 1)} events per keepalive x ${perHour / KEEPALIVE_MS}/h + the timer alone, ${timerOnly} events per ${SAFETY_NET_MS / 3600_000} h)`
  );
}

// ---- where creates spend their time -----------------------------------------------------------

async function stageBreakdown(
  client: Client,
  runtime: RuntimeUnderTest,
  tracked: TrackedProvider,
  targets: Target[],
  sentAt: Map<string, number>,
): Promise<string[]> {
  const pods = runtime.podTimes ? await runtime.podTimes() : undefined;
  const stages = new Map<string, number[]>();
  const add = (stage: string, from?: number, to?: number) => {
    if (from === undefined || to === undefined) return;
    let list = stages.get(stage);
    if (!list) stages.set(stage, (list = []));
    list.push(to - from);
  };
  await inLanes(targets, 20, async (t) => {
    const handle = client.workflow.getHandle(deploymentWorkflowId(t.workspace, t.name));
    const events = await handle.query(eventsQuery).catch(() => undefined);
    if (!events) return;
    const at = (test: (e: DeploymentEvent) => boolean) => {
      const e = events.find(test);
      return e ? Date.parse(e.time) : undefined;
    };
    const sent = sentAt.get(idOf(t));
    const created = at((e) => e.reason === 'Created');
    const apply = tracked.firstApply.get(idOf(t));
    const healthy = at((e) => / -> Healthy/.test(e.message));
    const pod = pods?.get(deploymentLabel(idOf(t)));
    add('create sent -> admitted (Created event: quota reserved)', sent, created);
    add('admitted -> applyRevision called', created, apply?.called);
    add('applyRevision call (the activity, to return)', apply?.called, apply?.returned);
    if (pod) {
      add(
        'apply returned -> ReplicaSet created (deployment controller)',
        apply?.returned,
        pod.replicaSetCreated,
      );
      add(
        'ReplicaSet created -> first pod created (replicaset controller)',
        pod.replicaSetCreated,
        pod.created,
      );
      add('pod created -> scheduled (1 s timestamps)', pod.created, pod.scheduled);
      add('scheduled -> Ready (kwok, 1-2 s load; 1 s timestamps)', pod.scheduled, pod.ready);
      add('pod Ready -> Healthy event (observer, signal, workflow)', pod.ready, healthy);
    } else
      add(
        'apply returned -> Healthy event (replicas load, observer, workflow)',
        apply?.returned,
        healthy,
      );
    add('create sent -> Healthy event (total)', sent, healthy);
  });
  const width = Math.max(0, ...[...stages.keys()].map((k) => k.length));
  return [...stages].map(([stage, values]) => {
    const sorted = values.sort((a, b) => a - b);
    return `${stage.padEnd(width)}  p50 ${fmt(percentile(sorted, 50) / 1000, 2)} s, p99 ${fmt(percentile(sorted, 99) / 1000, 2)} s, max ${fmt(sorted.at(-1)! / 1000, 2)} s (${sorted.length})`;
  });
}

/**
 * The events around one getRevisionStatus call in a deployment's history (a loading check; the
 * safety net makes the same round), to check the per-round count the hourly figure uses.
 */
async function statusCallInHistory(
  client: Client,
  targets: Target[],
  tracked: TrackedProvider,
): Promise<string | undefined> {
  // The first round no signal interleaved with, among a few deployments that asked.
  let first: string | undefined;
  for (const target of targets.filter((t) => tracked.asked.has(idOf(t))).slice(0, 20)) {
    const history = await client.workflow
      .getHandle(deploymentWorkflowId(target.workspace, target.name))
      .fetchHistory();
    const events = history.events ?? [];
    const at = events.findIndex(
      (e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'getRevisionStatus',
    );
    if (at < 0) continue;
    // From the timer that woke the workflow to the workflow task after the call completed, and
    // that task's commands (the timer for the next check).
    let from = at;
    while (from > 0 && eventTypeName(events[from]!.eventType) !== 'TIMER_FIRED') from--;
    let to = events.findIndex(
      (e, i) => i > at && eventTypeName(e.eventType) === 'ACTIVITY_TASK_COMPLETED',
    );
    if (to < 0) continue;
    while (
      to + 1 < events.length &&
      eventTypeName(events[to]!.eventType) !== 'WORKFLOW_TASK_COMPLETED'
    )
      to++;
    while (
      to + 1 < events.length &&
      /TIMER_STARTED|UPSERT|MARKER/.test(eventTypeName(events[to + 1]!.eventType))
    )
      to++;
    const round = events.slice(from, to + 1).map((e) => eventTypeName(e.eventType));
    const line = `${idOf(target)}: ${round.length} events: ${round.join(', ')}`;
    if (!round.some((type) => type.includes('SIGNALED'))) return line;
    first ??= line;
  }
  return first;
}

/** Diagnosis (DEBUG_DECISIONS=1): the history after each metrics signal, with times. */
async function dumpDecisions(
  client: Client,
  targets: Target[],
  tracked: TrackedProvider,
): Promise<void> {
  for (const t of targets) {
    const history = await client.workflow
      .getHandle(deploymentWorkflowId(t.workspace, t.name))
      .fetchHistory();
    const events = history.events ?? [];
    const time = (e: (typeof events)[number]) =>
      Number(e.eventTime?.seconds ?? 0) * 1000 + Math.floor((e.eventTime?.nanos ?? 0) / 1e6);
    events.forEach((e, i) => {
      if (e.workflowExecutionSignaledEventAttributes?.signalName !== observeMetricsSignal.name)
        return;
      const from = time(e);
      const lines = events.slice(i, i + 14).map((x) => {
        const activity = x.activityTaskScheduledEventAttributes?.activityType?.name;
        const attrs = x.workflowExecutionSignaledEventAttributes;
        const data = attrs?.input?.payloads?.[0]?.data;
        const text = data ? Buffer.from(data).toString('utf8') : '';
        const signal = attrs?.signalName
          ? `${attrs.signalName} ${/bench/.test(text) ? 'BENCH' : ''} ${text.slice(0, 160)}`
          : undefined;
        return `+${time(x) - from}ms ${eventTypeName(x.eventType)}${activity ? `(${activity})` : ''}${signal ? `(${signal})` : ''}`;
      });
      const calls = (tracked.applyCalls.get(idOf(t)) ?? [])
        .map((at) => at - from)
        .filter((d) => d >= -100 && d < 3000);
      console.log(
        `${idOf(t)} #${i}: ${lines.join(', ')}; applyRevision called at ${calls.map((d) => `+${d}ms`).join(', ')}`,
      );
    });
  }
}

// ---- history ---------------------------------------------------------------------------------

interface HistoryMark {
  runId: string;
  length: number;
}

async function histories(client: Client, targets: Target[]): Promise<Map<string, HistoryMark>> {
  const out = new Map<string, HistoryMark>();
  await inLanes(targets, 20, async (t) => {
    try {
      const d = await client.workflow
        .getHandle(deploymentWorkflowId(t.workspace, t.name))
        .describe();
      out.set(idOf(t), { runId: d.runId, length: d.historyLength });
    } catch {
      // not running
    }
  });
  return out;
}

/** Events added between two marks, and their types (read from the histories that grew). */
async function diffHistories(
  client: Client,
  before: Map<string, HistoryMark>,
  after: Map<string, HistoryMark>,
): Promise<{ events: number; deployments: number; continued: number; types: Map<string, number> }> {
  let events = 0;
  let deployments = 0;
  let continued = 0;
  const types = new Map<string, number>();
  const grew: [string, number][] = [];
  for (const [id, b] of before) {
    const a = after.get(id);
    if (!a) continue;
    deployments++;
    if (a.runId !== b.runId) {
      continued++;
      events += a.length; // the new run's events (the old run's tail is not counted)
    } else if (a.length > b.length) {
      events += a.length - b.length;
      grew.push([id, b.length]);
    }
  }
  for (const [id, from] of grew.slice(0, 50)) {
    const [workspace = '', name = ''] = id.split('/');
    const history = await client.workflow
      .getHandle(deploymentWorkflowId(workspace, name))
      .fetchHistory();
    for (const e of (history.events ?? []).slice(from)) {
      const type = eventTypeName(e.eventType);
      types.set(type, (types.get(type) ?? 0) + 1);
    }
  }
  return { events, deployments, continued, types };
}

/** History events one repeated idle metrics observation adds (the second of two). */
async function keepaliveEvents(
  client: Client,
  targets: Target[],
): Promise<{ perSignal: number; deployments: number; types: Map<string, number> }> {
  const types = new Map<string, number>();
  if (targets.length === 0) return { perSignal: NaN, deployments: 0, types };
  const handles = targets.map((t) =>
    client.workflow.getHandle(deploymentWorkflowId(t.workspace, t.name)),
  );
  await Promise.all(handles.map((h) => h.signal(observeMetricsSignal, observation([0]))));
  await sleep(3000);
  const before = await Promise.all(handles.map(async (h) => (await h.fetchHistory()).events ?? []));
  await Promise.all(handles.map((h) => h.signal(observeMetricsSignal, observation([0]))));
  await sleep(3000);
  const after = await Promise.all(handles.map(async (h) => (await h.fetchHistory()).events ?? []));
  let added = 0;
  after.forEach((events, i) => {
    const from = before[i]!.length;
    added += events.length - from;
    for (const e of events.slice(from)) {
      const type = eventTypeName(e.eventType);
      types.set(type, (types.get(type) ?? 0) + 1);
    }
  });
  return { perSignal: added / targets.length, deployments: targets.length, types };
}

function eventTypeName(type: unknown): string {
  const name =
    typeof type === 'number' ? temporal.api.enums.v1.EventType[type] : String(type ?? '?');
  return (name ?? String(type)).replace(/^EVENT_TYPE_/, '');
}

// ---- the population: Healthy, not Healthy, ended -------------------------------------------

interface Population {
  healthy: Set<string>;
  /** Running, not Healthy. */
  stalled: { count: number; summary: string; examples: string[] };
  /** Ended (and not running again under the same name): failed admissions, say. */
  ended: { count: number; summary: string; examples: string[] };
}

async function population(client: Client): Promise<Population> {
  const type = `WorkflowType = '${DEPLOYMENT_WORKFLOW_TYPE}'`;
  const idFrom = (workflowId: string) => {
    const [, workspace = '', name = ''] = workflowId.split(':');
    return `${workspace}/${name}`;
  };
  const healthy = new Set<string>();
  const running = new Set<string>();
  const stalledBy = new Map<string, number>();
  const stalledExamples: string[] = [];
  for await (const w of client.workflow.list({
    query: `${type} AND ExecutionStatus = 'Running'`,
  })) {
    const id = idFrom(w.workflowId);
    running.add(id);
    const health = w.typedSearchAttributes.get(SA.health) ?? '?';
    if (health === 'Healthy') {
      healthy.add(id);
      continue;
    }
    const key = `${health}/${w.typedSearchAttributes.get(SA.state) ?? '?'}`;
    stalledBy.set(key, (stalledBy.get(key) ?? 0) + 1);
    if (stalledExamples.length < 8) {
      try {
        const handle = client.workflow.getHandle(w.workflowId);
        const view = await handle.query(statusQuery);
        const events = await handle.query(eventsQuery);
        const last = events.at(-1);
        stalledExamples.push(
          `${id}: health ${view.health}, state ${view.state}, replicas ${view.replicas.ready}/${view.replicas.desired}; last event: ${last ? `${last.time} ${last.reason}: ${last.message}`.slice(0, 300) : 'none'}`,
        );
      } catch (err) {
        stalledExamples.push(`${id}: (query failed: ${(err as Error).message})`);
      }
    }
  }
  const endedBy = new Map<string, number>();
  const endedExamples: string[] = [];
  const ended = new Set<string>();
  for await (const w of client.workflow.list({
    query: `${type} AND ExecutionStatus != 'Running' AND ExecutionStatus != 'ContinuedAsNew'`,
  })) {
    const id = idFrom(w.workflowId);
    if (running.has(id) || ended.has(id)) continue;
    ended.add(id);
    let key: string = w.status.name;
    try {
      const ending = (await client.workflow
        .getHandle(w.workflowId, w.runId)
        .result()) as DeploymentEnding;
      const last = ending.events.at(-1);
      key = `${w.status.name} as ${ending.view.state} (${last?.reason ?? '?'})`;
      if (endedExamples.length < 5)
        endedExamples.push(
          `${id}: state ${ending.view.state}; last event: ${last ? `${last.time} ${last.reason}: ${last.message}`.slice(0, 300) : 'none'}`,
        );
    } catch (err) {
      if (endedExamples.length < 5)
        endedExamples.push(`${id}: ${w.status.name}: ${(err as Error).message.slice(0, 200)}`);
    }
    endedBy.set(key, (endedBy.get(key) ?? 0) + 1);
  }
  const summary = (by: Map<string, number>) =>
    [...by].map(([k, v]) => `${k} ${v}`).join(', ') || 'none';
  return {
    healthy,
    stalled: {
      count: running.size - healthy.size,
      summary: summary(stalledBy),
      examples: stalledExamples,
    },
    ended: { count: ended.size, summary: summary(endedBy), examples: endedExamples },
  };
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
