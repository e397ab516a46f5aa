/** The rolling-update child workflow's contract. Its ID is `rolloutWorkflowId(...)`. */
import type { DeploymentEvent } from '../domain/deployment';
import type { DeploymentSpec, RuntimeTarget } from '../domain/spec';

export const ROLLOUT_WORKFLOW_TYPE = 'rolloutWorkflow';

export interface RolloutInput {
  deploymentId: string;
  /** The revision serving traffic now; null when nothing runs (e.g. a paused deployment). */
  fromRevision: number | null;
  toRevision: number;
  replicas: number;
  spec: DeploymentSpec;
  readinessTimeoutSeconds: number;
  /** Where the revisions run; absent (older histories): the dedicated runtime. */
  target?: RuntimeTarget;
}

export interface RolloutResult {
  outcome: 'succeeded' | 'rolledBack';
  /** Why it rolled back, for the deployment's events. */
  reason?: string;
  /** Every step with its time, appended to the deployment's events log. */
  steps: DeploymentEvent[];
}
