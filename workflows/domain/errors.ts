import { ApplicationFailure } from '@temporalio/common';
/**
 * Error kinds, thrown with `ApplicationFailure.create({ type })` from workflows and activities.
 * Tests assert on the type, and the API maps each type to exactly one HTTP status.
 */
export const ErrorType = {
  InvalidSpec: 'invalid_spec',
  Conflict: 'conflict',
  QuotaExceeded: 'quota_exceeded',
  NotFound: 'not_found',
} as const;

export type ErrorType = (typeof ErrorType)[keyof typeof ErrorType];

/**
 * The ledger's `quota_exceeded` failure carried inside a wrapper (an activity failure in a
 * workflow, an update failure in an activity), re-created so callers see it first-hand, with
 * the ledger's message saying what is left. Undefined for any other error.
 */
export function quotaExceededIn(err: unknown): ApplicationFailure | undefined {
  const cause = err instanceof Error ? err.cause : undefined;
  if (!(cause instanceof ApplicationFailure) || cause.type !== ErrorType.QuotaExceeded)
    return undefined;
  return ApplicationFailure.create({
    type: ErrorType.QuotaExceeded,
    message: cause.message,
    nonRetryable: true,
  });
}

/**
 * An `invalid_spec` failure raised by an activity (a BYOC cluster or node group the spec names
 * that does not exist or does not fit), re-created first-hand with its field-level details.
 */
export function invalidSpecIn(err: unknown): ApplicationFailure | undefined {
  const cause = err instanceof Error ? err.cause : undefined;
  if (!(cause instanceof ApplicationFailure) || cause.type !== ErrorType.InvalidSpec)
    return undefined;
  return ApplicationFailure.create({
    type: ErrorType.InvalidSpec,
    message: cause.message,
    details: cause.details ? [...cause.details] : [],
    nonRetryable: true,
  });
}
