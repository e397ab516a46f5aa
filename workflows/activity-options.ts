/**
 * Every activity the workflows call, with its options, in one place: how long each kind of call
 * may take, how it is retried, and which failures are answers rather than faults.
 *
 * Retries are bounded everywhere: a call that keeps failing ends as an activity failure the
 * workflow turns into an event (and a later, backed-off try), never a silent retry forever.
 */
import { proxyActivities, proxyLocalActivities } from '@temporalio/workflow';
import type { Activities } from '../activities';
import { ErrorType } from './domain/errors';

/** Domain answers (not faults): retrying them cannot change the answer. */
const ANSWERS = [
  ErrorType.QuotaExceeded,
  ErrorType.InvalidSpec,
  ErrorType.Conflict,
  ErrorType.NotFound,
];

/**
 * Quick calls: the quota ledger, BYOC admission, and the runtime's apply / route calls. About a
 * minute of retries (backoff 200 ms .. 10 s), then the failure comes back to the workflow.
 */
export const quickActivities = proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  retry: {
    initialInterval: '200 ms',
    maximumInterval: '10 seconds',
    maximumAttempts: 10,
    nonRetryableErrorTypes: ANSWERS,
  },
});

/**
 * A scale step's runtime call (scaling in place, since LOCAL_SCALE_STEP_PATCH): the same call and
 * retries as quickActivities' applyRevision, run as a local activity inside the workflow task
 * that decided the step. The step is one marker in the history (with the runtime's answer)
 * instead of an activity's three events and a second workflow task: a deployment under a
 * changing load scales many times an hour. Retries past 10 s back off on a workflow timer.
 */
export const scaleStepActivities = proxyLocalActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  localRetryThreshold: '10 seconds',
  retry: {
    initialInterval: '200 ms',
    maximumInterval: '10 seconds',
    maximumAttempts: 10,
    nonRetryableErrorTypes: ANSWERS,
  },
});

/** The replica watch returns this often at the latest, so a steady deployment writes a handful of events an hour. */
export const WATCH_MAX_WAIT_MS = 30 * 60 * 1000;

/** The replica watch: a long poll that heartbeats, so a dead worker is noticed in 10 s. */
export const watchActivities = proxyActivities<Activities>({
  startToCloseTimeout: WATCH_MAX_WAIT_MS + 60_000,
  heartbeatTimeout: '10 seconds',
  retry: { initialInterval: '500 ms', maximumInterval: '10 seconds', maximumAttempts: 3 },
});

/**
 * The safety net's status call (signalled-replicas.ts): short, a few tries, then the failure
 * comes back as health Unknown and a backed-off retry.
 */
export const statusActivities = proxyActivities<Activities>({
  startToCloseTimeout: '15 seconds',
  retry: { initialInterval: '500 ms', maximumInterval: '5 seconds', maximumAttempts: 3 },
});

/** Growing a BYOC node group: EKS takes minutes. */
export const nodeGroupActivities = proxyActivities<Activities>({
  startToCloseTimeout: '20 minutes',
  heartbeatTimeout: '1 minute',
  retry: {
    initialInterval: '1 second',
    maximumInterval: '30 seconds',
    maximumAttempts: 5,
    nonRetryableErrorTypes: ANSWERS,
  },
});

/**
 * Removing replicas waits until they are gone (Kubernetes: the pods' termination grace, 30 s by
 * default, per revision; the local runtime: in-flight requests drained). The activities heartbeat
 * while they wait. Bounded, so a delete whose runtime cannot be reached still ends (and says so).
 */
export const removalActivities = proxyActivities<Activities>({
  startToCloseTimeout: '10 minutes',
  heartbeatTimeout: '20 seconds',
  retry: {
    initialInterval: '500 ms',
    maximumInterval: '10 seconds',
    maximumAttempts: 10,
    nonRetryableErrorTypes: ANSWERS,
  },
});

/** A rollout's wait for its new revision's readiness: the readiness timeout, plus a minute. */
export function readinessActivities(readinessTimeoutSeconds: number) {
  return proxyActivities<Activities>({
    startToCloseTimeout: `${readinessTimeoutSeconds + 60} seconds`,
    heartbeatTimeout: '10 seconds',
    retry: { initialInterval: '200 ms', maximumInterval: '5 seconds', maximumAttempts: 10 },
  });
}
