/**
 * /v1/workspaces/{workspace}/secrets (api.md "Resource: Secret"): create or replace, list,
 * delete. A value is write-only: it is checked by type, stored, and never answered, logged or
 * passed to a workflow. A secret a deployment (spec.ssh.users[].keySecret) or a linked cluster
 * (credentialsSecret, gateway.tokenSecret) names cannot be deleted (409). A workspace holds at
 * most MAX_SECRETS_PER_WORKSPACE secrets: a create beyond it answers 409 quota_exceeded.
 */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { EksClusters } from '../../activities/providers/byoc';
import { DomainError, type DeploymentService } from '../deployment-service';
import { describeDetails, HttpError, validationDetails } from '../errors';
import {
  errorResponses,
  invalidSecretResponse,
  listOf,
  pageQuery,
  paginate,
  secretBodySchema,
  secretInfoSchema,
  secretParams,
  workspaceParams,
} from '../schemas';
import { MAX_SECRETS_PER_WORKSPACE, SecretLimitError, type SecretStore } from '../secrets/store';
import { checkSecret } from '../secrets/validate';

export interface SecretRoutesOptions {
  secrets: SecretStore;
  service: Pick<DeploymentService, 'list'>;
  clusters?: Pick<EksClusters, 'linked'>;
}

/** Who names the secret: `deployment "x" (spec.ssh.users[0].keySecret)`, `cluster "y" (...)`. */
export async function usersOfSecret(
  options: Omit<SecretRoutesOptions, 'secrets'>,
  workspace: string,
  name: string,
): Promise<string[]> {
  const users: string[] = [];
  for (const cluster of options.clusters?.linked(workspace) ?? []) {
    if (cluster.credentialsSecret === name)
      users.push(`cluster "${cluster.name}" (credentialsSecret)`);
    if (cluster.gateway?.tokenSecret === name)
      users.push(`cluster "${cluster.name}" (gateway.tokenSecret)`);
  }
  let pageToken: string | undefined;
  do {
    const page = await options.service.list(workspace, { pageSize: 100, pageToken });
    for (const view of page.items) {
      view.spec.ssh?.users.forEach((u, i) => {
        if (u.keySecret === name)
          users.push(`deployment "${view.name}" (spec.ssh.users[${i}].keySecret)`);
      });
    }
    pageToken = page.nextPageToken;
  } while (pageToken);
  return users;
}

export const secretRoutes: FastifyPluginAsyncZod<SecretRoutesOptions> = async (app, options) => {
  const { secrets } = options;
  const tags = ['secrets'];
  app.removeContentTypeParser('text/plain');

  app.put('/v1/workspaces/:workspace/secrets/:name', {
    schema: {
      tags,
      summary: `Create or replace a secret (its value is write-only); at most ${MAX_SECRETS_PER_WORKSPACE} per workspace`,
      params: secretParams,
      body: secretBodySchema,
      response: {
        200: secretInfoSchema.describe('replaced'),
        201: secretInfoSchema.describe('created'),
        ...errorResponses(401, 403, 409, 413, 414, 415),
        400: invalidSecretResponse,
      },
    },
    // A body of the wrong shape answers invalid_secret, not invalid_spec (see the handler).
    attachValidation: true,
    handler: async (request, reply) => {
      const invalid = request.validationError;
      if (invalid) {
        // The framework's own checks of the path come first; only the body is a secret's.
        if (invalid.validationContext !== 'body') throw invalid;
        // zod's message for fields it does not know names them: the names a client sent are not
        // echoed (a misplaced value could be one), only where they are.
        const details = validationDetails(
          (invalid.validation ?? []) as {
            keyword?: string;
            instancePath: string;
            message?: string;
          }[],
          '',
          (v) => (v.keyword === 'unrecognized_keys' ? 'unknown field' : v.message),
        );
        throw new HttpError(
          400,
          'invalid_secret',
          `invalid secret: ${describeDetails(details)}`,
          {},
          details,
        );
      }
      const checked = checkSecret(request.body);
      if (!checked.ok) {
        throw new HttpError(
          400,
          'invalid_secret',
          `invalid secret: ${checked.violations.map((v) => v.message).join('; ')}`,
          {},
          checked.violations,
        );
      }
      const { workspace, name } = request.params;
      const { created, info } = await secrets
        .put(workspace, name, checked.secret)
        .catch((err: unknown) => {
          if (err instanceof SecretLimitError) throw new DomainError('quota_exceeded', err.message);
          throw err;
        });
      return reply
        .status(created ? 201 : 200)
        .header('location', `/v1/workspaces/${workspace}/secrets/${name}`)
        .send(info);
    },
  });

  app.get('/v1/workspaces/:workspace/secrets', {
    schema: {
      tags,
      summary: 'List secrets: name, type, createdAt, SSH key fingerprint; never the value',
      params: workspaceParams,
      querystring: pageQuery,
      response: { 200: listOf(secretInfoSchema), ...errorResponses(400, 401, 403, 414) },
    },
    handler: async (request) =>
      paginate(
        await secrets.list(request.params.workspace),
        request.query.pageSize,
        request.query.pageToken,
        `secrets\0${request.params.workspace}`,
      ),
  });

  app.get('/v1/workspaces/:workspace/secrets/:name', {
    schema: {
      tags,
      summary: 'One secret: name, type, createdAt, SSH key fingerprint; never the value',
      params: secretParams,
      response: { 200: secretInfoSchema, ...errorResponses(400, 401, 403, 404, 414) },
    },
    handler: async (request) => {
      const { workspace, name } = request.params;
      const found = (await secrets.list(workspace)).find((s) => s.name === name);
      if (!found)
        throw new DomainError('not_found', `no secret "${name}" in workspace "${workspace}"`);
      return found;
    },
  });

  app.delete('/v1/workspaces/:workspace/secrets/:name', {
    schema: {
      tags,
      summary: 'Delete a secret; 409 while a deployment or cluster names it',
      params: secretParams,
      response: {
        204: z.null().describe('deleted'),
        ...errorResponses(400, 401, 403, 404, 409, 414, 503),
      },
    },
    handler: async (request, reply) => {
      const { workspace, name } = request.params;
      if (!(await secrets.get(workspace, name)))
        throw new DomainError('not_found', `no secret "${name}" in workspace "${workspace}"`);
      const users = await usersOfSecret(options, workspace, name);
      if (users.length > 0) {
        throw new DomainError(
          'conflict',
          `secret "${name}" is in use by ${users.join(', ')}: change those first, then delete it`,
        );
      }
      await secrets.delete(workspace, name);
      return reply.status(204).send(null);
    },
  });
};
