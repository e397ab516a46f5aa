/** BYOC clusters linked to a workspace, and their node groups (what cloud.cluster / nodeGroup name). */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { ClusterError, type EksClusters } from '../../activities/providers/byoc';
import { nodeGroupGpuCapacity } from '../../activities/providers/node-group-fit';
import { nodeGroupQuotaKey } from '../../workflows/domain/spec';
import { DomainError, type DeploymentService } from '../deployment-service';
import {
  clusterParams,
  clusterSchema,
  errorResponses,
  listOf,
  nodeGroupSchema,
  pageQuery,
  paginate,
  workspaceParams,
} from '../schemas';

export const clusterRoutes: FastifyPluginAsyncZod<{
  /** None configured: no cluster is linked anywhere. */
  clusters?: EksClusters;
  service: DeploymentService;
}> = async (app, { clusters, service }) => {
  app.get('/v1/workspaces/:workspace/clusters', {
    schema: {
      tags: ['clusters'],
      summary: 'BYOC clusters linked to the workspace (CLUSTERS_FILE)',
      params: workspaceParams,
      querystring: pageQuery,
      response: { 200: listOf(clusterSchema), ...errorResponses(400, 401, 403, 414) },
    },
    handler: async (request) =>
      paginate(
        (clusters?.linked(request.params.workspace) ?? []).map((c) => ({
          name: c.name,
          provider: c.provider,
          region: c.region,
          eksClusterName: c.eksClusterName,
          namespace: c.namespace,
          ...(c.credentialsSecret ? { credentialsSecret: c.credentialsSecret } : {}),
          ...(c.gateway
            ? { gateway: { url: c.gateway.url, tokenSecret: c.gateway.tokenSecret } }
            : {}),
        })),
        request.query.pageSize,
        request.query.pageToken,
        `clusters\0${request.params.workspace}`,
      ),
  });

  app.get('/v1/workspaces/:workspace/clusters/:cluster/node-groups', {
    schema: {
      tags: ['clusters'],
      summary: "A linked cluster's node groups: GPU type, node shape, size, capacity and use",
      params: clusterParams,
      querystring: pageQuery,
      response: { 200: listOf(nodeGroupSchema), ...errorResponses(400, 401, 403, 404, 414, 503) },
    },
    handler: async (request) => {
      const { workspace, cluster } = request.params;
      if (!clusters)
        throw new DomainError(
          'not_found',
          `no cluster "${cluster}" is linked to workspace "${workspace}"`,
        );
      const groups = await clusters.nodeGroups(workspace, cluster).catch((err: unknown) => {
        if (err instanceof ClusterError) throw new DomainError('not_found', err.message);
        throw new DomainError(
          'unavailable',
          `cannot list the node groups of cluster "${cluster}": ${(err as Error).message}`,
        );
      });
      const reserved = await service.reserved(workspace);
      const items = groups.map((g) => ({
        name: g.name,
        instanceType: g.instanceType,
        gpu: g.gpu ?? null,
        vcpus: g.vcpus ?? null,
        memoryMiB: g.memoryMiB ?? null,
        nodes: g.size,
        status: g.status,
        gpuCapacity: nodeGroupGpuCapacity(g, g.size.max),
        gpusReserved: reserved[nodeGroupQuotaKey(cluster, g.name)] ?? 0,
      }));
      return paginate(
        items,
        request.query.pageSize,
        request.query.pageToken,
        `node-groups\0${workspace}\0${cluster}`,
      );
    },
  });
};
