/**
 * The deployment's autoscaling decision: metrics, schedule, scale to zero and rapid autoscaling
 * combined into one replica count with its reason, over the HPA core in ../scaling. Pure: `now`
 * comes in, the state goes out, so the workflow, replay tests and a simulator get the same answer.
 */
import type { ScalingMetric, DeploymentSpec } from '../domain/spec';
import {
  desiredReplicasForMetric,
  desiredReplicasFromTotal,
  normalizeWithBehavior,
  storeScaleEvent,
  type PodSample,
  type Recommendation,
  type ScaleEvent,
} from '../scaling';
import { nextScheduleChange, scheduleFloor } from '../schedule';
import type { MetricsObservation, ReplicaObservation } from './metrics';

/** Metrics older than this cannot justify a scale-down (the observer sends a keepalive every 40 min). */
export const STALE_OBSERVATION_MS = 45 * 60_000;
/** Rapid autoscaling: a short-window load of this many times the threshold starts panic mode... */
export const PANIC_THRESHOLD_RATIO = 2;
/** ...which lasts this long after the last burst, never scaling down meanwhile. */
export const PANIC_WINDOW_MS = 60_000;

/** What the decision remembers between calls; carried across continue-as-new (plain JSON). */
export interface AutoscalerState {
  observation?: MetricsObservation;
  recommendations: Recommendation[];
  scaleUpEvents: ScaleEvent[];
  scaleDownEvents: ScaleEvent[];
  panicUntil?: number;
  /** When replicas last came up (created, resumed, woken): the idle start before any traffic is seen. */
  upSince?: number;
}

export const initialAutoscalerState = (): AutoscalerState => ({
  recommendations: [],
  scaleUpEvents: [],
  scaleDownEvents: [],
});

export interface AutoscaleInput {
  now: number;
  spec: DeploymentSpec;
  /** The replica count set now. */
  currentReplicas: number;
  state: AutoscalerState;
  /**
   * Before FEWER_TIMERS_PATCH: a stabilization timer for the expiry of every recommendation
   * in the window, most of which change nothing. Only for histories recorded before it.
   */
  everyExpiry?: boolean;
  /**
   * Before RECOMMENDATION_IN_FORCE_PATCH: a recommendation counted in a stabilization window from
   * the instant it was made, not until the observation that replaced it. Only for histories
   * recorded before it.
   */
  recommendationsAsPoints?: boolean;
  /**
   * Before IDLE_SINCE_UP_PATCH: idleness counted from the observation's window start even when
   * the replicas came up after it. Only for histories recorded before it.
   */
  idleBeforeUp?: boolean;
}

export interface AutoscaleDecision {
  replicas: number;
  /** Short cause, e.g. "MetricAboveTarget", "ScheduleWindow", "ScaledToZero", "Panic". */
  reason: string;
  /** Observed value, recommendation and what limited it, in one sentence. */
  message: string;
  state: AutoscalerState;
  /** The next instant the answer can change with no new observation (one timer), or null. */
  nextDecisionAt: number | null;
}

/**
 * 1. Outside schedule windows with scale-to-zero: 0 replicas.
 * 2. Scale to zero: no traffic for cooldownSeconds -> 0; a request at zero wakes it.
 * 3. The metric's recommendation (HPA replica calculator); stale metrics never scale down.
 * 4. The schedule floor raises minReplicas while a window (or its cool-down) is open.
 * 5. Rapid autoscaling: a burst of twice the threshold scales up at once; no scale-down while panicking.
 * 6. Otherwise HPA behavior: stabilization, policies, min / max.
 */
export function decideReplicas({
  now,
  spec,
  currentReplicas,
  state,
  everyExpiry = false,
  recommendationsAsPoints = false,
  idleBeforeUp = false,
}: AutoscaleInput): AutoscaleDecision {
  const { scaling } = spec;
  const observation = state.observation;
  const fresh =
    observation !== undefined && now - Date.parse(observation.time) <= STALE_OBSERVATION_MS;
  const schedule = scheduleFloor({ schedule: spec.schedule, now });
  const timers: (number | null | undefined)[] = [
    nextScheduleChange({ schedule: spec.schedule, now }),
  ];
  const decided = (
    replicas: number,
    reason: string,
    message: string,
    next: AutoscalerState = state,
  ): AutoscaleDecision => ({
    replicas,
    reason,
    message,
    state:
      replicas === currentReplicas
        ? next
        : {
            ...next,
            ...storeScaleEvent({
              now,
              behavior: spec.autoscalingPolicy,
              previousReplicas: currentReplicas,
              newReplicas: replicas,
              scaleUpEvents: next.scaleUpEvents,
              scaleDownEvents: next.scaleDownEvents,
            }),
          },
    nextDecisionAt: earliest(timers, now),
  });

  // 1.
  if (schedule.outside === 'scaleToZero')
    return decided(0, 'OutsideScheduleWindows', schedule.message);

  // 2.
  const queued = observation?.queued ?? 0;
  // No traffic seen since the replicas came up counts as idle from then.
  const noTrafficYet =
    observation === undefined ||
    (state.upSince !== undefined && Date.parse(observation.time) < state.upSince);
  if (scaling.scaleToZero.enabled && (noTrafficYet || fresh)) {
    const observedIdleSince = noTrafficYet ? state.upSince : idleSinceOf(observation!);
    // Replicas cannot have been idle before they came up: a window reaching back past that
    // says nothing about the time before.
    const idleSince =
      observedIdleSince !== undefined && state.upSince !== undefined && !idleBeforeUp
        ? Math.max(observedIdleSince, state.upSince)
        : observedIdleSince;
    if (idleSince !== undefined && queued === 0) {
      const zeroAt = idleSince + scaling.scaleToZero.cooldownSeconds * 1000;
      if (now >= zeroAt) {
        return decided(
          0,
          'ScaledToZero',
          `no traffic for ${Math.round((now - idleSince) / 1000)} s (cooldown ${scaling.scaleToZero.cooldownSeconds} s): scaling to zero`,
          { ...state, recommendations: [] },
        );
      }
      timers.push(zeroAt);
    }
  }
  if (currentReplicas === 0) {
    // Only totals of requests (concurrency, throughput) say how many replicas a wake needs.
    const byRequests = scaling.metric === 'concurrency' || scaling.metric === 'throughput';
    const total =
      observation && byRequests ? totalOf(observation, scaling.metric) + queued : queued;
    const floor = schedule.floor ?? 0;
    if (queued === 0 && total === 0 && floor === 0)
      return decided(0, 'Idle', 'scaled to zero; the next request wakes it');
    const fromLoad = desiredReplicasFromTotal({
      total: byRequests ? Math.max(total, queued > 0 ? 1 : 0) : Math.min(total, 1),
      threshold: byRequests ? scaling.threshold : 1,
    });
    // Whichever rule gives more wins: the load, the schedule floor, minReplicas.
    const wanted = Math.max(fromLoad.replicas, floor, scaling.minReplicas, 1);
    const replicas = clamp(wanted, 1, scaling.maxReplicas);
    const [reason, cause] =
      queued > 0
        ? ['WokenByRequest', `${queued} request(s) waiting`]
        : floor >= fromLoad.replicas && floor > 0
          ? ['ScheduleWindow', schedule.message]
          : ['Woken', fromLoad.message];
    const capped = wanted > replicas ? ` (capped at maxReplicas ${scaling.maxReplicas})` : '';
    return decided(replicas, reason, `${cause}: waking with ${replicas} replica(s)${capped}`, {
      ...state,
      recommendations: [{ time: now, replicas }],
      upSince: now,
    });
  }

  // 3.
  // With no traffic ever observed there is no load: the standard minimum (a schedule floor that
  // raised the count lets go of it when its window and cool-down end).
  let recommendation = Math.max(1, scaling.minReplicas);
  let observed = 'no traffic observed yet';
  if (observation) {
    const pods = podsOf(observation, scaling.metric, currentReplicas);
    const metric = desiredReplicasForMetric({
      currentReplicas,
      pods,
      threshold: scaling.threshold,
      ...(scaling.metric === 'memory'
        ? { missingValueOnScaleDown: Math.max(100, scaling.threshold) }
        : {}),
    });
    recommendation = fresh ? metric.replicas : Math.max(metric.replicas, currentReplicas);
    observed = `${describeObserved(observation, scaling.metric)} (threshold ${scaling.threshold}): ${metric.message}${fresh ? '' : '; metrics are stale, so no scale-down'}`;
  }

  // 4.
  // Zero is reached only by scale to zero (2.) or the schedule (1.), never by the metric: with
  // minReplicas 0 an idle deployment keeps one replica until its cooldown has passed.
  const minReplicas = Math.max(1, scaling.minReplicas, schedule.floor ?? 0);
  const scheduleNote = schedule.floor !== null ? `; ${schedule.message}` : '';

  // 5.
  let panicUntil =
    state.panicUntil !== undefined && state.panicUntil > now ? state.panicUntil : undefined;
  if (
    spec.scaling.rapidAutoscaling &&
    spec.autoscalingPolicy?.scaleUp.selectPolicy !== 'Disabled' &&
    observation &&
    fresh &&
    (scaling.metric === 'concurrency' || scaling.metric === 'throughput')
  ) {
    const shortTotal =
      scaling.metric === 'concurrency'
        ? observation.shortWindow.concurrency
        : observation.shortWindow.throughput;
    if (shortTotal / Math.max(1, currentReplicas) >= PANIC_THRESHOLD_RATIO * scaling.threshold) {
      panicUntil = now + PANIC_WINDOW_MS;
      const burst = clamp(
        Math.max(currentReplicas, Math.ceil(shortTotal / scaling.threshold), minReplicas),
        1,
        scaling.maxReplicas,
      );
      timers.push(panicUntil);
      return decided(
        burst,
        'Panic',
        `rapid autoscaling: ${scaling.metric} over the last ${observation.shortWindow.seconds} s is ${shortTotal} (over ${PANIC_THRESHOLD_RATIO} x the threshold ${scaling.threshold} per replica): ${burst} replica(s) at once`,
        {
          ...state,
          panicUntil,
          recommendations: [...state.recommendations, { time: now, replicas: burst }],
        },
      );
    }
    if (panicUntil !== undefined) {
      recommendation = Math.max(recommendation, currentReplicas);
      timers.push(panicUntil);
    }
  }

  // 6.
  // HPA looks every 15 s, so a recommendation that stays the same is recorded again and again and
  // counts in a window until it changes. Observations here come only when the load moves, so the
  // recommendation made from the last one is in force until a different one replaces it: when it
  // is replaced, it is recorded as of now. (Counted from when it was made, an hour of steady load
  // left nothing in a 180 s window, and the first lower observation scaled in at once.)
  const inForce = state.recommendations.at(-1);
  const recommendations =
    state.recommendations.length === 0
      ? [{ time: now, replicas: currentReplicas }]
      : !recommendationsAsPoints &&
          inForce !== undefined &&
          inForce.replicas !== recommendation &&
          inForce.time < now
        ? [...state.recommendations, { time: now, replicas: inForce.replicas }]
        : state.recommendations;
  const normalized = normalizeWithBehavior({
    now,
    currentReplicas,
    desiredReplicas: recommendation,
    minReplicas,
    maxReplicas: scaling.maxReplicas,
    behavior: spec.autoscalingPolicy,
    recommendations,
    scaleUpEvents: state.scaleUpEvents,
    scaleDownEvents: state.scaleDownEvents,
  });
  const next: AutoscalerState = {
    ...state,
    recommendations: normalized.recommendations,
    ...(panicUntil !== undefined ? { panicUntil } : { panicUntil: undefined }),
  };
  // Held back by a window or a period (not by min / max, which no time changes): look again when it ends.
  if (normalized.limitedBy === 'stabilization' || normalized.limitedBy === 'policy') {
    // The scale event this decision makes (if any) counts too: it is stored only on return.
    const scaledNow = normalized.replicas !== currentReplicas ? [{ time: now, change: 0 }] : [];
    const direction = recommendation > currentReplicas ? 'scaleUp' : 'scaleDown';
    timers.push(
      nextExpiry(
        normalized.recommendations,
        { ...next, scaleUpEvents: [...next.scaleUpEvents, ...scaledNow] },
        spec,
        now,
        direction,
        everyExpiry,
      ),
    );
  }
  const limited = normalized.replicas !== recommendation ? `; ${normalized.message}` : '';
  return decided(
    normalized.replicas,
    normalized.reason,
    `${observed}${limited}${scheduleNote}`,
    next,
  );
}

/** The metric's per-replica value, or undefined when the replica has none (e.g. no request for latency). */
function valueOf(replica: ReplicaObservation, metric: ScalingMetric): number | undefined {
  switch (metric) {
    case 'concurrency':
      return replica.concurrency;
    case 'throughput':
      return replica.throughput;
    case 'latency':
      return replica.latencyMs;
    case 'memory':
      return replica.memory;
  }
}

/** Observed replicas are the ready ones; the rest of the current count are still starting. */
function podsOf(
  observation: MetricsObservation,
  metric: ScalingMetric,
  currentReplicas: number,
): PodSample[] {
  const pods: PodSample[] = observation.replicas.map((r) => ({
    name: r.replica,
    ready: true,
    value: valueOf(r, metric),
  }));
  for (let i = pods.length; i < currentReplicas; i++)
    pods.push({ name: `starting-${i}`, ready: false });
  return pods;
}

function totalOf(observation: MetricsObservation, metric: ScalingMetric): number {
  if (metric !== 'concurrency' && metric !== 'throughput') return 0;
  return observation.replicas.reduce((sum, r) => sum + (valueOf(r, metric) ?? 0), 0);
}

function describeObserved(observation: MetricsObservation, metric: ScalingMetric): string {
  const values = observation.replicas
    .map((r) => valueOf(r, metric))
    .filter((v): v is number => v !== undefined);
  if (values.length === 0) return `${metric}: no samples`;
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  const unit = { concurrency: ' in flight', throughput: ' req/s', latency: ' ms', memory: ' %' }[
    metric
  ];
  return `${metric} ${Math.round(mean * 100) / 100}${unit} per replica over ${values.length} replica(s)`;
}

/** When traffic stopped, if it has: no request in flight or completed in the window. */
function idleSinceOf(observation: MetricsObservation): number | undefined {
  const busy =
    observation.replicas.some((r) => r.concurrency > 0 || r.throughput > 0) ||
    observation.queued > 0;
  if (busy) return undefined;
  const windowStart = Date.parse(observation.time) - observation.windowSeconds * 1000;
  return observation.lastRequestAt
    ? Math.max(Date.parse(observation.lastRequestAt), 0)
    : windowStart;
}

/**
 * When the window or period that held this decision back ends: only the rules of the direction
 * it wanted to move in can release it.
 */
function nextExpiry(
  recommendations: Recommendation[],
  state: AutoscalerState,
  spec: DeploymentSpec,
  now: number,
  direction: 'scaleUp' | 'scaleDown',
  everyExpiry: boolean,
): number | null {
  const rules = spec.autoscalingPolicy?.[direction];
  if (!rules) return null;
  const window = rules.stabilizationWindowSeconds * 1000;
  const periods = rules.policies.map((p) => p.periodSeconds * 1000);
  const events = [...state.scaleUpEvents, ...state.scaleDownEvents];
  // HPA counts an entry while it is strictly newer than the window's start: it stops counting
  // exactly at time + window. A zero window holds nothing back.
  const counted = window > 0 ? recommendations.filter((r) => r.time + window > now) : [];
  return earliest(
    [
      ...(everyExpiry
        ? counted.map((r) => r.time + window)
        : [heldUntil(counted, window, direction)]),
      ...events.flatMap((e) => periods.map((p) => e.time + p)),
    ],
    now,
  );
}

/**
 * When a stabilization window stops holding back what it holds now: scaling down, the window
 * holds the highest recommendation in it, until the newest recommendation of that value leaves
 * it (scaling up, the lowest). Earlier expiries leave the held value, and so the answer, as it is.
 */
function heldUntil(
  counted: Recommendation[],
  window: number,
  direction: 'scaleUp' | 'scaleDown',
): number | undefined {
  if (counted.length === 0) return undefined;
  const values = counted.map((r) => r.replicas);
  const held = direction === 'scaleDown' ? Math.max(...values) : Math.min(...values);
  return Math.max(...counted.filter((r) => r.replicas === held).map((r) => r.time)) + window;
}

function earliest(times: (number | null | undefined)[], now: number): number | null {
  const future = times.filter((t): t is number => t !== null && t !== undefined && t > now);
  return future.length > 0 ? Math.min(...future) : null;
}

function clamp(n: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, n));
}
