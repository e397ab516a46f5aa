/**
 * The inference gateway: `/v1/endpoints/{ws}/{name}/...` is proxied to a ready replica of the
 * revision that gets traffic (load is measured at the replicas by the observer).
 *
 * The proxy is @fastify/reply-from on undici connection pools: one pool of keep-alive connections
 * per replica, reused from request to request; the replica's answer is streamed to the client as
 * it comes (an SSE token stream reaches the client token by token). The request body is passed on
 * as received, whatever its type, from a buffer (bounded by the route's body limit), so that a
 * request a replica never got can be sent, body and all, to another one.
 *
 * Which replica: the one with the fewest requests outstanding from this gateway (sent and not yet
 * answered to the end), ties round robin; a replica slowed down by long generations gets fewer
 * new requests. A deployment's ready replicas are asked of the runtime at most once per
 * `endpointsTtlMs`, and again at once when a replica refuses a connection.
 *
 * With no ready replica:
 * - paused, or scaled to zero outside schedule windows: 503 at once, with Retry-After until the
 *   next window where there is one;
 * - otherwise (scaled to zero, or still loading): the request is held (a bounded queue, a bounded
 *   wait) while the deployment is woken, and proxied as soon as a replica is ready; past the wait,
 *   503 with Retry-After.
 *
 * A BYOC deployment's requests go to its cluster's edge gateway (replica-endpoints.ts), which
 * picks the pod inside the cluster: the gateway presents the edge's token there (in place of the
 * client's key), sends each request once (the edge retries pods itself), and says which edge did
 * not answer, or refused the token, as a 502. A cluster without an edge gateway answers 503.
 *
 * Without `deployments` (the edge gateway itself, api/edge/) nothing is held: no ready replica is
 * a 503 at once.
 */
import { leastOutstanding } from './replica-choice';
import type { FastifyReplyFromHooks, FastifyReplyFromOptions } from '@fastify/reply-from';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ClusterError, type EdgeGateway } from '../activities/providers/byoc';
import {
  EdgeGatewayMissingError,
  type Endpoints,
  type ReplicaEndpointsSource,
} from './replica-endpoints';
import { deploymentId } from '../workflows/domain/deployment';
import type { DeploymentView } from '../workflows/domain/deployment';
import { secondsUntilNextWindow } from '../workflows/schedule';
import type { DeploymentService } from './deployment-service';
import { DomainError } from './deployment-service';
import { HttpError } from './errors';
import type { TrafficMeter } from './metrics/traffic-meter';

/**
 * Headers that describe one hop, not the message (RFC 9110 section 7.6.1), plus our credentials:
 * not passed on, either way. (reply-from sets `host` and `content-length` for the replica, and
 * drops the headers a `connection` header names.)
 */
const HOP_BY_HOP = [
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
] as const;

/** What the gateway reports (api/metrics/prometheus.ts): per deployment, so only for ones that exist. */
export interface GatewayMetrics {
  /**
   * A request for a deployment that exists ended: answered in full (a stream to its end), failed,
   * or its client left. `status` is the one sent; `seconds` from the route to the end.
   */
  answered(deploymentId: string, status: number, seconds: number): void;
  /** A request is held: the deployment has no ready replica yet (scaling from zero, loading). */
  held(deploymentId: string): void;
}

export interface GatewayOptions {
  /** Where each deployment's ready replicas are (see replica-endpoints.ts). */
  replicas: ReplicaEndpointsSource;
  /**
   * Reads a deployment when none of its replicas is ready (paused, outside its windows, or worth
   * holding the request for). Absent (the edge gateway): no ready replica is a 503 at once.
   */
  deployments?: Pick<DeploymentService, 'get'>;
  meter: TrafficMeter;
  /** Tells the collector to report a deployment now (a request is waiting for it to wake). */
  wake: (deployment: string) => void;
  /** How long a request may wait for a replica. */
  holdTimeoutMs?: number;
  /** How many requests may wait per deployment; more are answered 503 at once. */
  maxHeld?: number;
  /** How often a held request looks for a ready replica. */
  pollMs?: number;
  /**
   * How long a deployment's list of ready replicas is reused before the runtime is asked again
   * (default 1000 ms; 0: every request asks). A replica that left the list meanwhile refuses the
   * connection (it drains), and the request is sent to another one with the list asked again.
   */
  endpointsTtlMs?: number;
  /** Connections to one replica at most (default 128); more requests wait for one in its pool. */
  connectionsPerReplica?: number;
  /** How long an unused connection to a replica is kept (default 60 s; a shorter Keep-Alive hint from the replica wins). */
  keepAliveTimeoutMs?: number;
  /** Latency and held requests per deployment (none when absent). */
  metrics?: GatewayMetrics;
}

/** Tries of one request: the first replica and at most two others that refused it. */
const MAX_ATTEMPTS = 3;

/**
 * The request failed before any answer because the connection was refused, or closed or reset
 * before a response byte: the replica is gone or draining (a draining model server closes its
 * idle keep-alive connections and stops accepting). reply-from wraps undici's error; the code is
 * on a cause.
 */
const NEVER_REACHED = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET']);

function neverReachedReplica(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && depth < 5; e = (e as Error).cause, depth++) {
    if (NEVER_REACHED.has((e as { code?: string }).code ?? '')) return true;
  }
  return false;
}

/** The innermost cause's message (undici's own words: "connect ECONNREFUSED ...", "other side closed"). */
function describeError(err: unknown): string {
  let e = err as Error;
  for (let depth = 0; e.cause instanceof Error && depth < 5; depth++) e = e.cause;
  return e.message || (e as { code?: string }).code || String(e);
}

/** The request's headers for the replica, less hop-by-hop ones and our credentials. */
const requestHeadersForReplica: NonNullable<FastifyReplyFromHooks['rewriteRequestHeaders']> = (
  request,
  headers,
) => {
  for (const name of HOP_BY_HOP) if (headers[name] !== undefined) delete headers[name];
  if (headers.authorization !== undefined) delete headers.authorization;
  // reply-from names a type for a body it is given; the replica gets the client's, or none.
  if (request.headers['content-type'] === undefined) delete headers['content-type'];
  return headers;
};

/**
 * The realm of the edge gateway's 401 (api/edge/app.ts): told apart from a model server's own
 * 401, which is the client's business and passed on as it is.
 */
export const EDGE_REALM = 'model-deployments-edge';

/** The request's headers for an edge gateway: as for a replica, with the edge's token. */
function requestHeadersForEdge(edge: EdgeGateway): FastifyReplyFromHooks['rewriteRequestHeaders'] {
  return (request, headers) => {
    const passed = requestHeadersForReplica(request, headers);
    passed.authorization = `Bearer ${edge.token}`;
    return passed;
  };
}

/**
 * The edge's answer, streamed to the client as it comes; but the edge refusing our token is the
 * control plane's misconfiguration, not the client's: a 502 that names the edge and the secret.
 */
function edgeAnswer(edge: EdgeGateway): NonNullable<FastifyReplyFromHooks['onResponse']> {
  return (_request, reply, res) => {
    // What reply-from hands over is { statusCode, headers, stream } (its type says otherwise).
    const { statusCode, headers } = res as unknown as {
      statusCode: number;
      headers: Record<string, string | string[] | undefined>;
    };
    if (
      statusCode === 401 &&
      String(headers['www-authenticate']).includes(`realm="${EDGE_REALM}"`)
    ) {
      res.stream.resume();
      for (const name of Object.keys(headers)) reply.removeHeader(name);
      reply.send(
        new HttpError(
          502,
          'bad_gateway',
          `the edge gateway of cluster "${edge.cluster}" (${edge.url}) refused the control plane's token: ` +
            `the secret "${edge.tokenSecret}" does not hold the token that edge gateway was given`,
        ),
      );
      return;
    }
    reply.send(res.stream);
  };
}

/** The replica's answer headers for the client, less hop-by-hop ones. */
const answerHeadersForClient: NonNullable<FastifyReplyFromHooks['rewriteHeaders']> = (headers) => {
  for (const name of HOP_BY_HOP) if (headers[name] !== undefined) delete headers[name];
  return headers;
};

/** Where one attempt goes: a replica, or (BYOC) the deployment's URL on its cluster's edge gateway. */
interface Target {
  url: string;
  edge?: EdgeGateway;
}

/** One request's way through the gateway: where it is going and what it was refused. */
interface Forward {
  id: string;
  workspace: string;
  name: string;
  /** The path and query for the replica, from the first `/` after the deployment name. */
  path: string;
  /** Replicas that refused this request (left out of its next attempts). */
  refused: Set<string>;
  /**
   * The deployment is known to exist (a replica was found, or it was read): only then is the
   * request counted under its name, so requests for made-up names add no series to the metrics.
   */
  exists: boolean;
}

export class Gateway {
  /** Per deployment: the index of the replica chosen last (round robin among equals). */
  private readonly cursor = new Map<string, number>();
  /** Per replica URL: requests sent by this gateway and not yet answered to the end. */
  private readonly outstanding = new Map<string, number>();
  /** Per deployment: its ready replicas, as last asked (or being asked), until `until`. */
  private readonly known = new Map<string, { found: Promise<Endpoints>; until: number }>();
  private readonly outstandingOf = (url: string) => this.outstanding.get(url) ?? 0;

  constructor(private readonly options: GatewayOptions) {}

  /** The options for @fastify/reply-from, registered with the gateway's route (routes/endpoints.ts). */
  replyFromOptions(): FastifyReplyFromOptions {
    return {
      undici: {
        connections: this.options.connectionsPerReplica ?? 128,
        // One request at a time per connection: a long generation must not hold up the next.
        pipelining: 1,
        keepAliveTimeout: this.options.keepAliveTimeoutMs ?? 60_000,
        // reply-from turns certificate checks off by default; a replica behind TLS is checked.
        connect: { rejectUnauthorized: true },
      },
      // Retries are the gateway's own (to another replica, for a request none received), never
      // reply-from's (to the same replica, for GETs it answered 503).
      retryMethods: [],
      disableRequestLogging: true,
      // The pools are closed with the app.
      destroyAgent: true,
    };
  }

  async proxy(
    request: FastifyRequest,
    reply: FastifyReply,
    workspace: string,
    name: string,
    rest: string,
  ): Promise<FastifyReply> {
    const queryAt = request.url.indexOf('?');
    const forward: Forward = {
      id: deploymentId(workspace, name),
      workspace,
      name,
      path: `/${rest}${queryAt >= 0 ? request.url.slice(queryAt) : ''}`,
      refused: new Set(),
      exists: false,
    };
    const metrics = this.options.metrics;
    if (metrics) {
      const started = performance.now();
      reply.raw.once('close', () => {
        if (forward.exists)
          metrics.answered(forward.id, reply.raw.statusCode, (performance.now() - started) / 1000);
      });
    }
    await this.attempt(request, reply, forward, 1);
    return reply;
  }

  /**
   * Sends the request to a replica; resolves once it is under way (the answer, or the 502, is
   * sent by reply-from's hooks). A replica picked just before it left the endpoints (scale-in,
   * rollout, pause) refuses the connection once it drains: that request never reached a model
   * server, so it is sent to another ready replica, with the endpoints asked again.
   */
  private async attempt(
    request: FastifyRequest,
    reply: FastifyReply,
    forward: Forward,
    attempt: number,
  ): Promise<void> {
    const { id, refused } = forward;
    const picked =
      (await this.pickReplica(id, refused, attempt > 1)) ?? (await this.holdForReplica(forward));
    forward.exists = true;
    const { url: target, edge } = picked;

    const endMeter = this.options.meter.begin(id, target, Date.now());
    this.outstanding.set(target, this.outstandingOf(target) + 1);
    let done = false;
    const end = (completed: boolean) => {
      if (done) return;
      done = true;
      const left = this.outstandingOf(target) - 1;
      if (left > 0) this.outstanding.set(target, left);
      else this.outstanding.delete(target);
      endMeter(Date.now(), completed);
    };
    // Ends with the answer sent in full, or the client gone (whichever comes first).
    reply.raw.once('close', () => end(true));

    const body = Buffer.isBuffer(request.body) ? request.body : undefined;
    const hooks: FastifyReplyFromHooks = {
      // A body is sent as is, with the client's content type (reply-from would encode it
      // otherwise); none for a request without one.
      body,
      contentType: request.headers['content-type'] ?? 'application/octet-stream',
      rewriteRequestHeaders: edge ? requestHeadersForEdge(edge) : requestHeadersForReplica,
      rewriteHeaders: answerHeadersForClient,
      ...(edge ? { onResponse: edgeAnswer(edge) } : {}),
      onError: (_reply, { error }) => {
        end(false);
        if (edge) {
          reply.send(
            new HttpError(
              502,
              'bad_gateway',
              `the edge gateway of cluster "${edge.cluster}" (${edge.url}) did not answer: ${describeError(error)}`,
            ),
          );
          return;
        }
        if (neverReachedReplica(error) && attempt < MAX_ATTEMPTS) {
          refused.add(target);
          this.attempt(request, reply, forward, attempt + 1).catch((err: unknown) =>
            reply.send(err),
          );
          return;
        }
        reply.send(
          new HttpError(
            502,
            'bad_gateway',
            `replica ${target} did not answer: ${describeError(error)}${attempt > 1 ? ` (attempt ${attempt} of ${MAX_ATTEMPTS})` : ''}`,
          ),
        );
      },
    };
    try {
      reply.from(target + forward.path, hooks);
    } catch (err) {
      end(false);
      throw err;
    }
  }

  /**
   * The next ready replica (fewest outstanding requests, ties round robin), leaving out the ones
   * that refused this request; `fresh` asks the runtime again instead of using the list known.
   */
  private async pickReplica(
    id: string,
    refused: Set<string>,
    fresh: boolean,
  ): Promise<Target | undefined> {
    const { urls, edge } = await this.readyReplicas(id, fresh);
    const candidates = refused.size > 0 ? urls.filter((url) => !refused.has(url)) : urls;
    if (candidates.length === 0) return undefined;
    const chosen = leastOutstanding(candidates, this.outstandingOf, this.cursor.get(id) ?? -1);
    this.cursor.set(id, chosen);
    return { url: candidates[chosen]!, ...(edge ? { edge } : {}) };
  }

  /** A deployment's ready replicas: as known if asked within `endpointsTtlMs`, else asked now. */
  private readyReplicas(id: string, fresh: boolean): Promise<Endpoints> {
    const now = Date.now();
    const known = this.known.get(id);
    if (!fresh && known && known.until > now) return known.found;
    const found = this.askReplicas(id);
    const entry = { found, until: now + (this.options.endpointsTtlMs ?? 1000) };
    this.known.set(id, entry);
    // None ready, or the runtime not answering: not kept, the next request asks again.
    const forget = () => {
      if (this.known.get(id) === entry) this.known.delete(id);
    };
    found.then((f) => f.urls.length === 0 && forget(), forget);
    return found;
  }

  private async askReplicas(id: string): Promise<Endpoints> {
    try {
      return await this.options.replicas.endpoints(id);
    } catch (err) {
      // No edge gateway, or one the registry describes wrongly: said as it is, not as an outage.
      if (err instanceof EdgeGatewayMissingError || err instanceof ClusterError)
        throw new HttpError(503, 'unavailable', err.message);
      throw new HttpError(
        503,
        'unavailable',
        `the runtime running this deployment cannot be reached, and no replica of it is known yet: ${(err as Error).message}`,
        { 'retry-after': '5' },
      );
    }
  }

  /** No replica is ready: answer 503 now when none will come, else wait (bounded) for one. */
  private async holdForReplica(forward: Forward): Promise<Target> {
    const { workspace, name, refused } = forward;
    const id = deploymentId(workspace, name);
    if (!this.options.deployments) {
      throw new HttpError(
        503,
        'unavailable',
        `deployment "${name}" of workspace "${workspace}" has no ready replica here`,
        { 'retry-after': '5' },
      );
    }
    const view = await this.deployments(workspace, name);
    forward.exists = true;
    const refusal = refuseAtOnce(view, Date.now());
    if (refusal) throw refusal;

    const { meter, wake, holdTimeoutMs = 60_000, maxHeld = 100, pollMs = 20 } = this.options;
    if (meter.queuedFor(id) >= maxHeld) {
      throw new HttpError(
        503,
        'unavailable',
        `deployment "${name}" is starting and ${maxHeld} requests are already waiting for it; retry shortly`,
        { 'retry-after': '5' },
      );
    }
    const release = meter.hold(id, Date.now());
    this.options.metrics?.held(id);
    try {
      wake(id);
      const until = Date.now() + holdTimeoutMs;
      while (Date.now() < until) {
        await sleep(pollMs);
        const target = await this.pickReplica(id, refused, true);
        if (target) return target;
      }
    } finally {
      release();
    }
    const now = await this.deployments(workspace, name);
    throw new HttpError(
      503,
      'unavailable',
      `deployment "${name}" has no ready replica after ${Math.round(holdTimeoutMs / 1000)} s (state ${now.state}, health ${now.health}, ${now.replicas.ready}/${now.replicas.desired} ready)`,
      { 'retry-after': '10' },
    );
  }

  private async deployments(workspace: string, name: string): Promise<DeploymentView> {
    try {
      if (!this.options.deployments) throw new Error('no deployments to read');
      return await this.options.deployments.get(workspace, name);
    } catch (err) {
      if (err instanceof DomainError) throw err;
      throw new HttpError(503, 'unavailable', `deployment "${name}" has no ready replica`);
    }
  }
}

/** A deployment that will not get a replica by waiting: paused, or outside its schedule windows. */
export function refuseAtOnce(view: DeploymentView, now: number): HttpError | undefined {
  if (view.state === 'paused') {
    return new HttpError(
      503,
      'unavailable',
      `deployment "${view.name}" is paused; resume it to serve traffic`,
    );
  }
  const schedule = view.spec.schedule;
  if (schedule?.enabled && schedule.scaleToZeroOutsideWindows) {
    const seconds = secondsUntilNextWindow({ schedule, now });
    if (seconds !== null && seconds > 0) {
      return new HttpError(
        503,
        'unavailable',
        `deployment "${view.name}" is scaled to zero outside its schedule windows; the next window starts in ${seconds} s`,
        {
          'retry-after': String(seconds),
        },
      );
    }
  }
  return undefined;
}
