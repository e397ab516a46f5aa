/**
 * `node dist/scripts/temporal-setup.js`: prepares a Temporal cluster for the control plane,
 * idempotently, with the same connection settings as the worker and the API (TEMPORAL_ADDRESS,
 * TEMPORAL_NAMESPACE, mTLS or API key; see config/temporal.ts):
 *   1. registers the namespace when it does not exist (retention TEMPORAL_RETENTION_DAYS, 7);
 *   2. registers the search attributes the list API and the UI filter on
 *      (workflows/domain/search-attributes.ts), skipping those already there with the same type.
 * It fails, naming the attribute, when one exists with another type: workflows that upsert it
 * would fail their tasks. Run it before the first worker starts (a Kubernetes Job, compose's
 * one-shot `temporal-setup` service, the production tier of the tests). On Temporal Cloud the
 * namespace is created in Cloud (tcld or the UI); where the credentials may not add search
 * attributes, it says so and names them.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { loadConfig } from '../config';
import { temporalConnectionOptions } from '../config/temporal';
import { SA } from '../workflows/domain/search-attributes';
import { SearchAttributeType } from '@temporalio/common';
import { msToTs } from '@temporalio/common/lib/time';

const IndexedValueType = temporal.api.enums.v1.IndexedValueType;
type IndexedValueType = temporal.api.enums.v1.IndexedValueType;

/** gRPC status codes the setup tells apart. */
const NOT_FOUND = 5;
const ALREADY_EXISTS = 6;
const PERMISSION_DENIED = 7;
const UNAVAILABLE = 14;

export const REQUIRED_SEARCH_ATTRIBUTES: Record<string, IndexedValueType> = Object.fromEntries(
  Object.values(SA).map((key) => [
    key.name,
    key.type === SearchAttributeType.KEYWORD_LIST
      ? IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD_LIST
      : IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
  ]),
);

function grpcCode(err: unknown): number | undefined {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'number' ? code : undefined;
}

export async function ensureNamespace(
  connection: Connection,
  namespace: string,
  retentionDays: number,
  log: (message: string) => void,
): Promise<void> {
  try {
    await connection.workflowService.describeNamespace({ namespace });
    log(`namespace ${namespace}: exists`);
    return;
  } catch (err) {
    if (grpcCode(err) !== NOT_FOUND) throw err;
  }
  try {
    await connection.workflowService.registerNamespace({
      namespace,
      workflowExecutionRetentionPeriod: msToTs(retentionDays * 24 * 3600 * 1000),
    });
    log(`namespace ${namespace}: registered (retention ${retentionDays} days)`);
  } catch (err) {
    // Another setup run registered it between the two calls.
    if (grpcCode(err) !== ALREADY_EXISTS) throw err;
  }
  // A new namespace reaches every frontend's cache within seconds: wait until it answers.
  for (let attempt = 0; ; attempt++) {
    try {
      await connection.workflowService.describeNamespace({ namespace });
      return;
    } catch (err) {
      if (attempt >= 60) throw err;
      await sleep(500);
    }
  }
}

async function retryNotFound<T>(
  call: () => Promise<T>,
  log: (message: string) => void,
): Promise<T> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      return await call();
    } catch (err) {
      if (grpcCode(err) !== NOT_FOUND || Date.now() > deadline) throw err;
      log(`waiting for the namespace to reach the frontend's cache (${(err as Error).message})`);
      await sleep(1000);
    }
  }
}

export async function ensureSearchAttributes(
  connection: Connection,
  namespace: string,
  log: (message: string) => void,
): Promise<void> {
  // A namespace just registered answers describe at once, but the operator service reads the
  // frontend's namespace cache (refreshed every 10 s): NOT_FOUND until then.
  const listed = await retryNotFound(
    () => connection.operatorService.listSearchAttributes({ namespace }),
    log,
  );
  const existing: Record<string, IndexedValueType> = {
    ...(listed.systemAttributes ?? {}),
    ...(listed.customAttributes ?? {}),
  };
  const missing: Record<string, IndexedValueType> = {};
  for (const [name, type] of Object.entries(REQUIRED_SEARCH_ATTRIBUTES)) {
    const found = existing[name];
    if (found === undefined) missing[name] = type;
    else if (found !== type) {
      throw new Error(
        `search attribute ${name} exists in namespace ${namespace} as ${IndexedValueType[found]}, but the control plane writes ${IndexedValueType[type]}: rename or remove it first`,
      );
    }
  }
  if (Object.keys(missing).length === 0) {
    log(`search attributes: all ${Object.keys(REQUIRED_SEARCH_ATTRIBUTES).length} registered`);
    return;
  }
  await retryNotFound(
    () => connection.operatorService.addSearchAttributes({ namespace, searchAttributes: missing }),
    log,
  );
  log(`search attributes: registered ${Object.keys(missing).join(', ')}`);
}

async function main(): Promise<void> {
  const config = loadConfig();
  const retentionDays = Number(process.env.TEMPORAL_RETENTION_DAYS ?? 7);
  if (!Number.isInteger(retentionDays) || retentionDays < 1) {
    throw new Error(
      `TEMPORAL_RETENTION_DAYS=${process.env.TEMPORAL_RETENTION_DAYS}: a whole number of days >= 1`,
    );
  }
  const log = (message: string) => console.log(`temporal-setup: ${message}`);
  const timeoutMs = Number(process.env.TEMPORAL_SETUP_TIMEOUT_MS ?? 120_000);
  const deadline = Date.now() + timeoutMs;
  // The cluster may still be starting (a Job started with it): retry until it answers, bounded.
  let connection: Connection | undefined;
  for (;;) {
    try {
      connection = await Connection.connect({
        ...temporalConnectionOptions(config),
        connectTimeout: 5000,
      });
      await connection.workflowService.getSystemInfo({});
      break;
    } catch (err) {
      await connection?.close().catch(() => undefined);
      connection = undefined;
      if (Date.now() > deadline) {
        throw new Error(
          `Temporal at ${config.TEMPORAL_ADDRESS} did not answer within ${timeoutMs / 1000} s: ${(err as Error).message}`,
        );
      }
      log(`waiting for Temporal at ${config.TEMPORAL_ADDRESS} (${(err as Error).message})`);
      await sleep(2000);
    }
  }
  try {
    await ensureNamespace(connection, config.TEMPORAL_NAMESPACE, retentionDays, log);
    await ensureSearchAttributes(connection, config.TEMPORAL_NAMESPACE, log);
  } catch (err) {
    const code = grpcCode(err);
    if (code === PERMISSION_DENIED) {
      throw new Error(
        `Temporal refused (${(err as Error).message}): on Temporal Cloud create the namespace and the search attributes ${Object.keys(REQUIRED_SEARCH_ATTRIBUTES).join(', ')} with tcld or the Cloud UI`,
      );
    }
    if (code === UNAVAILABLE)
      throw new Error(`Temporal became unavailable: ${(err as Error).message}`);
    throw err;
  } finally {
    await connection.close();
  }
}

if (require.main === module) {
  main().catch((err) => {
    console.error(`temporal-setup: ${err instanceof Error ? err.message : err}`);
    process.exit(1);
  });
}
