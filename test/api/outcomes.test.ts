/**
 * 503 outcomes (api.md "Concurrency and outcomes"): a write Temporal never received says
 * `not_applied`; a write that may have reached it (no worker answered) says `unknown` and tells
 * the client to GET the resource. Real dev servers; the API over HTTP.
 */
import { Client, Connection } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { buildApp } from '../../api/app';
import { DeploymentService } from '../../api/deployment-service';
import { TrafficMeter } from '../../api/metrics/traffic-meter';
import { ReplicaEndpoints } from '../../api/replica-endpoints';
import { dedicatedSpec, TEST_CATALOG } from '../helpers/catalog';
import { FakeProvider } from '../helpers/fake-provider';
import { freePort } from '../helpers/processes';
import { startDevServer, uniqueName } from '../helpers/temporal';

const WORKSPACE = 'outcomes';
const KEY = 'outcomes-key';
/** Short, so a write without an answer fails fast; the outcome does not depend on it. */
const ANSWER_TIMEOUT_MS = 2_000;

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!().catch(() => undefined);
});

/** The API over `connection`, deployments on a task queue no worker polls. */
async function apiOver(connection: Connection): Promise<{
  call: (method: string, path: string, body?: unknown) => Promise<{ status: number; body: Body }>;
}> {
  const client = new Client({ connection });
  const service = new DeploymentService({
    client,
    taskQueue: uniqueName('no-worker'),
    catalog: TEST_CATALOG,
    limitFor: () => 1000,
    answerTimeoutMs: ANSWER_TIMEOUT_MS,
  });
  const app: FastifyInstance = await buildApp({
    service,
    replicas: new ReplicaEndpoints({ dedicated: new FakeProvider(), deployments: service }),
    meter: new TrafficMeter(),
    wake: () => undefined,
    catalog: TEST_CATALOG,
    apiKeys: new Map([[KEY, WORKSPACE]]),
    publicUrl: 'http://127.0.0.1',
  });
  const port = await freePort();
  await app.listen({ host: '127.0.0.1', port });
  cleanups.push(() => app.close());
  return {
    async call(method, path, body) {
      const res = await fetch(`http://127.0.0.1:${port}/v1/workspaces/${WORKSPACE}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${KEY}`,
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
      return { status: res.status, body: (await res.json()) as Body };
    },
  };
}

interface Body {
  error?: { code: string; message: string; details?: { outcome?: string }[] };
}

const outcome = (value: 'unknown' | 'not_applied') => ({
  status: 503,
  body: { error: { code: 'unavailable', details: [{ outcome: value }] } },
});

/** Every kind of write, on deployment `name`. */
const writes = (name: string): [string, string, unknown?][] => [
  ['POST', '/deployments', { name, ...dedicatedSpec() }],
  ['PATCH', `/deployments/${name}`, { spec: { tags: { a: 'b' } } }],
  ['POST', `/deployments/${name}/pause`],
  ['POST', `/deployments/${name}/resume`],
  ['POST', `/deployments/${name}/clone`, { name: `${name}-copy` }],
  ['DELETE', `/deployments/${name}`],
];

describe('503 outcomes of writes', () => {
  it('Temporal unreachable (a closed port): every write answers 503 with outcome not_applied', async () => {
    const connection = Connection.lazy({ address: `127.0.0.1:${await freePort()}` });
    cleanups.push(() => connection.close());
    const { call } = await apiOver(connection);
    for (const [method, path, body] of writes('nowhere')) {
      const res = await call(method, path, body);
      expect({ write: `${method} ${path}`, ...res }).toMatchObject({
        write: `${method} ${path}`,
        ...outcome('not_applied'),
      });
      expect(res.body.error!.message).toMatch(/not applied/);
    }
    // A read has no outcome: 503, try again.
    const read = await call('GET', '/deployments/nowhere');
    expect(read).toMatchObject({ status: 503, body: { error: { code: 'unavailable' } } });
    expect(read.body.error!.details).toBeUndefined();
  });

  it('Temporal stopped while the API runs: writes answer 503 with outcome not_applied', async () => {
    const env: TestWorkflowEnvironment = await startDevServer();
    let stopped = false;
    cleanups.push(async () => {
      if (!stopped) await env.teardown();
    });
    // The API's own connection, as in production: it stays open when the server goes.
    const connection = await Connection.connect({ address: env.address });
    cleanups.push(() => connection.close());
    const { call } = await apiOver(connection);
    expect((await call('GET', '/deployments/gone')).status).toBe(404); // connected and answering

    await env.teardown();
    stopped = true;
    for (const [method, path, body] of writes('gone')) {
      const res = await call(method, path, body);
      expect({ write: `${method} ${path}`, ...res }).toMatchObject({
        write: `${method} ${path}`,
        ...outcome('not_applied'),
      });
    }
  });

  it('no worker polling: a write Temporal received answers 503 with outcome unknown, saying to GET the resource', async () => {
    const env: TestWorkflowEnvironment = await startDevServer();
    cleanups.push(() => env.teardown());
    const connection = await Connection.connect({ address: env.address });
    cleanups.push(() => connection.close());
    const { call } = await apiOver(connection);
    const name = uniqueName('stalled');
    const resource = `/v1/workspaces/${WORKSPACE}/deployments/${name}`;

    // The create starts the workflow, and its admission waits for a worker that never comes.
    const created = await call('POST', '/deployments', { name, ...dedicatedSpec() });
    expect(created).toMatchObject(outcome('unknown'));
    expect(created.body.error!.message).toContain(`GET ${resource}`);

    // Updates reach the workflow and wait for a worker: unknown.
    for (const [method, path] of [
      ['POST', `/deployments/${name}/pause`],
      ['POST', `/deployments/${name}/resume`],
      ['DELETE', `/deployments/${name}`],
    ] as const) {
      const res = await call(method, path);
      expect({ write: `${method} ${path}`, ...res }).toMatchObject({
        write: `${method} ${path}`,
        ...outcome('unknown'),
      });
      expect(res.body.error!.message).toContain(`GET ${resource}`);
    }

    // An edit reads the deployment first; without an answer it never sends the edit.
    const edit = await call('PATCH', `/deployments/${name}`, { spec: { tags: { a: 'b' } } });
    expect(edit).toMatchObject(outcome('not_applied'));
  });
});
