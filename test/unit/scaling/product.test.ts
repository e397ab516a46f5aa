/**
 * The product's own rules on top of upstream HPA semantics (creating-a-deployment.md, "Scaling
 * Parameters" and "Autoscaling Policy"): no policy means min/max only; a configured policy takes
 * the product's defaults; and the places where this port deliberately differs from upstream.
 */
import { describe, expect, it } from 'vitest';
import { autoscalingPolicySchema } from '../../../workflows/domain/spec';
import type {
  AutoscalingPolicy,
  NormalizeInput,
  Recommendation,
  ScaleEvent,
  ScalingRules,
} from '../../../workflows/scaling';
import {
  desiredReplicasForMetric,
  desiredReplicasFromTotal,
  normalizeWithBehavior,
  scaleUpLimit,
  storeScaleEvent,
} from '../../../workflows/scaling';

const NOW = Date.UTC(2025, 0, 6, 12, 0, 0);
const secondsAgo = (s: number) => NOW - s * 1000;

const defaults = autoscalingPolicySchema.parse({});

function decide(
  input: Partial<NormalizeInput> & Pick<NormalizeInput, 'currentReplicas' | 'desiredReplicas'>,
) {
  return normalizeWithBehavior({
    now: NOW,
    minReplicas: 1,
    maxReplicas: 64,
    behavior: undefined,
    recommendations: [],
    scaleUpEvents: [],
    scaleDownEvents: [],
    ...input,
  });
}

function withPolicies(
  up: Partial<ScalingRules>,
  down: Partial<ScalingRules> = {},
): AutoscalingPolicy {
  return autoscalingPolicySchema.parse({ scaleUp: up, scaleDown: down });
}

describe('no autoscaling policy: min/max and the metric, nothing else', () => {
  it.each([
    {
      sentence: 'a large scale-up happens at once',
      current: 1,
      desired: 50,
      replicas: 50,
      reason: 'DesiredWithinRange',
    },
    {
      sentence: 'a large scale-down happens at once',
      current: 50,
      desired: 1,
      replicas: 1,
      reason: 'DesiredWithinRange',
    },
    {
      sentence: 'maxReplicas still caps the metric',
      current: 10,
      desired: 100,
      replicas: 64,
      reason: 'TooManyReplicas',
    },
    {
      sentence: 'minReplicas still floors the metric',
      current: 10,
      desired: 0,
      replicas: 1,
      reason: 'TooFewReplicas',
    },
  ])(
    '$sentence ($current → $desired gives $replicas)',
    ({ current, desired, replicas, reason }) => {
      const decision = decide({ currentReplicas: current, desiredReplicas: desired });
      expect({ replicas: decision.replicas, reason: decision.reason }).toEqual({
        replicas,
        reason,
      });
    },
  );

  it('a recent higher recommendation does not hold a scale-down (no stabilization either)', () => {
    const recommendations: Recommendation[] = [{ time: secondsAgo(10), replicas: 40 }];
    const decision = decide({ currentReplicas: 40, desiredReplicas: 4, recommendations });
    expect(decision.replicas).toBe(4);
    expect(decision.recommendations).toEqual([]);
  });

  it('recent scale events do not limit anything', () => {
    const scaleUpEvents: ScaleEvent[] = [{ time: secondsAgo(1), change: 30 }];
    expect(decide({ currentReplicas: 31, desiredReplicas: 60, scaleUpEvents }).replicas).toBe(60);
  });

  it('a rescale is not recorded, since nothing reads it', () => {
    const stored = storeScaleEvent({
      now: NOW,
      behavior: undefined,
      previousReplicas: 1,
      newReplicas: 50,
      scaleUpEvents: [],
      scaleDownEvents: [],
    });
    expect(stored).toEqual({ scaleUpEvents: [], scaleDownEvents: [] });
  });

  // The inputs of upstream TestConvertDesiredReplicasWithRules (upstream's no-behavior path).
  // The product agrees except in the last row: upstream caps a scale-up at max(2 × current, 4)
  // (its test raises the factor to 8: 24), the product has no cap without a policy.
  it.each([
    {
      sentence: 'a recommendation within range goes through, as upstream',
      current: 5,
      desired: 7,
      min: 3,
      max: 8,
      replicas: 7,
      reason: 'DesiredWithinRange',
    },
    {
      sentence: 'a recommendation below minReplicas is raised to it, as upstream',
      current: 3,
      desired: 1,
      min: 2,
      max: 8,
      replicas: 2,
      reason: 'TooFewReplicas',
    },
    {
      sentence: 'zero stands when minReplicas is zero, as upstream',
      current: 1,
      desired: 0,
      min: 0,
      max: 10,
      replicas: 0,
      reason: 'DesiredWithinRange',
    },
    {
      sentence: 'a count above maxReplicas goes to it, as upstream',
      current: 20,
      desired: 1000,
      min: 1,
      max: 10,
      replicas: 10,
      reason: 'TooManyReplicas',
    },
    {
      sentence: 'a thousand-fold recommendation is not capped, unlike upstream',
      current: 3,
      desired: 1000,
      min: 1,
      max: 2000,
      replicas: 1000,
      reason: 'DesiredWithinRange',
    },
  ])('$sentence', ({ current, desired, min, max, replicas, reason }) => {
    const decision = decide({
      currentReplicas: current,
      desiredReplicas: desired,
      minReplicas: min,
      maxReplicas: max,
    });
    expect({ replicas: decision.replicas, reason: decision.reason }).toEqual({ replicas, reason });
  });
});

describe('a configured policy with the product defaults', () => {
  it('defaults to 60 s / Max up and 180 s / Min down, with no policies', () => {
    expect(defaults).toEqual({
      scaleUp: { stabilizationWindowSeconds: 60, selectPolicy: 'Max', policies: [] },
      scaleDown: { stabilizationWindowSeconds: 180, selectPolicy: 'Min', policies: [] },
    });
  });

  it.each([
    {
      sentence: 'with no policies a scale-up is not rate-limited',
      current: 2,
      desired: 40,
      history: [],
      replicas: 40,
      limitedBy: 'none',
    },
    {
      sentence: 'with no policies a scale-down is not rate-limited',
      current: 40,
      desired: 2,
      history: [],
      replicas: 2,
      limitedBy: 'none',
    },
    {
      sentence: 'a lower recommendation 30 s ago holds a scale-up',
      current: 2,
      desired: 8,
      history: [{ time: secondsAgo(30), replicas: 2 }],
      replicas: 2,
      limitedBy: 'stabilization',
    },
    {
      sentence: 'a recommendation exactly 60 s old no longer holds a scale-up',
      current: 2,
      desired: 8,
      history: [{ time: secondsAgo(60), replicas: 2 }],
      replicas: 8,
      limitedBy: 'none',
    },
    {
      sentence: 'a scale-up goes as far as the lowest recent recommendation',
      current: 2,
      desired: 8,
      history: [{ time: secondsAgo(30), replicas: 5 }],
      replicas: 5,
      limitedBy: 'stabilization',
    },
    {
      sentence: 'a higher recommendation 179 s ago holds a scale-down',
      current: 10,
      desired: 3,
      history: [{ time: secondsAgo(179), replicas: 10 }],
      replicas: 10,
      limitedBy: 'stabilization',
    },
    {
      sentence: 'a recommendation exactly 180 s old no longer holds a scale-down',
      current: 10,
      desired: 3,
      history: [{ time: secondsAgo(180), replicas: 10 }],
      replicas: 3,
      limitedBy: 'none',
    },
  ])('$sentence', ({ current, desired, history, replicas, limitedBy }) => {
    const decision = decide({
      currentReplicas: current,
      desiredReplicas: desired,
      behavior: defaults,
      recommendations: history,
    });
    expect({ replicas: decision.replicas, limitedBy: decision.limitedBy }).toEqual({
      replicas,
      limitedBy,
    });
  });

  it('says which recommendation held a scale-up', () => {
    const decision = decide({
      currentReplicas: 2,
      desiredReplicas: 8,
      behavior: defaults,
      recommendations: [{ time: secondsAgo(30), replicas: 2 }],
    });
    expect(decision).toMatchObject({
      reason: 'ScaleUpStabilized',
      message: 'recommended 8, held at 2 by a lower recommendation in the last 60 s',
    });
  });

  it('keeps the recommendations a window can still see, plus the new one', () => {
    const decision = decide({
      currentReplicas: 10,
      desiredReplicas: 3,
      behavior: defaults,
      recommendations: [
        { time: secondsAgo(181), replicas: 9 },
        { time: secondsAgo(100), replicas: 10 },
      ],
    });
    expect(decision.recommendations).toEqual([
      { time: secondsAgo(100), replicas: 10 },
      { time: NOW, replicas: 3 },
    ]);
  });
});

describe('scaling policies', () => {
  it('names the policy that limited a scale-up', () => {
    const decision = decide({
      currentReplicas: 2,
      desiredReplicas: 8,
      behavior: withPolicies({
        stabilizationWindowSeconds: 0,
        policies: [{ type: 'Pods', value: 2, periodSeconds: 60 }],
      }),
    });
    expect(decision).toMatchObject({
      replicas: 4,
      reason: 'ScaleUpLimit',
      limitedBy: 'policy',
      message: 'recommended 8, limited to 4 by scale-up policy Pods 2 per 60 s',
    });
  });

  it('names both the stabilization and the policy when both applied', () => {
    const decision = decide({
      currentReplicas: 20,
      desiredReplicas: 2,
      behavior: withPolicies({}, { policies: [{ type: 'Percent', value: 10, periodSeconds: 60 }] }),
      recommendations: [{ time: secondsAgo(30), replicas: 12 }],
    });
    expect(decision).toMatchObject({
      replicas: 18,
      stabilizedReplicas: 12,
      reason: 'ScaleDownLimit',
      message:
        'recommended 2, stabilized to 12, limited to 18 by scale-down policy Percent 10% per 60 s',
    });
  });

  it.each([
    {
      sentence: 'a Percent scale-up rounds up: 50 % of three adds two',
      current: 3,
      desired: 10,
      up: [{ type: 'Percent' as const, value: 50, periodSeconds: 60 }],
      down: [],
      replicas: 5,
    },
    {
      sentence: 'a Percent scale-down truncates: 50 % of three leaves one',
      current: 3,
      desired: 0,
      up: [],
      down: [{ type: 'Percent' as const, value: 50, periodSeconds: 60 }],
      replicas: 1,
    },
    {
      sentence: 'selectPolicy Min on scale-down removes the fewer of 1 pod and 50 %',
      current: 10,
      desired: 0,
      up: [],
      down: [
        { type: 'Pods' as const, value: 1, periodSeconds: 60 },
        { type: 'Percent' as const, value: 50, periodSeconds: 60 },
      ],
      replicas: 9,
    },
  ])('$sentence', ({ current, desired, up, down, replicas }) => {
    const behavior = withPolicies(
      { stabilizationWindowSeconds: 0, policies: up },
      { stabilizationWindowSeconds: 0, policies: down },
    );
    expect(
      decide({ currentReplicas: current, desiredReplicas: desired, minReplicas: 0, behavior })
        .replicas,
    ).toBe(replicas);
  });

  it.each([
    {
      sentence: 'selectPolicy Disabled on scale-up holds the count',
      current: 3,
      desired: 8,
      up: 'Disabled' as const,
      down: 'Min' as const,
      reason: 'ScaleUpLimit',
      message: 'recommended 8, limited to 3 by scale-up selectPolicy Disabled',
    },
    {
      sentence: 'selectPolicy Disabled on scale-down holds the count',
      current: 8,
      desired: 3,
      up: 'Max' as const,
      down: 'Disabled' as const,
      reason: 'ScaleDownLimit',
      message: 'recommended 3, limited to 8 by scale-down selectPolicy Disabled',
    },
  ])('$sentence', ({ current, desired, up, down, reason, message }) => {
    const behavior = withPolicies(
      { stabilizationWindowSeconds: 0, selectPolicy: up },
      { stabilizationWindowSeconds: 0, selectPolicy: down },
    );
    expect(decide({ currentReplicas: current, desiredReplicas: desired, behavior })).toMatchObject({
      replicas: current,
      reason,
      message,
    });
  });

  it('a Percent-only scale-up can still wake a deployment from zero, one replica first (upstream would stay at 0)', () => {
    const rules = withPolicies({
      policies: [{ type: 'Percent', value: 100, periodSeconds: 60 }],
    }).scaleUp;
    const limit = scaleUpLimit({
      now: NOW,
      currentReplicas: 0,
      rules,
      scaleUpEvents: [],
      scaleDownEvents: [],
    });
    expect(limit?.replicas).toBe(1);
  });

  it('a Pods scale-up wakes a deployment from zero by its value', () => {
    const behavior = withPolicies({
      stabilizationWindowSeconds: 0,
      policies: [{ type: 'Pods', value: 4, periodSeconds: 60 }],
    });
    expect(
      decide({ currentReplicas: 0, desiredReplicas: 3, minReplicas: 0, behavior }).replicas,
    ).toBe(3);
  });

  it('a Pods policy allows its value again only once the period has passed since the last step', () => {
    const behavior = withPolicies({
      stabilizationWindowSeconds: 0,
      policies: [{ type: 'Pods', value: 4, periodSeconds: 60 }],
    });
    let replicas = 1;
    let recommendations: Recommendation[] = [];
    let events = { scaleUpEvents: [] as ScaleEvent[], scaleDownEvents: [] as ScaleEvent[] };
    const seen: number[] = [];
    for (let t = 0; t <= 120; t += 15) {
      const now = NOW + t * 1000;
      const decision = normalizeWithBehavior({
        now,
        currentReplicas: replicas,
        desiredReplicas: 20,
        minReplicas: 1,
        maxReplicas: 64,
        behavior,
        recommendations,
        ...events,
      });
      events = storeScaleEvent({
        now,
        behavior,
        previousReplicas: replicas,
        newReplicas: decision.replicas,
        ...events,
      });
      recommendations = decision.recommendations;
      replicas = decision.replicas;
      seen.push(replicas);
    }
    // at 60 s the first step is exactly one period old and no longer counts; likewise at 120 s
    expect(seen).toEqual([5, 5, 5, 5, 9, 9, 9, 9, 13]);
  });

  it('scale events are kept for the longest period of either direction', () => {
    const behavior = withPolicies(
      { policies: [{ type: 'Pods', value: 4, periodSeconds: 60 }] },
      { policies: [{ type: 'Pods', value: 1, periodSeconds: 600 }] },
    );
    const stored = storeScaleEvent({
      now: NOW,
      behavior,
      previousReplicas: 5,
      newReplicas: 9,
      scaleUpEvents: [
        { time: secondsAgo(300), change: 4 },
        { time: secondsAgo(601), change: 4 },
      ],
      scaleDownEvents: [
        { time: secondsAgo(599), change: 1 },
        { time: secondsAgo(700), change: 1 },
      ],
    });
    expect(stored).toEqual({
      scaleUpEvents: [
        { time: secondsAgo(300), change: 4 },
        { time: NOW, change: 4 },
      ],
      scaleDownEvents: [{ time: secondsAgo(599), change: 1 }],
    });
  });
});

describe('metric recommendations for the product', () => {
  const ready = (...values: (number | undefined)[]) =>
    values.map((value, i) => ({ name: `replica-${i}`, ready: true, value }));

  it.each([
    { sentence: 'exactly 10 % over target is within tolerance', values: [8.8, 8.8], replicas: 2 },
    { sentence: 'exactly 10 % under target is within tolerance', values: [7.2, 7.2], replicas: 2 },
    { sentence: 'just past 10 % over target scales up', values: [8.9, 8.9], replicas: 3 },
    {
      sentence:
        'replicas without a sample count at the target, so missing metrics never speed a scale-down',
      values: [2, 2, undefined, undefined],
      replicas: 3,
    },
    {
      sentence: 'replicas without a sample count as idle, so they never inflate a scale-up',
      values: [24, undefined],
      replicas: 3,
    },
  ])('$sentence', ({ values, replicas }) => {
    const result = desiredReplicasForMetric({
      currentReplicas: values.length,
      pods: ready(...values),
      threshold: 8,
    });
    expect(result.replicas).toBe(replicas);
  });

  it('seven replicas each at exactly 110 % stay: float noise does not cross the tolerance band', () => {
    const result = desiredReplicasForMetric({
      currentReplicas: 7,
      pods: ready(...Array<number>(7).fill(0.77)),
      threshold: 0.7,
    });
    expect(result).toMatchObject({ replicas: 7, reason: 'WithinTolerance' });
  });

  it('a usage of exactly seven targets asks for seven replicas, not eight, despite float noise', () => {
    expect(0.07 / 0.01).toBeGreaterThan(7);
    expect(
      desiredReplicasForMetric({ currentReplicas: 1, pods: ready(0.07), threshold: 0.01 }).replicas,
    ).toBe(7);
  });

  it('an unready replica is not trusted even when it reports', () => {
    const pods = [
      { name: 'a', ready: true, value: 16 },
      { name: 'b', ready: false, value: 100 },
    ];
    // 16 against 8 asks for two replicas per ready one; the unready one counts as 0 on scale-up
    expect(desiredReplicasForMetric({ currentReplicas: 2, pods, threshold: 8 }).replicas).toBe(2);
  });

  it('says why no replica count could be computed', () => {
    expect(
      desiredReplicasForMetric({ currentReplicas: 3, pods: ready(undefined), threshold: 8 }),
    ).toEqual({
      replicas: 3,
      usageRatio: null,
      reason: 'FailedGetPodsMetric',
      message: 'no ready replica reported the metric (1 missing, 0 unready): keeping 3',
    });
  });

  it.each([
    {
      sentence: 'one request in flight wakes one replica',
      total: 1,
      replicas: 1,
      reason: 'AboveTarget',
    },
    {
      sentence: 'twenty requests in flight wake three replicas of eight each',
      total: 20,
      replicas: 3,
      reason: 'AboveTarget',
    },
    { sentence: 'no traffic wakes nothing', total: 0, replicas: 0, reason: 'WithinTolerance' },
  ])('from zero, $sentence', ({ total, replicas, reason }) => {
    expect(desiredReplicasFromTotal({ total, threshold: 8 })).toMatchObject({ replicas, reason });
  });

  it('from zero without a policy the woken count is applied at once', () => {
    const { replicas: desired } = desiredReplicasFromTotal({ total: 20, threshold: 8 });
    expect(decide({ currentReplicas: 0, desiredReplicas: desired, minReplicas: 0 }).replicas).toBe(
      3,
    );
  });
});
