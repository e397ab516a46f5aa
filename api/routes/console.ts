/**
 * The web console (console/, built by scripts/build-console.mjs into dist/console): its page at
 * `/` and its assets under `/console/`, public like the docs page. The page holds no data: it
 * signs in with an API key and calls the authenticated /v1 routes like any other client.
 */
import fs from 'node:fs';
import path from 'node:path';
import fastifyStatic from '@fastify/static';
import type { FastifyPluginAsync } from 'fastify';

export interface ConsoleOptions {
  /** The built console (default: dist/console next to this file's build, or from the source tree). */
  root?: string;
  /** Where the console links workflows to (the Temporal UI), and its namespace. */
  temporalUiUrl?: string;
  temporalNamespace?: string;
}

/** dist/console, whether this file runs compiled (dist/api/routes) or from source (api/routes). */
export function findConsoleDir(): string | undefined {
  const candidates = [
    path.resolve(__dirname, '..', '..', 'console'), // dist/api/routes -> dist/console
    path.resolve(__dirname, '..', '..', 'dist', 'console'), // api/routes -> dist/console
  ];
  // The source tree's console/ has an index.html too, but no bundle.
  return candidates.find((dir) => fs.existsSync(path.join(dir, 'console.js')));
}

/** The page may load only its own scripts and styles, talk only to this origin, not be framed. */
const PAGE_HEADERS = {
  'content-security-policy':
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-cache',
};

export const consoleRoutes: FastifyPluginAsync<ConsoleOptions> = async (app, options) => {
  // Every route of this plugin (the static plugin's included) is public.
  app.addHook('onRoute', (route) => {
    route.config = { ...route.config, auth: 'public' };
  });
  const config = {
    temporalUiUrl:
      options.temporalUiUrl ??
      process.env.TEMPORAL_UI_URL ??
      `http://127.0.0.1:${process.env.TEMPORAL_UI_PORT ?? 8233}`,
    temporalNamespace: options.temporalNamespace ?? process.env.TEMPORAL_NAMESPACE ?? 'default',
  };
  const hidden = { schema: { hide: true } };
  app.get('/console/config.json', hidden, async (_request, reply) =>
    reply.header('cache-control', 'no-cache').send(config),
  );

  const root = options.root ?? findConsoleDir();
  if (!root) {
    app.get('/', hidden, async (_request, reply) =>
      reply
        .status(503)
        .type('text/plain; charset=utf-8')
        .send('The console is not built: run `npm run build` (it builds dist/console).\n'),
    );
    return;
  }
  await app.register(fastifyStatic, {
    root,
    prefix: '/console/',
    index: false,
    // Fixed file names: revalidate every time (ETag / Last-Modified answer 304 when unchanged).
    maxAge: 0,
    preCompressed: true,
    setHeaders: (reply) => {
      reply.header('cache-control', 'no-cache');
      reply.header('x-content-type-options', 'nosniff');
    },
  });
  app.get('/', hidden, async (_request, reply) =>
    reply.headers(PAGE_HEADERS).sendFile('index.html', root, { maxAge: 0, cacheControl: false }),
  );
};
