/** Catalogs and quotas. */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { Catalog } from '../../workflows/domain/catalog';
import type { DeploymentService } from '../deployment-service';
import {
  acceleratorSchema,
  errorResponses,
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
      response: { 200: listOf(modelSchema), ...errorResponses(400, 401) },
    },
    handler: async (request) =>
      paginate(catalog.models, request.query.pageSize, request.query.pageToken, 'models'),
  });
  app.get('/v1/accelerators', {
    schema: {
      tags: ['catalog'],
      summary: 'Accelerator types and their memory',
      querystring: pageQuery,
      response: { 200: listOf(acceleratorSchema), ...errorResponses(400, 401) },
    },
    handler: async (request) =>
      paginate(
        catalog.accelerators,
        request.query.pageSize,
        request.query.pageToken,
        'accelerators',
      ),
  });
  app.get('/v1/workspaces/:workspace/quotas', {
    schema: {
      tags: ['quotas'],
      summary: 'Per accelerator type: limit, reserved, available GPUs',
      params: workspaceParams,
      querystring: pageQuery,
      response: { 200: listOf(quotaSchema), ...errorResponses(400, 401, 403, 414, 503) },
    },
    handler: async (request) =>
      paginate(
        await service.quotas(request.params.workspace),
        request.query.pageSize,
        request.query.pageToken,
        `quotas\0${request.params.workspace}`,
      ),
  });
};
