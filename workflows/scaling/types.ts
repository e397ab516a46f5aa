/**
 * Shapes shared by the scaling core. Plain JSON only: recommendations and scale events live in
 * workflow state and replay histories, so no classes, Maps or Dates (times are epoch ms).
 */
import type { AutoscalingPolicy, ScalingPolicy, ScalingRules } from '../domain/spec';

export type { AutoscalingPolicy, ScalingPolicy, ScalingRules };

/**
 * One past rescale, kept to rate-limit the next ones (upstream's timestampedScaleEvent).
 * As upstream, scale-ups and scale-downs are kept in two lists and `change` is the size of the
 * step, always positive: replicas added in the scale-up list, replicas removed in the other.
 */
export interface ScaleEvent {
  time: number;
  change: number;
}

/** One metric recommendation before stabilization (upstream's timestampedRecommendation). */
export interface Recommendation {
  time: number;
  replicas: number;
}

/** What held a decision back from the metric's recommendation. */
export type LimitedBy = 'stabilization' | 'policy' | 'min' | 'max' | 'none';

/**
 * Upstream's condition reasons, verbatim: AbleToScale (…Stabilized) and ScalingLimited (the
 * rest). Kept identical so a decision reads the same as `kubectl describe hpa`.
 */
export type ScalingReason =
  | 'DesiredWithinRange'
  | 'ScaleUpLimit'
  | 'ScaleDownLimit'
  | 'TooManyReplicas'
  | 'TooFewReplicas'
  | 'ScaleUpStabilized'
  | 'ScaleDownStabilized';

export interface ScalingDecision {
  replicas: number;
  reason: string;
  /** One human sentence: what was recommended and what, if anything, limited it. */
  message: string;
  limitedBy?: LimitedBy;
}
