/**
 * For benchmarks: every HTTP request this process makes to a given server, counted where Node
 * creates it, so nothing is left out whichever client library makes it.
 *
 * - `http.client.request.start` (node:http / node:https);
 * - `undici:request:create`: the global `fetch` (the local runtime provider, the agent feed), the
 *   undici pool the observer scrapes replicas with, and @kubernetes/client-node 2, which makes its
 *   API calls and its watches with its own copy of undici (the channel is shared by name).
 *
 * Requests are counted when they start: a watch is one request when it is opened, a long poll one
 * when it is sent.
 */
import diagnostics from 'node:diagnostics_channel';
import type { ClientRequest } from 'node:http';

export interface RequestTarget {
  /** `http://127.0.0.1:7070`, `https://127.0.0.1:6443`: scheme, host and port. */
  origin: string;
  /** What the report calls it: `apiserver`, `agent`. */
  label: string;
  /** The request's kind from its method and path (default: method and the path's first parts). */
  kind?: (method: string, path: string) => string;
}

export class RequestCounter {
  private readonly targets = new Map<string, RequestTarget>();
  private counts = new Map<string, number>();
  private readonly onHttp = (message: unknown) => {
    const request = (message as { request: ClientRequest }).request;
    const host = request.getHeader('host');
    const scheme = request.protocol ?? 'http:';
    const origin = `${scheme}//${typeof host === 'string' ? host : `${request.host}`}`;
    this.count(origin, request.method, request.path);
  };
  private readonly onUndici = (message: unknown) => {
    const request = (message as { request: { origin: string | URL; method: string; path: string } })
      .request;
    this.count(new URL(String(request.origin)).origin, request.method, request.path);
  };

  /** Starts counting requests to the targets added (before or after). */
  install(): void {
    diagnostics.subscribe('http.client.request.start', this.onHttp);
    diagnostics.subscribe('undici:request:create', this.onUndici);
  }

  uninstall(): void {
    diagnostics.unsubscribe('http.client.request.start', this.onHttp);
    diagnostics.unsubscribe('undici:request:create', this.onUndici);
  }

  add(target: RequestTarget): void {
    this.targets.set(new URL(target.origin).origin, target);
  }

  /** Forgets what was counted (the start of a window). */
  reset(): void {
    this.counts = new Map();
  }

  /** Requests per target label, and per label + kind. */
  snapshot(): { byLabel: Map<string, number>; byKind: Map<string, number> } {
    const byLabel = new Map<string, number>();
    for (const [key, n] of this.counts) {
      const label = key.slice(0, key.indexOf(' '));
      byLabel.set(label, (byLabel.get(label) ?? 0) + n);
    }
    return { byLabel, byKind: new Map(this.counts) };
  }

  private count(origin: string, method: string, path: string): void {
    const target = this.targets.get(origin);
    const label = target?.label ?? 'other';
    const kind = target?.kind ? target.kind(method, path) : defaultKind(method, path);
    const key = `${label} ${kind}`;
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
  }
}

/** Method and the path's first two segments (ids and names after them are left out). */
export function defaultKind(method: string, path: string): string {
  const [p = ''] = path.split('?');
  const segments = p.split('/').filter(Boolean);
  const head = segments.slice(0, 2).join('/');
  return `${method} /${head}${segments.length > 2 ? '/…' : ''}`;
}

/**
 * A Kubernetes API request's kind: WATCH / LIST / GET / PATCH (apply) / PUT / POST / DELETE and
 * the resource (`deployments`, `pods`, `leases`, ...), with `{name}` when it names one object.
 */
export function kubernetesKind(method: string, path: string): string {
  const [p = '', q = ''] = path.split('?');
  const query = new URLSearchParams(q);
  const segments = p.split('/').filter(Boolean);
  // /api/v1/... or /apis/{group}/{version}/...
  let i = segments[0] === 'api' ? 2 : segments[0] === 'apis' ? 3 : -1;
  if (i < 0 || segments.length <= i) return `${method} ${p}`;
  if (segments[i] === 'namespaces' && segments.length > i + 2) i += 2;
  const resource = segments[i] ?? '';
  const named = segments.length > i + 1;
  const sub = segments[i + 2] ? `/${segments[i + 2]}` : '';
  if (method === 'GET' && !named) {
    const watching = query.get('watch') === 'true' || query.get('watch') === '1';
    return `${watching ? 'WATCH' : 'LIST'} ${resource}${query.has('labelSelector') ? ' (labelSelector)' : ''}`;
  }
  const apply = method === 'PATCH' && query.has('fieldManager') ? ' (server-side apply)' : '';
  return `${method} ${resource}${named ? '/{name}' : ''}${sub}${apply}`;
}
