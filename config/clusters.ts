/**
 * The BYOC cluster registry: the customer clusters each workspace has linked, read from
 * CLUSTERS_FILE. A deployment names a cluster (`cloud.cluster`); everything needed to reach it
 * is here, with credentials referenced by the name of a secret, never inline.
 *
 * {
 *   "default": {                                  // workspace ("*": every workspace)
 *     "prod-eks": {                               // the name deployments use in cloud.cluster
 *       "provider": "eks",
 *       "region": "us-east-1",
 *       "eksClusterName": "prod",                 // default: the registry name
 *       "credentialsSecret": "aws-prod",          // default: the AWS default credential chain
 *       "namespace": "model-deployments"          // where revisions run (default)
 *     }
 *   }
 * }
 */
import { z } from 'zod';

const secretName = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$/, 'must be a secret name (letters, digits, . _ -)');

export const eksClusterSchema = z.strictObject({
  provider: z.literal('eks'),
  region: z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d+$/, 'must be an AWS region such as us-east-1'),
  /** The cluster's name in EKS, when it differs from the name deployments use. */
  eksClusterName: z.string().min(1).optional(),
  /** A secret holding {"accessKeyId", "secretAccessKey", "sessionToken"?}; see SECRETS_DIR. */
  credentialsSecret: secretName.optional(),
  namespace: z
    .string()
    .regex(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/, 'must be a Kubernetes namespace name')
    .default('model-deployments'),
  /** Another AWS endpoint for EKS, EC2 and STS (VPC endpoints; moto in tests). */
  awsEndpoint: z.string().url().optional(),
  /**
   * Reach the Kubernetes API some other way than the endpoint EKS reports (a private endpoint
   * through a proxy or tunnel). The EKS token is still what authenticates.
   */
  kubernetes: z
    .strictObject({
      server: z.string().url(),
      caFile: z.string().min(1).optional(),
      insecureSkipTlsVerify: z.boolean().default(false),
    })
    .optional(),
  /** The model-server image on this cluster (default: MODEL_SERVER_IMAGE). */
  image: z.string().min(1).optional(),
});

export type EksClusterConfig = z.output<typeof eksClusterSchema>;

export const clustersSchema = z.record(
  z.string().min(1),
  z.record(
    z.string().regex(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/, 'cluster names are DNS labels'),
    eksClusterSchema,
  ),
);

export type ClusterRegistry = z.output<typeof clustersSchema>;

export interface RegisteredCluster extends EksClusterConfig {
  name: string;
  eksClusterName: string;
}

/** The workspace's own entry first, then the "*" entry shared by every workspace. */
export function findCluster(
  registry: ClusterRegistry,
  workspace: string,
  name: string,
): RegisteredCluster | undefined {
  const found = registry[workspace]?.[name] ?? registry['*']?.[name];
  return found ? { ...found, name, eksClusterName: found.eksClusterName ?? name } : undefined;
}

export function clustersOf(registry: ClusterRegistry, workspace: string): RegisteredCluster[] {
  const names = new Set([
    ...Object.keys(registry[workspace] ?? {}),
    ...Object.keys(registry['*'] ?? {}),
  ]);
  return [...names]
    .sort()
    .map((name) => findCluster(registry, workspace, name))
    .filter((c): c is RegisteredCluster => c !== undefined);
}
