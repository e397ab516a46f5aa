/**
 * The Temporal runtime of a process that has one (the worker; the observer run on its own, for
 * its metrics): its logger writes the JSON lines of config/logging.ts (the SDK's own lines, the
 * native core's, and those of workflow and activity code, which carry `workflowId`), and its
 * Prometheus exporter serves `/metrics`: the SDK's worker metrics (`temporal_*`), the workflows'
 * own (scaling decisions, emitted from workflow code through the SDK's workflow metric meter, never
 * while replaying), and anything created on `runtime.metricMeter` (the observer's). One endpoint
 * per process.
 */
import { DefaultLogger, Runtime, type LogEntry, type LogLevel } from '@temporalio/worker';
import { logLine, type Log, type LogLevelName } from '../config/logging';

export interface RuntimeTelemetryOptions {
  /** `process` in every line: "worker", "observer". */
  processName: string;
  level: LogLevelName;
  /** Where /metrics listens; port 0: no metrics. */
  metricsHost: string;
  metricsPort: number;
  /** The variable that sets the port, named when it cannot be used. */
  portVariable: string;
  /** The process's own log (for a port that cannot be used). */
  log: Log;
  /** Where lines go (default stdout). */
  write?: (line: string) => void;
  /** Signals on which the runtime shuts its workers down (the SDK's default when absent). */
  shutdownSignals?: NodeJS.Signals[];
}

export interface RuntimeTelemetry {
  runtime: Runtime;
  /** The /metrics URL, when served. */
  metricsUrl?: string;
}

/** An SDK log entry as one JSON line (the SDK's metadata as fields). */
export function runtimeLogLine(processName: string, entry: LogEntry): string {
  return logLine({
    time: new Date(Number(entry.timestampNanos / 1_000_000n)),
    level: entry.level.toLowerCase() as LogLevelName,
    process: processName,
    msg: entry.message,
    ...(entry.meta ? { fields: entry.meta } : {}),
  });
}

/**
 * Installs the process's Temporal runtime. A metrics port that cannot be bound (taken by another
 * process) is logged and the process runs without metrics: its work does not depend on them.
 */
export function installRuntime(options: RuntimeTelemetryOptions): RuntimeTelemetry {
  const write = options.write ?? ((line: string) => process.stdout.write(`${line}\n`));
  const level = options.level.toUpperCase() as LogLevel;
  const base = {
    logger: new DefaultLogger(level, (entry) => write(runtimeLogLine(options.processName, entry))),
    ...(options.shutdownSignals ? { shutdownSignals: options.shutdownSignals } : {}),
  };
  // The native core's lines go through the same logger (not straight to the console).
  const logging = { forward: {}, filter: { core: level, other: 'ERROR' as LogLevel } };
  const { metricsHost, metricsPort } = options;
  if (metricsPort > 0) {
    const address = `${metricsHost.includes(':') ? `[${metricsHost}]` : metricsHost}:${metricsPort}`;
    try {
      const runtime = Runtime.install({
        ...base,
        telemetryOptions: { logging, metrics: { prometheus: { bindAddress: address } } },
      });
      return { runtime, metricsUrl: `http://${address}/metrics` };
    } catch (err) {
      options.log.warn(
        `metrics not served: ${(err as Error).message} (${address}); set ${options.portVariable} to a free port, or 0 for none`,
        { metricsAddress: address },
      );
    }
  }
  return { runtime: Runtime.install({ ...base, telemetryOptions: { logging } }) };
}
