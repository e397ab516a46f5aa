/**
 * A secret's value checked by its type. Messages name the field and the rule, never the value
 * (it is secret, and a pasted private key must not end up in a log or an error body).
 */
import crypto from 'node:crypto';
import { utils, type ParsedKey } from 'ssh2';
import type { Violation } from '../../workflows/domain/spec';
import type { AwsCredentials, SecretValue } from './store';

/** OpenSSH's fingerprint of a public key blob: `SHA256:` and unpadded base64. */
export function sshFingerprint(publicKeyBlob: Buffer): string {
  return `SHA256:${crypto.createHash('sha256').update(publicKeyBlob).digest('base64').replace(/=+$/, '')}`;
}

/** The longest ssh-public-key value accepted (an RSA 16384-bit key line is about 2.8 KiB). */
export const MAX_SSH_PUBLIC_KEY_BYTES = 8192;

/** The one public key an OpenSSH `authorized_keys`-style line holds, or why not. */
export function parsePublicKey(value: string): { key: ParsedKey } | { error: string } {
  const line = value.trim();
  if (line === '' || /[\r\n]/.test(line))
    return { error: 'must be one OpenSSH public key line, e.g. "ssh-ed25519 AAAA... comment"' };
  let parsed: ParsedKey | Error;
  try {
    const result = utils.parseKey(line);
    parsed = Array.isArray(result) ? (result[0] ?? new Error('no key')) : result;
  } catch {
    parsed = new Error('unparsable');
  }
  if (parsed instanceof Error)
    return {
      error:
        'is not an OpenSSH public key ("ssh-ed25519 AAAA...", "ssh-rsa AAAA...", "ecdsa-sha2-nistp256 AAAA..."): the content of the .pub file',
    };
  if (parsed.isPrivateKey())
    return {
      error:
        'is a private key: send the public key (the .pub file), never the private key; that private key should now be considered exposed',
    };
  return { key: parsed };
}

export type CheckedSecret =
  | { ok: true; secret: SecretValue & { fingerprint?: string } }
  | { ok: false; violations: Violation[] };

/** The body of PUT /secrets/{name}, already of the right shape (zod), checked by type. */
export function checkSecret(body: {
  type: SecretValue['type'];
  value: string | AwsCredentials;
}): CheckedSecret {
  if (body.type === 'ssh-public-key') {
    if (typeof body.value !== 'string')
      return {
        ok: false,
        violations: [{ path: 'value', message: 'an ssh-public-key value is a string' }],
      };
    if (Buffer.byteLength(body.value, 'utf8') > MAX_SSH_PUBLIC_KEY_BYTES)
      return {
        ok: false,
        violations: [
          {
            path: 'value',
            message: `value must be at most ${MAX_SSH_PUBLIC_KEY_BYTES} bytes (8 KiB): one OpenSSH public key line`,
          },
        ],
      };
    const parsed = parsePublicKey(body.value);
    if ('error' in parsed)
      return { ok: false, violations: [{ path: 'value', message: `value ${parsed.error}` }] };
    return {
      ok: true,
      secret: {
        type: 'ssh-public-key',
        value: body.value.trim(),
        fingerprint: sshFingerprint(parsed.key.getPublicSSH()),
      },
    };
  }
  const value = body.value;
  if (typeof value !== 'object' || value === null)
    return {
      ok: false,
      violations: [
        {
          path: 'value',
          message:
            'an aws-credentials value is an object { "accessKeyId", "secretAccessKey", "sessionToken"? }',
        },
      ],
    };
  const violations: Violation[] = [];
  if (!/^[A-Z0-9]{16,128}$/.test(value.accessKeyId))
    violations.push({
      path: 'value.accessKeyId',
      message: 'value.accessKeyId must be 16 to 128 upper-case letters and digits (e.g. AKIA...)',
    });
  if (value.secretAccessKey.length < 16 || /\s/.test(value.secretAccessKey))
    violations.push({
      path: 'value.secretAccessKey',
      message: 'value.secretAccessKey must be at least 16 characters without white space',
    });
  if (violations.length > 0) return { ok: false, violations };
  return {
    ok: true,
    secret: {
      type: 'aws-credentials',
      value: {
        accessKeyId: value.accessKeyId,
        secretAccessKey: value.secretAccessKey,
        ...(value.sessionToken !== undefined ? { sessionToken: value.sessionToken } : {}),
      },
    },
  };
}
