/** Pure quota arithmetic, apart from the workflow that serialises access to it. */
import type { Reservation, ReserveRequest } from './definitions';

export function reservedByType(reservations: readonly Reservation[]): Record<string, number> {
  const totals: Record<string, number> = {};
  for (const r of reservations) totals[r.accelerator] = (totals[r.accelerator] ?? 0) + r.gpus;
  return totals;
}

/**
 * Checks a reservation against the limit. The holder's own current reservation does not count
 * against it, so re-reserving (a retried activity, or an edit of maxReplicas) is idempotent.
 */
export function checkReservation(
  reservations: readonly Reservation[],
  request: ReserveRequest,
): { ok: true } | { ok: false; message: string } {
  const others = reservations.filter((r) => r.holder !== request.holder && r.accelerator === request.accelerator);
  const used = others.reduce((sum, r) => sum + r.gpus, 0);
  const available = Math.max(0, request.limit - used);
  if (request.gpus <= available) return { ok: true };
  return {
    ok: false,
    message:
      `quota exceeded for ${request.accelerator}: ${request.gpus} GPUs requested ` +
      `(accelerator count x maxReplicas), ${available} of ${request.limit} available in this workspace`,
  };
}

export function applyReservation(reservations: readonly Reservation[], request: ReserveRequest): Reservation[] {
  const { holder, accelerator, gpus } = request;
  return [...reservations.filter((r) => r.holder !== holder), { holder, accelerator, gpus }];
}

export function removeReservation(reservations: readonly Reservation[], holder: string): Reservation[] {
  return reservations.filter((r) => r.holder !== holder);
}
