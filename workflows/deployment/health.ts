/**
 * Health from observed replicas. Pure: `now` is passed in.
 *
 * Healthy: every desired replica is ready (also a deployment scaled to zero, which the next
 * request wakes). Progressing: some are not, for less than the readiness timeout.
 * ProgressingWithTimeout: past it (the workflow keeps watching, and health returns to Healthy
 * when reality does). NotPresent (paused) is decided by the caller, which knows the state.
 */
import type { Health } from '../domain/deployment';

export interface HealthInput {
  desired: number;
  ready: number;
  /** When ready first fell short of desired (ISO), if it is short now. */
  unreadySince?: string;
  readinessTimeoutMs: number;
  now: number;
}

export function evaluateHealth({
  desired,
  ready,
  unreadySince,
  readinessTimeoutMs,
  now,
}: HealthInput): Health {
  if (ready >= desired) return 'Healthy';
  const since = unreadySince ? Date.parse(unreadySince) : now;
  return now - since >= readinessTimeoutMs ? 'ProgressingWithTimeout' : 'Progressing';
}

/** Milliseconds until a Progressing deployment times out, or undefined when no deadline applies. */
export function msUntilReadinessTimeout(input: HealthInput): number | undefined {
  if (input.desired === 0 || input.ready >= input.desired || !input.unreadySince) return undefined;
  const remaining = Date.parse(input.unreadySince) + input.readinessTimeoutMs - input.now;
  return remaining > 0 ? remaining : undefined;
}
