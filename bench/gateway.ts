/**
 * Benchmark: what the inference gateway adds to a call, side by side in one run.
 * Target (architecture.md): gateway p50 <= 1.2x and p99 <= 1.5x a direct call to the replicas,
 * throughput >= 0.8x.
 *
 * The compiled local runtime agent runs one deployment of two replicas of the simulated model
 * server (runtime/model-server, real processes); the real API app (buildApp, api/app.ts) serves
 * the gateway in this process, finding the replicas as the API process does (ReplicaEndpoints
 * over the agent), with an API key checked on every request and the logger off as in production
 * (level warn). A worker thread (its own event loop, so the clients do not share the gateway's)
 * runs a closed loop: CLIENTS clients, each sending its next POST /v1/completions as soon as the
 * previous answer is read, over keep-alive connections. Phases alternate in one run, after a
 * warm-up of each: straight at the replicas (client i at replica i mod 2), then through the
 * gateway, ROUNDS times, SECONDS each. Every answer must be a 200.
 *
 * A completion decodes MAX_TOKENS tokens at MS_PER_TOKEN ms each (a timer in the replica, as a
 * GPU's decode is time the CPU does not spend); MS_PER_TOKEN=0 measures bare HTTP, where the
 * gateway's own CPU is all there is to compare. With every answer taking the same time, the
 * closed loop keeps the clients in step: answers arrive in bursts, which one event loop forwards
 * one after another. TOKENS_SPREAD=n draws each request's length from MAX_TOKENS +- n instead.
 *
 * Also printed: the gateway thread's event-loop utilisation and its CPU time per request (Linux),
 * and how busy the machine's CPUs were during each side (every process, this bench's or not: on
 * a shared machine, compare runs whose direct side was as busy).
 *
 *   npm run bench:gateway        (CLIENTS=32, SECONDS=3, ROUNDS=3, MAX_TOKENS=10, MS_PER_TOKEN=1,
 *                                 TOKENS_SPREAD=0)
 */
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import { Worker, isMainThread, parentPort } from 'node:worker_threads';
import { LocalRuntimeProvider } from '../activities/providers/local';
import { buildApp } from '../api/app';
import type { DeploymentService } from '../api/deployment-service';
import { TrafficMeter } from '../api/metrics/traffic-meter';
import { ReplicaEndpoints } from '../api/replica-endpoints';
import { BUILTIN_CATALOG } from '../workflows/domain/catalog';
import type { DeploymentView } from '../workflows/domain/deployment';
import { validateSpec } from '../workflows/domain/spec';
import { percentile, startBenchAgent } from './agent';
import { freePort } from './stack';

const CLIENTS = Number(process.env.CLIENTS ?? 32);
const SECONDS = Number(process.env.SECONDS ?? 3);
const ROUNDS = Number(process.env.ROUNDS ?? 3);
const MAX_TOKENS = Number(process.env.MAX_TOKENS ?? 10);
const TOKENS_SPREAD = Number(process.env.TOKENS_SPREAD ?? 0);
const MS_PER_TOKEN = Number(process.env.MS_PER_TOKEN ?? 1);
const WARM_UP_SECONDS = 1;
const KEY = 'md_bench_gateway_key';

/** One phase of the closed loop, as the main thread asks the load thread for it. */
interface Phase {
  /** Client i sends to targets[i % targets.length]. */
  targets: string[];
  headers: Record<string, string>;
  seconds: number;
}

interface PhaseResult {
  /** Latency of every answer, in ms. */
  latencies: Float64Array;
  elapsedMs: number;
  /** Answers that were not a 200, with their status and the start of their body. */
  failures: string[];
}

/** The load thread: runs each phase it is sent and posts back its latencies. */
function loadThread(): void {
  const agent = new http.Agent({ keepAlive: true, maxSockets: CLIENTS });
  // One body per length: MAX_TOKENS - TOKENS_SPREAD .. MAX_TOKENS + TOKENS_SPREAD.
  const bodies = Array.from({ length: 2 * TOKENS_SPREAD + 1 }, (_, i) =>
    JSON.stringify({ prompt: 'bench', max_tokens: MAX_TOKENS - TOKENS_SPREAD + i }),
  );
  const send = (url: URL, headers: Record<string, string>, body: string) =>
    new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = http.request(url, { method: 'POST', agent, headers }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(body);
    });
  parentPort!.on('message', async (phase: Phase) => {
    const targets = phase.targets.map((t) => new URL(t));
    const headers = { ...phase.headers, 'content-type': 'application/json' };
    const latencies: number[] = [];
    const failures: string[] = [];
    const started = performance.now();
    const until = started + phase.seconds * 1000;
    await Promise.all(
      Array.from({ length: CLIENTS }, async (_, i) => {
        const url = targets[i % targets.length]!;
        while (performance.now() < until) {
          const t0 = performance.now();
          const body = bodies[Math.floor(Math.random() * bodies.length)]!;
          const res = await send(url, headers, body);
          latencies.push(performance.now() - t0);
          if (res.status !== 200) failures.push(`${res.status} ${res.text.slice(0, 200)}`);
        }
      }),
    );
    const result: PhaseResult = {
      latencies: Float64Array.from(latencies),
      elapsedMs: performance.now() - started,
      failures,
    };
    parentPort!.postMessage(result);
  });
}

interface Totals {
  latencies: number[];
  elapsedMs: number;
  /** CPU time the machine spent busy (all cores, anyone's), and its wall time x cores. */
  busyMs: number;
  capacityMs: number;
  /** The gateway's event loop (this thread) busy, and its CPU time, in ms. */
  gatewayBusyMs: number;
  gatewayCpuMs: number;
}

/**
 * CPU time this thread (the gateway's event loop) has used, in ms: Linux's per-thread counters
 * (/proc/self/task/<pid>/stat, in ticks of 10 ms), undefined elsewhere. Unlike event-loop
 * utilisation it does not count time the thread waited for a core.
 */
function gatewayThreadCpuMs(): number | undefined {
  try {
    const stat = fs.readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return undefined;
  }
}

/** CPU time spent busy and in all, over every core, in ms (Linux: from /proc/stat via os.cpus). */
function machineCpu(): { busy: number; total: number } {
  let busy = 0;
  let total = 0;
  for (const { times } of os.cpus()) {
    const all = times.user + times.nice + times.sys + times.idle + times.irq;
    total += all;
    busy += all - times.idle;
  }
  return { busy, total };
}

async function main(): Promise<void> {
  const agent = await startBenchAgent();
  const load = new Worker(__filename);
  const cleanups: (() => Promise<unknown>)[] = [() => agent.stop(), () => load.terminate()];
  try {
    const provider = new LocalRuntimeProvider(agent.url);
    const deploymentId = 'bench/gateway';
    await provider.applyRevision({
      deploymentId,
      revision: 1,
      replicas: 2,
      template: {
        model: 'bench-model',
        loadMs: 0,
        env: {
          MODEL_SERVER_MS_PER_TOKEN: String(MS_PER_TOKEN),
          // Decode slots for every client: the replicas queue nothing, so what is measured is
          // the path to them, not their queue.
          MODEL_SERVER_MAX_NUM_SEQS: String(CLIENTS),
        },
      },
    });
    let urls: string[] = [];
    for (let tries = 0; urls.length < 2; tries++) {
      if (tries > 600) throw new Error('the two replicas are not ready after 30 s');
      await new Promise((r) => setTimeout(r, 50));
      if ((await provider.getRevision(deploymentId, 1)).ready === 2) {
        await provider.routeTraffic(deploymentId, 1);
        ({ urls } = await provider.endpoints(deploymentId));
      }
    }
    cleanups.unshift(() => provider.removeDeployment(deploymentId));

    const parsed = validateSpec({
      model: 'bench-model',
      cloud: { type: 'dedicated', accelerator: { type: 'L4' } },
    });
    if (!parsed.ok) throw new Error('bad spec');
    const view = { name: 'gateway', workspace: 'bench', state: 'running', spec: parsed.value };
    const service = { get: async () => view as DeploymentView } as unknown as DeploymentService;
    const app = await buildApp({
      service,
      replicas: new ReplicaEndpoints({ dedicated: provider, deployments: service }),
      meter: new TrafficMeter(),
      wake: () => undefined,
      catalog: BUILTIN_CATALOG,
      apiKeys: new Map([[KEY, 'bench']]),
      publicUrl: 'http://127.0.0.1',
      logger: { level: 'warn' },
    });
    const port = await freePort();
    await app.listen({ host: '127.0.0.1', port });
    cleanups.unshift(() => app.close());

    const gateway: Phase = {
      targets: [`http://127.0.0.1:${port}/v1/endpoints/bench/gateway/v1/completions`],
      headers: { authorization: `Bearer ${KEY}` },
      seconds: SECONDS,
    };
    const direct: Phase = {
      targets: urls.map((url) => `${url}/v1/completions`),
      headers: {},
      seconds: SECONDS,
    };
    const run = (phase: Phase) =>
      new Promise<PhaseResult>((resolve, reject) => {
        load.once('message', (result: PhaseResult) =>
          result.failures.length > 0
            ? reject(
                new Error(
                  `${result.failures.length} answers were not 200, e.g. ${result.failures[0]}`,
                ),
              )
            : resolve(result),
        );
        load.once('error', reject);
        load.postMessage(phase);
      });

    await run({ ...direct, seconds: WARM_UP_SECONDS });
    await run({ ...gateway, seconds: WARM_UP_SECONDS });
    const empty = (): Totals => ({
      latencies: [],
      elapsedMs: 0,
      busyMs: 0,
      capacityMs: 0,
      gatewayBusyMs: 0,
      gatewayCpuMs: 0,
    });
    const totals: Record<'direct' | 'gateway', Totals> = { direct: empty(), gateway: empty() };
    for (let round = 0; round < ROUNDS; round++) {
      for (const [name, phase] of [
        ['direct', direct],
        ['gateway', gateway],
      ] as const) {
        const cpu = machineCpu();
        const loop = performance.eventLoopUtilization();
        const threadCpu = gatewayThreadCpuMs() ?? NaN;
        const result = await run(phase);
        const { active } = performance.eventLoopUtilization(loop);
        const cpuAfter = machineCpu();
        const total = totals[name];
        total.latencies.push(...result.latencies);
        total.elapsedMs += result.elapsedMs;
        total.busyMs += cpuAfter.busy - cpu.busy;
        total.capacityMs += cpuAfter.total - cpu.total;
        total.gatewayBusyMs += active;
        total.gatewayCpuMs += (gatewayThreadCpuMs() ?? NaN) - threadCpu;
      }
    }

    const stats = (t: Totals) => {
      const sorted = t.latencies.sort((a, b) => a - b);
      return {
        p50: percentile(sorted, 50),
        p99: percentile(sorted, 99),
        rps: t.latencies.length / (t.elapsedMs / 1000),
        n: t.latencies.length,
        machineBusy: t.busyMs / t.capacityMs,
        gatewayBusy: t.gatewayBusyMs / t.elapsedMs,
        gatewayCpuUs: (t.gatewayCpuMs * 1000) / t.latencies.length,
      };
    };
    const d = stats(totals.direct);
    const g = stats(totals.gateway);
    const ms = (v: number) => `${v.toFixed(2)} ms`.padStart(10);
    const rps = (v: number) => `${v.toFixed(0)}/s`.padStart(8);
    console.log(
      `gateway vs direct: ${CLIENTS} closed-loop clients, POST /v1/completions decoding ` +
        `${MAX_TOKENS}${TOKENS_SPREAD ? ` +- ${TOKENS_SPREAD}` : ''} x ${MS_PER_TOKEN} ms, 2 model-server replicas, ${ROUNDS} x ${SECONDS} s per side, ` +
        `${os.cpus().length} cores`,
    );
    const pct = (v: number) => `${(v * 100).toFixed(0)} %`;
    const ratio = (v: number, width: number) => `${v.toFixed(2)}x`.padStart(width);
    console.log(`             p50         p99   throughput   answers`);
    console.log(`  direct  ${ms(d.p50)}  ${ms(d.p99)}   ${rps(d.rps)}   ${d.n}`);
    console.log(`  gateway ${ms(g.p50)}  ${ms(g.p99)}   ${rps(g.rps)}   ${g.n}`);
    console.log(
      `  ratio   ${ratio(g.p50 / d.p50, 10)}  ${ratio(g.p99 / d.p99, 10)}   ${ratio(g.rps / d.rps, 8)}   (targets: <= 1.2x, <= 1.5x, >= 0.8x)`,
    );
    console.log(
      `  gateway thread: event loop busy ${pct(g.gatewayBusy)}, ${Number.isNaN(g.gatewayCpuUs) ? 'CPU time per request not measured (no /proc)' : `${g.gatewayCpuUs.toFixed(0)} µs CPU per request`}; ` +
        `machine CPU busy (every process, this bench's or not): direct ${pct(d.machineBusy)}, gateway ${pct(g.machineBusy)}`,
    );
  } finally {
    for (const cleanup of cleanups) await cleanup().catch(() => undefined);
  }
}

if (isMainThread) {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
} else {
  loadThread();
}
