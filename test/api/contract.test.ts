/**
 * The API's trust contract (api.md "Authentication", "Errors", "Concurrency and outcomes"),
 * against the real stack: authentication decided by route for any request-target form, ETag and
 * If-Match with no lost edit, list parameters and nesting depth refused with 400 at once, and one
 * error shape for the framework's own errors.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dedicatedSpec } from '../helpers/catalog';
import { waitFor } from '../helpers/harness';
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
    ...dedicatedSpec({ tags: { env: 'prod', note: "it's fine" } }),
  });
  expect(created.status).toBe(202);
});
afterAll(async () => stack?.stop());

/** The deployment once it runs (a read, with its headers). */
const running = (name: string) =>
  waitFor(
    () => api('GET', `${base}/${name}`),
    (res) => res.body.state === 'running',
    `${name} running`,
  );

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

describe('inference endpoints', () => {
  it('pass the path on to the replica as the client encoded it (%3F, %23, %5C stay in the path)', async () => {
    await waitFor(
      async () => (await api('GET', `${base}/${SUBJECT}`)).body,
      (b) => b.health === 'Healthy',
      `${SUBJECT} Healthy`,
    );
    for (const target of [
      `/v1/endpoints/${ws}/${SUBJECT}/v2/a%3Fb%23c`,
      `http://x/v1/endpoints/${ws}/${SUBJECT}/v2/a%3Fb%23c?x=1`,
      `/v1/endpoints/${ws}/${SUBJECT}/v2/%5C%C2%81`,
    ]) {
      const res = await rawRequest(stack.baseUrl, 'GET', target, { headers: bearer(stack.key) });
      // The simulated model server answers an unknown path with 404 naming the path it got.
      const path = target.replace(/^.*\/v1\/endpoints\/[^/]+\/[^/]+/, '').split('?')[0]!;
      expect({ target, status: res.status, body: res.body }).toMatchObject({
        target,
        status: 404,
        body: { error: { message: `no route for GET ${path}` } },
      });
    }
  });
});

describe('ETag and If-Match', () => {
  const etagOf = (body: Record<string, unknown>) => `"${body.version as string}"`;

  it('every deployment read and every 202 carries ETag: "<version>", and the schema has version', async () => {
    const created = await api('POST', base, { name: 'tagged', ...dedicatedSpec() });
    expect(created.status).toBe(202);
    expect(created.body.version).toEqual(expect.any(String));
    expect(created.headers.get('etag')).toBe(etagOf(created.body));

    const read = await running('tagged');
    expect(read.headers.get('etag')).toBe(etagOf(read.body));
    const pause = await api('POST', `${base}/tagged/pause`);
    expect(pause.status).toBe(202);
    expect(pause.headers.get('etag')).toBe(etagOf(pause.body));
    expect(pause.headers.get('etag')).not.toBe(read.headers.get('etag'));
    const resume = await api('POST', `${base}/tagged/resume`);
    expect(resume.headers.get('etag')).toBe(etagOf(resume.body));
    const clone = await api('POST', `${base}/tagged/clone`, { name: 'tagged-copy' });
    expect(clone.status).toBe(202);
    expect(clone.headers.get('etag')).toBe(etagOf(clone.body));
    const list = await api('GET', base);
    expect(list.body.items).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ name: 'tagged', version: expect.any(String) as unknown }),
      ]),
    );

    const openapi = (await (await fetch(`${stack.baseUrl}/openapi.json`)).json()) as {
      paths: Record<string, Record<string, { responses: Record<string, unknown> }>>;
    };
    const schema = JSON.stringify(
      openapi.paths['/v1/workspaces/{workspace}/deployments/{name}']!.get!.responses['200'],
    );
    expect(schema).toContain('"version"');
  });

  it('PATCH answers 202 with the new ETag, with or without a matching If-Match', async () => {
    await api('POST', base, { name: 'edited', ...dedicatedSpec() });
    const read = await running('edited');
    const plain = await api('PATCH', `${base}/edited`, { spec: { tags: { step: '1' } } });
    expect(plain.status).toBe(202);
    expect(plain.headers.get('etag')).toBe(etagOf(plain.body));
    expect(plain.headers.get('etag')).not.toBe(read.headers.get('etag'));
    const matched = await api(
      'PATCH',
      `${base}/edited`,
      { spec: { tags: { step: '2' } } },
      {
        'if-match': plain.headers.get('etag')!,
      },
    );
    expect(matched.status).toBe(202);
    expect(matched.body.spec).toMatchObject({ tags: { step: '2' } });
    expect(matched.headers.get('etag')).not.toBe(plain.headers.get('etag'));
  });

  it('answers 412 precondition_failed to a stale If-Match on PATCH, pause and DELETE, and changes nothing', async () => {
    await api('POST', base, { name: 'guarded', ...dedicatedSpec({ tags: { keep: 'me' } }) });
    const before = await running('guarded');
    const stale = { 'if-match': '"not-the-version"' };

    const patch = await api('PATCH', `${base}/guarded`, { spec: { tags: { keep: 'no' } } }, stale);
    expect(patch).toMatchObject({ status: 412, body: errorShape('precondition_failed') });
    const pause = await api('POST', `${base}/guarded/pause`, undefined, stale);
    expect(pause).toMatchObject({ status: 412, body: errorShape('precondition_failed') });
    const del = await api('DELETE', `${base}/guarded`, undefined, stale);
    expect(del).toMatchObject({ status: 412, body: errorShape('precondition_failed') });
    const weak = await api('POST', `${base}/guarded/pause`, undefined, {
      'if-match': `W/${before.headers.get('etag')!}`,
    });
    expect(weak.status).toBe(412); // a weak tag never matches (RFC 9110)

    const after = await api('GET', `${base}/guarded`);
    expect(after.body.version).toBe(before.body.version);
    expect(after.body.spec).toEqual(before.body.spec);
    expect(after.body.state).toBe(before.body.state);
  });

  it('accepts a matching If-Match (202) on pause, resume and DELETE, each with a new ETag', async () => {
    await api('POST', base, { name: 'matched', ...dedicatedSpec() });
    let etag = (await running('matched')).headers.get('etag')!;
    for (const [method, path] of [
      ['POST', `${base}/matched/pause`],
      ['POST', `${base}/matched/resume`],
      ['DELETE', `${base}/matched`],
    ] as const) {
      const res = await api(method, path, undefined, { 'if-match': etag });
      expect({ path, status: res.status }).toEqual({ path, status: 202 });
      expect(res.headers.get('etag')).not.toBe(etag);
      etag = res.headers.get('etag')!;
    }
  });

  it('answers 400 naming the header for a malformed If-Match', async () => {
    const res = await api('POST', `${base}/${SUBJECT}/pause`, undefined, { 'if-match': 'abc' });
    expect(res).toMatchObject({
      status: 400,
      body: { error: { code: 'invalid_request', details: [{ path: 'headers.if-match' }] } },
    });
  });

  it('loses no change across 20 concurrent PATCH pairs (tags.a and tags.b at once)', async () => {
    await api('POST', base, { name: 'concurrent', ...dedicatedSpec() });
    await running('concurrent'); // edits wait for the create to be admitted and brought up
    const lost: string[] = [];
    for (let round = 0; round < 20; round++) {
      const [a, b] = await Promise.all([
        api('PATCH', `${base}/concurrent`, { spec: { tags: { a: `a${round}` } } }),
        api('PATCH', `${base}/concurrent`, { spec: { tags: { b: `b${round}` } } }),
      ]);
      expect([a.status, b.status]).toEqual([202, 202]);
      const tags = (await api('GET', `${base}/concurrent`)).body.spec as { tags: object };
      if ((tags.tags as Record<string, string>).a !== `a${round}`) lost.push(`round ${round}: a`);
      if ((tags.tags as Record<string, string>).b !== `b${round}`) lost.push(`round ${round}: b`);
    }
    expect(lost).toEqual([]);
  });
});

describe('list parameters answer 400 at once, naming the parameter', () => {
  it('refuses a page token the API did not make, or made for another list', async () => {
    const first = await api('GET', `${base}?tag=env:prod&pageSize=1`);
    expect(first.status).toBe(200);
    const tokens = ['abcd', '1.AAAA.AAAAAAAAAAAAAAAA', `${'x'.repeat(40)}`];
    for (const token of tokens) {
      const res = await api('GET', `${base}?pageToken=${encodeURIComponent(token)}`);
      expect({ token, res: res.body }).toMatchObject({
        token,
        res: { error: { code: 'invalid_request', details: [{ path: 'query.pageToken' }] } },
      });
      expect(res.status).toBe(400);
    }
    const events = await api('GET', `${base}/${SUBJECT}/events?pageToken=abcd`);
    expect(events).toMatchObject({ status: 400, body: errorShape('invalid_request') });
    const models = await api('GET', '/v1/models?pageToken=abcd');
    expect(models).toMatchObject({ status: 400, body: errorShape('invalid_request') });
  });

  it('refuses a page token of another list (other filters)', async () => {
    await api('POST', base, { name: 'second', ...dedicatedSpec({ tags: { env: 'dev' } }) });
    await waitFor(
      async () => (await api('GET', `${base}?pageSize=1`)).body.nextPageToken,
      (token) => typeof token === 'string',
      'a second page',
    );
    const token = (await api('GET', `${base}?pageSize=1`)).body.nextPageToken as string;
    expect((await api('GET', `${base}?pageSize=1&pageToken=${token}`)).status).toBe(200);
    const elsewhere = await api('GET', `${base}?pageSize=1&state=running&pageToken=${token}`);
    expect(elsewhere).toMatchObject({
      status: 400,
      body: { error: { code: 'invalid_request', details: [{ path: 'query.pageToken' }] } },
    });
  });

  it.each([
    ['a double quote in the key', 'a"b:c'],
    ['only a double quote', '"'],
    ['NUL in the value', 'env:a\u0000b'],
    ['a double quote in the value', 'quote:say "hi"'],
    ['a backslash in the value', 'path:C:\\models'],
    ['a newline in the value', 'env:a\nb'],
    ['NUL in the key', 'e\u0000nv:a'],
    ['a key alone that breaks the key rules', 'e nv'],
    ['an empty key', ':prod'],
    ['a key over 63 characters', `${'k'.repeat(64)}:v`],
    ['a value over 256 characters', `env:${'v'.repeat(257)}`],
  ])('refuses a tag filter with %s', async (_what, tag) => {
    const res = await api('GET', `${base}?tag=${encodeURIComponent(tag)}`);
    expect(res).toMatchObject({
      status: 400,
      body: { error: { code: 'invalid_request', details: [{ path: 'query.tag' }] } },
    });
  });

  it('refuses more tag filters than a spec may have tags', async () => {
    const query = Array.from({ length: 33 }, (_, i) => `tag=k${i}:v`).join('&');
    expect((await api('GET', `${base}?${query}`)).status).toBe(400);
  });

  it("finds a tag whose value holds a quote the query language escapes (it's)", async () => {
    const found = await waitFor(
      async () => (await api('GET', `${base}?tag=${encodeURIComponent("note:it's fine")}`)).body,
      (body) => (body.items ?? []).length === 1,
      'the deployment tagged with an apostrophe',
    );
    expect(found.items).toEqual([expect.objectContaining({ name: SUBJECT })]);
  });
});

describe('nesting depth', () => {
  const nested = (depth: number) => `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;

  it('answers 400 naming the rule for a PATCH nested 10,000 levels deep, and changes nothing', async () => {
    const before = await api('GET', `${base}/${SUBJECT}`);
    const res = await api('PATCH', `${base}/${SUBJECT}`, `{"spec":{"tags":${nested(10_000)}}}`);
    expect(res).toMatchObject({
      status: 400,
      body: { error: { code: 'invalid_spec', details: [{ path: '' }] } },
    });
    expect((res.body.error as { message: string }).message).toMatch(/deeper than 32 levels/);
    expect((await api('GET', `${base}/${SUBJECT}`)).body.version).toBe(before.body.version);
  });

  it('answers 400 naming the rule for a clone whose spec override is nested 10,000 levels deep', async () => {
    const res = await api(
      'POST',
      `${base}/${SUBJECT}/clone`,
      `{"name":"deep-clone","spec":{"tags":${nested(10_000)}}}`,
    );
    expect(res).toMatchObject({
      status: 400,
      body: { error: { code: 'invalid_spec', details: [{ path: 'spec' }] } },
    });
    expect((res.body.error as { message: string }).message).toMatch(/deeper than 32 levels/);
    expect((await api('GET', `${base}/deep-clone`)).status).toBe(404);
  });

  it('answers 400 for a create body nested 10,000 levels deep', async () => {
    const res = await api('POST', base, `{"name":"deep","tags":${nested(10_000)}}`);
    expect(res).toMatchObject({ status: 400, body: errorShape('invalid_spec') });
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
    expect((res.body as { error: { message: string } }).error.message).toBe(
      `unsupported content-type: the body was sent as "text/plain"; send application/json, e.g. curl -H 'Content-Type: application/json'`,
    );
    const patch = await rawRequest(stack.baseUrl, 'PATCH', `${base}/${SUBJECT}`, {
      headers: { ...bearer(stack.key), 'content-type': 'application/x-www-form-urlencoded' },
      body: 'spec=x',
    });
    expectShape(patch, 415, 'unsupported_media_type');
    expect((patch.body as { error: { message: string } }).error.message).toContain(
      "send application/merge-patch+json (or application/json), e.g. curl -H 'Content-Type: application/merge-patch+json'",
    );
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
