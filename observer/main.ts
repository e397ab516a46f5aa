/**
 * The observer as a process of its own (OBSERVER=off on the workers): watches the configured
 * runtime and signals deployments' workflows. Run as many as you like; one is active (lease).
 * Logs JSON lines; serves its metrics (observer/metrics.ts) on OBSERVER_METRICS_PORT.
 */
import { Client, Connection } from '@temporalio/client';
import { loadConfig } from '../config';
import { jsonLog, logLevel } from '../config/logging';
import { temporalConnectionOptions } from '../config/temporal';
import { createClusters, createProvider } from '../activities/providers';
import { installRuntime } from '../worker/telemetry';
import { observerMetrics } from './metrics';
import { startObservers } from './start';

const log = jsonLog('observer');

async function main(): Promise<void> {
  const config = loadConfig();
  // The Temporal runtime only for its Prometheus exporter (the client here is the pure-JS one);
  // this process stops on its own signal handlers below.
  const { runtime, metricsUrl } = installRuntime({
    processName: 'observer',
    level: logLevel(process.env.LOG_LEVEL),
    metricsHost: config.METRICS_HOST,
    metricsPort: config.OBSERVER_METRICS_PORT,
    portVariable: 'OBSERVER_METRICS_PORT',
    log,
    shutdownSignals: [],
  });
  const connection = await Connection.connect(temporalConnectionOptions(config));
  const client = new Client({ connection, namespace: config.TEMPORAL_NAMESPACE });
  const observers = startObservers(createProvider(config), createClusters(config), client, {
    log: (m, fields) => log.info(m, fields),
    metrics: observerMetrics(runtime.metricMeter),
    load: {
      intervalMs: config.OBSERVER_SCRAPE_INTERVAL_MS,
      allowNonLoopback: config.OBSERVER_SCRAPE_ANY_ADDRESS,
    },
  });
  if (observers.length === 0)
    throw new Error(`the ${config.RUNTIME_PROVIDER} runtime cannot be observed`);
  log.info(
    `observer: ${observers.length} observer(s) started: the ${config.RUNTIME_PROVIDER} runtime and each linked BYOC cluster; metrics ${metricsUrl ?? 'off'}`,
    { metricsUrl },
  );
  const stop = async () => {
    for (const observer of observers) await observer.stop();
    await connection.close();
    process.exit(0);
  };
  process.once('SIGINT', () => void stop());
  process.once('SIGTERM', () => void stop());
}

main().catch((err: unknown) => {
  log.error(`observer failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
