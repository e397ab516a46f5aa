/**
 * Upstream conformance: the cases of kubernetes/kubernetes pkg/controller/podautoscaler/
 * replica_calculator_test.go (the table-driven layout: TestReplicaCalcPodMetric,
 * TestReplicaCalcResourceScale, …), transcribed as tables.
 *
 * How upstream fixtures map onto PodSample:
 * - Custom (pod) metrics: values as given, in milli-units. Upstream ignores the Ready condition
 *   of a Running pod for these, so such a pod is `ready: true` here; only Pending pods are unready.
 * - CPU utilization: every pod requests 1.0 CPU per container (or a mix averaging 1.0), so a
 *   pod's value is its usage as a percentage of the mean request (level / 10), and utilization
 *   is their average, as upstream's sum(usage) / sum(requests). A pod that is not Ready, or
 *   started within the CPU initialisation period ("hot CPU"), is `ready: false`. A missing pod on
 *   scale-down counts at max(100, target) % (upstream's resource fallback).
 * - Failed, succeeded and terminating pods are upstream's ignored set: the caller leaves them
 *   out, so they do not appear in `pods` (those rows check the rest still scale right).
 * - Container-scoped rows (`container: "container2"`) use that container's level: choosing the
 *   container is the caller's job.
 *
 * Not transcribed: rows whose fixture this model cannot express (more metric samples than pods,
 * mixed requests in the missing-metrics table, a missing CPU request, int32/int64 overflow
 * saturation) and the Value-target object/external tests (GetObjectMetricReplicas,
 * GetExternalMetricReplicas), which scale by the ready-pod count and have no product metric.
 */
import { describe, expect, it } from 'vitest';
import type { PodSample, Tolerance } from '../../../workflows/scaling';
import { desiredReplicasForMetric, desiredReplicasFromTotal } from '../../../workflows/scaling';

/** Pods that all reported, named pod-0…: upstream's test-pod-N. */
function pods(...values: (number | undefined)[]): PodSample[] {
  return values.map((value, i) => ({ name: `pod-${i}`, ready: true, value }));
}

/** Mark the pods at the given indexes unready. */
function unready(list: PodSample[], ...indexes: number[]): PodSample[] {
  return list.map((pod, i) => (indexes.includes(i) ? { ...pod, ready: false } : pod));
}

/** CPU levels (millicores per container at a 1.0 request) as percent of the request. */
const cpu = (...levels: (number | undefined)[]) =>
  pods(...levels.map((l) => (l === undefined ? undefined : l / 10)));

const upOnePercent: Tolerance = { scaleDown: 0.1, scaleUp: 0.01 };

describe('per-pod custom metric (upstream TestReplicaCalcPodMetric)', () => {
  it.each([
    // "scale up"
    {
      sentence: 'an average a third over target scales three pods to four',
      current: 3,
      pods: pods(20000, 10000, 30000),
      threshold: 15000,
      replicas: 4,
      usage: 20000,
    },
    // "scale up: unready hot-CPU pod scales less" — a Running, not-Ready pod still counts for a custom metric
    {
      sentence: 'a running pod that is not Ready still counts for a custom metric',
      current: 3,
      pods: pods(50000, 10000, 30000),
      threshold: 15000,
      replicas: 6,
      usage: 30000,
    },
    // "scale up: unready hot-CPU pods avoid scale-down"
    {
      sentence: 'an average above twice the target scales three pods to seven',
      current: 3,
      pods: pods(50000, 15000, 30000),
      threshold: 15000,
      replicas: 7,
      usage: 31666.67,
    },
    // "scale down"
    {
      sentence: 'an average of 60 % of target scales five pods to three',
      current: 5,
      pods: pods(12000, 12000, 12000, 12000, 12000),
      threshold: 20000,
      replicas: 3,
      usage: 12000,
    },
    // "within default tolerance"
    {
      sentence: 'an average 3 % over target is within the default tolerance',
      current: 3,
      pods: pods(20000, 21000, 21000),
      threshold: 20000,
      replicas: 3,
      usage: 20666.67,
    },
    // "outside configurable 1% tolerance"
    {
      sentence: 'an average 3 % over target scales up with a 1 % scale-up tolerance',
      current: 3,
      pods: pods(20000, 21000, 21000),
      threshold: 20000,
      tolerance: upOnePercent,
      replicas: 4,
      usage: 20666.67,
    },
    // "no change: missing metrics"
    {
      sentence: 'an on-target average with two pods missing keeps the count',
      current: 5,
      pods: pods(20000, 19000, 21000, undefined, undefined),
      threshold: 20000,
      replicas: 5,
      usage: 20000,
    },
    // "rolling update with maxSurge: extra pod missing metric"
    {
      sentence: 'a surge pod without metrics cannot push a scale-down into a scale-up',
      current: 2,
      pods: pods(10000, 10000, undefined),
      threshold: 17000,
      replicas: 2,
      usage: 10000,
    },
  ])('$sentence', ({ current, pods: list, threshold, tolerance, replicas, usage }) => {
    const result = desiredReplicasForMetric({
      currentReplicas: current,
      pods: list,
      threshold,
      tolerance,
    });
    expect(result.replicas).toBe(replicas);
    expect(result.usageRatio).toBeCloseTo(usage / threshold, 4);
  });
});

describe('CPU utilization (upstream TestReplicaCalcResourceScale)', () => {
  it.each([
    // "scale up"
    {
      sentence: 'pods at 30, 50 and 70 % against 30 % scale from three to five',
      current: 3,
      pods: cpu(300, 500, 700),
      target: 30,
      replicas: 5,
    },
    // "scale up: container metric"
    {
      sentence: 'the chosen container at 30, 50 and 70 % scales from three to five',
      current: 3,
      pods: cpu(300, 500, 700),
      target: 30,
      replicas: 5,
    },
    // "scale up: unready pod scales less"
    {
      sentence: 'an unready pod counts as idle on scale-up, so three scale to four',
      current: 3,
      pods: unready(cpu(300, 500, 700), 0),
      target: 30,
      replicas: 4,
    },
    // "scale up: hot-CPU container scales less"
    {
      sentence: 'a container still initialising counts as idle on scale-up',
      current: 3,
      pods: unready(cpu(300, 500, 700), 0),
      target: 30,
      replicas: 4,
    },
    // "scale up: hot-CPU pod scales less"
    {
      sentence: 'a pod still initialising counts as idle on scale-up',
      current: 3,
      pods: unready(cpu(300, 500, 700), 0),
      target: 30,
      replicas: 4,
    },
    // "no scale: unready pods ignored"
    {
      sentence: 'two idle unready pods turn a scale-up into no change',
      current: 3,
      pods: unready(cpu(400, 500, 700), 1, 2),
      target: 30,
      replicas: 3,
    },
    // "no scale: hot-CPU pods ignored"
    {
      sentence: 'two initialising pods turn a scale-up into no change',
      current: 3,
      pods: unready(cpu(400, 500, 700), 1, 2),
      target: 30,
      replicas: 3,
    },
    // "scale up: failed pods ignored"
    {
      sentence: 'with failed pods left out, two pods at 50 and 70 % scale to four',
      current: 2,
      pods: cpu(500, 700),
      target: 30,
      replicas: 4,
    },
    // "scale up: failed pods ignored with missing container metric"
    {
      sentence: 'failed pods without the container metric are left out too',
      current: 2,
      pods: cpu(500, 700),
      target: 30,
      replicas: 4,
    },
    // "scale up: container metrics with failed pods ignored"
    {
      sentence: 'failed pods are left out of a container metric',
      current: 2,
      pods: cpu(500, 700),
      target: 30,
      replicas: 4,
    },
    // "scale up: succeeded pods ignored"
    {
      sentence: 'succeeded pods are left out',
      current: 2,
      pods: cpu(500, 700),
      target: 30,
      replicas: 4,
    },
    // "scale up: container metric with succeeded pods ignored"
    {
      sentence: 'succeeded pods are left out of a container metric',
      current: 2,
      pods: cpu(500, 700),
      target: 30,
      replicas: 4,
    },
    // "scale up: pods being deleted are ignored"
    {
      sentence: 'terminating pods are left out',
      current: 2,
      pods: cpu(500, 700),
      target: 30,
      replicas: 4,
    },
    // "scale up: container metrics with pods being deleted ignored"
    {
      sentence: 'terminating pods are left out of a container metric',
      current: 2,
      pods: cpu(500, 700),
      target: 30,
      replicas: 4,
    },
    // "scale down"
    {
      sentence: 'an average of 28 % against 50 % scales five pods to three',
      current: 5,
      pods: cpu(100, 300, 500, 250, 250),
      target: 50,
      replicas: 3,
    },
    // "scale down: container metric"
    {
      sentence: 'a container average of 28 % against 50 % scales five pods to three',
      current: 5,
      pods: cpu(100, 300, 500, 250, 250),
      target: 50,
      replicas: 3,
    },
    // "scale down: exclude unready pods"
    {
      sentence: 'unready pods are left out of a scale-down',
      current: 5,
      pods: unready(cpu(100, 300, 500, 250, 250), 3, 4),
      target: 50,
      replicas: 2,
    },
    // "scale down: container metric excludes unready pods"
    {
      sentence: 'unready pods are left out of a container scale-down',
      current: 5,
      pods: unready(cpu(100, 300, 500, 250, 250), 3, 4),
      target: 50,
      replicas: 2,
    },
    // "scale down: exclude unscheduled pods"
    {
      sentence: 'pending pods without metrics do not hold up a scale-down',
      current: 5,
      pods: unready(cpu(100, undefined, undefined, undefined, undefined), 1, 2, 3, 4),
      target: 50,
      replicas: 1,
    },
    // "scale down: container metric excludes unscheduled pods"
    {
      sentence: 'pending pods are left out even when they report',
      current: 5,
      pods: unready(cpu(100, 300, 500, 250, 250), 1, 2, 3, 4),
      target: 50,
      replicas: 1,
    },
    // "scale down: ignore hot-CPU pods"
    {
      sentence: 'initialising pods are left out of a scale-down',
      current: 5,
      pods: unready(cpu(100, 300, 500, 250, 250), 3, 4),
      target: 50,
      replicas: 2,
    },
    // "scale down: container metric ignores hot-CPU pods"
    {
      sentence: 'busy initialising pods are left out of a container scale-down',
      current: 5,
      pods: unready(cpu(100, 300, 500, 1000, 1000), 3, 4),
      target: 50,
      replicas: 2,
    },
    // "scale down: failed pods ignored"
    {
      sentence: 'failed pods are left out of a scale-down',
      current: 5,
      pods: cpu(100, 300, 500, 250, 250),
      target: 50,
      replicas: 3,
    },
    // "scale down: container metric with failed pods ignored"
    {
      sentence: 'failed pods are left out of a container scale-down',
      current: 5,
      pods: cpu(100, 300, 500, 250, 250),
      target: 50,
      replicas: 3,
    },
    // "scale down: succeeded pods ignored"
    {
      sentence: 'succeeded pods are left out of a scale-down',
      current: 5,
      pods: cpu(100, 300, 500, 250, 250),
      target: 50,
      replicas: 3,
    },
    // "scale down: container metric with succeeded pods ignored"
    {
      sentence: 'succeeded pods are left out of a container scale-down',
      current: 5,
      pods: cpu(100, 300, 500, 250, 250),
      target: 50,
      replicas: 3,
    },
    // "scale down: pods being deleted are ignored"
    {
      sentence: 'terminating pods are left out of a scale-down',
      current: 5,
      pods: cpu(100, 300, 500, 250, 250),
      target: 50,
      replicas: 3,
    },
    // "scale down: still-running pods being deleted are ignored"
    {
      sentence: 'still-running terminating pods are left out of a scale-down',
      current: 5,
      pods: cpu(100, 300, 500, 250, 250),
      target: 50,
      replicas: 3,
    },
  ])('$sentence', ({ current, pods: list, target, replicas }) => {
    const result = desiredReplicasForMetric({
      currentReplicas: current,
      pods: list,
      threshold: target,
      missingValueOnScaleDown: Math.max(100, target),
    });
    expect(result.replicas).toBe(replicas);
  });
});

describe('tolerance (upstream TestReplicaCalcResourceTolerance, TestReplicaCalcComputedToleranceAlgImplementation)', () => {
  it.each([
    // TestReplicaCalcResourceTolerance "within default tolerance"
    {
      sentence: '102 % of target is within the default 10 %',
      pods: cpu(1010, 1030, 1020),
      target: 100,
      replicas: 3,
    },
    // "outside 0% tolerance"
    {
      sentence: '101 % of target scales up with no tolerance',
      pods: cpu(909, 1010, 1111),
      target: 100,
      tolerance: 0,
      replicas: 4,
    },
    // "within 200% scale-up tolerance"
    {
      sentence: '190 % of target is within a 200 % scale-up tolerance',
      pods: cpu(1890, 1910, 1900),
      target: 100,
      tolerance: { scaleDown: 0.1, scaleUp: 2 },
      replicas: 3,
    },
    // "outside 8% scale-up tolerance (superfluous scale-down tolerance)"
    {
      sentence: '109 % of target scales up past an 8 % scale-up tolerance',
      pods: cpu(1100, 1080, 1090),
      target: 100,
      tolerance: { scaleDown: 2, scaleUp: 0.08 },
      replicas: 4,
    },
    // "within 36% scale-down tolerance"
    {
      sentence: '65 % of target is within a 36 % scale-down tolerance',
      pods: cpu(660, 640, 650),
      target: 100,
      tolerance: { scaleDown: 0.36, scaleUp: 0.1 },
      replicas: 3,
    },
    // "outside 34% scale-down tolerance"
    {
      sentence: '65 % of target scales down past a 34 % scale-down tolerance',
      pods: cpu(660, 640, 650),
      target: 100,
      tolerance: { scaleDown: 0.34, scaleUp: 0.1 },
      replicas: 2,
    },
    // TestReplicaCalcComputedToleranceAlgImplementation, first half: 50 % against int32(56.6) = 56
    {
      sentence: 'ten pods at 50 % against 56 % fall just outside tolerance and scale to nine',
      pods: pods(...Array<number>(10).fill(50)),
      target: 56,
      replicas: 9,
    },
    // TestReplicaCalcComputedToleranceAlgImplementation, second half: 50 % against int32(55.96) = 55
    {
      sentence: 'ten pods at 50 % against 55 % stay just inside tolerance',
      pods: pods(...Array<number>(10).fill(50)),
      target: 55,
      replicas: 10,
    },
  ])('$sentence', ({ pods: list, target, tolerance, replicas }) => {
    const result = desiredReplicasForMetric({
      currentReplicas: list.length,
      pods: list,
      threshold: target,
      tolerance,
    });
    expect(result.replicas).toBe(replicas);
  });
});

describe('missing metrics (upstream TestReplicaCalcResourceMissingMetrics)', () => {
  it.each([
    // "some pods missing metrics scales down"
    {
      sentence: 'missing pods count as fully used, so four pods scale down only to three',
      current: 4,
      pods: cpu(400, 95, undefined, undefined),
      target: 100,
      replicas: 3,
      reason: 'BelowTarget',
    },
    // "no change: metric equal to target"
    {
      sentence: 'an on-target pod and a missing one keep the count',
      current: 2,
      pods: cpu(1000, undefined),
      target: 100,
      replicas: 2,
      reason: 'WithinTolerance',
    },
    // "no change: metric above target"
    {
      sentence: 'a missing pod counts as idle on scale-up, which cancels the scale-up',
      current: 2,
      pods: cpu(1900, undefined),
      target: 100,
      replicas: 2,
      reason: 'WithinTolerance',
    },
    // "no change: metric below target"
    {
      sentence: 'a missing pod counts as fully used on scale-down, which cancels the scale-down',
      current: 2,
      pods: cpu(600, undefined),
      target: 100,
      replicas: 2,
      reason: 'BelowTarget',
    },
    // "no change: unready pod metric missing"
    {
      sentence: 'a missing pod that would reverse a small scale-down keeps the count',
      current: 3,
      pods: unready(cpu(100, 450, undefined), 0),
      target: 50,
      replicas: 3,
      reason: 'Inconclusive',
    },
    // "no change: hot-CPU pod metric missing"
    {
      sentence: 'the same with an initialising pod keeps the count',
      current: 3,
      pods: unready(cpu(100, 450, undefined), 0),
      target: 50,
      replicas: 3,
      reason: 'Inconclusive',
    },
    // "scale up: unready pod metric missing"
    {
      sentence: 'an unready and a missing pod both count as idle on scale-up',
      current: 3,
      pods: unready(cpu(100, 2000, undefined), 0),
      target: 50,
      replicas: 4,
      reason: 'AboveTarget',
    },
    // "scale up: hot-CPU pod metric missing"
    {
      sentence: 'an initialising and a missing pod both count as idle on scale-up',
      current: 3,
      pods: unready(cpu(100, 2000, undefined), 0),
      target: 50,
      replicas: 4,
      reason: 'AboveTarget',
    },
    // "scale down: unready pod metric missing"
    {
      sentence: 'a scale-down with a missing pod counted as fully used goes to three',
      current: 4,
      pods: unready(cpu(100, 100, 100, undefined), 0),
      target: 50,
      replicas: 3,
      reason: 'BelowTarget',
    },
    // "rolling update with maxSurge: extra pod missing metric"
    {
      sentence: 'a surge pod without metrics cannot push a scale-down above the current count',
      current: 2,
      pods: cpu(100, 100, undefined),
      target: 50,
      replicas: 2,
      reason: 'Inconclusive',
    },
    // "disjoint pod and metric names" (upstream: error "no metrics returned matched known pods")
    {
      sentence: 'no sample from any known pod keeps the count',
      current: 1,
      pods: cpu(undefined),
      target: 100,
      replicas: 1,
      reason: 'FailedGetPodsMetric',
    },
    // "no metrics returned from metrics API" (upstream: error)
    {
      sentence: 'no samples at all keep the count',
      current: 4,
      pods: cpu(undefined, undefined, undefined),
      target: 100,
      replicas: 4,
      reason: 'FailedGetPodsMetric',
    },
  ])('$sentence', ({ current, pods: list, target, replicas, reason }) => {
    const result = desiredReplicasForMetric({
      currentReplicas: current,
      pods: list,
      threshold: target,
      missingValueOnScaleDown: Math.max(100, target),
    });
    expect({ replicas: result.replicas, reason: result.reason }).toEqual({ replicas, reason });
  });
});

describe('a total against a per-replica target (upstream TestReplicaCalcObjectPerPodMetric, TestReplicaCalcExternalPerPodMetric)', () => {
  const MAX_INT64 = Number(2n ** 63n - 1n);
  it.each([
    // TestReplicaCalcObjectPerPodMetric "usage overflow with huge target leaves replicas unchanged"
    {
      sentence: 'a huge total against an equally huge target keeps one replica',
      current: 1,
      total: MAX_INT64,
      threshold: MAX_INT64,
      replicas: 1,
    },
    // "scale up"
    {
      sentence: 'a total of four targets served by three replicas scales to four',
      current: 3,
      total: 20000,
      threshold: 5000,
      replicas: 4,
    },
    // "scale down"
    {
      sentence: 'a total of three targets served by five replicas scales to three',
      current: 5,
      total: 6000,
      threshold: 2000,
      replicas: 3,
    },
    // "within default tolerance"
    {
      sentence: 'a total 1 % over four targets keeps four replicas',
      current: 4,
      total: 20166,
      threshold: 5000,
      replicas: 4,
    },
    // "outside configurable 1% tolerance"
    {
      sentence: 'a total 1.04 % over four targets scales to five with a 1 % tolerance',
      current: 4,
      total: 20208,
      threshold: 5000,
      tolerance: upOnePercent,
      replicas: 5,
    },
    // "statusReplicas zero does not overflow usage"
    {
      sentence: 'at zero replicas a total of four targets wakes four',
      current: 0,
      total: 20000,
      threshold: 5000,
      replicas: 4,
    },
    // "statusReplicas zero and metric zero does not underflow"
    {
      sentence: 'at zero replicas no load wakes none',
      current: 0,
      total: 0,
      threshold: 5000,
      replicas: 0,
    },
    // TestReplicaCalcExternalPerPodMetric "usage overflow with huge target leaves replicas unchanged"
    {
      sentence: 'a huge external total against an equally huge target keeps one replica',
      current: 1,
      total: MAX_INT64,
      threshold: MAX_INT64,
      replicas: 1,
    },
    // "statusReplicas zero does not overflow usage"
    {
      sentence: 'at zero replicas an external total of four targets wakes four',
      current: 0,
      total: 20000,
      threshold: 5000,
      replicas: 4,
    },
    // "statusReplicas zero and metric zero does not underflow"
    {
      sentence: 'at zero replicas no external load wakes none',
      current: 0,
      total: 0,
      threshold: 5000,
      replicas: 0,
    },
    // "scale up"
    {
      sentence: 'an external total of exactly four targets scales three replicas to four',
      current: 3,
      total: 8600,
      threshold: 2150,
      replicas: 4,
    },
    // "scale down"
    {
      sentence: 'an external total of three targets scales five replicas to three',
      current: 5,
      total: 8600,
      threshold: 2867,
      replicas: 3,
    },
    // "within default tolerance"
    {
      sentence: 'an external total 1 % under three targets keeps three replicas',
      current: 3,
      total: 8600,
      threshold: 2900,
      replicas: 3,
    },
    // "outside configurable 1% tolerance"
    {
      sentence: 'an external total 2 % over three targets scales to four with a 1 % tolerance',
      current: 3,
      total: 8600,
      threshold: 2800,
      tolerance: upOnePercent,
      replicas: 4,
    },
  ])('$sentence', ({ current, total, threshold, tolerance, replicas }) => {
    const result = desiredReplicasFromTotal({
      currentReplicas: current,
      total,
      threshold,
      tolerance,
    });
    expect(result.replicas).toBe(replicas);
  });
});
