/**
 * What the REST API does with deployments, over a Temporal client: start, update, query and
 * list deployment workflows, and turn Temporal's errors into domain errors (one type each).
 * The HTTP layer stays thin; tests drive this service and the HTTP routes alike.
 */
import {
  ApplicationFailure,
  Client,
  QueryRejectedError,
  ServiceError,
  WithStartWorkflowOperation,
  WorkflowExecutionAlreadyStartedError,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  WorkflowUpdateRPCTimeoutOrCancelledError,
  isGrpcDeadlineError,
} from '@temporalio/client';
import type { Catalog } from '../workflows/domain/catalog';
import { checkAgainstCatalog } from '../workflows/domain/catalog';
import type {
  DeploymentEvent,
  DeploymentView,
  DeploymentState,
  Health,
} from '../workflows/domain/deployment';
import { ErrorType } from '../workflows/domain/errors';
import { SA, tagValues } from '../workflows/domain/search-attributes';
import type { DeploymentSpec, Violation } from '../workflows/domain/spec';
import {
  validateSpec,
  violationsOf,
  deploymentNameSchema,
  describeViolations,
} from '../workflows/domain/spec';
import { applyMergePatch } from '../workflows/domain/merge-patch';
import {
  DEPLOYMENT_WORKFLOW_TYPE,
  admissionUpdate,
  deleteUpdate,
  deploymentWorkflowId,
  editUpdate,
  eventsQuery,
  pauseUpdate,
  resumeUpdate,
  statusQuery,
} from '../workflows/deployment/definitions';
import type { deploymentWorkflow } from '../workflows/deployment/workflow';
import type { QuotaUsage } from '../workflows/quota/definitions';
import { quotaWorkflowId, usageQuery } from '../workflows/quota/definitions';

import { DomainError } from './errors';

export { DomainError, type DomainErrorCode } from './errors';

export interface ListFilters {
  tags?: { key: string; value: string }[];
  health?: Health;
  state?: DeploymentState;
  pageSize: number;
  pageToken?: string;
}

export interface QuotaLine {
  accelerator: string;
  limit: number;
  reserved: number;
  available: number;
}

export interface DeploymentServiceOptions {
  client: Client;
  taskQueue: string;
  catalog: Catalog;
  limitFor(workspace: string, accelerator: string): number;
  /**
   * How long a query or update may wait for the deployment's workflow to answer. Only a missing
   * worker makes it wait: then the API says so (503) instead of hanging.
   */
  answerTimeoutMs?: number;
}

const DEFAULT_ANSWER_TIMEOUT_MS = 10_000;

export class DeploymentService {
  private readonly client: Client;

  constructor(private readonly options: DeploymentServiceOptions) {
    // Queries of closed workflows are rejected, so a deleted deployment answers 404, in one call.
    this.client = new Client({
      connection: options.client.connection,
      namespace: options.client.options.namespace,
      workflow: { queryRejectCondition: 'NOT_OPEN' },
    });
  }

  /** Validates the body (schema + catalog), then starts the workflow and waits for its admission. */
  async create(workspace: string, body: unknown): Promise<DeploymentView> {
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      throw new DomainError(ErrorType.InvalidSpec, 'the body must be a JSON object');
    }
    const { name, ...rest } = body as Record<string, unknown>;
    const nameCheck = deploymentNameSchema.safeParse(name);
    const specCheck = this.validate(rest);
    const violations = [
      ...(nameCheck.success ? [] : violationsOf(nameCheck.error, ['name'])),
      ...(specCheck.ok ? [] : specCheck.violations),
    ];
    if (!nameCheck.success || !specCheck.ok) throw invalid(violations);
    return this.start(workspace, nameCheck.data, specCheck.value);
  }

  async clone(workspace: string, source: string, body: unknown): Promise<DeploymentView> {
    const { name, spec: overrides } = (body ?? {}) as { name?: unknown; spec?: unknown };
    const original = await this.get(workspace, source);
    return this.create(workspace, {
      name,
      ...(applyMergePatch(original.spec, overrides ?? {}) as object),
    });
  }

  async get(workspace: string, name: string): Promise<DeploymentView> {
    return this.call(workspace, name, (h) => h.query(statusQuery));
  }

  async events(workspace: string, name: string): Promise<DeploymentEvent[]> {
    return this.call(workspace, name, (h) => h.query(eventsQuery));
  }

  /** A JSON merge patch of the resource in which only `spec` may change. */
  async edit(workspace: string, name: string, patch: unknown): Promise<DeploymentView> {
    const current = await this.get(workspace, name);
    const patched = applyMergePatch(current, patch) as Record<string, unknown>;
    const changedOutsideSpec = Object.keys({ ...current, ...patched }).filter(
      (key) =>
        key !== 'spec' &&
        JSON.stringify(patched[key]) !==
          JSON.stringify((current as unknown as Record<string, unknown>)[key]),
    );
    if (changedOutsideSpec.length > 0) {
      throw invalid(
        changedOutsideSpec.map((key) => ({
          path: key,
          message: `only spec may change; ${key} is read-only`,
        })),
      );
    }
    const checked = this.validate(patched.spec, ['spec']);
    if (!checked.ok) throw invalid(checked.violations);
    return this.call(workspace, name, (h) =>
      h.executeUpdate(editUpdate, { args: [checked.value] }),
    );
  }

  async pause(workspace: string, name: string): Promise<DeploymentView> {
    return this.call(workspace, name, (h) => h.executeUpdate(pauseUpdate, { args: [{}] }));
  }

  async resume(workspace: string, name: string): Promise<DeploymentView> {
    return this.call(workspace, name, (h) => h.executeUpdate(resumeUpdate, { args: [{}] }));
  }

  async delete(workspace: string, name: string): Promise<DeploymentView> {
    return this.call(workspace, name, (h) => h.executeUpdate(deleteUpdate, { args: [{}] }));
  }

  /** Running deployments of a workspace, filtered through search attributes, a page at a time. */
  async list(
    workspace: string,
    filters: ListFilters,
  ): Promise<{ items: DeploymentView[]; nextPageToken?: string }> {
    const clauses = [
      `WorkflowType = '${DEPLOYMENT_WORKFLOW_TYPE}'`,
      `ExecutionStatus = 'Running'`,
      `${SA.workspace.name} = ${quote(workspace)}`,
      ...(filters.health ? [`${SA.health.name} = ${quote(filters.health)}`] : []),
      ...(filters.state ? [`${SA.state.name} = ${quote(filters.state)}`] : []),
      ...(filters.tags ?? []).map(
        (t) => `${SA.tags.name} = ${quote(tagValues({ [t.key]: t.value })[0]!)}`,
      ),
    ];
    const response = await this.client.workflowService.listWorkflowExecutions({
      namespace: this.client.options.namespace,
      query: clauses.join(' AND '),
      pageSize: filters.pageSize,
      nextPageToken: filters.pageToken ? Buffer.from(filters.pageToken, 'base64url') : undefined,
    });
    const ids = (response.executions ?? [])
      .map((e) => e.execution?.workflowId)
      .filter((id): id is string => !!id);
    const views = await Promise.all(
      ids.map(
        (id) =>
          this.client.workflow
            .getHandle(id)
            .query(statusQuery)
            .catch(() => undefined), // closed between list and query: skip it
      ),
    );
    const token =
      response.nextPageToken && response.nextPageToken.length > 0
        ? Buffer.from(response.nextPageToken).toString('base64url')
        : undefined;
    return {
      items: views.filter((v): v is DeploymentView => !!v),
      ...(token ? { nextPageToken: token } : {}),
    };
  }

  /** GPUs reserved per ledger key (accelerator type, or `byoc:{cluster}/{nodeGroup}`). */
  async reserved(workspace: string): Promise<Record<string, number>> {
    try {
      const usage: QuotaUsage = await this.client.workflow
        .getHandle(quotaWorkflowId(workspace))
        .query(usageQuery);
      return usage.reserved;
    } catch (err) {
      if (!(err instanceof WorkflowNotFoundError)) throw err; // no reservation ever made
      return {};
    }
  }

  async quotas(workspace: string): Promise<QuotaLine[]> {
    const usage = { reserved: await this.reserved(workspace) };
    return this.options.catalog.accelerators.map(({ type }) => {
      const limit = this.options.limitFor(workspace, type);
      const reserved = usage.reserved[type] ?? 0;
      return { accelerator: type, limit, reserved, available: Math.max(0, limit - reserved) };
    });
  }

  // ---- internals -----------------------------------------------------------------------------

  private validate(
    spec: unknown,
    prefix: string[] = [],
  ): { ok: true; value: DeploymentSpec } | { ok: false; violations: Violation[] } {
    const parsed = validateSpec(spec);
    if (!parsed.ok)
      return {
        ok: false,
        violations: parsed.violations.map((v) => ({
          ...v,
          path: [...prefix, v.path].filter(Boolean).join('.'),
        })),
      };
    const catalogViolations = checkAgainstCatalog(parsed.value, this.options.catalog);
    if (catalogViolations.length > 0)
      return {
        ok: false,
        violations: catalogViolations.map((v) => ({ ...v, path: [...prefix, v.path].join('.') })),
      };
    return parsed;
  }

  private async start(
    workspace: string,
    name: string,
    spec: DeploymentSpec,
  ): Promise<DeploymentView> {
    const workflowId = deploymentWorkflowId(workspace, name);
    const startWorkflowOperation = new WithStartWorkflowOperation<typeof deploymentWorkflow>(
      DEPLOYMENT_WORKFLOW_TYPE,
      {
        workflowId,
        taskQueue: this.options.taskQueue,
        args: [{ workspace, name, spec }],
        // The workflow ID is the lock on the name: a running deployment keeps it taken.
        workflowIdConflictPolicy: 'FAIL',
        typedSearchAttributes: [
          { key: SA.workspace, value: workspace },
          { key: SA.name, value: name },
          { key: SA.state, value: 'creating' },
          { key: SA.health, value: 'Progressing' },
          { key: SA.model, value: spec.model },
          { key: SA.tags, value: tagValues(spec.tags) },
        ],
      },
    );
    try {
      return await this.answered(
        `the new deployment "${name}" (accepted; it proceeds once a worker runs)`,
        () =>
          this.client.workflow.executeUpdateWithStart(admissionUpdate, { startWorkflowOperation }),
      );
    } catch (err) {
      if (err instanceof WorkflowExecutionAlreadyStartedError) {
        throw new DomainError(
          ErrorType.Conflict,
          `a deployment named "${name}" already exists in workspace "${workspace}"`,
        );
      }
      throw toDomainError(err);
    }
  }

  /** Runs a call to a workflow with a deadline; no answer in time means no worker is answering. */
  private async answered<T>(what: string, fn: () => Promise<T>): Promise<T> {
    const timeoutMs = this.options.answerTimeoutMs ?? DEFAULT_ANSWER_TIMEOUT_MS;
    const deadline = Date.now() + timeoutMs;
    try {
      return await this.client.connection.withDeadline(deadline, fn);
    } catch (err) {
      // The deadline surfaces as DEADLINE_EXCEEDED or as a cancelled call, depending on the RPC.
      const timedOut =
        isGrpcDeadlineError(err) ||
        err instanceof WorkflowUpdateRPCTimeoutOrCancelledError ||
        (err instanceof ServiceError && Date.now() >= deadline);
      if (timedOut) {
        throw new DomainError(
          'unavailable',
          `${what} did not answer within ${timeoutMs / 1000} s: is a worker running on task queue "${this.options.taskQueue}"? (npm start runs one)`,
        );
      }
      throw err;
    }
  }

  private async call<T>(
    workspace: string,
    name: string,
    fn: (handle: ReturnType<Client['workflow']['getHandle']>) => Promise<T>,
  ): Promise<T> {
    try {
      const handle = this.client.workflow.getHandle(deploymentWorkflowId(workspace, name));
      return await this.answered(`deployment "${name}"`, () => fn(handle));
    } catch (err) {
      if (err instanceof WorkflowNotFoundError || err instanceof QueryRejectedError) {
        throw new DomainError(
          ErrorType.NotFound,
          `no deployment named "${name}" in workspace "${workspace}"`,
        );
      }
      throw toDomainError(err);
    }
  }
}

function invalid(violations: Violation[]): DomainError {
  return new DomainError(
    ErrorType.InvalidSpec,
    `invalid deployment: ${describeViolations(violations)}`,
    violations,
  );
}

/** Failures raised by workflow validators and handlers carry their type; map it to the API's code. */
export function toDomainError(err: unknown): unknown {
  if (err instanceof WorkflowUpdateFailedError) {
    const cause = err.cause;
    if (cause instanceof ApplicationFailure && isDomainCode(cause.type)) {
      const details = Array.isArray(cause.details?.[0])
        ? (cause.details[0] as Violation[])
        : undefined;
      return new DomainError(cause.type, cause.message, details);
    }
  }
  if (err instanceof WorkflowNotFoundError) return new DomainError(ErrorType.NotFound, err.message);
  return err;
}

function isDomainCode(type: string | undefined | null): type is ErrorType {
  return Object.values(ErrorType).includes(type as ErrorType);
}

/** A visibility-query string literal. */
function quote(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}
