/** The deployment entity's pure decisions: the reconcile step, health, replica bounds. */
import { describe, expect, it } from 'vitest';
import {
  DeploymentEntity,
  clampReplicas,
  initialReplicas,
} from '../../workflows/deployment/entity';
import { evaluateHealth } from '../../workflows/deployment/health';
import { validateSpec, type DeploymentSpec } from '../../workflows/domain/spec';

function spec(scaling: Record<string, unknown> = {}): DeploymentSpec {
  const result = validateSpec({
    model: 'm',
    cloud: { type: 'dedicated', accelerator: { type: 'H100' } },
    scaling: { minReplicas: 1, maxReplicas: 4, ...scaling },
  });
  if (!result.ok) throw new Error(JSON.stringify(result.violations));
  return result.value;
}

function entity(
  fields: Partial<
    Pick<
      DeploymentEntity,
      'state' | 'revision' | 'activeRevision' | 'desiredReplicas' | 'appliedReplicas'
    >
  >,
): DeploymentEntity {
  const d = new DeploymentEntity({ workspace: 'ws', name: 'n', spec: spec() }, new Date(0));
  return Object.assign(d, fields);
}

describe('nextStep', () => {
  it.each([
    [
      'a deployment being deleted is torn down',
      { state: 'deleting' as const, activeRevision: 1 },
      'tearDown',
    ],
    [
      'a paused deployment with replicas is halted',
      { state: 'paused' as const, activeRevision: 1 },
      'halt',
    ],
    [
      'a paused deployment without replicas waits, even with a newer revision',
      { state: 'paused' as const, activeRevision: null, revision: 2 },
      'idle',
    ],
    [
      'a running deployment with nothing running is brought up',
      { state: 'running' as const, activeRevision: null },
      'bringUp',
    ],
    [
      'a newer revision is rolled out',
      { state: 'updating' as const, revision: 2, activeRevision: 1 },
      'rollOut',
    ],
    [
      'a changed replica count is scaled in place',
      { state: 'running' as const, activeRevision: 1, desiredReplicas: 3, appliedReplicas: 1 },
      'scale',
    ],
    [
      'a deployment matching what was asked waits',
      { state: 'running' as const, activeRevision: 1, desiredReplicas: 1, appliedReplicas: 1 },
      'idle',
    ],
  ])('%s', (_sentence, fields, step) => {
    expect(entity(fields).nextStep()).toBe(step);
  });
});

describe('health', () => {
  const base = { readinessTimeoutMs: 10_000, now: Date.parse('2026-01-01T00:00:20Z') };
  it.each([
    ['every desired replica ready is Healthy', { desired: 2, ready: 2 }, 'Healthy'],
    [
      'short of desired within the timeout is Progressing',
      { desired: 2, ready: 1, unreadySince: '2026-01-01T00:00:15Z' },
      'Progressing',
    ],
    [
      'short of desired past the timeout is ProgressingWithTimeout',
      { desired: 2, ready: 1, unreadySince: '2026-01-01T00:00:05Z' },
      'ProgressingWithTimeout',
    ],
    ['scaled to zero is Healthy: the next request wakes it', { desired: 0, ready: 0 }, 'Healthy'],
  ])('%s', (_sentence, input, health) => {
    expect(evaluateHealth({ ...base, ...input })).toBe(health);
  });

  it('records each health transition once, with a reason', () => {
    const d = entity({ state: 'running', activeRevision: 1, desiredReplicas: 1 });
    const status = {
      deploymentId: 'ws/n',
      revision: 1,
      exists: true,
      desired: 1,
      ready: 1,
      restarts: 0,
      replicas: [],
    };
    d.observe(status, new Date(1000));
    d.observe(status, new Date(2000));
    expect(d.events.map((e) => [e.type, e.reason])).toEqual([['Health', 'ReplicasReady']]);
    d.observe(
      {
        ...status,
        ready: 0,
        restarts: 1,
        replicas: [
          {
            id: 'r1',
            url: '',
            ready: false,
            restarts: 1,
            startedAt: '',
            message: 'exited with code 137',
          },
        ],
      },
      new Date(3000),
    );
    expect(d.events.slice(1).map((e) => e.reason)).toEqual([
      'ReplicaRestarted',
      'ReplicasNotReady',
    ]);
    expect(d.events[1]!.message).toContain('exited with code 137');
  });
});

describe('replica bounds', () => {
  it.each([
    ['starts at minReplicas', spec({ minReplicas: 2 }), 2],
    [
      'starts at one when minReplicas is 0, so it can serve at once',
      spec({ minReplicas: 0, scaleToZero: { enabled: true } }),
      1,
    ],
  ])('initialReplicas %s', (_s, s, n) => expect(initialReplicas(s)).toBe(n));

  it.each([
    ['keeps a count inside the bounds', 3, spec(), 3],
    ['lowers a count above a new max', 6, spec({ maxReplicas: 2 }), 2],
    ['raises a count below a new min', 1, spec({ minReplicas: 3 }), 3],
  ])('clampReplicas %s', (_s, current, s, n) => expect(clampReplicas(current, s)).toBe(n));
});
