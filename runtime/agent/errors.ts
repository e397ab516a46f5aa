/** Failures the HTTP layer turns into 4xx answers; anything else is a 500. */

export class BadRequestError extends Error {}

export class NotFoundError extends Error {}

/** The request contradicts existing state, e.g. a different template for a revision. */
export class ConflictError extends Error {}
