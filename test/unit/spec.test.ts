import { describe, expect, it } from 'vitest';
import {
  MAX_REPLICAS_LIMIT,
  SCHEDULE_COOL_DOWN_SECONDS,
  canonicalJson,
  changesWhatRuns,
  createDeploymentSchema,
  cronError,
  describeViolations,
  gpuDemand,
  isValidTimeZone,
  nodeGroupQuotaKey,
  parseNodeGroupQuotaKey,
  placementChange,
  quotaDemand,
  validateSpec,
  violationsOf,
  type DeploymentSpec,
} from '../../workflows/domain/spec';

// ---------------------------------------------------------------------------------------------
// Builders

type Json = Record<string, unknown>;

const DEDICATED = { type: 'dedicated', accelerator: { type: 'H100' } };
const BYOC_RESOURCES = {
  cpuRequest: '4',
  cpuLimit: '8',
  memoryRequest: '32Gi',
  memoryLimit: '64Gi',
};
const BYOC = {
  type: 'byoc',
  cluster: 'prod-eks',
  nodeGroup: 'gpu-h100',
  resources: BYOC_RESOURCES,
};

/** The minimal dedicated spec, with top-level fields replaced. */
function spec(overrides: Json = {}): Json {
  return { model: 'llama-3.1-8b-instruct', cloud: DEDICATED, ...overrides };
}

function byoc(resources: Json = {}, rest: Json = {}): Json {
  return spec({ cloud: { ...BYOC, ...rest, resources: { ...BYOC_RESOURCES, ...resources } } });
}

function scaling(fields: Json): Json {
  return spec({ scaling: fields });
}

const ALICE = { username: 'alice', keySecret: 'alice-key' };
function ssh(fields: Json): Json {
  return spec({ ssh: fields });
}
function users(n: number): Json[] {
  return Array.from({ length: n }, (_, i) => ({ username: `user${i}`, keySecret: `user${i}-key` }));
}

const GUIDED = {
  timezone: 'Asia/Kolkata',
  days: ['mon', 'tue', 'wed', 'thu', 'fri'],
  wakeAt: '09:00',
  coolDownAt: '18:00',
  minPods: 2,
};
const CUSTOM = { timezone: 'UTC', startCron: '0 9 * * 1-5', endCron: '0 18 * * 1-5', minPods: 1 };
function guided(fields: Json = {}): Json {
  return { ...GUIDED, ...fields };
}
function custom(fields: Json = {}): Json {
  return { ...CUSTOM, ...fields };
}
/** A spec with an enabled schedule of these windows (maxReplicas 8 so any minPods fits). */
function windows(...ws: Json[]): Json {
  return spec({ scaling: { maxReplicas: 8 }, schedule: { enabled: true, windows: ws } });
}
/** The same without the builders' guided/custom defaults. */
function windowOnly(w: Json): Json {
  return windows(w);
}

function policy(direction: 'scaleUp' | 'scaleDown', fields: Json): Json {
  return spec({ autoscalingPolicy: { [direction]: fields } });
}
function rule(direction: 'scaleUp' | 'scaleDown', p: Json): Json {
  return policy(direction, { policies: [p] });
}

function tags(n: number): Record<string, string> {
  return Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, 'v']));
}

/** Paths of every violation of a spec; [] when it is valid. */
function violationPaths(input: unknown): string[] {
  const result = validateSpec(input);
  return result.ok ? [] : result.violations.map((v) => v.path);
}

function parsed(input: unknown): DeploymentSpec {
  const result = validateSpec(input);
  if (!result.ok) throw new Error(describeViolations(result.violations));
  return result.value;
}

// ---------------------------------------------------------------------------------------------
// Rules: each row a passing case, then each row a failing case naming the offending field.

interface Pass {
  sentence: string;
  input: unknown;
}
interface Fail extends Pass {
  path: string;
}

function passes(rows: Pass[]): void {
  it.each(rows)('$sentence', ({ input }) => {
    expect(validateSpec(input)).toMatchObject({ ok: true });
  });
}

function fails(rows: Fail[]): void {
  it.each(rows)('$sentence ($path)', ({ input, path }) => {
    const result = validateSpec(input);
    expect(result.ok).toBe(false);
    expect(violationPaths(input)).toContain(path);
  });
}

describe('name (POST body)', () => {
  function createPaths(name: unknown): string[] {
    const result = createDeploymentSchema.safeParse({ name, ...spec() });
    return result.success ? [] : violationsOf(result.error).map((v) => v.path);
  }

  it.each([
    { sentence: 'the example name from api.md is a DNS-1123 label', name: 'llama-8b-prod' },
    { sentence: 'a one-character name is allowed', name: 'a' },
    { sentence: 'a name may start with a digit', name: '8b-llama' },
    { sentence: 'a name of 63 characters is allowed', name: 'a'.repeat(63) },
  ])('$sentence', ({ name }) => {
    expect(createPaths(name)).toEqual([]);
  });

  it.each([
    { sentence: 'an empty name is rejected', name: '' },
    { sentence: 'a name of 64 characters is too long', name: 'a'.repeat(64) },
    { sentence: 'upper-case letters are not allowed', name: 'Llama-8b' },
    { sentence: 'a name must not start with a hyphen', name: '-llama' },
    { sentence: 'a name must not end with a hyphen', name: 'llama-' },
    { sentence: 'underscores are not allowed', name: 'llama_8b' },
    { sentence: 'dots are not allowed in a label', name: 'llama.8b' },
    { sentence: 'a name must be a string', name: 42 },
    { sentence: 'a name is required', name: undefined },
  ])('$sentence (name)', ({ name }) => {
    expect(createPaths(name)).toContain('name');
  });

  it('the POST body applies the cross-field rules too, under their spec paths', () => {
    const result = createDeploymentSchema.safeParse({
      name: 'x',
      ...spec({ scaling: { minReplicas: 0 } }),
    });
    expect(result.success).toBe(false);
    if (!result.success)
      expect(violationsOf(result.error).map((v) => v.path)).toEqual(['scaling.minReplicas']);
  });

  it('a create sent with the spec wrapped in "spec" (as an edit takes it) says the fields go beside name', () => {
    const result = createDeploymentSchema.safeParse({ name: 'x', spec: spec() });
    expect(result.success).toBe(false);
    if (!result.success)
      expect(violationsOf(result.error)).toContainEqual({
        path: '',
        message:
          'a create takes the spec\'s fields beside name, not inside "spec": send {"name": ..., "model": ..., "cloud": ...}',
      });
    const other = createDeploymentSchema.safeParse({ name: 'x', ...spec(), colour: 'red' });
    if (!other.success)
      expect(violationsOf(other.error)).toEqual([
        { path: '', message: 'Unrecognized key: "colour"' },
      ]);
    expect(other.success).toBe(false);
  });

  it('violationsOf prefixes paths, e.g. to report them under "spec"', () => {
    const result = createDeploymentSchema.safeParse({ name: 'x', ...spec({ model: '' }) });
    expect(result.success).toBe(false);
    if (!result.success)
      expect(violationsOf(result.error, ['spec']).map((v) => v.path)).toEqual(['spec.model']);
  });
});

describe('model and top level', () => {
  passes([
    {
      sentence: 'a model id is any non-empty string (the catalog checks it)',
      input: spec({ model: 'my-model' }),
    },
  ]);
  fails([
    { sentence: 'an empty model is rejected', input: spec({ model: '' }), path: 'model' },
    { sentence: 'a missing model is rejected', input: { cloud: DEDICATED }, path: 'model' },
    { sentence: 'a missing cloud is rejected', input: { model: 'm' }, path: 'cloud' },
    { sentence: 'an unknown top-level field is rejected', input: spec({ replicas: 3 }), path: '' },
    { sentence: 'a spec must be an object', input: 'llama', path: '' },
  ]);
});

describe('cloud: dedicated', () => {
  passes([
    {
      sentence: 'one accelerator per replica is allowed',
      input: spec({ cloud: { type: 'dedicated', accelerator: { type: 'H100', count: 1 } } }),
    },
    {
      sentence: 'eight accelerators per replica are allowed',
      input: spec({ cloud: { type: 'dedicated', accelerator: { type: 'H100', count: 8 } } }),
    },
  ]);
  fails([
    {
      sentence: 'an unknown cloud type names the discriminator',
      input: spec({ cloud: { type: 'gcp' } }),
      path: 'cloud.type',
    },
    {
      sentence: 'a cloud without a type names the discriminator',
      input: spec({ cloud: { accelerator: { type: 'H100' } } }),
      path: 'cloud.type',
    },
    {
      sentence: 'zero accelerators are rejected',
      input: spec({ cloud: { type: 'dedicated', accelerator: { type: 'H100', count: 0 } } }),
      path: 'cloud.accelerator.count',
    },
    {
      sentence: 'nine accelerators are too many',
      input: spec({ cloud: { type: 'dedicated', accelerator: { type: 'H100', count: 9 } } }),
      path: 'cloud.accelerator.count',
    },
    {
      sentence: 'a fractional accelerator count is rejected',
      input: spec({ cloud: { type: 'dedicated', accelerator: { type: 'H100', count: 1.5 } } }),
      path: 'cloud.accelerator.count',
    },
    {
      sentence: 'an empty accelerator type is rejected',
      input: spec({ cloud: { type: 'dedicated', accelerator: { type: '' } } }),
      path: 'cloud.accelerator.type',
    },
    {
      sentence: 'a dedicated cloud needs an accelerator',
      input: spec({ cloud: { type: 'dedicated' } }),
      path: 'cloud.accelerator',
    },
    {
      sentence: 'a dedicated cloud takes no BYOC resources',
      input: spec({ cloud: { ...DEDICATED, resources: BYOC_RESOURCES } }),
      path: 'cloud',
    },
  ]);

  it('the discriminator error says which types exist', () => {
    const result = validateSpec(spec({ cloud: { type: 'gcp' } }));
    expect(result.ok ? [] : result.violations).toEqual([
      { path: 'cloud.type', message: 'cloud.type must be "dedicated" or "byoc"' },
    ]);
  });
});

describe('cloud: BYOC', () => {
  passes([
    { sentence: 'the example BYOC cloud from api.md is valid', input: byoc() },
    {
      sentence: 'millicores and mebibytes are quantities',
      input: byoc({
        cpuRequest: '500m',
        cpuLimit: '2',
        memoryRequest: '512Mi',
        memoryLimit: '1Gi',
      }),
    },
    {
      sentence: 'a request may equal its limit',
      input: byoc({
        cpuRequest: '4',
        cpuLimit: '4000m',
        memoryRequest: '1Gi',
        memoryLimit: '1024Mi',
      }),
    },
    {
      sentence: 'decimal memory suffixes are quantities',
      input: byoc({ memoryRequest: '1G', memoryLimit: '1Gi' }),
    },
    {
      sentence: 'a node group may hold upper case and underscores',
      input: byoc({}, { nodeGroup: 'GPU_h100-a' }),
    },
  ]);
  fails([
    {
      sentence: 'a memory suffix on a CPU request is rejected',
      input: byoc({ cpuRequest: '4Gi' }),
      path: 'cloud.resources.cpuRequest',
    },
    {
      sentence: 'a CPU limit in words is rejected',
      input: byoc({ cpuLimit: 'eight' }),
      path: 'cloud.resources.cpuLimit',
    },
    {
      sentence: 'a zero CPU request is rejected',
      input: byoc({ cpuRequest: '0' }),
      path: 'cloud.resources.cpuRequest',
    },
    {
      sentence: 'a memory request in milli-bytes is rejected',
      input: byoc({ memoryRequest: '500m' }),
      path: 'cloud.resources.memoryRequest',
    },
    {
      sentence: 'a memory limit in "GB" is rejected',
      input: byoc({ memoryLimit: '64GB' }),
      path: 'cloud.resources.memoryLimit',
    },
    {
      sentence: 'a CPU request above its limit is rejected',
      input: byoc({ cpuRequest: '8', cpuLimit: '4' }),
      path: 'cloud.resources.cpuRequest',
    },
    {
      sentence: 'a CPU request above its limit is rejected across units',
      input: byoc({ cpuRequest: '1500m', cpuLimit: '1' }),
      path: 'cloud.resources.cpuRequest',
    },
    {
      sentence: 'a memory request above its limit is rejected',
      input: byoc({ memoryRequest: '64Gi', memoryLimit: '32Gi' }),
      path: 'cloud.resources.memoryRequest',
    },
    {
      sentence: 'a gibibyte request is above a gigabyte limit',
      input: byoc({ memoryRequest: '1Gi', memoryLimit: '1G' }),
      path: 'cloud.resources.memoryRequest',
    },
    {
      sentence: 'a missing resource field is rejected',
      input: spec({
        cloud: { ...BYOC, resources: { cpuRequest: '4', cpuLimit: '8', memoryRequest: '1Gi' } },
      }),
      path: 'cloud.resources.memoryLimit',
    },
    {
      sentence: 'BYOC needs resources',
      input: spec({ cloud: { type: 'byoc', cluster: 'c', nodeGroup: 'g' } }),
      path: 'cloud.resources',
    },
    {
      sentence: 'a cluster must be a DNS-1123 label',
      input: byoc({}, { cluster: 'Prod_EKS' }),
      path: 'cloud.cluster',
    },
    {
      sentence: 'a node group is required',
      input: byoc({}, { nodeGroup: '' }),
      path: 'cloud.nodeGroup',
    },
    {
      sentence: 'a node group must not hold spaces',
      input: byoc({}, { nodeGroup: 'gpu h100' }),
      path: 'cloud.nodeGroup',
    },
    {
      sentence: 'BYOC takes no accelerator (the node group decides)',
      input: byoc({}, { accelerator: { type: 'H100' } }),
      path: 'cloud',
    },
  ]);
});

describe('SSH access', () => {
  passes([
    {
      sentence: 'the example SSH block from api.md is valid',
      input: ssh({ enabled: true, runtime: 'sidecar', users: [ALICE] }),
    },
    {
      sentence: 'the main-container runtime is allowed',
      input: ssh({ runtime: 'main', users: [ALICE] }),
    },
    { sentence: 'five users are allowed', input: ssh({ users: users(5) }) },
    { sentence: 'disabled SSH needs no users', input: ssh({ enabled: false }) },
    {
      sentence: 'a secret name may be a dotted DNS subdomain',
      input: ssh({ users: [{ username: 'bob', keySecret: 'team.bob-key' }] }),
    },
  ]);
  fails([
    { sentence: 'six users are too many', input: ssh({ users: users(6) }), path: 'ssh.users' },
    {
      sentence: 'enabled SSH needs a user',
      input: ssh({ enabled: true, users: [] }),
      path: 'ssh.users',
    },
    { sentence: 'enabled SSH with users left out needs a user', input: ssh({}), path: 'ssh.users' },
    {
      sentence: 'a username may appear only once',
      input: ssh({ users: [ALICE, { username: 'alice', keySecret: 'other' }] }),
      path: 'ssh.users.1.username',
    },
    {
      sentence: 'a public key is key material, not a secret name',
      input: ssh({
        users: [
          { username: 'alice', keySecret: 'ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7 alice@laptop' },
        ],
      }),
      path: 'ssh.users.0.keySecret',
    },
    {
      sentence: 'a private key is key material, not a secret name',
      input: ssh({
        users: [{ username: 'alice', keySecret: '-----BEGIN OPENSSH PRIVATE KEY-----' }],
      }),
      path: 'ssh.users.0.keySecret',
    },
    {
      sentence: 'an empty secret name is rejected',
      input: ssh({ users: [{ username: 'alice', keySecret: '' }] }),
      path: 'ssh.users.0.keySecret',
    },
    {
      sentence: 'a user needs a key secret',
      input: ssh({ users: [{ username: 'alice' }] }),
      path: 'ssh.users.0.keySecret',
    },
    {
      sentence: 'a username must be a Linux user name',
      input: ssh({ users: [{ username: 'Alice Smith', keySecret: 'k' }] }),
      path: 'ssh.users.0.username',
    },
    {
      sentence: 'the runtime is sidecar or main only',
      input: ssh({ runtime: 'init', users: [ALICE] }),
      path: 'ssh.runtime',
    },
  ]);
});

describe('scaling parameters', () => {
  passes([
    {
      sentence: 'the example scaling block from api.md is valid',
      input: scaling({
        minReplicas: 1,
        maxReplicas: 4,
        metric: 'concurrency',
        threshold: 8,
        scaleToZero: { enabled: false, cooldownSeconds: 300 },
        rapidAutoscaling: false,
      }),
    },
    { sentence: 'min may equal max', input: scaling({ minReplicas: 4, maxReplicas: 4 }) },
    {
      sentence: 'min 0 is allowed with scale to zero',
      input: scaling({ minReplicas: 0, maxReplicas: 2, scaleToZero: { enabled: true } }),
    },
    {
      sentence: `max may reach the per-deployment ceiling of ${MAX_REPLICAS_LIMIT}`,
      input: scaling({ maxReplicas: MAX_REPLICAS_LIMIT }),
    },
    { sentence: 'memory usage is a metric', input: scaling({ metric: 'memory', threshold: 80 }) },
    { sentence: 'latency is a metric', input: scaling({ metric: 'latency', threshold: 500 }) },
    {
      sentence: 'throughput is a metric',
      input: scaling({ metric: 'throughput', threshold: 2.5 }),
    },
    {
      sentence: 'concurrency is a metric',
      input: scaling({ metric: 'concurrency', threshold: 1 }),
    },
    {
      sentence: 'a memory threshold of 100 percent is allowed',
      input: scaling({ metric: 'memory', threshold: 100 }),
    },
    { sentence: 'a tiny positive threshold is allowed', input: scaling({ threshold: 0.01 }) },
    {
      sentence: 'a non-memory threshold may exceed 100',
      input: scaling({ metric: 'latency', threshold: 2000 }),
    },
    {
      sentence: 'a scale-to-zero cooldown of 10 s is allowed',
      input: scaling({ scaleToZero: { enabled: true, cooldownSeconds: 10 } }),
    },
    {
      sentence: 'a scale-to-zero cooldown of a day is allowed',
      input: scaling({ scaleToZero: { enabled: true, cooldownSeconds: 86_400 } }),
    },
  ]);
  fails([
    {
      sentence: 'a negative min is rejected',
      input: scaling({ minReplicas: -1 }),
      path: 'scaling.minReplicas',
    },
    {
      sentence: 'min above max is rejected',
      input: scaling({ minReplicas: 3, maxReplicas: 2 }),
      path: 'scaling.minReplicas',
    },
    {
      sentence: 'max 0 is rejected',
      input: scaling({ minReplicas: 0, maxReplicas: 0, scaleToZero: { enabled: true } }),
      path: 'scaling.maxReplicas',
    },
    {
      sentence: 'max above the ceiling is rejected',
      input: scaling({ maxReplicas: MAX_REPLICAS_LIMIT + 1 }),
      path: 'scaling.maxReplicas',
    },
    {
      sentence: 'a fractional replica count is rejected',
      input: scaling({ maxReplicas: 2.5 }),
      path: 'scaling.maxReplicas',
    },
    {
      sentence: 'min 0 without scale to zero is rejected',
      input: scaling({ minReplicas: 0, maxReplicas: 2 }),
      path: 'scaling.minReplicas',
    },
    {
      sentence: 'min 0 with scale to zero disabled is rejected',
      input: scaling({ minReplicas: 0, maxReplicas: 2, scaleToZero: { enabled: false } }),
      path: 'scaling.minReplicas',
    },
    {
      sentence: 'an unknown metric is rejected',
      input: scaling({ metric: 'gpu' }),
      path: 'scaling.metric',
    },
    {
      sentence: 'a zero threshold is rejected',
      input: scaling({ threshold: 0 }),
      path: 'scaling.threshold',
    },
    {
      sentence: 'a negative threshold is rejected',
      input: scaling({ threshold: -5 }),
      path: 'scaling.threshold',
    },
    {
      sentence: 'a memory threshold above 100 percent is rejected',
      input: scaling({ metric: 'memory', threshold: 101 }),
      path: 'scaling.threshold',
    },
    {
      sentence: 'a scale-to-zero cooldown under 10 s is rejected',
      input: scaling({ scaleToZero: { enabled: true, cooldownSeconds: 9 } }),
      path: 'scaling.scaleToZero.cooldownSeconds',
    },
    {
      sentence: 'a scale-to-zero cooldown over a day is rejected',
      input: scaling({ scaleToZero: { enabled: true, cooldownSeconds: 86_401 } }),
      path: 'scaling.scaleToZero.cooldownSeconds',
    },
    {
      sentence: 'a fractional cooldown is rejected',
      input: scaling({ scaleToZero: { enabled: true, cooldownSeconds: 30.5 } }),
      path: 'scaling.scaleToZero.cooldownSeconds',
    },
  ]);
});

describe('rapid autoscaling', () => {
  passes([
    {
      sentence: 'rapid autoscaling is allowed on dedicated',
      input: scaling({ rapidAutoscaling: true }),
    },
  ]);
  fails([
    {
      sentence: 'rapid autoscaling is rejected on BYOC',
      input: { ...byoc(), scaling: { rapidAutoscaling: true } },
      path: 'scaling.rapidAutoscaling',
    },
  ]);
});

describe('schedule-based scaling', () => {
  passes([
    {
      sentence: 'both example windows from api.md are valid together',
      input: windows(guided(), custom()),
    },
    {
      sentence: 'a disabled schedule needs no windows',
      input: spec({ schedule: { enabled: false } }),
    },
    {
      sentence: 'a disabled schedule may coexist with scale to zero',
      input: spec({
        scaling: { maxReplicas: 2, scaleToZero: { enabled: true } },
        schedule: { enabled: false, windows: [guided()] },
      }),
    },
    {
      sentence: 'min 0 is allowed when the schedule scales to zero outside windows',
      input: spec({
        scaling: { minReplicas: 0, maxReplicas: 4 },
        schedule: { scaleToZeroOutsideWindows: true, windows: [guided()] },
      }),
    },
    {
      sentence: 'an overnight window is allowed',
      input: windows(guided({ wakeAt: '22:00', coolDownAt: '06:00' })),
    },
    {
      sentence: 'every day of the week may be picked',
      input: windows(guided({ days: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] })),
    },
    {
      sentence: 'midnight and 23:59 are times of day',
      input: windows(guided({ wakeAt: '00:00', coolDownAt: '23:59' })),
    },
    { sentence: 'a window may keep 1 pod', input: windows(guided({ minPods: 1 })) },
    { sentence: 'a window may keep 8 pods', input: windows(guided({ minPods: 8 })) },
    {
      sentence: 'a window may keep as many pods as maxReplicas',
      input: spec({ scaling: { maxReplicas: 3 }, schedule: { windows: [guided({ minPods: 3 })] } }),
    },
    {
      sentence: 'the timezone may be left out',
      input: windows({ days: ['sat'], wakeAt: '10:00', coolDownAt: '12:00', minPods: 1 }),
    },
  ]);
  fails([
    {
      sentence: 'schedule-based scaling and scale to zero are mutually exclusive',
      input: spec({
        scaling: { scaleToZero: { enabled: true } },
        schedule: { enabled: true, windows: [guided()] },
      }),
      path: 'schedule.enabled',
    },
    {
      sentence: 'an enabled schedule needs a window',
      input: spec({ schedule: { enabled: true, windows: [] } }),
      path: 'schedule.windows',
    },
    {
      sentence: 'a schedule enabled by default needs a window',
      input: spec({ schedule: {} }),
      path: 'schedule.windows',
    },
    {
      sentence: 'min 0 is rejected when the schedule falls back to min/max outside windows',
      input: spec({
        scaling: { minReplicas: 0, maxReplicas: 4 },
        schedule: { scaleToZeroOutsideWindows: false, windows: [guided()] },
      }),
      path: 'scaling.minReplicas',
    },
    {
      sentence: 'min 0 is rejected when the schedule that would scale to zero is disabled',
      input: spec({
        scaling: { minReplicas: 0, maxReplicas: 4 },
        schedule: { enabled: false, scaleToZeroOutsideWindows: true },
      }),
      path: 'scaling.minReplicas',
    },
    {
      sentence: 'a window may not be both guided and custom',
      input: windows({ ...GUIDED, startCron: '0 9 * * *' }),
      path: 'schedule.windows.0',
    },
    {
      sentence: 'a window with no schedule fields is an incomplete guided window',
      input: windowOnly({ minPods: 1 }),
      path: 'schedule.windows.0.days',
    },
    {
      sentence: 'a guided window needs days',
      input: windowOnly({ wakeAt: '09:00', coolDownAt: '18:00', minPods: 1 }),
      path: 'schedule.windows.0.days',
    },
    {
      sentence: 'a guided window needs wakeAt',
      input: windowOnly({ days: ['mon'], coolDownAt: '18:00', minPods: 1 }),
      path: 'schedule.windows.0.wakeAt',
    },
    {
      sentence: 'a guided window needs coolDownAt',
      input: windowOnly({ days: ['mon'], wakeAt: '09:00', minPods: 1 }),
      path: 'schedule.windows.0.coolDownAt',
    },
    {
      sentence: 'a custom window needs startCron',
      input: windowOnly({ endCron: '0 18 * * *', minPods: 1 }),
      path: 'schedule.windows.0.startCron',
    },
    {
      sentence: 'a custom window needs endCron',
      input: windowOnly({ startCron: '0 9 * * *', minPods: 1 }),
      path: 'schedule.windows.0.endCron',
    },
    {
      sentence: 'a custom window must start and end at different times',
      input: windows(custom({ endCron: '0 9 * * 1-5' })),
      path: 'schedule.windows.0.endCron',
    },
    {
      sentence: 'a window needs minPods',
      input: windowOnly({ days: ['mon'], wakeAt: '09:00', coolDownAt: '18:00' }),
      path: 'schedule.windows.0.minPods',
    },
    {
      sentence: 'no days selected is rejected',
      input: windows(guided({ days: [] })),
      path: 'schedule.windows.0.days',
    },
    {
      sentence: 'a day may not repeat',
      input: windows(guided({ days: ['mon', 'mon'] })),
      path: 'schedule.windows.0.days',
    },
    {
      sentence: 'an unknown day is rejected',
      input: windows(guided({ days: ['mon', 'funday'] })),
      path: 'schedule.windows.0.days.1',
    },
    {
      sentence: 'a capitalised day is rejected',
      input: windows(guided({ days: ['Mon'] })),
      path: 'schedule.windows.0.days.0',
    },
    {
      sentence: 'a time without a leading zero is rejected',
      input: windows(guided({ wakeAt: '9:00' })),
      path: 'schedule.windows.0.wakeAt',
    },
    {
      sentence: 'hour 24 is not a time of day',
      input: windows(guided({ coolDownAt: '24:00' })),
      path: 'schedule.windows.0.coolDownAt',
    },
    {
      sentence: 'minute 60 is not a time of day',
      input: windows(guided({ wakeAt: '09:60' })),
      path: 'schedule.windows.0.wakeAt',
    },
    {
      sentence: 'a 12-hour time is rejected',
      input: windows(guided({ wakeAt: '9:00 AM' })),
      path: 'schedule.windows.0.wakeAt',
    },
    {
      sentence: 'a time with seconds is rejected',
      input: windows(guided({ wakeAt: '09:00:00' })),
      path: 'schedule.windows.0.wakeAt',
    },
    {
      sentence: 'waking and cooling down at the same time is rejected',
      input: windows(guided({ wakeAt: '09:00', coolDownAt: '09:00' })),
      path: 'schedule.windows.0.coolDownAt',
    },
    {
      sentence: 'a window keeping 0 pods is rejected',
      input: windows(guided({ minPods: 0 })),
      path: 'schedule.windows.0.minPods',
    },
    {
      sentence: 'a window keeping 9 pods is rejected',
      input: windows(guided({ minPods: 9 })),
      path: 'schedule.windows.0.minPods',
    },
    {
      sentence: 'a custom window keeping 9 pods is rejected',
      input: windows(custom({ minPods: 9 })),
      path: 'schedule.windows.0.minPods',
    },
    {
      sentence: 'a window keeping more pods than maxReplicas is rejected',
      input: spec({ scaling: { maxReplicas: 2 }, schedule: { windows: [guided({ minPods: 3 })] } }),
      path: 'schedule.windows.0.minPods',
    },
    {
      sentence: 'the second window is named when it is the bad one',
      input: windows(guided(), custom({ minPods: 0 })),
      path: 'schedule.windows.1.minPods',
    },
    {
      sentence: 'the 5-minute cool-down is fixed and cannot be set',
      input: windows(guided({ coolDownSeconds: 600 })),
      path: 'schedule.windows.0',
    },
  ]);

  it(`the fixed cool-down is ${SCHEDULE_COOL_DOWN_SECONDS} s, i.e. 5 minutes`, () => {
    expect(SCHEDULE_COOL_DOWN_SECONDS).toBe(5 * 60);
  });
});

describe('custom cron expressions', () => {
  passes(
    [
      '0 9 * * 1,2,3,4,5',
      '0 18 * * 1,2,3,4,5',
      '0 9 * * 1-5',
      '*/15 8-17 * * mon-fri',
      '30 6 1 * *',
      '0 0 * * 0',
      '0 0 * * 7',
      ' 0 9 * * 1 ',
    ].map((cron) => ({
      sentence: `"${cron}" is a valid five-field cron`,
      input: windows(custom({ startCron: cron, endCron: '59 23 * * *' })),
    })),
  );
  fails(
    [
      ['six fields (with seconds) are rejected', '0 0 9 * * 1'],
      ['four fields are rejected', '0 9 * *'],
      ['an empty expression is rejected', ''],
      ['a macro such as @daily is rejected', '@daily'],
      ['minute 60 is rejected', '60 9 * * *'],
      ['hour 24 is rejected', '0 24 * * *'],
      ['day-of-month 32 is rejected', '0 9 32 * *'],
      ['day-of-month 0 is rejected', '0 9 0 * *'],
      ['month 13 is rejected', '0 9 * 13 *'],
      ['day-of-week 8 is rejected', '0 9 * * 8'],
      ['a range past the end is rejected', '0-70 9 * * *'],
      ['a step of zero is rejected', '*/0 9 * * *'],
      ['letters are rejected', 'a b c d e'],
      ['a day that never exists (31 February) is rejected', '0 9 31 2 *'],
      ['the nondeterministic "H" (hashed) extension is rejected', 'H 9 * * *'],
    ].map(([sentence, cron]) => ({
      sentence: `${sentence}: "${cron}"`,
      input: windows(custom({ startCron: cron })),
      path: 'schedule.windows.0.startCron',
    })),
  );

  it.each([
    {
      sentence: 'a day name holding an H (THU) is not mistaken for the hashed extension',
      cron: '0 9 * * THU',
      error: null,
    },
    { sentence: 'a valid expression has no error', cron: '0 9 * * 1-5', error: null },
  ])('$sentence', ({ cron, error }) => {
    expect(cronError(cron)).toBe(error);
  });

  it('cronError says how many fields it got', () => {
    expect(cronError('0 0 9 * * 1')).toMatch(/5 fields.*got 6/);
  });
});

describe('time zones', () => {
  it.each([
    { sentence: 'Asia/Kolkata is an IANA time zone', tz: 'Asia/Kolkata', valid: true },
    { sentence: 'UTC is accepted', tz: 'UTC', valid: true },
    { sentence: 'Etc/UTC is accepted', tz: 'Etc/UTC', valid: true },
    { sentence: 'America/New_York is an IANA time zone', tz: 'America/New_York', valid: true },
    { sentence: 'Mars/Olympus is not a time zone', tz: 'Mars/Olympus', valid: false },
    { sentence: 'garbage is not a time zone', tz: 'EST5EDT-ish garbage', valid: false },
    { sentence: 'an offset is not an IANA zone name', tz: '+05:30', valid: false },
    { sentence: 'an empty string is not a time zone', tz: '', valid: false },
  ])('$sentence', ({ tz, valid }) => {
    expect(isValidTimeZone(tz)).toBe(valid);
    expect(violationPaths(windows(guided({ timezone: tz })))).toEqual(
      valid ? [] : ['schedule.windows.0.timezone'],
    );
    expect(violationPaths(windows(custom({ timezone: tz })))).toEqual(
      valid ? [] : ['schedule.windows.0.timezone'],
    );
  });
});

describe('autoscaling policy', () => {
  passes([
    {
      sentence: 'the example policy from api.md is valid',
      input: spec({
        autoscalingPolicy: {
          scaleUp: {
            stabilizationWindowSeconds: 60,
            selectPolicy: 'Max',
            policies: [{ type: 'Pods', value: 4, periodSeconds: 60 }],
          },
          scaleDown: {
            stabilizationWindowSeconds: 180,
            selectPolicy: 'Min',
            policies: [{ type: 'Percent', value: 50, periodSeconds: 60 }],
          },
        },
      }),
    },
    {
      sentence: 'a stabilization window of 0 s is allowed',
      input: policy('scaleUp', { stabilizationWindowSeconds: 0 }),
    },
    {
      sentence: 'a stabilization window of 3600 s is allowed',
      input: policy('scaleDown', { stabilizationWindowSeconds: 3600 }),
    },
    {
      sentence: 'scale-up may pick the Min policy',
      input: policy('scaleUp', { selectPolicy: 'Min' }),
    },
    {
      sentence: 'scale-down may pick the Max policy',
      input: policy('scaleDown', { selectPolicy: 'Max' }),
    },
    {
      sentence: 'scale-up may be disabled',
      input: policy('scaleUp', { selectPolicy: 'Disabled' }),
    },
    {
      sentence: 'scale-down may be disabled',
      input: policy('scaleDown', { selectPolicy: 'Disabled' }),
    },
    {
      sentence: 'a Percent policy of 100 is allowed',
      input: rule('scaleUp', { type: 'Percent', value: 100, periodSeconds: 60 }),
    },
    {
      sentence: 'a Pods policy of 1 is allowed',
      input: rule('scaleDown', { type: 'Pods', value: 1, periodSeconds: 60 }),
    },
    {
      sentence: 'a Pods policy is not capped at 100',
      input: rule('scaleUp', { type: 'Pods', value: 200, periodSeconds: 60 }),
    },
    {
      sentence: 'a period of 1 s is allowed',
      input: rule('scaleUp', { type: 'Pods', value: 1, periodSeconds: 1 }),
    },
    {
      sentence: 'a period of 1800 s is allowed',
      input: rule('scaleDown', { type: 'Pods', value: 1, periodSeconds: 1800 }),
    },
    {
      sentence: 'several policies per direction are allowed',
      input: policy('scaleUp', {
        policies: [
          { type: 'Pods', value: 4, periodSeconds: 60 },
          { type: 'Percent', value: 100, periodSeconds: 15 },
        ],
      }),
    },
  ]);
  fails([
    {
      sentence: 'a negative stabilization window is rejected',
      input: policy('scaleUp', { stabilizationWindowSeconds: -1 }),
      path: 'autoscalingPolicy.scaleUp.stabilizationWindowSeconds',
    },
    {
      sentence: 'a stabilization window over 3600 s is rejected',
      input: policy('scaleDown', { stabilizationWindowSeconds: 3601 }),
      path: 'autoscalingPolicy.scaleDown.stabilizationWindowSeconds',
    },
    {
      sentence: 'an unknown select policy is rejected',
      input: policy('scaleUp', { selectPolicy: 'Random' }),
      path: 'autoscalingPolicy.scaleUp.selectPolicy',
    },
    {
      sentence: 'a lower-case select policy is rejected',
      input: policy('scaleDown', { selectPolicy: 'min' }),
      path: 'autoscalingPolicy.scaleDown.selectPolicy',
    },
    {
      sentence: 'a Percent policy above 100 is rejected',
      input: rule('scaleUp', { type: 'Percent', value: 101, periodSeconds: 60 }),
      path: 'autoscalingPolicy.scaleUp.policies.0.value',
    },
    {
      sentence: 'a Pods policy of 0 is rejected',
      input: rule('scaleUp', { type: 'Pods', value: 0, periodSeconds: 60 }),
      path: 'autoscalingPolicy.scaleUp.policies.0.value',
    },
    {
      sentence: 'a Percent policy of 0 is rejected',
      input: rule('scaleDown', { type: 'Percent', value: 0, periodSeconds: 60 }),
      path: 'autoscalingPolicy.scaleDown.policies.0.value',
    },
    {
      sentence: 'a period of 0 s is rejected',
      input: rule('scaleUp', { type: 'Pods', value: 1, periodSeconds: 0 }),
      path: 'autoscalingPolicy.scaleUp.policies.0.periodSeconds',
    },
    {
      sentence: 'a period over 1800 s is rejected',
      input: rule('scaleDown', { type: 'Pods', value: 1, periodSeconds: 1801 }),
      path: 'autoscalingPolicy.scaleDown.policies.0.periodSeconds',
    },
    {
      sentence: 'a policy type other than Pods or Percent is rejected',
      input: rule('scaleUp', { type: 'Replicas', value: 1, periodSeconds: 60 }),
      path: 'autoscalingPolicy.scaleUp.policies.0.type',
    },
    {
      sentence: 'a policy needs a period',
      input: rule('scaleUp', { type: 'Pods', value: 1 }),
      path: 'autoscalingPolicy.scaleUp.policies.0.periodSeconds',
    },
  ]);
});

describe('tags', () => {
  passes([
    {
      sentence: 'the example tags from api.md are valid',
      input: spec({ tags: { env: 'prod', team: 'search' } }),
    },
    {
      sentence: 'keys may hold "-", "_", "." and "/"',
      input: spec({ tags: { 'cost-center/team.name_x': 'ml' } }),
    },
    {
      sentence: 'a value may hold a colon (filters split on the first one)',
      input: spec({ tags: { url: 'http://x' } }),
    },
    { sentence: 'an empty value is allowed', input: spec({ tags: { flag: '' } }) },
    { sentence: 'a 63-character key is allowed', input: spec({ tags: { ['k'.repeat(63)]: 'v' } }) },
    { sentence: 'thirty-two tags are allowed', input: spec({ tags: tags(32) }) },
  ]);
  fails([
    {
      sentence: 'a key may not hold a colon',
      input: spec({ tags: { 'env:prod': 'x' } }),
      path: 'tags.env:prod',
    },
    { sentence: 'an empty key is rejected', input: spec({ tags: { '': 'x' } }), path: 'tags.' },
    {
      sentence: 'a key may not start with a hyphen',
      input: spec({ tags: { '-env': 'x' } }),
      path: 'tags.-env',
    },
    {
      sentence: 'a key may not end with a dot',
      input: spec({ tags: { 'env.': 'x' } }),
      path: 'tags.env.',
    },
    {
      sentence: 'a key may not hold spaces',
      input: spec({ tags: { 'cost center': 'x' } }),
      path: 'tags.cost center',
    },
    {
      sentence: 'a 64-character key is rejected',
      input: spec({ tags: { ['k'.repeat(64)]: 'v' } }),
      path: `tags.${'k'.repeat(64)}`,
    },
    {
      sentence: 'a value over 256 characters is rejected',
      input: spec({ tags: { env: 'v'.repeat(257) } }),
      path: 'tags.env',
    },
    {
      sentence: 'a value must be a string',
      input: spec({ tags: { replicas: 3 } }),
      path: 'tags.replicas',
    },
    { sentence: 'thirty-three tags are too many', input: spec({ tags: tags(33) }), path: 'tags' },
  ]);
});

describe('readiness timeout', () => {
  passes([
    {
      sentence: 'a readiness timeout of 1 s is allowed',
      input: spec({ readinessTimeoutSeconds: 1 }),
    },
    {
      sentence: 'a readiness timeout of a day is allowed',
      input: spec({ readinessTimeoutSeconds: 86_400 }),
    },
  ]);
  fails([
    {
      sentence: 'a readiness timeout of 0 s is rejected',
      input: spec({ readinessTimeoutSeconds: 0 }),
      path: 'readinessTimeoutSeconds',
    },
    {
      sentence: 'a readiness timeout over a day is rejected',
      input: spec({ readinessTimeoutSeconds: 86_401 }),
      path: 'readinessTimeoutSeconds',
    },
    {
      sentence: 'a fractional readiness timeout is rejected',
      input: spec({ readinessTimeoutSeconds: 1.5 }),
      path: 'readinessTimeoutSeconds',
    },
  ]);
});

// ---------------------------------------------------------------------------------------------
// Defaults

describe('defaults', () => {
  it('a minimal dedicated spec is filled in completely', () => {
    expect(
      parsed({
        model: 'llama-3.1-8b-instruct',
        cloud: { type: 'dedicated', accelerator: { type: 'H100' } },
      }),
    ).toStrictEqual({
      model: 'llama-3.1-8b-instruct',
      cloud: { type: 'dedicated', accelerator: { type: 'H100', count: 1 } },
      scaling: {
        minReplicas: 1,
        maxReplicas: 1,
        metric: 'concurrency',
        threshold: 8,
        scaleToZero: { enabled: false, cooldownSeconds: 300 },
        rapidAutoscaling: false,
      },
      tags: {},
      readinessTimeoutSeconds: 600,
    });
  });

  it('an empty autoscaling policy fills 60 s / Max up and 180 s / Min down', () => {
    expect(parsed(spec({ autoscalingPolicy: {} })).autoscalingPolicy).toStrictEqual({
      scaleUp: { stabilizationWindowSeconds: 60, selectPolicy: 'Max', policies: [] },
      scaleDown: { stabilizationWindowSeconds: 180, selectPolicy: 'Min', policies: [] },
    });
  });

  it.each([
    {
      sentence: 'a scale-up with only a select policy keeps the 60 s window',
      input: { scaleUp: { selectPolicy: 'Disabled' } },
      scaleUp: { stabilizationWindowSeconds: 60, selectPolicy: 'Disabled', policies: [] },
      scaleDown: { stabilizationWindowSeconds: 180, selectPolicy: 'Min', policies: [] },
    },
    {
      sentence: 'a scale-down with only a window keeps the Min select policy',
      input: { scaleDown: { stabilizationWindowSeconds: 30 } },
      scaleUp: { stabilizationWindowSeconds: 60, selectPolicy: 'Max', policies: [] },
      scaleDown: { stabilizationWindowSeconds: 30, selectPolicy: 'Min', policies: [] },
    },
  ])('$sentence', ({ input, scaleUp, scaleDown }) => {
    expect(parsed(spec({ autoscalingPolicy: input })).autoscalingPolicy).toStrictEqual({
      scaleUp,
      scaleDown,
    });
  });

  it('a partial scaling block keeps the other scaling defaults', () => {
    expect(
      parsed(scaling({ maxReplicas: 4, scaleToZero: { enabled: true } })).scaling,
    ).toStrictEqual({
      minReplicas: 1,
      maxReplicas: 4,
      metric: 'concurrency',
      threshold: 8,
      scaleToZero: { enabled: true, cooldownSeconds: 300 },
      rapidAutoscaling: false,
    });
  });

  it('SSH with only users is enabled on the sidecar runtime', () => {
    expect(parsed(ssh({ users: [ALICE] })).ssh).toStrictEqual({
      enabled: true,
      runtime: 'sidecar',
      users: [ALICE],
    });
  });

  it('a schedule with only windows is enabled, falls back to min/max outside them, and windows default to UTC', () => {
    const { timezone: _tz, ...noTimezone } = GUIDED;
    expect(
      parsed(spec({ scaling: { maxReplicas: 2 }, schedule: { windows: [noTimezone] } })).schedule,
    ).toStrictEqual({
      enabled: true,
      scaleToZeroOutsideWindows: false,
      windows: [{ ...noTimezone, timezone: 'UTC' }],
    });
  });

  it('optional sections left out stay absent', () => {
    const value = parsed(spec());
    expect('ssh' in value).toBe(false);
    expect('schedule' in value).toBe(false);
    expect('autoscalingPolicy' in value).toBe(false);
  });

  it('parsing a defaulted spec again changes nothing', () => {
    const once = parsed(
      spec({
        ssh: { users: [ALICE] },
        autoscalingPolicy: {},
        schedule: { windows: [guided()] },
        scaling: { maxReplicas: 4 },
      }),
    );
    expect(parsed(once)).toStrictEqual(once);
  });
});

// ---------------------------------------------------------------------------------------------
// Questions the workflow asks of a spec

describe('changesWhatRuns', () => {
  const before = parsed(spec({ scaling: { maxReplicas: 4 }, ssh: { users: [ALICE] } }));

  it.each([
    {
      sentence: 'the same spec changes nothing',
      after: spec({ scaling: { maxReplicas: 4 }, ssh: { users: [ALICE] } }),
      changes: false,
    },
    {
      sentence: 'a new maxReplicas only rescales',
      after: spec({ scaling: { maxReplicas: 6 }, ssh: { users: [ALICE] } }),
      changes: false,
    },
    {
      sentence: 'a new scaling metric only rescales',
      after: spec({
        scaling: { maxReplicas: 4, metric: 'latency', threshold: 300 },
        ssh: { users: [ALICE] },
      }),
      changes: false,
    },
    {
      sentence: 'new tags change nothing that runs',
      after: spec({ scaling: { maxReplicas: 4 }, ssh: { users: [ALICE] }, tags: { env: 'prod' } }),
      changes: false,
    },
    {
      sentence: 'an added schedule changes nothing that runs',
      after: spec({
        scaling: { maxReplicas: 4 },
        ssh: { users: [ALICE] },
        schedule: { windows: [guided()] },
      }),
      changes: false,
    },
    {
      sentence: 'an added autoscaling policy changes nothing that runs',
      after: spec({ scaling: { maxReplicas: 4 }, ssh: { users: [ALICE] }, autoscalingPolicy: {} }),
      changes: false,
    },
    {
      sentence: 'a new model is a new revision',
      after: spec({
        model: 'mistral-7b-instruct',
        scaling: { maxReplicas: 4 },
        ssh: { users: [ALICE] },
      }),
      changes: true,
    },
    {
      sentence: 'a new accelerator type is a new revision',
      after: spec({
        cloud: { type: 'dedicated', accelerator: { type: 'H200' } },
        scaling: { maxReplicas: 4 },
        ssh: { users: [ALICE] },
      }),
      changes: true,
    },
    {
      sentence: 'a new accelerator count is a new revision',
      after: spec({
        cloud: { type: 'dedicated', accelerator: { type: 'H100', count: 2 } },
        scaling: { maxReplicas: 4 },
        ssh: { users: [ALICE] },
      }),
      changes: true,
    },
    {
      sentence: 'moving to BYOC is a new revision',
      after: { ...byoc(), scaling: { maxReplicas: 4 }, ssh: { users: [ALICE] } },
      changes: true,
    },
    {
      sentence: 'turning SSH off is a new revision',
      after: spec({ scaling: { maxReplicas: 4 }, ssh: { enabled: false, users: [ALICE] } }),
      changes: true,
    },
    {
      sentence: 'another SSH runtime is a new revision',
      after: spec({ scaling: { maxReplicas: 4 }, ssh: { runtime: 'main', users: [ALICE] } }),
      changes: true,
    },
    {
      sentence: 'removing SSH is a new revision',
      after: spec({ scaling: { maxReplicas: 4 } }),
      changes: true,
    },
  ])('$sentence', ({ after, changes }) => {
    expect(changesWhatRuns(before, parsed(after))).toBe(changes);
  });

  it('a BYOC resource change is a new revision', () => {
    expect(changesWhatRuns(parsed(byoc()), parsed(byoc({ memoryLimit: '128Gi' })))).toBe(true);
  });
});

describe('quotaDemand', () => {
  it.each([
    {
      sentence: 'a default dedicated spec reserves one GPU',
      input: spec(),
      demand: { accelerator: 'H100', gpus: 1 },
    },
    {
      sentence: 'quota covers accelerators per replica times maxReplicas',
      input: spec({
        cloud: { type: 'dedicated', accelerator: { type: 'A100-80GB', count: 2 } },
        scaling: { minReplicas: 1, maxReplicas: 4 },
      }),
      demand: { accelerator: 'A100-80GB', gpus: 8 },
    },
    {
      sentence: 'scale to zero still reserves for maxReplicas',
      input: spec({ scaling: { minReplicas: 0, maxReplicas: 3, scaleToZero: { enabled: true } } }),
      demand: { accelerator: 'H100', gpus: 3 },
    },
    { sentence: 'a BYOC deployment takes no managed quota', input: byoc(), demand: null },
  ])('$sentence', ({ input, demand }) => {
    expect(quotaDemand(parsed(input))).toStrictEqual(demand);
  });
});

describe('gpuDemand', () => {
  it.each([
    { sentence: 'dedicated: the accelerator type', input: spec(), demand: { H100: 1 } },
    {
      sentence: 'BYOC: the node group, gpusPerReplica (default 1) x maxReplicas',
      input: byoc({}, {}),
      demand: { 'byoc:prod-eks/gpu-h100': 1 },
    },
    {
      sentence: 'BYOC with 8 GPUs per replica and 3 replicas at most',
      input: { ...byoc({}, { gpusPerReplica: 8 }), scaling: { maxReplicas: 3 } },
      demand: { 'byoc:prod-eks/gpu-h100': 24 },
    },
  ])('$sentence', ({ input, demand }) => {
    expect(gpuDemand(parsed(input))).toStrictEqual(demand);
  });

  it('reads a node group key back, and nothing else', () => {
    expect(parseNodeGroupQuotaKey(nodeGroupQuotaKey('prod-eks', 'gpu_h100'))).toEqual({
      cluster: 'prod-eks',
      nodeGroup: 'gpu_h100',
    });
    expect(parseNodeGroupQuotaKey('H100')).toBeNull();
    expect(parseNodeGroupQuotaKey('byoc:')).toBeNull();
  });
});

describe('placementChange', () => {
  it.each([
    {
      sentence: 'same dedicated cloud, other accelerator',
      before: spec(),
      after: spec({ cloud: { type: 'dedicated', accelerator: { type: 'A100-80GB' } } }),
      path: null,
    },
    {
      sentence: 'same cluster, other node group',
      before: byoc(),
      after: byoc({}, { nodeGroup: 'gpu-a100' }),
      path: null,
    },
    { sentence: 'dedicated to BYOC', before: spec(), after: byoc(), path: 'cloud.type' },
    { sentence: 'BYOC to dedicated', before: byoc(), after: spec(), path: 'cloud.type' },
    {
      sentence: 'another cluster',
      before: byoc(),
      after: byoc({}, { cluster: 'other-eks' }),
      path: 'cloud.cluster',
    },
  ])('$sentence', ({ before, after, path }) => {
    expect(placementChange(parsed(before), parsed(after))?.path ?? null).toBe(path);
  });
});

describe('canonicalJson', () => {
  it.each([
    { sentence: 'key order does not matter', a: { b: 1, a: 2 }, b: { a: 2, b: 1 }, same: true },
    {
      sentence: 'key order does not matter in nested objects',
      a: { x: { d: 1, c: [{ f: 1, e: 2 }] } },
      b: { x: { c: [{ e: 2, f: 1 }], d: 1 } },
      same: true,
    },
    { sentence: 'array order matters', a: [1, 2], b: [2, 1], same: false },
    { sentence: 'a different value is different', a: { a: 1 }, b: { a: 2 }, same: false },
    {
      sentence: 'an undefined member is the same as a missing one',
      a: { a: 1, b: undefined },
      b: { a: 1 },
      same: true,
    },
    { sentence: 'null is not the same as missing', a: { a: 1, b: null }, b: { a: 1 }, same: false },
  ])('$sentence', ({ a, b, same }) => {
    expect(canonicalJson(a) === canonicalJson(b)).toBe(same);
  });

  it.each([
    {
      sentence: 'an object is written with sorted keys',
      value: { b: 1, a: { d: 2, c: 3 } },
      json: '{"a":{"c":3,"d":2},"b":1}',
    },
    { sentence: 'an array keeps its order', value: [3, 1, 2], json: '[3,1,2]' },
    { sentence: 'a string is plain JSON', value: 'x', json: '"x"' },
    { sentence: 'null is plain JSON', value: null, json: 'null' },
  ])('$sentence', ({ value, json }) => {
    expect(canonicalJson(value)).toBe(json);
  });
});

describe('describeViolations', () => {
  it('joins path and message, and leaves the path out for the whole body', () => {
    expect(
      describeViolations([
        { path: 'scaling.minReplicas', message: 'too big' },
        { path: '', message: 'Unrecognized key: "x"' },
      ]),
    ).toBe('scaling.minReplicas: too big; Unrecognized key: "x"');
  });
});
