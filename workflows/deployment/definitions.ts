/**
 * The deployment workflow's contract: ID scheme, input, and message definitions.
 * The API imports this module (never a string name) to start, update and query deployments.
 */
import { defineQuery, defineUpdate } from '@temporalio/workflow';
import type { DeploymentEvent, DeploymentView } from '../domain/deployment';
import type { DeploymentSpec } from '../domain/spec';
import type { AutoscalerState } from './autoscaler';
import type { MetricsObservation } from './metrics';

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
  /** Accepted writes so far (the resource version's counter); absent in older runs. */
  writes?: number;
  autoscaler?: AutoscalerState;
  nextDecisionAt?: number | null;
  /**
   * A decision asked for and not yet made (an edit accepted while the run waited for its
   * handlers before continuing as new); absent in older runs: none.
   */
  decisionDue?: boolean;
  /** BYOC on its linked cluster (set since BYOC_ON_CLUSTERS_PATCH); absent: the older placement. */
  byocOnClusters?: boolean;
}

/** What a deployment's workflow returns when it ends: how it ended, and its events log. */
export interface DeploymentEnding {
  view: DeploymentView;
  events: DeploymentEvent[];
}

/**
 * Since this patch: delete interrupts admission and every step of the main loop (and skips the
 * removal of what never ran), quota is released under the handlers' lock, and a failed replica
 * watch is tried again after a backoff, asking for the status at once.
 */
export const DELETE_ALWAYS_WINS_PATCH = 'delete-always-wins';

/** Since this patch, BYOC deployments run on their linked cluster, admitted against its node group. */
export const BYOC_ON_CLUSTERS_PATCH = 'byoc-on-linked-clusters';

/**
 * Since this patch, replicas are observed by signals from the runtime's observer (and a short
 * status call when nothing was heard for a long while), not by a long-poll activity holding a
 * worker slot for the deployment's whole life. Older histories keep their watch.
 */
export const OBSERVED_REPLICAS_PATCH = 'replicas-observed-by-signal';

/**
 * Since this patch, timers that change nothing are not set, and timers set together do not fire
 * together: a stabilization window's decision timer is set for when the value it holds back
 * expires (the newest recommendation holding it), not for the expiry of any recommendation in the
 * window (under a changing load those fired every few seconds, and in chains a few milliseconds
 * apart, without changing the answer); and the steady safety net's period is 2 h plus a spread of
 * up to 30 min fixed per deployment, so deployments created together do not all ask the runtime
 * in the same minute every 2 h. Older histories keep their timers.
 */
export const FEWER_TIMERS_PATCH = 'fewer-and-spread-timers';

/**
 * Since this patch, the idle wait keeps its timer while the deadline stays where it is
 * (wake-timer.ts): a metrics signal that leaves the next decision, readiness deadline and status
 * call where they were no longer cancels the timer and starts the same one again (two events per
 * signal under a changing load). Older histories keep a timer per wait.
 */
export const KEPT_WAKE_TIMER_PATCH = 'wake-timer-kept-until-its-deadline-moves';

/**
 * Since this patch, the recommendation made from the last metrics observation counts in a
 * stabilization window until a different one replaces it (HPA, looking every 15 s, records it
 * again and again), not only from the instant it was made: observations come only when the load
 * moves, so after a steady hour the first lower one scaled in at once, past a 180 s window. It
 * also makes an observation that leaves the recommendation as it is change nothing, which the
 * observer asks before signalling one (observationMattersQuery). Older histories keep points.
 */
export const RECOMMENDATION_IN_FORCE_PATCH = 'recommendation-in-force-until-replaced';

/**
 * Since this patch, a scale step's runtime call is a local activity (scaleStepActivities): one
 * marker in the workflow task that decided the step, not an activity's three events and another
 * workflow task. Rollouts, bring-up and removal keep their activities. Older histories keep the
 * activity.
 */
export const LOCAL_SCALE_STEP_PATCH = 'scale-step-as-local-activity';

/**
 * Since this patch, idleness for scale-to-zero is never counted from before the replicas came up
 * (created, resumed, woken): a replica that served its requests before the observer's first
 * scrape showed no traffic in the window, and idle-since-the-window's-start (30 s back) scaled a
 * just-woken deployment with a short cooldown to zero at once. Older histories keep the old rule.
 */
export const IDLE_SINCE_UP_PATCH = 'idle-counted-from-replicas-up';

/**
 * Since this patch, the metrics signals named for their cause (METRICS_SIGNAL_CAUSES: "load:
 * burst", "wake: requests waiting at zero", ...) are taken like observeMetrics. Code before it had
 * no handler for them: one that reached such a run (an observer or API upgraded before the
 * workers) was ignored, and is ignored again when that history replays.
 */
export const NAMED_METRICS_SIGNALS_PATCH = 'metrics-signals-named-by-cause';

/**
 * Since this patch, the tags search attribute also holds each tag's key alone (tag keys have no
 * ":"), so `?tag=key` finds a deployment whatever the tag's value. Older runs keep "key:value"
 * entries only (a key-only filter misses them until they are edited or continue as new).
 */
export const TAG_KEYS_SEARCHABLE_PATCH = 'tag-keys-searchable';

/** A write's precondition: `If-Match`. Absent: the write applies to whatever version is current. */
export interface WriteRequest {
  /** The resource `version` the client last read; a mismatch fails with precondition_failed (412). */
  ifVersion?: string;
}

/** An edit as the API sends it: the client's merge patch, applied to the spec the workflow holds. */
export interface PatchRequest extends WriteRequest {
  /** JSON merge patch (RFC 7396) of the resource, in which only `spec` may change. */
  patch: Record<string, unknown>;
  /**
   * The spec the API validated against its catalog (the patch applied to the spec it read). The
   * workflow applies the patch to the spec it holds; where that differs from this one in what the
   * catalog decides (model, cloud), a concurrent edit changed it and the edit is refused (409).
   */
  checked: DeploymentSpec;
}

/**
 * Updates answer synchronously from their validators (400 / 409 / 412 without touching history)
 * and return the deployment as accepted; the work itself (rollouts, teardown) continues after.
 */
export const admissionUpdate = defineUpdate<DeploymentView>('admission');
/** An edit by merge patch (the API's PATCH). */
export const patchUpdate = defineUpdate<DeploymentView, [PatchRequest]>('patch');
/** An edit by whole spec; kept for workflows and clients from before `patch`. */
export const editUpdate = defineUpdate<DeploymentView, [DeploymentSpec]>('edit');
/** pause / resume / delete: workflows from before If-Match received no argument (undefined). */
export const pauseUpdate = defineUpdate<DeploymentView, [WriteRequest]>('pause');
export const resumeUpdate = defineUpdate<DeploymentView, [WriteRequest]>('resume');
export const deleteUpdate = defineUpdate<DeploymentView, [WriteRequest]>('delete');

export const statusQuery = defineQuery<DeploymentView>('status');
/** The autoscaler as it stands: the observation it last took, and whether a decision is pending. */
export interface AutoscalerView {
  /** `time` of the last metrics observation taken in. */
  observedAt?: string;
  /** The last metrics observation taken in (what the observer measured at the replicas). */
  observation?: MetricsObservation;
  decisionDue: boolean;
  nextDecisionAt: number | null;
}
export const autoscalerQuery = defineQuery<AutoscalerView>('autoscaler');
export const eventsQuery = defineQuery<DeploymentEvent[]>('events');
