/**
 * From a metric's recommendation to the replica count to set: Kubernetes HPA v2 `behavior`
 * (pkg/controller/podautoscaler/horizontal.go: normalizeDesiredReplicasWithBehaviors and the
 * functions it calls), ported with the product's defaults. Pure: history comes in as arrays and
 * goes out as new arrays; time comes in as `now` (epoch ms).
 *
 * Unconfigured, the product differs from upstream on purpose. The product page says "if left
 * unconfigured, standard min/max replica scaling based on the configured scaling metrics applies
 * without rate limiting", so with `behavior: undefined` the decision is the metric's
 * recommendation clamped to [min, max], nothing else. Upstream, an HPA without `behavior` still
 * gets a 300 s scale-down stabilization (the controller's --horizontal-pod-autoscaler-downscale-
 * stabilization) and a scale-up cap of max(2 × current, 4); an HPA with a partial `behavior`
 * gets KUBERNETES_DEFAULT_BEHAVIOR below. We leave stabilization out too: it is not a rate limit,
 * but it would make an unconfigured deployment hold its peak for five minutes, which the page
 * does not describe and a user could not see or turn off. Configured, the domain schema fills
 * the product's defaults (60 s / Max up, 180 s / Min down) and everything below applies.
 */
import type {
  AutoscalingPolicy,
  LimitedBy,
  Recommendation,
  ScaleEvent,
  ScalingDecision,
  ScalingPolicy,
  ScalingReason,
  ScalingRules,
} from './types';

const SECOND = 1000;

/**
 * What the Kubernetes API server fills into an HPA whose `behavior` leaves a direction out
 * (pkg/apis/autoscaling/v2/defaults.go), with the controller's default 300 s scale-down window.
 * Not the product's defaults: for upstream-parity tests and for comparison.
 */
export const KUBERNETES_DEFAULT_BEHAVIOR: AutoscalingPolicy = {
  scaleUp: {
    stabilizationWindowSeconds: 0,
    selectPolicy: 'Max',
    policies: [
      { type: 'Pods', value: 4, periodSeconds: 15 },
      { type: 'Percent', value: 100, periodSeconds: 15 },
    ],
  },
  scaleDown: {
    stabilizationWindowSeconds: 300,
    selectPolicy: 'Max',
    policies: [{ type: 'Percent', value: 100, periodSeconds: 15 }],
  },
};

export interface NormalizeInput {
  now: number;
  currentReplicas: number;
  /** The metric's recommendation (desiredReplicasForMetric / desiredReplicasFromTotal). */
  desiredReplicas: number;
  minReplicas: number;
  maxReplicas: number;
  /** The deployment's autoscalingPolicy; undefined when none is configured. */
  behavior: AutoscalingPolicy | undefined;
  recommendations: readonly Recommendation[];
  scaleUpEvents: readonly ScaleEvent[];
  scaleDownEvents: readonly ScaleEvent[];
}

export interface NormalizedDecision extends ScalingDecision {
  reason: ScalingReason;
  /** The recommendation after stabilization, before rate limits and bounds. */
  stabilizedReplicas: number;
  /** The recommendation history to keep for the next decision. */
  recommendations: Recommendation[];
}

/**
 * The replica count to set now (normalizeDesiredReplicasWithBehaviors):
 *
 * 1. Current count outside [min, max]: go to the bound at once, without stabilization or rate
 *    limits, as upstream's reconcileAutoscaler does before it looks at metrics.
 * 2. No behavior configured: the recommendation clamped to [min, max]. No history is kept.
 * 3. Stabilize: scale up only to the lowest, and down only to the highest, recommendation seen
 *    within each direction's window (stabilizeRecommendation).
 * 4. Rate-limit by the policies over the recent scale events, then keep within [min, max]
 *    (limitByRate).
 * 5. Report the limit that bit last: rate or bounds, else stabilization, else none.
 */
export function normalizeWithBehavior(input: NormalizeInput): NormalizedDecision {
  const { now, currentReplicas, desiredReplicas, minReplicas, maxReplicas, behavior } = input;

  // 1.
  if (currentReplicas > maxReplicas || currentReplicas < minReplicas) {
    const above = currentReplicas > maxReplicas;
    const bound = above ? maxReplicas : minReplicas;
    return {
      replicas: bound,
      reason: above ? 'TooManyReplicas' : 'TooFewReplicas',
      message: `the current count ${currentReplicas} is ${above ? 'above maxReplicas' : 'below minReplicas'} ${bound}: going to ${bound} at once`,
      limitedBy: above ? 'max' : 'min',
      stabilizedReplicas: desiredReplicas,
      recommendations: [...input.recommendations],
    };
  }

  // 2.
  if (behavior === undefined) {
    const clamped = clampToBounds(currentReplicas, desiredReplicas, minReplicas, maxReplicas);
    return {
      ...withOutcome(desiredReplicas, clamped),
      stabilizedReplicas: desiredReplicas,
      recommendations: [],
    };
  }

  // 3.
  const stabilized = stabilizeRecommendation({
    now,
    currentReplicas,
    desiredReplicas,
    recommendations: input.recommendations,
    scaleUpWindowSeconds: behavior.scaleUp.stabilizationWindowSeconds,
    scaleDownWindowSeconds: behavior.scaleDown.stabilizationWindowSeconds,
  });

  // 4.
  const limited = rateLimit({
    now,
    currentReplicas,
    desiredReplicas: stabilized.replicas,
    minReplicas,
    maxReplicas,
    behavior,
    scaleUpEvents: input.scaleUpEvents,
    scaleDownEvents: input.scaleDownEvents,
  });

  // 5.
  const base = {
    stabilizedReplicas: stabilized.replicas,
    recommendations: stabilized.recommendations,
  };
  if (limited.reason !== 'DesiredWithinRange') {
    const via =
      stabilized.replicas === desiredReplicas ? '' : `, stabilized to ${stabilized.replicas}`;
    return {
      replicas: limited.replicas,
      reason: limited.reason,
      message: `recommended ${desiredReplicas}${via}, ${limited.outcome}`,
      limitedBy: limited.limitedBy,
      ...base,
    };
  }
  if (stabilized.replicas !== desiredReplicas) {
    return {
      replicas: limited.replicas,
      reason: stabilized.reason,
      message: stabilized.message,
      limitedBy: 'stabilization',
      ...base,
    };
  }
  return { ...withOutcome(desiredReplicas, limited), ...base };
}

// ---------------------------------------------------------------------------------------------
// Stabilization

export interface StabilizeInput {
  now: number;
  currentReplicas: number;
  desiredReplicas: number;
  recommendations: readonly Recommendation[];
  scaleUpWindowSeconds: number;
  scaleDownWindowSeconds: number;
}

export interface StabilizedRecommendation {
  replicas: number;
  /** Upstream's AbleToScale reason; meaningful only when `replicas` differs from desired. */
  reason: 'ScaleUpStabilized' | 'ScaleDownStabilized';
  message: string;
  recommendations: Recommendation[];
}

/**
 * Stabilize one recommendation against the recent ones (stabilizeRecommendationWithBehaviors):
 *
 * 1. upFloor = the lowest of `desired` and the recommendations newer than the scale-up window;
 *    downCeiling = the highest of `desired` and those newer than the scale-down window. "Newer"
 *    is strict, as upstream's timestamp.After(cutoff): one exactly a window old no longer counts.
 * 2. Start from the current count, raise it to upFloor, lower it to downCeiling: a scale-up goes
 *    only as far as every recent recommendation agrees, a scale-down likewise.
 * 3. Keep `desired` with `now`, and drop the recommendations older than both windows.
 *
 * Upstream keeps stale entries and recycles one slot per call; dropping them all gives the same
 * decisions (a stale entry is never read) and a history that stays small in workflow state.
 */
export function stabilizeRecommendation(input: StabilizeInput): StabilizedRecommendation {
  const { now, currentReplicas, desiredReplicas } = input;
  const upWindow = input.scaleUpWindowSeconds;
  const downWindow = input.scaleDownWindowSeconds;

  // 1.
  let upFloor = desiredReplicas;
  let downCeiling = desiredReplicas;
  for (const rec of input.recommendations) {
    if (newerThan(rec.time, now, upWindow)) upFloor = Math.min(upFloor, rec.replicas);
    if (newerThan(rec.time, now, downWindow)) downCeiling = Math.max(downCeiling, rec.replicas);
  }

  // 2.
  const replicas = Math.min(Math.max(currentReplicas, upFloor), downCeiling);

  // 3.
  const oldest = now - Math.max(upWindow, downWindow) * SECOND;
  const recommendations = [
    ...input.recommendations.filter((rec) => rec.time >= oldest),
    { time: now, replicas: desiredReplicas },
  ];

  const up = desiredReplicas >= currentReplicas;
  const window = up ? upWindow : downWindow;
  const message =
    replicas === currentReplicas
      ? `recommended ${desiredReplicas}, held at ${replicas} by a ${up ? 'lower' : 'higher'} recommendation in the last ${window} s`
      : `recommended ${desiredReplicas}, stabilized to ${replicas}, the ${up ? 'lowest' : 'highest'} recommendation of the last ${window} s`;
  return {
    replicas,
    reason: up ? 'ScaleUpStabilized' : 'ScaleDownStabilized',
    message,
    recommendations,
  };
}

// ---------------------------------------------------------------------------------------------
// Rate limits

export interface LimitByRateInput {
  now: number;
  currentReplicas: number;
  desiredReplicas: number;
  minReplicas: number;
  maxReplicas: number;
  behavior: AutoscalingPolicy;
  scaleUpEvents: readonly ScaleEvent[];
  scaleDownEvents: readonly ScaleEvent[];
}

/**
 * Apply the scaling policies and the bounds (convertDesiredReplicasWithBehaviorRate):
 *
 * 1. Scaling up: the limit is scaleUpLimit, never below the current count (recent scale-ups may
 *    have used the whole allowance). The lower of it and maxReplicas caps the result:
 *    ScaleUpLimit when the policy is the tighter, TooManyReplicas otherwise (also on a tie).
 * 2. Scaling down: the mirror image with scaleDownLimit and minReplicas: ScaleDownLimit or
 *    TooFewReplicas.
 * 3. Below the cap: DesiredWithinRange, the recommendation unchanged.
 */
export function limitByRate(input: LimitByRateInput): ScalingDecision & { reason: ScalingReason } {
  return withOutcome(input.desiredReplicas, rateLimit(input));
}

/** A decision whose message is still to be prefixed with what was recommended. */
interface Outcome {
  replicas: number;
  reason: ScalingReason;
  limitedBy: LimitedBy;
  /** e.g. "limited to 4 by scale-up policy Pods 4 per 60 s" */
  outcome: string;
}

function withOutcome(
  desiredReplicas: number,
  o: Outcome,
): ScalingDecision & { reason: ScalingReason } {
  return {
    replicas: o.replicas,
    reason: o.reason,
    message: `recommended ${desiredReplicas}, ${o.outcome}`,
    limitedBy: o.limitedBy,
  };
}

function rateLimit(input: LimitByRateInput): Outcome {
  const { now, currentReplicas, desiredReplicas, minReplicas, maxReplicas, behavior } = input;
  const history = {
    now,
    currentReplicas,
    scaleUpEvents: input.scaleUpEvents,
    scaleDownEvents: input.scaleDownEvents,
  };

  // 1.
  if (desiredReplicas > currentReplicas) {
    const limit = scaleUpLimit({ ...history, rules: behavior.scaleUp });
    const limitReplicas = Math.max(limit?.replicas ?? Infinity, currentReplicas);
    if (limit && maxReplicas > limitReplicas) {
      if (desiredReplicas > limitReplicas) {
        return {
          replicas: limitReplicas,
          reason: 'ScaleUpLimit',
          limitedBy: 'policy',
          outcome: `limited to ${limitReplicas} by ${limit.by}`,
        };
      }
    } else if (desiredReplicas > maxReplicas) {
      return tooMany(maxReplicas);
    }
  }

  // 2.
  if (desiredReplicas < currentReplicas) {
    const limit = scaleDownLimit({ ...history, rules: behavior.scaleDown });
    const limitReplicas = Math.min(limit?.replicas ?? -Infinity, currentReplicas);
    if (limit && minReplicas < limitReplicas) {
      if (desiredReplicas < limitReplicas) {
        return {
          replicas: limitReplicas,
          reason: 'ScaleDownLimit',
          limitedBy: 'policy',
          outcome: `limited to ${limitReplicas} by ${limit.by}`,
        };
      }
    } else if (desiredReplicas < minReplicas) {
      return tooFew(minReplicas);
    }
  }

  // 3.
  return withinRange(currentReplicas, desiredReplicas);
}

export interface ScaleLimitInput {
  now: number;
  currentReplicas: number;
  rules: ScalingRules;
  scaleUpEvents: readonly ScaleEvent[];
  scaleDownEvents: readonly ScaleEvent[];
}

/** A bound from the policies, and a phrase naming the policy that set it. */
export interface PolicyLimit {
  replicas: number;
  by: string;
}

/**
 * The most replicas the scale-up policies allow now (calculateScaleUpLimitWithScalingRules):
 *
 * 1. selectPolicy Disabled: the current count.
 * 2. For each policy, the count its period started with: current − added + removed within the
 *    last periodSeconds. Pods allows start + value; Percent allows ceil(start × (1 + value/100)),
 *    rounded up so that a small percentage still allows one more replica.
 * 3. Max takes the most permissive policy, Min the least.
 *
 * Two product differences: with no policies there is no limit (undefined) where upstream's
 * validation demands one policy; and a Percent policy allows at least start + 1, so a
 * deployment can wake from zero under Percent-only rules (upstream's ceil(0 × …) = 0 never can).
 */
export function scaleUpLimit(input: ScaleLimitInput): PolicyLimit | undefined {
  const { rules } = input;
  // 1.
  if (rules.selectPolicy === 'Disabled') {
    return { replicas: input.currentReplicas, by: 'scale-up selectPolicy Disabled' };
  }
  if (rules.policies.length === 0) return undefined;

  // 2.
  const proposals = rules.policies.map((policy) => {
    const start = periodStartReplicas(input, policy.periodSeconds);
    const replicas =
      policy.type === 'Pods'
        ? start + policy.value
        : Math.max(Math.ceil(start * (1 + policy.value / 100)), start + 1);
    return { replicas, by: `scale-up policy ${describePolicy(policy)}` };
  });

  // 3.
  return pick(proposals, rules.selectPolicy === 'Min' ? 'lowest' : 'highest');
}

/**
 * The fewest replicas the scale-down policies allow now (calculateScaleDownLimitWithBehaviors):
 * the mirror of scaleUpLimit. Pods allows start − value; Percent allows
 * trunc(start × (1 − value/100)), truncated as upstream's int32 conversion. Max removes the
 * most (the lowest bound), Min the fewest. No policies: no limit (undefined).
 */
export function scaleDownLimit(input: ScaleLimitInput): PolicyLimit | undefined {
  const { rules } = input;
  if (rules.selectPolicy === 'Disabled') {
    return { replicas: input.currentReplicas, by: 'scale-down selectPolicy Disabled' };
  }
  if (rules.policies.length === 0) return undefined;

  const proposals = rules.policies.map((policy) => {
    const start = periodStartReplicas(input, policy.periodSeconds);
    const replicas =
      policy.type === 'Pods' ? start - policy.value : Math.trunc(start * (1 - policy.value / 100));
    return { replicas, by: `scale-down policy ${describePolicy(policy)}` };
  });

  return pick(proposals, rules.selectPolicy === 'Min' ? 'highest' : 'lowest');
}

/** Replicas changed by the events of the last `periodSeconds` (getReplicasChangePerPeriod). */
export function replicasChangedInPeriod(
  events: readonly ScaleEvent[],
  periodSeconds: number,
  now: number,
): number {
  return events.reduce(
    (sum, e) => (newerThan(e.time, now, periodSeconds) ? sum + e.change : sum),
    0,
  );
}

// ---------------------------------------------------------------------------------------------
// Scale event bookkeeping

/** The longest periodSeconds among the rules' policies; 0 without policies (getLongestPolicyPeriod). */
export function longestPolicyPeriodSeconds(rules: ScalingRules): number {
  return rules.policies.reduce((longest, p) => Math.max(longest, p.periodSeconds), 0);
}

/**
 * Append one event and drop those older than `maxPeriodSeconds` before it, which no policy can
 * see any more (storeScaleEvent's markScaleEventsOutdated; upstream recycles one outdated slot
 * and leaves the others marked, we drop them all). An event exactly maxPeriodSeconds old is
 * kept, as upstream marks only those strictly before the cutoff.
 */
export function recordScaleEvent(
  events: readonly ScaleEvent[],
  event: ScaleEvent,
  maxPeriodSeconds: number,
): ScaleEvent[] {
  return [...pruneScaleEvents(events, event.time, maxPeriodSeconds), event];
}

export function pruneScaleEvents(
  events: readonly ScaleEvent[],
  now: number,
  maxPeriodSeconds: number,
): ScaleEvent[] {
  const cutoff = now - maxPeriodSeconds * SECOND;
  return events.filter((e) => e.time >= cutoff);
}

export interface StoreScaleEventInput {
  now: number;
  behavior: AutoscalingPolicy | undefined;
  previousReplicas: number;
  newReplicas: number;
  scaleUpEvents: readonly ScaleEvent[];
  scaleDownEvents: readonly ScaleEvent[];
}

/**
 * Record a rescale that happened (storeScaleEvent): into the scale-up list as +added or the
 * scale-down list as +removed. Without behavior nothing is stored, as upstream: nothing reads it.
 * Both lists are pruned to the longest period of *either* direction, because a scale-up limit
 * also subtracts recent scale-downs and vice versa; upstream prunes by the recorded direction's
 * period only, which can drop an event the other direction would still count.
 */
export function storeScaleEvent(input: StoreScaleEventInput): {
  scaleUpEvents: ScaleEvent[];
  scaleDownEvents: ScaleEvent[];
} {
  const { now, behavior, previousReplicas, newReplicas } = input;
  if (behavior === undefined || newReplicas === previousReplicas) {
    return { scaleUpEvents: [...input.scaleUpEvents], scaleDownEvents: [...input.scaleDownEvents] };
  }
  const horizon = Math.max(
    longestPolicyPeriodSeconds(behavior.scaleUp),
    longestPolicyPeriodSeconds(behavior.scaleDown),
  );
  const up = pruneScaleEvents(input.scaleUpEvents, now, horizon);
  const down = pruneScaleEvents(input.scaleDownEvents, now, horizon);
  const change = Math.abs(newReplicas - previousReplicas);
  return newReplicas > previousReplicas
    ? { scaleUpEvents: [...up, { time: now, change }], scaleDownEvents: down }
    : { scaleUpEvents: up, scaleDownEvents: [...down, { time: now, change }] };
}

// ---------------------------------------------------------------------------------------------

/** Upstream's `timestamp.After(now − seconds)`: strictly newer than the window's start. */
function newerThan(time: number, now: number, seconds: number): boolean {
  return time > now - seconds * SECOND;
}

function periodStartReplicas(
  input: Pick<ScaleLimitInput, 'now' | 'currentReplicas' | 'scaleUpEvents' | 'scaleDownEvents'>,
  periodSeconds: number,
): number {
  const added = replicasChangedInPeriod(input.scaleUpEvents, periodSeconds, input.now);
  const removed = replicasChangedInPeriod(input.scaleDownEvents, periodSeconds, input.now);
  return input.currentReplicas - added + removed;
}

function pick(proposals: PolicyLimit[], which: 'highest' | 'lowest'): PolicyLimit | undefined {
  let best: PolicyLimit | undefined;
  for (const p of proposals) {
    if (!best || (which === 'highest' ? p.replicas > best.replicas : p.replicas < best.replicas)) {
      best = p;
    }
  }
  return best;
}

function describePolicy(policy: ScalingPolicy): string {
  const amount = policy.type === 'Percent' ? `${policy.value}%` : `${policy.value}`;
  return `${policy.type} ${amount} per ${policy.periodSeconds} s`;
}

function withinRange(currentReplicas: number, desiredReplicas: number): Outcome {
  return {
    replicas: desiredReplicas,
    reason: 'DesiredWithinRange',
    limitedBy: 'none',
    outcome:
      desiredReplicas === currentReplicas
        ? `staying at ${currentReplicas}`
        : `scaling from ${currentReplicas} to ${desiredReplicas}`,
  };
}

function tooMany(maxReplicas: number): Outcome {
  return {
    replicas: maxReplicas,
    reason: 'TooManyReplicas',
    limitedBy: 'max',
    outcome: `limited to maxReplicas ${maxReplicas}`,
  };
}

function tooFew(minReplicas: number): Outcome {
  return {
    replicas: minReplicas,
    reason: 'TooFewReplicas',
    limitedBy: 'min',
    outcome: `raised to minReplicas ${minReplicas}`,
  };
}

/** The product's unconfigured behaviour: min/max only. */
function clampToBounds(
  currentReplicas: number,
  desiredReplicas: number,
  minReplicas: number,
  maxReplicas: number,
): Outcome {
  if (desiredReplicas > maxReplicas) return tooMany(maxReplicas);
  if (desiredReplicas < minReplicas) return tooFew(minReplicas);
  return withinRange(currentReplicas, desiredReplicas);
}
