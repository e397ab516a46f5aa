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
 * A domain failure of `type` raised inside a wrapper (an activity failure in a workflow, an
 * update failure in an activity), re-created so callers see it first-hand: the ledger's
 * `quota_exceeded` with what is left, or an activity's `invalid_spec` with its field-level
 * details. Undefined for any other error.
 */
function domainFailureIn(err: unknown, type: ErrorType): ApplicationFailure | undefined {
  const cause = err instanceof Error ? err.cause : undefined;
  if (!(cause instanceof ApplicationFailure) || cause.type !== type) return undefined;
  return ApplicationFailure.create({
    type,
    message: cause.message,
    ...(cause.details?.length ? { details: [...cause.details] } : {}),
    nonRetryable: true,
  });
}

export const quotaExceededIn = (err: unknown) => domainFailureIn(err, ErrorType.QuotaExceeded);
export const invalidSpecIn = (err: unknown) => domainFailureIn(err, ErrorType.InvalidSpec);
