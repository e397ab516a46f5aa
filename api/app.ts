/**
 * The HTTP application: routes per resource, zod schemas for bodies, params and responses,
 * the OpenAPI document and docs page generated from them, one error shape, API keys per workspace.
 */
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import {
  jsonSchemaTransform,
  serializerCompiler,
  validatorCompiler,
} from 'fastify-type-provider-zod';
import type { EksClusters } from '../activities/providers/byoc';
import type { Catalog } from '../workflows/domain/catalog';
import { workspaceForToken, type ApiKeys } from './auth';
import type { DeploymentService } from './deployment-service';
import { errorBody, errorHandler } from './errors';
import { Gateway } from './gateway';
import type { ReplicaEndpointsSource } from './replica-endpoints';
import type { TrafficMeter } from './metrics/traffic-meter';
import { catalogRoutes } from './routes/catalog';
import { clusterRoutes } from './routes/clusters';
import { deploymentRoutes } from './routes/deployments';
import { endpointRoutes } from './routes/endpoints';

export interface AppOptions {
  service: DeploymentService;
  /** Where each deployment's ready replicas are, for the gateway (see replica-endpoints.ts). */
  replicas: ReplicaEndpointsSource;
  /** Measures gateway traffic for autoscaling (read by the metrics collector). */
  meter: TrafficMeter;
  /** Asks for a deployment's metrics to be reported now (a request waits for it to wake). */
  wake: (deployment: string) => void;
  catalog: Catalog;
  /** BYOC: the linked clusters, listed with their node groups. None: the lists are empty. */
  clusters?: EksClusters;
  apiKeys: ApiKeys;
  publicUrl: string;
  logger?: FastifyServerOptions['logger'];
}

export const OPENAPI_PATH = '/openapi.json';
export const DOCS_PATH = '/docs';

export async function buildApp(options: AppOptions): Promise<FastifyInstance> {
  const app = Fastify({ logger: options.logger ?? false });
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler((request, reply) =>
    reply
      .status(404)
      .send(errorBody('not_found', `no route ${request.method} ${request.url.split('?')[0]}`)),
  );

  // A merge patch is JSON: parse it like JSON.
  app.addContentTypeParser(
    'application/merge-patch+json',
    { parseAs: 'string' },
    (_request, body, done) => {
      try {
        done(null, JSON.parse(body as string));
      } catch (err) {
        done(Object.assign(err as Error, { statusCode: 400 }), undefined);
      }
    },
  );

  app.addHook('onRequest', async (request, reply) => {
    if (!request.url.startsWith('/v1/')) return; // /healthz, the OpenAPI document and docs are open
    const workspace = workspaceForToken(options.apiKeys, request.headers.authorization);
    if (!workspace) {
      return reply
        .status(401)
        .header('www-authenticate', 'Bearer')
        .send(
          errorBody('unauthorized', 'missing or unknown API key: send Authorization: Bearer <key>'),
        );
    }
    const target = /^\/v1\/(?:workspaces|endpoints)\/([^/?]+)/.exec(request.url)?.[1];
    if (target !== undefined && decodeURIComponent(target) !== workspace) {
      return reply
        .status(403)
        .send(
          errorBody(
            'forbidden',
            `this API key belongs to workspace "${workspace}", not "${decodeURIComponent(target)}"`,
          ),
        );
    }
  });

  await app.register(fastifySwagger, {
    openapi: {
      info: {
        title: 'model-deployments API',
        version: '1',
        description: 'Deploy ML models onto GPU capacity and keep them right-sized.',
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
    transform: jsonSchemaTransform,
  });
  await app.register(fastifySwaggerUi, { routePrefix: DOCS_PATH });

  app.get('/healthz', { schema: { hide: true } }, async () => ({ status: 'ok' }));
  app.get(OPENAPI_PATH, { schema: { hide: true } }, async () => app.swagger());

  const gateway = new Gateway({
    replicas: options.replicas,
    deployments: options.service,
    meter: options.meter,
    wake: options.wake,
  });
  await app.register(deploymentRoutes, { service: options.service, publicUrl: options.publicUrl });
  await app.register(catalogRoutes, { catalog: options.catalog, service: options.service });
  await app.register(clusterRoutes, {
    ...(options.clusters ? { clusters: options.clusters } : {}),
    service: options.service,
  });
  await app.register(endpointRoutes, { gateway });
  return app;
}
