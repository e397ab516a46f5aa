/**
 * Create and Edit: one form with every field and rule of the product page. Checked in the browser
 * with the API's own schema on every change once submitted, and the API's 400 details (JSON
 * paths) are shown next to the same fields. Edit sends a merge patch of the spec with If-Match.
 */
import { useEffect, useState } from 'preact/hooks';
import {
  MAX_SCHEDULE_WINDOWS,
  MAX_SSH_USERS,
  WEEKDAYS,
  type Weekday,
} from '../../workflows/domain/spec';
import { describeWindow } from '../../workflows/schedule/describe';
import {
  ApiError,
  type Accelerator,
  type Api,
  type Deployment,
  type Model,
  type Quota,
} from './api';
import { cronSummary } from './cron-text';
import {
  copyName,
  editPatch,
  emptyForm,
  fromSpec,
  groupViolations,
  guidedToCustom,
  newWindow,
  thresholdAfterMetricChange,
  toSpec,
  validate,
  type Errors,
  type FormState,
  type RulesForm,
  type WindowForm,
} from './form-model';
import { href, navigate } from './routes';
import { describe, Field, FieldErrors, fieldId, Notice } from './ui';

const METRIC_UNITS: Record<string, string> = {
  memory: '% of the memory limit',
  latency: 'ms per request',
  throughput: 'requests/s per replica',
  concurrency: 'requests in flight per replica',
};
const METRIC_LABELS: Record<string, string> = {
  memory: 'Memory usage',
  latency: 'Latency',
  throughput: 'Throughput',
  concurrency: 'Concurrency',
};
const DAY_LABELS: Record<Weekday, string> = {
  mon: 'Mon',
  tue: 'Tue',
  wed: 'Wed',
  thu: 'Thu',
  fri: 'Fri',
  sat: 'Sat',
  sun: 'Sun',
};

interface ClusterItem {
  name: string;
}
interface NodeGroupItem {
  name: string;
  instanceType: string;
  gpu: { type: string; count: number } | null;
  gpuCapacity: number;
  gpusReserved: number;
}

function timeZones(): string[] {
  const intl = Intl as unknown as { supportedValuesOf?: (k: string) => string[] };
  try {
    return ['UTC', ...(intl.supportedValuesOf?.('timeZone') ?? [])];
  } catch {
    return ['UTC'];
  }
}

/** Paths shown inside "Advanced options": an error there opens it. */
const ADVANCED = /^(scaling\.scaleToZero|scaling\.rapidAutoscaling|readinessTimeoutSeconds)/;
const EXCLUSIVE =
  'Schedule-based scaling and scale to zero are mutually exclusive. Use the "Scale to 0 outside windows" option of the schedule if you want pods to scale to zero on a schedule.';

export function FormPage(props: {
  api: Api;
  mode: 'create' | 'edit';
  /** Edit: the deployment edited. */
  name?: string;
  /** Create: the deployment whose spec the form starts from (Clone). */
  from?: string;
  onUnauthorized: () => void;
}) {
  const { api, mode } = props;
  const [form, setForm] = useState<FormState | null>(
    mode === 'create' && !props.from ? emptyForm() : null,
  );
  const [advancedOpen, setAdvancedOpen] = useState(false);
  const [original, setOriginal] = useState<Deployment | null>(null);
  const [etag, setEtag] = useState<string | null>(null);
  const [models, setModels] = useState<Model[]>([]);
  const [accelerators, setAccelerators] = useState<Accelerator[]>([]);
  const [quotas, setQuotas] = useState<Quota[]>([]);
  const [clusters, setClusters] = useState<ClusterItem[]>([]);
  const [nodeGroups, setNodeGroups] = useState<NodeGroupItem[]>([]);
  const [errors, setErrors] = useState<Errors>({});
  const [submitted, setSubmitted] = useState(false);
  const [notice, setNotice] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    void (async () => {
      try {
        const [m, a, q] = await Promise.all([api.models(), api.accelerators(), api.quotas()]);
        setModels(m);
        setAccelerators(a);
        setQuotas(q);
        setForm((f) =>
          f && mode === 'create' && !f.model
            ? { ...f, model: m[0]?.id ?? '', acceleratorType: a[0]?.type ?? '' }
            : f,
        );
        const c = await api.list<ClusterItem>(`${api.ws}/clusters`).catch(() => []);
        setClusters(c);
      } catch (err) {
        setNotice(`could not load the catalogs: ${String(err)}`);
      }
      const source = mode === 'edit' ? props.name : props.from;
      if (source) {
        try {
          const { body, etag: tag } = await api.deployment(source);
          if (mode === 'edit') {
            setOriginal(body);
            setEtag(tag);
          }
          setForm(fromSpec(mode === 'edit' ? body.name : copyName(body.name), body.spec));
          setAdvancedOpen(
            body.spec.scaling.scaleToZero.enabled || body.spec.scaling.rapidAutoscaling,
          );
          // A copy: its name is the one thing to decide first.
          if (mode === 'create') setTimeout(() => document.getElementById('f-name')?.focus(), 0);
        } catch (err) {
          if (err instanceof ApiError && err.status === 401) return props.onUnauthorized();
          setNotice(err instanceof ApiError ? `${err.code}: ${err.message}` : String(err));
        }
      }
    })();
  }, []);

  const cluster = form?.cloudType === 'byoc' ? form.cluster : '';
  useEffect(() => {
    if (!cluster) return setNodeGroups([]);
    void api
      .list<NodeGroupItem>(`${api.ws}/clusters/${encodeURIComponent(cluster)}/node-groups`)
      .then(setNodeGroups, () => setNodeGroups([]));
  }, [cluster]);

  if (!form) {
    return (
      <>
        <h1>{mode === 'edit' ? `Edit ${props.name}` : `Copy of ${props.from}`}</h1>
        <Notice error={notice} />
        {!notice ? <p aria-busy="true">Loading…</p> : null}
      </>
    );
  }

  const catalog = { models, accelerators };
  const show = (found: Errors) => {
    setErrors(found);
    if (Object.keys(found).some((p) => ADVANCED.test(p))) setAdvancedOpen(true);
  };
  const update = (change: (f: FormState) => void) => {
    const next = structuredClone(form);
    change(next);
    setForm(next);
    if (submitted) show(validate(next, mode, catalog));
  };

  const submit = async (e: Event) => {
    e.preventDefault();
    setSubmitted(true);
    setNotice(null);
    const found = validate(form, mode, catalog);
    show(found);
    if (Object.keys(found).length) {
      setNotice('Some fields need a change (see below).');
      focusFirstError(found);
      return;
    }
    setBusy(true);
    try {
      if (mode === 'create') {
        await api.create({ name: form.name.trim(), ...toSpec(form) });
        navigate(href.deployment(form.name.trim()));
      } else if (original) {
        const patch = editPatch(original.spec, form);
        if (!Object.keys(patch).length) {
          setNotice('Nothing changed.');
          return;
        }
        await api.edit(original.name, patch, etag);
        navigate(href.deployment(original.name));
      }
    } catch (err) {
      if (err instanceof ApiError) {
        if (err.status === 401) return props.onUnauthorized();
        const byPath = groupViolations(err.violations, form);
        if (err.code === 'quota_exceeded') {
          byPath['scaling.maxReplicas'] = [err.message];
        } else if (err.status === 409 && mode === 'create') {
          byPath['name'] = [err.message]; // the name is taken
        }
        show(byPath);
        setNotice(`${err.status} ${err.code}: ${err.message}`);
        focusFirstError(byPath);
      } else {
        setNotice(String(err));
      }
    } finally {
      setBusy(false);
    }
  };

  const model = models.find((m) => m.id === form.model);
  const metrics = model?.metrics ?? ['memory', 'latency', 'throughput', 'concurrency'];
  const quota = quotas.find((q) => q.accelerator === form.acceleratorType);
  const count = Number(form.acceleratorCount) || 1;
  // An edit keeps its own reservation: it counts as available to itself.
  const own =
    original?.spec.cloud.type === 'dedicated' &&
    original.spec.cloud.accelerator.type === form.acceleratorType &&
    original.state !== 'paused'
      ? original.spec.cloud.accelerator.count * original.spec.scaling.maxReplicas
      : 0;
  const available = quota ? quota.available + own : null;
  const maxFit = available === null ? null : Math.floor(available / count);
  const reserve = count * (Number(form.maxReplicas) || 0);
  const nodeGroup = nodeGroups.find((n) => n.name === form.nodeGroup);
  const allErrors = Object.entries(errors);

  return (
    <form onSubmit={submit} noValidate aria-label={mode === 'create' ? 'Create' : 'Edit'}>
      <h1>
        {mode === 'edit'
          ? `Edit ${form.name}`
          : props.from
            ? `Copy of ${props.from}`
            : 'Create a deployment'}
      </h1>
      {props.from ? (
        <p class="hint">
          A new deployment with the configuration of {props.from}: choose its name, change what you
          need, then deploy it (nothing is created before).
        </p>
      ) : null}
      {mode === 'edit' ? (
        <p class="hint">
          Scaling and tags apply in place; a change to the model, cloud or SSH is a rolling update
          (new revision up and ready, traffic switched, old one removed).
        </p>
      ) : null}
      <Notice error={notice} />
      {allErrors.length ? (
        <div class="summary" role="alert" aria-label="Errors">
          <ul>
            {allErrors.map(([path, messages]) => (
              <li key={path}>
                <code>{path || '(spec)'}</code>: {messages.join('; ')}
              </li>
            ))}
          </ul>
        </div>
      ) : null}

      <fieldset>
        <legend>Deployment</legend>
        <div class="row">
          <Field
            path="name"
            label="Deployment name"
            errors={errors}
            hint="lower-case letters, digits and '-'"
          >
            <input
              type="text"
              {...describe('name', errors, true)}
              value={form.name}
              disabled={mode === 'edit'}
              onInput={(e) => update((f) => void (f.name = e.currentTarget.value))}
            />
          </Field>
          <Field
            path="model"
            label="Model"
            errors={errors}
            hint={model ? `${model.kind}; needs ${model.minGpuMemoryGb} GB GPU memory` : undefined}
          >
            <select
              {...describe('model', errors, Boolean(model))}
              value={form.model}
              onChange={(e) =>
                update((f) => {
                  f.model = e.currentTarget.value;
                  const m = models.find((x) => x.id === f.model);
                  if (m && !(m.metrics as string[]).includes(f.metric)) {
                    const to = m.metrics[0] ?? f.metric;
                    f.threshold = thresholdAfterMetricChange(f.threshold, f.metric, to);
                    f.metric = to;
                  }
                })
              }
            >
              {models.map((m) => (
                <option value={m.id} key={m.id}>
                  {m.name} ({m.id})
                </option>
              ))}
            </select>
          </Field>
          <Field path="cloud.type" label="Cloud" errors={errors}>
            <select
              {...describe('cloud.type', errors)}
              value={form.cloudType}
              disabled={mode === 'edit'}
              onChange={(e) =>
                update((f) => {
                  f.cloudType = e.currentTarget.value as 'dedicated' | 'byoc';
                  // Rapid autoscaling is for dedicated deployments only.
                  if (f.cloudType === 'byoc') f.rapidAutoscaling = false;
                })
              }
            >
              <option value="dedicated">Dedicated (managed cloud)</option>
              <option value="byoc">BYOC (your cluster)</option>
            </select>
          </Field>
        </div>
      </fieldset>

      {form.cloudType === 'dedicated' ? (
        <fieldset>
          <legend>Accelerator</legend>
          <div class="row">
            <Field
              path="cloud.accelerator.type"
              label="Accelerator type"
              errors={errors}
              hint={
                quota
                  ? `quota: ${quota.available} of ${quota.limit} GPUs available (${quota.reserved} reserved)${
                      own ? `; this deployment holds ${own}` : ''
                    }`
                  : 'quota: unknown'
              }
            >
              <select
                {...describe('cloud.accelerator.type', errors, true)}
                value={form.acceleratorType}
                onChange={(e) => update((f) => void (f.acceleratorType = e.currentTarget.value))}
              >
                {accelerators.map((a) => (
                  <option value={a.type} key={a.type}>
                    {a.description ?? a.type} ({a.memoryGb} GB)
                  </option>
                ))}
              </select>
            </Field>
            <NumberField
              path="cloud.accelerator.count"
              label="GPUs per replica"
              value={form.acceleratorCount}
              errors={errors}
              min={1}
              max={8}
              onInput={(v) => update((f) => void (f.acceleratorCount = v))}
            />
          </div>
        </fieldset>
      ) : (
        <fieldset>
          <legend>Cluster and resources (BYOC)</legend>
          <div class="row">
            <Field
              path="cloud.cluster"
              label="Cluster"
              errors={errors}
              hint={clusters.length ? undefined : 'no cluster linked to this workspace'}
            >
              <input
                type="text"
                list="clusters"
                {...describe('cloud.cluster', errors, !clusters.length)}
                value={form.cluster}
                disabled={mode === 'edit'}
                onInput={(e) => update((f) => void (f.cluster = e.currentTarget.value))}
              />
              <datalist id="clusters">
                {clusters.map((c) => (
                  <option value={c.name} key={c.name} />
                ))}
              </datalist>
            </Field>
            <Field
              path="cloud.nodeGroup"
              label="Node group"
              errors={errors}
              hint={
                nodeGroup
                  ? `${nodeGroup.instanceType}${
                      nodeGroup.gpu
                        ? `, ${nodeGroup.gpu.count} x ${nodeGroup.gpu.type} per node`
                        : ''
                    }; ${nodeGroup.gpuCapacity - nodeGroup.gpusReserved} of ${nodeGroup.gpuCapacity} GPUs free`
                  : undefined
              }
            >
              <input
                type="text"
                list="node-groups"
                {...describe('cloud.nodeGroup', errors, Boolean(nodeGroup))}
                value={form.nodeGroup}
                onInput={(e) => update((f) => void (f.nodeGroup = e.currentTarget.value))}
              />
              <datalist id="node-groups">
                {nodeGroups.map((n) => (
                  <option value={n.name} key={n.name} />
                ))}
              </datalist>
            </Field>
            <NumberField
              path="cloud.gpusPerReplica"
              label="GPUs per replica"
              value={form.gpusPerReplica}
              errors={errors}
              min={1}
              max={8}
              onInput={(v) => update((f) => void (f.gpusPerReplica = v))}
            />
          </div>
          <div class="row">
            {(
              [
                ['cpuRequest', 'CPU request', 'minimum guaranteed, e.g. 500m or 4'],
                ['cpuLimit', 'CPU limit', 'throttled above it'],
                ['memoryRequest', 'Memory request', 'minimum guaranteed, e.g. 32Gi'],
                ['memoryLimit', 'Memory limit', 'OOM-killed above it'],
              ] as const
            ).map(([key, label, hint]) => (
              <Field
                path={`cloud.resources.${key}`}
                label={label}
                errors={errors}
                hint={hint}
                key={key}
              >
                <input
                  type="text"
                  {...describe(`cloud.resources.${key}`, errors, true)}
                  value={form[key]}
                  onInput={(e) => update((f) => void (f[key] = e.currentTarget.value))}
                />
              </Field>
            ))}
          </div>
        </fieldset>
      )}

      <fieldset>
        <legend>SSH access</legend>
        <label class="inline">
          <input
            type="checkbox"
            id={fieldId('ssh.enabled')}
            checked={form.sshEnabled}
            onChange={(e) => update((f) => void (f.sshEnabled = e.currentTarget.checked))}
          />
          Enable SSH access
        </label>
        <FieldErrors path="ssh" errors={errors['ssh']} />
        {form.sshEnabled ? (
          <>
            <Field path="ssh.runtime" label="SSH runtime" errors={errors}>
              <select
                {...describe('ssh.runtime', errors)}
                value={form.sshRuntime}
                onChange={(e) =>
                  update((f) => void (f.sshRuntime = e.currentTarget.value as 'sidecar' | 'main'))
                }
              >
                <option value="sidecar">sidecar (a container beside the model server)</option>
                <option value="main">main (the model server's container)</option>
              </select>
            </Field>
            <FieldErrors path="ssh.users" errors={errors['ssh.users']} />
            {form.sshUsers.map((u, i) => (
              <div class="row" key={i}>
                <Field
                  path={`ssh.users.${i}.username`}
                  label={`User ${i + 1} name`}
                  errors={errors}
                >
                  <input
                    type="text"
                    {...describe(`ssh.users.${i}.username`, errors)}
                    value={u.username}
                    onInput={(e) =>
                      update((f) => void (f.sshUsers[i]!.username = e.currentTarget.value))
                    }
                  />
                </Field>
                <Field
                  path={`ssh.users.${i}.keySecret`}
                  label={`User ${i + 1} key secret`}
                  errors={errors}
                  hint="the name of an ssh-public-key secret, never the key"
                >
                  <input
                    type="text"
                    {...describe(`ssh.users.${i}.keySecret`, errors, true)}
                    value={u.keySecret}
                    onInput={(e) =>
                      update((f) => void (f.sshUsers[i]!.keySecret = e.currentTarget.value))
                    }
                  />
                </Field>
                <div class="field">
                  <div class="spacer" aria-hidden="true" />
                  <button type="button" onClick={() => update((f) => void f.sshUsers.splice(i, 1))}>
                    Remove user {i + 1}
                  </button>
                </div>
              </div>
            ))}
            <button
              type="button"
              disabled={form.sshUsers.length >= MAX_SSH_USERS}
              onClick={() => update((f) => void f.sshUsers.push({ username: '', keySecret: '' }))}
            >
              + Add user
            </button>{' '}
            <span class="hint">up to {MAX_SSH_USERS} users</span>
          </>
        ) : null}
      </fieldset>

      <fieldset>
        <legend>Scaling parameters</legend>
        <div class="row">
          <NumberField
            path="scaling.minReplicas"
            label="Minimum replicas"
            value={form.minReplicas}
            errors={errors}
            min={0}
            max={64}
            onInput={(v) => update((f) => void (f.minReplicas = v))}
          />
          <NumberField
            path="scaling.maxReplicas"
            label="Maximum replicas"
            value={form.maxReplicas}
            errors={errors}
            min={1}
            max={64}
            hint={
              form.cloudType === 'dedicated'
                ? `reserves ${count} x ${form.maxReplicas || '?'} = ${reserve} ${form.acceleratorType} GPU(s)${
                    maxFit !== null ? `; quota fits up to ${maxFit} replica(s)` : ''
                  }`
                : undefined
            }
            warn={form.cloudType === 'dedicated' && available !== null && reserve > available}
            onInput={(v) => update((f) => void (f.maxReplicas = v))}
          />
          <Field path="scaling.metric" label="Scaling metric" errors={errors}>
            <select
              {...describe('scaling.metric', errors)}
              value={form.metric}
              onChange={(e) =>
                update((f) => {
                  const to = e.currentTarget.value;
                  f.threshold = thresholdAfterMetricChange(f.threshold, f.metric, to);
                  f.metric = to;
                })
              }
            >
              {metrics.map((m) => (
                <option value={m} key={m}>
                  {METRIC_LABELS[m] ?? m}
                </option>
              ))}
            </select>
          </Field>
          <NumberField
            path="scaling.threshold"
            label="Threshold"
            value={form.threshold}
            errors={errors}
            max={form.metric === 'memory' ? 100 : undefined}
            step="any"
            inputMode="decimal"
            hint={`${METRIC_UNITS[form.metric] ?? ''}; > 0${
              form.metric === 'memory' ? ', at most 100' : ''
            }`}
            onInput={(v) => update((f) => void (f.threshold = v))}
          />
        </div>
        <details
          open={advancedOpen}
          onToggle={(e) => setAdvancedOpen((e.currentTarget as HTMLDetailsElement).open)}
        >
          <summary>Advanced options</summary>
          <label class="inline">
            <input
              type="checkbox"
              id={fieldId('scaling.scaleToZero.enabled')}
              checked={form.scaleToZero}
              disabled={form.scheduleEnabled && !form.scaleToZero}
              aria-describedby={form.scheduleEnabled ? 'hint-exclusive-zero' : undefined}
              onChange={(e) => update((f) => void (f.scaleToZero = e.currentTarget.checked))}
            />
            Enable scale to zero
          </label>
          {form.scheduleEnabled ? (
            <div class="hint" id="hint-exclusive-zero">
              {EXCLUSIVE}
            </div>
          ) : null}
          <FieldErrors path="scaling.scaleToZero" errors={errors['scaling.scaleToZero']} />
          {form.scaleToZero ? (
            <NumberField
              path="scaling.scaleToZero.cooldownSeconds"
              label="Cooldown period (seconds)"
              value={form.cooldownSeconds}
              errors={errors}
              min={10}
              max={86400}
              hint="wait this long after traffic stops before scaling to zero"
              onInput={(v) => update((f) => void (f.cooldownSeconds = v))}
            />
          ) : null}
          <div>
            <label class="inline">
              <input
                type="checkbox"
                id={fieldId('scaling.rapidAutoscaling')}
                checked={form.rapidAutoscaling}
                disabled={form.cloudType === 'byoc' && !form.rapidAutoscaling}
                onChange={(e) => update((f) => void (f.rapidAutoscaling = e.currentTarget.checked))}
              />
              Enable rapid autoscaling (dedicated only)
            </label>
            <FieldErrors
              path="scaling.rapidAutoscaling"
              errors={errors['scaling.rapidAutoscaling']}
            />
          </div>
          <NumberField
            path="readinessTimeoutSeconds"
            label="Readiness timeout (seconds)"
            value={form.readinessTimeoutSeconds}
            errors={errors}
            min={1}
            max={86400}
            hint="past it, health turns Progressing with timeout (and a new revision is rolled back)"
            onInput={(v) => update((f) => void (f.readinessTimeoutSeconds = v))}
          />
        </details>
      </fieldset>

      <fieldset>
        <legend>Schedule-based autoscaling</legend>
        <label class="inline">
          <input
            type="checkbox"
            id={fieldId('schedule.enabled')}
            checked={form.scheduleEnabled}
            disabled={form.scaleToZero && !form.scheduleEnabled}
            aria-describedby="hint-exclusive-schedule"
            onChange={(e) => update((f) => void (f.scheduleEnabled = e.currentTarget.checked))}
          />
          Enable schedule-based scaling
        </label>
        <FieldErrors path="schedule.enabled" errors={errors['schedule.enabled']} />
        <p class="hint" id="hint-exclusive-schedule">
          {EXCLUSIVE}
          {form.scaleToZero && !form.scheduleEnabled
            ? ' Turn off "Enable scale to zero" (Advanced options of Scaling parameters) first.'
            : ''}{' '}
          The cool-down after a window is fixed at 5 minutes. The highest pod count of open windows
          and standard scaling wins.
        </p>
        {form.scheduleEnabled ? (
          <>
            <div role="radiogroup" aria-label="Outside windows">
              <label class="inline">
                <input
                  type="radio"
                  name="outside"
                  checked={form.scaleToZeroOutsideWindows}
                  onChange={() => update((f) => void (f.scaleToZeroOutsideWindows = true))}
                />
                Scale to 0 outside windows (endpoint answers 503 until the next window)
              </label>
              <label class="inline">
                <input
                  type="radio"
                  name="outside"
                  checked={!form.scaleToZeroOutsideWindows}
                  onChange={() => update((f) => void (f.scaleToZeroOutsideWindows = false))}
                />
                Fall back to min/max replicas outside windows (keeps serving)
              </label>
            </div>
            <FieldErrors path="schedule.windows" errors={errors['schedule.windows']} />
            <datalist id="time-zones">
              {ZONES.map((z) => (
                <option value={z} key={z} />
              ))}
            </datalist>
            {form.windows.map((w, i) => (
              <ScheduleWindow
                key={i}
                index={i}
                window={w}
                maxReplicas={form.maxReplicas}
                errors={errors}
                onChange={(change) => update((f) => change(f.windows[i]!))}
                onRemove={() => update((f) => void f.windows.splice(i, 1))}
              />
            ))}
            <button
              type="button"
              disabled={form.windows.length >= MAX_SCHEDULE_WINDOWS}
              onClick={() => update((f) => void f.windows.push(newWindow()))}
            >
              + Add window
            </button>{' '}
            <span class="hint">up to {MAX_SCHEDULE_WINDOWS} windows</span>
          </>
        ) : null}
      </fieldset>

      <fieldset>
        <legend>Autoscaling policy</legend>
        <label class="inline">
          <input
            type="checkbox"
            id={fieldId('autoscalingPolicy')}
            checked={form.policyEnabled}
            onChange={(e) => update((f) => void (f.policyEnabled = e.currentTarget.checked))}
          />
          Configure an autoscaling policy
        </label>
        <p class="hint">
          Without one, standard min/max scaling on the metric applies without rate limiting.
        </p>
        {form.policyEnabled ? (
          <div class="grid2">
            <Rules
              title="Scale up"
              path="autoscalingPolicy.scaleUp"
              rules={form.scaleUp}
              errors={errors}
              onChange={(change) => update((f) => change(f.scaleUp))}
            />
            <Rules
              title="Scale down"
              path="autoscalingPolicy.scaleDown"
              rules={form.scaleDown}
              errors={errors}
              onChange={(change) => update((f) => change(f.scaleDown))}
            />
          </div>
        ) : null}
      </fieldset>

      <fieldset>
        <legend>Tags</legend>
        <FieldErrors path="tags" errors={errors['tags']} />
        {form.tags.map((t, i) => (
          <div class="row" key={i}>
            <Field path={`tags.${i}.key`} label={`Tag ${i + 1} key`} errors={errors}>
              <input
                type="text"
                {...describe(`tags.${i}.key`, errors)}
                value={t.key}
                onInput={(e) => update((f) => void (f.tags[i]!.key = e.currentTarget.value))}
              />
            </Field>
            <Field path={`tags.${i}.value`} label={`Tag ${i + 1} value`} errors={errors}>
              <input
                type="text"
                {...describe(`tags.${i}.value`, errors)}
                value={t.value}
                onInput={(e) => update((f) => void (f.tags[i]!.value = e.currentTarget.value))}
              />
            </Field>
            <div class="field">
              <div class="spacer" aria-hidden="true" />
              <button type="button" onClick={() => update((f) => void f.tags.splice(i, 1))}>
                Remove tag {i + 1}
              </button>
            </div>
          </div>
        ))}
        <button
          type="button"
          onClick={() => update((f) => void f.tags.push({ key: '', value: '' }))}
        >
          + Add tag
        </button>
      </fieldset>

      <div class="actions">
        <button type="submit" class="primary" disabled={busy}>
          {mode === 'create' ? 'Deploy model' : 'Save changes'}
        </button>
        <a
          class="button"
          href={mode === 'edit' && props.name ? href.deployment(props.name) : href.list()}
        >
          Cancel
        </a>
      </div>
    </form>
  );
}

function focusFirstError(errors: Errors): void {
  setTimeout(() => {
    for (const path of Object.keys(errors)) {
      const el = document.getElementById(fieldId(path));
      if (el) {
        el.focus();
        return;
      }
    }
  }, 0);
}

function NumberField(props: {
  path: string;
  label: string;
  value: string;
  errors: Errors;
  min?: number;
  max?: number;
  step?: string;
  hint?: string | undefined;
  warn?: boolean;
  inputMode?: 'numeric' | 'decimal';
  onInput: (value: string) => void;
}) {
  return (
    <Field
      path={props.path}
      label={props.label}
      errors={props.errors}
      hint={
        props.hint || props.min !== undefined
          ? [
              props.hint,
              props.min !== undefined && props.max !== undefined ? `${props.min}–${props.max}` : '',
            ]
              .filter(Boolean)
              .join('; ') + (props.warn ? ' — more than the quota has available' : '')
          : undefined
      }
    >
      <input
        type="number"
        inputMode={props.inputMode ?? 'numeric'}
        {...describe(props.path, props.errors, Boolean(props.hint || props.min !== undefined))}
        min={props.min}
        max={props.max}
        step={props.step ?? '1'}
        value={props.value}
        onInput={(e) => props.onInput(e.currentTarget.value)}
      />
    </Field>
  );
}

const ZONES = timeZones();

function ScheduleWindow(props: {
  index: number;
  window: WindowForm;
  maxReplicas: string;
  errors: Errors;
  onChange: (change: (w: WindowForm) => void) => void;
  onRemove: () => void;
}) {
  const { index: i, window: w, errors } = props;
  const base = `schedule.windows.${i}`;
  const start = cronSummary(w.startCron);
  const end = cronSummary(w.endCron);
  return (
    <div class="window" role="group" aria-label={`Window ${i + 1}`}>
      <div class="row" style="align-items:center">
        <strong>Window {i + 1}</strong>
        <fieldset class="inline-group">
          <legend>Window {i + 1}: how to say when</legend>
          <label class="inline">
            <input
              type="radio"
              name={`mode-${i}`}
              checked={w.mode === 'guided'}
              onChange={() => props.onChange((x) => void (x.mode = 'guided'))}
            />
            Guided
          </label>
          <label class="inline">
            <input
              type="radio"
              name={`mode-${i}`}
              checked={w.mode === 'custom'}
              onChange={() =>
                props.onChange((x) => {
                  // Start from the guided window's own expressions.
                  if (x.mode === 'guided') Object.assign(x, guidedToCustom(x));
                  x.mode = 'custom';
                })
              }
            />
            Custom (cron)
          </label>
        </fieldset>
        <button type="button" onClick={props.onRemove}>
          Remove window {i + 1}
        </button>
      </div>
      <FieldErrors path={base} errors={errors[base]} />
      <div class="row">
        <Field path={`${base}.timezone`} label="Timezone" errors={errors}>
          <input
            type="text"
            list="time-zones"
            {...describe(`${base}.timezone`, errors)}
            value={w.timezone}
            onInput={(e) => props.onChange((x) => void (x.timezone = e.currentTarget.value))}
          />
        </Field>
        <NumberField
          path={`${base}.minPods`}
          label="Minimum pods during window"
          value={w.minPods}
          errors={errors}
          min={1}
          max={8}
          hint={`≤ max replicas (${props.maxReplicas || '?'})`}
          onInput={(v) => props.onChange((x) => void (x.minPods = v))}
        />
      </div>
      {w.mode === 'guided' ? (
        <>
          <fieldset id={fieldId(`${base}.days`)} tabIndex={-1}>
            <legend>Days</legend>
            {WEEKDAYS.map((d) => (
              <label class="inline" key={d}>
                <input
                  type="checkbox"
                  checked={w.days.includes(d)}
                  onChange={(e) =>
                    props.onChange((x) => {
                      const on = e.currentTarget.checked;
                      x.days = WEEKDAYS.filter((day) => (day === d ? on : x.days.includes(day)));
                    })
                  }
                />
                {DAY_LABELS[d]}
              </label>
            ))}
            <FieldErrors path={`${base}.days`} errors={errors[`${base}.days`]} />
          </fieldset>
          <p class="hint" data-testid={`window-summary-${i}`}>
            {w.days.length
              ? describeWindow({
                  timezone: w.timezone,
                  days: w.days,
                  wakeAt: w.wakeAt,
                  coolDownAt: w.coolDownAt,
                })
              : 'pick at least one day'}
            {w.coolDownAt < w.wakeAt
              ? ' — overnight: it cools down the next day, after midnight'
              : ''}
          </p>
          <div class="row">
            <Field path={`${base}.wakeAt`} label="Wake up at" errors={errors}>
              <input
                type="time"
                {...describe(`${base}.wakeAt`, errors)}
                value={w.wakeAt}
                onInput={(e) => props.onChange((x) => void (x.wakeAt = e.currentTarget.value))}
              />
            </Field>
            <Field path={`${base}.coolDownAt`} label="Cool down at" errors={errors}>
              <input
                type="time"
                {...describe(`${base}.coolDownAt`, errors)}
                value={w.coolDownAt}
                onInput={(e) => props.onChange((x) => void (x.coolDownAt = e.currentTarget.value))}
              />
            </Field>
          </div>
        </>
      ) : (
        <div class="row">
          <Field
            path={`${base}.startCron`}
            label="Start (cron)"
            errors={errors}
            hint={
              <span class={start.ok ? '' : 'error'}>
                {start.text}
                {start.ok ? ` (${w.timezone || 'time zone?'})` : ''}
              </span>
            }
          >
            <input
              type="text"
              {...describe(`${base}.startCron`, errors, true)}
              value={w.startCron}
              onInput={(e) => props.onChange((x) => void (x.startCron = e.currentTarget.value))}
            />
          </Field>
          <Field
            path={`${base}.endCron`}
            label="End (cron)"
            errors={errors}
            hint={
              <span class={end.ok ? '' : 'error'}>
                {end.text}
                {end.ok ? ` (${w.timezone || 'time zone?'})` : ''}
              </span>
            }
          >
            <input
              type="text"
              {...describe(`${base}.endCron`, errors, true)}
              value={w.endCron}
              onInput={(e) => props.onChange((x) => void (x.endCron = e.currentTarget.value))}
            />
          </Field>
        </div>
      )}
    </div>
  );
}

function Rules(props: {
  title: string;
  path: string;
  rules: RulesForm;
  errors: Errors;
  onChange: (change: (r: RulesForm) => void) => void;
}) {
  const { path, rules, errors } = props;
  return (
    <fieldset>
      <legend>{props.title}</legend>
      <NumberField
        path={`${path}.stabilizationWindowSeconds`}
        label={`${props.title}: stabilization window (seconds)`}
        value={rules.stabilizationWindowSeconds}
        errors={errors}
        min={0}
        max={3600}
        onInput={(v) => props.onChange((r) => void (r.stabilizationWindowSeconds = v))}
      />
      <Field path={`${path}.selectPolicy`} label={`${props.title}: select policy`} errors={errors}>
        <select
          {...describe(`${path}.selectPolicy`, errors)}
          value={rules.selectPolicy}
          onChange={(e) =>
            props.onChange(
              (r) => void (r.selectPolicy = e.currentTarget.value as RulesForm['selectPolicy']),
            )
          }
        >
          <option value="Max">Max (the policy allowing the biggest change)</option>
          <option value="Min">Min (the policy allowing the smallest change)</option>
          <option value="Disabled">Disabled (no {props.title.toLowerCase()})</option>
        </select>
      </Field>
      <FieldErrors path={`${path}.policies`} errors={errors[`${path}.policies`]} />
      {rules.policies.map((p, j) => (
        <div class="row" key={j}>
          <Field path={`${path}.policies.${j}.type`} label={`Policy ${j + 1} type`} errors={errors}>
            <select
              {...describe(`${path}.policies.${j}.type`, errors)}
              value={p.type}
              onChange={(e) =>
                props.onChange(
                  (r) => void (r.policies[j]!.type = e.currentTarget.value as 'Pods' | 'Percent'),
                )
              }
            >
              <option value="Pods">Pods</option>
              <option value="Percent">Percent</option>
            </select>
          </Field>
          <NumberField
            path={`${path}.policies.${j}.value`}
            label={`Policy ${j + 1} value`}
            value={p.value}
            errors={errors}
            min={1}
            max={p.type === 'Percent' ? 100 : undefined}
            hint={p.type === 'Percent' ? 'percent of current pods per period' : 'pods per period'}
            onInput={(v) => props.onChange((r) => void (r.policies[j]!.value = v))}
          />
          <NumberField
            path={`${path}.policies.${j}.periodSeconds`}
            label={`Policy ${j + 1} period (seconds)`}
            value={p.periodSeconds}
            errors={errors}
            min={1}
            max={1800}
            onInput={(v) => props.onChange((r) => void (r.policies[j]!.periodSeconds = v))}
          />
          <div class="field">
            <div class="spacer" aria-hidden="true" />
            <button
              type="button"
              onClick={() => props.onChange((r) => void r.policies.splice(j, 1))}
            >
              Remove policy {j + 1}
            </button>
          </div>
        </div>
      ))}
      <button
        type="button"
        onClick={() =>
          props.onChange(
            (r) => void r.policies.push({ type: 'Pods', value: '4', periodSeconds: '60' }),
          )
        }
      >
        + Add policy
      </button>
    </fieldset>
  );
}
