/**
 * HTTP routes of the simulated model server: health, metrics, and the OpenAI API.
 */
import http from 'node:http';
import type { ModelServerConfig } from './config';
import type { SimulatedEngine } from './engine';
import {
  RequestError,
  chatResponse,
  completionResponse,
  errorBody,
  modelsResponse,
  parseChatRequest,
  parseCompletionRequest,
  type GenerationRequest,
} from './openai';

const MAX_BODY_BYTES = 1024 * 1024;

export interface ModelServer {
  server: http.Server;
  /** HTTP requests received and not yet answered (any route). */
  inFlight(): number;
  /**
   * Graceful stop: stop accepting connections (idle keep-alive ones are closed), answer what is in
   * flight (each answer says `connection: close`), and resolve once nothing is left in flight.
   */
  drain(): Promise<void>;
}

export function createModelServer(config: ModelServerConfig, engine: SimulatedEngine): ModelServer {
  const open = new Set<http.ServerResponse>();
  let draining = false;
  let drained: (() => void) | undefined;
  const server = http.createServer((req, res) => {
    open.add(res);
    res.once('close', () => {
      open.delete(res);
      if (draining && open.size === 0) drained?.();
    });
    if (config.replicaId) res.setHeader('x-replica-id', config.replicaId);
    // A draining server answers what it has, then the connection ends.
    if (draining) res.setHeader('connection', 'close');
    handle(config, engine, req, res, () => draining).catch((err: unknown) => {
      if (err instanceof RequestError) {
        sendJson(res, err.status, errorBody(err.message, 'invalid_request_error'));
      } else {
        sendJson(
          res,
          500,
          errorBody(err instanceof Error ? err.message : String(err), 'internal_error'),
        );
      }
    });
  });
  return {
    server,
    inFlight: () => open.size,
    drain() {
      if (!draining) {
        draining = true;
        // Answers still to come end their connection, so no client reuses it for another request.
        for (const res of open) if (!res.headersSent) res.setHeader('connection', 'close');
        server.close();
      }
      return new Promise((resolve) => {
        if (open.size === 0) return resolve();
        const previous = drained;
        drained = () => {
          previous?.();
          resolve();
        };
      });
    },
  };
}

async function handle(
  config: ModelServerConfig,
  engine: SimulatedEngine,
  req: http.IncomingMessage,
  res: http.ServerResponse,
  draining: () => boolean,
): Promise<void> {
  const path = new URL(req.url ?? '/', 'http://localhost').pathname;
  const route = `${req.method} ${path}`;

  if (route === 'GET /health') {
    if (draining()) return sendJson(res, 503, { status: 'draining' });
    const weights = engine.weights();
    if (weights === 'ready') {
      return sendJson(res, 200, {
        status: 'ok',
        readySince: new Date(engine.readySince).toISOString(),
      });
    }
    const status = weights === 'loading' ? 'loading' : 'failed to load weights: simulated';
    return sendJson(res, 503, { status });
  }
  if (route === 'GET /metrics') {
    res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' });
    res.end(engine.metrics.render());
    return;
  }
  if (!path.startsWith('/v1/')) {
    return sendJson(res, 404, errorBody(`no route for ${route}`, 'not_found_error'));
  }

  // Like vLLM, the API answers only once the weights are in GPU memory.
  if (engine.weights() !== 'ready') {
    return sendJson(
      res,
      503,
      errorBody(`model ${config.model} is not loaded yet`, 'service_unavailable'),
    );
  }
  if (route === 'GET /v1/models') return sendJson(res, 200, modelsResponse(config.model));
  if (route === 'POST /v1/completions') {
    const request = parseCompletionRequest(await readJson(req), config.model);
    return generate(engine, request, res, completionResponse(config.model, request));
  }
  if (route === 'POST /v1/chat/completions') {
    const request = parseChatRequest(await readJson(req), config.model);
    return generate(engine, request, res, chatResponse(config.model, request));
  }
  sendJson(res, 404, errorBody(`no route for ${route}`, 'not_found_error'));
}

async function generate(
  engine: SimulatedEngine,
  request: GenerationRequest,
  res: http.ServerResponse,
  response: object,
): Promise<void> {
  await engine.generate(request.promptTokens, request.maxTokens);
  sendJson(res, 200, response);
}

async function readJson(req: http.IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES)
      throw new RequestError(413, `the request body exceeds ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk as Buffer);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new RequestError(400, 'the request body is not valid JSON');
  }
}

function sendJson(res: http.ServerResponse, status: number, body: object): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}
