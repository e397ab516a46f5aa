/**
 * The deployment domain schema: every field, default, range and cross-field rule of the
 * product page (creating-a-deployment.md) and the public contract (api.md).
 *
 * One module, imported by the REST API (request bodies, OpenAPI) and by the deployment
 * workflow's update validators, so a rule is written once and enforced the same way at the
 * edge and inside the workflow. Pure: zod and cron-parser only, safe in the workflow sandbox.
 */
import { z } from 'zod';
import { parseCpuQuantity, parseMemoryQuantity } from './quantity';
import { cronError, isValidTimeZone, type Validated, type Violation } from './spec-facts';

export * from './spec-facts';

// ---------------------------------------------------------------------------------------------
// Small building blocks

/** RFC 1123 label, as Kubernetes names: lower case alphanumerics and '-', 1..63 chars. */
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
/** RFC 1123 subdomain (Kubernetes Secret names), up to 253 chars. */
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

export const dnsLabel = (what: string) =>
  z
    .string()
    .min(1, `${what} must not be empty`)
    .max(63, `${what} must be at most 63 characters`)
    .regex(
      DNS_LABEL,
      `${what} must be a DNS-1123 label: lower-case letters, digits and '-', starting and ending with a letter or digit`,
    );

export const deploymentNameSchema = dnsLabel('name');
export const workspaceNameSchema = dnsLabel('workspace');

const timeZoneSchema = z.string().refine(isValidTimeZone, {
  message: 'timezone must be an IANA time zone such as "Europe/London" or "UTC"',
});

const cronSchema = z.string().superRefine((value, ctx) => {
  const error = cronError(value);
  if (error)
    ctx.addIssue({ code: 'custom', message: `invalid cron expression "${value}": ${error}` });
});

const HH_MM = /^([01]\d|2[0-3]):[0-5]\d$/;
const timeOfDaySchema = z
  .string()
  .regex(HH_MM, 'must be a time of day as HH:MM (24-hour), e.g. "09:00"');

export const WEEKDAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;
export type Weekday = (typeof WEEKDAYS)[number];

// ---------------------------------------------------------------------------------------------
// Cloud: dedicated (managed, quota-checked) or BYOC (the customer's cluster)

export const acceleratorRequestSchema = z.strictObject({
  type: z.string().min(1, 'accelerator type is required'),
  count: z.number().int().min(1).max(8).default(1),
});

export const dedicatedCloudSchema = z.strictObject({
  type: z.literal('dedicated'),
  accelerator: acceleratorRequestSchema,
});

export const byocResourcesSchema = z
  .strictObject({
    cpuRequest: z.string(),
    cpuLimit: z.string(),
    memoryRequest: z.string(),
    memoryLimit: z.string(),
  })
  .superRefine((r, ctx) => {
    const cpu = quantityPair(ctx, r.cpuRequest, r.cpuLimit, 'cpu', parseCpuQuantity);
    const memory = quantityPair(ctx, r.memoryRequest, r.memoryLimit, 'memory', parseMemoryQuantity);
    if (cpu && cpu.request > cpu.limit) {
      ctx.addIssue({
        code: 'custom',
        path: ['cpuRequest'],
        message: `cpuRequest (${r.cpuRequest}) must not exceed cpuLimit (${r.cpuLimit})`,
      });
    }
    if (memory && memory.request > memory.limit) {
      ctx.addIssue({
        code: 'custom',
        path: ['memoryRequest'],
        message: `memoryRequest (${r.memoryRequest}) must not exceed memoryLimit (${r.memoryLimit})`,
      });
    }
  });

function quantityPair(
  ctx: z.RefinementCtx,
  request: string,
  limit: string,
  kind: 'cpu' | 'memory',
  parse: (q: string) => number | null,
): { request: number; limit: number } | null {
  const example = kind === 'cpu' ? '"500m" or "4"' : '"512Mi" or "64Gi"';
  const req = parse(request);
  const lim = parse(limit);
  if (req === null || req <= 0) {
    ctx.addIssue({
      code: 'custom',
      path: [`${kind}Request`],
      message: `${kind}Request must be a positive Kubernetes quantity such as ${example}`,
    });
  }
  if (lim === null || lim <= 0) {
    ctx.addIssue({
      code: 'custom',
      path: [`${kind}Limit`],
      message: `${kind}Limit must be a positive Kubernetes quantity such as ${example}`,
    });
  }
  return req === null || lim === null ? null : { request: req, limit: lim };
}

export const byocCloudSchema = z.strictObject({
  type: z.literal('byoc'),
  cluster: dnsLabel('cluster'),
  nodeGroup: z
    .string()
    .min(1, 'nodeGroup is required')
    .max(63)
    .regex(/^[A-Za-z0-9][A-Za-z0-9_-]*$/, 'nodeGroup must be letters, digits, "-" and "_"'),
  /** GPUs of the node group's type each replica gets; at most a node's GPUs (checked at admission). */
  gpusPerReplica: z.number().int().min(1).max(8).default(1),
  resources: byocResourcesSchema,
});

export const cloudSchema = z.discriminatedUnion('type', [dedicatedCloudSchema, byocCloudSchema], {
  error: 'cloud.type must be "dedicated" or "byoc"',
});

// ---------------------------------------------------------------------------------------------
// SSH access

export const MAX_SSH_USERS = 5;

export const sshSchema = z
  .strictObject({
    enabled: z.boolean().default(true),
    runtime: z.enum(['sidecar', 'main']).default('sidecar'),
    users: z
      .array(
        z.strictObject({
          username: z
            .string()
            .regex(
              /^[a-z_][a-z0-9_-]{0,31}$/,
              'username must be a Linux user name: lower case, digits, "_" or "-", up to 32 characters',
            ),
          // A Secret's *name*. Key material never enters the spec, the workflow history or logs.
          keySecret: z
            .string()
            .max(253)
            .regex(
              DNS_SUBDOMAIN,
              'keySecret must be the name of a secret (DNS-1123 subdomain), never key material',
            ),
        }),
      )
      .max(MAX_SSH_USERS, `at most ${MAX_SSH_USERS} SSH users per deployment`)
      .default([]),
  })
  .superRefine((ssh, ctx) => {
    if (ssh.enabled && ssh.users.length === 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['users'],
        message: 'SSH access needs at least one user',
      });
    }
    const seen = new Set<string>();
    ssh.users.forEach((u, i) => {
      if (seen.has(u.username)) {
        ctx.addIssue({
          code: 'custom',
          path: ['users', i, 'username'],
          message: `duplicate SSH user "${u.username}"`,
        });
      }
      seen.add(u.username);
    });
  });

// ---------------------------------------------------------------------------------------------
// Scaling parameters

export const SCALING_METRICS = ['memory', 'latency', 'throughput', 'concurrency'] as const;
export type ScalingMetric = (typeof SCALING_METRICS)[number];

/** Replica counts are bounded by quota; this is the hard ceiling of one deployment. */
export const MAX_REPLICAS_LIMIT = 64;

export const scaleToZeroSchema = z.strictObject({
  enabled: z.boolean().default(false),
  cooldownSeconds: z.number().int().min(10).max(86_400).default(300),
});

export const scalingSchema = z
  .strictObject({
    minReplicas: z.number().int().min(0).max(MAX_REPLICAS_LIMIT).default(1),
    maxReplicas: z.number().int().min(1).max(MAX_REPLICAS_LIMIT).default(1),
    metric: z
      .enum(SCALING_METRICS, { error: `metric must be one of ${SCALING_METRICS.join(', ')}` })
      .default('concurrency'),
    threshold: z.number().positive('threshold must be greater than 0').default(8),
    scaleToZero: scaleToZeroSchema.prefault({}),
    rapidAutoscaling: z.boolean().default(false),
  })
  .superRefine((s, ctx) => {
    if (s.minReplicas > s.maxReplicas) {
      ctx.addIssue({
        code: 'custom',
        path: ['minReplicas'],
        message: `minReplicas (${s.minReplicas}) must not exceed maxReplicas (${s.maxReplicas})`,
      });
    }
    if (s.metric === 'memory' && s.threshold > 100) {
      ctx.addIssue({
        code: 'custom',
        path: ['threshold'],
        message: 'a memory threshold is a percentage of the limit: at most 100',
      });
    }
  });

// ---------------------------------------------------------------------------------------------
// Schedule-based autoscaling

export const MIN_PODS_PER_WINDOW = { min: 1, max: 8 } as const;

/**
 * A window is either guided (days, wakeAt, coolDownAt) or custom (startCron, endCron). One
 * object with all fields optional, checked by hand, gives clearer errors than a zod union.
 */
export const scheduleWindowSchema = z
  .strictObject({
    timezone: timeZoneSchema.default('UTC'),
    minPods: z.number().int().min(MIN_PODS_PER_WINDOW.min).max(MIN_PODS_PER_WINDOW.max),
    days: z
      .array(z.enum(WEEKDAYS, { error: 'days are mon, tue, wed, thu, fri, sat, sun' }))
      .optional(),
    wakeAt: timeOfDaySchema.optional(),
    coolDownAt: timeOfDaySchema.optional(),
    startCron: cronSchema.optional(),
    endCron: cronSchema.optional(),
  })
  .superRefine((w, ctx) => {
    const guided = w.days !== undefined || w.wakeAt !== undefined || w.coolDownAt !== undefined;
    const custom = w.startCron !== undefined || w.endCron !== undefined;
    if (guided && custom) {
      ctx.addIssue({
        code: 'custom',
        message:
          'a window is either guided (days, wakeAt, coolDownAt) or custom (startCron, endCron), not both',
      });
      return;
    }
    if (custom) {
      for (const key of ['startCron', 'endCron'] as const) {
        if (w[key] === undefined)
          ctx.addIssue({ code: 'custom', path: [key], message: `a custom window needs ${key}` });
      }
      if (w.startCron !== undefined && w.startCron === w.endCron) {
        ctx.addIssue({
          code: 'custom',
          path: ['endCron'],
          message: 'endCron must differ from startCron',
        });
      }
      return;
    }
    for (const key of ['days', 'wakeAt', 'coolDownAt'] as const) {
      if (w[key] === undefined)
        ctx.addIssue({ code: 'custom', path: [key], message: `a guided window needs ${key}` });
    }
    if (w.days !== undefined) {
      if (w.days.length === 0)
        ctx.addIssue({ code: 'custom', path: ['days'], message: 'select at least one day' });
      if (new Set(w.days).size !== w.days.length)
        ctx.addIssue({ code: 'custom', path: ['days'], message: 'days must not repeat' });
    }
    if (w.wakeAt !== undefined && w.wakeAt === w.coolDownAt) {
      ctx.addIssue({
        code: 'custom',
        path: ['coolDownAt'],
        message: 'coolDownAt must differ from wakeAt',
      });
    }
  });

export const MAX_SCHEDULE_WINDOWS = 20;

export const scheduleSchema = z
  .strictObject({
    enabled: z.boolean().default(true),
    scaleToZeroOutsideWindows: z.boolean().default(false),
    windows: z.array(scheduleWindowSchema).max(MAX_SCHEDULE_WINDOWS).default([]),
  })
  .superRefine((s, ctx) => {
    if (s.enabled && s.windows.length === 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['windows'],
        message: 'schedule-based scaling needs at least one window',
      });
    }
  });

// ---------------------------------------------------------------------------------------------
// Autoscaling policy: the shape of Kubernetes HPA v2 `behavior`

export const scalingPolicySchema = z
  .strictObject({
    type: z.enum(['Pods', 'Percent']),
    value: z.number().int().min(1, 'policy value must be at least 1'),
    periodSeconds: z.number().int().min(1).max(1800),
  })
  .superRefine((p, ctx) => {
    if (p.type === 'Percent' && p.value > 100) {
      ctx.addIssue({
        code: 'custom',
        path: ['value'],
        message: 'a Percent policy value is at most 100',
      });
    }
  });

const scalingRulesSchema = (defaults: {
  stabilizationWindowSeconds: number;
  selectPolicy: 'Max' | 'Min';
}) =>
  z.strictObject({
    stabilizationWindowSeconds: z
      .number()
      .int()
      .min(0)
      .max(3600)
      .default(defaults.stabilizationWindowSeconds),
    selectPolicy: z.enum(['Max', 'Min', 'Disabled']).default(defaults.selectPolicy),
    policies: z.array(scalingPolicySchema).max(10).default([]),
  });

export const SCALE_UP_DEFAULTS = { stabilizationWindowSeconds: 60, selectPolicy: 'Max' } as const;
export const SCALE_DOWN_DEFAULTS = {
  stabilizationWindowSeconds: 180,
  selectPolicy: 'Min',
} as const;

export const autoscalingPolicySchema = z.strictObject({
  scaleUp: scalingRulesSchema(SCALE_UP_DEFAULTS).prefault({}),
  scaleDown: scalingRulesSchema(SCALE_DOWN_DEFAULTS).prefault({}),
});

// ---------------------------------------------------------------------------------------------
// Tags

const TAG_KEY = /^[A-Za-z0-9]([-A-Za-z0-9_./]*[A-Za-z0-9])?$/;
export const MAX_TAGS = 32;

export const tagsSchema = z
  .record(
    z
      .string()
      .max(63, 'tag keys are at most 63 characters')
      .regex(
        TAG_KEY,
        'tag keys are letters, digits, "-", "_", "." and "/" (no ":"), starting and ending with a letter or digit',
      ),
    z.string().max(256, 'tag values are at most 256 characters'),
  )
  .default({})
  .refine((t) => Object.keys(t).length <= MAX_TAGS, { message: `at most ${MAX_TAGS} tags` });

// ---------------------------------------------------------------------------------------------
// The deployment spec

export const DEFAULT_READINESS_TIMEOUT_SECONDS = 600;

const specShape = {
  model: z.string().min(1, 'model is required'),
  cloud: cloudSchema,
  ssh: sshSchema.optional(),
  scaling: scalingSchema.prefault({}),
  schedule: scheduleSchema.optional(),
  autoscalingPolicy: autoscalingPolicySchema.optional(),
  tags: tagsSchema,
  /** How long weights may take to load before health turns ProgressingWithTimeout (added field). */
  readinessTimeoutSeconds: z
    .number()
    .int()
    .min(1)
    .max(86_400)
    .default(DEFAULT_READINESS_TIMEOUT_SECONDS),
};

/** Rules that span sections; run on the parsed (defaulted) spec. */
function crossFieldRules(
  spec: z.output<z.ZodObject<typeof specShape>>,
  ctx: z.RefinementCtx,
): void {
  const scheduleOn = spec.schedule?.enabled === true;
  if (scheduleOn && spec.scaling.scaleToZero.enabled) {
    ctx.addIssue({
      code: 'custom',
      path: ['schedule', 'enabled'],
      message:
        'schedule-based scaling and scaling.scaleToZero are mutually exclusive; use schedule.scaleToZeroOutsideWindows to scale to zero on a schedule',
    });
  }
  if (spec.scaling.rapidAutoscaling && spec.cloud.type !== 'dedicated') {
    ctx.addIssue({
      code: 'custom',
      path: ['scaling', 'rapidAutoscaling'],
      message: 'rapid autoscaling is available on dedicated deployments only',
    });
  }
  const zeroAllowed =
    spec.scaling.scaleToZero.enabled ||
    (scheduleOn && spec.schedule?.scaleToZeroOutsideWindows === true);
  if (spec.scaling.minReplicas === 0 && !zeroAllowed) {
    ctx.addIssue({
      code: 'custom',
      path: ['scaling', 'minReplicas'],
      message:
        'minReplicas 0 needs scaling.scaleToZero.enabled (or schedule.scaleToZeroOutsideWindows)',
    });
  }
  spec.schedule?.windows.forEach((w, i) => {
    if (w.minPods > spec.scaling.maxReplicas) {
      ctx.addIssue({
        code: 'custom',
        path: ['schedule', 'windows', i, 'minPods'],
        message: `window minPods (${w.minPods}) must not exceed scaling.maxReplicas (${spec.scaling.maxReplicas})`,
      });
    }
  });
}

export const deploymentSpecSchema = z.strictObject(specShape).superRefine(crossFieldRules);

/** POST body: the spec plus the deployment's name. */
/**
 * A create takes the spec's fields beside `name` (api.md), while an edit wraps them in `spec`: a
 * create sent the edit's way is told where the fields go, not just that `spec` is unknown.
 */
const CREATE_WITH_SPEC_WRAPPER =
  'a create takes the spec\'s fields beside name, not inside "spec": send {"name": ..., "model": ..., "cloud": ...}';

export const createDeploymentSchema = z
  .strictObject(
    { name: deploymentNameSchema, ...specShape },
    {
      error: (issue) =>
        issue.code === 'unrecognized_keys' && issue.keys.includes('spec')
          ? CREATE_WITH_SPEC_WRAPPER
          : undefined,
    },
  )
  .superRefine((body, ctx) => crossFieldRules(body, ctx));

export type DeploymentSpecInput = z.input<typeof deploymentSpecSchema>;
export type DeploymentSpec = z.output<typeof deploymentSpecSchema>;
export type ScheduleWindow = z.output<typeof scheduleWindowSchema>;
export type Schedule = z.output<typeof scheduleSchema>;
export type AutoscalingPolicy = z.output<typeof autoscalingPolicySchema>;
export type ScalingRules = AutoscalingPolicy['scaleUp'];
export type ScalingPolicy = z.output<typeof scalingPolicySchema>;
export type Cloud = z.output<typeof cloudSchema>;

// ---------------------------------------------------------------------------------------------
// Validation results in one shape, for the API (400 details) and update validators

export function violationsOf(
  error: z.ZodError,
  prefix: readonly (string | number)[] = [],
): Violation[] {
  return error.issues.flatMap((issue) => {
    const path = [...prefix, ...issue.path].map(String).join('.');
    // A bad record key (a tag key) comes as one generic "Invalid key in record" issue wrapping
    // the rule it breaks: report the rule's own words.
    if (issue.code === 'invalid_key' && issue.issues.length) {
      return issue.issues.map((inner) => ({ path, message: inner.message }));
    }
    return [{ path, message: issue.message }];
  });
}

export function validateSpec(input: unknown): Validated<DeploymentSpec> {
  const result = deploymentSpecSchema.safeParse(input);
  return result.success
    ? { ok: true, value: result.data }
    : { ok: false, violations: violationsOf(result.error) };
}
