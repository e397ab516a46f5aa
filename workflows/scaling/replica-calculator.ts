/**
 * How many replicas a metric asks for: Kubernetes' replica calculator
 * (pkg/controller/podautoscaler/replica_calculator.go), ported for the product's per-replica
 * metrics. Pure: the caller gathers the samples, this only does the arithmetic.
 */

/** Upstream's default --horizontal-pod-autoscaler-tolerance: ignore changes within ±10 %. */
export const DEFAULT_TOLERANCE = 0.1;

/** A symmetric tolerance, or upstream's per-direction pair (behavior.scaleUp/scaleDown.tolerance). */
export type Tolerance = number | { scaleUp: number; scaleDown: number };

/**
 * One replica's latest sample.
 *
 * `ready: false` puts the pod in upstream's *unready* set: a Pending pod, or (for CPU) one that
 * is not Ready or still initialising. Its value is never trusted; it counts as 0 when the others
 * point to scale-up and is left out otherwise. A ready pod without `value` is *missing*.
 * Terminating and failed pods are left out of `pods` by the caller (upstream's ignored set).
 */
export interface PodSample {
  name: string;
  ready: boolean;
  value?: number;
}

/**
 * `FailedGetPodsMetric` is upstream's condition reason when no usable sample exists; the others
 * are this module's own, since upstream reports the calculator's outcome only as a number.
 */
export type MetricReason =
  'AboveTarget' | 'BelowTarget' | 'WithinTolerance' | 'Inconclusive' | 'FailedGetPodsMetric';

export interface MetricRecommendation {
  replicas: number;
  /**
   * Observed load over the target, 1 = on target: the ready samples' average / threshold, or for
   * a total, total / (threshold × current), total / threshold at zero. Null without samples.
   */
  usageRatio: number | null;
  reason: MetricReason;
  message: string;
}

export interface DesiredReplicasForMetricInput {
  currentReplicas: number;
  pods: readonly PodSample[];
  /** Target average per replica, in the samples' unit. */
  threshold: number;
  tolerance?: Tolerance;
  /**
   * Value assumed for a missing pod when the others point to scale-down. Upstream assumes the
   * target for plain metrics (the default here) and max(100, target) % of the request for
   * resource utilization, so pass `Math.max(100, threshold)` for a utilization percentage.
   */
  missingValueOnScaleDown?: number;
}

/**
 * Desired replicas for a per-replica metric (upstream's calcPlainMetricReplicas):
 *
 * 1. Split the pods into ready-with-sample, missing (ready, no sample) and unready.
 * 2. No usable sample: keep the current count (upstream fails the metric; it never scales on
 *    no data).
 * 3. usageRatio = average of the ready samples / threshold.
 * 4. Nothing missing, and no unready pod while scaling up: within tolerance keep the count,
 *    else ceil(usageRatio × ready samples).
 * 5. Otherwise assume the worst for the direction: on scale-down a missing pod uses the target
 *    (so missing metrics never speed a scale-down); on scale-up missing and unready pods use 0
 *    (so a burst of starting pods does not inflate it).
 * 6. Recompute the ratio. Within tolerance, or pointing the other way now: keep the count.
 * 7. ceil(new ratio × pods counted); if that moved against the ratio's direction, keep the count.
 */
export function desiredReplicasForMetric(
  input: DesiredReplicasForMetricInput,
): MetricRecommendation {
  const { currentReplicas, pods, threshold } = input;
  const tolerance = toleranceOf(input.tolerance);
  const missingValue = input.missingValueOnScaleDown ?? threshold;

  // 1.
  const sampled: number[] = [];
  let missing = 0;
  let unready = 0;
  for (const pod of pods) {
    if (!pod.ready) unready++;
    else if (pod.value === undefined) missing++;
    else sampled.push(pod.value);
  }

  // 2.
  if (sampled.length === 0) {
    return {
      replicas: currentReplicas,
      usageRatio: null,
      reason: 'FailedGetPodsMetric',
      message:
        pods.length === 0
          ? `no replicas to measure: keeping ${currentReplicas}`
          : `no ready replica reported the metric (${missing} missing, ${unready} unready): keeping ${currentReplicas}`,
    };
  }

  // 3.
  const usageRatio = average(sampled) / threshold;
  const scaleUpWithUnready = unready > 0 && usageRatio > 1;

  // 4.
  if (!scaleUpWithUnready && missing === 0) {
    if (isWithin(usageRatio, tolerance)) {
      return within(currentReplicas, usageRatio, `average is ${ratioText(usageRatio)} the target`);
    }
    return scaled(currentReplicas, ceilReplicas(usageRatio * sampled.length), usageRatio);
  }

  // 5.
  const assumed = [...sampled];
  const notes: string[] = [];
  if (missing > 0 && usageRatio < 1) {
    assumed.push(...Array<number>(missing).fill(missingValue));
    notes.push(`${missing} missing at ${missingValue}`);
  } else if (missing > 0 && usageRatio > 1) {
    assumed.push(...Array<number>(missing).fill(0));
    notes.push(`${missing} missing at 0`);
  }
  if (scaleUpWithUnready) {
    assumed.push(...Array<number>(unready).fill(0));
    notes.push(`${unready} unready at 0`);
  }
  const assumption = notes.length > 0 ? ` with ${notes.join(' and ')}` : '';

  // 6.
  const newRatio = average(assumed) / threshold;
  if (isWithin(newRatio, tolerance)) {
    return within(
      currentReplicas,
      usageRatio,
      `average${assumption} is ${ratioText(newRatio)} the target`,
    );
  }
  if ((usageRatio < 1 && newRatio > 1) || (usageRatio > 1 && newRatio < 1)) {
    return inconclusive(
      currentReplicas,
      usageRatio,
      `samples say ${ratioText(usageRatio)} the target but${assumption} ${ratioText(newRatio)}`,
    );
  }

  // 7.
  const replicas = ceilReplicas(newRatio * assumed.length);
  if (
    (newRatio < 1 && replicas > currentReplicas) ||
    (newRatio > 1 && replicas < currentReplicas)
  ) {
    return inconclusive(
      currentReplicas,
      usageRatio,
      `average${assumption} is ${ratioText(newRatio)} the target, yet counting those pods gives ${replicas}`,
    );
  }
  return scaled(currentReplicas, replicas, usageRatio, assumption);
}

export interface DesiredReplicasFromTotalInput {
  /** Sum over all replicas, e.g. requests per second across the deployment. */
  total: number;
  /** Target per replica. */
  threshold: number;
  /** 0 when scaled to zero: then there is no band to stay within, the load alone decides. */
  currentReplicas?: number;
  tolerance?: Tolerance;
}

/**
 * Desired replicas from a deployment-wide total with a per-replica target (upstream's
 * AverageValue targets: GetObjectPerPodMetricReplicas / GetExternalPerPodMetricReplicas).
 * This is what wakes a deployment from zero, where there are no per-pod samples to average:
 *
 * 1. At zero replicas: ceil(total / threshold), no tolerance (upstream's
 *    getUsageRatioReplicaCount for currentReplicas = 0).
 * 2. Otherwise usageRatio = total / (threshold × current); within tolerance keep the count,
 *    else ceil(total / threshold).
 */
export function desiredReplicasFromTotal(
  input: DesiredReplicasFromTotalInput,
): MetricRecommendation {
  const { total, threshold } = input;
  const currentReplicas = input.currentReplicas ?? 0;

  // 1.
  if (currentReplicas === 0) {
    const replicas = ceilReplicas(total / threshold);
    const usageRatio = total / threshold;
    if (replicas === 0) return within(0, usageRatio, `total ${total} needs no replica`);
    return scaled(0, replicas, usageRatio, ` from a total of ${total}`);
  }

  // 2.
  const usageRatio = total / (threshold * currentReplicas);
  if (isWithin(usageRatio, toleranceOf(input.tolerance))) {
    return within(
      currentReplicas,
      usageRatio,
      `total ${total} is ${ratioText(usageRatio)} the target`,
    );
  }
  return scaled(
    currentReplicas,
    ceilReplicas(total / threshold),
    usageRatio,
    ` from a total of ${total}`,
  );
}

// ---------------------------------------------------------------------------------------------

/** Far below any real difference, far above float64 rounding error on replica-sized numbers. */
const FLOAT_NOISE = 1e-9;

function toleranceOf(t: Tolerance | undefined): { scaleUp: number; scaleDown: number } {
  if (t === undefined) return { scaleUp: DEFAULT_TOLERANCE, scaleDown: DEFAULT_TOLERANCE };
  return typeof t === 'number' ? { scaleUp: t, scaleDown: t } : t;
}

/**
 * Upstream's Tolerances.isWithin: both ends of the band count as within. Forgiving float noise
 * as ceilReplicas does: seven replicas each at exactly 110 % of 0.7 average 1.1000000000000003×.
 */
function isWithin(ratio: number, t: { scaleUp: number; scaleDown: number }): boolean {
  return 1 - t.scaleDown - FLOAT_NOISE <= ratio && ratio <= 1 + t.scaleUp + FLOAT_NOISE;
}

function average(values: readonly number[]): number {
  return values.reduce((sum, v) => sum + v, 0) / values.length;
}

/**
 * ceil, forgiving float noise: 4.000000000000001 replicas is 4, not 5. Upstream averages integer
 * milli-units, which hides most such noise; plain floats need this instead.
 */
function ceilReplicas(x: number): number {
  return Math.max(0, Math.ceil(x - FLOAT_NOISE));
}

function ratioText(ratio: number): string {
  return `${Number(ratio.toFixed(3))}×`;
}

function within(replicas: number, usageRatio: number, why: string): MetricRecommendation {
  return {
    replicas,
    usageRatio,
    reason: 'WithinTolerance',
    message: `${why}, within tolerance: keeping ${replicas}`,
  };
}

function inconclusive(replicas: number, usageRatio: number, why: string): MetricRecommendation {
  return { replicas, usageRatio, reason: 'Inconclusive', message: `${why}: keeping ${replicas}` };
}

function scaled(
  currentReplicas: number,
  replicas: number,
  usageRatio: number,
  detail = '',
): MetricRecommendation {
  // A ratio outside the band can still round back to the current count (0.85 × 3 pods → 3).
  const up = replicas > currentReplicas || (replicas === currentReplicas && usageRatio > 1);
  const reason: MetricReason = up ? 'AboveTarget' : 'BelowTarget';
  return {
    replicas,
    usageRatio,
    reason,
    message: `usage is ${ratioText(usageRatio)} the target${detail}: ${replicas} replicas (now ${currentReplicas})`,
  };
}
