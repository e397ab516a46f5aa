/** The agent's change log and leases: pure bookkeeping, `now` passed in where it matters. */
import { describe, expect, it } from 'vitest';
import { ChangeLog, Leases } from '../../runtime/agent/changes';

const all = () => ['a', 'b'];

describe('the change log', () => {
  it('lists everything for a missing, foreign or future cursor', async () => {
    const log = new ChangeLog();
    for (const cursor of [undefined, 'other:0', `${log.epoch}:99`, `${log.epoch}:x`]) {
      const answer = await log.since(cursor, 0, all);
      expect(answer).toMatchObject({ resync: true, names: ['a', 'b'], gone: [] });
    }
  });

  it('answers what changed after the cursor, each name once, and removals as gone', async () => {
    const log = new ChangeLog();
    const start = log.cursor;
    log.changed('a');
    log.changed('b');
    log.changed('a');
    const first = await log.since(start, 0, all);
    expect(first).toMatchObject({ resync: false, gone: [] });
    expect(first.names.sort()).toEqual(['a', 'b']);
    log.removed({ name: 'a', deploymentId: 'ws/x', revision: 1 });
    const second = await log.since(first.cursor, 0, all);
    expect(second.names).toEqual([]);
    expect(second.gone).toEqual([{ name: 'a', deploymentId: 'ws/x', revision: 1 }]);
    // created again afterwards: a change, no longer gone
    log.changed('a');
    const third = await log.since(first.cursor, 0, all);
    expect(third).toMatchObject({ names: ['a'], gone: [] });
  });

  it('waits for the next change, and answers nothing new when none comes in time', async () => {
    const log = new ChangeLog();
    const cursor = log.cursor;
    const waiting = log.since(cursor, 5_000, all);
    log.changed('b');
    expect((await waiting).names).toEqual(['b']);
    const quiet = await log.since(log.cursor, 20, all);
    expect(quiet).toMatchObject({ resync: false, names: [], gone: [] });
  });
});

describe('the agent-held leases', () => {
  it('has one live holder; renewal keeps the checkpoint; expiry and release free it', () => {
    const leases = new Leases();
    expect(leases.acquire('o', 'a', 1000, 'cp1', 0).held).toBe(true);
    expect(leases.acquire('o', 'b', 1000, undefined, 500)).toMatchObject({
      held: false,
      lease: { holder: 'a' },
    });
    expect(leases.acquire('o', 'a', 1000, undefined, 600).lease.checkpoint).toBe('cp1');
    // expired at 1600: b takes it and finds a's checkpoint
    expect(leases.acquire('o', 'b', 1000, undefined, 1600).lease).toMatchObject({
      holder: 'b',
      checkpoint: 'cp1',
    });
    leases.release('o', 'a'); // not a's: nothing happens
    expect(leases.acquire('o', 'a', 1000, undefined, 1700).held).toBe(false);
    leases.release('o', 'b');
    expect(leases.acquire('o', 'a', 1000, undefined, 1700).held).toBe(true);
  });
});
