/**
 * The quota ledger under a burst, on a real Temporal dev server: the server refuses an update
 * when 10 are already in flight on one workflow execution, and a busy worker keeps updates in
 * flight (bench:scale: 20 creates at once, 33 of 5,000 deployments ended AdmissionFailed).
 *
 * The reserveQuota / releaseQuota activities run here in a real activity Context
 * (MockActivityEnvironment: its timeouts and cancellation), over a real client, against a real
 * ledger workflow on a real worker. That worker is started late: until then every update sent
 * stays in flight, as on a loaded worker. The client keeps the SDK's gRPC retries except for
 * RESOURCE_EXHAUSTED (the default connection retries a refusal for about 54 s, longer than the
 * activity may take), so a refusal reaches the activity at once, as it does in production once
 * those are spent; it also counts the refusals. (Other transient answers stay retried by the
 * client, as in production: e.g. UNAVAILABLE "workflow update was aborted", which the server
 * answers for admitted updates when it clears the execution's update registry.)
 */
import {
  InterceptingCall,
  ListenerBuilder,
  RequesterBuilder,
  status,
  type Interceptor,
} from '@grpc/grpc-js';
import {
  ApplicationFailure,
  CancelledFailure,
  Client,
  Connection,
  defaultGrpcRetryOptions,
  makeGrpcRetryInterceptor,
} from '@temporalio/client';
import { MockActivityEnvironment } from '@temporalio/testing';
import type { Worker } from '@temporalio/worker';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { KeyedGate } from '../../activities/ledger-gate';
import { createQuotaActivities, LEDGER_MAX_IN_FLIGHT } from '../../activities/quota';
import { createWorker } from '../../worker/create-worker';
import { quotaWorkflowId, usageQuery } from '../../workflows/quota/definitions';
import { TEST_CATALOG } from '../helpers/catalog';
import { FakeProvider } from '../helpers/fake-provider';
import { startHarness, waitFor, type Harness } from '../helpers/harness';
import { uniqueName, workflowBundle } from '../helpers/temporal';

let h: Harness;
let client: Client;
let refusals = 0;
const workers: { worker: Worker; running: Promise<void> }[] = [];

/** The SDK's default gRPC retries, less RESOURCE_EXHAUSTED. */
const defaults = defaultGrpcRetryOptions();
const retryAllButRefusals = makeGrpcRetryInterceptor({
  delayFunction: defaults.delayFunction,
  retryableDecider: (attempt, received) =>
    received.code !== status.RESOURCE_EXHAUSTED && defaults.retryableDecider(attempt, received),
});

/** Counts RESOURCE_EXHAUSTED answers (inside the retries: every answer is seen). */
const countRefusals: Interceptor = (options, nextCall) =>
  new InterceptingCall(
    nextCall(options),
    new RequesterBuilder()
      .withStart((metadata, _listener, next) => {
        next(
          metadata,
          new ListenerBuilder()
            .withOnReceiveStatus((received, forward) => {
              if (received.code === status.RESOURCE_EXHAUSTED) refusals += 1;
              forward(received);
            })
            .build(),
        );
      })
      .build(),
  );

beforeAll(async () => {
  h = await startHarness();
  client = new Client({
    connection: await Connection.connect({
      address: h.env.address,
      interceptors: [retryAllButRefusals, countRefusals],
    }),
    namespace: h.env.namespace ?? 'default',
  });
  await workflowBundle(); // so a late ledger worker starts in a second
});
afterEach(async () => {
  for (const { worker, running } of workers.splice(0)) {
    if (worker.getState() === 'RUNNING') worker.shutdown();
    await running.catch(() => undefined);
  }
});
afterAll(async () => {
  await client?.connection.close();
  await h?.stop();
});

/** A worker for the ledger workflows on their own task queue. */
async function startLedgerWorker(taskQueue: string): Promise<void> {
  const worker = await createWorker({
    connection: h.env.nativeConnection,
    namespace: h.env.namespace ?? 'default',
    taskQueue,
    workflowBundle: await workflowBundle(),
    deps: {
      client: h.env.client,
      taskQueue,
      limitFor: () => 1000,
      provider: new FakeProvider(),
      catalog: TEST_CATALOG,
    },
  });
  workers.push({ worker, running: worker.run() });
}

/** A real activity Context: started now, `startToCloseMs` to run, cancellable. */
function activityEnv(startToCloseMs: number): MockActivityEnvironment {
  const now = Date.now();
  return new MockActivityEnvironment({
    activityType: 'reserveQuota',
    startToCloseTimeoutMs: startToCloseMs,
    scheduleToCloseTimeoutMs: 0,
    scheduledTimestampMs: now,
    currentAttemptScheduledTimestampMs: now,
  });
}

/** Quota activities as one worker process has them: its own gate, ledgers on `taskQueue`. */
function workerProcess(taskQueue: string) {
  const gate = new KeyedGate(LEDGER_MAX_IN_FLIGHT);
  const activities = createQuotaActivities({
    client,
    taskQueue,
    limitFor: () => 1000,
    ledgerGate: gate,
  });
  return { gate, ...activities };
}

async function usage(ws: string) {
  return client.workflow.getHandle(quotaWorkflowId(ws)).query(usageQuery);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('the quota ledger under a burst', () => {
  it('admits 25 reservations sent at once to one ledger, never sends it more than 8 at a time, and holds their sum', async () => {
    const ws = uniqueName('burst');
    const ledgerQueue = `ledger-${ws}`;
    const worker = workerProcess(ledgerQueue);
    const demands = Array.from({ length: 25 }, (_, i) => (i % 3) + 1);
    const before = refusals;

    const calls = demands.map((gpus, i) =>
      activityEnv(30_000).run(worker.reserveQuota, {
        workspace: ws,
        holder: `d${i}`,
        gpus: { A100: gpus },
      }),
    );
    // The ledger has no worker yet: what was sent stays in flight; the rest must wait here.
    await sleep(1_000);
    const held = { inFlight: worker.gate.inFlight(ws), waiting: worker.gate.waiting(ws) };
    await startLedgerWorker(ledgerQueue);
    const results = await Promise.allSettled(calls);

    const failed = results.flatMap((r, i) =>
      r.status === 'rejected' ? [`d${i}: ${(r.reason as Error).message}`] : [],
    );
    expect(failed).toEqual([]);
    expect(refusals - before).toBe(0);
    expect(held).toEqual({ inFlight: 8, waiting: 17 });
    const ledger = await usage(ws);
    expect(ledger.reserved).toEqual({ A100: demands.reduce((a, b) => a + b, 0) });
    expect(ledger.reservations.map((r) => r.holder).sort()).toEqual(
      demands.map((_, i) => `d${i}`).sort(),
    );
    expect(worker.gate.activeKeys).toBe(0);

    // and 25 releases at once empty it again
    const releases = await Promise.allSettled(
      demands.map((_, i) =>
        activityEnv(30_000).run(worker.releaseQuota, { workspace: ws, holder: `d${i}` }),
      ),
    );
    expect(releases.filter((r) => r.status === 'rejected')).toEqual([]);
    expect(await usage(ws)).toMatchObject({ reserved: {}, reservations: [] });
  });

  it('tries again, with backoff, when two worker processes together overfill the ledger and the server refuses', async () => {
    const ws = uniqueName('shared');
    const ledgerQueue = `ledger-${ws}`;
    const processes = [workerProcess(ledgerQueue), workerProcess(ledgerQueue)];
    const before = refusals;

    const calls = processes.flatMap((p, n) =>
      Array.from({ length: LEDGER_MAX_IN_FLIGHT }, (_, i) =>
        activityEnv(30_000).run(p.reserveQuota, {
          workspace: ws,
          holder: `p${n}-d${i}`,
          gpus: { A100: 1 },
        }),
      ),
    );
    // 16 sent, 10 in flight at most: the server refuses the rest until the ledger catches up.
    await waitFor(
      () => Promise.resolve(refusals - before),
      (n) => n >= 6,
      'the server refusing the updates over 10',
      5_000,
    );
    await startLedgerWorker(ledgerQueue);
    const results = await Promise.allSettled(calls);

    expect(results.filter((r) => r.status === 'rejected')).toEqual([]);
    const ledger = await usage(ws);
    expect(ledger.reserved).toEqual({ A100: 2 * LEDGER_MAX_IN_FLIGHT });
    expect(ledger.reservations).toHaveLength(2 * LEDGER_MAX_IN_FLIGHT);
  });

  it("gives up before the activity's deadline with a retryable failure that names the ledger", async () => {
    const ws = uniqueName('stuck');
    const worker = workerProcess(`ledger-${ws}`); // no worker ever polls it
    const startToCloseMs = 3_000;

    const results = await Promise.allSettled(
      Array.from({ length: LEDGER_MAX_IN_FLIGHT + 1 }, (_, i) =>
        activityEnv(startToCloseMs).run(worker.reserveQuota, {
          workspace: ws,
          holder: `d${i}`,
          gpus: { A100: 1 },
        }),
      ),
    );
    // each ends with the gate's own "did not answer before the deadline" (not a timeout of the
    // activity): it gave up before its deadline, however long this machine took
    expect(results.map((r) => r.status)).toEqual(
      Array<string>(LEDGER_MAX_IN_FLIGHT + 1).fill('rejected'),
    );
    for (const r of results) {
      const err = (r as PromiseRejectedResult).reason as unknown;
      expect(err).toBeInstanceOf(ApplicationFailure);
      expect(err).toMatchObject({
        type: 'unavailable',
        nonRetryable: false,
        message: expect.stringContaining(`quota ledger ${quotaWorkflowId(ws)} did not answer`),
      });
    }
    expect(worker.gate.activeKeys).toBe(0);
  });

  it('stops a call when its activity is cancelled, whether it waits for the gate or is in flight', async () => {
    const ws = uniqueName('cancel');
    const worker = workerProcess(`ledger-${ws}`); // no worker ever polls it
    const envs = Array.from({ length: LEDGER_MAX_IN_FLIGHT + 1 }, () => activityEnv(30_000));
    const calls = envs.map((env, i) =>
      env.run(worker.reserveQuota, { workspace: ws, holder: `d${i}`, gpus: { A100: 1 } }).then(
        () => 'admitted',
        (err: unknown) => err,
      ),
    );
    await waitFor(
      () => Promise.resolve(worker.gate.waiting(ws)),
      (n) => n === 1,
      'one call waiting at the gate',
      5_000,
    );

    const waiting = envs[LEDGER_MAX_IN_FLIGHT]!;
    const inFlight = envs[0]!;
    waiting.cancel();
    inFlight.cancel();
    expect(await calls[LEDGER_MAX_IN_FLIGHT]).toBeInstanceOf(CancelledFailure);
    // stopped by the cancellation, not by their 30 s deadline (that ends as 'unavailable')
    expect(await calls[0]).toBeInstanceOf(CancelledFailure);
    expect(worker.gate.waiting(ws)).toBe(0);
    expect(worker.gate.inFlight(ws)).toBe(LEDGER_MAX_IN_FLIGHT - 1);

    for (const env of envs) env.cancel();
    for (const call of calls) expect(await call).toBeInstanceOf(CancelledFailure);
    expect(worker.gate.activeKeys).toBe(0);
  });
});
