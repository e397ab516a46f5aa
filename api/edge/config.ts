/**
 * The edge gateway's configuration (api/edge/main.ts), from its environment: what a customer's
 * cluster gives the Deployment in deploy/byoc-edge. A bad value fails at start, naming the
 * variable (never its value: EDGE_TOKEN is a secret).
 */
import fs from 'node:fs';
import { z } from 'zod';
import { EDGE_TOKEN_MIN_LENGTH } from '../../activities/providers/byoc';
import { describeViolations, violationsOf } from '../../workflows/domain/spec';

const edgeEnvSchema = z
  .object({
    /** The token the control plane presents (its registry's `gateway.tokenSecret` holds the same). */
    EDGE_TOKEN: z
      .string({ error: 'is required: the token the control plane presents (from a Secret)' })
      // A token file written with a trailing newline must not make it another token.
      .trim()
      .min(EDGE_TOKEN_MIN_LENGTH, `must be at least ${EDGE_TOKEN_MIN_LENGTH} characters`),
    /** Where it listens: 0.0.0.0 in a pod (the manifest sets it); loopback by default. */
    EDGE_HOST: z.string().default('127.0.0.1'),
    EDGE_PORT: z.coerce.number().int().min(0).max(65535).default(8443),
    /** TLS (PEM files, e.g. a mounted kubernetes.io/tls Secret): https when both are set. */
    EDGE_TLS_CERT: z.string().min(1).optional(),
    EDGE_TLS_KEY: z.string().min(1).optional(),
    /** Default: in-cluster credentials (the pod's ServiceAccount token). */
    KUBECONFIG: z.string().min(1).optional(),
    /** The namespace whose replicas it serves (the registry's `namespace` for the cluster). */
    KUBE_NAMESPACE: z.string().min(1).default('model-deployments'),
    /** How long a deployment's ready pods are reused before the API server is asked again. */
    EDGE_ENDPOINTS_TTL_MS: z.coerce.number().int().min(0).default(1000),
  })
  .refine((env) => (env.EDGE_TLS_CERT === undefined) === (env.EDGE_TLS_KEY === undefined), {
    message: 'EDGE_TLS_CERT and EDGE_TLS_KEY go together: set both (https) or neither (http)',
    path: ['EDGE_TLS_CERT'],
  });

export type EdgeEnv = z.output<typeof edgeEnvSchema>;

export interface EdgeConfig extends EdgeEnv {
  /** The certificate and key, read at start, when TLS is on. */
  tls?: { cert: Buffer; key: Buffer };
}

export function loadEdgeConfig(env: NodeJS.ProcessEnv = process.env): EdgeConfig {
  const parsed = edgeEnvSchema.safeParse(env);
  if (!parsed.success)
    throw new Error(
      `invalid edge gateway configuration: ${describeViolations(violationsOf(parsed.error))}`,
    );
  const values = parsed.data;
  const read = (variable: 'EDGE_TLS_CERT' | 'EDGE_TLS_KEY', file: string) => {
    try {
      return fs.readFileSync(file);
    } catch (err) {
      throw new Error(`${variable}=${file}: cannot read it: ${(err as Error).message}`);
    }
  };
  return {
    ...values,
    ...(values.EDGE_TLS_CERT && values.EDGE_TLS_KEY
      ? {
          tls: {
            cert: read('EDGE_TLS_CERT', values.EDGE_TLS_CERT),
            key: read('EDGE_TLS_KEY', values.EDGE_TLS_KEY),
          },
        }
      : {}),
  };
}
