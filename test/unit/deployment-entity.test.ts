/** The deployment entity's pure decisions: the reconcile step, health, replica bounds. */
import { describe, expect, it, vi } from 'vitest';
import {
  DeploymentEntity,
  clampReplicas,
  initialReplicas,
} from '../../workflows/deployment/entity';
import { evaluateHealth } from '../../workflows/deployment/health';
import { healthMessage } from '../../workflows/deployment/events';
import { validateSpec, type DeploymentSpec } from '../../workflows/domain/spec';

// The workflow loads the schema with a CommonJS require on first use, which webpack resolves in
// the workflow bundle (the workflow suites check it there) but Node cannot for a .ts file here.
vi.mock('../../workflows/domain/lazy-spec', async () => ({
  validateSpec: (await import('../../workflows/domain/spec')).validateSpec,
}));

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
      | 'state'
      | 'revision'
      | 'activeRevision'
      | 'desiredReplicas'
      | 'appliedReplicas'
      | 'decisionDue'
      | 'nextDecisionAt'
      | 'health'
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
    [
      'a running deployment with a decision due decides',
      {
        state: 'running' as const,
        activeRevision: 1,
        desiredReplicas: 1,
        appliedReplicas: 1,
        decisionDue: true,
      },
      'decide',
    ],
    [
      'a paused deployment with a decision due still waits (the spin of issue 8)',
      { state: 'paused' as const, activeRevision: null, decisionDue: true },
      'idle',
    ],
    [
      'a rollout comes before a due decision',
      { state: 'updating' as const, revision: 2, activeRevision: 1, decisionDue: true },
      'rollOut',
    ],
    [
      'a scale step comes before a due decision',
      {
        state: 'running' as const,
        activeRevision: 1,
        desiredReplicas: 2,
        appliedReplicas: 1,
        decisionDue: true,
      },
      'scale',
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

  it.each([
    [false, 'Progressing -> Healthy: scaled to zero; the next request wakes it'],
    [
      true,
      'Progressing -> Healthy: scaled to zero outside its schedule windows; requests get 503 until the next window opens',
    ],
  ])(
    'a deployment at zero says how a request fares (outside windows: %s)',
    (outsideWindows, message) => {
      expect(
        healthMessage('Progressing', 'Healthy', {
          ready: 0,
          desired: 0,
          readinessTimeoutSeconds: 60,
          ...(outsideWindows ? { outsideWindows } : {}),
        }),
      ).toBe(message);
    },
  );

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

const at = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s));

describe('message rules: which write each state allows', () => {
  const states = ['creating', 'running', 'paused', 'updating', 'deleting', 'failed'] as const;
  const allowed: Record<string, string[]> = {
    edit: ['running', 'paused'],
    pause: ['running'],
    resume: ['paused'],
    delete: ['creating', 'running', 'paused', 'updating', 'failed'],
  };
  for (const write of ['edit', 'pause', 'resume', 'delete'] as const) {
    it.each(states.map((state) => [state, allowed[write]!.includes(state)] as const))(
      `${write} while %s: allowed %s`,
      (state, ok) => {
        const d = entity({ state });
        if (ok) expect(() => d.checkWrite(write)).not.toThrow();
        else
          expect(() => d.checkWrite(write)).toThrow(
            expect.objectContaining({ type: 'conflict', message: expect.stringContaining(state) }),
          );
      },
    );
  }

  it('If-Match: the current version passes, any other fails with precondition_failed', () => {
    const d = entity({ state: 'running' });
    expect(() => d.checkWrite('pause', { ifVersion: d.version })).not.toThrow();
    expect(() => d.checkWrite('pause', { ifVersion: 'x.0' })).toThrow(
      expect.objectContaining({ type: 'precondition_failed' }),
    );
    // the precondition is checked first: a stale version to a refused write is 412, not 409
    expect(() => entity({ state: 'deleting' }).checkWrite('pause', { ifVersion: 'x.0' })).toThrow(
      expect.objectContaining({ type: 'precondition_failed' }),
    );
  });

  it('every accepted write makes a new version; reads do not', () => {
    const d = entity({ state: 'running' });
    const v0 = d.version;
    d.view();
    expect(d.version).toBe(v0);
    d.pause(at(1));
    const v1 = d.version;
    d.resume(at(2));
    expect(new Set([v0, v1, d.version]).size).toBe(3);
  });
});

describe('message transitions', () => {
  it('pause, then resume at the initial replica count, each an event', () => {
    const d = entity({ state: 'running', activeRevision: 1, desiredReplicas: 3 });
    d.pause(at(1));
    expect(d.state).toBe('paused');
    d.resume(at(2));
    expect(d).toMatchObject({ state: 'running', desiredReplicas: 1 });
    expect(d.events.map((e) => e.reason)).toEqual(['Paused', 'Resumed']);
  });

  it('an edit of what runs makes a new revision and a rolling update; of scaling, in place', () => {
    const d = entity({
      state: 'running',
      activeRevision: 1,
      desiredReplicas: 1,
      appliedReplicas: 1,
    });
    d.applyEdit({ ...d.spec, scaling: { ...d.spec.scaling, minReplicas: 2 } }, at(1));
    expect(d).toMatchObject({
      state: 'running',
      revision: 1,
      desiredReplicas: 2,
      decisionDue: true,
    });
    d.applyEdit({ ...d.spec, model: 'other' }, at(2));
    expect(d).toMatchObject({ state: 'updating', revision: 2, lastRevisionNumber: 2 });
    expect(d.nextStep()).toBe('rollOut');
  });

  it('an edit accepted just before continue-as-new still gets its decision in the next run', () => {
    const d = entity({
      state: 'running',
      activeRevision: 1,
      desiredReplicas: 3,
      appliedReplicas: 3,
    });
    d.applyEdit(
      { ...d.spec, scaling: { ...d.spec.scaling, minReplicas: 1, maxReplicas: 2 } },
      at(1),
    );
    d.appliedReplicas = d.desiredReplicas; // scaled in place to the new bound (2)
    const next = new DeploymentEntity(
      {
        workspace: 'ws',
        name: 'n',
        spec: d.spec,
        carried: { ...d.carried(), byocOnClusters: false },
      },
      at(2),
    );
    // Without it the next run idled at 2 with no load, never deciding to go down to 1.
    expect(next.decisionDue).toBe(true);
    expect(next.nextStep()).toBe('decide');
  });

  it('a metric observation while paused is kept, and decides nothing until resumed', () => {
    const d = entity({ state: 'paused', activeRevision: null });
    d.observeMetrics({
      time: at(1).toISOString(),
      windowSeconds: 30,
      replicas: [],
      queued: 0,
      shortWindow: { seconds: 6, concurrency: 0, throughput: 0 },
    });
    expect(d.autoscaler.observation).toBeDefined();
    expect(d.nextStep()).toBe('idle');
  });

  it('a decision timer that fires while paused is spent, not re-armed', () => {
    const d = entity({ state: 'paused', activeRevision: null, nextDecisionAt: at(5).getTime() });
    d.decisionTimerFired(at(4).getTime());
    expect(d.nextDecisionAt).toBe(at(5).getTime());
    d.decisionTimerFired(at(6).getTime());
    expect(d).toMatchObject({ nextDecisionAt: null, decisionDue: false });
    const running = entity({
      state: 'running',
      activeRevision: 1,
      nextDecisionAt: at(5).getTime(),
    });
    running.decisionTimerFired(at(6).getTime());
    expect(running.decisionDue).toBe(true);
  });

  it('a merge patch edits the spec held here; read-only fields and a changed model are refused', () => {
    const d = entity({ state: 'running' });
    const next = d.parsePatch({ patch: { spec: { tags: { a: '1' } } }, checked: d.spec });
    expect(next.tags).toEqual({ a: '1' });
    expect(() => d.parsePatch({ patch: { name: 'other' }, checked: d.spec })).toThrow(
      expect.objectContaining({ type: 'invalid_spec', message: expect.stringMatching(/name/) }),
    );
    // the API checked the catalog for model "m"; here the patch would give "other"
    expect(() => d.parsePatch({ patch: { spec: { model: 'other' } }, checked: d.spec })).toThrow(
      expect.objectContaining({ type: 'conflict' }),
    );
  });

  it('Unknown health stays until something is observed', () => {
    const d = entity({ state: 'running', activeRevision: 1, desiredReplicas: 1 });
    d.unreachable(at(1), { reason: 'RuntimeUnreachable', message: 'agent down' });
    d.refreshHealth(at(2));
    expect(d.health).toBe('Unknown');
    d.unreachable(at(3), { reason: 'RuntimeUnreachable', message: 'agent still down' });
    d.observe(
      {
        deploymentId: 'ws/n',
        revision: 1,
        exists: true,
        desired: 1,
        ready: 1,
        restarts: 0,
        replicas: [],
      },
      at(4),
    );
    expect(d.health).toBe('Healthy');
    expect(d.events.map((e) => e.reason)).toEqual([
      'RuntimeUnreachable',
      'RuntimeUnreachable',
      'ReplicasReady',
    ]);
  });
});
