/**
 * One run of a trace against a scaling controller: the replicas (replica.ts), the gateway in
 * front of them (least outstanding requests; requests held while no replica is ready, bounded in
 * number and time, as api/gateway.ts holds them), and the clock. The controller decides the
 * replica count; this counts what it cost and how requests fared. Deterministic and pure: no
 * real time, no I/O.
 */
import { leastOutstanding } from '../api/replica-choice';
import { EventQueue } from './event-queue';
import { SimulatedReplica } from './replica';
import type { ServingFigures } from './serving-model';
import type { Trace } from './trace';

/** As the gateway: at most this many requests held for a deployment with no ready replica... */
export const MAX_HELD = 100;
/** ...each for at most this long, then 503. */
export const HOLD_TIMEOUT_MS = 60_000;

export interface ReplicaChange {
  at: number;
  replicas: number;
  reason: string;
  message: string;
}

/** What decides the replica count: the product's autoscaler, or a baseline. */
export interface Controller {
  /** Called once at the start, with the replicas not yet set. */
  start(sim: Simulation): void;
  /** Requests are held because no replica is ready (`queued` of them now). */
  onHold?(queued: number, now: number): void;
  /** Why a request arriving now is refused at once (outside schedule windows), if it is. */
  refuse?(now: number): string | undefined;
}

class Finish {
  constructor(
    readonly replica: SimulatedReplica,
    readonly id: number,
  ) {}
}

type Event = Finish | (() => void);

interface ReadyReplicas {
  replicas: SimulatedReplica[];
  names: string[];
  byName: Map<string, SimulatedReplica>;
}

export interface SimulationOptions {
  trace: Trace;
  figures: ServingFigures;
  /** Simulated time starts here (epoch ms); GPU-seconds count from here... */
  start: number;
  /** ...to here; decisions after it are not recorded. Default: the last arrival. */
  until?: number;
  /** Called now and then with the share of requests handled (0..1). */
  onProgress?: (done: number) => void;
}

export class Simulation {
  now: number;
  readonly until: number;
  readonly trace: Trace;
  readonly figures: ServingFigures;
  /** End-to-end latency per request (ms), NaN when it was refused. */
  readonly latencyMs: Float64Array;
  readonly timeline: ReplicaChange[] = [];
  /** Ready replicas over time, as [time, count] each time it changes. */
  readonly readyTimeline: [number, number][] = [];
  rejected = 0;
  coldStarts = 0;
  /** When a request last arrived at the gateway (epoch ms). */
  lastRequestAt?: number;
  private readonly queue = new EventQueue<Event>();
  /** Replicas loading, ready or draining; and those gone (for GPU-seconds). */
  private replicas: SimulatedReplica[] = [];
  private readonly retired: SimulatedReplica[] = [];
  private readonly held = new Set<number>();
  private desired = 0;
  private cursor = -1;
  private names = 0;
  private outstanding = 0;
  private nextArrival = 0;
  private readyCache?: ReadyReplicas;
  /** When each request reached its replica (ms). */
  private readonly acceptedAt: Float64Array;

  constructor(
    private readonly options: SimulationOptions,
    private readonly controller: Controller,
  ) {
    this.trace = options.trace;
    this.figures = options.figures;
    this.now = options.start;
    const n = options.trace.at.length;
    this.until = options.until ?? (n > 0 ? options.trace.at[n - 1]! : options.start);
    this.latencyMs = new Float64Array(n).fill(NaN);
    this.acceptedAt = new Float64Array(n);
  }

  /** Runs the trace to the end; returns GPU-seconds over [start, until]. */
  run(): number {
    this.begin();
    this.runUntil(Infinity);
    this.options.onProgress?.(1);
    return this.gpuSeconds();
  }

  /** Starts the controller (step by step: `begin`, then `runUntil` as far as wanted). */
  begin(): void {
    this.controller.start(this);
  }

  /**
   * Handles every arrival and event up to `time` (inclusive), in order; stops early when the
   * trace is done, nothing is outstanding and nothing is due before `until`, or after
   * `maxEvents` (to let other work run between slices). Returns whether anything is left to do.
   */
  runUntil(time: number, maxEvents = Infinity): boolean {
    const { at } = this.trace;
    let handled = 0;
    const n = at.length;
    const progressEvery = Math.max(1, Math.floor(n / 100));
    for (;;) {
      const arrival = this.nextArrival < n ? at[this.nextArrival]! : Infinity;
      const next = this.queue.peekTime();
      if (arrival === Infinity && this.outstanding === 0 && next > this.until) return false;
      if (arrival === Infinity && next === Infinity) return false;
      if (Math.min(arrival, next) > time) {
        this.now = Math.max(this.now, time);
        return true;
      }
      if (handled++ >= maxEvents) return true;
      if (arrival <= next) {
        this.now = arrival;
        this.arrive(this.nextArrival++);
        if (this.nextArrival % progressEvery === 0) this.options.onProgress?.(this.nextArrival / n);
      } else {
        const { time: due, item } = this.queue.pop()!;
        this.now = due;
        if (item instanceof Finish) this.finish(item);
        else item();
      }
    }
  }

  /** Runs `fn` at `time` (not before now). */
  at(time: number, fn: () => void): void {
    this.queue.push(Math.max(time, this.now), fn);
  }

  /** Replicas that take requests (kept until one becomes ready or goes: asked per request). */
  ready(): SimulatedReplica[] {
    return this.readyNow().replicas;
  }

  private readyNow(): ReadyReplicas {
    if (!this.readyCache) {
      const replicas = this.replicas.filter((r) => r.phase === 'ready');
      this.readyCache = {
        replicas,
        names: replicas.map((r) => r.name),
        byName: new Map(replicas.map((r) => [r.name, r])),
      };
    }
    return this.readyCache;
  }

  /** The replica count set now (loading and ready). */
  get replicaCount(): number {
    return this.desired;
  }

  /**
   * Sets the replica count: new replicas load for the model's load time (`prewarmed`: ready at
   * once, for the start); removed ones are those still loading first, then the newest, which
   * finish what they hold before they let go of their GPUs.
   */
  setReplicas(count: number, reason: string, message: string, prewarmed = false): void {
    if (count === this.desired) return;
    const from = this.desired;
    if (from === 0 && count > 0 && this.now > this.options.start) this.coldStarts++;
    this.desired = count;
    if (this.now <= this.until)
      this.timeline.push({ at: this.now, replicas: count, reason, message });
    const active = this.replicas.filter((r) => r.phase === 'loading' || r.phase === 'ready');
    for (let k = active.length; k < count; k++) {
      const readyAt = prewarmed ? this.now : this.now + this.figures.loadSeconds * 1000;
      const replica = new SimulatedReplica(
        `replica-${++this.names}`,
        this.now,
        readyAt,
        this.figures,
      );
      this.replicas.push(replica);
      if (replica.phase === 'loading') this.at(readyAt, () => this.becameReady(replica));
    }
    const removing = [
      ...active.filter((r) => r.phase === 'loading').reverse(),
      ...active.filter((r) => r.phase === 'ready').reverse(),
    ].slice(0, Math.max(0, active.length - count));
    for (const replica of removing) {
      if (replica.outstanding > 0) replica.phase = 'draining';
      else this.gone(replica);
    }
    this.readyChanged();
  }

  private becameReady(replica: SimulatedReplica): void {
    if (replica.phase !== 'loading') return;
    replica.phase = 'ready';
    this.readyChanged();
    for (const id of [...this.held]) {
      this.held.delete(id);
      this.dispatch(id, true);
    }
  }

  /**
   * As the gateway: to a ready replica if there is one; with none, refused at once when none
   * will come (outside schedule windows), else held (bounded) while the deployment is woken.
   */
  private arrive(id: number): void {
    if (this.readyNow().replicas.length > 0) {
      this.dispatch(id);
      return;
    }
    if (this.controller.refuse?.(this.now) !== undefined || this.held.size >= MAX_HELD) {
      this.rejected++;
      return;
    }
    this.lastRequestAt = this.now;
    this.held.add(id);
    this.outstanding++;
    this.at(this.now + HOLD_TIMEOUT_MS, () => {
      if (!this.held.delete(id)) return;
      this.outstanding--;
      this.rejected++;
    });
    this.controller.onHold?.(this.held.size, this.now);
  }

  /** Sends request `id` to the least loaded ready replica (`held`: it waited, already counted). */
  private dispatch(id: number, held = false): void {
    const { replicas, names, byName } = this.readyNow();
    const chosen = leastOutstanding(names, (name) => byName.get(name)!.outstanding, this.cursor);
    this.cursor = chosen;
    const replica = replicas[chosen]!;
    if (!held) this.outstanding++;
    this.lastRequestAt = this.now;
    this.acceptedAt[id] = this.now;
    const done = replica.accept(
      id,
      this.trace.promptTokens[id]!,
      this.trace.outputTokens[id]!,
      this.now,
    );
    if (done !== undefined) this.queue.push(done, new Finish(replica, id));
  }

  private finish({ replica, id }: Finish): void {
    this.latencyMs[id] = this.now - this.trace.at[id]!;
    this.outstanding--;
    // The replica's own latency metric counts from when it got the request, not the time held.
    const next = replica.finish(this.now - this.acceptedAt[id]!);
    if (next !== undefined) {
      const done = replica.admit(
        this.trace.promptTokens[next]!,
        this.trace.outputTokens[next]!,
        this.now,
      );
      this.queue.push(done, new Finish(replica, next));
    }
    if (replica.phase === 'draining' && replica.outstanding === 0) this.gone(replica);
  }

  private gone(replica: SimulatedReplica): void {
    replica.phase = 'gone';
    replica.goneAt = this.now;
    this.replicas = this.replicas.filter((r) => r !== replica);
    this.retired.push(replica);
    this.readyChanged();
  }

  private readyChanged(): void {
    this.readyCache = undefined;
    const ready = this.replicas.filter((r) => r.phase === 'ready').length;
    const last = this.readyTimeline.at(-1);
    if (last?.[1] === ready) return;
    if (last?.[0] === this.now) last[1] = ready;
    else this.readyTimeline.push([this.now, ready]);
  }

  /** GPU-seconds over [start, until] (once the run is over). */
  gpuSeconds(): number {
    const { start } = this.options;
    let ms = 0;
    for (const r of [...this.replicas, ...this.retired]) {
      const from = Math.max(r.startedAt, start);
      const to = Math.min(r.goneAt ?? this.until, this.until);
      if (to > from) ms += to - from;
    }
    return (ms / 1000) * this.figures.gpusPerReplica;
  }
}
