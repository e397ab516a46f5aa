/**
 * `npm start`: the whole stack on its embedded defaults, in one terminal.
 *
 *   Temporal dev server (SQLite under DATA_DIR, UI on :8233, search attributes registered)
 *   local runtime agent (replicas as local processes)
 *   worker
 *   REST API + gateway on :8080
 *
 * A process that exits is restarted with exponential backoff (each restart logged with its exit
 * code or signal and the delay); only Ctrl-C / SIGTERM stop the stack. Ctrl-C stops everything
 * it started, the agent stopping its replicas; the next start reuses DATA_DIR, so deployments
 * (workflows and their replicas) come back. Set TEMPORAL_ADDRESS to use an existing Temporal
 * server instead of the embedded one.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import readline from 'node:readline';
import { Connection } from '@temporalio/client';
import { loadConfig } from '../config';
import { SEARCH_ATTRIBUTE_FLAGS } from '../workflows/domain/search-attributes';
import { temporalCliPath } from './toolchain';

const DIST = path.join(__dirname, '..');
const env = process.env;
const temporalPort = Number(env.TEMPORAL_PORT ?? 7233);
const uiPort = Number(env.TEMPORAL_UI_PORT ?? 8233);
const agentPort = Number(env.AGENT_PORT ?? 7070);
const embeddedTemporal = env.TEMPORAL_ADDRESS === undefined;
// SSH into replicas (api/ssh/start.ts): the API process serves it on SSH_PORT (`off`: none).
const sshPort = env.SSH_PORT === 'off' ? undefined : Number(env.SSH_PORT ?? 2222);

const childEnv: NodeJS.ProcessEnv = {
  ...env,
  TEMPORAL_ADDRESS: env.TEMPORAL_ADDRESS ?? `127.0.0.1:${temporalPort}`,
  LOCAL_AGENT_URL: env.LOCAL_AGENT_URL ?? `http://127.0.0.1:${agentPort}`,
  AGENT_PORT: String(agentPort),
};

const config = loadConfig(childEnv);
childEnv.DATA_DIR = config.DATA_DIR;

/**
 * Restarts: a process that exits (crash, kill, OOM) is started again after a delay that doubles
 * from RESTART_MIN_MS up to RESTART_MAX_MS while it keeps failing, and starts from the bottom
 * again once a run lasted STABLE_MS. Only Ctrl-C / SIGTERM stop the stack.
 */
const RESTART_MIN_MS = 1000;
const RESTART_MAX_MS = 30_000;
const STABLE_MS = 60_000;

interface Supervised {
  name: string;
  command: string;
  args: string[];
  process?: ChildProcess;
  startedAt: number;
  restarts: number;
  nextDelayMs: number;
  restartTimer?: NodeJS.Timeout;
}

const supervised: Supervised[] = [];
let stopping = false;

function log(message: string): void {
  console.log(`[start] ${message}`);
}

/** Seconds since `since` (Date.now()), for the progress lines. */
function secondsSince(since: number): string {
  return `${((Date.now() - since) / 1000).toFixed(1)} s`;
}

/**
 * The worker bundles the workflow code before it polls (seconds): say so when it starts, and when
 * its "polling task queue" line comes, how long that took (each launch, restarts included).
 */
const WORKER_POLLING = 'polling task queue';

/** Starts `name` and keeps it running until the stack stops. */
function run(name: string, command: string, args: string[]): void {
  const entry: Supervised = {
    name,
    command,
    args,
    startedAt: 0,
    restarts: 0,
    nextDelayMs: RESTART_MIN_MS,
  };
  supervised.push(entry);
  launch(entry);
}

function launch(entry: Supervised): void {
  const { name } = entry;
  const child = spawn(entry.command, entry.args, {
    env: childEnv,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  entry.process = child;
  entry.startedAt = Date.now();
  let polling = false;
  if (name === 'worker') {
    log('worker: bundling the workflow code, then polling (about 5-10 s)...');
  }
  for (const stream of [child.stdout, child.stderr]) {
    readline.createInterface({ input: stream! }).on('line', (line) => {
      // Once stopping, the dev server's complaints about its own shutdown are noise.
      if (stopping && name === 'temporal') return;
      console.log(`[${name}] ${line}`);
      if (name === 'worker' && !polling && line.includes(WORKER_POLLING)) {
        polling = true;
        log(`worker: workflow code bundled, polling after ${secondsSince(entry.startedAt)}`);
      }
    });
  }
  let ended = false;
  const onEnd = (how: string): void => {
    if (ended) return;
    ended = true;
    if (stopping) return;
    restartLater(entry, how);
  };
  // 'error' without 'exit' when the command cannot be started at all (e.g. ENOENT).
  child.once('error', (err) => onEnd(`could not run: ${err.message}`));
  child.once('exit', (code, signal) => onEnd(describeExit(code, signal)));
}

function restartLater(entry: Supervised, how: string): void {
  const ranMs = Date.now() - entry.startedAt;
  if (ranMs >= STABLE_MS) entry.nextDelayMs = RESTART_MIN_MS;
  const delay = entry.nextDelayMs;
  entry.nextDelayMs = Math.min(delay * 2, RESTART_MAX_MS);
  entry.restarts += 1;
  log(
    `${entry.name} ${how} after ${formatMs(ranMs)}; restarting it in ${formatMs(delay)} (restart ${entry.restarts})`,
  );
  entry.restartTimer = setTimeout(() => {
    entry.restartTimer = undefined;
    if (!stopping) launch(entry);
  }, delay);
}

function describeExit(code: number | null, signal: NodeJS.Signals | null): string {
  if (signal) return `was killed by ${signal}`;
  return `exited with code ${code ?? '?'}`;
}

function formatMs(ms: number): string {
  return ms < 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms / 1000)} s`;
}

async function stop(exitCode: number): Promise<void> {
  if (stopping) return;
  stopping = true;
  log('stopping...');
  for (const entry of supervised) clearTimeout(entry.restartTimer);
  // Reverse order: API and worker first, then the agent (which stops its replicas), then Temporal.
  for (const { name, process: child } of [...supervised].reverse()) {
    if (!child || child.exitCode !== null || child.signalCode !== null) continue;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    const timer = setTimeout(() => {
      log(`${name} did not stop in 10 s; killing it`);
      child.kill('SIGKILL');
    }, 10_000);
    await exited;
    clearTimeout(timer);
  }
  log('stopped');
  process.exit(exitCode);
}

async function waitForPort(port: number, what: string, timeoutMs = 60_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1');
      socket.once('connect', () => (socket.destroy(), resolve(true)));
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what} did not listen on port ${port} within ${timeoutMs / 1000} s`);
}

async function assertPortFree(port: number, what: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const server = net.createServer();
    server.once('error', () =>
      reject(
        new Error(
          `port ${port} (${what}) is in use: is the stack already running? Stop it, or set the port variable (see README)`,
        ),
      ),
    );
    server.listen(port, '127.0.0.1', () => server.close(() => resolve()));
  });
}

async function main(): Promise<void> {
  const started = Date.now();
  process.on('SIGINT', () => void stop(0));
  process.on('SIGTERM', () => void stop(0));
  fs.mkdirSync(config.DATA_DIR, { recursive: true });
  await assertPortFree(config.API_PORT, 'API');
  await assertPortFree(agentPort, 'local runtime agent');

  if (embeddedTemporal) {
    await assertPortFree(temporalPort, 'Temporal');
    await assertPortFree(uiPort, 'Temporal UI');
    log(
      `starting the Temporal dev server (data: ${path.join(config.DATA_DIR, 'temporal.db')}); waiting for it to answer on port ${temporalPort}...`,
    );
    run('temporal', temporalCliPath(), [
      'server',
      'start-dev',
      '--ip',
      '127.0.0.1',
      '--port',
      String(temporalPort),
      '--ui-port',
      String(uiPort),
      '--db-filename',
      path.join(config.DATA_DIR, 'temporal.db'),
      '--namespace',
      config.TEMPORAL_NAMESPACE,
      '--log-level',
      'warn',
      ...SEARCH_ATTRIBUTE_FLAGS.flatMap((flag) => ['--search-attribute', flag]),
    ]);
    await waitForPort(temporalPort, 'Temporal');
  }
  // The frontend listens before it serves: wait for a real answer.
  const temporalStarted = Date.now();
  const connection = await Connection.connect({ address: childEnv.TEMPORAL_ADDRESS! });
  await connection.ensureConnected();
  await connection.close();
  log(
    `Temporal ${embeddedTemporal ? 'dev server' : `at ${childEnv.TEMPORAL_ADDRESS}`} answered after ${secondsSince(embeddedTemporal ? started : temporalStarted)}`,
  );

  run('agent', process.execPath, [path.join(DIST, 'runtime', 'agent', 'main.js')]);
  await waitForPort(agentPort, 'local runtime agent');
  run('worker', process.execPath, [path.join(DIST, 'worker', 'main.js')]);
  run('api', process.execPath, [path.join(DIST, 'api', 'main.js')]);
  await waitForPort(config.API_PORT, 'API');

  const keyFile = path.join(config.DATA_DIR, 'api-key');
  const keyHint = config.API_KEYS
    ? 'keys from API_KEYS'
    : `local key: ${fs.existsSync(keyFile) ? fs.readFileSync(keyFile, 'utf8').trim() : '(see the api line above)'}`;
  log(`ready in ${secondsSince(started)}:`);
  log(`  API           ${config.publicUrl}    (${keyHint})`);
  log(`  API docs      ${config.publicUrl}/docs   (OpenAPI: ${config.publicUrl}/openapi.json)`);
  if (embeddedTemporal) log(`  Temporal UI   http://127.0.0.1:${uiPort}`);
  log(`  data          ${config.DATA_DIR}`);
  if (sshPort) log(`  SSH           ssh -p ${sshPort} <user>+<workspace>+<deployment>@127.0.0.1`);
  const metricsHost = config.METRICS_HOST === '0.0.0.0' ? '127.0.0.1' : config.METRICS_HOST;
  const metricsAt = (port: number) => (port > 0 ? `http://${metricsHost}:${port}/metrics` : 'off');
  log(
    `  metrics       worker ${metricsAt(config.WORKER_METRICS_PORT)}, API ${metricsAt(config.API_METRICS_PORT)}`,
  );
  log('a process that exits is restarted; Ctrl-C stops everything.');
}

main().catch((err) => {
  console.error(`[start] ${err instanceof Error ? err.message : err}`);
  void stop(1);
});
