/**
 * What the REST API does with deployments, over a Temporal client: start, update, query and
 * list deployment workflows, and turn Temporal's errors into domain errors (one type each).
 * The HTTP layer stays thin; tests drive this service and the HTTP routes alike.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { status as grpcStatus } from '@grpc/grpc-js';
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
  isGrpcServiceError,
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
import { SA, tagSearchValues, tagValues } from '../workflows/domain/search-attributes';
import { staticDetailsOf, staticSummaryOf } from '../workflows/deployment/details';
import type { DeploymentSpec, Violation } from '../workflows/domain/spec';
import {
  validateSpec,
  violationsOf,
  deploymentNameSchema,
  describeViolations,
} from '../workflows/domain/spec';
import {
  applyMergePatch,
  depthViolation,
  patchResourceSpec,
} from '../workflows/domain/merge-patch';
import {
  DEPLOYMENT_WORKFLOW_TYPE,
  admissionUpdate,
  deleteUpdate,
  deploymentWorkflowId,
  eventsQuery,
  patchUpdate,
  pauseUpdate,
  resumeUpdate,
  statusQuery,
  type DeploymentEnding,
  type WriteRequest,
} from '../workflows/deployment/definitions';
import type { deploymentWorkflow } from '../workflows/deployment/workflow';
import type { QuotaUsage } from '../workflows/quota/definitions';
import { quotaWorkflowId, usageQuery } from '../workflows/quota/definitions';
import { DomainError, HttpError, type Outcome } from './errors';
import { decodePageToken, encodePageToken } from './page-token';
import { TransportWatch } from './write-outcome';

export { DomainError, type DomainErrorCode, type ErrorDetail, type Outcome } from './errors';

/** A write's precondition: the `version` the client last read (`If-Match`). */
export interface WriteOptions {
  ifVersion?: string;
}

export interface ListFilters {
  /** No value: any value of that key. */
  tags?: { key: string; value?: string }[];
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
   * How long a call to Temporal (a query, an update, a list) may wait for its answer. A missing
   * worker, or Temporal itself down, makes it wait: then the API answers 503 instead of hanging.
   */
  answerTimeoutMs?: number;
}

const DEFAULT_ANSWER_TIMEOUT_MS = 10_000;

/** A call to Temporal: a read, or a write whose outcome a 503 must report. */
type CallKind = { read: string } | { write: string; workspace: string; name: string };

export class DeploymentService {
  private readonly client: Client;
  private readonly transport: TransportWatch;

  constructor(private readonly options: DeploymentServiceOptions) {
    // Queries of closed workflows are rejected, so a deleted deployment answers 404, in one call.
    this.client = new Client({
      connection: options.client.connection,
      namespace: options.client.options.namespace,
      workflow: { queryRejectCondition: 'NOT_OPEN' },
    });
    this.transport = new TransportWatch(options.client.connection);
  }

  /** Validates the body (schema + catalog), then starts the workflow and waits for its admission. */
  async create(workspace: string, body: unknown): Promise<DeploymentView> {
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      throw new DomainError(ErrorType.InvalidSpec, 'the body must be a JSON object');
    }
    const deep = depthViolation(body);
    if (deep) throw invalid([deep]);
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

  /** A new deployment from this one's spec, with `spec` a merge patch of it. */
  async clone(workspace: string, source: string, body: unknown): Promise<DeploymentView> {
    const { name, spec: overrides } = (body ?? {}) as { name?: unknown; spec?: unknown };
    const deep = depthViolation(overrides, 'spec');
    if (deep) throw invalid([deep]);
    const original = await this.readBeforeWrite(workspace, source, `the clone of "${source}"`);
    return this.create(workspace, {
      name,
      ...(applyMergePatch(original.spec, overrides ?? {}) as object),
    });
  }

  /**
   * The spec a simulation runs: `spec` as given, or a deployment's own with `overrides` merged in
   * (a merge patch of its spec). Checked like a create (schema, catalog); errors name the field
   * under `spec` or `overrides`.
   */
  async specToSimulate(
    workspace: string,
    body: { spec?: unknown; deployment?: string; overrides?: unknown },
  ): Promise<DeploymentSpec> {
    if ((body.spec === undefined) === (body.deployment === undefined)) {
      throw invalid([
        {
          path: 'spec',
          message: 'give either a spec or the name of a deployment (with optional overrides)',
        },
      ]);
    }
    if (body.spec !== undefined) {
      if (body.overrides !== undefined) {
        throw invalid([
          {
            path: 'overrides',
            message:
              'overrides apply to a deployment\'s spec: give "deployment" with them, or put the change in "spec"',
          },
        ]);
      }
      const deep = depthViolation(body.spec, 'spec');
      if (deep) throw invalid([deep]);
      const checked = this.validate(body.spec, ['spec']);
      if (!checked.ok) throw invalid(checked.violations);
      return checked.value;
    }
    const deep = depthViolation(body.overrides, 'overrides');
    if (deep) throw invalid([deep]);
    const current = await this.get(workspace, body.deployment!);
    const checked = this.validate(applyMergePatch(current.spec, body.overrides ?? {}), [
      'overrides',
    ]);
    if (!checked.ok) throw invalid(checked.violations);
    return checked.value;
  }

  async get(workspace: string, name: string): Promise<DeploymentView> {
    return this.orFailed(
      workspace,
      name,
      (ending) => ending.view,
      () =>
        this.call(workspace, name, { read: `deployment "${name}"` }, (h) => h.query(statusQuery)),
    );
  }

  async events(workspace: string, name: string): Promise<DeploymentEvent[]> {
    return this.orFailed(
      workspace,
      name,
      (ending) => ending.events,
      () =>
        this.call(workspace, name, { read: `deployment "${name}"` }, (h) => h.query(eventsQuery)),
    );
  }

  /**
   * A JSON merge patch of the resource in which only `spec` may change. The patch itself goes to
   * the workflow, which applies it to the spec it holds (so concurrent edits of different fields
   * both survive); checked here first against the spec as read, with the catalog.
   */
  async edit(
    workspace: string,
    name: string,
    patch: unknown,
    options: WriteOptions = {},
  ): Promise<DeploymentView> {
    const deep = depthViolation(patch);
    if (deep) throw invalid([deep]);
    const what = `the edit of "${name}"`;
    const current = await this.readBeforeWrite(workspace, name, what);
    this.checkVersion(current, options);
    const patched = patchResourceSpec(current as unknown as Record<string, unknown>, patch);
    if (!patched.ok) throw invalid(patched.violations);
    const checked = this.validate(patched.spec, ['spec']);
    if (!checked.ok) throw invalid(checked.violations);
    const request = {
      patch: patch as Record<string, unknown>,
      checked: checked.value,
      ...precondition(options),
    };
    return this.call(workspace, name, { write: what, workspace, name }, (h) =>
      h.executeUpdate(patchUpdate, { args: [request] }),
    );
  }

  async pause(workspace: string, name: string, options: WriteOptions = {}) {
    return this.lifecycle(workspace, name, 'pause', options);
  }

  async resume(workspace: string, name: string, options: WriteOptions = {}) {
    return this.lifecycle(workspace, name, 'resume', options);
  }

  async delete(workspace: string, name: string, options: WriteOptions = {}) {
    return this.lifecycle(workspace, name, 'delete', options);
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
        (t) =>
          `${SA.tags.name} = ${quote(t.value === undefined ? t.key : tagValues({ [t.key]: t.value })[0]!)}`,
      ),
    ];
    const query = clauses.join(' AND ');
    // A token is good for the list it came from: this workspace, these filters.
    const scope = `deployments\0${query}`;
    const pageToken =
      filters.pageToken !== undefined ? decodePageToken(scope, filters.pageToken) : undefined;
    const { ids, next } = await this.temporal({ read: 'the deployment list' }, async () => {
      const response = await this.client.workflowService
        .listWorkflowExecutions({
          namespace: this.client.options.namespace,
          query,
          pageSize: filters.pageSize,
          ...(pageToken ? { nextPageToken: pageToken } : {}),
        })
        .catch((err: unknown) => {
          // Another visibility store may judge a (forged) token itself.
          if (pageToken && grpcCode(err) === grpcStatus.INVALID_ARGUMENT) {
            throw new HttpError(
              400,
              'invalid_request',
              'query.pageToken: Temporal does not take this page token; omit it for the first page',
              {},
              [{ path: 'query.pageToken', message: 'not a page token of this list' }],
            );
          }
          throw err;
        });
      return {
        ids: (response.executions ?? [])
          .map((e) => e.execution?.workflowId)
          .filter((id): id is string => !!id),
        next: response.nextPageToken,
      };
    });
    const views = await this.temporal({ read: 'the deployment list' }, () =>
      Promise.all(
        ids.map((id) =>
          this.client.workflow
            .getHandle(id)
            .query(statusQuery)
            .catch((err: unknown) => {
              // Closed between list and query: skip it. Anything else fails the list.
              if (err instanceof QueryRejectedError || err instanceof WorkflowNotFoundError)
                return undefined;
              throw err;
            }),
        ),
      ),
    );
    return {
      items: views.filter((v): v is DeploymentView => !!v),
      ...(next && next.length > 0 ? { nextPageToken: encodePageToken(scope, next) } : {}),
    };
  }

  /** GPUs reserved per ledger key (accelerator type, or `byoc:{cluster}/{nodeGroup}`). */
  async reserved(workspace: string): Promise<Record<string, number>> {
    return this.temporal({ read: `the quota ledger of workspace "${workspace}"` }, async () => {
      try {
        const usage: QuotaUsage = await this.client.workflow
          .getHandle(quotaWorkflowId(workspace))
          .query(usageQuery);
        return usage.reserved;
      } catch (err) {
        if (!(err instanceof WorkflowNotFoundError)) throw err; // no reservation ever made
        return {};
      }
    });
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

  private async lifecycle(
    workspace: string,
    name: string,
    action: 'pause' | 'resume' | 'delete',
    options: WriteOptions,
  ): Promise<DeploymentView> {
    const what = `the ${action} of "${name}"`;
    // The workflow checks If-Match itself; reading first answers a stale version at once.
    if (options.ifVersion !== undefined) {
      this.checkVersion(await this.readBeforeWrite(workspace, name, what), options);
    }
    const update = { pause: pauseUpdate, resume: resumeUpdate, delete: deleteUpdate }[action];
    const request: WriteRequest = precondition(options);
    return this.call(workspace, name, { write: what, workspace, name }, (h) =>
      h.executeUpdate(update, { args: [request] }),
    );
  }

  /** 412 when the client's version is not the current one. */
  private checkVersion(current: DeploymentView, options: WriteOptions): void {
    if (options.ifVersion !== undefined && options.ifVersion !== current.version) {
      throw new DomainError(
        ErrorType.PreconditionFailed,
        `deployment "${current.name}" is at version "${current.version}", not "${options.ifVersion}" (If-Match): read it again, then retry`,
      );
    }
  }

  /** A read a write needs first: if Temporal cannot answer it, the write was never sent. */
  private async readBeforeWrite(
    workspace: string,
    name: string,
    what: string,
  ): Promise<DeploymentView> {
    try {
      return await this.get(workspace, name);
    } catch (err) {
      if (err instanceof DomainError && err.code === 'unavailable') {
        throw new DomainError(
          'unavailable',
          `${what} was not applied: the deployment could not be read first (${err.message}); nothing changed, retry later`,
          undefined,
          'not_applied',
        );
      }
      throw err;
    }
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
        // What the Temporal UI shows in the workflow list and on the workflow page (user metadata).
        staticSummary: staticSummaryOf(spec),
        staticDetails: staticDetailsOf(workspace, name, spec),
        typedSearchAttributes: [
          { key: SA.workspace, value: workspace },
          { key: SA.name, value: name },
          { key: SA.state, value: 'creating' },
          { key: SA.health, value: 'Progressing' },
          { key: SA.model, value: spec.model },
          { key: SA.tags, value: tagSearchValues(spec.tags) },
        ],
      },
    );
    // Without an answer the handle's own promise rejects too; the error is reported once, below.
    startWorkflowOperation.workflowHandle().catch(() => undefined);
    try {
      return await this.temporal({ write: `the creation of "${name}"`, workspace, name }, () =>
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

  /**
   * Runs calls to Temporal under one deadline. No answer in time, or no Temporal to ask, is a 503:
   * for a read, try again; for a write, the details say whether it may have been applied
   * (`unknown`: read the resource before retrying) or certainly was not (`not_applied`).
   */
  private async temporal<T>(
    kind: CallKind,
    fn: () => Promise<T>,
    { sendAgainIfAborted = false }: { sendAgainIfAborted?: boolean } = {},
  ): Promise<T> {
    const timeoutMs = this.options.answerTimeoutMs ?? DEFAULT_ANSWER_TIMEOUT_MS;
    const deadline = Date.now() + timeoutMs;
    const window = 'write' in kind ? this.transport.open() : undefined;
    try {
      for (let pauseMs = ABORTED_FIRST_PAUSE_MS; ; pauseMs = Math.min(pauseMs * 2, 1_000)) {
        try {
          return await this.client.connection.withDeadline(deadline, fn);
        } catch (err) {
          if (!sendAgainIfAborted || !abortedByFailedTask(err) || Date.now() + pauseMs >= deadline)
            throw err;
          await delay(pauseMs);
        }
      }
    } catch (err) {
      if (!unanswered(err, deadline)) throw err;
      const why =
        `Temporal or the worker did not answer within ${timeoutMs / 1000} s: is a worker running ` +
        `on task queue "${this.options.taskQueue}" (npm start runs one), and is Temporal up?`;
      if (!('write' in kind)) {
        throw new DomainError('unavailable', `${kind.read} could not be read: ${why}`);
      }
      const resource = `/v1/workspaces/${kind.workspace}/deployments/${kind.name}`;
      const outcome: Outcome = window?.mayHaveBeenSent() === false ? 'not_applied' : 'unknown';
      throw new DomainError(
        'unavailable',
        outcome === 'not_applied'
          ? `${kind.write} was not applied: Temporal could not be reached; nothing changed, retry later`
          : `the outcome of ${kind.write} is unknown: ${why} GET ${resource} to see whether it was applied before retrying`,
        undefined,
        outcome,
      );
    }
  }

  /**
   * A read that finds no running deployment: if the last one of that name ended `failed` (its
   * admission refused, or what it needed unreachable), it is shown, with its events, until the
   * name is used again; a deleted one is gone (404).
   */
  private async orFailed<T>(
    workspace: string,
    name: string,
    pick: (ending: DeploymentEnding) => T,
    read: () => Promise<T>,
  ): Promise<T> {
    try {
      return await read();
    } catch (err) {
      if (!(err instanceof DomainError && err.code === ErrorType.NotFound)) throw err;
      const handle = this.client.workflow.getHandle(deploymentWorkflowId(workspace, name));
      const ending = await handle
        .describe()
        .then((d) => (d.status.name === 'COMPLETED' ? (handle.result() as Promise<unknown>) : null))
        .catch(() => null);
      if (isFailedEnding(ending)) return pick(ending);
      throw err;
    }
  }

  private async call<T>(
    workspace: string,
    name: string,
    kind: CallKind,
    fn: (handle: ReturnType<Client['workflow']['getHandle']>) => Promise<T>,
  ): Promise<T> {
    try {
      const handle = this.client.workflow.getHandle(deploymentWorkflowId(workspace, name));
      return await this.temporal(kind, () => fn(handle), { sendAgainIfAborted: true });
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

function isFailedEnding(value: unknown): value is DeploymentEnding {
  const ending = value as Partial<DeploymentEnding> | null;
  return ending?.view?.state === 'failed' && Array.isArray(ending.events);
}

/** The If-Match part of a write request (absent: no precondition). */
function precondition(options: WriteOptions): WriteRequest {
  return options.ifVersion !== undefined ? { ifVersion: options.ifVersion } : {};
}

function grpcCode(err: unknown): number | undefined {
  const grpcError = err instanceof ServiceError ? err.cause : err;
  return isGrpcServiceError(grpcError) ? grpcError.code : undefined;
}

const ABORTED_FIRST_PAUSE_MS = 50;

/**
 * The server aborted an update it had handed to a workflow task that then failed: e.g. refused
 * as UnhandledCommand because a signal came while the task would continue as new. Such an update
 * was never accepted, so nothing changed, and sending it again is safe: the next task takes it.
 * (A create's update-with-start is not sent again: its start may have happened.)
 */
export function abortedByFailedTask(err: unknown): boolean {
  const grpcError = err instanceof ServiceError ? err.cause : err;
  return (
    isGrpcServiceError(grpcError) &&
    grpcError.code === grpcStatus.FAILED_PRECONDITION &&
    /unexpected workflow task failure/.test(grpcError.details ?? grpcError.message)
  );
}

/** Codes meaning Temporal did not answer the call (down, overloaded, or past the deadline). */
const UNANSWERED = new Set<number>([
  grpcStatus.DEADLINE_EXCEEDED,
  grpcStatus.UNAVAILABLE,
  grpcStatus.RESOURCE_EXHAUSTED,
  grpcStatus.CANCELLED,
]);

function unanswered(err: unknown, deadline: number): boolean {
  if (err instanceof WorkflowUpdateRPCTimeoutOrCancelledError || isGrpcDeadlineError(err)) {
    return true;
  }
  const code = grpcCode(err);
  if (code !== undefined && UNANSWERED.has(code)) return true;
  // The deadline surfaces as DEADLINE_EXCEEDED or as a cancelled call, depending on the RPC.
  return err instanceof ServiceError && Date.now() >= deadline;
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
      // The workflow says what it could not reach: it refused the write, so nothing was applied.
      if (cause.type === ErrorType.Unavailable)
        return new DomainError('unavailable', cause.message, undefined, 'not_applied');
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
