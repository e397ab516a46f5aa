/**
 * One error shape for every answer that is not a success, `{ error: { code, message, details? } }`,
 * and one HTTP status per error code: domain errors, request validation, and the framework's own
 * errors (bad %-encoding, over-long path parameters, bodies too large or of an unknown type,
 * malformed requests the HTTP parser refuses).
 */
import http from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import type { ErrorType } from '../workflows/domain/errors';
import type { Violation } from '../workflows/domain/spec';

export type DomainErrorCode = ErrorType | 'unavailable';

/**
 * What became of a write that answered 503: `unknown` (it may have been applied: read the
 * resource) or `not_applied` (it certainly was not: retry it).
 */
export type Outcome = 'unknown' | 'not_applied';

/** An entry of `error.details`: a violation with its JSON path, or a write's outcome. */
export type ErrorDetail = Violation | { outcome: Outcome };

/**
 * An error the API answers with one status and the `{ error: { code, message, details } }` shape:
 * `details` lists the violations, or (a 503 of a write) the write's outcome.
 */
export class DomainError extends Error {
  constructor(
    readonly code: DomainErrorCode,
    message: string,
    readonly details?: Violation[],
    readonly outcome?: Outcome,
  ) {
    super(message);
  }
}

export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
    readonly details?: Violation[],
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

/** Longer path parameters are refused with 414 before routing (fastify's maxParamLength). */
export const MAX_PARAM_LENGTH = 100;

/** The code of an error the framework raised, by its status. */
const FRAMEWORK_CODES: Record<number, string> = {
  400: 'bad_request',
  404: 'not_found',
  405: 'method_not_allowed',
  406: 'not_acceptable',
  408: 'request_timeout',
  411: 'length_required',
  413: 'payload_too_large',
  414: 'uri_too_long',
  415: 'unsupported_media_type',
  431: 'headers_too_large',
  503: 'unavailable',
};

/** Clearer words than the framework's for what a client can fix. */
const FRAMEWORK_MESSAGES: Record<string, (error: FastifyError, request: FastifyRequest) => string> =
  {
    FST_ERR_CTP_INVALID_JSON_BODY: () => 'the body is not valid JSON',
    FST_ERR_CTP_EMPTY_JSON_BODY: () => 'the body is empty; send a JSON document',
    FST_ERR_CTP_BODY_TOO_LARGE: () => 'the body is larger than this endpoint accepts',
    FST_ERR_CTP_INVALID_MEDIA_TYPE: (_error, request) => unsupportedMediaType(request),
    FST_ERR_BAD_URL: () => 'the path is not valid %-encoding',
    FST_ERR_MAX_PARAM_LENGTH: () =>
      `a path parameter is longer than ${MAX_PARAM_LENGTH} characters; no name here is that long`,
  };

/**
 * Says what was sent and what to send instead. `curl -d` sends a form (x-www-form-urlencoded) unless
 * told otherwise, which is how most people meet this error, so the message names the header to add.
 */
function unsupportedMediaType(request: FastifyRequest): string {
  const sent = request.headers['content-type']?.split(';')[0]?.trim();
  const wanted =
    request.method === 'PATCH'
      ? 'application/merge-patch+json (or application/json)'
      : 'application/json';
  const got = sent
    ? `the body was sent as ${JSON.stringify(sent.slice(0, 100))}`
    : 'the body has no content-type';
  return `unsupported content-type: ${got}; send ${wanted}, e.g. curl -H 'Content-Type: ${wanted.split(' ')[0]}'`;
}

/** A schema validation's issues as error details: a dotted path (after `prefix`) and a message. */
export function validationDetails<V extends { instancePath: string; message?: string }>(
  validation: readonly V[],
  prefix = '',
  messageOf: (v: V) => string | undefined = (v) => v.message,
): Violation[] {
  return validation.map((v) => ({
    path: prefix + v.instancePath.split('/').filter(Boolean).join('.'),
    message: messageOf(v) ?? 'invalid',
  }));
}

/** Details in one line for the error's message: `path: message; ...`. */
export function describeDetails(details: readonly { path?: string; message: string }[]): string {
  return details.map((d) => (d.path ? `${d.path}: ${d.message}` : d.message)).join('; ');
}

export function errorBody(code: string, message: string, details?: ErrorDetail[]) {
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
      .send(
        errorBody(
          error.code,
          error.message,
          error.outcome ? [{ outcome: error.outcome }] : error.details,
        ),
      );
  }
  if (error instanceof HttpError) {
    return reply
      .status(error.status)
      .headers(error.headers)
      .send(errorBody(error.code, error.message, error.details));
  }
  if (hasZodFastifySchemaValidationErrors(error)) {
    // A body that breaks a rule is an invalid spec (api.md); a bad query, path or header is not.
    const context = error.validationContext ?? 'request';
    const where = context === 'body' ? '' : `${context === 'querystring' ? 'query' : context}.`;
    const details = validationDetails(error.validation, where);
    const message = `invalid request: ${describeDetails(details)}`;
    return reply
      .status(400)
      .send(errorBody(context === 'body' ? 'invalid_spec' : 'invalid_request', message, details));
  }
  const status = (error as FastifyError).statusCode;
  if (status && status >= 400 && status < 600 && status !== 500) {
    const fastifyCode = (error as FastifyError).code;
    const message =
      FRAMEWORK_MESSAGES[fastifyCode]?.(error as FastifyError, request) ?? error.message;
    const code =
      fastifyCode === 'FST_ERR_CTP_INVALID_JSON_BODY' ||
      fastifyCode === 'FST_ERR_CTP_EMPTY_JSON_BODY'
        ? 'invalid_json'
        : (FRAMEWORK_CODES[status] ?? (status < 500 ? 'bad_request' : 'unavailable'));
    if (status >= 500) request.log.error({ err: error }, 'request failed');
    return reply.status(status).send(errorBody(code, message));
  }
  request.log.error({ err: error }, 'request failed');
  return reply.status(500).send(errorBody('internal', 'internal error; see the API log'));
}

/**
 * Requests the HTTP parser refuses before fastify sees them (headers over the size limit, a
 * malformed request line, a client too slow to send its request): the same shape, written to
 * the socket, then the connection closes.
 */
export function clientErrorHandler(error: Error & { code?: string }, socket: Socket): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const [status, code, message] =
    error.code === 'HPE_HEADER_OVERFLOW'
      ? [431, 'headers_too_large', 'the request line and headers are larger than this API accepts']
      : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, 'request_timeout', 'the request was not received in time']
        : [400, 'bad_request', 'the request is not valid HTTP'];
  const body = JSON.stringify(errorBody(code, message));
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\n` +
        'Content-Type: application/json; charset=utf-8\r\n' +
        `Content-Length: ${Buffer.byteLength(body)}\r\n` +
        'Connection: close\r\n\r\n' +
        body,
    );
  }
  socket.destroy(error);
}
