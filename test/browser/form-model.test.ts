/**
 * The console's form model without a browser: the form maps to and from a spec losslessly,
 * validation is the API's (same rules, same JSON paths), edits become minimal merge patches, and
 * every cron expression gets a summary.
 */
import { describe, expect, it } from 'vitest';
import { cronSummary } from '../../console/src/cron-text';
import {
  copyName,
  editPatch,
  emptyForm,
  fromSpec,
  guidedToCustom,
  mergePatch,
  newWindow,
  thresholdAfterMetricChange,
  toSpec,
  validate,
  type FormState,
} from '../../console/src/form-model';
import { historyFromEvents } from '../../console/src/history';
import { events, healthMessage } from '../../workflows/deployment/events';
import { deploymentSpecSchema } from '../../workflows/domain/spec';
import { TEST_CATALOG } from '../helpers/catalog';

const base = (): FormState => ({
  ...emptyForm(),
  name: 'demo',
  model: 'fast-model',
  acceleratorType: 'L4',
});

const richSpec = deploymentSpecSchema.parse({
  model: 'fast-model',
  cloud: { type: 'dedicated', accelerator: { type: 'L4', count: 2 } },
  ssh: { enabled: true, runtime: 'main', users: [{ username: 'alice', keySecret: 'alice-key' }] },
  scaling: { minReplicas: 0, maxReplicas: 4, metric: 'latency', threshold: 250.5 },
  schedule: {
    enabled: true,
    scaleToZeroOutsideWindows: true,
    windows: [
      {
        timezone: 'Asia/Kolkata',
        days: ['mon', 'fri'],
        wakeAt: '09:00',
        coolDownAt: '18:30',
        minPods: 2,
      },
      { timezone: 'UTC', startCron: '0 22 * * 5', endCron: '0 2 * * 6', minPods: 1 },
    ],
  },
  autoscalingPolicy: {
    scaleUp: { policies: [{ type: 'Pods', value: 4, periodSeconds: 60 }] },
    scaleDown: {
      stabilizationWindowSeconds: 300,
      selectPolicy: 'Disabled',
      policies: [{ type: 'Percent', value: 50, periodSeconds: 120 }],
    },
  },
  tags: { env: 'prod', team: 'search' },
  readinessTimeoutSeconds: 120,
});

describe('console form model', () => {
  it('turns a spec into the form and back without losing anything', () => {
    const back = deploymentSpecSchema.parse(toSpec(fromSpec('demo', richSpec)));
    expect(back).toEqual(richSpec);
  });

  it('round-trips a BYOC spec', () => {
    const byoc = deploymentSpecSchema.parse({
      model: 'fast-model',
      cloud: {
        type: 'byoc',
        cluster: 'team-eks',
        nodeGroup: 'gpu-h100',
        gpusPerReplica: 8,
        resources: { cpuRequest: '8', cpuLimit: '16', memoryRequest: '64Gi', memoryLimit: '128Gi' },
      },
    });
    expect(deploymentSpecSchema.parse(toSpec(fromSpec('b', byoc)))).toEqual(byoc);
  });

  it('accepts the defaults of a new form once a model and accelerator are chosen', () => {
    expect(validate(base(), 'create', TEST_CATALOG)).toEqual({});
  });

  it.each<[string, (f: FormState) => void, string]>([
    ['a name that is not a DNS label', (f) => void (f.name = 'Bad_Name'), 'name'],
    [
      'minReplicas over maxReplicas',
      (f) => Object.assign(f, { minReplicas: '3', maxReplicas: '2' }),
      'scaling.minReplicas',
    ],
    [
      'scale to zero together with a schedule',
      (f) => Object.assign(f, { scaleToZero: true, scheduleEnabled: true }),
      'schedule.enabled',
    ],
    [
      'a custom window with a bad cron expression',
      (f) => {
        f.scheduleEnabled = true;
        Object.assign(f.windows[0]!, { mode: 'custom', startCron: '61 * * * *' });
      },
      'schedule.windows.0.startCron',
    ],
    [
      'a guided window with no day',
      (f) => {
        f.scheduleEnabled = true;
        f.windows[0]!.days = [];
      },
      'schedule.windows.0.days',
    ],
    [
      'a Percent policy over 100',
      (f) => {
        f.policyEnabled = true;
        f.scaleUp.policies.push({ type: 'Percent', value: '150', periodSeconds: '60' });
      },
      'autoscalingPolicy.scaleUp.policies.0.value',
    ],
    [
      'SSH on with a user whose key is not a secret name',
      (f) => {
        f.sshEnabled = true;
        f.sshUsers = [{ username: 'alice', keySecret: 'ssh-ed25519 AAAA' }];
      },
      'ssh.users.0.keySecret',
    ],
    ['a metric the model does not scale on', (f) => void (f.metric = 'nope'), 'scaling.metric'],
    [
      'an accelerator the catalog does not have (catalog rule)',
      (f) => void (f.acceleratorType = 'X1'),
      'cloud.accelerator.type',
    ],
  ])('reports %s at the path the API would', (_what, change, path) => {
    const form = base();
    change(form);
    const errors = validate(form, 'create', TEST_CATALOG);
    expect(Object.keys(errors)).toContain(path);
  });

  it('edits become minimal merge patches: changed fields, null for what is gone', () => {
    const after = toSpec({ ...fromSpec('demo', richSpec), maxReplicas: '6', policyEnabled: false });
    (after.tags as Record<string, string>) = { env: 'prod' };
    expect(mergePatch(richSpec, after)).toEqual({
      scaling: { maxReplicas: 6 },
      autoscalingPolicy: null,
      tags: { team: null },
    });
    expect(mergePatch(richSpec, toSpec(fromSpec('demo', richSpec)))).toEqual({});
  });
});

describe('form rules from review', () => {
  it("shows a tag key rule at the key input of its row, in the rule's own words", () => {
    const f = { ...base(), tags: [{ key: 'a:b', value: 'x' }] };
    const errors = validate(f, 'create', TEST_CATALOG);
    expect(errors['tags.0.key']?.[0]).toContain('tag keys are letters');
    expect(errors['tags.0.value']).toBeUndefined();
  });

  it('refuses a duplicate tag key instead of merging the rows', () => {
    const f = {
      ...base(),
      tags: [
        { key: 'env', value: 'a' },
        { key: 'env', value: 'b' },
      ],
    };
    expect(validate(f, 'create', TEST_CATALOG)['tags.1.key']).toEqual(['duplicate tag key "env"']);
  });

  it("moves the threshold to the new metric's default only while it is the old default", () => {
    expect(thresholdAfterMetricChange('8', 'concurrency', 'memory')).toBe('80');
    expect(thresholdAfterMetricChange('80', 'memory', 'latency')).toBe('8');
    expect(thresholdAfterMetricChange('12', 'concurrency', 'memory')).toBe('12');
  });

  it('turning SSH or the schedule off in an edit sends {enabled: false}, keeping users and windows', () => {
    const f = fromSpec('demo', richSpec);
    f.sshEnabled = false;
    f.scheduleEnabled = false;
    const patch = editPatch(richSpec, f);
    expect(patch['ssh']).toEqual({ enabled: false });
    expect(patch['schedule']).toEqual({ enabled: false });
    // Already off and left off: nothing to send.
    const off = deploymentSpecSchema.parse({
      ...richSpec,
      ssh: { ...richSpec.ssh, enabled: false },
      schedule: { ...richSpec.schedule, enabled: false },
      scaling: { ...richSpec.scaling, minReplicas: 1 },
    });
    expect(editPatch(off, fromSpec('demo', off))).toEqual({});
  });

  it('starts a Custom window from the guided one, overnight included', () => {
    const w = { ...newWindow(), days: ['fri' as const], wakeAt: '22:00', coolDownAt: '02:00' };
    expect(guidedToCustom(w)).toEqual({ startCron: '0 22 * * 5', endCron: '0 2 * * 6' });
    expect(newWindow().timezone).toBe('UTC');
  });

  it('names a copy "<name>-copy", a valid DNS label', () => {
    expect(copyName('demo')).toBe('demo-copy');
    const long = copyName(`${'a'.repeat(57)}-bbbbb`);
    expect(long.length).toBeLessThanOrEqual(63);
    expect(long).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
    expect(copyName(`${'a'.repeat(57)}-b`)).toBe(`${'a'.repeat(57)}-copy`);
  });
});

describe('cron summaries under the inputs', () => {
  it.each([
    ['0 9 * * 1-5', '09:00'],
    ['*/15 * * * *', 'every 15 minutes'],
    ['0 9 L * *', 'last day of the month'], // beyond describe.ts: cronstrue words it
  ])('%s reads "%s"', (expression, words) => {
    const summary = cronSummary(expression);
    expect(summary.ok).toBe(true);
    expect(summary.text).toContain(words);
  });

  it.each(['61 * * * *', '0 9 * *', ''])('"%s" shows why it is refused', (expression) => {
    expect(cronSummary(expression).ok).toBe(false);
  });
});

describe("the chart's history, read from the events the workflow writes", () => {
  it('finds desired, ready and the observed load', () => {
    const at = (s: number) => new Date(Date.UTC(2026, 11, 1, 12, 0, s)).toISOString();
    const scaled = events.scaled(
      1,
      3,
      'ScaleUp',
      'concurrency 20 in flight per replica over 1 replica(s) (threshold 8): usage is 2.5x the target',
    );
    const history = historyFromEvents(
      [
        { time: at(0), revision: 1, ...events.provisioned(1, 1, 'fast-model') },
        {
          time: at(3),
          type: 'Health',
          reason: 'ReplicasReady',
          message: healthMessage('Progressing', 'Healthy', {
            ready: 1,
            desired: 1,
            readinessTimeoutSeconds: 600,
          }),
        },
        { time: at(10), ...scaled },
        {
          time: at(20),
          type: 'Health',
          reason: 'NoReplicas',
          message: healthMessage('Healthy', 'NotPresent', {
            ready: 0,
            desired: 0,
            readinessTimeoutSeconds: 600,
          }),
        },
        { time: at(30), ...events.resumed(1, 3) },
      ],
      'concurrency',
    );
    const ms = (s: number) => Date.parse(at(s));
    expect(history.desired).toEqual([
      { at: ms(0), v: 1 },
      { at: ms(3), v: 1 },
      { at: ms(10), v: 3 },
      { at: ms(20), v: 0 },
      { at: ms(30), v: 3 },
    ]);
    expect(history.ready).toEqual([
      { at: ms(0), v: 0 },
      { at: ms(3), v: 1 },
      { at: ms(20), v: 0 },
      { at: ms(30), v: 0 },
    ]);
    expect(history.load).toEqual([{ at: ms(10), v: 20 }]);
  });
});
