import { ActivityFailure, CancellationScope, isCancellation } from '@temporalio/workflow';
import type { DeploymentEvent } from '../domain/deployment';
import {
  nodeGroupActivities,
  quickActivities,
  readinessActivities,
  removalActivities,
} from '../activity-options';
import type { RolloutInput, RolloutResult } from './definitions';

const { applyRevision, routeTraffic } = quickActivities;
const { removeRevision } = removalActivities;

/**
 * A rolling update, as its own workflow so each rollout is an inspectable history in the UI:
 *
 * 1. start the new revision with the desired replica count (the old one keeps serving);
 * 2. wait until all its replicas are ready, up to the readiness timeout;
 * 3. switch traffic to it; only then
 * 4. remove the old revision.
 *
 * A new revision that never becomes ready is removed (rolled back) and the result says why; so
 * is one the runtime could not start or route to (its calls' retries spent). Once traffic is on
 * the new revision the rollout has succeeded: an old revision that cannot be removed is said in
 * the steps, not undone. Cancelled (the deployment was deleted), it removes what it created and
 * rethrows.
 */
export async function rolloutWorkflow(input: RolloutInput): Promise<RolloutResult> {
  const { deploymentId, fromRevision, toRevision, replicas, spec } = input;
  const steps: DeploymentEvent[] = [];
  const step = (reason: string, message: string) =>
    steps.push({
      time: new Date().toISOString(),
      type: 'Rollout',
      reason,
      message,
      revision: toRevision,
    });
  const target = input.target ? { target: input.target } : {};
  const ref = { deploymentId, revision: toRevision, ...target };

  try {
    if (input.target?.type === 'byoc') {
      const sized = await nodeGroupActivities.ensureNodeGroupCapacity({ ...ref, replicas, spec });
      if (sized.message) step(sized.grew ? 'NodeGroupScaled' : 'NodeGroupNotScaled', sized.message);
    }
    await applyRevision({ ...ref, replicas, spec });
    step(
      'RevisionCreated',
      `revision ${toRevision} started with ${replicas} replica(s) of ${spec.model}`,
    );

    const deadline = new Date(Date.now() + input.readinessTimeoutSeconds * 1000).toISOString();
    const waited = await readinessActivities(input.readinessTimeoutSeconds).waitForRevisionReady({
      ...ref,
      replicas,
      deadline,
    });

    if (!waited.ready) {
      const why = waited.status.exists
        ? notReadyMessage(
            toRevision,
            waited.status.ready,
            replicas,
            input.readinessTimeoutSeconds,
            waited.status.replicas,
          )
        : `revision ${toRevision} is no longer on the runtime (removed while it loaded)`;
      await removeRevision(ref);
      step(
        'RolledBack',
        `${why}; revision ${toRevision} removed${fromRevision !== null ? `, revision ${fromRevision} keeps serving` : ''}`,
      );
      return { outcome: 'rolledBack', reason: why, steps };
    }
    step(
      'RevisionReady',
      `revision ${toRevision}: ${waited.status.ready}/${replicas} replica(s) ready`,
    );

    await routeTraffic(ref);
    step('TrafficSwitched', `traffic switched to revision ${toRevision}`);
  } catch (err) {
    if (isCancellation(err)) {
      await CancellationScope.nonCancellable(() => removeRevision(ref));
      throw err;
    }
    if (!(err instanceof ActivityFailure)) throw err;
    // The runtime gave up on the new revision before traffic moved: the old one keeps serving.
    const why = `revision ${toRevision} could not be started: ${innermost(err)}`;
    await removeRevision(ref).catch(() => undefined);
    step(
      'RolledBack',
      `${why}${fromRevision !== null ? `; revision ${fromRevision} keeps serving` : ''}`,
    );
    return { outcome: 'rolledBack', reason: why, steps };
  }

  if (fromRevision !== null && fromRevision !== toRevision) {
    try {
      await removeRevision({ deploymentId, revision: fromRevision, ...target });
      step('OldRevisionRemoved', `revision ${fromRevision} removed`);
    } catch (err) {
      if (isCancellation(err)) {
        await CancellationScope.nonCancellable(() => removeRevision(ref));
        throw err;
      }
      if (!(err instanceof ActivityFailure)) throw err;
      step(
        'OldRevisionNotRemoved',
        `revision ${fromRevision} could not be removed (${innermost(err)}); it gets no traffic, remove it by hand`,
      );
    }
  }
  return { outcome: 'succeeded', steps };
}

function innermost(err: Error): string {
  let e: Error = err;
  while (e.cause instanceof Error) e = e.cause;
  return e.message;
}

function notReadyMessage(
  revision: number,
  ready: number,
  replicas: number,
  timeoutSeconds: number,
  replicaStates: { message?: string }[],
): string {
  const detail = replicaStates.map((r) => r.message).find((m) => m);
  return `revision ${revision} did not become ready within ${timeoutSeconds}s (${ready}/${replicas} ready${detail ? `: ${detail}` : ''})`;
}
