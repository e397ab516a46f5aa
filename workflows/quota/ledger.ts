/** Pure quota arithmetic, apart from the workflow that serialises access to it. */
import { parseNodeGroupQuotaKey } from '../domain/spec-facts';
import type { GpuDemand, Reservation, ReserveRequest } from './definitions';

export function reservedByType(reservations: readonly Reservation[]): Record<string, number> {
  const totals: Record<string, number> = {};
  for (const r of reservations) {
    for (const [type, gpus] of Object.entries(r.gpus)) totals[type] = (totals[type] ?? 0) + gpus;
  }
  return totals;
}

/**
 * Checks a reservation against the limits. The holder's own current reservation does not count
 * against it, so re-reserving (a retried activity, or an edit of maxReplicas) is idempotent.
 */
export function checkReservation(
  reservations: readonly Reservation[],
  request: ReserveRequest,
): { ok: true } | { ok: false; message: string } {
  const used = reservedByType(reservations.filter((r) => r.holder !== request.holder));
  for (const [type, gpus] of Object.entries(request.gpus)) {
    const limit = request.limits[type] ?? 0;
    const available = Math.max(0, limit - (used[type] ?? 0));
    if (gpus > available) {
      const group = parseNodeGroupQuotaKey(type);
      return {
        ok: false,
        message: group
          ? `node group ${group.nodeGroup} of cluster ${group.cluster} is full: ${gpus} GPUs requested ` +
            `(gpusPerReplica x maxReplicas), ${available} of ${limit} free at its maximum size`
          : `quota exceeded for ${type}: ${gpus} GPUs requested ` +
            `(accelerator count x maxReplicas), ${available} of ${limit} available in this workspace`,
      };
    }
  }
  return { ok: true };
}

export function applyReservation(
  reservations: readonly Reservation[],
  request: ReserveRequest,
): Reservation[] {
  const rest = reservations.filter((r) => r.holder !== request.holder);
  const gpus = Object.fromEntries(Object.entries(request.gpus).filter(([, n]) => n > 0));
  return Object.keys(gpus).length === 0 ? rest : [...rest, { holder: request.holder, gpus }];
}

export function removeReservation(
  reservations: readonly Reservation[],
  holder: string,
): Reservation[] {
  return reservations.filter((r) => r.holder !== holder);
}

/** Per type, the larger of two demands: what a deployment holds while a rollout may go either way. */
export function combineDemands(a: GpuDemand, b: GpuDemand): GpuDemand {
  const combined: GpuDemand = { ...a };
  for (const [type, gpus] of Object.entries(b))
    combined[type] = Math.max(combined[type] ?? 0, gpus);
  return combined;
}
