/**
 * The API's trust contract (api.md "Authentication", "Errors"), against the real stack:
 * authentication decided by route for any request-target form, and one error shape for the
 * framework's own errors.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dedicatedSpec } from '../helpers/catalog';
import { rawRequest } from '../helpers/raw-http';
import { apiClient, startStack, type Stack } from '../helpers/stack';

let stack: Stack;
let api: ReturnType<typeof apiClient>;
let ws: string;
let base: string;

/** A deployment that stays: reads, events, inference and the list filters use it. */
const SUBJECT = 'subject';
/** A name that never exists: writes to it answer 404 when they get past authentication. */
const GHOST = 'ghost';

beforeAll(async () => {
  stack = await startStack();
  api = apiClient(stack);
  ws = stack.workspace;
  base = `/v1/workspaces/${ws}/deployments`;
  const created = await api('POST', base, {
    name: SUBJECT,
    ...dedicatedSpec({ tags: { env: 'prod' } }),
  });
  expect(created.status).toBe(202);
});
afterAll(async () => stack?.stop());

const json = { 'content-type': 'application/json' };
const bearer = (key: string) => ({ authorization: `Bearer ${key}` });
const errorShape = (code: string) => ({
  error: { code, message: expect.any(String) as unknown },
});

describe('authentication by route, whatever the request-target form', () => {
  /** One request per route family (paths built once the stack runs); catalogs have no workspace. */
  const families: {
    family: string;
    method: string;
    path: () => string;
    body?: unknown;
    workspace: boolean;
  }[] = [
    { family: 'deployments list', method: 'GET', path: () => base, workspace: true },
    {
      family: 'deployments get',
      method: 'GET',
      path: () => `${base}/${SUBJECT}`,
      workspace: true,
    },
    { family: 'deployments create', method: 'POST', path: () => base, body: {}, workspace: true },
    {
      family: 'deployments patch',
      method: 'PATCH',
      path: () => `${base}/${GHOST}`,
      body: { spec: { tags: { a: 'b' } } },
      workspace: true,
    },
    {
      family: 'deployments pause',
      method: 'POST',
      path: () => `${base}/${GHOST}/pause`,
      workspace: true,
    },
    {
      family: 'deployments resume',
      method: 'POST',
      path: () => `${base}/${GHOST}/resume`,
      workspace: true,
    },
    {
      family: 'deployments clone',
      method: 'POST',
      path: () => `${base}/${GHOST}/clone`,
      body: { name: 'ghost-copy' },
      workspace: true,
    },
    {
      family: 'deployments delete',
      method: 'DELETE',
      path: () => `${base}/${GHOST}`,
      workspace: true,
    },
    {
      family: 'deployments events',
      method: 'GET',
      path: () => `${base}/${SUBJECT}/events`,
      workspace: true,
    },
    { family: 'quotas', method: 'GET', path: () => `/v1/workspaces/${ws}/quotas`, workspace: true },
    {
      family: 'clusters',
      method: 'GET',
      path: () => `/v1/workspaces/${ws}/clusters`,
      workspace: true,
    },
    {
      family: 'node-groups',
      method: 'GET',
      path: () => `/v1/workspaces/${ws}/clusters/team-eks/node-groups`,
      workspace: true,
    },
    { family: 'models', method: 'GET', path: () => '/v1/models', workspace: false },
    { family: 'accelerators', method: 'GET', path: () => '/v1/accelerators', workspace: false },
    {
      family: 'inference endpoints',
      method: 'POST',
      path: () => `/v1/endpoints/${ws}/${GHOST}/v1/completions`,
      body: { prompt: 'hi' },
      workspace: true,
    },
  ];

  const send = (
    method: string,
    target: string,
    body: unknown,
    headers: Record<string, string> = {},
  ) =>
    rawRequest(stack.baseUrl, method, target, {
      headers: { ...(body !== undefined ? json : {}), ...headers },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });

  it.each(families)(
    "$family: an absolute-form target answers 401 without a key and 403 with another workspace's key; with the right key it answers as origin-form does",
    async ({ method, path, body, workspace }) => {
      const absolute = `http://x${path()}`;

      const noKey = await send(method, absolute, body);
      expect(noKey).toMatchObject({ status: 401, body: errorShape('unauthorized') });

      const otherKey = await send(method, absolute, body, bearer(stack.otherKey));
      if (workspace) {
        expect(otherKey).toMatchObject({ status: 403, body: errorShape('forbidden') });
      } else {
        expect(otherKey.status).toBe(200); // a catalog: any known key reads it
      }

      const originForm = await send(method, path(), body, bearer(stack.key));
      const absoluteForm = await send(method, absolute, body, bearer(stack.key));
      expect([401, 403]).not.toContain(originForm.status);
      expect(absoluteForm.status).toBe(originForm.status);
    },
  );

  it('guards the workspace as routed, however it is %-encoded', async () => {
    const encoded = `/v1/workspaces/%${ws.charCodeAt(0).toString(16)}${ws.slice(1)}/deployments`;
    expect(
      (await rawRequest(stack.baseUrl, 'GET', encoded, { headers: bearer(stack.key) })).status,
    ).toBe(200);
    const other = await rawRequest(stack.baseUrl, 'GET', `http://x${encoded}`, {
      headers: bearer(stack.otherKey),
    });
    expect(other).toMatchObject({ status: 403, body: errorShape('forbidden') });
  });

  it('needs a key for paths that match no route (401), and answers 404 in the error shape with one', async () => {
    expect(await rawRequest(stack.baseUrl, 'GET', 'http://x/v2/anything')).toMatchObject({
      status: 401,
      body: errorShape('unauthorized'),
    });
    expect(
      await rawRequest(stack.baseUrl, 'GET', '/v2/anything', { headers: bearer(stack.key) }),
    ).toMatchObject({ status: 404, body: errorShape('not_found') });
  });

  it('keeps /healthz, the OpenAPI document and the docs page open, in either form', async () => {
    for (const path of ['/healthz', '/openapi.json', '/docs/']) {
      expect((await rawRequest(stack.baseUrl, 'GET', path)).status).toBe(200);
      expect((await rawRequest(stack.baseUrl, 'GET', `http://x${path}`)).status).toBe(200);
    }
  });
});

describe('one error shape for the framework errors', () => {
  const expectShape = (
    res: { status: number; headers: Record<string, unknown>; body: unknown },
    status: number,
    code: string,
  ) => {
    expect({ status: res.status, body: res.body }).toEqual({
      status,
      body: { error: { code, message: expect.any(String) as unknown } },
    });
    expect(String(res.headers['content-type'])).toMatch(/^application\/json/);
  };

  it('414 uri_too_long for a path parameter over 100 characters', async () => {
    const res = await rawRequest(stack.baseUrl, 'GET', `${base}/${'n'.repeat(101)}`, {
      headers: bearer(stack.key),
    });
    expectShape(res, 414, 'uri_too_long');
  });

  it('400 bad_request for bad %-encoding in the path', async () => {
    const res = await rawRequest(stack.baseUrl, 'GET', `${base}/%E0%A4%A`, {
      headers: bearer(stack.key),
    });
    expectShape(res, 400, 'bad_request');
  });

  it('413 payload_too_large for a body over 1 MiB', async () => {
    const res = await fetch(`${stack.baseUrl}${base}`, {
      method: 'POST',
      headers: { ...bearer(stack.key), ...json },
      body: JSON.stringify({ name: 'big', tags: { a: 'x'.repeat(2 * 1024 * 1024) } }),
    });
    expectShape(
      {
        status: res.status,
        headers: { 'content-type': res.headers.get('content-type') },
        body: await res.json(),
      },
      413,
      'payload_too_large',
    );
  });

  it('415 unsupported_media_type for a body that is not JSON', async () => {
    const res = await rawRequest(stack.baseUrl, 'POST', base, {
      headers: { ...bearer(stack.key), 'content-type': 'text/plain' },
      body: 'name=x',
    });
    expectShape(res, 415, 'unsupported_media_type');
  });

  it('400 invalid_json for malformed JSON and for an empty body, as JSON or as a merge patch', async () => {
    for (const [method, path, type, body] of [
      ['POST', base, 'application/json', '{"name":'],
      ['PATCH', `${base}/${SUBJECT}`, 'application/merge-patch+json', '{"spec":'],
      ['POST', base, 'application/json', ''],
    ] as const) {
      const res = await rawRequest(stack.baseUrl, method, path, {
        headers: { ...bearer(stack.key), 'content-type': type },
        body,
      });
      expectShape(res, 400, 'invalid_json');
    }
  });

  it('431 headers_too_large for headers over the HTTP limit', async () => {
    const res = await rawRequest(stack.baseUrl, 'GET', base, {
      headers: { ...bearer(stack.key), 'x-padding': 'p'.repeat(20_000) },
    });
    expectShape(res, 431, 'headers_too_large');
  });
});
