/** The API process: REST API, OpenAPI docs and the inference gateway. */
import { Client, Connection } from '@temporalio/client';
import { gpuQuota, loadConfig } from '../config';
import { apiLoggerOptions, jsonLog, logLevel } from '../config/logging';
import { temporalConnectionOptions } from '../config/temporal';
import { createClusters, createProvider } from '../activities/providers';
import { buildApp, DOCS_PATH } from './app';
import { loadOrCreateLocalKey, parseApiKeys, type ApiKeys } from './auth';
import { DeploymentService } from './deployment-service';
import { ApiMetrics, serveMetrics } from './metrics/prometheus';
import { WakeNudger } from './metrics/wake-nudger';
import { ReplicaEndpoints } from './replica-endpoints';
import { TrafficMeter } from './metrics/traffic-meter';
import { FileSecretStore } from './secrets/store';
import { startSshServer } from './ssh/start';

const log = jsonLog('api');

async function main(): Promise<void> {
  const config = loadConfig();
  const connection = await Connection.connect(temporalConnectionOptions(config));
  const client = new Client({ connection, namespace: config.TEMPORAL_NAMESPACE });
  const limitFor = (workspace: string, accelerator: string) =>
    gpuQuota(config, workspace, accelerator);
  const service = new DeploymentService({
    client,
    taskQueue: config.TASK_QUEUE,
    catalog: config.catalog,
    limitFor,
  });

  let apiKeys: ApiKeys;
  if (config.API_KEYS) {
    apiKeys = parseApiKeys(config.API_KEYS);
  } else {
    const local = loadOrCreateLocalKey(config.DATA_DIR);
    apiKeys = local.keys;
    // The embedded default's one local key, shown once at start so `npm start` can be used at
    // once (it is also in DATA_DIR/api-key). Keys from API_KEYS are never logged.
    log.info(
      `no API_KEYS configured; local key for workspace "default" ${local.created ? '(new)' : ''}: ${local.key}`,
    );
  }

  const clusters = createClusters(config);
  const replicas = new ReplicaEndpoints({
    dedicated: createProvider(config),
    clusters,
    deployments: service,
    log: (m, fields) => log.warn(m, fields),
  });
  const meter = new TrafficMeter();
  // Load is measured at the replicas by the observer; the gateway only wakes deployments at zero.
  const nudger = new WakeNudger({ client, meter, log: (m, fields) => log.warn(m, fields) });
  const metrics = new ApiMetrics({ meter });
  // Secrets (DATA_DIR/workspace-secrets.json) and the SSH server into replicas (SSH_PORT).
  const secrets = new FileSecretStore(config.DATA_DIR);
  // Not fatal: API processes side by side on one machine share one SSH_PORT; the first serves it.
  const ssh = await startSshServer({ config, deployments: service, secrets, log }).catch(
    (err: unknown) => {
      log.error(`${err instanceof Error ? err.message : String(err)}; running without SSH`);
      return undefined;
    },
  );
  if (ssh) log.info(`ssh server on ${ssh.access.host}:${ssh.access.port}`);
  const app = await buildApp({
    service,
    replicas,
    meter,
    wake: (id) => nudger.nudge(id),
    catalog: config.catalog,
    clusters,
    apiKeys,
    publicUrl: config.publicUrl,
    logger: apiLoggerOptions(logLevel(process.env.LOG_LEVEL)),
    metrics,
    secrets,
    ...(ssh ? { ssh: ssh.access } : {}),
  });
  await app.listen({ host: config.API_HOST, port: config.API_PORT });
  const metricsServer = await serveMetrics({
    registry: metrics.registry,
    host: config.METRICS_HOST,
    port: config.API_METRICS_PORT,
    portVariable: 'API_METRICS_PORT',
    log,
  });
  log.info(
    `listening on ${config.publicUrl} (docs ${config.publicUrl}${DOCS_PATH}); metrics ${metricsServer.url ?? 'off'}`,
    { publicUrl: config.publicUrl, metricsUrl: metricsServer.url },
  );

  const stop = async () => {
    await metricsServer.close();
    await ssh?.server.close();
    await app.close();
    await connection.close();
    process.exit(0);
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((err: unknown) => {
  log.error(`api failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
