import { ApplicationFailure } from '@temporalio/common';
/**
 * Error kinds, thrown with `domainFailure(type, ...)` from workflows and activities.
 * Tests assert on the type, and the API maps each type to exactly one HTTP status.
 */
export const ErrorType = {
  InvalidSpec: 'invalid_spec',
  Conflict: 'conflict',
  QuotaExceeded: 'quota_exceeded',
  NotFound: 'not_found',
  /** An If-Match version that is not the deployment's current one (HTTP 412). */
  PreconditionFailed: 'precondition_failed',
  /** Something the request needs could not be reached in time (a cluster, the runtime): HTTP 503. */
  Unavailable: 'unavailable',
} as const;

export type ErrorType = (typeof ErrorType)[keyof typeof ErrorType];

/**
 * The one way to build a domain failure: typed, non-retryable (a domain answer does not change by
 * asking again), with its details (e.g. the violations of an invalid spec) as the first detail.
 */
export function domainFailure(
  type: ErrorType,
  message: string,
  details?: readonly unknown[],
): ApplicationFailure {
  return ApplicationFailure.create({
    type,
    message,
    ...(details && details.length > 0 ? { details: [...details] } : {}),
    nonRetryable: true,
  });
}

/** Whether an error is one of the domain failures (the API answers it with its status). */
export function isDomainFailure(err: unknown, ...types: ErrorType[]): err is ApplicationFailure {
  return (
    err instanceof ApplicationFailure &&
    (types.length === 0
      ? Object.values(ErrorType).includes(err.type as ErrorType)
      : types.includes(err.type as ErrorType))
  );
}

/**
 * A domain failure of `type` raised inside a wrapper (an activity failure in a workflow, an
 * update failure in an activity), re-created so callers see it first-hand: the ledger's
 * `quota_exceeded` with what is left, or an activity's `invalid_spec` with its field-level
 * details. Undefined for any other error.
 */
function domainFailureIn(err: unknown, type: ErrorType): ApplicationFailure | undefined {
  const cause = err instanceof Error ? err.cause : undefined;
  if (!(cause instanceof ApplicationFailure) || cause.type !== type) return undefined;
  return domainFailure(type, cause.message, cause.details ?? undefined);
}

export const quotaExceededIn = (err: unknown) => domainFailureIn(err, ErrorType.QuotaExceeded);
export const invalidSpecIn = (err: unknown) => domainFailureIn(err, ErrorType.InvalidSpec);
