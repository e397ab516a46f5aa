/**
 * Whether a metrics observation would change anything the workflow decides
 * (DeploymentEntity.observationMatters): the observer asks before signalling one that only moved
 * past tolerance, and an answer of no saves the signal and its history events. Each row sets up
 * the entity as the workflow does (observe, decide), then offers the next observation.
 */
import { describe, expect, it, vi } from 'vitest';
import { DeploymentEntity } from '../../workflows/deployment/entity';
import {
  OBSERVATION_REFRESH_MS,
  type MetricsObservation,
} from '../../workflows/deployment/metrics';
import { validateSpec, type DeploymentSpec } from '../../workflows/domain/spec';
import { observation as observed } from '../helpers/observations';

vi.mock('../../workflows/domain/lazy-spec', async () => ({
  validateSpec: (await import('../../workflows/domain/spec')).validateSpec,
}));

const T0 = Date.parse('2025-01-06T12:00:00Z');
const SECOND = 1000;

function spec(fields: Record<string, unknown> = {}): DeploymentSpec {
  const result = validateSpec({
    model: 'm',
    cloud: { type: 'dedicated', accelerator: { type: 'H100' } },
    scaling: { minReplicas: 1, maxReplicas: 8, metric: 'concurrency', threshold: 8 },
    autoscalingPolicy: {},
    ...fields,
  });
  if (!result.ok) throw new Error(JSON.stringify(result.violations));
  return result.value;
}

/** In flight per replica on each replica, at `time`; `burst`: the short window's total. */
function observation(time: number, perReplica: number[], burst?: number): MetricsObservation {
  const at = new Date(time).toISOString();
  return observed(perReplica, {
    time: at,
    lastRequestAt: at,
    ...(burst !== undefined
      ? { shortWindow: { seconds: 6, concurrency: burst, throughput: 0 } }
      : {}),
  });
}

/** A running deployment at `replicas` that took `first` in at T0 and decided on it. */
function running(replicas: number, first: MetricsObservation, s = spec()): DeploymentEntity {
  const d = new DeploymentEntity({ workspace: 'ws', name: 'n', spec: s }, new Date(T0 - 60_000));
  Object.assign(d, { state: 'running', activeRevision: 1, desiredReplicas: replicas });
  d.observeMetrics(first);
  d.decide(new Date(T0));
  expect(d.desiredReplicas).toBe(replicas); // the set-up itself changed nothing
  return d;
}

describe('observationMatters', () => {
  it('a load that moved within one replica count changes nothing', () => {
    // 3 replicas at 8 each: exactly the threshold; 8.8 each is within tolerance, 7.3 too
    const d = running(3, observation(T0, [8, 8, 8]));
    expect(d.observationMatters(observation(T0 + 30 * SECOND, [8.8, 8.8, 8.8]))).toBe(false);
    expect(d.observationMatters(observation(T0 + 60 * SECOND, [7.3, 7.3, 7.3]))).toBe(false);
  });

  it('a load that wants another replica count matters, up or down', () => {
    const d = running(3, observation(T0, [8, 8, 8]));
    expect(d.observationMatters(observation(T0 + 30 * SECOND, [12, 12, 12]))).toBe(true);
    expect(d.observationMatters(observation(T0 + 30 * SECOND, [3, 3, 3]))).toBe(true);
  });

  it('while a scale-in is held, another lower load of the same recommendation changes nothing', () => {
    const d = running(3, observation(T0, [8, 8, 8]));
    d.observeMetrics(observation(T0 + 10 * SECOND, [4.5, 4.5, 4.5])); // recommends 2: held by the window
    d.decide(new Date(T0 + 10 * SECOND));
    expect(d.desiredReplicas).toBe(3);
    expect(d.observationMatters(observation(T0 + 40 * SECOND, [5.2, 5.2, 5.2]))).toBe(false);
    // ...but one recommending 1 does: it is what the window lets go to when the 3 expires
    expect(d.observationMatters(observation(T0 + 40 * SECOND, [2, 2, 2]))).toBe(true);
  });

  it('a burst past twice the threshold matters under rapid autoscaling', () => {
    const d = running(
      2,
      observation(T0, [8, 8]),
      spec({
        scaling: {
          minReplicas: 1,
          maxReplicas: 8,
          metric: 'concurrency',
          threshold: 8,
          rapidAutoscaling: true,
        },
      }),
    );
    expect(d.observationMatters(observation(T0 + 30 * SECOND, [8.5, 8.5]))).toBe(false);
    expect(d.observationMatters(observation(T0 + 30 * SECOND, [8.5, 8.5], 40))).toBe(true);
  });

  it('the held observation is replaced once it is OBSERVATION_REFRESH_MS old, whatever the next says', () => {
    const d = running(3, observation(T0, [8, 8, 8]));
    expect(
      d.observationMatters(observation(T0 + OBSERVATION_REFRESH_MS - 1, [8.5, 8.5, 8.5])),
    ).toBe(false);
    expect(d.observationMatters(observation(T0 + OBSERVATION_REFRESH_MS, [8.5, 8.5, 8.5]))).toBe(
      true,
    );
  });

  it('when in doubt it matters: not running, nothing held yet, older histories, an unreadable time', () => {
    const paused = running(3, observation(T0, [8, 8, 8]));
    paused.state = 'paused';
    expect(paused.observationMatters(observation(T0 + SECOND, [8, 8, 8]))).toBe(true);

    const fresh = new DeploymentEntity({ workspace: 'ws', name: 'n', spec: spec() }, new Date(T0));
    Object.assign(fresh, { state: 'running', activeRevision: 1, desiredReplicas: 3 });
    expect(fresh.observationMatters(observation(T0 + SECOND, [8, 8, 8]))).toBe(true);

    const older = running(3, observation(T0, [8, 8, 8]));
    older.recommendationsAsPoints = true; // before RECOMMENDATION_IN_FORCE_PATCH
    expect(older.observationMatters(observation(T0 + SECOND, [8, 8, 8]))).toBe(true);

    const d = running(3, observation(T0, [8, 8, 8]));
    expect(d.observationMatters({ ...observation(T0, [8, 8, 8]), time: 'not a time' })).toBe(true);
  });

  it('asking changes nothing in the entity', () => {
    const d = running(3, observation(T0, [8, 8, 8]));
    const before = JSON.stringify(d.autoscaler);
    d.observationMatters(observation(T0 + 30 * SECOND, [20, 20, 20]));
    expect(JSON.stringify(d.autoscaler)).toBe(before);
    expect(d.decisionDue).toBe(false);
  });
});
