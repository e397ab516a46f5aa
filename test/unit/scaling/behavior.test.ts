/**
 * Upstream conformance: the cases of kubernetes/kubernetes pkg/controller/podautoscaler/
 * horizontal_test.go, transcribed (inputs and expected outputs) as tables. Each block names the
 * upstream test; each row's comment names the upstream case it comes from.
 *
 * Differences in what is asserted, all about bookkeeping rather than decisions: upstream keeps
 * stale recommendations and outdated scale events and recycles one slot per call, we drop them,
 * so the expected lists below are upstream's minus the stale entries (noted per row).
 */
import { describe, expect, it } from 'vitest';
import type { AutoscalingPolicy, ScaleEvent, ScalingRules } from '../../../workflows/scaling';
import {
  KUBERNETES_DEFAULT_BEHAVIOR,
  limitByRate,
  longestPolicyPeriodSeconds,
  normalizeWithBehavior,
  recordScaleEvent,
  replicasChangedInPeriod,
  scaleDownLimit,
  scaleUpLimit,
  stabilizeRecommendation,
  storeScaleEvent,
} from '../../../workflows/scaling';

const NOW = Date.UTC(2025, 0, 6, 12, 0, 0);
const secondsAgo = (s: number) => NOW - s * 1000;
const minutesAgo = (m: number) => secondsAgo(m * 60);

/** Upstream's generateScalingRules: selectPolicy Max, one policy per non-zero value. */
function rules(
  pods: number,
  podsPeriod: number,
  percent: number,
  percentPeriod: number,
  stabilizationWindowSeconds: number,
): ScalingRules {
  const policies: ScalingRules['policies'] = [];
  if (pods !== 0) policies.push({ type: 'Pods', value: pods, periodSeconds: podsPeriod });
  if (percent !== 0)
    policies.push({ type: 'Percent', value: percent, periodSeconds: percentPeriod });
  return { stabilizationWindowSeconds, selectPolicy: 'Max', policies };
}

/**
 * Upstream's generateEventsUniformDistribution: the changes spread over the last periodSeconds,
 * one in the middle of each equal segment, oldest first (Go truncates the seconds to integers).
 * [1, 5, 9] over 120 s lands at 100, 60 and 20 seconds ago.
 */
function spread(changes: number[], periodSeconds: number): ScaleEvent[] {
  const segment = periodSeconds / changes.length;
  return changes.map((change, i) => ({
    change,
    time: secondsAgo(Math.trunc(periodSeconds - segment * (i + 1) + segment / 2)),
  }));
}

/** Upstream's GenerateHPAScaleUpRules / GenerateHPAScaleDownRules: unset means the API defaults. */
function behaviorOf(up?: ScalingRules, down?: ScalingRules): AutoscalingPolicy {
  return {
    scaleUp: up ?? KUBERNETES_DEFAULT_BEHAVIOR.scaleUp,
    scaleDown: down ?? KUBERNETES_DEFAULT_BEHAVIOR.scaleDown,
  };
}

describe('scale limits (upstream TestCalculateScaleUpLimitWithScalingRules, TestCalculateScaleDownLimitWithBehaviors)', () => {
  const minPolicies: ScalingRules = {
    stabilizationWindowSeconds: 300,
    selectPolicy: 'Min',
    policies: [
      { type: 'Pods', value: 2, periodSeconds: 60 },
      { type: 'Percent', value: 50, periodSeconds: 60 },
    ],
  };
  const history = { now: NOW, scaleUpEvents: [], scaleDownEvents: [] };

  it('selectPolicy Min scales one replica up by the smaller of 2 pods and 50 %, rounded up, to 2', () => {
    // TestCalculateScaleUpLimitWithScalingRules
    expect(scaleUpLimit({ ...history, currentReplicas: 1, rules: minPolicies })?.replicas).toBe(2);
  });

  it('selectPolicy Min scales five replicas down by the smaller of 2 pods and 50 %, to 3', () => {
    // TestCalculateScaleDownLimitWithBehaviors
    expect(scaleDownLimit({ ...history, currentReplicas: 5, rules: minPolicies })?.replicas).toBe(
      3,
    );
  });
});

// upstream: TestScalingWithRules, which calls convertDesiredReplicasWithBehaviorRate with the
// rules passed through GenerateHPAScale{Up,Down}Rules (so an unset direction gets the API
// defaults). The same rows also go through normalizeWithBehavior with an empty recommendation
// history, where stabilization changes nothing.
describe('rate limits and bounds (upstream TestScalingWithRules)', () => {
  interface Row {
    sentence: string;
    current: number;
    desired: number;
    min: number;
    max: number;
    up?: ScalingRules;
    down?: ScalingRules;
    upEvents?: ScaleEvent[];
    downEvents?: ScaleEvent[];
    replicas: number;
    reason: string;
  }
  const rows: Row[] = [
    // "prenormalized desired replicas within range"
    {
      sentence: 'a recommendation inside the range and the default limits goes through',
      current: 5,
      desired: 7,
      min: 3,
      max: 8,
      replicas: 7,
      reason: 'DesiredWithinRange',
    },
    // "prenormalized desired replicas < minReplicas"
    {
      sentence: 'a recommendation below minReplicas is raised to it',
      current: 3,
      desired: 1,
      min: 2,
      max: 8,
      replicas: 2,
      reason: 'TooFewReplicas',
    },
    // "prenormalized desired replicas within range when minReplicas is 0"
    {
      sentence: 'zero is a valid recommendation when minReplicas is zero',
      current: 1,
      desired: 0,
      min: 0,
      max: 10,
      replicas: 0,
      reason: 'DesiredWithinRange',
    },
    // "maxReplicas is the limit because maxReplicas < scaleUpLimit"
    {
      sentence: 'maxReplicas caps a recommendation when it is tighter than the scale-up limit',
      current: 20,
      desired: 1000,
      min: 1,
      max: 10,
      replicas: 10,
      reason: 'TooManyReplicas',
    },
    // "desired replica count is more than the maximum replica count"
    {
      sentence: 'maxReplicas caps a large recommendation from a large deployment',
      current: 100,
      desired: 1000,
      min: 100,
      max: 150,
      replicas: 150,
      reason: 'TooManyReplicas',
    },
    // "scaleUpLimit is the limit because scaleUpLimit < maxReplicas with user policies"
    {
      sentence: 'a 1 % policy still adds one replica, because Percent rounds up',
      current: 3,
      desired: 1000,
      min: 1,
      max: 2000,
      up: rules(0, 0, 1, 60, 0),
      replicas: 4,
      reason: 'ScaleUpLimit',
    },
    // "scaleUp with default behavior"
    {
      sentence: 'the API default scale-up doubles ten replicas to twenty',
      current: 10,
      desired: 50,
      min: 1,
      max: 1000,
      replicas: 20,
      reason: 'ScaleUpLimit',
    },
    // "scaleUp with pods policy larger than percent policy"
    {
      sentence: 'selectPolicy Max picks 100 pods over 100 %',
      current: 10,
      desired: 500,
      min: 1,
      max: 1000,
      up: rules(100, 60, 100, 60, 0),
      replicas: 110,
      reason: 'ScaleUpLimit',
    },
    // "scaleUp with percent policy larger than pods policy"
    {
      sentence: 'selectPolicy Max picks 100 % over 2 pods',
      current: 10,
      desired: 500,
      min: 1,
      max: 1000,
      up: rules(2, 60, 100, 60, 0),
      replicas: 20,
      reason: 'ScaleUpLimit',
    },
    // "scaleUp with spec MaxReplicas limitation with large pod policy"
    {
      sentence: 'a recommendation under a generous Pods policy goes through',
      current: 10,
      desired: 50,
      min: 1,
      max: 1000,
      up: rules(100, 60, 0, 0, 0),
      replicas: 50,
      reason: 'DesiredWithinRange',
    },
    // "scaleUp with spec MaxReplicas limitation with large percent policy" (a Pods policy upstream too)
    {
      sentence: 'a recommendation under a huge Pods policy goes through',
      current: 10,
      desired: 50,
      min: 1,
      max: 1000,
      up: rules(10000, 60, 0, 0, 0),
      replicas: 50,
      reason: 'DesiredWithinRange',
    },
    // "scaleUp with pod policy limitation"
    {
      sentence: 'a 30-pod policy limits ten replicas to forty',
      current: 10,
      desired: 50,
      min: 1,
      max: 1000,
      up: rules(30, 60, 0, 0, 0),
      replicas: 40,
      reason: 'ScaleUpLimit',
    },
    // "scaleUp with percent policy limitation"
    {
      sentence: 'a 200 % policy limits ten replicas to thirty',
      current: 10,
      desired: 50,
      min: 1,
      max: 1000,
      up: rules(0, 0, 200, 60, 0),
      replicas: 30,
      reason: 'ScaleUpLimit',
    },
    // "scaleDown with percent policy larger than pod policy"
    {
      sentence: 'selectPolicy Max removes 20 pods rather than 1 %',
      current: 100,
      desired: 2,
      min: 1,
      max: 1000,
      down: rules(20, 60, 1, 60, 300),
      replicas: 80,
      reason: 'ScaleDownLimit',
    },
    // "scaleDown with pod policy larger than percent policy"
    {
      sentence:
        'selectPolicy Max removes 2 pods rather than 1 % of a hundred, truncated to nothing',
      current: 100,
      desired: 2,
      min: 1,
      max: 1000,
      down: rules(2, 60, 1, 60, 300),
      replicas: 98,
      reason: 'ScaleDownLimit',
    },
    // "scaleDown with spec MinReplicas limitation with large pod policy"
    {
      sentence: 'minReplicas stops a scale-down that a 100-pod policy would allow',
      current: 10,
      desired: 0,
      min: 1,
      max: 1000,
      down: rules(100, 60, 0, 0, 300),
      replicas: 1,
      reason: 'TooFewReplicas',
    },
    // "scaleDown with spec MinReplicas limitation with large percent policy"
    {
      sentence: 'minReplicas stops a scale-down that a 100 % policy would allow',
      current: 10,
      desired: 2,
      min: 5,
      max: 1000,
      down: rules(0, 0, 100, 60, 300),
      replicas: 5,
      reason: 'TooFewReplicas',
    },
    // "scaleDown with pod policy limitation"
    {
      sentence: 'a 5-pod policy limits a scale-down from ten to five',
      current: 10,
      desired: 2,
      min: 1,
      max: 1000,
      down: rules(5, 60, 0, 0, 300),
      replicas: 5,
      reason: 'ScaleDownLimit',
    },
    // "scaleDown with percent policy limitation"
    {
      sentence: 'a 50 % policy allows halving exactly',
      current: 10,
      desired: 5,
      min: 1,
      max: 1000,
      down: rules(0, 0, 50, 60, 300),
      replicas: 5,
      reason: 'DesiredWithinRange',
    },
    // "scaleUp with spec MaxReplicas limitation with large pod policy and events"
    {
      sentence: 'maxReplicas caps a scale-up even after recent scale-ups',
      current: 100,
      desired: 500,
      min: 1,
      max: 200,
      up: rules(300, 60, 0, 0, 0),
      upEvents: spread([1, 5, 9], 120),
      replicas: 200,
      reason: 'TooManyReplicas',
    },
    // "scaleUp with spec MaxReplicas limitation with large percent policy and events"
    {
      sentence: 'maxReplicas caps a huge Percent allowance after recent scale-ups',
      current: 100,
      desired: 500,
      min: 1,
      max: 200,
      up: rules(0, 0, 10000, 60, 0),
      upEvents: spread([1, 5, 9], 120),
      replicas: 200,
      reason: 'TooManyReplicas',
    },
    // "scaleUp with currentReplicas limitation with rate.PeriodSeconds with a lot of recent scale up events"
    {
      sentence: 'recent scale-ups that used up the allowance hold the count where it is',
      current: 100,
      desired: 500,
      min: 1,
      max: 1000,
      up: rules(5, 120, 0, 0, 0),
      upEvents: spread([1, 5, 9], 120),
      replicas: 100,
      reason: 'ScaleUpLimit',
    },
    // "scaleUp with pod policy and previous scale up events"
    {
      sentence: 'a Pods policy counts from the size at the start of its period',
      current: 100,
      desired: 500,
      min: 1,
      max: 1000,
      up: rules(150, 120, 0, 0, 0),
      upEvents: spread([1, 5, 9], 120),
      replicas: 235,
      reason: 'ScaleUpLimit',
    },
    // "scaleUp with percent policy and previous scale up events"
    {
      sentence: 'a Percent policy counts from the size at the start of its period',
      current: 100,
      desired: 500,
      min: 1,
      max: 1000,
      up: rules(0, 0, 200, 120, 0),
      upEvents: spread([1, 5, 9], 120),
      replicas: 255,
      reason: 'ScaleUpLimit',
    },
    // "scaleUp with percent policy and previous scale up and down events"
    {
      sentence: 'a scale-up period start adds back the replicas removed in the period',
      current: 6,
      desired: 24,
      min: 1,
      max: 1000,
      up: rules(0, 0, 300, 300, 0),
      upEvents: spread([4], 120),
      downEvents: spread([2], 120),
      replicas: 16,
      reason: 'ScaleUpLimit',
    },
    // "scaleDown with default policy and previous events"
    {
      sentence: 'the API default scale-down allows any scale-down within fifteen seconds',
      current: 10,
      desired: 5,
      min: 1,
      max: 1000,
      downEvents: spread([1, 5, 9], 120),
      replicas: 5,
      reason: 'DesiredWithinRange',
    },
    // "scaleDown with spec MinReplicas=nil limitation with large pod policy and previous events"
    {
      sentence: 'minReplicas 1 stops a scale-down to zero after recent scale-downs',
      current: 100,
      desired: 0,
      min: 1,
      max: 1000,
      down: rules(115, 120, 0, 0, 300),
      downEvents: spread([1, 5, 9], 120),
      replicas: 1,
      reason: 'TooFewReplicas',
    },
    // "scaleDown with spec MinReplicas limitation with large pod policy and previous events"
    {
      sentence: 'minReplicas 5 stops a large Pods scale-down after recent scale-downs',
      current: 100,
      desired: 0,
      min: 5,
      max: 1000,
      down: rules(130, 120, 0, 0, 300),
      downEvents: spread([1, 5, 9], 120),
      replicas: 5,
      reason: 'TooFewReplicas',
    },
    // "scaleDown with spec MinReplicas limitation with large percent policy and previous events"
    {
      sentence: 'minReplicas 5 stops a 100 % scale-down after recent scale-downs',
      current: 100,
      desired: 2,
      min: 5,
      max: 1000,
      down: rules(0, 0, 100, 120, 300),
      downEvents: spread([1, 5, 9], 120),
      replicas: 5,
      reason: 'TooFewReplicas',
    },
    // "scaleDown with pod policy limitation and previous events"
    {
      sentence: 'recent scale-downs that used up a Pods allowance hold the count where it is',
      current: 100,
      desired: 2,
      min: 1,
      max: 1000,
      down: rules(5, 120, 0, 0, 300),
      downEvents: spread([1, 5, 9], 120),
      replicas: 100,
      reason: 'ScaleDownLimit',
    },
    // "scaleDown with percent policy limitation and previous events"
    {
      sentence: 'a 50 % scale-down counts from the size at the start of its period',
      current: 100,
      desired: 0,
      min: 1,
      max: 1000,
      down: rules(0, 0, 50, 120, 300),
      downEvents: spread([2, 4, 6], 120),
      replicas: 56,
      reason: 'ScaleDownLimit',
    },
    // "scaleDown with percent policy and previous scale up and down events"
    {
      sentence: 'a scale-down period start takes away the replicas added in the period',
      current: 10,
      desired: 1,
      min: 1,
      max: 1000,
      down: rules(0, 0, 50, 180, 0),
      upEvents: spread([2], 120),
      downEvents: spread([4], 120),
      replicas: 6,
      reason: 'ScaleDownLimit',
    },
    // "scaleDown with previous events preventing further scale down"
    {
      sentence: 'a 10 % allowance already spent by recent scale-downs prevents any more',
      current: 100,
      desired: 0,
      min: 1,
      max: 1000,
      down: rules(0, 0, 10, 120, 300),
      downEvents: spread([10, 10, 10], 120),
      replicas: 100,
      reason: 'ScaleDownLimit',
    },
    // "scaleDown with with previous events still allowing more scale down"
    {
      sentence: 'a 1000 % allowance still allows the recommended scale-down',
      current: 10,
      desired: 5,
      min: 1,
      max: 1000,
      down: rules(0, 0, 1000, 120, 300),
      downEvents: spread([10, 10, 10], 120),
      replicas: 5,
      reason: 'DesiredWithinRange',
    },
    // "check 'outdated' flag for events for one behavior for up"
    {
      sentence: 'scale-ups older than the only policy period do not count',
      current: 100,
      desired: 200,
      min: 1,
      max: 1000,
      up: rules(1000, 60, 0, 0, 0),
      upEvents: spread([8, 12, 9, 11], 120),
      replicas: 200,
      reason: 'DesiredWithinRange',
    },
    // "check that events were not marked 'outdated' for two different policies in the behavior for up"
    {
      sentence: 'scale-ups within the longer of two policy periods still count for it',
      current: 100,
      desired: 200,
      min: 1,
      max: 1000,
      up: rules(1000, 120, 100, 60, 0),
      upEvents: spread([8, 12, 9, 11], 120),
      replicas: 200,
      reason: 'DesiredWithinRange',
    },
    // "check that events were marked 'outdated' for two different policies in the behavior for up"
    {
      sentence: 'scale-ups older than both policy periods count for neither',
      current: 100,
      desired: 200,
      min: 1,
      max: 1000,
      up: rules(1000, 30, 100, 60, 0),
      upEvents: spread([8, 12, 9, 11], 120),
      replicas: 200,
      reason: 'DesiredWithinRange',
    },
    // "check 'outdated' flag for events for one behavior for down"
    {
      sentence: 'scale-downs older than the only policy period do not count',
      current: 100,
      desired: 5,
      min: 1,
      max: 1000,
      down: rules(1000, 60, 0, 0, 300),
      downEvents: spread([8, 12, 9, 11], 120),
      replicas: 5,
      reason: 'DesiredWithinRange',
    },
    // "check that events were not marked 'outdated' for two different policies in the behavior for down"
    {
      sentence: 'scale-downs within the longer of two policy periods still count for it',
      current: 100,
      desired: 5,
      min: 1,
      max: 1000,
      down: rules(1000, 120, 100, 60, 300),
      downEvents: spread([8, 12, 9, 11], 120),
      replicas: 5,
      reason: 'DesiredWithinRange',
    },
    // "check that events were marked 'outdated' for two different policies in the behavior for down"
    {
      sentence: 'scale-downs older than both policy periods count for neither',
      current: 100,
      desired: 5,
      min: 1,
      max: 1000,
      down: rules(1000, 30, 100, 60, 300),
      downEvents: spread([8, 12, 9, 11], 120),
      replicas: 5,
      reason: 'DesiredWithinRange',
    },
  ];

  const inputOf = (row: Row) => ({
    now: NOW,
    currentReplicas: row.current,
    desiredReplicas: row.desired,
    minReplicas: row.min,
    maxReplicas: row.max,
    behavior: behaviorOf(row.up, row.down),
    scaleUpEvents: row.upEvents ?? [],
    scaleDownEvents: row.downEvents ?? [],
  });

  it.each(rows)('$sentence ($current → $desired gives $replicas, $reason)', (row) => {
    const decision = limitByRate(inputOf(row));
    expect({ replicas: decision.replicas, reason: decision.reason }).toEqual({
      replicas: row.replicas,
      reason: row.reason,
    });
  });

  it.each(rows)('$sentence, also through normalizeWithBehavior', (row) => {
    const decision = normalizeWithBehavior({ ...inputOf(row), recommendations: [] });
    expect({ replicas: decision.replicas, reason: decision.reason }).toEqual({
      replicas: row.replicas,
      reason: row.reason,
    });
  });
});

// upstream: TestNormalizeDesiredReplicasWithBehavior, which calls
// stabilizeRecommendationWithBehaviors (windows not set in a row are 0 there, as here).
describe('stabilization (upstream TestNormalizeDesiredReplicasWithBehavior)', () => {
  interface Row {
    sentence: string;
    recommendations: { replicas: number; time: number }[];
    current: number;
    desired: number;
    upWindow?: number;
    downWindow?: number;
    replicas: number;
    /** upstream's expected list minus the stale entries it keeps; undefined where upstream does not check */
    kept?: number[];
  }
  const rows: Row[] = [
    // "empty recommendations for scaling down"
    {
      sentence: 'with no history a scale-down recommendation stands',
      recommendations: [],
      current: 100,
      desired: 5,
      replicas: 5,
      kept: [5],
    },
    // "simple scale down stabilization"
    {
      sentence: 'a scale-down goes only to the highest recommendation of the window',
      recommendations: [
        { replicas: 4, time: minutesAgo(2) },
        { replicas: 5, time: minutesAgo(1) },
      ],
      current: 100,
      desired: 3,
      downWindow: 180,
      replicas: 5,
      kept: [4, 5, 3],
    },
    // "simple scale up stabilization"
    {
      sentence: 'a scale-up goes only to the lowest recommendation of the window',
      recommendations: [
        { replicas: 4, time: minutesAgo(2) },
        { replicas: 5, time: minutesAgo(1) },
      ],
      current: 1,
      desired: 7,
      upWindow: 300,
      replicas: 4,
      kept: [4, 5, 7],
    },
    // "no scale down stabilization"
    {
      sentence: 'a scale-up window does not hold back a scale-down',
      recommendations: [
        { replicas: 1, time: minutesAgo(2) },
        { replicas: 2, time: minutesAgo(1) },
      ],
      current: 100,
      desired: 3,
      upWindow: 300,
      replicas: 3,
      kept: [1, 2, 3],
    },
    // "no scale up stabilization"
    {
      sentence: 'a scale-down window does not hold back a scale-up',
      recommendations: [
        { replicas: 4, time: minutesAgo(2) },
        { replicas: 5, time: minutesAgo(1) },
      ],
      current: 1,
      desired: 3,
      downWindow: 300,
      replicas: 3,
      kept: [4, 5, 3],
    },
    // "no scale down stabilization, reuse recommendation element" (upstream keeps [10, 3])
    {
      sentence: 'recommendations older than both windows are forgotten on a scale-down',
      recommendations: [
        { replicas: 10, time: minutesAgo(10) },
        { replicas: 9, time: minutesAgo(9) },
      ],
      current: 100,
      desired: 3,
      replicas: 3,
      kept: [3],
    },
    // "no scale up stabilization, reuse recommendation element" (upstream keeps [10, 100])
    {
      sentence: 'recommendations older than both windows are forgotten on a scale-up',
      recommendations: [
        { replicas: 10, time: minutesAgo(10) },
        { replicas: 9, time: minutesAgo(9) },
      ],
      current: 1,
      desired: 100,
      replicas: 100,
      kept: [100],
    },
    // "scale down stabilization, reuse one of obsolete recommendation element" (upstream keeps [10, 4, 5, 3])
    {
      sentence:
        'a scale-down is stabilized by the recent recommendations and the stale ones dropped',
      recommendations: [
        { replicas: 10, time: minutesAgo(10) },
        { replicas: 4, time: minutesAgo(1) },
        { replicas: 5, time: minutesAgo(2) },
        { replicas: 9, time: minutesAgo(9) },
      ],
      current: 100,
      desired: 3,
      downWindow: 180,
      replicas: 5,
      kept: [4, 5, 3],
    },
    // "scale up stabilization, reuse one of obsolete recommendation element" (upstream keeps [100, 6, 5, 9], the stale slot reused)
    {
      sentence: 'a scale-up is stabilized by the recent recommendations and the stale one dropped',
      recommendations: [
        { replicas: 10, time: minutesAgo(100) },
        { replicas: 6, time: minutesAgo(1) },
        { replicas: 5, time: minutesAgo(2) },
        { replicas: 9, time: minutesAgo(3) },
      ],
      current: 1,
      desired: 100,
      upWindow: 300,
      replicas: 5,
      kept: [6, 5, 9, 100],
    },
    // "scale up and down stabilization, do not scale up when prenormalized rec goes down"
    {
      sentence: 'a falling recommendation never causes a scale-up',
      recommendations: [
        { replicas: 2, time: minutesAgo(100) },
        { replicas: 3, time: minutesAgo(3) },
      ],
      current: 2,
      desired: 1,
      upWindow: 300,
      downWindow: 300,
      replicas: 2,
    },
    // "scale up and down stabilization, do not scale down when prenormalized rec goes up"
    {
      sentence: 'a rising recommendation never causes a scale-down',
      recommendations: [
        { replicas: 2, time: minutesAgo(100) },
        { replicas: 1, time: minutesAgo(3) },
      ],
      current: 2,
      desired: 3,
      upWindow: 300,
      downWindow: 300,
      replicas: 2,
    },
  ];

  it.each(rows)('$sentence ($current → $desired gives $replicas)', (row) => {
    const result = stabilizeRecommendation({
      now: NOW,
      currentReplicas: row.current,
      desiredReplicas: row.desired,
      recommendations: row.recommendations,
      scaleUpWindowSeconds: row.upWindow ?? 0,
      scaleDownWindowSeconds: row.downWindow ?? 0,
    });
    expect(result.replicas).toBe(row.replicas);
    if (row.kept) expect(result.recommendations.map((r) => r.replicas)).toEqual(row.kept);
  });
});

// upstream: TestStoreScaleEvents. Upstream runs each row once into the scale-up list
// (10 → 15) and once into the scale-down list (10 → 5); so does this.
describe('scale event bookkeeping (upstream TestStoreScaleEvents)', () => {
  interface Row {
    sentence: string;
    rules?: ScalingRules;
    previous: ScaleEvent[];
    /** replicas changed in the last 60 s before storing */
    changedIn60s: number;
    /** upstream's expected list minus the outdated entries it keeps */
    kept: number[];
  }
  const rows: Row[] = [
    // "empty entries with default behavior"
    { sentence: 'without behavior nothing is stored', previous: [], changedIn60s: 0, kept: [] },
    // "empty entries with two-policy-behavior"
    {
      sentence: 'with behavior the first event is stored',
      rules: rules(10, 60, 100, 60, 0),
      previous: [],
      changedIn60s: 0,
      kept: [5],
    },
    // "one outdated entry to be kept untouched without behavior"
    {
      sentence: 'without behavior an old event is left alone',
      previous: [{ change: 7, time: secondsAgo(61) }],
      changedIn60s: 0,
      kept: [7],
    },
    // "one outdated entry to be replaced with behavior"
    {
      sentence: 'an event older than the longest period is dropped',
      rules: rules(10, 60, 100, 60, 0),
      previous: [{ change: 7, time: secondsAgo(61) }],
      changedIn60s: 0,
      kept: [5],
    },
    // "one actual entry to be not touched with behavior"
    {
      sentence: 'an event within the period is kept',
      rules: rules(10, 60, 100, 60, 0),
      previous: [{ change: 7, time: secondsAgo(58) }],
      changedIn60s: 7,
      kept: [7, 5],
    },
    // "two entries, one of them to be replaced" (upstream reuses the old slot: [5, 6])
    {
      sentence: 'of two events only the one past the period is dropped',
      rules: rules(10, 60, 0, 0, 0),
      previous: [
        { change: 7, time: secondsAgo(61) },
        { change: 6, time: secondsAgo(59) },
      ],
      changedIn60s: 6,
      kept: [6, 5],
    },
    // "replace one entry, use policies with different periods" (upstream: [8, 6, 7 marked outdated, 5])
    {
      sentence: 'events are kept for the longest of the policy periods',
      rules: rules(10, 60, 100, 30, 0),
      previous: [
        { change: 8, time: secondsAgo(29) },
        { change: 6, time: secondsAgo(59) },
        { change: 7, time: secondsAgo(61) },
        { change: 9, time: secondsAgo(61) },
      ],
      changedIn60s: 14,
      kept: [8, 6, 5],
    },
    // "two entries, both actual"
    {
      sentence: 'events within a 120 s period are all kept',
      rules: rules(10, 120, 100, 30, 0),
      previous: [
        { change: 7, time: secondsAgo(58) },
        { change: 6, time: secondsAgo(59) },
      ],
      changedIn60s: 13,
      kept: [7, 6, 5],
    },
  ];

  it.each(rows)('$sentence (scale-up list)', (row) => {
    expect(replicasChangedInPeriod(row.previous, 60, NOW)).toBe(row.changedIn60s);
    const stored = storeScaleEvent({
      now: NOW,
      behavior: row.rules ? { scaleUp: row.rules, scaleDown: row.rules } : undefined,
      previousReplicas: 10,
      newReplicas: 15,
      scaleUpEvents: row.previous,
      scaleDownEvents: [],
    });
    expect(stored.scaleUpEvents.map((e) => e.change)).toEqual(row.kept);
    expect(stored.scaleDownEvents).toEqual([]);
  });

  it.each(rows)('$sentence (scale-down list)', (row) => {
    const stored = storeScaleEvent({
      now: NOW,
      behavior: row.rules ? { scaleUp: row.rules, scaleDown: row.rules } : undefined,
      previousReplicas: 10,
      newReplicas: 5,
      scaleUpEvents: [],
      scaleDownEvents: row.previous,
    });
    expect(stored.scaleDownEvents.map((e) => e.change)).toEqual(row.kept);
    expect(stored.scaleUpEvents).toEqual([]);
  });

  it.each(rows.filter((row) => row.rules))('$sentence (recordScaleEvent alone)', (row) => {
    const rulesOfRow = row.rules as ScalingRules;
    const events = recordScaleEvent(
      row.previous,
      { time: NOW, change: 5 },
      longestPolicyPeriodSeconds(rulesOfRow),
    );
    expect(events.map((e) => e.change)).toEqual(row.kept);
  });
});

// upstream: TestScaleRCImmediately and TestUpscaleCap, which run whole reconciles. Here the
// metric's recommendation is given (TestUpscaleCap: 3 pods at an average 200 % of their CPU
// request against a 10 % target recommend 3 × 20 = 60) and normalizeWithBehavior does the rest.
describe('whole decisions (upstream TestScaleRCImmediately, TestUpscaleCap)', () => {
  it.each([
    // TestScaleRCImmediately "scale up to min when below min replicas"
    {
      sentence: 'a count below minReplicas goes straight to it',
      current: 1,
      desired: 0,
      min: 2,
      max: 6,
      replicas: 2,
      reason: 'TooFewReplicas',
    },
    // TestScaleRCImmediately "scale down to max when above max replicas"
    {
      sentence: 'a count above maxReplicas goes straight to it',
      current: 6,
      desired: 20,
      min: 2,
      max: 5,
      replicas: 5,
      reason: 'TooManyReplicas',
    },
  ])('$sentence', ({ current, desired, min, max, replicas, reason }) => {
    const decision = normalizeWithBehavior({
      now: NOW,
      currentReplicas: current,
      desiredReplicas: desired,
      minReplicas: min,
      maxReplicas: max,
      behavior: KUBERNETES_DEFAULT_BEHAVIOR,
      recommendations: [],
      scaleUpEvents: [],
      scaleDownEvents: [],
    });
    expect({ replicas: decision.replicas, reason: decision.reason }).toEqual({ replicas, reason });
  });

  it.each([
    // TestUpscaleCap "capped by scale up rules"
    {
      sentence: 'a 700 % scale-up policy caps three replicas at twenty-four',
      max: 100,
      replicas: 24,
      reason: 'ScaleUpLimit',
    },
    // TestUpscaleCap "capped by max replicas when scale up limit exceeds max"
    {
      sentence: 'maxReplicas caps a 700 % scale-up when it is tighter',
      max: 20,
      replicas: 20,
      reason: 'TooManyReplicas',
    },
  ])('$sentence', ({ max, replicas, reason }) => {
    const decision = normalizeWithBehavior({
      now: NOW,
      currentReplicas: 3,
      desiredReplicas: 60,
      minReplicas: 1,
      maxReplicas: max,
      behavior: behaviorOf(rules(0, 0, 700, 60, 0)),
      // upstream's recordInitialRecommendation: the current count, recorded this sync
      recommendations: [{ time: NOW, replicas: 3 }],
      scaleUpEvents: [],
      scaleDownEvents: [],
    });
    expect({ replicas: decision.replicas, reason: decision.reason }).toEqual({ replicas, reason });
  });
});
