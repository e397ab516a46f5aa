/**
 * The agent's change stream: a sequence number bumped whenever anything an observer cares about
 * changes in a replica set (created, scaled, a replica started, ready, not ready, restarted,
 * draining, gone). An observer lists once, then long-polls for what changed since its cursor, so
 * watching every replica the agent runs costs one open request, not a poll per deployment.
 *
 * The cursor carries the agent's epoch (a restarted agent starts a new sequence): a cursor from
 * another epoch, or older than the tombstones kept, gets a full list (a resync) instead.
 */
import { randomUUID } from 'node:crypto';

export interface GoneSet {
  name: string;
  deploymentId: string;
  revision: number;
}

export interface ChangesSince {
  cursor: string;
  /** True: the cursor could not be continued; `names` is every set, and anything else is gone. */
  resync: boolean;
  /** Sets changed since the cursor (every set on a resync). */
  names: string[];
  /** Sets removed since the cursor (empty on a resync). */
  gone: GoneSet[];
}

/** Tombstones kept for observers that fall behind; older cursors resync. */
const MAX_TOMBSTONES = 10_000;

export class ChangeLog {
  readonly epoch = randomUUID().slice(0, 8);
  private seq = 0;
  /** Oldest sequence a cursor may continue from (tombstones before it were dropped). */
  private horizon = 0;
  private readonly changedAt = new Map<string, number>();
  private readonly tombstones = new Map<string, GoneSet & { seq: number }>();
  private waiters: (() => void)[] = [];

  /** Something in this set changed. */
  changed(name: string): void {
    this.changedAt.set(name, ++this.seq);
    this.tombstones.delete(name);
    this.wake();
  }

  /** The set is gone (its last replica drained). */
  removed(set: GoneSet): void {
    this.changedAt.delete(set.name);
    this.tombstones.set(set.name, { ...set, seq: ++this.seq });
    if (this.tombstones.size > MAX_TOMBSTONES) {
      const [oldest] = this.tombstones;
      this.tombstones.delete(oldest![0]);
      this.horizon = oldest![1].seq;
    }
    this.wake();
  }

  get cursor(): string {
    return `${this.epoch}:${this.seq}`;
  }

  /**
   * What changed since `cursor`; with nothing new, waits up to `waitMs` for a change first.
   * `all` lists every set now (for a resync).
   */
  async since(
    cursor: string | undefined,
    waitMs: number,
    all: () => string[],
  ): Promise<ChangesSince> {
    const from = this.parse(cursor);
    if (from === undefined) return { cursor: this.cursor, resync: true, names: all(), gone: [] };
    if (from >= this.seq && waitMs > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, waitMs);
        function done() {
          clearTimeout(timer);
          resolve();
        }
        this.waiters.push(done);
      });
    }
    const names = [...this.changedAt].filter(([, seq]) => seq > from).map(([name]) => name);
    const gone = [...this.tombstones.values()]
      .filter((t) => t.seq > from)
      .map(({ name, deploymentId, revision }) => ({ name, deploymentId, revision }));
    return { cursor: this.cursor, resync: false, names, gone };
  }

  /** The sequence number a cursor continues from, or undefined when it cannot be continued. */
  private parse(cursor: string | undefined): number | undefined {
    if (!cursor) return undefined;
    const [epoch, seq] = cursor.split(':');
    const n = Number(seq);
    if (epoch !== this.epoch || !Number.isInteger(n) || n < this.horizon || n > this.seq)
      return undefined;
    return n;
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }
}

/** One lease per name (the observer's), held in memory: an agent restart frees it. */
export interface LeaseRecord {
  holder: string;
  expiresAt: number;
  /** What the holder wants its successor to know (the observer's last signalled state). */
  checkpoint?: string;
}

export class Leases {
  private readonly leases = new Map<string, LeaseRecord>();

  /** Takes or renews the lease; the current record when another holder's is still live. */
  acquire(
    name: string,
    holder: string,
    durationMs: number,
    checkpoint: string | undefined,
    now = Date.now(),
  ): { held: boolean; lease: LeaseRecord } {
    const current = this.leases.get(name);
    if (current && current.holder !== holder && current.expiresAt > now)
      return { held: false, lease: current };
    const lease: LeaseRecord = {
      holder,
      expiresAt: now + durationMs,
      ...((checkpoint ?? current?.checkpoint) !== undefined
        ? { checkpoint: checkpoint ?? current?.checkpoint }
        : {}),
    };
    this.leases.set(name, lease);
    return { held: true, lease };
  }

  get(name: string): LeaseRecord | undefined {
    return this.leases.get(name);
  }

  /** Frees it now (keeping the checkpoint for the successor), if `holder` has it. */
  release(name: string, holder: string): void {
    const current = this.leases.get(name);
    if (current?.holder === holder) this.leases.set(name, { ...current, expiresAt: 0 });
  }
}
