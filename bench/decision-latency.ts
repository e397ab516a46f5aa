/**
 * Benchmark: autoscaling decision latency, from the metrics signal being sent to the scale
 * command being issued (the provider's applyRevision called). Target: p99 <= 200 ms.
 *
 * A real Temporal dev server and worker run the real deployment workflow; the provider is an
 * in-memory one that records when it is asked to scale (replicas are ready at once, so only the
 * control plane is measured). Observations alternate between a burst and a lull, so each one
 * changes the replica count (no autoscaling policy: no stabilization in the way).
 *
 *   npm run bench:decision-latency                 (N=200 decisions, DEPLOYMENTS=1)
 *   N=100 DEPLOYMENTS=20 npm run bench:decision-latency   (20 deployments deciding at once)
 */
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { DeploymentService } from '../api/deployment-service';
import { InstantProvider } from './instant-provider';
import { temporalCliPath } from '../scripts/toolchain';
import { createWorker } from '../worker/create-worker';
import { BUILTIN_CATALOG } from '../workflows/domain/catalog';
import { SEARCH_ATTRIBUTE_FLAGS } from '../workflows/domain/search-attributes';
import { deploymentWorkflowId } from '../workflows/deployment/definitions';
import { observeMetricsSignal, type MetricsObservation } from '../workflows/deployment/metrics';

const N = Number(process.env.N ?? 200);
const DEPLOYMENTS = Number(process.env.DEPLOYMENTS ?? 1);

function observation(perReplica: number[]): MetricsObservation {
  return {
    time: new Date().toISOString(),
    windowSeconds: 30,
    replicas: perReplica.map((c, i) => ({
      replica: `http://instant/${i}`,
      concurrency: c,
      throughput: c,
    })),
    queued: 0,
    lastRequestAt: new Date().toISOString(),
    shortWindow: { seconds: 6, concurrency: 0, throughput: 0 },
  };
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

async function main(): Promise<void> {
  const env = await TestWorkflowEnvironment.createLocal({
    server: {
      executable: { type: 'existing-path', path: temporalCliPath() },
      extraArgs: SEARCH_ATTRIBUTE_FLAGS.flatMap((flag) => ['--search-attribute', flag]),
    },
  });
  const taskQueue = 'bench-decisions';
  const provider = new InstantProvider();
  const deps = {
    client: env.client,
    taskQueue,
    limitFor: () => 1_000_000,
    provider,
    catalog: BUILTIN_CATALOG,
  };
  const worker: Worker = await createWorker({
    connection: env.nativeConnection,
    namespace: 'default',
    taskQueue,
    deps,
  });
  const service = new DeploymentService({
    client: env.client,
    taskQueue,
    catalog: BUILTIN_CATALOG,
    limitFor: () => 1_000_000,
  });
  try {
    await worker.runUntil(async () => {
      const names = Array.from({ length: DEPLOYMENTS }, (_, i) => `bench-${i}`);
      for (const name of names) {
        await service.create('bench', {
          name,
          model: 'bge-large-en-v1.5',
          cloud: { type: 'dedicated', accelerator: { type: 'T4', count: 1 } },
          scaling: { minReplicas: 1, maxReplicas: 2, metric: 'concurrency', threshold: 8 },
        });
      }
      const latencies: number[] = [];
      await Promise.all(
        names.map(async (name) => {
          const id = `bench/${name}`;
          const handle = env.client.workflow.getHandle(deploymentWorkflowId('bench', name));
          for (let i = 0; i < N + 5; i++) {
            const scaled = new Promise<number>((resolve) => provider.waiters.set(id, resolve));
            const sentAt = performance.now();
            await handle.signal(observeMetricsSignal, observation(i % 2 === 0 ? [20] : [1, 1]));
            const appliedAt = await scaled;
            if (i >= 5) latencies.push(appliedAt - sentAt); // the first few warm the worker up
          }
        }),
      );
      const sorted = latencies.sort((a, b) => a - b);
      const fmt = (n: number) => `${n.toFixed(1)} ms`;
      console.log(
        `decision latency, metrics signal sent -> scale command issued, ${sorted.length} decisions over ${DEPLOYMENTS} deployment(s):`,
      );
      console.log(
        `  p50 ${fmt(percentile(sorted, 50))}   p99 ${fmt(percentile(sorted, 99))}   max ${fmt(sorted[sorted.length - 1]!)}   (target p99 <= 200 ms)`,
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
