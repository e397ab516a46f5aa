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

/** GPUs per accelerator type, e.g. { H100: 4 }. */
export type GpuDemand = Record<string, number>;

export interface Reservation {
  /** Who holds it: a deployment workflow ID. Reserving again for the same holder replaces it. */
  holder: string;
  /** Usually one accelerator type; two while a rollout moves a deployment to another type. */
  gpus: GpuDemand;
}

export interface ReserveRequest extends Reservation {
  /** The workspace's limit per accelerator type in `gpus`, from configuration at the time of the call. */
  limits: Record<string, number>;
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
