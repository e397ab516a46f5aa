/**
 * The create / edit form's state and its mapping to and from a deployment spec. Validation is the
 * API's own: the zod schema of workflows/domain/spec.ts (createDeploymentSchema for a create,
 * deploymentSpecSchema for an edit) plus the catalog check, so the browser shows the same
 * violations, with the same JSON paths, as a 400 invalid_spec would.
 */
import { checkAgainstCatalog, type Catalog } from '../../workflows/domain/catalog';
import { windowCrons } from '../../workflows/schedule/cron';
import {
  createDeploymentSchema,
  deploymentSpecSchema,
  violationsOf,
  type DeploymentSpec,
  type ScalingRules,
  type Weekday,
} from '../../workflows/domain/spec';

export type Errors = Record<string, string[]>;

export interface PolicyForm {
  type: 'Pods' | 'Percent';
  value: string;
  periodSeconds: string;
}
export interface RulesForm {
  stabilizationWindowSeconds: string;
  selectPolicy: 'Max' | 'Min' | 'Disabled';
  policies: PolicyForm[];
}
export interface WindowForm {
  mode: 'guided' | 'custom';
  timezone: string;
  minPods: string;
  days: Weekday[];
  wakeAt: string;
  coolDownAt: string;
  startCron: string;
  endCron: string;
}

export interface FormState {
  name: string;
  model: string;
  cloudType: 'dedicated' | 'byoc';
  acceleratorType: string;
  acceleratorCount: string;
  cluster: string;
  nodeGroup: string;
  gpusPerReplica: string;
  cpuRequest: string;
  cpuLimit: string;
  memoryRequest: string;
  memoryLimit: string;
  sshEnabled: boolean;
  sshRuntime: 'sidecar' | 'main';
  sshUsers: { username: string; keySecret: string }[];
  minReplicas: string;
  maxReplicas: string;
  metric: string;
  threshold: string;
  scaleToZero: boolean;
  cooldownSeconds: string;
  rapidAutoscaling: boolean;
  scheduleEnabled: boolean;
  scaleToZeroOutsideWindows: boolean;
  windows: WindowForm[];
  policyEnabled: boolean;
  scaleUp: RulesForm;
  scaleDown: RulesForm;
  tags: { key: string; value: string }[];
  readinessTimeoutSeconds: string;
}

/**
 * The threshold a metric starts at: the product page's example for memory ("scale out at 80 %
 * memory"), the schema's default (8) for the others.
 */
export const DEFAULT_THRESHOLDS: Record<string, string> = {
  memory: '80',
  latency: '8',
  throughput: '8',
  concurrency: '8',
};

/**
 * The threshold after the metric changes from `from` to `to`: the new metric's default when the
 * threshold was still the old metric's (a number means something else per metric), else as is.
 */
export function thresholdAfterMetricChange(threshold: string, from: string, to: string): string {
  const before = DEFAULT_THRESHOLDS[from];
  const after = DEFAULT_THRESHOLDS[to];
  return after !== undefined && (threshold.trim() === '' || Number(threshold) === Number(before))
    ? after
    : threshold;
}

/** The name a clone starts with: "<name>-copy", kept a valid DNS label (≤ 63, no trailing "-"). */
export function copyName(name: string): string {
  return `${name.slice(0, 63 - '-copy'.length).replace(/-+$/, '')}-copy`;
}

/** A window's time zone starts as UTC (the schema's zone names; the browser's own may differ). */
export const newWindow = (): WindowForm => ({
  mode: 'guided',
  timezone: 'UTC',
  minPods: '1',
  days: ['mon', 'tue', 'wed', 'thu', 'fri'],
  wakeAt: '09:00',
  coolDownAt: '18:00',
  startCron: '0 9 * * 1-5',
  endCron: '0 18 * * 1-5',
});

export const emptyForm = (): FormState => ({
  name: '',
  model: '',
  cloudType: 'dedicated',
  acceleratorType: '',
  acceleratorCount: '1',
  cluster: '',
  nodeGroup: '',
  gpusPerReplica: '1',
  cpuRequest: '4',
  cpuLimit: '8',
  memoryRequest: '32Gi',
  memoryLimit: '64Gi',
  sshEnabled: false,
  sshRuntime: 'sidecar',
  sshUsers: [{ username: '', keySecret: '' }],
  minReplicas: '1',
  maxReplicas: '1',
  metric: 'concurrency',
  threshold: '8',
  scaleToZero: false,
  cooldownSeconds: '300',
  rapidAutoscaling: false,
  scheduleEnabled: false,
  scaleToZeroOutsideWindows: false,
  windows: [newWindow()],
  policyEnabled: false,
  scaleUp: { stabilizationWindowSeconds: '60', selectPolicy: 'Max', policies: [] },
  scaleDown: { stabilizationWindowSeconds: '180', selectPolicy: 'Min', policies: [] },
  tags: [],
  readinessTimeoutSeconds: '600',
});

/** A number input's text: blank is "not given" (the schema's default applies), else a number. */
function num(text: string): number | undefined {
  const t = text.trim();
  if (t === '') return undefined;
  return Number(t);
}

const defined = <T extends object>(o: T): T =>
  Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;

function rules(r: RulesForm) {
  return defined({
    stabilizationWindowSeconds: num(r.stabilizationWindowSeconds),
    selectPolicy: r.selectPolicy,
    policies: r.policies.map((p) => ({
      type: p.type,
      value: num(p.value),
      periodSeconds: num(p.periodSeconds),
    })),
  });
}

/** The spec the form describes (without the name), as JSON the API takes. */
export function toSpec(f: FormState): Record<string, unknown> {
  const cloud =
    f.cloudType === 'dedicated'
      ? {
          type: 'dedicated',
          accelerator: defined({ type: f.acceleratorType, count: num(f.acceleratorCount) }),
        }
      : defined({
          type: 'byoc',
          cluster: f.cluster,
          nodeGroup: f.nodeGroup,
          gpusPerReplica: num(f.gpusPerReplica),
          resources: {
            cpuRequest: f.cpuRequest.trim(),
            cpuLimit: f.cpuLimit.trim(),
            memoryRequest: f.memoryRequest.trim(),
            memoryLimit: f.memoryLimit.trim(),
          },
        });
  const spec: Record<string, unknown> = {
    model: f.model,
    cloud,
    scaling: defined({
      minReplicas: num(f.minReplicas),
      maxReplicas: num(f.maxReplicas),
      metric: f.metric,
      threshold: num(f.threshold),
      scaleToZero: defined({ enabled: f.scaleToZero, cooldownSeconds: num(f.cooldownSeconds) }),
      rapidAutoscaling: f.rapidAutoscaling,
    }),
    tags: Object.fromEntries(f.tags.map((t) => [t.key.trim(), t.value])),
  };
  const readiness = num(f.readinessTimeoutSeconds);
  if (readiness !== undefined) spec.readinessTimeoutSeconds = readiness;
  if (f.sshEnabled) {
    spec.ssh = {
      enabled: true,
      runtime: f.sshRuntime,
      users: f.sshUsers.map((u) => ({
        username: u.username.trim(),
        keySecret: u.keySecret.trim(),
      })),
    };
  }
  if (f.scheduleEnabled) {
    spec.schedule = {
      enabled: true,
      scaleToZeroOutsideWindows: f.scaleToZeroOutsideWindows,
      windows: f.windows.map((w) =>
        w.mode === 'guided'
          ? defined({
              timezone: w.timezone,
              minPods: num(w.minPods),
              days: w.days,
              wakeAt: w.wakeAt,
              coolDownAt: w.coolDownAt,
            })
          : defined({
              timezone: w.timezone,
              minPods: num(w.minPods),
              startCron: w.startCron.trim(),
              endCron: w.endCron.trim(),
            }),
      ),
    };
  }
  if (f.policyEnabled) {
    spec.autoscalingPolicy = { scaleUp: rules(f.scaleUp), scaleDown: rules(f.scaleDown) };
  }
  return spec;
}

const str = (n: number | undefined) => (n === undefined ? '' : String(n));

/** The form for an existing deployment's spec (edit, clone as a starting point). */
export function fromSpec(name: string, spec: DeploymentSpec): FormState {
  const f = emptyForm();
  f.name = name;
  f.model = spec.model;
  if (spec.cloud.type === 'dedicated') {
    f.cloudType = 'dedicated';
    f.acceleratorType = spec.cloud.accelerator.type;
    f.acceleratorCount = str(spec.cloud.accelerator.count);
  } else {
    f.cloudType = 'byoc';
    f.cluster = spec.cloud.cluster;
    f.nodeGroup = spec.cloud.nodeGroup;
    f.gpusPerReplica = str(spec.cloud.gpusPerReplica);
    Object.assign(f, spec.cloud.resources);
  }
  if (spec.ssh) {
    f.sshEnabled = spec.ssh.enabled;
    f.sshRuntime = spec.ssh.runtime;
    f.sshUsers = spec.ssh.users.length ? spec.ssh.users.map((u) => ({ ...u })) : f.sshUsers;
  }
  const s = spec.scaling;
  f.minReplicas = str(s.minReplicas);
  f.maxReplicas = str(s.maxReplicas);
  f.metric = s.metric;
  f.threshold = str(s.threshold);
  f.scaleToZero = s.scaleToZero.enabled;
  f.cooldownSeconds = str(s.scaleToZero.cooldownSeconds);
  f.rapidAutoscaling = s.rapidAutoscaling;
  if (spec.schedule) {
    f.scheduleEnabled = spec.schedule.enabled;
    f.scaleToZeroOutsideWindows = spec.schedule.scaleToZeroOutsideWindows;
    if (spec.schedule.windows.length) {
      f.windows = spec.schedule.windows.map((w) => ({
        ...newWindow(),
        mode: w.startCron !== undefined || w.endCron !== undefined ? 'custom' : 'guided',
        timezone: w.timezone,
        minPods: str(w.minPods),
        ...(w.days ? { days: [...w.days] } : {}),
        ...(w.wakeAt ? { wakeAt: w.wakeAt } : {}),
        ...(w.coolDownAt ? { coolDownAt: w.coolDownAt } : {}),
        ...(w.startCron ? { startCron: w.startCron } : {}),
        ...(w.endCron ? { endCron: w.endCron } : {}),
      }));
    }
  }
  if (spec.autoscalingPolicy) {
    f.policyEnabled = true;
    const toRules = (rr: ScalingRules): RulesForm => ({
      stabilizationWindowSeconds: str(rr.stabilizationWindowSeconds),
      selectPolicy: rr.selectPolicy,
      policies: rr.policies.map((p) => ({
        type: p.type,
        value: str(p.value),
        periodSeconds: str(p.periodSeconds),
      })),
    });
    f.scaleUp = toRules(spec.autoscalingPolicy.scaleUp);
    f.scaleDown = toRules(spec.autoscalingPolicy.scaleDown);
  }
  f.tags = Object.entries(spec.tags).map(([key, value]) => ({ key, value }));
  f.readinessTimeoutSeconds = str(spec.readinessTimeoutSeconds);
  return f;
}

/**
 * Violations grouped by path. A tag's violation names the tag by its key ("tags.env"); the form
 * shows it at its row instead: "tags.<row>.key" for a key rule, "tags.<row>.value" for a value
 * rule (given the form, to find the row).
 */
export function groupViolations(
  violations: { path: string; message: string }[],
  f?: FormState,
): Errors {
  const errors: Errors = {};
  for (const v of violations) {
    let path = v.path;
    const tag = /^tags\.(.*)$/s.exec(path);
    if (f && tag && !/^\d+\.(key|value)$/.test(tag[1]!)) {
      const row = f.tags.findIndex((t) => t.key.trim() === tag[1]);
      if (row >= 0) path = `tags.${row}.${v.message.startsWith('tag values') ? 'value' : 'key'}`;
    }
    (errors[path] ??= []).push(v.message);
  }
  return errors;
}

/** Rows whose key repeats an earlier row's (the spec is a map: one would silently win). */
function duplicateTags(f: FormState): Errors {
  const errors: Errors = {};
  const seen = new Set<string>();
  f.tags.forEach((t, i) => {
    const key = t.key.trim();
    if (seen.has(key)) errors[`tags.${i}.key`] = [`duplicate tag key "${key}"`];
    seen.add(key);
  });
  return errors;
}

/** The cron expressions a guided window stands for (to start a Custom window from it). */
export function guidedToCustom(w: WindowForm): Pick<WindowForm, 'startCron' | 'endCron'> {
  try {
    const crons = windowCrons({
      timezone: w.timezone,
      days: w.days,
      wakeAt: w.wakeAt,
      coolDownAt: w.coolDownAt,
    });
    return { startCron: crons.startCron, endCron: crons.endCron };
  } catch {
    return { startCron: w.startCron, endCron: w.endCron }; // no day picked: keep what was there
  }
}

/**
 * The merge patch an edit sends. A section (ssh, schedule) the deployment has but the form turned
 * off becomes {enabled: false}, not null: null would drop its saved users or windows.
 */
export function editPatch(before: DeploymentSpec, f: FormState): Record<string, unknown> {
  const patch = mergePatch(before, toSpec(f));
  for (const key of ['ssh', 'schedule'] as const) {
    const old = before[key];
    if (!old || patch[key] !== null) continue;
    if (old.enabled) patch[key] = { enabled: false };
    else delete patch[key];
  }
  return patch;
}

/**
 * Every violation of the form, keyed by JSON path ("scaling.minReplicas", "name", "" for the
 * whole body): the domain schema's, then the catalog's (model fits the accelerator, metric the
 * model), as the API checks them.
 */
export function validate(f: FormState, mode: 'create' | 'edit', catalog: Catalog | null): Errors {
  const spec = toSpec(f);
  const parsed =
    mode === 'create'
      ? createDeploymentSchema.safeParse({ name: f.name.trim(), ...spec })
      : deploymentSpecSchema.safeParse(spec);
  const duplicates = duplicateTags(f);
  if (!parsed.success) return { ...groupViolations(violationsOf(parsed.error), f), ...duplicates };
  if (catalog && catalog.models.length && catalog.accelerators.length) {
    const value = parsed.data as DeploymentSpec;
    return { ...groupViolations(checkAgainstCatalog(value, catalog), f), ...duplicates };
  }
  return duplicates;
}

/**
 * A JSON merge patch (RFC 7396) that turns `before` into `after`: keys gone are null, objects
 * recurse, everything else (arrays included) is replaced. Empty when nothing changed.
 */
export function mergePatch(before: unknown, after: unknown): Record<string, unknown> {
  const isObject = (v: unknown): v is Record<string, unknown> =>
    typeof v === 'object' && v !== null && !Array.isArray(v);
  if (!isObject(before) || !isObject(after)) return isObject(after) ? after : {};
  const patch: Record<string, unknown> = {};
  for (const key of Object.keys(before)) if (!(key in after)) patch[key] = null;
  for (const [key, value] of Object.entries(after)) {
    const old = before[key];
    if (isObject(old) && isObject(value)) {
      const inner = mergePatch(old, value);
      if (Object.keys(inner).length) patch[key] = inner;
    } else if (JSON.stringify(old) !== JSON.stringify(value)) {
      patch[key] = value;
    }
  }
  return patch;
}
