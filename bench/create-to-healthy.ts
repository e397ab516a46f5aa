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
 *
 * On Kubernetes (the local control plane, whose kwok pods become ready after the load time):
 *   KUBE_DIR=/tmp/kube scripts/k8s/control-plane.sh start && kubectl --kubeconfig /tmp/kube/kubeconfig create ns model-deployments
 *   RUNTIME_PROVIDER=kubernetes KUBECONFIG=/tmp/kube/kubeconfig ACCELERATOR=H100 npm run bench:create-to-healthy
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { startBenchStack } from './stack';

const N = Number(process.env.N ?? 20);
const LOAD_MS = Number(process.env.LOAD_MS ?? 1000);
/** On Kubernetes, an accelerator the cluster's nodes have (the local control plane: H100, A100-80GB). */
const ACCELERATOR = process.env.ACCELERATOR ?? 'L4';

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

async function main(): Promise<void> {
  const stack = await startBenchStack({ loadMs: LOAD_MS, env: { DEFAULT_GPU_QUOTA: '100000' } });
  try {
    const { headers, apiPort } = stack;
    const api = `http://127.0.0.1:${apiPort}/v1/workspaces/default/deployments`;

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
          cloud: { type: 'dedicated', accelerator: { type: ACCELERATOR, count: 1 } },
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
    await stack.stop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
