/**
 * Benchmark: gateway overhead when waking from zero, beyond replica readiness.
 * Target (architecture.md): <= 100 ms.
 *
 * Runs the stack as `npm start` does, on free ports, with a model that loads in LOAD_MS. A
 * deployment with scale to zero idles down to zero replicas; then one request arrives. The
 * gateway holds it, wakes the deployment, and proxies it once a replica is ready. Overhead =
 * (response received) - (the replica's own readiness instant, from its /health) - (the
 * request's own service time, measured on a warm replica). Repeated CYCLES times.
 *
 *   npm run bench:wake-overhead          (CYCLES=5, LOAD_MS=1000; each cycle waits ~40 s to reach zero)
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { startBenchStack } from './stack';

const CYCLES = Number(process.env.CYCLES ?? 5);
const LOAD_MS = Number(process.env.LOAD_MS ?? 1000);

async function main(): Promise<void> {
  const stack = await startBenchStack({ loadMs: LOAD_MS });
  try {
    const { headers, apiPort, agentPort } = stack;
    const api = `http://127.0.0.1:${apiPort}/v1/workspaces/default/deployments`;
    const endpoint = `http://127.0.0.1:${apiPort}/v1/endpoints/default/sleepy/v1/completions`;
    const request = () =>
      fetch(endpoint, {
        method: 'POST',
        headers,
        body: JSON.stringify({ prompt: 'hi', max_tokens: 1 }),
      });
    const view = async () =>
      (await (await fetch(`${api}/sleepy`, { headers })).json()) as {
        replicas: { desired: number; ready: number };
      };

    await fetch(api, {
      method: 'POST',
      headers,
      body: JSON.stringify({
        name: 'sleepy',
        model: 'bench-model',
        cloud: { type: 'dedicated', accelerator: { type: 'L4', count: 1 } },
        scaling: {
          minReplicas: 0,
          maxReplicas: 1,
          metric: 'concurrency',
          threshold: 4,
          scaleToZero: { enabled: true, cooldownSeconds: 10 },
        },
      }),
    });
    while ((await view()).replicas.ready < 1) await sleep(100);
    // The request's own time on a warm replica, to subtract.
    const warm: number[] = [];
    for (let i = 0; i < 5; i++) {
      const t = performance.now();
      await (await request()).arrayBuffer();
      warm.push(performance.now() - t);
    }
    const serviceMs = warm.sort((a, b) => a - b)[2]!;

    const overheads: number[] = [];
    for (let cycle = 0; cycle < CYCLES; cycle++) {
      while ((await view()).replicas.desired !== 0) await sleep(250);
      await sleep(500); // let the replica process exit
      const res = await request();
      await res.arrayBuffer();
      const answeredAt = Date.now();
      if (res.status !== 200) throw new Error(`the waking request answered ${res.status}`);
      const sets = (await (
        await fetch(
          `http://127.0.0.1:${agentPort}/v1/replicasets?deploymentId=${encodeURIComponent('default/sleepy')}`,
        )
      ).json()) as { items: { replicas: { url: string }[] }[] };
      const url = sets.items[0]?.replicas[0]?.url;
      const health = (await (await fetch(`${url}/health`)).json()) as { readySince: string };
      overheads.push(answeredAt - Date.parse(health.readySince) - serviceMs);
      console.log(
        `  cycle ${cycle + 1}: answered ${answeredAt - Date.parse(health.readySince)} ms after the replica became ready`,
      );
    }
    const sorted = overheads.sort((a, b) => a - b);
    console.log(
      `gateway overhead waking from zero, beyond replica readiness (request service time ${serviceMs.toFixed(1)} ms subtracted), ${CYCLES} wakes:`,
    );
    console.log(
      `  median ${sorted[Math.floor(sorted.length / 2)]!.toFixed(0)} ms   max ${sorted[sorted.length - 1]!.toFixed(0)} ms   (target <= 100 ms)`,
    );
  } finally {
    await stack.stop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
