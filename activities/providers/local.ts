/**
 * RuntimeProvider for the local runtime: replicas run as processes managed by the agent
 * (runtime/agent), which this provider drives over HTTP.
 *
 * Each revision is one agent replica set; the deployment's route points at one of them.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { ObserverLease, RevisionFeed } from '../../observer/feed';
import { AgentLease, AgentRevisionFeed } from '../../observer/local-feed';
import type {
  ChangeList,
  LeaseAnswer,
  ReplicaInfo,
  ReplicaSetList,
  ReplicaSetSpec,
  ReplicaSetStatus,
  RouteEndpoints,
  RouteSpec,
} from '../../runtime/agent/api';
import {
  absentRevision,
  type ApplyRevisionInput,
  type RevisionStatus,
  type RuntimeProvider,
} from './provider';

const REQUEST_TIMEOUT_MS = 10_000;
/** How often a removal asks whether the replica set is gone. */
const REMOVAL_POLL_MS = 100;
/**
 * The longest a removal waits for a replica set to be gone. The agent kills replicas still
 * draining at its drain grace (DRAIN_GRACE_SECONDS, 60 s by default), so this is only reached
 * when something is wrong; the activity then fails and is retried.
 */
const DEFAULT_REMOVAL_TIMEOUT_MS = 5 * 60_000;

export interface LocalRuntimeProviderOptions {
  /** The longest removeRevision / removeDeployment wait for replicas to finish draining. */
  removalTimeoutMs?: number;
}

/** The agent answered with an error status (e.g. 409 when a revision's template changes). */
export class AgentRequestError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'AgentRequestError';
  }
}

/**
 * DNS-safe replica set name of a revision: `default/llama-8b-prod`, 3 -> `default--llama-8b-prod--r3`.
 * Deployment ids are namespace/name, so the slash becomes `--`.
 */
export function replicaSetName(deploymentId: string, revision: number): string {
  const base = deploymentId
    .toLowerCase()
    .replace(/\//g, '--')
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '');
  return `${base}--r${revision}`;
}

export class LocalRuntimeProvider implements RuntimeProvider {
  private readonly agentUrl: string;
  private readonly removalTimeoutMs: number;

  constructor(agentUrl: string, options: LocalRuntimeProviderOptions = {}) {
    this.agentUrl = agentUrl.replace(/\/+$/, '');
    this.removalTimeoutMs = options.removalTimeoutMs ?? DEFAULT_REMOVAL_TIMEOUT_MS;
  }

  async applyRevision(input: ApplyRevisionInput): Promise<RevisionStatus> {
    const spec: ReplicaSetSpec = input; // the agent's spec is the provider input, unchanged
    const path = replicaSetPath(input.deploymentId, input.revision);
    return toRevisionStatus(await this.call<ReplicaSetStatus>('PUT', path, spec));
  }

  async getRevision(deploymentId: string, revision: number): Promise<RevisionStatus> {
    try {
      const path = replicaSetPath(deploymentId, revision);
      return toRevisionStatus(await this.call<ReplicaSetStatus>('GET', path));
    } catch (err) {
      if (!(err instanceof AgentRequestError && err.status === 404)) throw err;
      return absentRevision(deploymentId, revision);
    }
  }

  async listRevisions(deploymentId: string): Promise<RevisionStatus[]> {
    const list = await this.call<ReplicaSetList>(
      'GET',
      `/v1/replicasets?deploymentId=${encodeURIComponent(deploymentId)}`,
    );
    return list.items.map(toRevisionStatus);
  }

  /**
   * Takes the revision out of service and waits until it is gone. The agent answers at once and
   * drains the replicas in the background (each finishes its requests in flight, bounded by the
   * drain grace); this polls with short calls until the replica set is gone, so a resume right
   * after a pause never applies a replica set on its way out, and no call outlives its timeout.
   */
  async removeRevision(deploymentId: string, revision: number): Promise<void> {
    const path = replicaSetPath(deploymentId, revision);
    await this.call('DELETE', path);
    await this.waitUntilGone(`revision ${revision} of ${deploymentId}`, async () => {
      try {
        const status = await this.call<ReplicaSetStatus>('GET', path);
        return `${status.draining} replica(s) draining`;
      } catch (err) {
        if (err instanceof AgentRequestError && err.status === 404) return undefined;
        throw err;
      }
    });
  }

  async routeTraffic(deploymentId: string, revision: number): Promise<void> {
    const route: RouteSpec = { replicaSet: replicaSetName(deploymentId, revision) };
    await this.call('PUT', routePath(deploymentId), route);
  }

  async removeDeployment(deploymentId: string): Promise<void> {
    // Route first, so no request is sent to replicas that are about to stop.
    await this.call('DELETE', routePath(deploymentId));
    // Every revision drains at once; then wait until all are gone.
    for (const revision of await this.listRevisions(deploymentId)) {
      await this.call('DELETE', replicaSetPath(deploymentId, revision.revision));
    }
    await this.waitUntilGone(`the revisions of ${deploymentId}`, async () => {
      const left = await this.listRevisions(deploymentId);
      return left.length === 0
        ? undefined
        : `revision(s) ${left.map((r) => r.revision).join(', ')} still draining`;
    });
  }

  async endpoints(deploymentId: string): Promise<{ revision: number | null; urls: string[] }> {
    const endpoints = await this.call<RouteEndpoints>(
      'GET',
      `${routePath(deploymentId)}/endpoints`,
    );
    return { revision: endpoints.revision, urls: endpoints.urls };
  }

  /**
   * The replicas of a revision with their process ids (the SSH server finds a replica's working
   * directory and environment from its process); none when the revision does not exist.
   */
  async replicaProcesses(deploymentId: string, revision: number): Promise<ReplicaInfo[]> {
    try {
      const path = replicaSetPath(deploymentId, revision);
      return (await this.call<ReplicaSetStatus>('GET', path)).replicas;
    } catch (err) {
      if (err instanceof AgentRequestError && err.status === 404) return [];
      throw err;
    }
  }

  revisionFeed(): RevisionFeed {
    return new AgentRevisionFeed(this);
  }

  observerLease(holder: string): ObserverLease {
    return new AgentLease(this, holder);
  }

  /**
   * The agent's change stream: what changed since `cursor`, waiting up to `waitMs` for a change.
   * `signal` ends the wait early (the observer stopping).
   */
  async changes(
    cursor: string | undefined,
    waitMs: number,
    signal?: AbortSignal,
  ): Promise<{
    cursor: string;
    resync: boolean;
    items: RevisionStatus[];
    gone: { deploymentId: string; revision: number }[];
  }> {
    const query = new URLSearchParams({ waitMs: String(waitMs) });
    if (cursor) query.set('since', cursor);
    const list = await this.call<ChangeList>(
      'GET',
      `/v1/changes?${query.toString()}`,
      undefined,
      waitMs + REQUEST_TIMEOUT_MS,
      signal,
    );
    return { ...list, items: list.items.map(toRevisionStatus) };
  }

  /** Takes or renews the agent-held lease `name`; 409 (another holder) answers held: false. */
  async acquireLease(
    name: string,
    holder: string,
    durationMs: number,
    checkpoint?: string,
  ): Promise<LeaseAnswer> {
    try {
      return await this.call<LeaseAnswer>('PUT', `/v1/leases/${encodeURIComponent(name)}`, {
        holder,
        durationMs,
        ...(checkpoint !== undefined ? { checkpoint } : {}),
      });
    } catch (err) {
      if (err instanceof AgentRequestError && err.status === 409)
        return { held: false, holder: '', expiresAt: 0 };
      throw err;
    }
  }

  async releaseLease(name: string, holder: string): Promise<void> {
    await this.call(
      'DELETE',
      `/v1/leases/${encodeURIComponent(name)}?holder=${encodeURIComponent(holder)}`,
    );
  }

  /** Polls `left` (undefined: gone; else what is left) until gone, at most removalTimeoutMs. */
  private async waitUntilGone(
    what: string,
    left: () => Promise<string | undefined>,
  ): Promise<void> {
    const until = Date.now() + this.removalTimeoutMs;
    for (;;) {
      const remaining = await left();
      if (remaining === undefined) return;
      if (Date.now() >= until) {
        throw new Error(
          `${what} not gone within ${Math.round(this.removalTimeoutMs / 1000)} s (${remaining}); the local runtime agent at ${this.agentUrl} stops draining replicas at its DRAIN_GRACE_SECONDS`,
        );
      }
      await sleep(REMOVAL_POLL_MS);
    }
  }

  /** JSON request to the agent; resolves undefined for 204. */
  private async call<T>(
    method: string,
    path: string,
    body?: unknown,
    timeoutMs = REQUEST_TIMEOUT_MS,
    signal?: AbortSignal,
  ): Promise<T> {
    const what = `${method} ${path}`;
    let res: Response;
    try {
      res = await fetch(`${this.agentUrl}${path}`, {
        method,
        headers: body === undefined ? undefined : { 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: signal
          ? AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)])
          : AbortSignal.timeout(timeoutMs),
      });
    } catch (err) {
      if (signal?.aborted) throw signal.reason; // the caller gave up: not the agent's fault
      throw new Error(
        `local runtime agent at ${this.agentUrl} is not reachable (${what}): ${describeFetchError(err)}. ` +
          'Is it running? (npm start runs it)',
      );
    }
    const text = await res.text();
    if (res.ok) return parseJson(text, `${this.agentUrl}: ${what}`) as T;
    throw new AgentRequestError(
      res.status,
      `local runtime agent at ${this.agentUrl}: ${what} failed with HTTP ${res.status}: ${errorMessage(text)}`,
    );
  }
}

function replicaSetPath(deploymentId: string, revision: number): string {
  return `/v1/replicasets/${encodeURIComponent(replicaSetName(deploymentId, revision))}`;
}

function routePath(deploymentId: string): string {
  return `/v1/routes/${encodeURIComponent(deploymentId)}`;
}

/** Only the RevisionStatus fields: activity results land in workflow history. */
function toRevisionStatus(status: ReplicaSetStatus): RevisionStatus {
  return {
    deploymentId: status.deploymentId,
    revision: status.revision,
    exists: true,
    desired: status.desired,
    ready: status.ready,
    restarts: status.restarts,
    replicas: status.replicas.map((r) => ({
      id: r.id,
      url: r.url,
      ready: r.ready,
      restarts: r.restarts,
      startedAt: r.startedAt,
      ...(r.readyAt !== undefined && { readyAt: r.readyAt }),
      ...(r.message !== undefined && { message: r.message }),
    })),
  };
}

/** fetch wraps the useful part (ECONNREFUSED, timeout) in err.cause or err.name. */
function describeFetchError(err: unknown): string {
  if (err instanceof Error && err.name === 'TimeoutError')
    return `no answer within ${REQUEST_TIMEOUT_MS / 1000} s`;
  const cause =
    err instanceof Error
      ? (err.cause as { code?: string; message?: string } | undefined)
      : undefined;
  if (cause?.code) return `${cause.code}${cause.message ? ` (${cause.message})` : ''}`;
  return err instanceof Error ? err.message : String(err);
}

function parseJson(text: string, source: string): unknown {
  if (text === '') return undefined;
  try {
    return JSON.parse(text);
  } catch {
    throw new Error(
      `${source} answered with something that is not JSON; is another program listening there?`,
    );
  }
}

function errorMessage(text: string): string {
  try {
    const error = (JSON.parse(text) as { error?: unknown }).error;
    if (typeof error === 'string') return error;
  } catch {
    // Not the agent's JSON error body; show the raw text.
  }
  return text || '(empty body)';
}
