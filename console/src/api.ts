/**
 * The console's only way to the REST API: fetch with the session's key, JSON in and out, and the
 * API's one error shape turned into ApiError (status, code, message, details with JSON paths).
 */
import type { Accelerator, Model } from '../../workflows/domain/catalog';
import type { DeploymentSpec } from '../../workflows/domain/spec';

export interface Session {
  key: string;
  workspace: string;
}

const SESSION_KEY = 'model-deployments.session';

/** The key lives in sessionStorage only: gone when the tab closes, never in localStorage or a cookie. */
export function loadSession(): Session | null {
  try {
    const raw = sessionStorage.getItem(SESSION_KEY);
    if (!raw) return null;
    const value = JSON.parse(raw) as Partial<Session>;
    return typeof value.key === 'string' && typeof value.workspace === 'string'
      ? { key: value.key, workspace: value.workspace }
      : null;
  } catch {
    return null;
  }
}

export function saveSession(session: Session | null): void {
  if (session) sessionStorage.setItem(SESSION_KEY, JSON.stringify(session));
  else sessionStorage.removeItem(SESSION_KEY);
}

export interface Violation {
  path: string;
  message: string;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: unknown[] = [],
  ) {
    super(message);
  }

  /** The details that name a field (400 invalid_spec), paths relative to the spec. */
  get violations(): Violation[] {
    return this.details.flatMap((d) => {
      if (!d || typeof d !== 'object') return [];
      const { path, message } = d as { path?: unknown; message?: unknown };
      if (typeof path !== 'string' || typeof message !== 'string') return [];
      return [{ path: path.replace(/^(body\.)?spec\./, '').replace(/^body\./, ''), message }];
    });
  }
}

export interface Answer<T> {
  status: number;
  body: T;
  etag: string | null;
}

export type { Accelerator, Model } from '../../workflows/domain/catalog';
export interface Quota {
  accelerator: string;
  limit: number;
  reserved: number;
  available: number;
}
export interface DeploymentEvent {
  time: string;
  type: string;
  reason: string;
  message: string;
  revision?: number;
}
export interface Deployment {
  name: string;
  workspace: string;
  // The spec as the API answers it, defaults filled in (DeploymentSpec from workflows/domain/spec).
  spec: DeploymentSpec;
  revision: number;
  state: string;
  health: string;
  replicas: { desired: number; ready: number };
  restarts: number;
  url: string;
  createdAt: string;
  updatedAt: string;
  version: string;
}
export interface SshAccess {
  host: string;
  port: number;
  users: string[];
  replicas: string[];
  command: string;
}
export interface ConsoleConfig {
  temporalUiUrl: string;
  temporalNamespace: string;
}

export class Api {
  constructor(readonly session: Session) {}

  get ws(): string {
    return `/v1/workspaces/${encodeURIComponent(this.session.workspace)}`;
  }

  async call<T>(
    method: string,
    path: string,
    options: {
      body?: unknown;
      headers?: Record<string, string>;
      contentType?: string;
      signal?: AbortSignal | undefined;
    } = {},
  ): Promise<Answer<T>> {
    const headers: Record<string, string> = {
      authorization: `Bearer ${this.session.key}`,
      accept: 'application/json',
      ...options.headers,
    };
    if (options.body !== undefined)
      headers['content-type'] = options.contentType ?? 'application/json';
    let res: Response;
    try {
      res = await fetch(path, {
        method,
        headers,
        ...(options.body !== undefined ? { body: JSON.stringify(options.body) } : {}),
        cache: 'no-store',
        ...(options.signal ? { signal: options.signal } : {}),
      });
    } catch (err) {
      throw new ApiError(0, 'network', `the API did not answer: ${String(err)}`);
    }
    const text = await res.text();
    let body: unknown = null;
    if (text) {
      try {
        body = JSON.parse(text);
      } catch {
        body = text;
      }
    }
    if (!res.ok) {
      const error = (body as { error?: { code?: string; message?: string; details?: unknown[] } })
        ?.error;
      throw new ApiError(
        res.status,
        error?.code ?? `http_${res.status}`,
        error?.message ?? `${method} ${path} answered ${res.status}`,
        Array.isArray(error?.details) ? error.details : [],
      );
    }
    return { status: res.status, body: body as T, etag: res.headers.get('etag') };
  }

  list<T>(path: string): Promise<T[]> {
    return this.all<T>(path);
  }

  /** Every page of a list. */
  private async all<T>(path: string, signal?: AbortSignal): Promise<T[]> {
    const items: T[] = [];
    let token: string | undefined;
    for (let page = 0; page < 50; page++) {
      const sep = path.includes('?') ? '&' : '?';
      const url = token ? `${path}${sep}pageToken=${encodeURIComponent(token)}` : path;
      const { body } = await this.call<{ items: T[]; nextPageToken?: string }>('GET', url, {
        signal,
      });
      items.push(...body.items);
      token = body.nextPageToken;
      if (!token) break;
    }
    return items;
  }

  deployments(query: URLSearchParams, signal?: AbortSignal): Promise<Deployment[]> {
    const q = new URLSearchParams(query);
    q.set('pageSize', '100');
    return this.all<Deployment>(`${this.ws}/deployments?${q.toString()}`, signal);
  }

  deployment(name: string, signal?: AbortSignal): Promise<Answer<Deployment>> {
    return this.call<Deployment>('GET', `${this.ws}/deployments/${encodeURIComponent(name)}`, {
      signal,
    });
  }

  events(name: string, signal?: AbortSignal): Promise<DeploymentEvent[]> {
    return this.all<DeploymentEvent>(
      `${this.ws}/deployments/${encodeURIComponent(name)}/events?pageSize=500`,
      signal,
    );
  }

  models(): Promise<Model[]> {
    return this.all<Model>('/v1/models?pageSize=500');
  }
  accelerators(): Promise<Accelerator[]> {
    return this.all<Accelerator>('/v1/accelerators?pageSize=500');
  }
  quotas(): Promise<Quota[]> {
    return this.all<Quota>(`${this.ws}/quotas?pageSize=500`);
  }

  /** The SSH command, or null when the route does not answer 200 (SSH off, or no such route yet). */
  async ssh(name: string, signal?: AbortSignal): Promise<SshAccess | null> {
    try {
      const { body } = await this.call<SshAccess>(
        'GET',
        `${this.ws}/deployments/${encodeURIComponent(name)}/ssh`,
        { signal },
      );
      return body && typeof body.command === 'string' ? body : null;
    } catch {
      return null;
    }
  }

  create(body: unknown): Promise<Answer<Deployment>> {
    return this.call<Deployment>('POST', `${this.ws}/deployments`, { body });
  }

  edit(name: string, specPatch: unknown, etag: string | null): Promise<Answer<Deployment>> {
    return this.call<Deployment>('PATCH', `${this.ws}/deployments/${encodeURIComponent(name)}`, {
      body: { spec: specPatch },
      contentType: 'application/merge-patch+json',
      headers: etag ? { 'if-match': etag } : {},
    });
  }

  action(
    name: string,
    action: 'pause' | 'resume' | 'delete',
    etag?: string | null,
  ): Promise<Answer<Deployment>> {
    const path = `${this.ws}/deployments/${encodeURIComponent(name)}`;
    const headers: Record<string, string> = etag ? { 'if-match': etag } : {};
    return action === 'delete'
      ? this.call<Deployment>('DELETE', path, { headers })
      : this.call<Deployment>('POST', `${path}/${action}`, { headers });
  }

  clone(name: string, newName: string): Promise<Answer<Deployment>> {
    return this.call<Deployment>(
      'POST',
      `${this.ws}/deployments/${encodeURIComponent(name)}/clone`,
      {
        body: { name: newName },
      },
    );
  }
}

export async function consoleConfig(): Promise<ConsoleConfig> {
  try {
    const res = await fetch('/console/config.json', { cache: 'no-store' });
    if (res.ok) return (await res.json()) as ConsoleConfig;
  } catch {
    // fall through to the embedded default
  }
  return { temporalUiUrl: 'http://127.0.0.1:8233', temporalNamespace: 'default' };
}

/** The Temporal UI page of a workflow (IDs as workflows/deployment/definitions.ts spells them). */
export function temporalLink(config: ConsoleConfig, workflowId: string): string {
  return `${config.temporalUiUrl.replace(/\/$/, '')}/namespaces/${encodeURIComponent(
    config.temporalNamespace,
  )}/workflows/${encodeURIComponent(workflowId)}`;
}
export const deploymentWorkflowId = (ws: string, name: string) => `deployment:${ws}:${name}`;
export const rolloutWorkflowId = (ws: string, name: string, revision: number) =>
  `deployment:${ws}:${name}:rollout:${revision}`;
