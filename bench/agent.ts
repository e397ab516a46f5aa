/** For benchmarks: the compiled local runtime agent on a free port, with a throwaway data folder. */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from './stack';

export interface BenchAgent {
  url: string;
  stop(): Promise<void>;
}

export async function startBenchAgent(env: NodeJS.ProcessEnv = {}): Promise<BenchAgent> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'md-bench-agent-'));
  const port = await freePort();
  const agent = spawn(
    process.execPath,
    [path.join(__dirname, '..', 'runtime', 'agent', 'main.js')],
    {
      env: { ...process.env, AGENT_PORT: String(port), DATA_DIR: dataDir, ...env },
      stdio: ['ignore', 'ignore', 'inherit'],
    },
  );
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (agent.exitCode === null) {
      agent.kill('SIGTERM');
      await new Promise((r) => agent.once('exit', r));
    }
    fs.rmSync(dataDir, { recursive: true, force: true });
  };
  const until = Date.now() + 15_000;
  for (;;) {
    const up = await fetch(`${url}/healthz`).then(
      (res) => res.ok,
      () => false,
    );
    if (up) return { url, stop };
    if (agent.exitCode !== null || Date.now() > until) {
      await stop();
      throw new Error('the local runtime agent did not start');
    }
    await sleep(50);
  }
}

export function percentile(sorted: number[], p: number): number {
  return sorted[
    Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
  ]!;
}
