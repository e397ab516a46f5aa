/**
 * BYOC node group activities, shared by the deployment and rollout workflows. Growing an EKS
 * node group takes minutes: a long start-to-close, a heartbeat to notice a dead worker sooner.
 */
import { proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities';
import { ErrorType } from './domain/errors';

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
