/**
 * Benchmark: what a worker's capacity settings cost in memory. N deployments run on one worker
 * (a real Temporal dev server, the real workflows and activities, an in-memory provider whose
 * replicas are ready at once); the worker process's RSS and V8 heap are read before the first
 * create and once every deployment is Healthy, after a GC.
 *
 *   npm run bench:worker-memory            (N=300)
 *   N=600 npm run bench:worker-memory
 *   N=300 CACHE=20 npm run bench:worker-memory   (a small cache: what the cache itself costs)
 *
 * Each running deployment holds one cache entry (no activity between steps: replicas are
 * observed by signals), so the worker runs with N + 20 cached workflows here: the figure per
 * deployment is what a cached deployment costs.
 */
import { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Worker } from '@temporalio/worker';
import { DeploymentService } from '../api/deployment-service';
import { temporalCliPath } from '../scripts/toolchain';
import { createWorker, workerCapacity } from '../worker/create-worker';
import { BUILTIN_CATALOG } from '../workflows/domain/catalog';
import { statusQuery, deploymentWorkflowId } from '../workflows/deployment/definitions';
import { SEARCH_ATTRIBUTE_FLAGS } from '../workflows/domain/search-attributes';
import { InstantProvider } from './instant-provider';

const N = Number(process.env.N ?? 300);
/** Cached workflows; default all of them. A smaller cache shows what the cache itself costs. */
const CACHE = Number(process.env.CACHE ?? N + 20);
const MB = 1024 * 1024;

function memory(): { rss: number; heap: number } {
  (globalThis as { gc?: () => void }).gc?.();
  const m = process.memoryUsage();
  return { rss: m.rss / MB, heap: m.heapUsed / MB };
}

async function main(): Promise<void> {
  const env = await TestWorkflowEnvironment.createLocal({
    server: {
      executable: { type: 'existing-path', path: temporalCliPath() },
      extraArgs: SEARCH_ATTRIBUTE_FLAGS.flatMap((flag) => ['--search-attribute', flag]),
    },
  });
  const taskQueue = 'bench-memory';
  const limitFor = () => 1_000_000;
  const worker: Worker = await createWorker({
    connection: env.nativeConnection,
    namespace: 'default',
    taskQueue,
    deps: {
      client: env.client,
      taskQueue,
      limitFor,
      provider: new InstantProvider(),
      catalog: BUILTIN_CATALOG,
    },
    overrides: workerCapacity({
      WORKER_MAX_CONCURRENT_ACTIVITIES: N + 20,
      WORKER_MAX_CONCURRENT_LOCAL_ACTIVITIES: 100,
      WORKER_MAX_CONCURRENT_WORKFLOW_TASKS: 40,
      WORKER_MAX_CACHED_WORKFLOWS: CACHE,
    }),
  });
  const service = new DeploymentService({
    client: env.client,
    taskQueue,
    catalog: BUILTIN_CATALOG,
    limitFor,
  });
  try {
    await worker.runUntil(async () => {
      // One deployment first, so the bundle, the V8 context and the connections are counted
      // in the baseline, not per deployment.
      const create = (name: string) =>
        service.create('bench', {
          name,
          model: 'bge-large-en-v1.5',
          cloud: { type: 'dedicated', accelerator: { type: 'T4', count: 1 } },
          scaling: { minReplicas: 1, maxReplicas: 2, metric: 'concurrency', threshold: 8 },
        });
      const healthy = async (name: string) => {
        const handle = env.client.workflow.getHandle(deploymentWorkflowId('bench', name));
        for (;;) {
          const view = await handle.query(statusQuery);
          if (view.health === 'Healthy') return;
          await new Promise((r) => setTimeout(r, 200));
        }
      };
      await create('warm-up');
      await healthy('warm-up');
      await new Promise((r) => setTimeout(r, 2000));
      const before = memory();
      const started = performance.now();
      const names = Array.from({ length: N }, (_, i) => `bench-${i}`);
      for (const name of names) await create(name);
      for (const name of names) await healthy(name);
      const seconds = (performance.now() - started) / 1000;
      await new Promise((r) => setTimeout(r, 5000)); // steady: every deployment idle
      const after = memory();
      const fmt = (n: number) => n.toFixed(1);
      console.log(
        `worker memory, ${N} deployments Healthy on one worker (${CACHE} cached workflows), created and Healthy in ${fmt(seconds)} s:`,
      );
      console.log(
        `  RSS ${fmt(before.rss)} -> ${fmt(after.rss)} MB: ${fmt(((after.rss - before.rss) * 1024) / N)} KB per deployment`,
      );
      console.log(
        `  V8 heap ${fmt(before.heap)} -> ${fmt(after.heap)} MB: ${fmt(((after.heap - before.heap) * 1024) / N)} KB per deployment`,
      );
    });
  } finally {
    await env.teardown();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
