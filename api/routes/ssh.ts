/** GET /v1/workspaces/{workspace}/deployments/{name}/ssh: how to reach a deployment's replicas over SSH. */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { deploymentId } from '../../workflows/domain/deployment';
import { runtimeTargetOf } from '../../workflows/domain/spec';
import { DomainError, type DeploymentService } from '../deployment-service';
import { deploymentParams, errorResponses, sshAccessSchema } from '../schemas';
import type { ReplicaShells } from '../ssh/replicas';

export interface SshAccessOptions {
  /** Where clients reach the SSH server (api/ssh/server.ts). */
  host: string;
  port: number;
  shells: Pick<ReplicaShells, 'ready'>;
  /** Why every session is refused on this API (api/ssh/start.ts localRuntimeRefusal), if so. */
  refused?: string;
}

export const sshRoutes: FastifyPluginAsyncZod<{
  service: Pick<DeploymentService, 'get'>;
  ssh?: SshAccessOptions;
}> = async (app, { service, ssh }) => {
  app.get('/v1/workspaces/:workspace/deployments/:name/ssh', {
    schema: {
      tags: ['deployments'],
      summary:
        "SSH access: the server, the users, the serving revision's ready replicas and the command",
      params: deploymentParams,
      response: {
        200: sshAccessSchema,
        ...errorResponses(400, 401, 403, 404, 409, 414, 503),
      },
    },
    handler: async (request) => {
      const { workspace, name } = request.params;
      const view = await service.get(workspace, name);
      if (!view.spec.ssh?.enabled)
        throw new DomainError(
          'not_found',
          `deployment "${name}" has no SSH access: set spec.ssh (enabled, runtime, users with their keySecret)`,
        );
      if (runtimeTargetOf(view.spec).type !== 'dedicated')
        throw new DomainError(
          'conflict',
          `deployment "${name}" runs on a BYOC cluster: SSH through the control plane reaches dedicated deployments only`,
        );
      if (!ssh)
        throw new DomainError(
          'unavailable',
          'the SSH server is not running in this API process (SSH_PORT=off, or its port was taken: see the API log)',
        );
      // Logins would succeed and every session be refused: say so here, not after a connect.
      if (ssh.refused) throw new DomainError('unavailable', ssh.refused);
      const { replicas } = await ssh.shells.ready(deploymentId(workspace, name)).catch(() => {
        throw new DomainError('unavailable', `cannot list the replicas of "${name}" now; retry`);
      });
      const users = view.spec.ssh.users.map((u) => u.username);
      const port = ssh.port === 22 ? '' : `-p ${ssh.port} `;
      return {
        host: ssh.host,
        port: ssh.port,
        users,
        replicas,
        command: `ssh ${port}${users[0]}+${workspace}+${name}@${ssh.host}`,
      };
    },
  });
};
