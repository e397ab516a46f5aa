/**
 * The deployment workflow's contract: ID scheme, input, and message definitions.
 * The API imports this module (never a string name) to start, update and query deployments.
 */
import { defineQuery, defineUpdate } from '@temporalio/workflow';
import type { DeploymentEvent, DeploymentView } from '../domain/deployment';
import type { DeploymentSpec } from '../domain/spec';
import type { AutoscalerState } from './autoscaler';

export const DEPLOYMENT_WORKFLOW_TYPE = 'deploymentWorkflow';

export function deploymentWorkflowId(workspace: string, name: string): string {
  return `deployment:${workspace}:${name}`;
}

export function rolloutWorkflowId(workspace: string, name: string, revision: number): string {
  return `deployment:${workspace}:${name}:rollout:${revision}`;
}

export interface DeploymentWorkflowInput {
  workspace: string;
  name: string;
  spec: DeploymentSpec;
  /** Set when the workflow continues as new: everything it must not forget. */
  carried?: CarriedState;
}

/** State handed across continue-as-new (plain JSON: no Map or Set). */
export interface CarriedState {
  spec: DeploymentSpec;
  revision: number;
  activeRevision: number | null;
  lastRevisionNumber: number;
  state: 'running' | 'paused';
  health: DeploymentView['health'];
  desiredReplicas: number;
  readyReplicas: number;
  restarts: number;
  appliedReplicas: number;
  unreadySince?: string;
  events: DeploymentEvent[];
  createdAt: string;
  updatedAt: string;
  autoscaler?: AutoscalerState;
  nextDecisionAt?: number | null;
  /** BYOC on its linked cluster (set since BYOC_ON_CLUSTERS_PATCH); absent: the older placement. */
  byocOnClusters?: boolean;
}

/** Since this patch, BYOC deployments run on their linked cluster, admitted against its node group. */
export const BYOC_ON_CLUSTERS_PATCH = 'byoc-on-linked-clusters';

/**
 * Updates answer synchronously from their validators (400 / 409 without touching history) and
 * return the deployment as accepted; the work itself (rollouts, teardown) continues after.
 */
export const admissionUpdate = defineUpdate<DeploymentView>('admission');
export const editUpdate = defineUpdate<DeploymentView, [DeploymentSpec]>('edit');
export const pauseUpdate = defineUpdate<DeploymentView>('pause');
export const resumeUpdate = defineUpdate<DeploymentView>('resume');
export const deleteUpdate = defineUpdate<DeploymentView>('delete');

export const statusQuery = defineQuery<DeploymentView>('status');
export const eventsQuery = defineQuery<DeploymentEvent[]>('events');
