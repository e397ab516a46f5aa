/**
 * What the workflows ask of a deployment spec, without its schema: the zod schemas (./spec) cost
 * about 1.3 MB in every cached workflow, and a workflow needs them only to check an edit, so
 * workflow code imports these and loads the schema on first use (./lazy-spec). The API reaches
 * all of this through ./spec, which re-exports it.
 */
import { CronExpressionParser } from 'cron-parser';
import type { DeploymentSpec } from './spec';

/** IANA time zone known to this runtime's ICU (full ICU in Node, also inside the workflow sandbox). */
export function isValidTimeZone(tz: string): boolean {
  if (!tz.includes('/') && tz !== 'UTC' && tz !== 'Etc/UTC') return false;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

/** Five-field cron (minute hour day-of-month month day-of-week); returns an error text or null. */
export function cronError(expression: string, tz = 'UTC'): string | null {
  const fields = expression.trim().split(/\s+/);
  if (fields.length !== 5) {
    return `must have 5 fields (minute hour day-of-month month day-of-week), got ${fields.length}`;
  }
  // cron-parser's "H" (hashed) extension picks a random value on every parse: not standard cron,
  // and a window that moves between the API's check and the workflow's evaluation.
  if (fields.some((field) => /(^|[^a-z])h($|[^a-z])/i.test(field))) {
    return 'the "H" (hashed) extension is not supported';
  }
  try {
    CronExpressionParser.parse(expression, { tz, currentDate: new Date(0) });
    return null;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}

/** Fixed by the product: the floor holds this long after a window closes. */
export const SCHEDULE_COOL_DOWN_SECONDS = 300;

// ---------------------------------------------------------------------------------------------
// Validation results in one shape, for the API (400 details) and update validators

/** One broken rule. */
export interface Violation {
  /** Dotted JSON path of the offending field, e.g. "scaling.minReplicas" ("" for the whole body). */
  path: string;
  message: string;
}

export type Validated<T> = { ok: true; value: T } | { ok: false; violations: Violation[] };

export function describeViolations(violations: Violation[]): string {
  return violations.map((v) => (v.path ? `${v.path}: ${v.message}` : v.message)).join('; ');
}

// ---------------------------------------------------------------------------------------------
// Questions the workflow asks of a spec

/** What runs: a change here needs a new revision and a rolling update. */
export function runtimeTemplateOf(
  spec: DeploymentSpec,
): Pick<DeploymentSpec, 'model' | 'cloud' | 'ssh'> {
  return { model: spec.model, cloud: spec.cloud, ssh: spec.ssh };
}

export function changesWhatRuns(before: DeploymentSpec, after: DeploymentSpec): boolean {
  return canonicalJson(runtimeTemplateOf(before)) !== canonicalJson(runtimeTemplateOf(after));
}

/** GPUs a dedicated deployment reserves: enough for maxReplicas, so scaling never needs a new check. */
export function quotaDemand(spec: DeploymentSpec): { accelerator: string; gpus: number } | null {
  if (spec.cloud.type !== 'dedicated') return null;
  return {
    accelerator: spec.cloud.accelerator.type,
    gpus: spec.cloud.accelerator.count * spec.scaling.maxReplicas,
  };
}

/** The ledger key of a BYOC node group: its capacity is the quota of BYOC deployments. */
export const NODE_GROUP_QUOTA_PREFIX = 'byoc:';
export function nodeGroupQuotaKey(cluster: string, nodeGroup: string): string {
  return `${NODE_GROUP_QUOTA_PREFIX}${cluster}/${nodeGroup}`;
}
export function parseNodeGroupQuotaKey(key: string): { cluster: string; nodeGroup: string } | null {
  if (!key.startsWith(NODE_GROUP_QUOTA_PREFIX)) return null;
  const [cluster, nodeGroup] = key.slice(NODE_GROUP_QUOTA_PREFIX.length).split('/');
  return cluster && nodeGroup ? { cluster, nodeGroup } : null;
}

/**
 * What the quota ledger holds for a deployment, keyed by accelerator type (dedicated) or by node
 * group (BYOC: `byoc:{cluster}/{nodeGroup}`, whose limit is the node group's GPU capacity).
 */
export function gpuDemand(spec: DeploymentSpec): Record<string, number> {
  const demand = quotaDemand(spec);
  if (demand) return { [demand.accelerator]: demand.gpus };
  if (spec.cloud.type !== 'byoc') return {};
  return {
    [nodeGroupQuotaKey(spec.cloud.cluster, spec.cloud.nodeGroup)]:
      spec.cloud.gpusPerReplica * spec.scaling.maxReplicas,
  };
}

/** Where a deployment's replicas run. Fixed at create: an edit cannot move a deployment. */
export type RuntimeTarget = { type: 'dedicated' } | { type: 'byoc'; cluster: string };

export function runtimeTargetOf(spec: Pick<DeploymentSpec, 'cloud'>): RuntimeTarget {
  return spec.cloud.type === 'byoc'
    ? { type: 'byoc', cluster: spec.cloud.cluster }
    : { type: 'dedicated' };
}

/**
 * An edit that would move the deployment to another cloud or cluster: replicas, Service and quota
 * live there, so moving is a new deployment (create the new one, then delete this one).
 */
export function placementChange(before: DeploymentSpec, after: DeploymentSpec): Violation | null {
  const from = runtimeTargetOf(before);
  const to = runtimeTargetOf(after);
  if (from.type !== to.type) {
    return {
      path: 'cloud.type',
      message: `cannot change from "${from.type}" to "${to.type}": create a new deployment there, then delete this one`,
    };
  }
  if (from.type === 'byoc' && to.type === 'byoc' && from.cluster !== to.cluster) {
    return {
      path: 'cloud.cluster',
      message: `cannot change from "${from.cluster}" to "${to.cluster}": create a new deployment on that cluster, then delete this one`,
    };
  }
  return null;
}

/** JSON with sorted keys, for order-insensitive comparison. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(
          Object.entries(v as Record<string, unknown>).sort(([a], [b]) =>
            a < b ? -1 : a > b ? 1 : 0,
          ),
        )
      : v,
  );
}
