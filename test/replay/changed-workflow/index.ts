/**
 * A deliberately changed copy of the workflows entry, for the replay test: each changed
 * workflow issues one command the recorded histories do not have before doing its real work,
 * so replaying a recorded history with this bundle must fail with a DeterminismViolationError.
 * The quota workflow is unchanged (the control case).
 */
import { proxyActivities, sleep } from '@temporalio/workflow';
import type { Activities } from '../../../activities';
import type {
  DeploymentEnding,
  DeploymentWorkflowInput,
} from '../../../workflows/deployment/definitions';
import { deploymentWorkflow as realDeploymentWorkflow } from '../../../workflows/deployment/workflow';
import type { RolloutInput, RolloutResult } from '../../../workflows/rollout/definitions';
import { rolloutWorkflow as realRolloutWorkflow } from '../../../workflows/rollout/workflow';

export { quotaWorkflow } from '../../../workflows/quota/workflow';

const { routeTraffic } = proxyActivities<Activities>({ startToCloseTimeout: '10 seconds' });

/** Changed: a timer before anything else. */
export async function deploymentWorkflow(
  input: DeploymentWorkflowInput,
): Promise<DeploymentEnding> {
  await sleep(1);
  return realDeploymentWorkflow(input);
}

/** Changed: an extra activity (routing traffic too early) before the rollout starts the new revision. */
export async function rolloutWorkflow(input: RolloutInput): Promise<RolloutResult> {
  await routeTraffic({ deploymentId: input.deploymentId, revision: input.toRevision });
  return realRolloutWorkflow(input);
}
