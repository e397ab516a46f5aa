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
import { nextScheduleChange, scheduleFloor, windowState } from '../schedule';
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
  /**
   * Why `nextDecisionAt` is when it is, in words for the timer's summary in the Temporal UI
   * (e.g. "stabilization window ends 12:04:10 UTC, then scale in to 2"); null with no timer.
   * Times are UTC. Words only: nothing decides on it.
   */
  nextDecisionWhy?: string | null;
}

/** A candidate for the decision timer: when, and (only asked of the earliest) why. */
interface Timer {
  at: number | null | undefined;
  why: () => string;
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
  const scheduleChange = nextScheduleChange({ schedule: spec.schedule, now });
  const timers: Timer[] = [
    { at: scheduleChange, why: () => scheduleChangeWhy(spec, now, scheduleChange!) },
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
    ...nextDecision(timers, now),
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
        // Idleness is known only once the load window holds no request: with a cooldown shorter
        // than the window, zero comes when the window empties, later than the cooldown. Say so.
        const late =
          !noTrafficYet && now - zeroAt >= 2000
            ? `; idleness is known once the ${observation!.windowSeconds} s load window holds no request`
            : '';
        return decided(
          0,
          'ScaledToZero',
          `no traffic for ${Math.round((now - idleSince) / 1000)} s (cooldown ${scaling.scaleToZero.cooldownSeconds} s${late}): scaling to zero`,
          { ...state, recommendations: [] },
        );
      }
      timers.push({
        at: zeroAt,
        why: () => `cooldown ends ${clockTime(zeroAt, now)}: scale to zero if still idle`,
      });
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
      timers.push(panicTimer(panicUntil, now));
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
      timers.push(panicTimer(panicUntil, now));
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
      ...nextExpiry(
        normalized.recommendations,
        { ...next, scaleUpEvents: [...next.scaleUpEvents, ...scaledNow] },
        spec,
        now,
        direction,
        everyExpiry,
        {
          current: normalized.replicas,
          recommendation,
          minReplicas,
          maxReplicas: scaling.maxReplicas,
        },
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
 * it wanted to move in can release it. Every candidate instant, each with why; the decision's
 * timer is the earliest of them (and of the other timers).
 */
function nextExpiry(
  recommendations: Recommendation[],
  state: AutoscalerState,
  spec: DeploymentSpec,
  now: number,
  direction: 'scaleUp' | 'scaleDown',
  everyExpiry: boolean,
  counts: { current: number; recommendation: number; minReplicas: number; maxReplicas: number },
): Timer[] {
  const rules = spec.autoscalingPolicy?.[direction];
  if (!rules) return [];
  const window = rules.stabilizationWindowSeconds * 1000;
  const periods = rules.policies.map((p) => ({ ms: p.periodSeconds * 1000, policy: p }));
  const events = [...state.scaleUpEvents, ...state.scaleDownEvents];
  // HPA counts an entry while it is strictly newer than the window's start: it stops counting
  // exactly at time + window. A zero window holds nothing back.
  const counted = window > 0 ? recommendations.filter((r) => r.time + window > now) : [];
  const stabilization = (at: number | undefined): Timer => ({
    at,
    why: () => stabilizationWhy(counted, window, direction, at!, now, counts),
  });
  const move = direction === 'scaleUp' ? 'scale out' : 'scale in';
  const target = clamp(counts.recommendation, counts.minReplicas, counts.maxReplicas);
  return [
    ...(everyExpiry
      ? counted.map((r) => stabilization(r.time + window))
      : [stabilization(heldUntil(counted, window, direction))]),
    ...events.flatMap((e) =>
      periods.map(({ ms, policy }): Timer => ({
        at: e.time + ms,
        why: () =>
          `${move} policy period ends ${clockTime(e.time + ms, now)} (${policy.type} ${policy.value}${policy.type === 'Percent' ? '%' : ''}/${policy.periodSeconds}s), then ${move} toward ${target}`,
      })),
    ),
  ];
}

/**
 * What a stabilization window's expiry at `at` lets the count become: the recommendations still
 * in the window then (the one in force among them) hold it, within min / max. Policies may still
 * slow it down; this is words for a summary, not the decision.
 */
function stabilizationWhy(
  counted: Recommendation[],
  window: number,
  direction: 'scaleUp' | 'scaleDown',
  at: number,
  now: number,
  counts: { current: number; recommendation: number; minReplicas: number; maxReplicas: number },
): string {
  const left = [
    counts.recommendation,
    ...counted.filter((r) => r.time + window > at).map((r) => r.replicas),
  ];
  const then = clamp(
    direction === 'scaleDown'
      ? Math.min(counts.current, Math.max(...left))
      : Math.max(counts.current, Math.min(...left)),
    counts.minReplicas,
    counts.maxReplicas,
  );
  const ends = `stabilization window ends ${clockTime(at, now)}`;
  if (then === counts.current) return `${ends}, then decide again`;
  return `${ends}, then ${then > counts.current ? 'scale out' : 'scale in'} to ${then}`;
}

function panicTimer(panicUntil: number, now: number): Timer {
  return {
    at: panicUntil,
    why: () => `panic window ends ${clockTime(panicUntil, now)}: scale-in allowed again`,
  };
}

/** Which schedule window opens, closes or ends its cool-down at `at`. */
function scheduleChangeWhy(spec: DeploymentSpec, now: number, at: number): string {
  const when = clockTime(at, now);
  const windows = spec.schedule?.enabled ? spec.schedule.windows : [];
  for (const [index, window] of windows.entries()) {
    const state = windowState(window, now);
    const name = `schedule window ${index + 1}`;
    if (state.nextTransition === at) {
      return state.active
        ? `${name} closes ${when}: its floor of ${window.minPods} holds for the cool-down`
        : `${name} opens ${when}: at least ${window.minPods} replica(s)`;
    }
    if (state.coolingDownUntil === at) return `${name}'s cool-down ends ${when}: its floor lifts`;
  }
  return `schedule changes ${when}`;
}

/** The earliest timer after `now`, with why; null (and no why) when none is. */
function nextDecision(
  timers: Timer[],
  now: number,
): { nextDecisionAt: number | null; nextDecisionWhy: string | null } {
  const nextDecisionAt = earliest(
    timers.map((t) => t.at),
    now,
  );
  const first = timers.find((t) => t.at === nextDecisionAt);
  return {
    nextDecisionAt,
    nextDecisionWhy: nextDecisionAt !== null && first ? first.why() : null,
  };
}

const WEEKDAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];

/**
 * An instant as UTC wall time for a summary: "12:04:10 UTC", with the weekday ("Mon 09:00:00 UTC")
 * when it is not on `now`'s UTC day.
 */
export function clockTime(at: number, now: number): string {
  const date = new Date(at);
  const time = `${date.toISOString().slice(11, 19)} UTC`;
  const sameDay = date.toISOString().slice(0, 10) === new Date(now).toISOString().slice(0, 10);
  return sameDay ? time : `${WEEKDAYS[date.getUTCDay()]} ${time}`;
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
