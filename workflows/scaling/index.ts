/**
 * The scaling core: Kubernetes HPA v2 semantics as pure functions, safe in the workflow sandbox.
 * desiredReplicasForMetric / desiredReplicasFromTotal say what the metric asks for;
 * normalizeWithBehavior turns that into the count to set; storeScaleEvent records what was set.
 */
export {
  DEFAULT_TOLERANCE,
  desiredReplicasForMetric,
  desiredReplicasFromTotal,
  type DesiredReplicasForMetricInput,
  type DesiredReplicasFromTotalInput,
  type MetricReason,
  type MetricRecommendation,
  type PodSample,
  type Tolerance,
} from './replica-calculator';
export {
  KUBERNETES_DEFAULT_BEHAVIOR,
  limitByRate,
  longestPolicyPeriodSeconds,
  normalizeWithBehavior,
  pruneScaleEvents,
  recordScaleEvent,
  replicasChangedInPeriod,
  scaleDownLimit,
  scaleUpLimit,
  stabilizeRecommendation,
  storeScaleEvent,
  type LimitByRateInput,
  type NormalizedDecision,
  type NormalizeInput,
  type PolicyLimit,
  type ScaleLimitInput,
  type StabilizedRecommendation,
  type StabilizeInput,
  type StoreScaleEventInput,
} from './behavior';
export type {
  AutoscalingPolicy,
  LimitedBy,
  Recommendation,
  ScaleEvent,
  ScalingDecision,
  ScalingPolicy,
  ScalingReason,
  ScalingRules,
} from './types';
