/**
 * The edge gateway: the control plane's way into a BYOC cluster's pod network. The customer runs
 * it inside their cluster (deploy/byoc-edge, from the control plane's image), where pod IPs are
 * reachable; the control plane's gateway sends a BYOC deployment's inference here, and this
 * proxies it to a ready pod of the revision that gets traffic, found as the control plane finds
 * them (the deployment's Service names the revision; its pods, by the provider's labels, their
 * IPs). Its ServiceAccount may only get services and list pods in the namespace.
 *
 * - `ANY /v1/endpoints/{workspace}/{name}/...`: proxied by the same Gateway as the control
 *   plane's (least outstanding requests, keep-alive pools, bodies byte for byte, answers streamed,
 *   a pod that refuses the connection left out and the request sent to another); no ready pod is
 *   a 503 at once (the control plane holds requests while a deployment wakes, not the edge).
 * - Every route but `/healthz` and `/readyz` needs `Authorization: Bearer <EDGE_TOKEN>`, compared
 *   in constant time; anything else is a 401 whose challenge names the realm
 *   `model-deployments-edge`, so the control plane tells it from a model server's own 401. The
 *   token is never passed on to a pod, and never logged.
 * - Pods are found only through the API server, by our labels: a caller cannot name an address,
 *   so the edge reaches nothing but the replicas the control plane runs in its namespace.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import type { onRequestHookHandler } from 'fastify';
import { useZodSchemas } from '../app';
import {
  clientErrorHandler,
  errorBody,
  errorHandler,
  HttpError,
  MAX_PARAM_LENGTH,
} from '../errors';
import { EDGE_REALM, Gateway } from '../gateway';
import { TrafficMeter } from '../metrics/traffic-meter';
import type { ReplicaEndpointsSource } from '../replica-endpoints';
import { endpointRoutes } from '../routes/endpoints';

export interface EdgeAppOptions {
  /** The ready pods of a deployment's serving revision (KubernetesProvider.endpoints in the cluster). */
  replicas: ReplicaEndpointsSource;
  /** What the control plane presents as its bearer token. */
  token: string;
  /** Throws when the edge cannot do its work (the API server not answering, RBAC missing). */
  ready?: () => Promise<void>;
  /** TLS: https with this certificate and key; plain http without. */
  https?: { cert: Buffer; key: Buffer };
  logger?: FastifyServerOptions['logger'];
  /** How long a deployment's ready pods are reused (default 1000 ms). */
  endpointsTtlMs?: number;
}

/** The bearer-token check: constant time over the token (both sides hashed to one length). */
export function edgeTokenCheck(token: string): onRequestHookHandler {
  const expected = createHash('sha256').update(token).digest();
  return async (request) => {
    if (request.routeOptions.config?.auth === 'public') return;
    const presented = /^Bearer\s+(\S+)$/i.exec(request.headers.authorization ?? '')?.[1];
    const digest = createHash('sha256')
      .update(presented ?? '')
      .digest();
    if (presented === undefined || !timingSafeEqual(digest, expected)) {
      throw new HttpError(
        401,
        'unauthorized',
        'missing or wrong edge gateway token: send Authorization: Bearer <the token of EDGE_TOKEN>',
        { 'www-authenticate': `Bearer realm="${EDGE_REALM}"` },
      );
    }
  };
}

export async function buildEdgeApp(options: EdgeAppOptions): Promise<FastifyInstance> {
  const app = Fastify({
    logger: options.logger ?? false,
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    frameworkErrors: (error, request, reply) => errorHandler(error, request, reply),
    clientErrorHandler,
    ...(options.https ? { https: options.https } : {}),
  }) as unknown as FastifyInstance;
  useZodSchemas(app);
  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler((request, reply) =>
    reply
      .status(404)
      .send(errorBody('not_found', `no route ${request.method} ${request.url.split('?')[0]}`)),
  );
  // Every route needs the token unless it says `auth: 'public'`; unknown paths too.
  app.addHook('onRequest', edgeTokenCheck(options.token));

  const publicRoute = { auth: 'public' } as const;
  app.get('/healthz', { config: publicRoute }, async () => ({ status: 'ok' }));
  app.get('/readyz', { config: publicRoute }, async () => {
    try {
      await options.ready?.();
    } catch (err) {
      throw new HttpError(
        503,
        'unavailable',
        `cannot list the namespace's pods: ${(err as Error).message}`,
      );
    }
    return { status: 'ok' };
  });

  const gateway = new Gateway({
    replicas: options.replicas,
    // Nothing is held here and no workflow is woken: the control plane does that.
    meter: new TrafficMeter(),
    wake: () => undefined,
    ...(options.endpointsTtlMs !== undefined ? { endpointsTtlMs: options.endpointsTtlMs } : {}),
  });
  await app.register(endpointRoutes, { gateway });
  return app;
}
