/**
 * For benchmarks: the stack exactly as `npm start` runs it (dist/scripts/start.js), on free
 * ports with a throwaway data folder and a one-model catalog whose weights load in `loadMs`.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { BUILTIN_CATALOG } from '../workflows/domain/catalog';

export interface BenchStack {
  apiPort: number;
  agentPort: number;
  /** Headers with the stack's local API key. */
  headers: Record<string, string>;
  stop(): Promise<void>;
}

export function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export async function startBenchStack(options: {
  loadMs: number;
  env?: NodeJS.ProcessEnv;
}): Promise<BenchStack> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'md-bench-'));
  const catalogFile = path.join(dataDir, 'catalog.json');
  const model = {
    id: 'bench-model',
    name: 'Bench',
    minGpuMemoryGb: 1,
    loadSeconds: options.loadMs / 1000,
  };
  fs.writeFileSync(
    catalogFile,
    JSON.stringify({ accelerators: BUILTIN_CATALOG.accelerators, models: [model] }),
  );
  const [apiPort, agentPort] = [await freePort(), await freePort()];
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    DATA_DIR: dataDir,
    CATALOG_FILE: catalogFile,
    API_PORT: String(apiPort),
    AGENT_PORT: String(agentPort),
    TEMPORAL_PORT: String(await freePort()),
    TEMPORAL_UI_PORT: String(await freePort()),
    ...options.env,
  };
  delete env.TEMPORAL_ADDRESS;
  const stack = spawn(process.execPath, [path.join(__dirname, '..', 'scripts', 'start.js')], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  stack.stdout.on('data', (c: Buffer) => (output += c.toString()));
  stack.stderr.on('data', (c: Buffer) => (output += c.toString()));
  const stop = async () => {
    if (stack.exitCode === null) {
      stack.kill('SIGINT');
      await new Promise((r) => stack.once('exit', r));
    }
    fs.rmSync(dataDir, { recursive: true, force: true });
  };
  const started = Date.now();
  while (!output.includes('Ctrl-C stops everything')) {
    if (stack.exitCode !== null || Date.now() - started > 120_000) {
      await stop();
      throw new Error(`the stack did not start:\n${output}`);
    }
    await sleep(100);
  }
  await sleep(2000); // let the worker finish bundling and start polling
  const key = fs.readFileSync(path.join(dataDir, 'api-key'), 'utf8').trim();
  return {
    apiPort,
    agentPort,
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    stop,
  };
}
