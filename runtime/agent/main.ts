/**
 * The local runtime agent: runs model replicas as local processes, like a one-machine
 * kubelet plus Service, behind a small HTTP API (see server.ts).
 *
 * Environment: AGENT_HOST (127.0.0.1), AGENT_PORT (7070), DATA_DIR (./data; the agent
 * keeps DATA_DIR/agent/state.json and replica logs in DATA_DIR/agent/logs/), REPLICA_HOST
 * (127.0.0.1, the address replicas listen on), DRAIN_GRACE_SECONDS (60: how long a replica
 * taken out of service may take to answer its requests in flight before it is killed).
 *
 * SIGTERM/SIGINT stop all replicas but keep the desired state; SIGKILL leaves them running
 * and the next start re-adopts them.
 */
import fs from 'node:fs';
import path from 'node:path';
import { log } from './log';
import { createAgentServer } from './server';
import { StateFile } from './state';
import { DEFAULT_DRAIN_GRACE_MS, Supervisor } from './supervisor';

function main(): void {
  const host = process.env.AGENT_HOST ?? '127.0.0.1';
  const port = Number(process.env.AGENT_PORT ?? 7070);
  const agentDir = path.resolve(process.env.DATA_DIR ?? 'data', 'agent');
  const logDir = path.join(agentDir, 'logs');
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    fail(`AGENT_PORT must be a port number, got "${process.env.AGENT_PORT}"`);
  }
  const graceSeconds = Number(process.env.DRAIN_GRACE_SECONDS ?? DEFAULT_DRAIN_GRACE_MS / 1000);
  if (!Number.isFinite(graceSeconds) || graceSeconds < 0) {
    fail(
      `DRAIN_GRACE_SECONDS must be a number of seconds >= 0, got "${process.env.DRAIN_GRACE_SECONDS}"`,
    );
  }
  fs.mkdirSync(logDir, { recursive: true });

  const stateFile = new StateFile(path.join(agentDir, 'state.json'));
  let supervisor: Supervisor;
  try {
    supervisor = new Supervisor(stateFile.load(), {
      serverPath: path.join(__dirname, '../model-server/main.js'),
      replicaHost: process.env.REPLICA_HOST ?? '127.0.0.1',
      logDir,
      stateFile,
      drainGraceMs: Math.round(graceSeconds * 1000),
    });
  } catch (err) {
    fail((err as Error).message);
  }

  const server = createAgentServer(supervisor);
  server.on('error', (err: NodeJS.ErrnoException) => {
    const hint =
      err.code === 'EADDRINUSE'
        ? ' (is another agent running? set AGENT_PORT to use another port)'
        : '';
    fail(`cannot listen on ${host}:${port}: ${err.message}${hint}`);
  });
  // Replicas are adopted or started only once the port is ours: a second agent started by
  // mistake must exit before it touches the first one's processes.
  server.listen(port, host, () => {
    log(`listening on http://${host}:${port}, state in ${stateFile.file}`);
    supervisor.start();
  });

  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    log(`${signal}: stopping all replicas`);
    server.close();
    server.closeAllConnections();
    supervisor.shutdown().then(
      () => process.exit(0),
      (err: unknown) => fail(`shutdown failed: ${(err as Error).message}`),
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

function fail(message: string): never {
  console.error(`agent: ${message}`);
  process.exit(1);
}

main();
