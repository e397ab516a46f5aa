/** The steady safety net's period per deployment: fixed by its ID, spread over 30 minutes. */
import { describe, expect, it } from 'vitest';
import {
  SAFETY_NET_MS,
  SAFETY_NET_SPREAD_MS,
  safetyNetMsFor,
} from '../../workflows/deployment/signalled-replicas';

const ids = Array.from({ length: 1000 }, (_, i) => `ws-${i % 50}/d-${i}`);

describe('safetyNetMsFor', () => {
  it('is the same for the same deployment (replay and continue-as-new see one period)', () => {
    expect(safetyNetMsFor('team-a/llama')).toBe(safetyNetMsFor('team-a/llama'));
  });

  it('stays within 2 h .. 2 h 30 min', () => {
    for (const id of ids) {
      const period = safetyNetMsFor(id);
      expect(period).toBeGreaterThanOrEqual(SAFETY_NET_MS);
      expect(period).toBeLessThan(SAFETY_NET_MS + SAFETY_NET_SPREAD_MS);
    }
  });

  it('spreads deployments created together: no 5-minute slot holds more than a fifth of them', () => {
    const slots = new Map<number, number>();
    for (const id of ids) {
      const slot = Math.floor((safetyNetMsFor(id) - SAFETY_NET_MS) / (5 * 60_000));
      slots.set(slot, (slots.get(slot) ?? 0) + 1);
    }
    expect(slots.size).toBe(6);
    for (const count of slots.values()) expect(count).toBeLessThan(ids.length / 5);
  });
});
