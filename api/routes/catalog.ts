/** Catalogs and quotas. */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { Catalog } from '../../workflows/domain/catalog';
import type { DeploymentService } from '../deployment-service';
import {
  acceleratorSchema,
  errorSchema,
  listOf,
  modelSchema,
  pageQuery,
  paginate,
  quotaSchema,
  workspaceParams,
} from '../schemas';

export const catalogRoutes: FastifyPluginAsyncZod<{
  catalog: Catalog;
  service: DeploymentService;
}> = async (app, { catalog, service }) => {
  app.get('/v1/models', {
    schema: {
      tags: ['catalog'],
      summary: 'Models that can be deployed',
      querystring: pageQuery,
      response: { 200: listOf(modelSchema), 401: errorSchema },
    },
    handler: async (request) =>
      paginate(catalog.models, request.query.pageSize, request.query.pageToken),
  });
  app.get('/v1/accelerators', {
    schema: {
      tags: ['catalog'],
      summary: 'Accelerator types and their memory',
      querystring: pageQuery,
      response: { 200: listOf(acceleratorSchema), 401: errorSchema },
    },
    handler: async (request) =>
      paginate(catalog.accelerators, request.query.pageSize, request.query.pageToken),
  });
  app.get('/v1/workspaces/:workspace/quotas', {
    schema: {
      tags: ['quotas'],
      summary: 'Per accelerator type: limit, reserved, available GPUs',
      params: workspaceParams,
      querystring: pageQuery,
      response: { 200: listOf(quotaSchema), 401: errorSchema, 403: errorSchema },
    },
    handler: async (request) =>
      paginate(
        await service.quotas(request.params.workspace),
        request.query.pageSize,
        request.query.pageToken,
      ),
  });
};
