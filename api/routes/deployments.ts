/** /v1/workspaces/{workspace}/deployments: create, read, list, edit, pause, resume, clone, delete, events. */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { DeploymentView } from '../../workflows/domain/deployment';
import type { DeploymentService } from '../deployment-service';
import {
  cloneBodySchema,
  createBodySchema,
  deploymentParams,
  deploymentResourceSchema,
  errorSchema,
  eventSchema,
  listOf,
  listQuery,
  pageQuery,
  paginate,
  patchBodySchema,
  workspaceParams,
  type DeploymentResource,
} from '../schemas';

export interface DeploymentRoutesOptions {
  service: DeploymentService;
  /** Base URL of this API, for deployment URLs and Location headers. */
  publicUrl: string;
}

const errors = {
  400: errorSchema,
  401: errorSchema,
  403: errorSchema,
  404: errorSchema,
  409: errorSchema,
};

export const deploymentRoutes: FastifyPluginAsyncZod<DeploymentRoutesOptions> = async (
  app,
  { service, publicUrl },
) => {
  const resource = (view: DeploymentView): DeploymentResource => ({
    ...view,
    url: `${publicUrl}/v1/endpoints/${view.workspace}/${view.name}`,
  });
  const location = (view: DeploymentView) =>
    `/v1/workspaces/${view.workspace}/deployments/${view.name}`;
  const tags = ['deployments'];
  // Bodies here are JSON (or a JSON merge patch): anything else is 415, not a string to validate.
  app.removeContentTypeParser('text/plain');

  app.post('/v1/workspaces/:workspace/deployments', {
    schema: {
      tags,
      summary: 'Create a deployment (starts its workflow)',
      params: workspaceParams,
      body: createBodySchema,
      response: { 202: deploymentResourceSchema, ...errors },
    },
    handler: async (request, reply) => {
      const view = await service.create(request.params.workspace, request.body);
      return reply.status(202).header('location', location(view)).send(resource(view));
    },
  });

  app.get('/v1/workspaces/:workspace/deployments', {
    schema: {
      tags,
      summary: 'List deployments, filtered by tags, health and state',
      params: workspaceParams,
      querystring: listQuery,
      response: { 200: listOf(deploymentResourceSchema), ...errors },
    },
    handler: async (request) => {
      const { tag, health, state, pageSize, pageToken } = request.query;
      const tagFilters = (tag === undefined ? [] : Array.isArray(tag) ? tag : [tag]).map((t) => {
        const at = t.indexOf(':');
        return at < 1 ? { key: t, value: '' } : { key: t.slice(0, at), value: t.slice(at + 1) };
      });
      const page = await service.list(request.params.workspace, {
        tags: tagFilters,
        health,
        state,
        pageSize,
        pageToken,
      });
      return { ...page, items: page.items.map(resource) };
    },
  });

  app.get('/v1/workspaces/:workspace/deployments/:name', {
    schema: {
      tags,
      summary: 'Get one deployment',
      params: deploymentParams,
      response: { 200: deploymentResourceSchema, ...errors },
    },
    handler: async (request) =>
      resource(await service.get(request.params.workspace, request.params.name)),
  });

  app.patch('/v1/workspaces/:workspace/deployments/:name', {
    schema: {
      tags,
      summary: 'Edit (JSON merge patch of spec); a change to what runs starts a rolling update',
      params: deploymentParams,
      body: patchBodySchema,
      response: { 202: deploymentResourceSchema, ...errors },
    },
    handler: async (request, reply) =>
      reply
        .status(202)
        .send(
          resource(await service.edit(request.params.workspace, request.params.name, request.body)),
        ),
  });

  for (const action of ['pause', 'resume'] as const) {
    app.post(`/v1/workspaces/:workspace/deployments/:name/${action}`, {
      schema: {
        tags,
        summary:
          action === 'pause'
            ? 'Halt all replicas, keep the configuration'
            : 'Bring a paused deployment back',
        params: deploymentParams,
        response: { 202: deploymentResourceSchema, ...errors },
      },
      handler: async (request, reply) =>
        reply
          .status(202)
          .send(resource(await service[action](request.params.workspace, request.params.name))),
    });
  }

  app.post('/v1/workspaces/:workspace/deployments/:name/clone', {
    schema: {
      tags,
      summary: "Create a new deployment from this one's spec",
      params: deploymentParams,
      body: cloneBodySchema,
      response: { 202: deploymentResourceSchema, ...errors },
    },
    handler: async (request, reply) => {
      const view = await service.clone(request.params.workspace, request.params.name, request.body);
      return reply.status(202).header('location', location(view)).send(resource(view));
    },
  });

  app.delete('/v1/workspaces/:workspace/deployments/:name', {
    schema: {
      tags,
      summary: 'Remove every replica and release quota',
      params: deploymentParams,
      response: { 202: deploymentResourceSchema, ...errors },
    },
    handler: async (request, reply) =>
      reply
        .status(202)
        .send(resource(await service.delete(request.params.workspace, request.params.name))),
  });

  app.get('/v1/workspaces/:workspace/deployments/:name/events', {
    schema: {
      tags,
      summary: 'Health transitions, scaling, restarts and rollout steps',
      params: deploymentParams,
      querystring: pageQuery,
      response: { 200: listOf(eventSchema), ...errors },
    },
    handler: async (request) => {
      const events = await service.events(request.params.workspace, request.params.name);
      return paginate(events, request.query.pageSize, request.query.pageToken);
    },
  });
};
