/** Quota activities: talk to the per-workspace quota ledger workflow. */
import { Client, WithStartWorkflowOperation, WorkflowUpdateFailedError } from '@temporalio/client';
import { quotaExceededIn } from '../workflows/domain/errors';
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
}

export interface ReserveQuotaInput {
  workspace: string;
  holder: string;
  gpus: GpuDemand;
}

export function createQuotaActivities({ client, taskQueue, limitFor }: QuotaDeps) {
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
        Object.keys(gpus).map((type) => [type, limitFor(workspace, type)]),
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
