/** Quota activities: talk to the per-workspace quota ledger workflow. */
import { Client, WithStartWorkflowOperation, WorkflowUpdateFailedError } from '@temporalio/client';
import { ErrorType, quotaExceededIn } from '../workflows/domain/errors';
import { parseNodeGroupQuotaKey } from '../workflows/domain/spec';
import { ClusterError, type ByocClusters } from './providers/byoc';
import { nodeGroupGpuCapacity } from './providers/node-group-fit';
import { ApplicationFailure } from '@temporalio/activity';
import type { GpuDemand } from '../workflows/quota/definitions';
import {
  QUOTA_WORKFLOW_TYPE,
  quotaWorkflowId,
  releaseUpdate,
  reserveUpdate,
} from '../workflows/quota/definitions';

export interface QuotaDeps {
  client: Client;
  taskQueue: string;
  /** The GPU limit for an accelerator type in a workspace, from configuration. */
  limitFor(workspace: string, accelerator: string): number;
  /** BYOC: a node group's limit is its GPU capacity at its maximum size. */
  clusters?: ByocClusters;
}

export interface ReserveQuotaInput {
  workspace: string;
  holder: string;
  gpus: GpuDemand;
}

export function createQuotaActivities({ client, taskQueue, limitFor, clusters }: QuotaDeps) {
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

  return {
    /** Idempotent per holder. Throws a non-retryable `quota_exceeded` failure when it does not fit. */
    async reserveQuota({ workspace, holder, gpus }: ReserveQuotaInput): Promise<void> {
      const limits = Object.fromEntries(
        await Promise.all(
          Object.keys(gpus).map(async (key) => [key, await limitOf(workspace, key)] as const),
        ),
      );
      const request = { holder, gpus, limits };
      try {
        await client.workflow.executeUpdateWithStart(reserveUpdate, {
          args: [request],
          startWorkflowOperation: startLedger(workspace),
        });
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
      await client.workflow.executeUpdateWithStart(releaseUpdate, {
        args: [{ holder }],
        startWorkflowOperation: startLedger(workspace),
      });
    },
  };
}
