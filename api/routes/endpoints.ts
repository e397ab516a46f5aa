/** /v1/endpoints/{workspace}/{name}/...: inference traffic, proxied by the gateway. */
import replyFrom from '@fastify/reply-from';
import type { FastifyPluginAsync } from 'fastify';
import { z } from 'zod';
import type { Gateway } from '../gateway';
import { errorResponses, errorSchema } from '../schemas';

/**
 * The methods proxied to replicas: those an inference server (OpenAI-compatible, vLLM) answers.
 * TRACE is not passed through a proxy that adds credentials, and the rest are not HTTP APIs'.
 */
const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'];

export const endpointRoutes: FastifyPluginAsync<{ gateway: Gateway }> = async (
  app,
  { gateway },
) => {
  // The proxy (reply.from), its connection pools closed with the app.
  await app.register(replyFrom, gateway.replyFromOptions());

  // Bodies pass through untouched, whatever their type (JSON, audio, multipart...): read into a
  // buffer, so that a request a replica never received can be sent again to another one.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser(
    '*',
    { parseAs: 'buffer', bodyLimit: 64 * 1024 * 1024 },
    (_request, body, done) => done(null, body),
  );

  app.route<{ Params: { workspace: string; name: string; '*': string } }>({
    method: METHODS,
    url: '/v1/endpoints/:workspace/:name/*',
    schema: {
      tags: ['inference'],
      summary: 'Inference traffic to the deployment (e.g. /v1/completions)',
      hide: false,
      response: {
        ...errorResponses(400, 401, 403, 404, 413, 414, 503),
        502: errorSchema.describe('bad_gateway: the replica did not answer'),
        // Whatever the replica answers, passed through: any status, type and body.
        default: {
          description: "the replica's own answer (any status, headers and body it sends)",
          content: { '*/*': { schema: z.unknown() } },
        },
      },
    },
    // Not async: the answer is sent by the proxy (or the error handler), and returning the
    // reply as a promise would cost fastify a wait on the response's end per request.
    handler: (request, reply) => {
      gateway
        .proxy(
          request,
          reply,
          request.params.workspace,
          request.params.name,
          encodedRemainder(request.url),
        )
        .catch((err: unknown) => reply.send(err));
    },
  });
};

/**
 * The path after /v1/endpoints/{workspace}/{name}/ exactly as the client encoded it. The router's
 * `*` parameter is %-decoded: passed on, an encoded "?", "#", "/" or backslash would change
 * which path the replica is asked for (or make a URL it cannot parse).
 */
export function encodedRemainder(url: string): string {
  const path = url.replace(/^[a-z][a-z0-9+.-]*:\/\/[^/?#]*/i, '').split(/[?#]/)[0] ?? '';
  return path.split('/').slice(5).join('/');
}
