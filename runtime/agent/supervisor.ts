/**
 * Runs the replicas of every replica set as model-server processes and keeps them to their
 * desired state: starts and stops them on scale, restarts them when they exit, probes
 * their readiness, and re-adopts the ones still running after an agent restart.
 *
 * Replicas are stopped by draining: a replica scaled away, or of a removed set, leaves the
 * endpoints at once, gets SIGTERM (the model server stops accepting connections, answers what is
 * in flight, and exits) and is killed only if it is still there after the drain grace. Scaling
 * returns at once while replicas drain; a removed set stays (`terminating`, its name refused to a
 * new PUT) until its last replica is gone, so a caller can wait for it and a replica key is never
 * taken by a new set while an old process with that key still runs.
 *
 * Every change of desired state (and every pid) is written to state.json at once.
 */
import type { ChildProcess } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { ChangeLog } from './changes';
import type { ReplicaInfo, ReplicaSetSpec, ReplicaSetStatus, RouteEndpoints } from './api';
import { ConflictError, NotFoundError } from './errors';
import { log } from './log';
import { probeHealth } from './probe';
import { freePort, hasArgs, isRunning, spawnDetached, terminate } from './processes';
import { sameTemplate } from './requests';
import type { AgentState, DrainRecord, ReplicaRecord, ReplicaSetRecord, StateFile } from './state';

const TICK_MS = 50;
/** Not-ready replicas are probed often so readiness shows quickly; ready ones cheaply. */
const PROBE_NOT_READY_MS = 50;
const PROBE_READY_MS = 1000;
const PROBE_TIMEOUT_MS = 1000;
/** A ready replica turns not ready after this many failed probes in a row. */
const PROBE_FAILURE_THRESHOLD = 3;
/** How often to check that an adopted (not our child) process still runs. */
const LIVENESS_MS = 500;
const RESTART_BACKOFF_MIN_MS = 200;
const RESTART_BACKOFF_MAX_MS = 5000;
/** When the agent itself stops (Ctrl-C): replicas get this long, not the drain grace. */
const STOP_GRACE_MS = 2000;
/** How long a replica taken out of service may take to finish its requests in flight, by default. */
export const DEFAULT_DRAIN_GRACE_MS = 60_000;

export interface SupervisorOptions {
  /** Compiled model-server entry point (dist/runtime/model-server/main.js). */
  serverPath: string;
  /** Address the replicas listen on and are reached at. */
  replicaHost: string;
  logDir: string;
  stateFile: StateFile;
  /** How long a replica taken out of service may finish its requests before it is killed. */
  drainGraceMs?: number;
}

/** The process currently running a replica. */
interface ReplicaProcess {
  pid: number;
  /** Set when we spawned it and so get its exit event; absent for adopted processes. */
  child?: ChildProcess;
}

/** A replica's runtime state, next to its persisted record. */
interface LiveReplica {
  set: ReplicaSetRecord;
  record: ReplicaRecord;
  process?: ReplicaProcess;
  ready: boolean;
  readyAt?: string;
  failedProbes: number;
  probeInFlight: boolean;
  nextProbeAt: number;
  nextLivenessAt: number;
  /** The last failed probe's reason, shown while not ready. */
  probeDetail?: string;
  backoffMs: number;
  restartTimer?: NodeJS.Timeout;
  /** Scaled away or deleted: its pending start or restart must not happen. */
  removed: boolean;
}

export class Supervisor {
  private readonly replicas = new Map<string, LiveReplica>();
  /** Drains in progress, by pid: one per process, whoever asks. */
  private readonly drains = new Map<number, Promise<void>>();
  private tickTimer?: NodeJS.Timeout;
  private stopping = false;
  /** What changed, for observers (GET /v1/changes). */
  readonly changes = new ChangeLog();

  constructor(
    private readonly state: AgentState,
    private readonly options: SupervisorOptions,
  ) {}

  /** Re-adopt replicas from state.json that still run, start the others, begin probing. */
  start(): void {
    const serverPath = this.options.serverPath;
    for (const set of Object.values(this.state.replicaSets)) {
      // Replicas that were draining when the agent stopped: finish stopping the ones still there.
      const draining = set.draining ?? [];
      set.draining = draining.filter((drain) =>
        hasArgs(drain.pid, [serverPath, drainKey(set, drain)]),
      );
      for (const drain of set.draining) {
        log(`replica ${drainKey(set, drain)} still draining (pid ${drain.pid}); adopted`);
        void this.drain(set, drain);
      }
      this.forgetIfDrained(set);
      for (const record of set.replicas) {
        const live = this.track(set, record);
        const key = replicaKey(set, record);
        if (record.pid !== null && hasArgs(record.pid, [serverPath, key])) {
          live.process = { pid: record.pid };
          log(`replica ${key} adopted (pid ${record.pid}, port ${record.port})`);
          continue;
        }
        record.message = `replica ${record.id} was not running when the agent started; started again`;
        void this.startProcess(live);
      }
    }
    this.save();
    this.tickTimer = setInterval(() => this.tick(), TICK_MS);
  }

  /** Create the replica set, or scale it; the template of an existing set cannot change. */
  async apply(
    name: string,
    spec: ReplicaSetSpec,
  ): Promise<{ status: ReplicaSetStatus; created: boolean }> {
    let set = this.state.replicaSets[name];
    const created = set === undefined;
    if (set === undefined) {
      set = {
        name,
        deploymentId: spec.deploymentId,
        revision: spec.revision,
        template: spec.template,
        nextIndex: 1,
        restarts: 0,
        replicas: [],
      };
      this.state.replicaSets[name] = set;
      log(`replica set ${name} created (revision ${spec.revision} of ${spec.deploymentId})`);
    } else {
      assertSameRevision(set, spec);
      if (set.terminating) {
        throw new ConflictError(
          `replica set ${name} is being removed (${set.draining?.length ?? 0} replica(s) still draining); apply it again once it is gone`,
        );
      }
    }
    if (set.replicas.length !== spec.replicas) {
      log(`replica set ${name} scaled from ${set.replicas.length} to ${spec.replicas}`);
    }

    const pending: Promise<void>[] = [];
    while (set.replicas.length < spec.replicas) {
      const record: ReplicaRecord = {
        id: `r${set.nextIndex++}`,
        pid: null,
        port: 0,
        startedAt: new Date().toISOString(),
        restarts: 0,
      };
      set.replicas.push(record);
      pending.push(this.startProcess(this.track(set, record)));
    }
    // Newest first, like a Kubernetes ReplicaSet scaling down. They drain in the background.
    for (const record of set.replicas.splice(spec.replicas).reverse()) {
      this.stopReplica(set, record);
    }
    this.save();
    this.changes.changed(name);
    await Promise.all(pending);
    return { status: this.status(set), created };
  }

  get(name: string): ReplicaSetStatus | undefined {
    const set = this.state.replicaSets[name];
    return set && this.status(set);
  }

  list(deploymentId?: string): ReplicaSetStatus[] {
    return Object.values(this.state.replicaSets)
      .filter((set) => deploymentId === undefined || set.deploymentId === deploymentId)
      .sort((a, b) => a.revision - b.revision)
      .map((set) => this.status(set));
  }

  /**
   * Takes the set's replicas out of service; they drain in the background and the set is
   * forgotten once the last is gone. Returns the set while it drains, undefined once it is gone.
   */
  remove(name: string): ReplicaSetStatus | undefined {
    const set = this.state.replicaSets[name];
    if (!set) return undefined;
    if (!set.terminating) {
      set.terminating = true;
      const stopping = set.replicas.splice(0);
      log(`replica set ${name} removal requested: ${stopping.length} replica(s) to drain`);
      for (const record of stopping) this.stopReplica(set, record);
      this.save();
      this.changes.changed(name);
    }
    this.forgetIfDrained(set);
    return this.state.replicaSets[name] && this.status(set);
  }

  setRoute(deploymentId: string, replicaSet: string): RouteEndpoints {
    const set = this.state.replicaSets[replicaSet];
    if (!set) throw new NotFoundError(`replica set ${replicaSet} does not exist`);
    if (set.terminating) throw new ConflictError(`replica set ${replicaSet} is being removed`);
    if (set.deploymentId !== deploymentId) {
      throw new ConflictError(
        `replica set ${replicaSet} belongs to ${set.deploymentId}, not ${deploymentId}`,
      );
    }
    const current = this.state.routes[deploymentId];
    if (current?.replicaSet !== replicaSet) {
      this.state.routes[deploymentId] = { replicaSet, revision: set.revision };
      this.save();
      log(`route ${deploymentId} -> ${replicaSet}`);
    }
    return this.endpoints(deploymentId);
  }

  endpoints(deploymentId: string): RouteEndpoints {
    const route = this.state.routes[deploymentId];
    if (!route) return { replicaSet: null, revision: null, urls: [] };
    const set = this.state.replicaSets[route.replicaSet];
    const urls = set
      ? this.status(set)
          .replicas.filter((r) => r.ready)
          .map((r) => r.url)
      : [];
    return { replicaSet: route.replicaSet, revision: route.revision, urls };
  }

  removeRoute(deploymentId: string): void {
    if (!this.state.routes[deploymentId]) return;
    delete this.state.routes[deploymentId];
    this.save();
    log(`route ${deploymentId} deleted`);
  }

  /**
   * Stop every replica process but keep the desired state, so the next start of the agent
   * brings the same replica sets back.
   */
  async shutdown(): Promise<void> {
    this.stopping = true;
    clearInterval(this.tickTimer);
    const stops = [...this.replicas.values()].map(async (live) => {
      clearTimeout(live.restartTimer);
      if (live.process) await terminate(live.process.pid, STOP_GRACE_MS);
      live.record.pid = null;
    });
    // Draining replicas were on their way out anyway: they get the short grace too.
    const drains = Object.values(this.state.replicaSets).flatMap((set) =>
      (set.draining ?? []).map((drain) => terminate(drain.pid, STOP_GRACE_MS)),
    );
    await Promise.all([...stops, ...drains]);
    for (const set of Object.values(this.state.replicaSets)) {
      set.draining = [];
      this.forgetIfDrained(set);
    }
    this.save();
    log(`stopped ${stops.length} replica(s); desired state kept in ${this.options.stateFile.file}`);
  }

  private track(set: ReplicaSetRecord, record: ReplicaRecord): LiveReplica {
    const live: LiveReplica = {
      set,
      record,
      ready: false,
      failedProbes: 0,
      probeInFlight: false,
      nextProbeAt: 0,
      nextLivenessAt: 0,
      backoffMs: RESTART_BACKOFF_MIN_MS,
      removed: false,
    };
    this.replicas.set(replicaKey(set, record), live);
    return live;
  }

  /** Out of the endpoints and never restarted from now on; its process drains in the background. */
  private stopReplica(set: ReplicaSetRecord, record: ReplicaRecord): void {
    const key = replicaKey(set, record);
    const live = this.replicas.get(key);
    if (!live) return;
    live.removed = true;
    clearTimeout(live.restartTimer);
    this.replicas.delete(key);
    if (!live.process) return;
    const now = Date.now();
    const drain: DrainRecord = {
      id: record.id,
      pid: live.process.pid,
      port: record.port,
      since: new Date(now).toISOString(),
      deadline: new Date(now + this.drainGraceMs).toISOString(),
    };
    (set.draining ??= []).push(drain);
    this.save();
    this.changes.changed(set.name);
    void this.drain(set, drain);
  }

  private get drainGraceMs(): number {
    return this.options.drainGraceMs ?? DEFAULT_DRAIN_GRACE_MS;
  }

  /** SIGTERM (the model server finishes its requests in flight and exits), SIGKILL at the deadline. */
  private drain(set: ReplicaSetRecord, drain: DrainRecord): Promise<void> {
    const running = this.drains.get(drain.pid);
    if (running) return running;
    const key = drainKey(set, drain);
    const graceMs = Math.max(0, Date.parse(drain.deadline) - Date.now());
    log(
      `replica ${key} draining (pid ${drain.pid}): requests in flight may finish within ${graceMs} ms`,
    );
    const done = terminate(drain.pid, graceMs)
      .then(
        (how) => {
          const tookMs = Date.now() - Date.parse(drain.since);
          log(
            how === 'exited'
              ? `replica ${key} drained and stopped (${tookMs} ms)`
              : `replica ${key} still had requests in flight after the drain grace; killed (${tookMs} ms)`,
          );
        },
        (err: unknown) => log(`replica ${key} could not be stopped: ${(err as Error).message}`),
      )
      .finally(() => {
        this.drains.delete(drain.pid);
        if (this.stopping) return; // shutdown() settles the records itself
        set.draining = (set.draining ?? []).filter((d) => d.pid !== drain.pid);
        if (this.state.replicaSets[set.name] === set) this.changes.changed(set.name);
        this.forgetIfDrained(set);
        this.save();
      });
    this.drains.set(drain.pid, done);
    return done;
  }

  /** A removed set is forgotten once nothing of it runs any more. */
  private forgetIfDrained(set: ReplicaSetRecord): void {
    if (!set.terminating || (set.draining?.length ?? 0) > 0) return;
    if (this.state.replicaSets[set.name] !== set) return;
    delete this.state.replicaSets[set.name];
    this.save();
    this.changes.removed({
      name: set.name,
      deploymentId: set.deploymentId,
      revision: set.revision,
    });
    log(`replica set ${set.name} deleted`);
  }

  private async startProcess(live: LiveReplica): Promise<void> {
    const { set, record } = live;
    const key = replicaKey(set, record);
    let port: number;
    try {
      port = await freePort(this.options.replicaHost);
    } catch (err) {
      this.scheduleRestart(live, `could not get a port: ${(err as Error).message}`);
      return;
    }
    if (live.removed || this.stopping) return;

    const args = [
      this.options.serverPath,
      '--host',
      this.options.replicaHost,
      '--port',
      String(port),
      '--model',
      set.template.model,
      '--load-ms',
      String(set.template.loadMs),
      // In argv (not only env) so re-adoption can recognise the process by its command line.
      '--replica-id',
      key,
      ...(set.template.failLoad ? ['--fail-load'] : []),
    ];
    const env = { ...process.env, ...set.template.env, REPLICA_ID: key };
    const logFile = path.join(this.options.logDir, `${set.name}.${record.id}.log`);
    const child = spawnDetached(process.execPath, args, env, logFile);
    if (child.pid === undefined) {
      // Spawning failed; the reason arrives in the 'error' event.
      child.once('error', (err) =>
        this.scheduleRestart(live, `could not be started: ${err.message}`),
      );
      return;
    }
    const proc: ReplicaProcess = { pid: child.pid, child };
    live.process = proc;
    live.ready = false;
    live.readyAt = undefined;
    live.failedProbes = 0;
    live.probeDetail = undefined;
    record.pid = child.pid;
    record.port = port;
    record.startedAt = new Date().toISOString();
    this.save();
    this.changes.changed(set.name);
    log(`replica ${key} started (pid ${child.pid}, port ${port}, log ${logFile})`);
    child.once('exit', (code, signal) => this.onExit(live, proc, describeExit(code, signal)));
  }

  private onExit(live: LiveReplica, proc: ReplicaProcess, reason: string): void {
    if (live.process !== proc) return; // an older process of the replica
    live.process = undefined;
    live.ready = false;
    live.readyAt = undefined;
    live.record.pid = null;
    if (live.removed || this.stopping) return;
    this.changes.changed(live.set.name);
    this.scheduleRestart(live, reason);
  }

  private scheduleRestart(live: LiveReplica, reason: string): void {
    const { set, record } = live;
    const delay = live.backoffMs;
    live.backoffMs = Math.min(delay * 2, RESTART_BACKOFF_MAX_MS);
    record.message = `replica ${record.id} ${reason}; restarting in ${delay} ms`;
    this.save();
    this.changes.changed(set.name);
    log(`replica ${replicaKey(set, record)} ${reason}; restarting in ${delay} ms`);
    live.restartTimer = setTimeout(() => {
      live.restartTimer = undefined;
      if (live.removed || this.stopping) return;
      record.restarts += 1;
      set.restarts += 1;
      record.message = `replica ${record.id} ${reason}; restarted`;
      void this.startProcess(live);
    }, delay);
  }

  /** One cheap pass over all replicas: liveness of adopted processes, and due probes. */
  private tick(): void {
    const now = Date.now();
    for (const live of this.replicas.values()) {
      const proc = live.process;
      if (!proc) continue;
      // Our own children report their exit; adopted processes have to be looked at.
      if (!proc.child && now >= live.nextLivenessAt) {
        live.nextLivenessAt = now + LIVENESS_MS;
        if (!isRunning(proc.pid)) {
          this.onExit(live, proc, `(pid ${proc.pid}) is no longer running`);
          continue;
        }
      }
      if (!live.probeInFlight && now >= live.nextProbeAt) void this.probe(live, proc);
    }
  }

  private async probe(live: LiveReplica, proc: ReplicaProcess): Promise<void> {
    live.probeInFlight = true;
    const result = await probeHealth(`${this.url(live.record)}/health`, PROBE_TIMEOUT_MS);
    live.probeInFlight = false;
    if (live.process !== proc) return; // restarted or stopped meanwhile

    const key = replicaKey(live.set, live.record);
    const before = [live.ready, live.probeDetail];
    if (result.ok) {
      live.failedProbes = 0;
      live.probeDetail = undefined;
      if (!live.ready) {
        live.ready = true;
        live.readyAt = new Date().toISOString();
        live.backoffMs = RESTART_BACKOFF_MIN_MS;
        const tookMs = Date.parse(live.readyAt) - Date.parse(live.record.startedAt);
        log(`replica ${key} ready (${tookMs} ms after start)`);
      }
    } else {
      live.probeDetail = result.detail;
      if (live.ready && ++live.failedProbes >= PROBE_FAILURE_THRESHOLD) {
        live.ready = false;
        live.readyAt = undefined;
        live.failedProbes = 0;
        log(
          `replica ${key} not ready: ${PROBE_FAILURE_THRESHOLD} health checks failed in a row (${result.detail})`,
        );
      }
    }
    live.nextProbeAt = Date.now() + (live.ready ? PROBE_READY_MS : PROBE_NOT_READY_MS);
    if (before[0] !== live.ready || before[1] !== live.probeDetail)
      this.changes.changed(live.set.name);
  }

  private status(set: ReplicaSetRecord): ReplicaSetStatus {
    const replicas = set.replicas.map((record): ReplicaInfo => {
      const live = this.replicas.get(replicaKey(set, record));
      const ready = live?.ready ?? false;
      const notReady = !ready && live?.probeDetail ? `not ready: ${live.probeDetail}` : undefined;
      const message = [record.message, notReady].filter(Boolean).join('; ');
      return {
        id: record.id,
        url: record.port ? this.url(record) : '',
        ready,
        restarts: record.restarts,
        startedAt: record.startedAt,
        ...(live?.readyAt && { readyAt: live.readyAt }),
        ...(message && { message }),
        pid: record.pid,
        port: record.port,
      };
    });
    return {
      name: set.name,
      deploymentId: set.deploymentId,
      revision: set.revision,
      exists: true,
      desired: set.replicas.length,
      ready: replicas.filter((r) => r.ready).length,
      restarts: set.restarts,
      template: set.template,
      replicas,
      draining: set.draining?.length ?? 0,
      terminating: set.terminating ?? false,
    };
  }

  private url(record: ReplicaRecord): string {
    return `http://${this.options.replicaHost}:${record.port}`;
  }

  private save(): void {
    this.options.stateFile.save(this.state);
  }
}

/** Also the REPLICA_ID of the process, and what re-adoption looks for in its command line. */
function replicaKey(set: ReplicaSetRecord, record: ReplicaRecord): string {
  return `${set.name}/${record.id}`;
}

function drainKey(set: ReplicaSetRecord, drain: DrainRecord): string {
  return `${set.name}/${drain.id}`;
}

function assertSameRevision(set: ReplicaSetRecord, spec: ReplicaSetSpec): void {
  if (set.deploymentId !== spec.deploymentId || set.revision !== spec.revision) {
    throw new ConflictError(
      `replica set ${set.name} is revision ${set.revision} of ${set.deploymentId}, ` +
        `not revision ${spec.revision} of ${spec.deploymentId}`,
    );
  }
  if (!sameTemplate(set.template, spec.template)) {
    throw new ConflictError(
      `replica set ${set.name} already exists with a different template; revisions are immutable, ` +
        `create a new revision instead (existing ${JSON.stringify(set.template)}, ` +
        `requested ${JSON.stringify(spec.template)})`,
    );
  }
}

/** Like a shell: a signal shows as 128 + its number, e.g. 137 for SIGKILL. */
function describeExit(code: number | null, signal: NodeJS.Signals | null): string {
  if (code !== null) return `exited with code ${code}`;
  if (signal === null) return 'exited';
  return `exited with code ${128 + os.constants.signals[signal]} (${signal})`;
}
