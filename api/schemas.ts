/**
 * HTTP schemas (zod), built from the domain schema, so request validation, responses and the
 * OpenAPI document all come from one source.
 */
import { z } from 'zod';
import { DEPLOYMENT_STATES, EVENT_TYPES, HEALTH_STATES } from '../workflows/domain/deployment';
import { acceleratorSchema, modelSchema } from '../workflows/domain/catalog';
import {
  createDeploymentSchema,
  deploymentNameSchema,
  deploymentSpecSchema,
  workspaceNameSchema,
} from '../workflows/domain/spec';

export const errorSchema = z
  .object({
    error: z.object({
      code: z
        .string()
        .describe(
          'invalid_spec | unauthorized | forbidden | not_found | conflict | quota_exceeded | unavailable | internal',
        ),
      message: z.string(),
      details: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
    }),
  })
  .describe('The one error shape of every endpoint');

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

const pageSize = (max: number, fallback: number) =>
  z.coerce.number().int().min(1).max(max).default(fallback);
export const pageQuery = z.object({
  pageSize: pageSize(500, 100),
  pageToken: z.string().optional(),
});

export const listQuery = z.object({
  tag: z
    .union([z.string(), z.array(z.string())])
    .optional()
    .describe('key:value, repeatable; every tag must match'),
  health: z.enum(HEALTH_STATES).optional(),
  state: z.enum(DEPLOYMENT_STATES).optional(),
  pageSize: pageSize(100, 20),
  pageToken: z.string().optional(),
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
  cluster: z.string().min(1),
});

export { acceleratorSchema, modelSchema };

/** Offset pagination over an in-memory list (events, catalogs). The token is opaque to clients. */
export function paginate<T>(
  items: T[],
  pageSize: number,
  pageToken?: string,
): { items: T[]; nextPageToken?: string } {
  const offset = pageToken ? Number(Buffer.from(pageToken, 'base64url').toString()) || 0 : 0;
  const page = items.slice(offset, offset + pageSize);
  const next = offset + pageSize;
  return next < items.length
    ? { items: page, nextPageToken: Buffer.from(String(next)).toString('base64url') }
    : { items: page };
}
