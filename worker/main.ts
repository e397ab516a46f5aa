/** The worker process: runs deployment, rollout and quota workflows and their activities. */
import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { gpuQuota, loadConfig } from '../config';
import { jsonLog, logLevel } from '../config/logging';
import { temporalConnectionOptions } from '../config/temporal';
import { createClusters, createProvider } from '../activities/providers';
import { observerMetrics } from '../observer/metrics';
import { startObservers } from '../observer/start';
import { createWorker, workerCapacity } from './create-worker';
import { installRuntime } from './telemetry';

const log = jsonLog('worker');

async function main(): Promise<void> {
  const config = loadConfig();
  // JSON lines; the SDK logs every bundling step at INFO, so operators get warnings (LOG_LEVEL)
  // and our own lines. /metrics: the SDK's worker metrics, the workflows' and the observer's.
  const { runtime, metricsUrl } = installRuntime({
    processName: 'worker',
    level: logLevel(process.env.LOG_LEVEL),
    metricsHost: config.METRICS_HOST,
    metricsPort: config.WORKER_METRICS_PORT,
    portVariable: 'WORKER_METRICS_PORT',
    log,
  });
  const options = temporalConnectionOptions(config);
  const connection = await NativeConnection.connect(options);
  const client = new Client({
    connection: await Connection.connect(options),
    namespace: config.TEMPORAL_NAMESPACE,
  });
  const provider = createProvider(config);
  const clusters = createClusters(config);
  const worker = await createWorker({
    connection,
    namespace: config.TEMPORAL_NAMESPACE,
    taskQueue: config.TASK_QUEUE,
    deps: {
      client,
      taskQueue: config.TASK_QUEUE,
      limitFor: (workspace, accelerator) => gpuQuota(config, workspace, accelerator),
      provider,
      clusters,
      catalog: config.catalog,
    },
    overrides: workerCapacity(config),
  });
  log.info(
    `polling task queue "${config.TASK_QUEUE}" on ${config.TEMPORAL_ADDRESS} (namespace ${config.TEMPORAL_NAMESPACE}); ` +
      `${config.WORKER_MAX_CONCURRENT_ACTIVITIES} activity slots, ${config.WORKER_MAX_CONCURRENT_LOCAL_ACTIVITIES} local-activity slots, ${config.WORKER_MAX_CONCURRENT_WORKFLOW_TASKS} workflow-task slots, ${config.WORKER_MAX_CACHED_WORKFLOWS} cached workflows` +
      `; metrics ${metricsUrl ?? 'off'}`,
    { taskQueue: config.TASK_QUEUE, namespace: config.TEMPORAL_NAMESPACE, metricsUrl },
  );
  // The runtimes' observers (the dedicated runtime, each linked BYOC cluster): one active each.
  const observers =
    config.OBSERVER === 'worker'
      ? startObservers(provider, clusters, client, {
          log: (m, fields) => log.info(m, fields),
          metrics: observerMetrics(runtime.metricMeter),
          load: {
            intervalMs: config.OBSERVER_SCRAPE_INTERVAL_MS,
            allowNonLoopback: config.OBSERVER_SCRAPE_ANY_ADDRESS,
          },
        })
      : [];
  await worker.run();
  for (const observer of observers) await observer.stop();
  await connection.close();
}

main().catch((err: unknown) => {
  log.error(`worker failed: ${err instanceof Error ? err.message : String(err)}`, { error: err });
  process.exit(1);
});
