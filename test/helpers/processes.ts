/** Real processes for integration tests: the local runtime agent, free ports, process checks. */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { TEST_CATALOG } from './catalog';

export const DIST = path.resolve(__dirname, '..', '..', 'dist');

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export interface RunningProcess {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
  running: () => boolean;
  /** SIGTERM (or the given signal) and wait for the exit. */
  stop(signal?: NodeJS.Signals): Promise<void>;
}

/** Starts `node <script>` and waits until `ready(output)` holds (or fails with the process output). */
export async function startNode(
  script: string,
  env: NodeJS.ProcessEnv,
  ready: (output: string) => Promise<boolean> | boolean,
  what: string,
  timeoutMs = 15_000,
): Promise<RunningProcess> {
  const child = spawn(process.execPath, [script], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  let running = true;
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => {
      running = false;
      resolve(code);
    }),
  );
  const proc: RunningProcess = {
    child,
    output: () => output,
    exited,
    running: () => running,
    async stop(signal = 'SIGTERM') {
      if (!running) return;
      child.kill(signal);
      await exited;
    },
  };
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (!running) throw new Error(`${what} exited during startup:\n${output}`);
    if (await (async () => ready(output))().catch(() => false)) return proc;
    if (Date.now() > deadline) {
      await proc.stop('SIGKILL');
      throw new Error(`${what} was not ready within ${timeoutMs} ms:\n${output}`);
    }
    await sleep(50);
  }
}

export async function startAgent(
  dataDir: string,
  port: number,
  env: NodeJS.ProcessEnv = {},
): Promise<RunningProcess> {
  const url = `http://127.0.0.1:${port}`;
  return startNode(
    path.join(DIST, 'runtime', 'agent', 'main.js'),
    { AGENT_PORT: String(port), DATA_DIR: dataDir, ...env },
    async () => (await fetch(`${url}/healthz`)).ok,
    'the local runtime agent',
  );
}

/** The worker process (`dist/worker/main.js`), ready once it polls its task queue. */
export function startWorkerProcess(env: NodeJS.ProcessEnv): Promise<RunningProcess> {
  return startNode(
    path.join(DIST, 'worker', 'main.js'),
    env,
    (output) => output.includes('polling task queue'),
    'the worker',
    60_000,
  );
}

/**
 * A data directory holding the test catalog, and the environment a worker process needs to run
 * on it against `temporalAddress` and the agent at `agentPort`.
 */
export function workerProcessEnv(
  prefix: string,
  temporalAddress: string,
  taskQueue: string,
  agentPort: number,
): { dataDir: string; env: NodeJS.ProcessEnv } {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  const catalogFile = path.join(dataDir, 'catalog.json');
  fs.writeFileSync(catalogFile, JSON.stringify(TEST_CATALOG));
  return {
    dataDir,
    env: {
      TEMPORAL_ADDRESS: temporalAddress,
      TASK_QUEUE: taskQueue,
      LOCAL_AGENT_URL: `http://127.0.0.1:${agentPort}`,
      CATALOG_FILE: catalogFile,
      DATA_DIR: dataDir,
    },
  };
}

/** Live (non-zombie) model-server processes whose command line contains `marker`. */
export function modelServerPids(marker: string): number[] {
  const ps = execFileSync('ps', ['-eo', 'pid=,stat=,args='], { encoding: 'utf8' });
  return ps
    .split('\n')
    .map((line) => line.trim().split(/\s+/))
    .filter(
      ([, stat, ...args]) =>
        stat !== undefined &&
        !stat.startsWith('Z') &&
        args.join(' ').includes('model-server/main.js') &&
        args.join(' ').includes(marker),
    )
    .map(([pid]) => Number(pid));
}

export function killAll(pids: number[]): void {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}
