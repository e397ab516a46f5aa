/**
 * A lease kept in this process's memory: for a runtime that only one process drives (tests, and
 * in-process runtimes), where several observers in the process still must not both be active.
 */
import type { ObserverLease } from './feed';

interface Held {
  holder: string;
  expiresAt: number;
  checkpoint?: string;
}

export class MemoryLeaseStore {
  held?: Held;

  lease(holder: string, durationMs = 10_000): ObserverLease {
    return new MemoryLease(this, holder, durationMs);
  }
}

class MemoryLease implements ObserverLease {
  constructor(
    private readonly store: MemoryLeaseStore,
    readonly holder: string,
    readonly durationMs: number,
  ) {}

  get checkpoint(): string | undefined {
    return this.store.held?.checkpoint;
  }

  async tryAcquire(checkpoint?: string): Promise<boolean> {
    const now = Date.now();
    const current = this.store.held;
    if (current && current.holder !== this.holder && current.expiresAt > now) return false;
    const kept = checkpoint ?? current?.checkpoint;
    this.store.held = {
      holder: this.holder,
      expiresAt: now + this.durationMs,
      ...(kept !== undefined ? { checkpoint: kept } : {}),
    };
    return true;
  }

  async release(): Promise<void> {
    const held = this.store.held;
    if (held?.holder === this.holder) this.store.held = { ...held, expiresAt: 0 };
  }
}
