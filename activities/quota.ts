/** Quota activities: talk to the per-workspace quota ledger workflow. */
import { setTimeout as delay } from 'node:timers/promises';
import { status as GrpcStatus } from '@grpc/grpc-js';
import {
  Client,
  WithStartWorkflowOperation,
  WorkflowUpdateFailedError,
  WorkflowUpdateRPCTimeoutOrCancelledError,
  isGrpcDeadlineError,
} from '@temporalio/client';
import { ErrorType, quotaExceededIn } from '../workflows/domain/errors';
import { parseNodeGroupQuotaKey } from '../workflows/domain/spec';
import { ClusterError, type ByocClusters } from './providers/byoc';
import { nodeGroupGpuCapacity } from './providers/node-group-fit';
import { ApplicationFailure, Context } from '@temporalio/activity';
import { KeyedGate } from './ledger-gate';
import type { GpuDemand } from '../workflows/quota/definitions';
import {
  QUOTA_WORKFLOW_TYPE,
  quotaWorkflowId,
  releaseUpdate,
  reserveUpdate,
} from '../workflows/quota/definitions';

/**
 * Ledger updates one worker process sends at once to one ledger. The server refuses an update
 * once 10 are in flight on a workflow execution (dynamic config `limit.workflow.maxInFlightUpdates`,
 * default 10); 8 leaves room for another worker process's calls.
 */
export const LEDGER_MAX_IN_FLIGHT = 8;

/** A ledger call gives up this long before the activity's own timeout, so its answer is ours, not a timeout. */
const DEADLINE_MARGIN_MS = 1_000;
/** Backoff between tries when the server says the ledger is busy: 200 ms doubling to 2 s, jittered. */
const BUSY_FIRST_MS = 200;
const BUSY_MAX_MS = 2_000;

export interface QuotaDeps {
  client: Client;
  taskQueue: string;
  /** The GPU limit for an accelerator type in a workspace, from configuration. */
  limitFor(workspace: string, accelerator: string): number;
  /** BYOC: a node group's limit is its GPU capacity at its maximum size. */
  clusters?: ByocClusters;
  /** Ledger calls at once per workspace; one gate per worker (tests pass their own to watch it). */
  ledgerGate?: KeyedGate;
}

export interface ReserveQuotaInput {
  workspace: string;
  holder: string;
  gpus: GpuDemand;
}

export function createQuotaActivities({
  client,
  taskQueue,
  limitFor,
  clusters,
  ledgerGate = new KeyedGate(LEDGER_MAX_IN_FLIGHT),
}: QuotaDeps) {
  /** The limit of one ledger key: an accelerator type, or a BYOC node group. */
  async function limitOf(workspace: string, key: string): Promise<number> {
    const group = parseNodeGroupQuotaKey(key);
    if (!group) return limitFor(workspace, key);
    if (!clusters) return 0;
    try {
      const info = await clusters.nodeGroup(workspace, group.cluster, group.nodeGroup);
      return nodeGroupGpuCapacity(info, info.size.max);
    } catch (err) {
      if (!(err instanceof ClusterError)) throw err;
      throw ApplicationFailure.create({
        type: ErrorType.InvalidSpec,
        message: `${err.path}: ${err.message}`,
        details: [[{ path: err.path, message: err.message }]],
        nonRetryable: true,
      });
    }
  }

  const startLedger = (workspace: string) =>
    new WithStartWorkflowOperation(QUOTA_WORKFLOW_TYPE, {
      workflowId: quotaWorkflowId(workspace),
      taskQueue,
      args: [{ workspace }],
      workflowIdConflictPolicy: 'USE_EXISTING',
    });

  /**
   * One update to a workspace's ledger: through the gate (at most LEDGER_MAX_IN_FLIGHT at once
   * from this worker), bounded by the activity's time, stopped by its cancellation. When the
   * server refuses it as busy (another process filled the ledger's in-flight updates), it tries
   * again with jittered backoff while there is time, then fails retryably, naming the ledger.
   * Any other error is the caller's, unchanged.
   */
  async function callLedger<T>(
    workspace: string,
    { deadline, signal }: CallBounds,
    update: () => Promise<T>,
  ): Promise<T> {
    const ledger = quotaWorkflowId(workspace);
    const timeLeft = AbortSignal.timeout(Math.max(0, deadline - Date.now()));
    const waitSignal = AbortSignal.any([signal, timeLeft]);
    for (let attempt = 0; ; attempt += 1) {
      try {
        return await ledgerGate.run(
          workspace,
          () => client.withDeadline(deadline, () => client.withAbortSignal(signal, update)),
          waitSignal,
        );
      } catch (err) {
        if (signal.aborted) throw signal.reason;
        // Our deadline: the gRPC call's (withDeadline; an update's long poll cut by it can also
        // end as CANCELLED, which the client reports as an update RPC timed out or cancelled:
        // the activity's own cancellation was handled above), or the wait at the gate that ran out.
        if (
          isGrpcDeadlineError(err) ||
          err instanceof WorkflowUpdateRPCTimeoutOrCancelledError ||
          (timeLeft.aborted && err === timeLeft.reason)
        )
          throw ledgerUnavailable(
            `quota ledger ${ledger} did not answer before the activity's deadline ` +
              `(${ledgerGate.inFlight(workspace)} other calls to it in flight from this worker, ${ledgerGate.waiting(workspace)} waiting)`,
          );
        const busy = serverBusyReason(err);
        if (busy === undefined) throw err;
        const pause = busyBackoffMs(attempt);
        if (Date.now() + pause >= deadline)
          throw ledgerUnavailable(`quota ledger ${ledger} is busy: ${busy}`);
        try {
          await delay(pause, undefined, { signal: waitSignal });
        } catch {
          if (signal.aborted) throw signal.reason;
          throw ledgerUnavailable(`quota ledger ${ledger} is busy: ${busy}`);
        }
      }
    }
  }

  return {
    /** Idempotent per holder. Throws a non-retryable `quota_exceeded` failure when it does not fit. */
    async reserveQuota({ workspace, holder, gpus }: ReserveQuotaInput): Promise<void> {
      const bounds = callBounds();
      const limits = Object.fromEntries(
        await Promise.all(
          Object.keys(gpus).map(async (key) => [key, await limitOf(workspace, key)] as const),
        ),
      );
      const request = { holder, gpus, limits };
      try {
        await callLedger(workspace, bounds, () =>
          client.workflow.executeUpdateWithStart(reserveUpdate, {
            args: [request],
            startWorkflowOperation: startLedger(workspace),
          }),
        );
      } catch (err) {
        throw (err instanceof WorkflowUpdateFailedError && quotaExceededIn(err)) || err;
      }
    },

    async releaseQuota({
      workspace,
      holder,
    }: {
      workspace: string;
      holder: string;
    }): Promise<void> {
      await callLedger(workspace, callBounds(), () =>
        client.workflow.executeUpdateWithStart(releaseUpdate, {
          args: [{ holder }],
          startWorkflowOperation: startLedger(workspace),
        }),
      );
    },
  };
}

interface CallBounds {
  /** Epoch ms by which the call must have answered. */
  deadline: number;
  /** The activity's cancellation. */
  signal: AbortSignal;
}

/**
 * The running activity's bounds: its start-to-close (counted from now, when the attempt starts
 * running) and schedule-to-close timeouts, less a margin. Quick activities have no heartbeat
 * timeout, so the deadline is the only bound.
 */
function callBounds(): CallBounds {
  const now = Date.now();
  const context = Context.current();
  const { startToCloseTimeoutMs, scheduledTimestampMs, scheduleToCloseTimeoutMs } = context.info;
  const end = Math.min(
    now + startToCloseTimeoutMs,
    scheduleToCloseTimeoutMs > 0 ? scheduledTimestampMs + scheduleToCloseTimeoutMs : Infinity,
  );
  return { deadline: end - DEADLINE_MARGIN_MS, signal: context.cancellationSignal };
}

/**
 * The server's "busy, try again": gRPC RESOURCE_EXHAUSTED, anywhere in the cause chain. For an
 * update-with-start refused because the ledger has 10 updates in flight, the client throws the
 * raw gRPC error (code 8) with the message "limit on number of concurrent in-flight updates has
 * been reached (10)" (after its own gRPC retries, about 54 s of them with the default
 * connection). Namespace rate limits answer the same code and deserve the same treatment.
 */
export function serverBusyReason(err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 8; depth += 1) {
    if ((e as { code?: unknown }).code === GrpcStatus.RESOURCE_EXHAUSTED) return e.message;
    e = e.cause;
  }
  return undefined;
}

/** Exponential from BUSY_FIRST_MS to BUSY_MAX_MS, each a random value in its upper half. */
function busyBackoffMs(attempt: number): number {
  const ceiling = Math.min(BUSY_MAX_MS, BUSY_FIRST_MS * 2 ** attempt);
  return ceiling / 2 + Math.random() * (ceiling / 2);
}

/** Retryable (`unavailable` is not a domain answer): the activity's retry policy tries again. */
function ledgerUnavailable(message: string): ApplicationFailure {
  return ApplicationFailure.create({
    type: ErrorType.Unavailable,
    message,
    nonRetryable: false,
  });
}
