/**
 * The inference gateway: `/v1/endpoints/{ws}/{name}/...` is proxied to a ready replica of the
 * revision that gets traffic, round robin. With no ready replica it answers 503 and says why
 * (paused, still loading, ...), never a bare connection error.
 */
import { Readable } from 'node:stream';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { RuntimeProvider } from '../activities/providers/provider';
import { deploymentId } from '../workflows/domain/deployment';
import type { DeploymentService } from './deployment-service';
import { DomainError } from './deployment-service';
import { HttpError } from './errors';

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

/** Seconds a client should wait before retrying a deployment that is still starting. */
const STARTING_RETRY_AFTER_SECONDS = 5;

export class Gateway {
  private readonly cursor = new Map<string, number>();

  constructor(
    private readonly provider: RuntimeProvider,
    private readonly deployments: DeploymentService,
  ) {}

  async proxy(
    request: FastifyRequest,
    reply: FastifyReply,
    workspace: string,
    name: string,
    rest: string,
  ): Promise<FastifyReply> {
    const target = await this.pickReplica(workspace, name);
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
      upstream.body
        ? Readable.fromWeb(upstream.body as import('node:stream/web').ReadableStream)
        : undefined,
    );
  }

  private async pickReplica(workspace: string, name: string): Promise<string> {
    const id = deploymentId(workspace, name);
    const { urls } = await this.provider.endpoints(id);
    if (urls.length > 0) {
      const next = ((this.cursor.get(id) ?? -1) + 1) % urls.length;
      this.cursor.set(id, next);
      return urls[next]!;
    }
    throw await this.whyUnavailable(workspace, name);
  }

  /** Asks the deployment why nothing is ready, only on this (rare) path. */
  private async whyUnavailable(workspace: string, name: string): Promise<Error> {
    try {
      const view = await this.deployments.get(workspace, name);
      if (view.state === 'paused') {
        return new HttpError(
          503,
          'unavailable',
          `deployment "${name}" is paused; resume it to serve traffic`,
        );
      }
      return new HttpError(
        503,
        'unavailable',
        `deployment "${name}" has no ready replica yet (state ${view.state}, health ${view.health}, ${view.replicas.ready}/${view.replicas.desired} ready)`,
        {
          'retry-after': String(STARTING_RETRY_AFTER_SECONDS),
        },
      );
    } catch (err) {
      if (err instanceof DomainError) return err;
      return new HttpError(503, 'unavailable', `deployment "${name}" has no ready replica`);
    }
  }
}
