/**
 * Requests in flight across the changes a deployment goes through, on the whole stack: a Temporal
 * dev server, a worker running the real workflows, the API and its gateway, the real local
 * runtime agent and model-server processes. Each test has its own deployment.
 *
 * (How replicas drain is tested piece by piece in drain.test.ts; here the workflows drive it.)
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { replicaSetName } from '../../activities/providers/local';
import { dedicatedSpec } from '../helpers/catalog';
import { waitFor } from '../helpers/harness';
import { modelServerPids, startAgent } from '../helpers/processes';
import { apiClient, startStack, type Stack } from '../helpers/stack';
import { uniqueName } from '../helpers/temporal';

let stack: Stack;
let api: ReturnType<typeof apiClient>;

beforeAll(async () => {
  stack = await startStack();
  api = apiClient(stack);
});
afterAll(async () => stack?.stop());

const base = () => `/v1/workspaces/${stack.workspace}/deployments`;
const view = (name: string) => async () => (await api('GET', `${base()}/${name}`)).body;

/** A deployment of its own, Healthy with `replicas` replicas. */
async function healthy(replicas: number, model = 'fast-model'): Promise<string> {
  const name = uniqueName('drain');
  const created = await api('POST', base(), {
    name,
    ...dedicatedSpec({
      model,
      scaling: {
        minReplicas: replicas,
        maxReplicas: replicas,
        metric: 'concurrency',
        threshold: 8,
      },
    }),
  });
  expect(created.status).toBe(202);
  await waitFor(
    view(name),
    (v) => v.health === 'Healthy' && (v.replicas as { ready: number }).ready === replicas,
    'Healthy',
    30_000,
  );
  return name;
}

/** An inference request through the API's gateway: its status and the replica that answered. */
async function infer(name: string, maxTokens: number) {
  const res = await fetch(
    `${stack.baseUrl}/v1/endpoints/${stack.workspace}/${name}/v1/completions`,
    {
      method: 'POST',
      headers: { authorization: `Bearer ${stack.key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ prompt: 'hello', max_tokens: maxTokens }),
    },
  );
  const text = await res.text();
  return { status: res.status, replica: res.headers.get('x-replica-id') ?? text };
}

/** Sends `count` 3-second generations; resolves once the replicas are working on all of them. */
async function generations(name: string, count: number) {
  const id = `${stack.workspace}/${name}`;
  const { urls } = await stack.provider.endpoints(id);
  const answers = Promise.all(Array.from({ length: count }, () => infer(name, 1500)));
  await waitFor(
    async () => {
      let running = 0;
      for (const url of urls) {
        const metrics = await (await fetch(`${url}/metrics`)).text();
        running += Number(/^vllm:num_requests_running\{[^}]*\} (\d+)/m.exec(metrics)?.[1] ?? 0);
      }
      return running;
    },
    (n) => n === count,
    `${count} generations in flight`,
  );
  return { answers };
}

describe('requests in flight while the workflows change the replicas', () => {
  it('an edit to maxReplicas 1 (scale-in 2 -> 1) with eight generations in flight: 0 lost', async () => {
    const name = await healthy(2);
    const { answers } = await generations(name, 8);
    const edited = await api('PATCH', `${base()}/${name}`, {
      spec: { scaling: { minReplicas: 1, maxReplicas: 1 } },
    });
    expect(edited.status).toBe(202);
    await waitFor(
      view(name),
      (v) => (v.replicas as { desired: number }).desired === 1,
      'scaled in to 1',
    );
    const results = await answers;
    expect(results.map((r) => r.status)).toEqual(Array(8).fill(200));
    expect(new Set(results.map((r) => r.replica)).size).toBe(2);
  });

  it('a rollout (new model) with eight generations in flight on the old revision: 0 lost, the old revision removed', async () => {
    const name = await healthy(2);
    const id = `${stack.workspace}/${name}`;
    const { answers } = await generations(name, 8);
    await api('PATCH', `${base()}/${name}`, { spec: { model: 'fast-model-v2' } });
    await waitFor(
      view(name),
      (v) => v.revision === 2 && v.state === 'running' && v.health === 'Healthy',
      'rolled out',
      30_000,
    );
    const results = await answers;
    expect(results.map((r) => r.status)).toEqual(Array(8).fill(200));
    expect(results.every((r) => r.replica.startsWith(`${replicaSetName(id, 1)}/`))).toBe(true);
    expect((await stack.provider.listRevisions(id)).map((r) => r.revision)).toEqual([2]);
    expect((await infer(name, 1)).replica).toMatch(new RegExp(`^${replicaSetName(id, 2)}/`));
  });

  // Pause runs the same removal (removeDeployment) as delete; through the whole stack it is
  // left to the pause tests of the workflow (issue 8, item 1), here delete.
  it('delete with generations in flight: they are answered, then the replicas are gone', async () => {
    const name = await healthy(2);
    const id = `${stack.workspace}/${name}`;
    const { answers } = await generations(name, 4);
    expect((await api('DELETE', `${base()}/${name}`)).status).toBe(202);
    expect((await answers).map((r) => r.status)).toEqual(Array(4).fill(200));
    await waitFor(
      async () => (await api('GET', `${base()}/${name}`)).status,
      (status) => status === 404,
      'deleted',
      30_000,
    );
    expect(await stack.provider.listRevisions(id)).toEqual([]);
    expect(modelServerPids(`${replicaSetName(id, 1)}/`)).toEqual([]);
  });
});

describe('the gateway while the local runtime agent is down', () => {
  it('keeps serving inference from the last known replicas (they still run), and logs it', async () => {
    const name = await healthy(2);
    const id = `${stack.workspace}/${name}`;
    expect((await infer(name, 1)).status).toBe(200);

    await stack.agent.stop('SIGKILL');
    const fallbacks = () =>
      stack.gatewayLog.filter((line) =>
        line.startsWith(`replicas of ${id}: the runtime cannot be reached`),
      );
    try {
      // The gateway reuses the replicas it knows for up to a second, then asks the runtime again:
      // it is down, and the replicas last seen are used (and logged).
      const statuses: number[] = [];
      await waitFor(
        async () => {
          statuses.push((await infer(name, 1)).status);
          return fallbacks().length;
        },
        (n) => n > 0,
        'the gateway asking the runtime again',
      );
      const results = await Promise.all(Array.from({ length: 6 }, () => infer(name, 1)));
      statuses.push(...results.map((r) => r.status));
      expect(statuses).toEqual(Array(statuses.length).fill(200));
      expect(new Set(results.map((r) => r.replica)).size).toBe(2);
      // Rate-limited: one line for all these requests.
      expect(fallbacks()).toHaveLength(1);
      expect(fallbacks()[0]).toMatch(/is not reachable.*using the 2 endpoint\(s\) last seen/);
    } finally {
      stack.agent = await startAgent(stack.dataDir, stack.agentPort);
    }
    // Back: the agent re-adopts the replicas, and the gateway hears it once it asks again.
    await waitFor(
      () => stack.provider.endpoints(id),
      (e) => e.urls.length === 2,
      'the agent answering again',
    );
    const statuses: number[] = [];
    await waitFor(
      async () => {
        statuses.push((await infer(name, 1)).status);
        return stack.gatewayLog;
      },
      (log) => log.includes(`replicas of ${id}: the runtime answers again`),
      'the gateway hearing the runtime again',
    );
    expect(statuses).toEqual(Array(statuses.length).fill(200));
  });
});
