/** ANY /v1/endpoints/{workspace}/{name}/...: inference traffic, proxied by the gateway. */
import type { FastifyPluginAsync } from 'fastify';
import type { Gateway } from '../gateway';

export const endpointRoutes: FastifyPluginAsync<{ gateway: Gateway }> = async (
  app,
  { gateway },
) => {
  // Bodies pass through untouched, whatever their type (JSON, audio, multipart...).
  app.removeAllContentTypeParsers();
  app.addContentTypeParser(
    '*',
    { parseAs: 'buffer', bodyLimit: 64 * 1024 * 1024 },
    (_request, body, done) => done(null, body),
  );

  app.all<{ Params: { workspace: string; name: string; '*': string } }>(
    '/v1/endpoints/:workspace/:name/*',
    {
      schema: {
        tags: ['inference'],
        summary: 'Inference traffic to the deployment (e.g. /v1/completions)',
        hide: false,
      },
      handler: (request, reply) =>
        gateway.proxy(
          request,
          reply,
          request.params.workspace,
          request.params.name,
          request.params['*'],
        ),
    },
  );
};
