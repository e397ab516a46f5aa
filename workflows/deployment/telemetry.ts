/**
 * What the deployment workflow reports outside its history: every autoscaling decision counted by
 * reason (the SDK's workflow metric meter, served on the worker's /metrics), and a log line for
 * each change of the replica count (the workflow logger: a JSON line with the workflow's and the
 * deployment's IDs). Both go out through the SDK's sinks: nothing is written to the history (no
 * patch needed), and neither is emitted while a workflow replays, so a deployment replayed on
 * another worker (after a restart, a cache eviction) does not count its decisions twice.
 */
import { log, metricMeter } from '@temporalio/workflow';

export const DECISIONS_METRIC = 'model_deployments_scaling_decisions_total';

export type DecisionDirection = 'up' | 'down' | 'none';

export function directionOf(from: number, to: number): DecisionDirection {
  return to > from ? 'up' : to < from ? 'down' : 'none';
}

/** An autoscaling decision of `deploymentId` ("workspace/name"): counted, and logged if it scaled. */
export function reportDecision(
  deploymentId: string,
  decision: { reason: string; from: number; to: number },
): void {
  const direction = directionOf(decision.from, decision.to);
  metricMeter
    .createCounter(
      DECISIONS_METRIC,
      undefined,
      'Autoscaling decisions of deployment workflows, by reason and direction (up, down, none)',
    )
    .add(1, { reason: decision.reason, direction });
  if (direction !== 'none') {
    log.info(`scaled ${decision.from} -> ${decision.to} replica(s): ${decision.reason}`, {
      deploymentId,
      reason: decision.reason,
      from: decision.from,
      to: decision.to,
    });
  }
}
