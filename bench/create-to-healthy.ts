/**
 * Benchmark: control-plane overhead from create to Healthy, beyond the simulated weight load.
 * Target (architecture.md): <= 500 ms.
 *
 * Starts the stack as `npm start` does (dist/scripts/start.js) on free ports with a throwaway
 * data folder and a catalog whose model loads in exactly LOAD_MS, then creates deployments one
 * after another through the REST API. For each: overhead = (time of the Healthy event, from the
 * workflow) - (time just before the POST) - LOAD_MS. Also prints where the time goes.
 *
 *   npm run bench:create-to-healthy            (N=20 deployments after one warm-up, LOAD_MS=1000)
 *   N=50 LOAD_MS=2000 npm run bench:create-to-healthy
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { BUILTIN_CATALOG } from '../workflows/domain/catalog';

const N = Number(process.env.N ?? 20);
const LOAD_MS = Number(process.env.LOAD_MS ?? 1000);

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

async function main(): Promise<void> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'md-bench-'));
  const catalogFile = path.join(dataDir, 'catalog.json');
  fs.writeFileSync(
    catalogFile,
    JSON.stringify({
      accelerators: BUILTIN_CATALOG.accelerators,
      models: [
        { id: 'bench-model', name: 'Bench', minGpuMemoryGb: 1, loadSeconds: LOAD_MS / 1000 },
      ],
    }),
  );
  const apiPort = await freePort();
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    DATA_DIR: dataDir,
    CATALOG_FILE: catalogFile,
    API_PORT: String(apiPort),
    TEMPORAL_PORT: String(await freePort()),
    TEMPORAL_UI_PORT: String(await freePort()),
    AGENT_PORT: String(await freePort()),
    DEFAULT_GPU_QUOTA: '100000',
  };
  delete env.TEMPORAL_ADDRESS;
  const stack = spawn(process.execPath, [path.join(__dirname, '..', 'scripts', 'start.js')], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  stack.stdout.on('data', (c: Buffer) => (output += c.toString()));
  stack.stderr.on('data', (c: Buffer) => (output += c.toString()));
  const stopStack = async () => {
    stack.kill('SIGINT');
    await new Promise((r) => stack.once('exit', r));
    fs.rmSync(dataDir, { recursive: true, force: true });
  };
  try {
    const started = Date.now();
    while (!output.includes('Ctrl-C stops everything')) {
      if (stack.exitCode !== null || Date.now() - started > 120_000)
        throw new Error(`stack did not start:\n${output}`);
      await sleep(100);
    }
    await sleep(2000); // let the worker finish bundling and start polling
    const key = fs.readFileSync(path.join(dataDir, 'api-key'), 'utf8').trim();
    const api = `http://127.0.0.1:${apiPort}/v1/workspaces/default/deployments`;
    const headers = { authorization: `Bearer ${key}`, 'content-type': 'application/json' };

    const overheads: number[] = [];
    const admissions: number[] = [];
    // One warm-up deployment (first quota ledger start, first activity worker slots) is not counted.
    for (let i = -1; i < N; i++) {
      const name = `bench-${i + 1}`;
      const t0 = Date.now();
      const res = await fetch(api, {
        method: 'POST',
        headers,
        body: JSON.stringify({
          name,
          model: 'bench-model',
          cloud: { type: 'dedicated', accelerator: { type: 'L4', count: 1 } },
        }),
      });
      if (res.status !== 202) throw new Error(`create answered ${res.status}: ${await res.text()}`);
      if (i >= 0) admissions.push(Date.now() - t0);
      let healthyAt: number | undefined;
      while (healthyAt === undefined) {
        await sleep(25);
        const events = (await (await fetch(`${api}/${name}/events`, { headers })).json()) as {
          items: { reason: string; time: string }[];
        };
        const healthy = events.items.find((e) => e.reason === 'ReplicasReady');
        if (healthy) healthyAt = Date.parse(healthy.time);
        if (Date.now() - t0 > LOAD_MS + 30_000) throw new Error(`${name} not Healthy after 30 s`);
      }
      if (i >= 0) overheads.push(healthyAt - t0 - LOAD_MS);
      await fetch(`${api}/${name}`, { method: 'DELETE', headers });
    }
    const sorted = [...overheads].sort((a, b) => a - b);
    const admitted = [...admissions].sort((a, b) => a - b);
    console.log(
      `create-to-Healthy overhead beyond a ${LOAD_MS} ms weight load, ${N} deployments, one at a time:`,
    );
    console.log(
      `  p50 ${percentile(sorted, 50)} ms   p95 ${percentile(sorted, 95)} ms   max ${sorted[sorted.length - 1]} ms   (target <= 500 ms)`,
    );
    console.log(
      `  of which POST -> 202 (quota reserved, workflow admitted): p50 ${percentile(admitted, 50)} ms   p95 ${percentile(admitted, 95)} ms`,
    );
  } finally {
    await stopStack();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
