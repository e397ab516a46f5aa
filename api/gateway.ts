/**
 * The inference gateway: `/v1/endpoints/{ws}/{name}/...` is proxied to a ready replica of the
 * revision that gets traffic, round robin, and measured (the TrafficMeter feeds autoscaling).
 *
 * With no ready replica:
 * - paused, or scaled to zero outside schedule windows: 503 at once, with Retry-After until the
 *   next window where there is one;
 * - otherwise (scaled to zero, or still loading): the request is held (a bounded queue, a bounded
 *   wait) while the deployment is woken, and proxied as soon as a replica is ready; past the wait,
 *   503 with Retry-After.
 */
import { Readable } from 'node:stream';
import type { ReadableStream } from 'node:stream/web';
import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ReplicaEndpointsSource } from './replica-endpoints';
import { deploymentId } from '../workflows/domain/deployment';
import type { DeploymentView } from '../workflows/domain/deployment';
import { secondsUntilNextWindow } from '../workflows/schedule';
import type { DeploymentService } from './deployment-service';
import { DomainError } from './deployment-service';
import { HttpError } from './errors';
import type { TrafficMeter } from './metrics/traffic-meter';

/** Headers that describe one hop, not the message (RFC 9110 section 7.6.1), plus our credentials. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'host',
  'content-length',
  'authorization',
]);

export interface GatewayOptions {
  /** Where each deployment's ready replicas are (see replica-endpoints.ts). */
  replicas: ReplicaEndpointsSource;
  deployments: DeploymentService;
  meter: TrafficMeter;
  /** Tells the collector to report a deployment now (a request is waiting for it to wake). */
  wake: (deployment: string) => void;
  /** How long a request may wait for a replica. */
  holdTimeoutMs?: number;
  /** How many requests may wait per deployment; more are answered 503 at once. */
  maxHeld?: number;
  /** How often a held request looks for a ready replica. */
  pollMs?: number;
}

/** Tries of one request: the first replica and at most two others that refused it. */
const MAX_ATTEMPTS = 3;

/**
 * fetch failed before any answer because the connection was refused, or closed or reset before
 * a response byte: the replica is gone or draining (a draining model server closes its idle
 * keep-alive connections and stops accepting). undici puts the code on the error's cause.
 */
const NEVER_REACHED = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET']);

function neverReachedReplica(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && depth < 5; e = (e as Error).cause, depth++) {
    if (NEVER_REACHED.has((e as { code?: string }).code ?? '')) return true;
  }
  return false;
}

function describeFetchError(err: unknown): string {
  const cause = (err as Error).cause as { code?: string; message?: string } | undefined;
  return cause?.message ?? cause?.code ?? (err as Error).message;
}

export class Gateway {
  private readonly cursor = new Map<string, number>();

  constructor(private readonly options: GatewayOptions) {}

  async proxy(
    request: FastifyRequest,
    reply: FastifyReply,
    workspace: string,
    name: string,
    rest: string,
  ): Promise<FastifyReply> {
    const id = deploymentId(workspace, name);
    const query = request.url.includes('?') ? request.url.slice(request.url.indexOf('?')) : '';
    const headers = new Headers();
    for (const [key, value] of Object.entries(request.headers)) {
      if (value === undefined || HOP_BY_HOP.has(key)) continue;
      headers.set(key, Array.isArray(value) ? value.join(', ') : value);
    }
    const hasBody =
      request.method !== 'GET' && request.method !== 'HEAD' && request.body !== undefined;

    // A replica picked just before it left the endpoints (scale-in, rollout, pause) refuses the
    // connection once it drains: that request never reached a model server, so it is safe to
    // send it to another ready replica, with the endpoints asked again.
    const refused = new Set<string>();
    for (let attempt = 1; ; attempt++) {
      const target =
        (await this.pickReplica(id, refused)) ??
        (await this.holdForReplica(workspace, name, refused));
      const end = this.options.meter.begin(id, target, Date.now());
      let upstream: Response;
      try {
        upstream = await fetch(`${target}/${rest}${query}`, {
          method: request.method,
          headers,
          ...(hasBody ? { body: request.body as Buffer } : {}),
          redirect: 'manual',
        });
      } catch (err) {
        end(Date.now(), false);
        if (neverReachedReplica(err) && attempt < MAX_ATTEMPTS) {
          refused.add(target);
          continue;
        }
        throw new HttpError(
          502,
          'bad_gateway',
          `replica ${target} did not answer: ${describeFetchError(err)}${attempt > 1 ? ` (attempt ${attempt} of ${MAX_ATTEMPTS})` : ''}`,
        );
      }
      reply.raw.once('close', () => end(Date.now()));
      reply.status(upstream.status);
      upstream.headers.forEach((value, key) => {
        if (!HOP_BY_HOP.has(key)) reply.header(key, value);
      });
      return reply.send(
        upstream.body ? Readable.fromWeb(upstream.body as ReadableStream) : undefined,
      );
    }
  }

  /** The next ready replica, round robin, leaving out the ones that refused this request. */
  private async pickReplica(id: string, refused: Set<string>): Promise<string | undefined> {
    let urls: string[];
    try {
      ({ urls } = await this.options.replicas.endpoints(id));
    } catch (err) {
      throw new HttpError(
        503,
        'unavailable',
        `the runtime running this deployment cannot be reached, and no replica of it is known yet: ${(err as Error).message}`,
        { 'retry-after': '5' },
      );
    }
    const candidates = urls.filter((url) => !refused.has(url));
    if (candidates.length === 0) return undefined;
    const next = ((this.cursor.get(id) ?? -1) + 1) % candidates.length;
    this.cursor.set(id, next);
    return candidates[next];
  }

  /** No replica is ready: answer 503 now when none will come, else wait (bounded) for one. */
  private async holdForReplica(
    workspace: string,
    name: string,
    refused: Set<string>,
  ): Promise<string> {
    const id = deploymentId(workspace, name);
    const view = await this.deployments(workspace, name);
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
    try {
      wake(id);
      const until = Date.now() + holdTimeoutMs;
      while (Date.now() < until) {
        await sleep(pollMs);
        const target = await this.pickReplica(id, refused);
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
