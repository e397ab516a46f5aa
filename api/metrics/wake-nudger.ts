/**
 * The gateway's one job besides proxying: a request waits for a deployment with no ready replica
 * (scaled to zero, or still loading), so the deployment's workflow is told at once how many
 * requests wait. Load itself is measured at the replicas by the observer, not here.
 */
import type { Client } from '@temporalio/client';
import type { LogFn } from '../../config/logging';
import { deploymentWorkflowId } from '../../workflows/deployment/definitions';
import { metricsSignals, type MetricsObservation } from '../../workflows/deployment/metrics';
import { METRIC_WINDOW_MS, SHORT_WINDOW_MS } from '../../observer/load-rules';
import type { TrafficMeter } from './traffic-meter';

/** A deployment is nudged again at most this often, unless more requests wait than last time. */
export const NUDGE_MIN_INTERVAL_MS = 1000;

/** Whether to nudge now, given the last nudge: more requests wait, or the interval has passed. */
export function shouldNudge(
  last: { queued: number; at: number } | undefined,
  queued: number,
  now: number,
): boolean {
  return !last || queued > last.queued || now - last.at >= NUDGE_MIN_INTERVAL_MS;
}

/** What a nudge tells the workflow: `queued` requests wait, and when the last one arrived. */
export function wakeObservation(
  now: number,
  queued: number,
  lastRequestAt: number | undefined,
): MetricsObservation {
  return {
    time: new Date(now).toISOString(),
    windowSeconds: METRIC_WINDOW_MS / 1000,
    replicas: [],
    queued,
    ...(lastRequestAt !== undefined
      ? { lastRequestAt: new Date(lastRequestAt).toISOString() }
      : {}),
    shortWindow: { seconds: SHORT_WINDOW_MS / 1000, concurrency: 0, throughput: 0 },
  };
}

export class WakeNudger {
  private readonly last = new Map<string, { queued: number; at: number }>();

  constructor(
    private readonly options: {
      client: Client;
      meter: TrafficMeter;
      log?: LogFn;
    },
  ) {}

  /** Requests wait for `deploymentId` ("workspace/name"): tell its workflow. */
  nudge(deploymentId: string, now = Date.now()): void {
    const { meter, client } = this.options;
    const queued = meter.queuedFor(deploymentId);
    if (!shouldNudge(this.last.get(deploymentId), queued, now)) return;
    this.last.set(deploymentId, { queued, at: now });
    const [workspace = '', ...rest] = deploymentId.split('/');
    client.workflow
      .getHandle(deploymentWorkflowId(workspace, rest.join('/')))
      .signal(
        metricsSignals.requestsWaiting,
        wakeObservation(now, queued, meter.lastRequestAt(deploymentId)),
      )
      .catch((err: unknown) => {
        this.last.delete(deploymentId); // not delivered: the next waiting request tries again
        this.options.log?.(`wake for ${deploymentId} not delivered: ${(err as Error).message}`, {
          deploymentId,
        });
      });
  }
}
