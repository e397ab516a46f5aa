/**
 * Structured logs: one JSON object per line on stdout, in the same shape from every process
 * (worker, API, observer): `time` (ISO 8601), `level`, `process`, `msg`, then the line's fields.
 * A line about one deployment carries `deploymentId` ("workspace/name"); one from workflow or
 * activity code also `workflowId` (and the SDK's `runId`, `workflowType`, `activityType`...),
 * from which `deploymentId` is derived when the line does not say it. The API's fastify (pino)
 * lines use the same keys (`apiLoggerOptions`).
 *
 * What goes into fields is the caller's choice: never an API key, a credential or a payload.
 */
import type { FastifyServerOptions } from 'fastify';

export type LogLevelName = 'trace' | 'debug' | 'info' | 'warn' | 'error';
export type LogFields = Record<string, unknown>;

/** Where a part of a process reports what it does (observer, gateway lookups, start-up). */
export type LogFn = (message: string, fields?: LogFields) => void;

export interface Log {
  info: LogFn;
  warn: LogFn;
  error: LogFn;
}

const LEVELS: readonly LogLevelName[] = ['trace', 'debug', 'info', 'warn', 'error'];

/** LOG_LEVEL as a level name (any case); `warn` when unset or not a level. */
export function logLevel(value: string | undefined): LogLevelName {
  const lower = value?.trim().toLowerCase();
  return LEVELS.find((l) => l === lower) ?? 'warn';
}

/** The keys every line starts with; a field of the same name is kept as `_<name>`. */
const BASE_KEYS = new Set(['time', 'level', 'process', 'msg']);

/**
 * The deployment a workflow ID belongs to: `deployment:{workspace}:{name}` and its rollouts
 * `deployment:{workspace}:{name}:rollout:{revision}` give "workspace/name"; any other (the quota
 * ledger's `quota:{workspace}`) none. Workspaces and names are DNS labels: no `:`.
 */
export function deploymentIdOfWorkflowId(workflowId: string): string | undefined {
  const match = /^deployment:([^:/]+):([^:/]+)(?::rollout:\d+)?$/.exec(workflowId);
  return match ? `${match[1]}/${match[2]}` : undefined;
}

/** One log line (no newline). Fields that cannot be written as JSON are written as text. */
export function logLine(entry: {
  time: Date;
  level: LogLevelName;
  process: string;
  msg: string;
  fields?: LogFields;
}): string {
  const fields = entry.fields ?? {};
  const line: Record<string, unknown> = {
    time: entry.time.toISOString(),
    level: entry.level,
    process: entry.process,
    msg: entry.msg,
  };
  const workflowId = typeof fields.workflowId === 'string' ? fields.workflowId : undefined;
  const deploymentId =
    fields.deploymentId ?? (workflowId ? deploymentIdOfWorkflowId(workflowId) : undefined);
  if (deploymentId !== undefined) line.deploymentId = deploymentId;
  if (workflowId !== undefined) line.workflowId = workflowId;
  for (const [key, value] of Object.entries(fields)) {
    if (value === undefined || key === 'deploymentId' || key === 'workflowId') continue;
    line[BASE_KEYS.has(key) ? `_${key}` : key] = value;
  }
  return JSON.stringify(line, jsonSafe());
}

/** A JSON.stringify replacer: errors with their name, message and stack; bigints as text; no cycles. */
function jsonSafe(): (key: string, value: unknown) => unknown {
  const seen = new WeakSet<object>();
  return (_key, value) => {
    if (typeof value === 'bigint') return value.toString();
    if (value instanceof Error) {
      return {
        name: value.name,
        message: value.message,
        ...(value.stack ? { stack: value.stack } : {}),
        ...((value as { code?: unknown }).code !== undefined
          ? { code: (value as { code?: unknown }).code }
          : {}),
      };
    }
    if (typeof value === 'object' && value !== null) {
      if (seen.has(value)) return '[Circular]';
      seen.add(value);
    }
    return value;
  };
}

/**
 * A process's own log: every line is written (start-up, observer takeovers, deliveries that
 * failed), as before these were JSON; LOG_LEVEL filters the SDK's and fastify's lines.
 */
export function jsonLog(
  processName: string,
  write: (line: string) => void = (line) => process.stdout.write(`${line}\n`),
): Log {
  const at =
    (level: LogLevelName): LogFn =>
    (msg, fields) =>
      write(logLine({ time: new Date(), level, process: processName, msg, fields }));
  return { info: at('info'), warn: at('warn'), error: at('error') };
}

/**
 * fastify's logger (pino) writing the same shape: `level` as a name, `time` in ISO 8601,
 * `process: "api"`, `msg`.
 */
export function apiLoggerOptions(
  level: LogLevelName,
  stream?: { write(line: string): void },
): NonNullable<Exclude<FastifyServerOptions['logger'], boolean>> {
  return {
    level,
    messageKey: 'msg',
    timestamp: () => `,"time":"${new Date().toISOString()}"`,
    formatters: {
      level: (label: string) => ({ level: label }),
      bindings: () => ({ process: 'api' }),
    },
    ...(stream ? { stream } : {}),
  };
}
