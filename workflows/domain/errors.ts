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
