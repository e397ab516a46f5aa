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
 *       "namespace": "model-deployments",         // where revisions run (default)
 *       "gateway": {                              // its edge gateway (deploy/byoc-edge): inference
 *         "url": "https://edge.prod.example.com", //   goes there, never to its pod IPs
 *         "tokenSecret": "edge-prod"              //   SECRETS_DIR/edge-prod.json: {"token": "..."}
 *       }
 *     }
 *   }
 * }
 */
import { z } from 'zod';

const secretName = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$/, 'must be a secret name (letters, digits, . _ -)');

/** Loopback hosts: the only ones an edge gateway may be reached at over plain http (a tunnel). */
const LOOPBACK_HOST = /^(localhost|127(\.\d{1,3}){3}|\[::1\])$/;

/**
 * Where the control plane reaches a cluster's edge gateway: https (the token travels with every
 * request), or http to a loopback address only (`kubectl port-forward`, tests). A path prefix is
 * kept (an edge behind a shared ingress); no query, fragment or credentials.
 */
const edgeUrl = z
  .string()
  .url()
  .superRefine((value, ctx) => {
    const url = new URL(value);
    const problem =
      url.protocol !== 'https:' && !(url.protocol === 'http:' && LOOPBACK_HOST.test(url.hostname))
        ? 'must be https (http only to a loopback address, such as a port-forward)'
        : url.search || url.hash || url.username || url.password
          ? 'must have no query, fragment or credentials'
          : undefined;
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  })
  .transform((value) => value.replace(/\/+$/, ''));

/** A cluster's edge gateway: how inference reaches the pods inside it (deploy/byoc-edge). */
export const edgeGatewaySchema = z.strictObject({
  url: edgeUrl,
  /** A secret holding {"token": "..."}: what the edge gateway was given as EDGE_TOKEN. */
  tokenSecret: secretName,
});

export type EdgeGatewayConfig = z.output<typeof edgeGatewaySchema>;

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
  /**
   * The edge gateway the customer runs in the cluster: the gateway proxies inference to it, and
   * never dials the cluster's pod IPs itself. Without one, inference answers 503 saying so.
   */
  gateway: edgeGatewaySchema.optional(),
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
