/**
 * Page tokens: opaque to clients, recognisable to the API. A token is a versioned envelope
 * `1.<payload>.<check>` (base64url), where the check is a hash of the payload and of the list it
 * pages (its scope: the route, the workspace, the filters). A token that is not one of ours, was
 * cut short, or belongs to another list is refused at once with 400, instead of reaching Temporal
 * (which answers a foreign token with an internal error, retried for ~20 s).
 *
 * The check is integrity, not secrecy: a client that forges a token gets what Temporal makes of it.
 */
import crypto from 'node:crypto';
import { HttpError } from './errors';

const VERSION = '1';
const TOKEN = /^1\.([A-Za-z0-9_-]*)\.([A-Za-z0-9_-]{16})$/;

/** What a page token looks like (documented in the OpenAPI document). */
export const PAGE_TOKEN_PATTERN = TOKEN.source;

function check(scope: string, payload: Buffer): string {
  return crypto
    .createHash('sha256')
    .update(`model-deployments page token v${VERSION}\0${scope}\0`)
    .update(payload)
    .digest()
    .subarray(0, 12)
    .toString('base64url');
}

export function encodePageToken(scope: string, payload: Uint8Array): string {
  const bytes = Buffer.from(payload);
  return `${VERSION}.${bytes.toString('base64url')}.${check(scope, bytes)}`;
}

/** The payload of a token this API made for `scope`; 400 naming `pageToken` otherwise. */
export function decodePageToken(scope: string, token: string): Buffer {
  const match = TOKEN.exec(token);
  const payload = match ? Buffer.from(match[1]!, 'base64url') : undefined;
  if (
    !match ||
    !payload ||
    payload.toString('base64url') !== match[1] ||
    check(scope, payload) !== match[2]
  ) {
    throw new HttpError(
      400,
      'invalid_request',
      'query.pageToken: not a page token of this list; pass the nextPageToken of the previous page unchanged, with the same filters, or omit it for the first page',
      {},
      [{ path: 'query.pageToken', message: 'not a page token of this list' }],
    );
  }
  return payload;
}
