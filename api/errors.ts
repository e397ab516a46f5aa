/** One error shape for every endpoint, and one HTTP status per error code. */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import { DomainError, type DomainErrorCode } from './deployment-service';
import type { Violation } from '../workflows/domain/spec';

export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

const STATUS: Record<DomainErrorCode, number> = {
  invalid_spec: 400,
  not_found: 404,
  conflict: 409,
  quota_exceeded: 409,
  precondition_failed: 412,
  unavailable: 503,
};

export function errorBody(code: string, message: string, details?: Violation[]) {
  return { error: { code, message, ...(details && details.length > 0 ? { details } : {}) } };
}

export function errorHandler(
  error: FastifyError | Error,
  request: FastifyRequest,
  reply: FastifyReply,
) {
  if (error instanceof DomainError) {
    return reply
      .status(STATUS[error.code])
      .send(errorBody(error.code, error.message, error.details));
  }
  if (error instanceof HttpError) {
    return reply
      .status(error.status)
      .headers(error.headers)
      .send(errorBody(error.code, error.message));
  }
  if (hasZodFastifySchemaValidationErrors(error)) {
    const where =
      error.validationContext === 'body' ? '' : `${error.validationContext ?? 'request'}.`;
    const details = error.validation.map((v) => ({
      path: where + v.instancePath.split('/').filter(Boolean).join('.'),
      message: v.message ?? 'invalid',
    }));
    const message = `invalid request: ${details.map((d) => (d.path ? `${d.path}: ${d.message}` : d.message)).join('; ')}`;
    return reply.status(400).send(errorBody('invalid_spec', message, details));
  }
  const status = (error as FastifyError).statusCode;
  if (status && status >= 400 && status < 500) {
    return reply
      .status(status)
      .send(errorBody(status === 415 ? 'unsupported_media_type' : 'bad_request', error.message));
  }
  request.log.error({ err: error }, 'request failed');
  return reply.status(500).send(errorBody('internal', 'internal error; see the API log'));
}
