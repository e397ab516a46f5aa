/**
 * Activities that may take minutes, shared by the deployment and rollout workflows: a long
 * start-to-close, and a heartbeat timeout to notice a dead worker sooner.
 */
import { proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities';
import { ErrorType } from './domain/errors';

/** Growing a BYOC node group: EKS takes minutes. */
export const nodeGroupActivities = proxyActivities<Activities>({
  startToCloseTimeout: '20 minutes',
  heartbeatTimeout: '1 minute',
  retry: {
    initialInterval: '1 second',
    maximumInterval: '30 seconds',
    maximumAttempts: 5,
    nonRetryableErrorTypes: [ErrorType.InvalidSpec],
  },
});

/**
 * Removing replicas waits until they are gone (Kubernetes: the pods' termination grace, 30 s by
 * default, per revision). The activities heartbeat while they wait.
 */
export const removalActivities = proxyActivities<Activities>({
  startToCloseTimeout: '10 minutes',
  heartbeatTimeout: '20 seconds',
  retry: { initialInterval: '500 ms', maximumInterval: '10 seconds' },
});
