/**
 * Benchmark: how soon local-runtime replicas are ready after they are asked for, beyond their
 * own weight load. (This figure used to be a wall-clock bound in local-runtime.test.ts.)
 *
 * Starts the compiled agent, then N times: a revision of REPLICAS replicas whose weights load
 * in LOAD_MS is applied through LocalRuntimeProvider, and the time until all are ready is taken
 * (overhead = that - LOAD_MS: process start, the first probes); the revision is then removed.
 *
 *   npm run bench:replica-ready                 (N=10, REPLICAS=2, LOAD_MS=300)
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { LocalRuntimeProvider } from '../activities/providers/local';
import { percentile, startBenchAgent } from './agent';

const N = Number(process.env.N ?? 10);
const REPLICAS = Number(process.env.REPLICAS ?? 2);
const LOAD_MS = Number(process.env.LOAD_MS ?? 300);

async function main(): Promise<void> {
  const agent = await startBenchAgent();
  try {
    const provider = new LocalRuntimeProvider(agent.url);
    const totals: number[] = [];
    for (let i = 0; i < N; i++) {
      const deploymentId = `bench/ready-${i}`;
      const t0 = performance.now();
      await provider.applyRevision({
        deploymentId,
        revision: 1,
        replicas: REPLICAS,
        template: { model: 'bench-model', loadMs: LOAD_MS },
      });
      while ((await provider.getRevision(deploymentId, 1)).ready < REPLICAS) {
        if (performance.now() - t0 > LOAD_MS + 30_000) throw new Error('not ready after 30 s');
        await sleep(5);
      }
      totals.push(performance.now() - t0);
      await provider.removeDeployment(deploymentId);
    }
    const sorted = totals.sort((a, b) => a - b);
    const row = (p: number) => `${percentile(sorted, p).toFixed(0)} ms`;
    console.log(
      `local runtime: ${REPLICAS} replica(s) ready after apply, weights loading in ${LOAD_MS} ms, ${N} revisions:`,
    );
    console.log(
      `  p50 ${row(50)}   p90 ${row(90)}   max ${row(100)}   (overhead beyond the load: p50 ${(percentile(sorted, 50) - LOAD_MS).toFixed(0)} ms; the old test bound was 2500 ms in all)`,
    );
  } finally {
    await agent.stop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
