/**
 * Configuration, parsed once at start-up from the environment with zod. A bad value fails fast
 * with a message that names the variable. Every variable has an embedded default, so
 * `npm start` needs none.
 */
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { clustersSchema, type ClusterRegistry } from './clusters';
import { BUILTIN_CATALOG, catalogSchema, type Catalog } from '../workflows/domain/catalog';
import { violationsOf, describeViolations } from '../workflows/domain/spec';

const boolean = z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1');

const envSchema = z.object({
  DATA_DIR: z.string().default('./data'),
  TEMPORAL_ADDRESS: z.string().default('127.0.0.1:7233'),
  TEMPORAL_NAMESPACE: z.string().default('default'),
  /** Temporal Cloud: an API key turns TLS on. */
  TEMPORAL_API_KEY: z.string().optional(),
  TEMPORAL_TLS: boolean.optional(),
  /** mTLS: this process's client certificate and key (PEM files), e.g. from a Secret. */
  TEMPORAL_TLS_CERT: z.string().optional(),
  TEMPORAL_TLS_KEY: z.string().optional(),
  /** The CA that signed the server's certificate, when it is not one the system trusts. */
  TEMPORAL_TLS_CA: z.string().optional(),
  /** The name the server's certificate is for, when it differs from TEMPORAL_ADDRESS's host. */
  TEMPORAL_TLS_SERVER_NAME: z.string().optional(),
  TASK_QUEUE: z.string().default('model-deployments'),
  API_HOST: z.string().default('127.0.0.1'),
  API_PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  /** Base URL clients use to reach the API (deployment URLs are built from it). */
  PUBLIC_URL: z.string().url().optional(),
  /** "key1=workspace1,key2=workspace2". Empty: the embedded default makes one key for "default". */
  API_KEYS: z.string().optional(),
  /** Where replicas run: local processes (the embedded default) or any Kubernetes cluster. */
  RUNTIME_PROVIDER: z.enum(['local', 'kubernetes']).default('local'),
  /** kubernetes: the kubeconfig file (default: $KUBECONFIG, ~/.kube/config or in-cluster) and namespace. */
  KUBECONFIG: z.string().optional(),
  KUBE_NAMESPACE: z.string().default('model-deployments'),
  /** kubernetes: the model-server image replicas run. */
  MODEL_SERVER_IMAGE: z.string().optional(),
  LOCAL_AGENT_URL: z.string().url().default('http://127.0.0.1:7070'),
  /**
   * How long a replica taken out of service (scale-in, the old revision after a rollout, scale to
   * zero, pause, delete) may take to answer its requests in flight before it is stopped anyway.
   * Read by the local runtime agent and put into Kubernetes pods (terminationGracePeriodSeconds).
   */
  DRAIN_GRACE_SECONDS: z.coerce.number().int().min(0).default(60),
  CATALOG_FILE: z.string().optional(),
  /** BYOC: the clusters each workspace has linked (see config/clusters.ts). None by default. */
  CLUSTERS_FILE: z.string().optional(),
  /** Secrets referenced by name (e.g. a cluster's credentialsSecret): one JSON file per name. */
  SECRETS_DIR: z.string().optional(),
  /** BYOC: how long growing a node group may take before the deployment reports it. */
  NODE_GROUP_SCALE_TIMEOUT_SECONDS: z.coerce.number().int().min(10).default(900),
  /**
   * Worker capacity, set deliberately rather than left to the SDK (see the README's "Worker
   * capacity"). Activity slots: activities are short (a status call, one rollout step), so this
   * bounds the calls to runtimes in flight, not the deployments one worker serves (before the
   * observer, every deployment held one slot for life). Workflow-task slots: tasks processed at
   * once. Local-activity slots: scale steps' runtime calls in flight (each runs inside the
   * workflow task that decided it). Cached workflows: deployments kept in memory between their
   * tasks (each one evicted is replayed from history on its next task).
   */
  WORKER_MAX_CONCURRENT_ACTIVITIES: z.coerce.number().int().min(1).default(100),
  WORKER_MAX_CONCURRENT_LOCAL_ACTIVITIES: z.coerce.number().int().min(1).default(100),
  WORKER_MAX_CONCURRENT_WORKFLOW_TASKS: z.coerce.number().int().min(2).default(40),
  WORKER_MAX_CACHED_WORKFLOWS: z.coerce.number().int().min(0).default(1000),
  /**
   * The runtime's observer (observer/): `worker` runs one in every worker process (one of them
   * active, by lease; the others stand by to take over), `off` leaves it to a separate
   * `node dist/observer/main.js` process.
   */
  OBSERVER: z.enum(['worker', 'off']).default('worker'),
  /** How often the observer scrapes every ready replica's /metrics. */
  OBSERVER_SCRAPE_INTERVAL_MS: z.coerce.number().int().min(100).default(1000),
  /**
   * Scrape replicas at any address. Off by default: only loopback replicas (the local runtime's)
   * are scraped, so a development machine never dials a cluster's pod IPs (kwok's are private
   * addresses). Turn it on where the observer runs inside the cluster it observes.
   */
  OBSERVER_SCRAPE_ANY_ADDRESS: z
    .enum(['true', 'false'])
    .default('false')
    .transform((v) => v === 'true'),
  /**
   * Prometheus /metrics, one listener per process, apart from the API port (scrapes need no API
   * key, and the API port keeps its auth by route). One port variable per kind of process, so
   * `npm start` runs them side by side on their defaults; 0 turns a process's metrics off. A port
   * that is taken is reported at start and the process runs without metrics.
   */
  METRICS_HOST: z.string().default('127.0.0.1'),
  WORKER_METRICS_PORT: z.coerce.number().int().min(0).max(65535).default(9464),
  API_METRICS_PORT: z.coerce.number().int().min(0).max(65535).default(9465),
  OBSERVER_METRICS_PORT: z.coerce.number().int().min(0).max(65535).default(9466),
  QUOTAS_FILE: z.string().optional(),
  /** GPUs per accelerator type per workspace when QUOTAS_FILE does not say. */
  DEFAULT_GPU_QUOTA: z.coerce.number().int().min(0).default(16),
});

export type Env = z.output<typeof envSchema>;

/** Quotas file: per workspace ("*" for any), per accelerator type, a GPU limit. */
const quotasSchema = z.record(z.string(), z.record(z.string(), z.number().int().min(0)));
export type Quotas = z.output<typeof quotasSchema>;

export interface Config extends Env {
  catalog: Catalog;
  quotas: Quotas;
  clusters: ClusterRegistry;
  secretsDir: string;
  publicUrl: string;
}

export class ConfigError extends Error {}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    throw new ConfigError(
      `invalid configuration: ${describeViolations(violationsOf(parsed.error))}`,
    );
  }
  const values = parsed.data;
  return {
    ...values,
    DATA_DIR: path.resolve(values.DATA_DIR),
    catalog: values.CATALOG_FILE
      ? readJsonFile(values.CATALOG_FILE, 'CATALOG_FILE', catalogSchema)
      : BUILTIN_CATALOG,
    quotas: values.QUOTAS_FILE ? readJsonFile(values.QUOTAS_FILE, 'QUOTAS_FILE', quotasSchema) : {},
    clusters: values.CLUSTERS_FILE
      ? readJsonFile(values.CLUSTERS_FILE, 'CLUSTERS_FILE', clustersSchema)
      : {},
    secretsDir: path.resolve(values.SECRETS_DIR ?? path.join(values.DATA_DIR, 'secrets')),
    publicUrl:
      values.PUBLIC_URL ??
      `http://${values.API_HOST === '0.0.0.0' ? '127.0.0.1' : values.API_HOST}:${values.API_PORT}`,
  };
}

function readJsonFile<T>(file: string, variable: string, schema: z.ZodType<T>): T {
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw new ConfigError(`${variable}=${file}: cannot read JSON: ${(err as Error).message}`);
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success)
    throw new ConfigError(`${variable}=${file}: ${describeViolations(violationsOf(parsed.error))}`);
  return parsed.data;
}

/** The GPU limit of one accelerator type in one workspace. */
export function gpuQuota(
  config: Pick<Config, 'quotas' | 'DEFAULT_GPU_QUOTA'>,
  workspace: string,
  accelerator: string,
): number {
  return (
    config.quotas[workspace]?.[accelerator] ??
    config.quotas['*']?.[accelerator] ??
    config.DEFAULT_GPU_QUOTA
  );
}
