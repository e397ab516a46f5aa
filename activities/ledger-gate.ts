/**
 * A per-key concurrency gate: at most `maxInFlight` calls run at once for one key, the others
 * wait in arrival order. The quota activities key it by workspace, so one worker process never
 * sends more updates at once to one quota ledger workflow than the Temporal server accepts (it
 * refuses an update when 10 are already in flight on a workflow execution:
 * `limit.workflow.maxInFlightUpdates`).
 *
 * Hand-written rather than a package: the worker has no limiter among its dependencies
 * (`p-limit` in node_modules is a dev-only transitive dependency of eslint), and what is needed
 * here (one queue per key, dropped when idle, a wait that can be abandoned through an
 * AbortSignal) is this one small class.
 */
export class KeyedGate {
  private readonly lanes = new Map<string, Lane>();

  constructor(readonly maxInFlight: number) {
    if (!Number.isInteger(maxInFlight) || maxInFlight < 1)
      throw new RangeError(`maxInFlight must be a positive integer, got ${maxInFlight}`);
  }

  /**
   * Runs `fn` once fewer than `maxInFlight` calls for `key` are running and every earlier caller
   * for `key` has had its turn. The slot is given back however `fn` ends (value, throw). An abort
   * of `signal` while still waiting leaves the queue and rejects with the signal's reason; once
   * `fn` has started, stopping it is `fn`'s business (pass it the same signal).
   */
  async run<T>(key: string, fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    await this.acquire(key, signal);
    try {
      return await fn();
    } finally {
      this.release(key);
    }
  }

  /** Calls running for `key` now. */
  inFlight(key: string): number {
    return this.lanes.get(key)?.running ?? 0;
  }

  /** Calls waiting for `key` now. */
  waiting(key: string): number {
    return this.lanes.get(key)?.queue.length ?? 0;
  }

  /** Keys with a call running or waiting (an idle key holds no memory). */
  get activeKeys(): number {
    return this.lanes.size;
  }

  private acquire(key: string, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(abortReason(signal));
    let lane = this.lanes.get(key);
    if (!lane) {
      lane = { running: 0, queue: [] };
      this.lanes.set(key, lane);
    }
    // No overtaking: a free slot goes to the queue's head first.
    if (lane.running < this.maxInFlight && lane.queue.length === 0) {
      lane.running += 1;
      return Promise.resolve();
    }
    const queued = lane;
    return new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        const at = queued.queue.indexOf(waiter);
        if (at < 0) return; // already handed a slot
        queued.queue.splice(at, 1);
        this.dropIfIdle(key, queued);
        reject(abortReason(signal!));
      };
      const waiter: Waiter = () => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      queued.queue.push(waiter);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  private release(key: string): void {
    const lane = this.lanes.get(key);
    if (!lane) return;
    const next = lane.queue.shift();
    // Hand the slot straight to the next waiter: `running` stays the same.
    if (next) next();
    else {
      lane.running -= 1;
      this.dropIfIdle(key, lane);
    }
  }

  private dropIfIdle(key: string, lane: Lane): void {
    if (lane.running === 0 && lane.queue.length === 0 && this.lanes.get(key) === lane)
      this.lanes.delete(key);
  }
}

type Waiter = () => void;

interface Lane {
  /** Calls holding a slot. */
  running: number;
  /** Callers waiting for one, first come first served. */
  queue: Waiter[];
}

function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new Error('aborted');
}
