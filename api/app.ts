/**
 * The HTTP application: routes per resource, zod schemas for bodies, params and responses,
 * the OpenAPI document and docs page generated from them, one error shape, API keys per workspace
 * (checked per route: see auth.ts).
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
import { authenticate, type ApiKeys } from './auth';
import type { DeploymentService } from './deployment-service';
import { clientErrorHandler, errorBody, errorHandler, MAX_PARAM_LENGTH } from './errors';
import { Gateway, type GatewayMetrics } from './gateway';
import type { ReplicaEndpointsSource } from './replica-endpoints';
import type { TrafficMeter } from './metrics/traffic-meter';
import { simulationRoutes } from './routes/simulations';
import { catalogRoutes } from './routes/catalog';
import { clusterRoutes } from './routes/clusters';
import { consoleRoutes, type ConsoleOptions } from './routes/console';
import { deploymentRoutes } from './routes/deployments';
import { endpointRoutes } from './routes/endpoints';
import { secretRoutes } from './routes/secrets';
import { sshRoutes, type SshAccessOptions } from './routes/ssh';
import { MemorySecretStore, type SecretStore } from './secrets/store';

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
  /** The gateway's metrics (api/metrics/prometheus.ts); none when absent. */
  metrics?: GatewayMetrics;
  /** Secrets of each workspace (api/secrets): none given, an in-memory store. */
  secrets?: SecretStore;
  /** The SSH server (api/ssh): none given, GET .../ssh answers 503. */
  ssh?: SshAccessOptions;
  /** The web console at / (api/routes/console.ts): where its build is, the Temporal UI it links to. */
  console?: ConsoleOptions;
}

export const OPENAPI_PATH = '/openapi.json';
export const DOCS_PATH = '/docs';

/** Routes declare their schemas in zod (the domain schema): validate and serialize with them. */
export function useZodSchemas(app: FastifyInstance): void {
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
}

export async function buildApp(options: AppOptions): Promise<FastifyInstance> {
  const app = Fastify({
    logger: options.logger ?? false,
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    // Errors raised before a route runs (bad %-encoding, an over-long path parameter) and requests
    // the HTTP parser refuses answer in the one error shape too.
    frameworkErrors: (error, request, reply) => errorHandler(error, request, reply),
    clientErrorHandler,
  });
  useZodSchemas(app);
  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler((request, reply) =>
    reply
      .status(404)
      .send(errorBody('not_found', `no route ${request.method} ${request.url.split('?')[0]}`)),
  );

  // A merge patch is JSON: parse it with fastify's own JSON parser (same limits, same errors,
  // same protection against prototype poisoning).
  app.addContentTypeParser(
    'application/merge-patch+json',
    { parseAs: 'string' },
    app.getDefaultJsonParser('error', 'error'),
  );

  // Every route needs a key unless it declares `config: { auth: 'public' }` (see auth.ts).
  app.addHook('onRequest', authenticate(options.apiKeys));

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
  // The docs page and its assets are public: every route the UI plugin adds says so.
  await app.register(async (docs) => {
    docs.addHook('onRoute', (route) => {
      route.config = { ...route.config, auth: 'public' };
    });
    await docs.register(fastifySwaggerUi, { routePrefix: DOCS_PATH });
  });

  const publicRoute = { auth: 'public' } as const;
  app.get('/healthz', { schema: { hide: true }, config: publicRoute }, async () => ({
    status: 'ok',
  }));
  app.get(OPENAPI_PATH, { schema: { hide: true }, config: publicRoute }, async () => app.swagger());

  const gateway = new Gateway({
    replicas: options.replicas,
    deployments: options.service,
    meter: options.meter,
    wake: options.wake,
    ...(options.metrics ? { metrics: options.metrics } : {}),
  });
  await app.register(deploymentRoutes, { service: options.service, publicUrl: options.publicUrl });
  await app.register(catalogRoutes, { catalog: options.catalog, service: options.service });
  await app.register(simulationRoutes, { catalog: options.catalog, service: options.service });
  await app.register(clusterRoutes, {
    ...(options.clusters ? { clusters: options.clusters } : {}),
    service: options.service,
  });
  await app.register(endpointRoutes, { gateway });
  await app.register(consoleRoutes, options.console ?? {});
  // Secrets and SSH access (api/secrets, api/ssh).
  const secrets = options.secrets ?? new MemorySecretStore();
  await app.register(secretRoutes, {
    secrets,
    service: options.service,
    clusters: options.clusters,
  });
  await app.register(sshRoutes, {
    service: options.service,
    ...(options.ssh ? { ssh: options.ssh } : {}),
  });
  return app;
}
