/**
 * The per-ledger gate the quota activities send their updates through (activities/ledger-gate.ts):
 * at most N at once per key, first come first served, the slot given back on every path, and
 * nothing kept for a key that has gone idle.
 */
import { describe, expect, it } from 'vitest';
import { KeyedGate } from '../../activities/ledger-gate';
import { serverBusyReason } from '../../activities/quota';

/** A promise and the functions that settle it. */
function deferred<T = void>() {
  let resolve!: (value: T) => void;
  let reject!: (reason: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Lets every queued promise callback run. */
const settle = () => new Promise((r) => setImmediate(r));

describe('the ledger gate', () => {
  it('runs at most maxInFlight calls per key, and starts the waiting ones in arrival order', async () => {
    const gate = new KeyedGate(2);
    const started: number[] = [];
    const finish = Array.from({ length: 5 }, () => deferred());
    let running = 0;
    let peak = 0;
    const calls = finish.map((d, i) =>
      gate.run('ws', async () => {
        started.push(i);
        running += 1;
        peak = Math.max(peak, running);
        await d.promise;
        running -= 1;
        return i;
      }),
    );
    await settle();
    expect(started).toEqual([0, 1]);
    expect(gate.inFlight('ws')).toBe(2);
    expect(gate.waiting('ws')).toBe(3);

    finish[1]!.resolve();
    await settle();
    expect(started).toEqual([0, 1, 2]);
    finish[0]!.resolve();
    await settle();
    expect(started).toEqual([0, 1, 2, 3]);
    for (const d of finish) d.resolve();
    expect(await Promise.all(calls)).toEqual([0, 1, 2, 3, 4]);
    expect(started).toEqual([0, 1, 2, 3, 4]);
    expect(peak).toBe(2);
  });

  it('serves a newcomer that arrives just after a slot is freed only after those already waiting', async () => {
    const gate = new KeyedGate(1);
    const order: string[] = [];
    const first = deferred();
    const a = gate.run('ws', async () => {
      order.push('a');
      await first.promise;
    });
    const b = gate.run('ws', async () => {
      order.push('b');
    });
    // 'c' arrives right after 'a' gave its slot back, before 'b' has started
    let c: Promise<void> | undefined;
    const afterA = a.then(() => {
      c = gate.run('ws', async () => {
        order.push('c');
      });
      expect(gate.inFlight('ws')).toBe(1);
    });
    await settle();
    first.resolve();
    await afterA;
    await Promise.all([b, c]);
    expect(order).toEqual(['a', 'b', 'c']);
  });

  it('keeps keys apart: a full ledger does not hold up another', async () => {
    const gate = new KeyedGate(1);
    const hold = deferred();
    const busy = gate.run('ws-a', () => hold.promise);
    let otherRan = false;
    await gate.run('ws-b', async () => {
      otherRan = true;
    });
    expect(otherRan).toBe(true);
    expect(gate.inFlight('ws-a')).toBe(1);
    hold.resolve();
    await busy;
  });

  it('gives the slot back when the call throws, and passes the error on', async () => {
    const gate = new KeyedGate(1);
    const boom = new Error('refused');
    const failing = gate.run('ws', () => Promise.reject(boom));
    const next = gate.run('ws', () => Promise.resolve('ran'));
    await expect(failing).rejects.toBe(boom);
    expect(await next).toBe('ran');
    expect(gate.inFlight('ws')).toBe(0);
    // a synchronous throw inside an async function is a rejection too
    await expect(
      gate.run('ws', () => {
        throw boom;
      }),
    ).rejects.toBe(boom);
    expect(gate.activeKeys).toBe(0);
  });

  it('drops a waiter whose signal aborts, without taking or leaking a slot', async () => {
    const gate = new KeyedGate(1);
    const hold = deferred();
    const holder = gate.run('ws', () => hold.promise);
    const abort = new AbortController();
    let abandonedRan = false;
    const abandoned = gate.run(
      'ws',
      async () => {
        abandonedRan = true;
      },
      abort.signal,
    );
    const after = gate.run('ws', () => Promise.resolve('after'));
    await settle();
    expect(gate.waiting('ws')).toBe(2);

    const reason = new Error('activity cancelled');
    abort.abort(reason);
    await expect(abandoned).rejects.toBe(reason);
    expect(gate.waiting('ws')).toBe(1);
    expect(gate.inFlight('ws')).toBe(1);

    hold.resolve();
    await holder;
    expect(await after).toBe('after');
    expect(abandonedRan).toBe(false);
    expect(gate.activeKeys).toBe(0);
  });

  it('refuses at once when the signal is already aborted, and keeps nothing for the key', async () => {
    const gate = new KeyedGate(1);
    const reason = new Error('already cancelled');
    let ran = false;
    await expect(
      gate.run(
        'ws',
        async () => {
          ran = true;
        },
        AbortSignal.abort(reason),
      ),
    ).rejects.toBe(reason);
    expect(ran).toBe(false);
    expect(gate.activeKeys).toBe(0);
  });

  it('an abort after the slot was handed over changes nothing', async () => {
    const gate = new KeyedGate(1);
    const abort = new AbortController();
    const result = await gate.run(
      'ws',
      async () => {
        abort.abort(new Error('too late'));
        return 'done';
      },
      abort.signal,
    );
    expect(result).toBe('done');
    expect(gate.activeKeys).toBe(0);
  });

  it('forgets a key once it is idle, so thousands of workspaces leave nothing behind', async () => {
    const gate = new KeyedGate(8);
    await Promise.all(
      Array.from({ length: 2_000 }, (_, i) => gate.run(`ws-${i % 500}`, () => settle())),
    );
    expect(gate.activeKeys).toBe(0);
    const hold = deferred();
    const running = gate.run('ws-1', () => hold.promise);
    expect(gate.activeKeys).toBe(1);
    hold.resolve();
    await running;
    expect(gate.activeKeys).toBe(0);
  });

  it('rejects a limit that is not a positive integer', () => {
    expect(() => new KeyedGate(0)).toThrow(RangeError);
    expect(() => new KeyedGate(1.5)).toThrow(RangeError);
  });
});

describe("the server's busy answer", () => {
  /** The shape @grpc/grpc-js gives a failed call (and @temporalio/client throws for update-with-start). */
  function grpcError(code: number, message: string): Error {
    return Object.assign(new Error(message), { code, details: message, metadata: {} });
  }

  it('is RESOURCE_EXHAUSTED, thrown directly or as the cause of a wrapper', () => {
    const refusal = grpcError(
      8,
      'limit on number of concurrent in-flight updates has been reached (10)',
    );
    expect(serverBusyReason(refusal)).toBe(
      'limit on number of concurrent in-flight updates has been reached (10)',
    );
    expect(serverBusyReason(new Error('Update-With-Start failed', { cause: refusal }))).toBe(
      refusal.message,
    );
  });

  it('is not any other error', () => {
    expect(serverBusyReason(grpcError(4, 'Deadline exceeded'))).toBeUndefined();
    expect(serverBusyReason(grpcError(5, 'workflow not found'))).toBeUndefined();
    expect(serverBusyReason(new Error('quota exceeded'))).toBeUndefined();
    expect(serverBusyReason('RESOURCE_EXHAUSTED')).toBeUndefined();
  });
});
