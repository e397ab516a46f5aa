/**
 * The REST API against the real stack: dev server, worker, local runtime agent with real
 * model-server processes, the API over HTTP. Follows api.md: paths, fields, status codes, errors.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dedicatedSpec } from '../helpers/catalog';
import { waitFor } from '../helpers/harness';
import { apiClient, startStack, type Stack } from '../helpers/stack';

let stack: Stack;
let api: ReturnType<typeof apiClient>;
let base: string;

beforeAll(async () => {
  stack = await startStack();
  api = apiClient(stack);
  base = `/v1/workspaces/${stack.workspace}/deployments`;
});
afterAll(async () => stack?.stop());

const healthy = (name: string) =>
  waitFor(
    async () => (await api('GET', `${base}/${name}`)).body,
    (b) => b.health === 'Healthy' && b.state === 'running',
    `${name} Healthy`,
  );

describe('authentication', () => {
  it.each([
    ['no key', undefined, 401, 'unauthorized'],
    ['an unknown key', 'nope', 401, 'unauthorized'],
  ])('answers %s with %s', async (_what, key, status, code) => {
    const res = await fetch(`${stack.baseUrl}${base}`, {
      headers: key ? { authorization: `Bearer ${key}` } : {},
    });
    expect(res.status).toBe(status);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe(code);
  });

  it('forbids a key outside its workspace (403), for the API and the gateway alike', async () => {
    const other = apiClient(stack, stack.otherKey);
    expect((await other('GET', base)).status).toBe(403);
    expect((await other('GET', `/v1/endpoints/${stack.workspace}/x/v1/models`)).status).toBe(403);
  });

  it('serves /healthz, the OpenAPI document and the docs page without a key', async () => {
    expect((await fetch(`${stack.baseUrl}/healthz`)).status).toBe(200);
    const openapi = (await (await fetch(`${stack.baseUrl}/openapi.json`)).json()) as {
      paths: Record<string, unknown>;
    };
    expect(Object.keys(openapi.paths)).toEqual(
      expect.arrayContaining([
        '/v1/workspaces/{workspace}/deployments',
        '/v1/workspaces/{workspace}/deployments/{name}/events',
        '/v1/models',
        '/v1/accelerators',
        '/v1/workspaces/{workspace}/quotas',
      ]),
    );
    expect((await fetch(`${stack.baseUrl}/docs/`)).status).toBe(200);
  });
});

describe('catalogs and quotas', () => {
  it('lists models and accelerators as { items }', async () => {
    const models = await api('GET', '/v1/models');
    expect(models.status).toBe(200);
    expect(models.body.items).toEqual(
      expect.arrayContaining([expect.objectContaining({ id: 'fast-model' })]),
    );
    const accelerators = await api('GET', '/v1/accelerators?pageSize=2');
    expect(accelerators.body.items).toHaveLength(2);
    expect(accelerators.body.nextPageToken).toEqual(expect.any(String));
    const next = await api(
      'GET',
      `/v1/accelerators?pageSize=2&pageToken=${accelerators.body.nextPageToken as string}`,
    );
    expect(next.body.items).not.toEqual(accelerators.body.items);
  });
});

describe('deployments', () => {
  it('creates (202 + Location), becomes Healthy, serves inference through the gateway, and reserves quota', async () => {
    const created = await api('POST', base, {
      name: 'llm',
      ...dedicatedSpec({
        model: 'fast-model',
        cloud: { type: 'dedicated', accelerator: { type: 'H100', count: 1 } },
        scaling: { minReplicas: 2, maxReplicas: 3 },
        tags: { env: 'prod', team: 'search' },
      }),
    });
    expect(created.status).toBe(202);
    expect(created.headers.get('location')).toBe(`${base}/llm`);
    expect(created.body).toMatchObject({
      name: 'llm',
      workspace: stack.workspace,
      revision: 1,
      url: `${stack.baseUrl}/v1/endpoints/${stack.workspace}/llm`,
    });
    expect(created.body.spec).toMatchObject({
      scaling: { scaleToZero: { enabled: false, cooldownSeconds: 300 } },
      readinessTimeoutSeconds: 20,
    });

    const ready = await healthy('llm');
    expect(ready.replicas).toEqual({ desired: 2, ready: 2 });
    expect(stack.replicaPids()).toHaveLength(2);

    const replicas = new Set<string>();
    for (let i = 0; i < 4; i++) {
      const res = await fetch(
        `${stack.baseUrl}/v1/endpoints/${stack.workspace}/llm/v1/completions`,
        {
          method: 'POST',
          headers: { authorization: `Bearer ${stack.key}`, 'content-type': 'application/json' },
          body: JSON.stringify({ model: 'fast-model', prompt: 'hi', max_tokens: 3 }),
        },
      );
      expect(res.status).toBe(200);
      expect(((await res.json()) as { object: string }).object).toBe('text_completion');
      replicas.add(res.headers.get('x-replica-id') ?? '');
    }
    expect(replicas.size).toBe(2); // one after another: both ready replicas take turns

    const quotas = await api('GET', `/v1/workspaces/${stack.workspace}/quotas`);
    expect(quotas.body.items).toContainEqual({
      accelerator: 'H100',
      limit: 1000,
      reserved: 3,
      available: 997,
    });
  });

  it('answers 409 conflict for a name that is taken', async () => {
    const again = await api('POST', base, { name: 'llm', ...dedicatedSpec() });
    expect(again.status).toBe(409);
    expect(again.body).toMatchObject({ error: { code: 'conflict' } });
  });

  it('answers 400 invalid_spec listing every violation with its path, and creates nothing', async () => {
    const bad = await api('POST', base, {
      name: 'Bad_Name',
      ...dedicatedSpec({
        scaling: { minReplicas: 3, maxReplicas: 2, rapidAutoscaling: true },
        ssh: {
          users: Array.from({ length: 6 }, (_, i) => ({ username: `u${i}`, keySecret: `k${i}` })),
        },
      }),
      cloud: {
        type: 'byoc',
        cluster: 'c',
        nodeGroup: 'g',
        resources: { cpuRequest: '8', cpuLimit: '4', memoryRequest: '1Gi', memoryLimit: '2Gi' },
      },
    });
    expect(bad.status).toBe(400);
    const paths = (bad.body.error as { details: { path: string }[] }).details.map((d) => d.path);
    expect(paths).toEqual(
      expect.arrayContaining([
        'name',
        'scaling.minReplicas',
        'ssh.users',
        'cloud.resources.cpuRequest',
      ]),
    );
    expect((await api('GET', `${base}/bad_name`)).status).toBe(400);
  });

  it('rejects an unknown model against the catalog (400, path model)', async () => {
    const bad = await api('POST', base, {
      name: 'unknown-model',
      ...dedicatedSpec({ model: 'gpt-17' }),
    });
    expect(bad.status).toBe(400);
    expect(bad.body).toMatchObject({
      error: { code: 'invalid_spec', details: [{ path: 'model' }] },
    });
  });

  it('lists with tag, health and state filters and pages through the results', async () => {
    await api('POST', base, { name: 'other', ...dedicatedSpec({ tags: { env: 'dev' } }) });
    await healthy('other');
    const byTag = await api('GET', `${base}?tag=env:prod&tag=team:search`);
    expect(byTag.body.items?.map((d) => (d as { name: string }).name)).toEqual(['llm']);
    // A key alone matches any value of that key.
    const byKey = await api('GET', `${base}?tag=team`);
    expect(byKey.body.items?.map((d) => (d as { name: string }).name)).toEqual(['llm']);
    const anyEnv = await api('GET', `${base}?tag=env`);
    expect(anyEnv.body.items?.map((d) => (d as { name: string }).name).sort()).toEqual([
      'llm',
      'other',
    ]);
    expect((await api('GET', `${base}?tag=team&tag=env:dev`)).body.items).toEqual([]);
    const all = await api('GET', `${base}?health=Healthy&state=running`);
    expect(all.body.items?.map((d) => (d as { name: string }).name).sort()).toEqual([
      'llm',
      'other',
    ]);
    const first = await api('GET', `${base}?pageSize=1`);
    expect(first.body.items).toHaveLength(1);
    const second = await api(
      'GET',
      `${base}?pageSize=1&pageToken=${first.body.nextPageToken as string}`,
    );
    expect(second.body.items).toHaveLength(1);
    expect(second.body.items).not.toEqual(first.body.items);
    expect((await api('GET', `${base}?health=Sideways`)).status).toBe(400);
  });

  it('edits with a merge patch: scaling in place (202), a model change as a rolling update', async () => {
    const scale = await api(
      'PATCH',
      `${base}/other`,
      JSON.stringify({ spec: { scaling: { maxReplicas: 2, minReplicas: 2 } } }),
      { 'content-type': 'application/merge-patch+json' },
    );
    expect(scale.status).toBe(202);
    expect(scale.body).toMatchObject({ revision: 1 });
    await waitFor(
      async () => (await api('GET', `${base}/other`)).body,
      (b) => (b.replicas as { ready: number }).ready === 2,
      '2 ready',
    );

    const model = await api('PATCH', `${base}/other`, { spec: { model: 'fast-model-v2' } });
    expect(model.body).toMatchObject({ revision: 2, state: 'updating' });
    expect((await api('PATCH', `${base}/other`, { spec: { tags: { a: 'b' } } })).status).toBe(409);
    const done = await healthy('other');
    expect(done).toMatchObject({ revision: 2, spec: { model: 'fast-model-v2' } });
    const events = await api('GET', `${base}/other/events`);
    expect(events.body.items?.map((e) => (e as { reason: string }).reason)).toEqual(
      expect.arrayContaining([
        'ScaledOut',
        'RevisionCreated',
        'TrafficSwitched',
        'RolloutSucceeded',
      ]),
    );
    const readOnly = await api('PATCH', `${base}/other`, { name: 'renamed' });
    expect(readOnly).toMatchObject({
      status: 400,
      body: { error: { code: 'invalid_spec', details: [{ path: 'name' }] } },
    });
  });

  it('pauses (gateway 503, replicas gone), resumes, and answers 409 for a second pause', async () => {
    expect((await api('POST', `${base}/other/pause`)).status).toBe(202);
    expect((await api('POST', `${base}/other/pause`)).status).toBe(409);
    await waitFor(
      async () => (await api('GET', `${base}/other`)).body,
      (b) => b.health === 'NotPresent',
      'NotPresent',
    );
    const unavailable = await api('GET', `/v1/endpoints/${stack.workspace}/other/v1/models`);
    expect(unavailable).toMatchObject({ status: 503, body: { error: { code: 'unavailable' } } });
    expect((unavailable.body.error as { message: string }).message).toMatch(/paused/);
    expect((await api('POST', `${base}/other/resume`)).status).toBe(202);
    await healthy('other');
    expect((await api('GET', `/v1/endpoints/${stack.workspace}/other/v1/models`)).status).toBe(200);
  });

  it('clones with overrides (202 + Location)', async () => {
    const clone = await api('POST', `${base}/other/clone`, {
      name: 'other-copy',
      spec: { scaling: { minReplicas: 1 }, tags: { env: 'staging' } },
    });
    expect(clone.status).toBe(202);
    expect(clone.headers.get('location')).toBe(`${base}/other-copy`);
    expect(clone.body.spec).toMatchObject({
      model: 'fast-model-v2',
      scaling: { minReplicas: 1, maxReplicas: 2 },
      tags: { env: 'staging' },
    });
  });

  it('deletes: 202, replicas gone, then 404 with the error shape', async () => {
    expect((await api('DELETE', `${base}/other-copy`)).status).toBe(202);
    await waitFor(
      async () => (await api('GET', `${base}/other-copy`)).status,
      (s) => s === 404,
      '404 after delete',
    );
    expect((await api('GET', `${base}/other-copy`)).body).toMatchObject({
      error: { code: 'not_found' },
    });
    expect((await api('POST', `${base}/other-copy/pause`)).status).toBe(404);
    expect(stack.replicaPids().every((pid) => pid > 0)).toBe(true);
  });
});
