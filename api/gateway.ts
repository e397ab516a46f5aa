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
    const target = (await this.pickReplica(id)) ?? (await this.holdForReplica(workspace, name));
    const end = this.options.meter.begin(id, target, Date.now());
    reply.raw.once('close', () => end(Date.now()));

    const query = request.url.includes('?') ? request.url.slice(request.url.indexOf('?')) : '';
    const headers = new Headers();
    for (const [key, value] of Object.entries(request.headers)) {
      if (value === undefined || HOP_BY_HOP.has(key)) continue;
      headers.set(key, Array.isArray(value) ? value.join(', ') : value);
    }
    const hasBody =
      request.method !== 'GET' && request.method !== 'HEAD' && request.body !== undefined;
    let upstream: Response;
    try {
      upstream = await fetch(`${target}/${rest}${query}`, {
        method: request.method,
        headers,
        ...(hasBody ? { body: request.body as Buffer } : {}),
        redirect: 'manual',
      });
    } catch (err) {
      throw new HttpError(
        502,
        'bad_gateway',
        `replica ${target} did not answer: ${(err as Error).message}`,
      );
    }
    reply.status(upstream.status);
    upstream.headers.forEach((value, key) => {
      if (!HOP_BY_HOP.has(key)) reply.header(key, value);
    });
    return reply.send(
      upstream.body ? Readable.fromWeb(upstream.body as ReadableStream) : undefined,
    );
  }

  private async pickReplica(id: string): Promise<string | undefined> {
    const { urls } = await this.options.replicas.endpoints(id);
    if (urls.length === 0) return undefined;
    const next = ((this.cursor.get(id) ?? -1) + 1) % urls.length;
    this.cursor.set(id, next);
    return urls[next];
  }

  /** No replica is ready: answer 503 now when none will come, else wait (bounded) for one. */
  private async holdForReplica(workspace: string, name: string): Promise<string> {
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
        const target = await this.pickReplica(id);
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
