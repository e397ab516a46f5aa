/**
 * Autoscaling end to end on the local runtime: real traffic through the gateway is measured, the
 * collector signals the workflow, the workflow scales real replica processes out and back in;
 * a deployment scaled to zero answers a request once a replica has started.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { dedicatedSpec } from '../helpers/catalog';
import { waitFor } from '../helpers/harness';
import { modelServerPids } from '../helpers/processes';
import { closedLoop } from '../helpers/load';
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

const view = (name: string) => async () =>
  (await api('GET', `${base}/${name}`)).body as {
    replicas: { desired: number; ready: number };
    health: string;
  };
const events = async (name: string) =>
  ((await api('GET', `${base}/${name}/events?pageSize=500`)).body.items ?? []) as {
    type: string;
    reason: string;
    message: string;
  }[];

/** Keeps `concurrency` requests in flight through the gateway until stopped. */
const load = (name: string, concurrency: number) =>
  closedLoop(
    () => `${stack.baseUrl}/v1/endpoints/${stack.workspace}/${name}/v1/completions`,
    concurrency,
    { authorization: `Bearer ${stack.key}` },
  );

it('scales out under load through the gateway and back in when it stops', async () => {
  await api('POST', base, {
    name: 'busy',
    ...dedicatedSpec({
      scaling: { minReplicas: 1, maxReplicas: 3, metric: 'concurrency', threshold: 2 },
      autoscalingPolicy: {
        scaleUp: { stabilizationWindowSeconds: 0 },
        scaleDown: { stabilizationWindowSeconds: 2 },
      },
    }),
  });
  await waitFor(view('busy'), (v) => v.health === 'Healthy', 'Healthy');

  const traffic = load('busy', 8);
  await waitFor(
    view('busy'),
    (v) => v.replicas.desired === 3 && v.replicas.ready === 3,
    'scaled out to 3 ready replicas',
    30_000,
  );
  expect(await traffic.stop()).toBeGreaterThan(0);
  expect(stack.replicaPids().length).toBeGreaterThanOrEqual(3);

  await waitFor(view('busy'), (v) => v.replicas.desired === 1, 'scaled back in', 30_000);
  const scaling = (await events('busy')).filter(
    (e) => e.type === 'ScaleOut' || e.type === 'ScaleIn',
  );
  expect(scaling.map((e) => e.type)).toContain('ScaleOut');
  expect(scaling.at(-1)).toMatchObject({ type: 'ScaleIn' });
  expect(scaling.find((e) => e.type === 'ScaleOut')?.message).toMatch(
    /concurrency [\d.]+ in flight per replica/,
  );
}, 90_000);

it('answers a request that arrives at zero replicas once a replica has started', async () => {
  await api('POST', base, {
    name: 'sleepy',
    ...dedicatedSpec({
      scaling: {
        minReplicas: 0,
        maxReplicas: 2,
        metric: 'concurrency',
        threshold: 4,
        scaleToZero: { enabled: true, cooldownSeconds: 10 },
      },
    }),
  });
  await waitFor(view('sleepy'), (v) => v.health === 'Healthy', 'Healthy');
  // One request, then silence: after the cooldown the deployment scales to zero.
  expect(
    (
      await api('POST', `/v1/endpoints/${stack.workspace}/sleepy/v1/completions`, {
        prompt: 'hi',
        max_tokens: 2,
      })
    ).status,
  ).toBe(200);
  await waitFor(
    view('sleepy'),
    (v) => v.replicas.desired === 0 && v.replicas.ready === 0,
    'scaled to zero',
    40_000,
  );
  expect(modelServerPids(`${stack.workspace}--sleepy--`)).toEqual([]); // no replica process left

  const started = Date.now();
  const res = await api('POST', `/v1/endpoints/${stack.workspace}/sleepy/v1/completions`, {
    prompt: 'wake up',
    max_tokens: 2,
  });
  expect(res.status).toBe(200);
  expect(res.body.object).toBe('text_completion');
  expect(Date.now() - started).toBeGreaterThanOrEqual(300); // it waited for a replica to load (0.3 s)
  const reasons = (await events('sleepy')).map((e) => e.reason);
  expect(reasons).toEqual(expect.arrayContaining(['ScaledToZero', 'WokenByRequest']));
}, 90_000);

it('answers 503 with Retry-After until the next window when scaled to zero outside its schedule', async () => {
  const hour = (new Date().getUTCHours() + 12) % 24; // a window that is surely closed now
  await api('POST', base, {
    name: 'office',
    ...dedicatedSpec({
      scaling: { minReplicas: 0, maxReplicas: 2, metric: 'concurrency', threshold: 4 },
      schedule: {
        scaleToZeroOutsideWindows: true,
        windows: [
          {
            timezone: 'UTC',
            startCron: `0 ${hour} * * *`,
            endCron: `30 ${hour} * * *`,
            minPods: 1,
          },
        ],
      },
    }),
  });
  await waitFor(
    view('office'),
    (v) => v.replicas.desired === 0,
    'scaled to zero outside the window',
    30_000,
  );
  const res = await fetch(`${stack.baseUrl}/v1/endpoints/${stack.workspace}/office/v1/models`, {
    headers: { authorization: `Bearer ${stack.key}` },
  });
  expect(res.status).toBe(503);
  const body = (await res.json()) as { error: { code: string; message: string } };
  expect(body.error).toMatchObject({
    code: 'unavailable',
    message: expect.stringMatching(/outside its schedule windows/),
  });
  const retryAfter = Number(res.headers.get('retry-after'));
  const next = new Date();
  next.setUTCHours(hour, 0, 0, 0);
  if (next.getTime() <= Date.now()) next.setUTCDate(next.getUTCDate() + 1);
  expect(Math.abs(retryAfter - (next.getTime() - Date.now()) / 1000)).toBeLessThan(5);
  const reasons = (await events('office')).map((e) => e.reason);
  expect(reasons).toContain('OutsideScheduleWindows');
}, 60_000);
