/** The worker process: runs deployment, rollout and quota workflows and their activities. */
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime, type LogLevel } from '@temporalio/worker';
import { gpuQuota, loadConfig } from '../config';
import { temporalConnectionOptions } from '../config/temporal';
import { createClusters, createProvider } from '../activities/providers';
import { startObservers } from '../observer/start';
import { createWorker, workerCapacity } from './create-worker';

async function main(): Promise<void> {
  const config = loadConfig();
  // The SDK logs every bundling step at INFO; operators want warnings and our own lines.
  Runtime.install({
    logger: new DefaultLogger((process.env.LOG_LEVEL?.toUpperCase() ?? 'WARN') as LogLevel),
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
  console.log(
    `worker: polling task queue "${config.TASK_QUEUE}" on ${config.TEMPORAL_ADDRESS} (namespace ${config.TEMPORAL_NAMESPACE}); ` +
      `${config.WORKER_MAX_CONCURRENT_ACTIVITIES} activity slots, ${config.WORKER_MAX_CONCURRENT_LOCAL_ACTIVITIES} local-activity slots, ${config.WORKER_MAX_CONCURRENT_WORKFLOW_TASKS} workflow-task slots, ${config.WORKER_MAX_CACHED_WORKFLOWS} cached workflows`,
  );
  // The runtimes' observers (the dedicated runtime, each linked BYOC cluster): one active each.
  const observers =
    config.OBSERVER === 'worker'
      ? startObservers(provider, clusters, client, {
          log: (m) => console.log(`worker: ${m}`),
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

main().catch((err) => {
  console.error('worker failed:', err);
  process.exit(1);
});
