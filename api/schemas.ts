/**
 * HTTP schemas (zod), built from the domain schema, so request validation, responses and the
 * OpenAPI document all come from one source.
 */
import { z } from 'zod';
import { MAX_SSH_PUBLIC_KEY_BYTES } from './secrets/validate';
import { DEPLOYMENT_STATES, EVENT_TYPES, HEALTH_STATES } from '../workflows/domain/deployment';
import { acceleratorSchema, modelSchema } from '../workflows/domain/catalog';
import {
  createDeploymentSchema,
  deploymentNameSchema,
  deploymentSpecSchema,
  MAX_TAGS,
  tagsSchema,
  workspaceNameSchema,
} from '../workflows/domain/spec';
import { HttpError, MAX_PARAM_LENGTH } from './errors';
import { decodePageToken, encodePageToken, PAGE_TOKEN_PATTERN } from './page-token';

export const errorSchema = z
  .object({
    error: z.object({
      code: z
        .string()
        .describe(
          'invalid_spec | invalid_request | invalid_json | bad_request | unauthorized | forbidden | not_found | conflict | quota_exceeded | precondition_failed | payload_too_large | uri_too_long | unsupported_media_type | headers_too_large | unavailable | internal',
        ),
      message: z.string(),
      details: z
        .array(
          z.union([
            z
              .object({ path: z.string(), message: z.string() })
              .describe('a violation: the JSON path of the offending field, and the rule'),
            z
              .object({
                outcome: z
                  .enum(['unknown', 'not_applied'])
                  .describe(
                    'unknown: the write may have been applied (GET the resource before retrying); not_applied: it certainly was not',
                  ),
              })
              .describe('what became of a write that answered 503'),
          ]),
        )
        .optional(),
    }),
  })
  .describe('The one error shape of every endpoint');

/** What each error status of an operation means, for the OpenAPI document. */
const ERROR_STATUSES = {
  400: 'invalid_spec (the body breaks a rule; details lists each violation with its path), invalid_request (a query, path or header parameter does), invalid_json, bad_request (e.g. bad %-encoding in the path)',
  401: 'unauthorized: no or unknown API key',
  403: "forbidden: the API key belongs to another workspace than the path's",
  404: 'not_found',
  409: 'conflict (name taken; not allowed in the current state; edited meanwhile) or quota_exceeded',
  412: 'precondition_failed: If-Match is not the current version; nothing changed',
  413: 'payload_too_large',
  414: `uri_too_long: a path parameter is longer than ${MAX_PARAM_LENGTH} characters`,
  415: 'unsupported_media_type',
  503: 'unavailable: Temporal or the worker did not answer in time; for a write, details[0].outcome says whether it may have been applied (unknown) or certainly was not (not_applied)',
} as const;
export type ErrorStatus = keyof typeof ERROR_STATUSES;

/** The error responses of an operation, each documented with what it means. */
export function errorResponses(...statuses: ErrorStatus[]) {
  return Object.fromEntries(
    statuses.map((status) => [status, errorSchema.describe(ERROR_STATUSES[status])]),
  ) as Record<ErrorStatus, typeof errorSchema>;
}

export const workspaceParams = z.object({ workspace: workspaceNameSchema });
export const deploymentParams = z.object({
  workspace: workspaceNameSchema,
  name: deploymentNameSchema,
});

export const deploymentResourceSchema = z.object({
  name: z.string(),
  workspace: z.string(),
  spec: deploymentSpecSchema,
  revision: z.number().int().describe('bumps on every edit that changes what runs'),
  state: z.enum(DEPLOYMENT_STATES),
  health: z.enum(HEALTH_STATES),
  replicas: z.object({ desired: z.number().int(), ready: z.number().int() }),
  restarts: z
    .number()
    .int()
    .describe('replica restarts of the revision that serves; see the Restart events'),
  url: z.string().describe('the inference endpoint'),
  createdAt: z.string(),
  updatedAt: z.string(),
  version: z
    .string()
    .describe(
      'changes on every accepted write; the ETag of the resource, and what If-Match compares with',
    ),
});
export type DeploymentResource = z.output<typeof deploymentResourceSchema>;

export const createBodySchema = createDeploymentSchema;

export const patchBodySchema = z
  .record(z.string(), z.unknown())
  .describe(
    'A JSON merge patch (RFC 7396) of the resource in which only `spec` may change, e.g. {"spec": {"scaling": {"maxReplicas": 6}}}',
  );

export const cloneBodySchema = z.object({
  name: deploymentNameSchema,
  spec: z
    .record(z.string(), z.unknown())
    .optional()
    .describe('a merge patch applied to the source spec'),
});

/** `If-Match` on writes: the ETag of the version the client read. */
export const writeHeaders = z.looseObject({
  'if-match': z
    .string()
    .optional()
    .describe(
      'the ETag of the version last read, e.g. "lx2b9k.3" (quotes included); on a mismatch the write answers 412 and changes nothing. "*" (or none): any version',
    ),
});

/**
 * The version an `If-Match` header names: undefined for none or `*`. One strong entity tag, as
 * the ETag header gave it; a weak one (W/) never matches, as RFC 9110 says for If-Match.
 */
export function ifMatchVersion(header: string | undefined): string | undefined {
  const value = header?.trim();
  if (value === undefined || value === '' || value === '*') return undefined;
  const strong = /^"([\x21\x23-\x7e]*)"$/.exec(value);
  if (strong) return strong[1]!;
  if (/^W\/"[\x21\x23-\x7e]*"$/.test(value)) return `W/${value.slice(2)}`; // never a version
  throw new HttpError(
    400,
    'invalid_request',
    'headers.if-match: expected one entity tag as the ETag header gave it, e.g. "lx2b9k.3" (with the quotes), or *',
    {},
    [{ path: 'headers.if-match', message: 'expected one entity tag, e.g. "lx2b9k.3", or *' }],
  );
}

const pageSize = (max: number, fallback: number) =>
  z.coerce.number().int().min(1).max(max).default(fallback);
const pageToken = z
  .string()
  .regex(new RegExp(PAGE_TOKEN_PATTERN), 'not a page token: pass nextPageToken unchanged')
  .optional()
  .describe('the nextPageToken of the previous page, unchanged (same filters)');
export const pageQuery = z.object({
  pageSize: pageSize(500, 100),
  pageToken,
});

/**
 * Characters a tag value may hold but a visibility query cannot match: `"` breaks the SQLite
 * store's full-text query (an internal error, retried for ~20 s), `\\` is matched literally on one
 * store and unescaped on another, NUL ends the query. Measured on the dev server.
 */
const UNSEARCHABLE = /["\\\p{Cc}]/u;

/**
 * A `tag` filter: `key:value`, or `key` alone for any value of that key, with the same rules as
 * the tags of a spec, and a value the visibility store can search for.
 */
const tagFilter = z.string().superRefine((filter, ctx) => {
  const at = filter.indexOf(':');
  if (at === 0) {
    ctx.addIssue({
      code: 'custom',
      message: 'a tag filter is key:value or key, e.g. env:prod or env (no key before ":")',
    });
    return;
  }
  const [key, value] = at < 0 ? [filter, ''] : [filter.slice(0, at), filter.slice(at + 1)];
  const parsed = tagsSchema.safeParse({ [key]: value });
  for (const issue of parsed.error?.issues ?? []) {
    // A bad key comes as one "invalid key" issue wrapping the rule it breaks.
    const rules =
      issue.code === 'invalid_key' ? issue.issues.map((i) => i.message) : [issue.message];
    for (const message of rules) ctx.addIssue({ code: 'custom', message });
  }
  if (UNSEARCHABLE.test(value)) {
    ctx.addIssue({
      code: 'custom',
      message:
        'tag values in a filter cannot contain ", \\ or control characters: the Temporal visibility store cannot search for them',
    });
  }
});

export const listQuery = z.object({
  tag: z
    .union([tagFilter, z.array(tagFilter).max(MAX_TAGS, `at most ${MAX_TAGS} tag filters`)])
    .optional()
    .describe(
      'key:value, or key alone for any value; repeatable; every tag must match. Keys and values follow the spec tags rules',
    ),
  health: z.enum(HEALTH_STATES).optional(),
  state: z.enum(DEPLOYMENT_STATES).optional(),
  pageSize: pageSize(100, 20),
  pageToken,
});

export const listOf = <T extends z.ZodType>(item: T) =>
  z.object({ items: z.array(item), nextPageToken: z.string().optional() });

export const eventSchema = z.object({
  time: z.string(),
  type: z.enum(EVENT_TYPES),
  reason: z.string(),
  message: z.string(),
  revision: z.number().int().optional(),
});

export const quotaSchema = z.object({
  accelerator: z.string(),
  limit: z.number().int(),
  reserved: z.number().int(),
  available: z.number().int(),
});

export const clusterSchema = z.object({
  name: z.string().describe('what cloud.cluster names'),
  provider: z.literal('eks'),
  region: z.string(),
  eksClusterName: z.string(),
  namespace: z.string(),
  credentialsSecret: z
    .string()
    .optional()
    .describe('the name of the secret with its AWS credentials (never the credentials)'),
  gateway: z
    .object({ url: z.string(), tokenSecret: z.string() })
    .optional()
    .describe(
      'its edge gateway (deploy/byoc-edge), where inference to its pods goes, and the name of the secret with its token (never the token); without one its deployments answer inference with 503',
    ),
});

export const nodeGroupSchema = z.object({
  name: z.string().describe('what cloud.nodeGroup names'),
  instanceType: z.string(),
  gpu: z
    .object({ type: z.string(), count: z.number().int(), memoryMiB: z.number().int() })
    .nullable()
    .describe('GPUs of one node'),
  vcpus: z.number().int().nullable(),
  memoryMiB: z.number().int().nullable(),
  nodes: z.object({ min: z.number().int(), max: z.number().int(), desired: z.number().int() }),
  status: z.string(),
  gpuCapacity: z.number().int().describe('GPUs at its maximum size: the BYOC quota'),
  gpusReserved: z.number().int().describe('held by deployments (gpusPerReplica x maxReplicas)'),
});

export const clusterParams = z.object({
  workspace: workspaceNameSchema,
  cluster: z.string().min(1).max(MAX_PARAM_LENGTH),
});

export { acceleratorSchema, modelSchema };

/**
 * Offset pagination over an in-memory list (events, catalogs). The token is opaque to clients,
 * and good only for the list it came from (`scope`): anything else answers 400.
 */
export function paginate<T>(
  items: T[],
  pageSize: number,
  pageToken: string | undefined,
  scope: string,
): { items: T[]; nextPageToken?: string } {
  let offset = 0;
  if (pageToken !== undefined) {
    const payload = decodePageToken(`offset\0${scope}`, pageToken).toString();
    offset = /^\d{1,9}$/.test(payload) ? Number(payload) : 0;
  }
  const page = items.slice(offset, offset + pageSize);
  const next = offset + pageSize;
  return next < items.length
    ? { items: page, nextPageToken: encodePageToken(`offset\0${scope}`, Buffer.from(String(next))) }
    : { items: page };
}

// ---------------------------------------------------------------------------------------------
// Secrets (api.md "Resource: Secret") and SSH access (api.md "SSH access")

/** A secret's name: what keySecret, credentialsSecret and tokenSecret name (DNS-1123 subdomain). */
export const secretNameSchema = z
  .string()
  .min(1)
  .max(MAX_PARAM_LENGTH)
  .regex(
    /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/,
    'a secret name is a DNS-1123 subdomain: lower case letters, digits, "-" and "."',
  );

export const secretParams = z.object({ workspace: workspaceNameSchema, name: secretNameSchema });

export const awsCredentialsValueSchema = z.strictObject({
  accessKeyId: z.string().max(128),
  secretAccessKey: z.string().max(1024),
  sessionToken: z.string().max(4096).optional(),
});

export const secretBodySchema = z
  .discriminatedUnion('type', [
    z.strictObject({
      type: z.literal('ssh-public-key'),
      value: z
        .string()
        .max(
          MAX_SSH_PUBLIC_KEY_BYTES,
          `value must be at most ${MAX_SSH_PUBLIC_KEY_BYTES} bytes (8 KiB): one OpenSSH public key line`,
        )
        .describe('one OpenSSH public key line (the .pub file)'),
    }),
    z.strictObject({ type: z.literal('aws-credentials'), value: awsCredentialsValueSchema }),
  ])
  .describe('The value is write-only: no response, event or log line ever shows it');

export const secretInfoSchema = z.object({
  name: z.string(),
  type: z.enum(['ssh-public-key', 'aws-credentials']),
  createdAt: z.string(),
  updatedAt: z.string(),
  fingerprint: z
    .string()
    .optional()
    .describe("ssh-public-key: the key's fingerprint as OpenSSH shows it (SHA256:...)"),
});

/** 400 of PUT /secrets/{name}: the body is not a secret of its type. */
export const invalidSecretResponse = errorSchema.describe(
  'invalid_secret (the body is not a valid secret of its type; details names each field and rule, never the value), invalid_request (a path parameter), invalid_json',
);

export const sshAccessSchema = z.object({
  host: z.string(),
  port: z.number().int(),
  users: z.array(z.string()).describe('the users spec.ssh lists'),
  replicas: z
    .array(z.string())
    .describe('ready replicas of the serving revision; add "+<replica>" to the user to pick one'),
  command: z.string().describe('the OpenSSH command that connects (to any ready replica)'),
});
