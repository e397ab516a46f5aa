/**
 * Workflow-tier harness: a real Temporal dev server, a real worker running the real workflows,
 * activities over an injected provider, and the same DeploymentService the API uses.
 */
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Worker, WorkerOptions } from '@temporalio/worker';
import { expect } from 'vitest';
import { DeploymentService, DomainError } from '../../api/deployment-service';
import type { ByocClusters } from '../../activities/providers/byoc';
import type { RuntimeProvider } from '../../activities/providers/provider';
import type { LoadObserverOptions } from '../../observer/load-observer';
import type { Observer } from '../../observer/observer';
import { startObservers } from '../../observer/start';
import { createWorker } from '../../worker/create-worker';
import { TEST_CATALOG } from './catalog';
import { startDevServer, workflowBundle } from './temporal';

export interface Harness {
  env: TestWorkflowEnvironment;
  service: DeploymentService;
  taskQueue: string;
  /** A worker whose dedicated deployments run on `provider`, BYOC ones on `clusters`. */
  startWorker(
    provider: RuntimeProvider,
    clusters?: ByocClusters,
    overrides?: Partial<WorkerOptions>,
  ): Promise<Worker>;
  /** The observers the workers started (one of them active). */
  observers(): readonly Observer[];
  /** Stops the observers the workers started; `crash`: without releasing their lease. */
  stopObservers(options?: { crash?: boolean }): Promise<void>;
  stop(): Promise<void>;
}

export async function startHarness(
  options: {
    limits?: Record<string, number>;
    devServerArgs?: string[];
    /** The observer's load measurement (tests shorten its windows). */
    observerLoad?: Omit<LoadObserverOptions, 'client' | 'log'>;
  } = {},
): Promise<Harness> {
  const env = await startDevServer(options.devServerArgs);
  const taskQueue = `test-${Date.now().toString(36)}`;
  const limitFor = (_ws: string, accelerator: string) => options.limits?.[accelerator] ?? 1000;
  const service = new DeploymentService({
    client: env.client,
    taskQueue,
    catalog: TEST_CATALOG,
    limitFor,
  });
  const workers: { worker: Worker; running: Promise<void> }[] = [];
  const observers: Observer[] = [];
  return {
    env,
    service,
    taskQueue,
    async startWorker(provider, clusters, overrides) {
      const worker = await createWorker({
        connection: env.nativeConnection,
        namespace: env.namespace ?? 'default',
        taskQueue,
        workflowBundle: await workflowBundle(),
        deps: {
          client: env.client,
          taskQueue,
          limitFor,
          provider,
          ...(clusters ? { clusters } : {}),
          catalog: TEST_CATALOG,
        },
        ...(overrides ? { overrides } : {}),
      });
      workers.push({ worker, running: worker.run() });
      // The runtime's observer, as the worker process runs it (it stands by while another holds the lease).
      observers.push(
        ...startObservers(provider, clusters, env.client, {
          ...(options.observerLoad ? { load: options.observerLoad } : {}),
        }),
      );
      return worker;
    },
    observers: () => observers,
    async stopObservers({ crash = false } = {}) {
      for (const observer of observers.splice(0))
        await (crash ? observer.crash() : observer.stop());
    },
    async stop() {
      for (const observer of observers) await observer.stop();
      for (const { worker, running } of workers) {
        if (worker.getState() === 'RUNNING') worker.shutdown();
        await running.catch(() => undefined);
      }
      await env.teardown();
    },
  };
}

/** Polls until the predicate holds (a read that throws is tried again), or fails with the last value seen. */
export async function waitFor<T>(
  read: () => Promise<T>,
  predicate: (value: T) => boolean,
  what: string,
  timeoutMs = 20_000,
): Promise<T> {
  const until = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < until) {
    try {
      const value = await read();
      if (predicate(value)) return value;
      last = value;
    } catch (err) {
      last = err instanceof Error ? `error: ${err.message}` : err;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(
    `timed out after ${timeoutMs} ms waiting for ${what}; last value: ${JSON.stringify(last)}`,
  );
}

/** The DomainError a call fails with (the test fails if it succeeds or fails otherwise). */
export async function rejection(promise: Promise<unknown>): Promise<DomainError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(DomainError);
  return err as DomainError;
}
