/**
 * The agent's HTTP API: replica sets and routes, JSON in and out.
 *
 * Path parameters are URL-encoded by clients (deployment ids contain a slash), so the path
 * is split on '/' first and each segment decoded after.
 */
import http from 'node:http';
import type { ChangeList, ErrorBody, LeaseAnswer, ReplicaSetList } from './api';
import { Leases } from './changes';
import { BadRequestError, ConflictError, NotFoundError } from './errors';
import { log } from './log';
import { parseLeaseRequest, parseReplicaSetSpec, parseRouteSpec, validateName } from './requests';
import type { Supervisor } from './supervisor';

const MAX_BODY_BYTES = 1024 * 1024;
/** The longest a GET /v1/changes waits for a change before answering "nothing new". */
const MAX_CHANGES_WAIT_MS = 30_000;

interface Reply {
  status: number;
  body?: object;
}

export function createAgentServer(supervisor: Supervisor, leases = new Leases()): http.Server {
  return http.createServer((req, res) => {
    route(supervisor, leases, req)
      .catch((err: unknown): Reply => {
        const status = statusOf(err);
        if (status === 500)
          log(`${req.method} ${req.url} failed: ${(err as Error)?.stack ?? String(err)}`);
        return { status, body: errorBody(err) };
      })
      .then(({ status, body }) => {
        if (body === undefined) {
          res.writeHead(status).end();
        } else {
          res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
        }
      });
  });
}

async function route(
  supervisor: Supervisor,
  leases: Leases,
  req: http.IncomingMessage,
): Promise<Reply> {
  const url = new URL(req.url ?? '/', 'http://agent');
  const segments = url.pathname.split('/').slice(1).map(decodeSegment);
  const method = req.method ?? 'GET';
  const [version, collection, param, sub, ...rest] = segments;

  if (url.pathname === '/healthz' && method === 'GET')
    return { status: 200, body: { status: 'ok' } };

  if (version === 'v1' && collection === 'replicasets' && sub === undefined) {
    if (param === undefined || param === '') {
      if (method !== 'GET') return methodNotAllowed(method, url.pathname);
      const deploymentId = url.searchParams.get('deploymentId') ?? undefined;
      const list: ReplicaSetList = { items: supervisor.list(deploymentId) };
      return { status: 200, body: list };
    }
    const name = validateName(param);
    switch (method) {
      case 'PUT': {
        const { status, created } = await supervisor.apply(
          name,
          parseReplicaSetSpec(await readJson(req)),
        );
        return { status: created ? 201 : 200, body: status };
      }
      case 'GET': {
        const status = supervisor.get(name);
        if (!status) throw new NotFoundError(`replica set ${name} does not exist`);
        return { status: 200, body: status };
      }
      case 'DELETE': {
        // Its replicas drain in the background: 202 with the set while they do, 204 once gone.
        const draining = supervisor.remove(name);
        return draining ? { status: 202, body: draining } : { status: 204 };
      }
      default:
        return methodNotAllowed(method, url.pathname);
    }
  }

  // The change stream: every set at first (and on a resync), then what changed since the cursor.
  if (version === 'v1' && collection === 'changes' && param === undefined && method === 'GET') {
    const waitMs = Math.min(
      MAX_CHANGES_WAIT_MS,
      Math.max(0, Number(url.searchParams.get('waitMs') ?? 0) || 0),
    );
    const since = await supervisor.changes.since(
      url.searchParams.get('since') ?? undefined,
      waitMs,
      () => supervisor.list().map((s) => s.name),
    );
    const body: ChangeList = {
      cursor: since.cursor,
      resync: since.resync,
      items: since.names.flatMap((name) => supervisor.get(name) ?? []),
      gone: since.gone,
    };
    return { status: 200, body };
  }

  // Leases: the one active observer of this runtime holds "observer".
  if (version === 'v1' && collection === 'leases' && param && sub === undefined) {
    const name = validateName(param);
    if (method === 'PUT') {
      const { holder, durationMs, checkpoint } = parseLeaseRequest(await readJson(req));
      const { held, lease } = leases.acquire(name, holder, durationMs, checkpoint);
      const body: LeaseAnswer = { held, holder: lease.holder, expiresAt: lease.expiresAt };
      if (held && lease.checkpoint !== undefined) body.checkpoint = lease.checkpoint;
      return { status: held ? 200 : 409, body };
    }
    if (method === 'DELETE') {
      leases.release(name, url.searchParams.get('holder') ?? '');
      return { status: 204 };
    }
    return methodNotAllowed(method, url.pathname);
  }

  if (version === 'v1' && collection === 'routes' && param && rest.length === 0) {
    if (sub === 'endpoints' && method === 'GET')
      return { status: 200, body: supervisor.endpoints(param) };
    if (sub === undefined && method === 'PUT') {
      const { replicaSet } = parseRouteSpec(await readJson(req));
      return { status: 200, body: supervisor.setRoute(param, replicaSet) };
    }
    if (sub === undefined && method === 'DELETE') {
      supervisor.removeRoute(param);
      return { status: 204 };
    }
  }

  throw new NotFoundError(`no route for ${method} ${url.pathname}`);
}

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new BadRequestError(`malformed URL encoding in path segment "${segment}"`);
  }
}

async function readJson(req: http.IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES)
      throw new BadRequestError(`request body exceeds ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk as Buffer);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new BadRequestError('request body is not valid JSON');
  }
}

function methodNotAllowed(method: string, path: string): Reply {
  return {
    status: 405,
    body: { error: `${method} is not allowed on ${path}` } satisfies ErrorBody,
  };
}

function statusOf(err: unknown): number {
  if (err instanceof BadRequestError) return 400;
  if (err instanceof NotFoundError) return 404;
  if (err instanceof ConflictError) return 409;
  return 500;
}

function errorBody(err: unknown): ErrorBody {
  return { error: err instanceof Error ? err.message : String(err) };
}
