/**
 * A real Temporal cluster for the production tier: Debian's PostgreSQL run as a plain process,
 * the schemas created by deploy/temporal/schema.sh with the release's SQL tool, and the Temporal
 * server built from Go modules running deploy/temporal/config/postgres.yaml, with mTLS from a CA
 * made for the run. The namespace and search attributes are registered by the control plane's
 * own `dist/scripts/temporal-setup.js`, as a team would run it.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import { postgresBinDir, temporalServerTools } from '../../scripts/toolchain';
import { makeTestPki, type CertificatePair, type TestPki } from './certificates';
import { DIST, freePort } from './processes';

const run = promisify(execFile);
const ROOT = path.resolve(__dirname, '..', '..');

/** A long-running child whose output is kept (the tail is shown when it fails). */
interface Daemon {
  child: ChildProcess;
  output(): string;
  exited: Promise<void>;
  running(): boolean;
}

function daemon(
  command: string,
  args: string[],
  options: { env?: NodeJS.ProcessEnv; uid?: number; gid?: number; cwd?: string },
): Daemon {
  const child = spawn(command, args, {
    env: options.env ?? process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(options.cwd ? { cwd: options.cwd } : {}),
    ...(options.uid !== undefined ? { uid: options.uid, gid: options.gid } : {}),
  });
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-200_000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  let running = true;
  const exited = new Promise<void>((resolve) =>
    child.once('exit', () => {
      running = false;
      resolve();
    }),
  );
  return { child, output: () => output, exited, running: () => running };
}

async function stopDaemon(d: Daemon | undefined, signal: NodeJS.Signals): Promise<void> {
  if (!d?.running()) return;
  d.child.kill(signal);
  const killed = setTimeout(() => d.child.kill('SIGKILL'), 20_000);
  await d.exited;
  clearTimeout(killed);
}

async function waitUntil(
  check: () => Promise<boolean> | boolean,
  what: string,
  timeoutMs: number,
  proc?: Daemon,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (proc && !proc.running())
      throw new Error(`${what}: the process exited\n${proc.output().slice(-4000)}`);
    if (await (async () => check())().catch(() => false)) return;
    if (Date.now() > deadline) {
      throw new Error(`${what} within ${timeoutMs / 1000} s\n${proc?.output().slice(-4000) ?? ''}`);
    }
    await sleep(200);
  }
}

/**
 * PostgreSQL refuses to run as root: as root, run it as `nobody` in a folder that user owns.
 */
function postgresUser(): { uid?: number; gid?: number } {
  if (process.getuid?.() !== 0) return {};
  return { uid: 65534, gid: 65534 };
}

/** A free loopback port under `limit`, tried at random from 20000 up. */
async function freePortBelow(limit: number): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = 20000 + Math.floor(Math.random() * (limit - 20000));
    const free = await new Promise<boolean>((resolve) => {
      const probe = net.createServer();
      probe.once('error', () => resolve(false));
      probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
    });
    if (free) return port;
  }
  throw new Error(`no free port under ${limit}`);
}

export interface Postgres {
  port: number;
  stop(): Promise<void>;
}

export async function startPostgres(dir: string): Promise<Postgres> {
  const bin = postgresBinDir();
  const user = postgresUser();
  const dataDir = path.join(dir, 'pgdata');
  fs.mkdirSync(dir, { recursive: true });
  if (user.uid !== undefined) {
    fs.chownSync(dir, user.uid, user.gid!);
    // Its user must reach the folder through the test's private parent (no listing, no reading).
    fs.chmodSync(path.dirname(dir), 0o711);
  }
  const asUser = { ...user, env: { ...process.env, LC_ALL: 'C.UTF-8' } };
  await new Promise<void>((resolve, reject) => {
    const initdb = daemon(
      path.join(bin, 'initdb'),
      ['-D', dataDir, '-U', 'temporal', '--auth=trust', '-E', 'UTF8', '--no-sync'],
      asUser,
    );
    void initdb.exited.then(() =>
      initdb.child.exitCode === 0
        ? resolve()
        : reject(new Error(`initdb failed:\n${initdb.output().slice(-4000)}`)),
    );
  });
  const port = await freePort();
  // Trust on loopback only, no Unix socket outside the test folder, nothing durable to flush.
  const server = daemon(
    path.join(bin, 'postgres'),
    [
      ...['-D', dataDir, '-p', String(port), '-k', dir],
      ...['-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=off', '-c', 'max_connections=200'],
    ],
    asUser,
  );
  await waitUntil(
    () => server.output().includes('database system is ready to accept connections'),
    'PostgreSQL was not ready',
    60_000,
    server,
  );
  return {
    port,
    // SIGINT: PostgreSQL's "fast" shutdown.
    stop: () => stopDaemon(server, 'SIGINT'),
  };
}

export interface TemporalCluster {
  address: string;
  namespace: string;
  pki: TestPki;
  /** Environment for a control-plane process: the cluster's address and an mTLS certificate. */
  clientEnv(certificate?: CertificatePair): NodeJS.ProcessEnv;
  /** A client for the test itself (mTLS). */
  connect(): Promise<{ client: Client; connection: Connection }>;
  /** The server's log so far. */
  serverOutput(): string;
  /** Stops the Temporal server (SIGTERM, or SIGKILL); the database stays. */
  stopServer(signal?: NodeJS.Signals): Promise<void>;
  /** Starts the server again on the same database, and waits until it answers. */
  startServer(): Promise<void>;
  /** stopServer, then startServer. */
  restartServer(signal?: NodeJS.Signals): Promise<void>;
  stop(): Promise<void>;
}

export async function startTemporalCluster(
  options: { namespace?: string } = {},
): Promise<TemporalCluster> {
  const namespace = options.namespace ?? 'model-deployments';
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'md-cluster-'));
  const tools = temporalServerTools();
  const pki = makeTestPki(path.join(dir, 'pki'));
  // The server reads its key as its own user; the test's files stay private to this run.
  const postgres = await startPostgres(path.join(dir, 'postgres'));
  const schemaEnv = {
    ...process.env,
    TEMPORAL_SQL_TOOL: tools.sqlTool,
    TEMPORAL_SCHEMA_DIR: tools.schemaDir,
    POSTGRES_HOST: '127.0.0.1',
    POSTGRES_PORT: String(postgres.port),
    POSTGRES_USER: 'temporal',
  };
  try {
    await run('bash', [path.join(ROOT, 'deploy', 'temporal', 'schema.sh')], {
      env: schemaEnv,
      timeout: 120_000,
      maxBuffer: 64 * 1024 * 1024,
    });
  } catch (err) {
    await postgres.stop();
    const e = err as { stderr?: string; message: string };
    throw new Error(
      `deploy/temporal/schema.sh failed: ${e.message}\n${(e.stderr ?? '').slice(-4000)}`,
    );
  }

  // Membership ports are kept in a PostgreSQL smallint: the OS's free ports (32768 and up) are
  // out of its range, so those four come from below it.
  const ports = {
    FRONTEND_GRPC_PORT: await freePort(),
    FRONTEND_MEMBERSHIP_PORT: await freePortBelow(32768),
    FRONTEND_HTTP_PORT: await freePort(),
    HISTORY_GRPC_PORT: await freePort(),
    HISTORY_MEMBERSHIP_PORT: await freePortBelow(32768),
    MATCHING_GRPC_PORT: await freePort(),
    MATCHING_MEMBERSHIP_PORT: await freePortBelow(32768),
    WORKER_GRPC_PORT: await freePort(),
    WORKER_MEMBERSHIP_PORT: await freePortBelow(32768),
  };
  const address = `127.0.0.1:${ports.FRONTEND_GRPC_PORT}`;
  const serverEnv: NodeJS.ProcessEnv = {
    ...process.env,
    ...Object.fromEntries(Object.entries(ports).map(([k, v]) => [k, String(v)])),
    POSTGRES_HOST: '127.0.0.1',
    POSTGRES_PORT: String(postgres.port),
    POSTGRES_USER: 'temporal',
    TEMPORAL_LOG_LEVEL: 'warn',
    TEMPORAL_METRICS_ADDRESS: `127.0.0.1:${await freePort()}`,
    TEMPORAL_TLS_CERT: pki.server.cert,
    TEMPORAL_TLS_KEY: pki.server.key,
    TEMPORAL_TLS_CA: pki.ca,
    TEMPORAL_TLS_SERVER_NAME: pki.serverName,
  };
  const testCertificate = pki.issue('test-client');
  const clientEnv = (certificate: CertificatePair = testCertificate): NodeJS.ProcessEnv => ({
    TEMPORAL_ADDRESS: address,
    TEMPORAL_NAMESPACE: namespace,
    TEMPORAL_TLS_CERT: certificate.cert,
    TEMPORAL_TLS_KEY: certificate.key,
    TEMPORAL_TLS_CA: pki.ca,
    TEMPORAL_TLS_SERVER_NAME: pki.serverName,
  });
  const connect = async () => {
    const connection = await Connection.connect({
      address,
      tls: {
        clientCertPair: {
          crt: fs.readFileSync(testCertificate.cert),
          key: fs.readFileSync(testCertificate.key),
        },
        serverRootCACertificate: fs.readFileSync(pki.ca),
        serverNameOverride: pki.serverName,
      },
    });
    return { connection, client: new Client({ connection, namespace }) };
  };

  let server: Daemon | undefined;
  const startServer = async () => {
    server = daemon(
      tools.server,
      [
        ...['--root', path.join(ROOT, 'deploy', 'temporal'), '--config', 'config'],
        ...['--env', 'postgres', '--allow-no-auth', 'start'],
      ],
      { env: serverEnv, cwd: dir },
    );
    const current = server;
    // Serving, not just listening: a client's call goes through.
    await waitUntil(
      async () => {
        const { connection } = await connect();
        try {
          await connection.workflowService.getSystemInfo({});
          return true;
        } finally {
          await connection.close();
        }
      },
      'the Temporal server did not answer',
      120_000,
      current,
    );
  };

  try {
    await startServer();
    const setup = await run(process.execPath, [path.join(DIST, 'scripts', 'temporal-setup.js')], {
      env: { ...process.env, ...clientEnv() },
      timeout: 120_000,
    }).catch((err: { stdout?: string; stderr?: string; message: string }) => {
      throw new Error(
        `temporal-setup failed: ${err.message}\n${err.stdout ?? ''}${err.stderr ?? ''}`,
      );
    });
    if (!setup.stdout.includes('search attributes: registered')) {
      throw new Error(`temporal-setup did not register the search attributes:\n${setup.stdout}`);
    }
  } catch (err) {
    await stopDaemon(server, 'SIGKILL');
    await postgres.stop();
    throw err;
  }

  return {
    address,
    namespace,
    pki,
    clientEnv,
    connect,
    serverOutput: () => server?.output() ?? '',
    stopServer: (signal = 'SIGTERM') => stopDaemon(server, signal),
    startServer,
    async restartServer(signal = 'SIGTERM') {
      await stopDaemon(server, signal);
      await startServer();
    },
    async stop() {
      await stopDaemon(server, 'SIGTERM');
      await postgres.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
