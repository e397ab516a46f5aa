/**
 * Benchmark: what draining costs on the local runtime. N times, with 2 replicas each answering
 * 4 generations of GEN_MS:
 * - scale-in 2 -> 1: how long the call takes (it returns while the replica drains), and how long
 *   after the removed replica's last answer its process is gone;
 * - removing the revision (as after a rollout, pause or delete): how long after the last answer
 *   removeRevision returns (it waits until the replicas are gone).
 *
 *   npm run bench:drain                        (N=5, GEN_MS=1000)
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { LocalRuntimeProvider } from '../activities/providers/local';
import type { ReplicaSetStatus } from '../runtime/agent/api';
import { percentile, startBenchAgent } from './agent';

const N = Number(process.env.N ?? 5);
const GEN_MS = Number(process.env.GEN_MS ?? 1000);
const TEMPLATE = { model: 'bench-model', loadMs: 100 };

/** Sends `count` generations to `url`; each resolves with when it was answered. */
function generations(url: string, count: number): Promise<number>[] {
  return Array.from({ length: count }, async () => {
    const res = await fetch(`${url}/v1/completions`, {
      method: 'POST',
      body: JSON.stringify({ prompt: 'x', max_tokens: Math.round(GEN_MS / 2) }),
    });
    await res.arrayBuffer();
    if (res.status !== 200) throw new Error(`a generation answered ${res.status}`);
    return performance.now();
  });
}

async function gone(pid: number): Promise<number> {
  for (;;) {
    try {
      process.kill(pid, 0);
    } catch {
      return performance.now();
    }
    await sleep(2);
  }
}

async function main(): Promise<void> {
  const agent = await startBenchAgent();
  const provider = new LocalRuntimeProvider(agent.url);
  const scaleCalls: number[] = [];
  const exitAfterLast: number[] = [];
  const removalAfterLast: number[] = [];
  try {
    for (let i = 0; i < N; i++) {
      const id = `bench/drain-${i}`;
      await provider.applyRevision({
        deploymentId: id,
        revision: 1,
        replicas: 2,
        template: TEMPLATE,
      });
      let set: ReplicaSetStatus;
      do {
        await sleep(20);
        set = (await (
          await fetch(`${agent.url}/v1/replicasets/bench--drain-${i}--r1`)
        ).json()) as ReplicaSetStatus;
      } while (set.ready < 2);
      const [kept, removed] = set.replicas;
      const onRemoved = generations(removed!.url, 4);
      const onKept = generations(kept!.url, 4);
      await sleep(GEN_MS / 4); // in flight

      const t0 = performance.now();
      await provider.applyRevision({
        deploymentId: id,
        revision: 1,
        replicas: 1,
        template: TEMPLATE,
      });
      scaleCalls.push(performance.now() - t0);
      const exited = gone(removed!.pid!);
      const lastAnswer = Math.max(...(await Promise.all(onRemoved)));
      exitAfterLast.push((await exited) - lastAnswer);

      await Promise.all(onKept);
      const again = generations(kept!.url, 4);
      await sleep(GEN_MS / 4);
      const removal = provider.removeRevision(id, 1).then(() => performance.now());
      const last = Math.max(...(await Promise.all(again)));
      removalAfterLast.push((await removal) - last);
    }
  } finally {
    await agent.stop();
  }
  const show = (values: number[]) => {
    const sorted = [...values].sort((a, b) => a - b);
    return `p50 ${percentile(sorted, 50).toFixed(0)} ms   max ${sorted[sorted.length - 1]!.toFixed(0)} ms`;
  };
  console.log(
    `local runtime draining, ${N} rounds, 4 generations of ${GEN_MS} ms in flight per replica:`,
  );
  console.log(`  ${'scale-in 2 -> 1: the call returns in'.padEnd(52)}${show(scaleCalls)}`);
  console.log(
    `  ${'the removed replica is gone after its last answer'.padEnd(52)}${show(exitAfterLast)}`,
  );
  console.log(
    `  ${'removeRevision returns after the last answer'.padEnd(52)}${show(removalAfterLast)}`,
  );
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
