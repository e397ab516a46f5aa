/**
 * Time-skipping tier: the Temporal Java test server (no visibility, time moves only while a test
 * awaits a result or calls `env.sleep`), the real worker and workflows, activities over an
 * injected provider. Activities run in real time while workflow time jumps.
 */
import { SearchAttributeType } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import path from 'node:path';
import { Client, Connection, type WorkflowHandleWithFirstExecutionRunId } from '@temporalio/client';
import {
  InternalConnectionOptionsSymbol,
  type InternalConnectionOptions,
} from '@temporalio/client/lib/connection';
import { msToTs } from '@temporalio/common/lib/time';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, type Worker } from '@temporalio/worker';
import type { RuntimeProvider } from '../../activities/providers/provider';
import { javaTestServerPath } from '../../scripts/toolchain';
import { BUNDLER_OPTIONS, WORKFLOWS_PATH, createWorker } from '../../worker/create-worker';
import {
  DEPLOYMENT_WORKFLOW_TYPE,
  deploymentWorkflowId,
} from '../../workflows/deployment/definitions';
import type { deploymentWorkflow } from '../../workflows/deployment/workflow';
import { SA } from '../../workflows/domain/search-attributes';
import { describeViolations, validateSpec } from '../../workflows/domain/spec';
import { TEST_CATALOG } from './catalog';
import { startWithRetry } from './server-start';

/** The replica-watch double that lets time skip (see its header). */
export const WATCH_INTERCEPTOR = path.join(
  __dirname,
  '..',
  'time-skipping',
  'watch-interceptor.ts',
);

/** The watch double with timers cancelled as the real server cancels them (history counts). */
export const CANCELLABLE_TIMERS_INTERCEPTOR = path.join(
  __dirname,
  '..',
  'time-skipping',
  'cancellable-timers.ts',
);

export type TimerDouble = 'uncancelled' | 'cancelled';
const bundles = new Map<TimerDouble, Promise<{ code: string }>>();
/**
 * The real workflows plus the watch double, bundled once per test file. `timers`: 'uncancelled'
 * (default) never cancels a timer on the test server (see watch-interceptor.ts); 'cancelled'
 * cancels them as production does, for benchmarks that count history events.
 */
export function timeSkippingBundle(timers: TimerDouble = 'uncancelled'): Promise<{ code: string }> {
  let bundle = bundles.get(timers);
  if (!bundle) {
    bundle = bundleWorkflowCode({
      workflowsPath: WORKFLOWS_PATH,
      ...BUNDLER_OPTIONS,
      workflowInterceptorModules: [
        timers === 'cancelled' ? CANCELLABLE_TIMERS_INTERCEPTOR : WATCH_INTERCEPTOR,
      ],
    });
    bundles.set(timers, bundle);
  }
  return bundle;
}

export interface TimeSkippingHarness {
  env: TestWorkflowEnvironment;
  /**
   * A client whose connection does not send keepalive pings: the Java test server answers a ping
   * more often than every 5 minutes with GOAWAY ("too many pings"), which resets the calls in
   * flight; a reset `unlockTimeSkippingWithSleep` retried by the client leaves the time-skipping
   * lock unbalanced and the clock runs away (seen: 10 years in a second). Long runs use this.
   */
  client: Client;
  /** Lets the server's time skip this far (on `client`'s connection), then locks it again. */
  sleep(ms: number): Promise<void>;
  /** The server's time (epoch ms). */
  now(): Promise<number>;
  taskQueue: string;
  startWorker(provider: RuntimeProvider): Promise<Worker>;
  /** Starts a deployment workflow directly (no update-with-start, which the test server lacks). */
  startDeployment(
    workspace: string,
    name: string,
    spec: Record<string, unknown>,
  ): Promise<WorkflowHandleWithFirstExecutionRunId<typeof deploymentWorkflow>>;
  stop(): Promise<void>;
}

const { IndexedValueType } = temporal.api.enums.v1;

/** The deployment workflow upserts these; the test server rejects them until they are added. */
export async function registerSearchAttributes(env: TestWorkflowEnvironment): Promise<void> {
  const searchAttributes = Object.fromEntries(
    Object.values(SA).map((key) => [
      key.name,
      key.type === SearchAttributeType.KEYWORD_LIST
        ? IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD_LIST
        : IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    ]),
  );
  await env.connection.operatorService.addSearchAttributes({
    namespace: env.namespace ?? 'default',
    searchAttributes,
  });
}

export async function startTimeSkipping(
  options: { limits?: Record<string, number>; timers?: TimerDouble } = {},
): Promise<TimeSkippingHarness> {
  const env = await startWithRetry('the Java time-skipping server', () =>
    TestWorkflowEnvironment.createTimeSkipping({
      server: { executable: { type: 'existing-path', path: javaTestServerPath() } },
    }),
  );
  const workers: { worker: Worker; running: Promise<void> }[] = [];
  try {
    await registerSearchAttributes(env);
  } catch (err) {
    await env.teardown();
    throw err;
  }
  const taskQueue = `ts-${Date.now().toString(36)}`;
  const limitFor = (_ws: string, accelerator: string) => options.limits?.[accelerator] ?? 1000;
  const connectionOptions: InternalConnectionOptions = {
    address: env.address,
    channelArgs: {
      'grpc.keepalive_permit_without_calls': 0,
      'grpc.keepalive_time_ms': 2 ** 31 - 1,
    },
    // as TestWorkflowEnvironment makes its own: with the test server's TestService
    [InternalConnectionOptionsSymbol]: { supportsTestService: true },
  };
  const connection = await Connection.connect(connectionOptions);
  const testService = connection.testService;
  if (!testService) throw new Error('the time-skipping connection has no TestService');
  const client = new Client({ connection, namespace: env.namespace ?? 'default' });
  return {
    env,
    client,
    async sleep(ms) {
      await testService.unlockTimeSkippingWithSleep({ duration: msToTs(ms) });
    },
    async now() {
      const { time } = await testService.getCurrentTime({});
      return Number(time?.seconds ?? 0) * 1000 + Math.floor((time?.nanos ?? 0) / 1e6);
    },
    taskQueue,
    async startWorker(provider) {
      const worker = await createWorker({
        connection: env.nativeConnection,
        namespace: env.namespace ?? 'default',
        taskQueue,
        workflowBundle: await timeSkippingBundle(options.timers),
        deps: { client, taskQueue, limitFor, provider, catalog: TEST_CATALOG },
      });
      workers.push({ worker, running: worker.run() });
      return worker;
    },
    async startDeployment(workspace, name, spec) {
      const parsed = validateSpec(spec);
      if (!parsed.ok) throw new Error(`invalid spec: ${describeViolations(parsed.violations)}`);
      return client.workflow.start<typeof deploymentWorkflow>(DEPLOYMENT_WORKFLOW_TYPE, {
        workflowId: deploymentWorkflowId(workspace, name),
        taskQueue,
        args: [{ workspace, name, spec: parsed.value }],
      });
    },
    async stop() {
      for (const { worker, running } of workers) {
        if (worker.getState() === 'RUNNING') worker.shutdown();
        await running.catch(() => undefined);
      }
      await connection.close();
      await env.teardown();
    },
  };
}
