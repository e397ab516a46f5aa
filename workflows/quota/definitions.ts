/**
 * The quota ledger's contract: one long-lived workflow per workspace holds every reservation.
 * Updates to one workflow run one at a time, so two deployments can never both take the
 * last GPU, with no database lock to get wrong.
 */
import { defineQuery, defineUpdate } from '@temporalio/workflow';

export const QUOTA_WORKFLOW_TYPE = 'quotaWorkflow';

export function quotaWorkflowId(workspace: string): string {
  return `quota:${workspace}`;
}

export interface Reservation {
  /** Who holds it: a deployment workflow ID. Reserving again for the same holder replaces it. */
  holder: string;
  accelerator: string;
  gpus: number;
}

export interface ReserveRequest extends Reservation {
  /** The workspace's limit for this accelerator, from configuration at the time of the call. */
  limit: number;
}

export interface QuotaLedgerInput {
  workspace: string;
  reservations?: Reservation[];
}

export interface QuotaUsage {
  /** Reserved GPUs per accelerator type. */
  reserved: Record<string, number>;
  reservations: Reservation[];
}

export const reserveUpdate = defineUpdate<QuotaUsage, [ReserveRequest]>('reserve');
export const releaseUpdate = defineUpdate<QuotaUsage, [{ holder: string }]>('release');
export const usageQuery = defineQuery<QuotaUsage>('usage');
