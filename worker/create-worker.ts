/**
 * Builds a worker: the workflow bundle (by path: workflow code is never imported here) and the
 * activities over injected dependencies. Used by `worker/main.ts` and by the tests.
 */
import fs from 'node:fs';
import path from 'node:path';
import {
  NativeConnection,
  Worker,
  bundleWorkflowCode,
  type WorkerOptions,
} from '@temporalio/worker';
import { createActivities, type ActivityDeps } from '../activities';
import type { Config } from '../config';

/** The workflows entry: TypeScript source under tests, compiled JavaScript under dist/. */
export const WORKFLOWS_PATH = ['.ts', '.js']
  .map((ext) => path.join(__dirname, '..', 'workflows', `index${ext}`))
  .find((file) => fs.existsSync(file)) as string;

/**
 * cron-parser imports `fs` for its file parser, which workflows never use. Nothing is preloaded
 * (bundlerOptions.preloadModules): the SDK freezes what it preloads, and zod memoizes onto its
 * schema objects on first use ("Cannot define property safeParse, object is not extensible");
 * workflow code builds the schema only when it checks an edit instead (workflows/domain/lazy-spec.ts).
 */
export const BUNDLER_OPTIONS = { ignoreModules: ['fs', 'fs/promises'] };

export async function bundleWorkflows(): Promise<{ code: string }> {
  return bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, ...BUNDLER_OPTIONS });
}

/** The worker's slot counts and cache size, from configuration (see config/index.ts). */
export function workerCapacity(
  config: Pick<
    Config,
    | 'WORKER_MAX_CONCURRENT_ACTIVITIES'
    | 'WORKER_MAX_CONCURRENT_LOCAL_ACTIVITIES'
    | 'WORKER_MAX_CONCURRENT_WORKFLOW_TASKS'
    | 'WORKER_MAX_CACHED_WORKFLOWS'
  >,
): Partial<WorkerOptions> {
  return {
    maxConcurrentActivityTaskExecutions: config.WORKER_MAX_CONCURRENT_ACTIVITIES,
    maxConcurrentLocalActivityExecutions: config.WORKER_MAX_CONCURRENT_LOCAL_ACTIVITIES,
    maxConcurrentWorkflowTaskExecutions: config.WORKER_MAX_CONCURRENT_WORKFLOW_TASKS,
    maxCachedWorkflows: config.WORKER_MAX_CACHED_WORKFLOWS,
  };
}

export interface CreateWorkerOptions {
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  deps: ActivityDeps;
  /** A prebuilt bundle (tests bundle once per run); otherwise bundled from source. */
  workflowBundle?: { code: string };
  overrides?: Partial<WorkerOptions>;
}

export async function createWorker({
  connection,
  namespace,
  taskQueue,
  deps,
  workflowBundle,
  overrides,
}: CreateWorkerOptions): Promise<Worker> {
  return Worker.create({
    connection,
    namespace,
    taskQueue,
    ...(workflowBundle
      ? { workflowBundle }
      : { workflowsPath: WORKFLOWS_PATH, bundlerOptions: BUNDLER_OPTIONS }),
    activities: createActivities(deps),
    ...overrides,
  });
}
