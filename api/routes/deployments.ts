/** /v1/workspaces/{workspace}/deployments: create, read, list, edit, pause, resume, clone, delete, events. */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { DeploymentView } from '../../workflows/domain/deployment';
import type { DeploymentService } from '../deployment-service';
import {
  cloneBodySchema,
  createBodySchema,
  deploymentParams,
  deploymentResourceSchema,
  errorResponses,
  eventSchema,
  ifMatchVersion,
  listOf,
  listQuery,
  pageQuery,
  paginate,
  patchBodySchema,
  workspaceParams,
  writeHeaders,
  type DeploymentResource,
} from '../schemas';

export interface DeploymentRoutesOptions {
  service: DeploymentService;
  /** Base URL of this API, for deployment URLs and Location headers. */
  publicUrl: string;
}

/** Every status each operation can answer besides its success (see schemas.ts for what each means). */
const errors = {
  create: errorResponses(400, 401, 403, 409, 413, 414, 415, 503),
  list: errorResponses(400, 401, 403, 414, 503),
  read: errorResponses(400, 401, 403, 404, 414, 503),
  patch: errorResponses(400, 401, 403, 404, 409, 412, 413, 414, 415, 503),
  write: errorResponses(400, 401, 403, 404, 409, 412, 413, 414, 415, 503),
  clone: errorResponses(400, 401, 403, 404, 409, 413, 414, 415, 503),
};

/** The ETag of a deployment: its version, as a strong entity tag. */
const etag = (view: DeploymentView) => `"${view.version}"`;

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
      response: { 202: deploymentResourceSchema, ...errors.create },
    },
    handler: async (request, reply) => {
      const view = await service.create(request.params.workspace, request.body);
      return reply
        .status(202)
        .header('location', location(view))
        .header('etag', etag(view))
        .send(resource(view));
    },
  });

  app.get('/v1/workspaces/:workspace/deployments', {
    schema: {
      tags,
      summary: 'List deployments, filtered by tags, health and state',
      params: workspaceParams,
      querystring: listQuery,
      response: { 200: listOf(deploymentResourceSchema), ...errors.list },
    },
    handler: async (request) => {
      const { tag, health, state, pageSize, pageToken } = request.query;
      // Each is key:value, or a key alone for any value (checked by listQuery).
      const tagFilters = (tag === undefined ? [] : Array.isArray(tag) ? tag : [tag]).map((t) => {
        const at = t.indexOf(':');
        return at < 0 ? { key: t } : { key: t.slice(0, at), value: t.slice(at + 1) };
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
      summary: 'Get one deployment (ETag: its version)',
      params: deploymentParams,
      response: { 200: deploymentResourceSchema, ...errors.read },
    },
    handler: async (request, reply) => {
      const view = await service.get(request.params.workspace, request.params.name);
      return reply.header('etag', etag(view)).send(resource(view));
    },
  });

  app.patch('/v1/workspaces/:workspace/deployments/:name', {
    schema: {
      tags,
      summary:
        'Edit (JSON merge patch of spec, applied to the current spec); a change to what runs starts a rolling update',
      params: deploymentParams,
      headers: writeHeaders,
      body: patchBodySchema,
      response: { 202: deploymentResourceSchema, ...errors.patch },
    },
    handler: async (request, reply) => {
      const ifVersion = ifMatchVersion(request.headers['if-match']);
      const view = await service.edit(
        request.params.workspace,
        request.params.name,
        request.body,
        ifVersion !== undefined ? { ifVersion } : {},
      );
      return reply.status(202).header('etag', etag(view)).send(resource(view));
    },
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
        headers: writeHeaders,
        response: { 202: deploymentResourceSchema, ...errors.write },
      },
      handler: async (request, reply) => {
        const ifVersion = ifMatchVersion(request.headers['if-match']);
        const view = await service[action](
          request.params.workspace,
          request.params.name,
          ifVersion !== undefined ? { ifVersion } : {},
        );
        return reply.status(202).header('etag', etag(view)).send(resource(view));
      },
    });
  }

  app.post('/v1/workspaces/:workspace/deployments/:name/clone', {
    schema: {
      tags,
      summary: "Create a new deployment from this one's spec",
      params: deploymentParams,
      body: cloneBodySchema,
      response: { 202: deploymentResourceSchema, ...errors.clone },
    },
    handler: async (request, reply) => {
      const view = await service.clone(request.params.workspace, request.params.name, request.body);
      return reply
        .status(202)
        .header('location', location(view))
        .header('etag', etag(view))
        .send(resource(view));
    },
  });

  app.delete('/v1/workspaces/:workspace/deployments/:name', {
    schema: {
      tags,
      summary: 'Remove every replica and release quota',
      params: deploymentParams,
      headers: writeHeaders,
      response: { 202: deploymentResourceSchema, ...errors.write },
    },
    handler: async (request, reply) => {
      const ifVersion = ifMatchVersion(request.headers['if-match']);
      const view = await service.delete(
        request.params.workspace,
        request.params.name,
        ifVersion !== undefined ? { ifVersion } : {},
      );
      return reply.status(202).header('etag', etag(view)).send(resource(view));
    },
  });

  app.get('/v1/workspaces/:workspace/deployments/:name/events', {
    schema: {
      tags,
      summary: 'Health transitions, scaling, restarts and rollout steps',
      params: deploymentParams,
      querystring: pageQuery,
      response: { 200: listOf(eventSchema), ...errors.read },
    },
    handler: async (request) => {
      const { workspace, name } = request.params;
      const events = await service.events(workspace, name);
      return paginate(
        events,
        request.query.pageSize,
        request.query.pageToken,
        `events\0${workspace}\0${name}`,
      );
    },
  });
};
