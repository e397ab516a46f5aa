/**
 * API keys: each key reaches exactly one workspace. Keys come from API_KEYS
 * ("key1=workspace1,key2=workspace2"); with none configured, the embedded default makes one
 * random key for workspace "default" at first start and keeps it in the data folder.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { onRequestHookHandler } from 'fastify';
import { HttpError } from './errors';

export type ApiKeys = ReadonlyMap<string, string>;

export function parseApiKeys(value: string): ApiKeys {
  const keys = new Map<string, string>();
  for (const entry of value
    .split(',')
    .map((e) => e.trim())
    .filter(Boolean)) {
    const [key, workspace, ...rest] = entry.split('=');
    if (!key || !workspace || rest.length > 0) {
      throw new Error(
        `API_KEYS: "${entry.slice(0, 4)}..." is not key=workspace (format: key1=workspace1,key2=workspace2)`,
      );
    }
    keys.set(key.trim(), workspace.trim());
  }
  if (keys.size === 0) throw new Error('API_KEYS is set but names no key');
  return keys;
}

/** The local key file, made on first start. Returns the keys and whether one was just made. */
export function loadOrCreateLocalKey(dataDir: string): {
  keys: ApiKeys;
  key: string;
  created: boolean;
} {
  const file = path.join(dataDir, 'api-key');
  if (fs.existsSync(file)) {
    const key = fs.readFileSync(file, 'utf8').trim();
    return { keys: new Map([[key, 'default']]), key, created: false };
  }
  const key = `md_${crypto.randomBytes(24).toString('base64url')}`;
  fs.mkdirSync(dataDir, { recursive: true });
  fs.writeFileSync(file, `${key}\n`, { mode: 0o600 });
  return { keys: new Map([[key, 'default']]), key, created: true };
}

/** The workspace a bearer token reaches, or null. Constant-time over the key's bytes. */
export function workspaceForToken(keys: ApiKeys, authorization: string | undefined): string | null {
  const match = /^Bearer\s+(\S+)$/i.exec(authorization ?? '');
  if (!match) return null;
  const presented = Buffer.from(match[1]!);
  for (const [key, workspace] of keys) {
    const expected = Buffer.from(key);
    if (expected.length === presented.length && crypto.timingSafeEqual(expected, presented))
      return workspace;
  }
  return null;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * Who may call the route. `'public'`: anyone (health, the OpenAPI document, the docs page).
     * Absent or `'key'`: a known API key, and when the route has a `workspace` parameter, a key
     * of that workspace. A route that says nothing is protected.
     */
    auth?: 'public' | 'key';
  }
}

/**
 * The API-key check, decided per route (its `config.auth`) and per the route's own `workspace`
 * parameter, as the router matched them: the request target's spelling (origin-form `/v1/...`,
 * absolute-form `http://host/v1/...`, %-encoding) cannot route around it. Requests that match no
 * route need a key too, so a probe without one learns nothing about which paths exist.
 */
export function authenticate(keys: ApiKeys): onRequestHookHandler {
  return async (request) => {
    if (request.routeOptions.config?.auth === 'public') return;
    const workspace = workspaceForToken(keys, request.headers.authorization);
    if (!workspace) {
      throw new HttpError(
        401,
        'unauthorized',
        'missing or unknown API key: send Authorization: Bearer <key>',
        { 'www-authenticate': 'Bearer' },
      );
    }
    const target = (request.params as Record<string, unknown> | undefined)?.workspace;
    if (typeof target === 'string' && target !== workspace) {
      throw new HttpError(
        403,
        'forbidden',
        `this API key belongs to workspace "${workspace}", not "${target}"`,
      );
    }
  };
}
