/**
 * The observer as a process of its own (OBSERVER=off on the workers): watches the configured
 * runtime and signals deployments' workflows. Run as many as you like; one is active (lease).
 */
import { Client, Connection } from '@temporalio/client';
import { loadConfig } from '../config';
import { temporalConnectionOptions } from '../config/temporal';
import { createClusters, createProvider } from '../activities/providers';
import { startObservers } from './start';

async function main(): Promise<void> {
  const config = loadConfig();
  const connection = await Connection.connect(temporalConnectionOptions(config));
  const client = new Client({ connection, namespace: config.TEMPORAL_NAMESPACE });
  const observers = startObservers(createProvider(config), createClusters(config), client, {
    log: (m) => console.log(m),
    load: {
      intervalMs: config.OBSERVER_SCRAPE_INTERVAL_MS,
      allowNonLoopback: config.OBSERVER_SCRAPE_ANY_ADDRESS,
    },
  });
  if (observers.length === 0)
    throw new Error(`the ${config.RUNTIME_PROVIDER} runtime cannot be observed`);
  console.log(
    `observer: ${observers.length} observer(s) started: the ${config.RUNTIME_PROVIDER} runtime and each linked BYOC cluster`,
  );
  const stop = async () => {
    for (const observer of observers) await observer.stop();
    await connection.close();
    process.exit(0);
  };
  process.once('SIGINT', () => void stop());
  process.once('SIGTERM', () => void stop());
}

main().catch((err) => {
  console.error('observer failed:', err instanceof Error ? err.message : err);
  process.exit(1);
});
