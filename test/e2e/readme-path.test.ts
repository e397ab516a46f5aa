/**
 * The README path, end to end, on the stack exactly as `npm start` runs it (dist/scripts/start.js):
 * create a deployment, watch it become Healthy, send inference requests, edit it (a rolling
 * update visible as a child workflow), pause, resume, clone, delete; then Ctrl-C the stack
 * (nothing left running) and start it again on the same data (deployments come back).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { waitFor } from '../helpers/harness';
import {
  DIST,
  freePort,
  killAll,
  modelServerPids,
  startNode,
  type RunningProcess,
} from '../helpers/processes';

let dataDir: string;
let stackEnv: NodeJS.ProcessEnv;
let stack: RunningProcess | undefined;
let api: string;
let key: string;

beforeAll(async () => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'md-readme-'));
  const [apiPort, temporalPort, uiPort, agentPort] = [
    await freePort(),
    await freePort(),
    await freePort(),
    await freePort(),
  ];
  stackEnv = {
    DATA_DIR: dataDir,
    API_PORT: String(apiPort),
    TEMPORAL_PORT: String(temporalPort),
    TEMPORAL_UI_PORT: String(uiPort),
    AGENT_PORT: String(agentPort),
  };
  delete process.env.TEMPORAL_ADDRESS;
  api = `http://127.0.0.1:${apiPort}`;
});

afterAll(async () => {
  await stack?.stop('SIGINT');
  killAll(modelServerPids('default--readme-'));
  fs.rmSync(dataDir, { recursive: true, force: true });
});

async function call(method: string, urlPath: string, body?: unknown) {
  const res = await fetch(`${api}${urlPath}`, {
    method,
    headers: {
      authorization: `Bearer ${key}`,
      ...(body ? { 'content-type': 'application/json' } : {}),
    },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  return {
    status: res.status,
    body: (await res.json()) as Record<string, unknown> & { items: { reason: string }[] },
  };
}

const deployments = '/v1/workspaces/default/deployments';
const view = (name: string) => async () => (await call('GET', `${deployments}/${name}`)).body;

it('runs the README path on the one-command stack, survives a restart, and stops cleanly', async () => {
  stack = await startNodeStack();
  key = fs.readFileSync(path.join(dataDir, 'api-key'), 'utf8').trim();
  expect(stack.output()).toContain(key); // the local key is printed at start
  expect(stack.output()).toMatch(/Temporal UI\s+http:\/\/127\.0\.0\.1:\d+/);
  expect((await fetch(`http://127.0.0.1:${stackEnv.TEMPORAL_UI_PORT}/`)).status).toBe(200);

  const created = await call('POST', deployments, {
    name: 'readme-embed',
    model: 'bge-large-en-v1.5',
    cloud: { type: 'dedicated', accelerator: { type: 'L4', count: 1 } },
    scaling: { minReplicas: 1, maxReplicas: 2, metric: 'throughput', threshold: 20 },
    tags: { env: 'dev' },
  });
  expect(created.status).toBe(202);
  await waitFor(view('readme-embed'), (v) => v.health === 'Healthy', 'Healthy', 30_000);

  const inference = await fetch(`${api}/v1/endpoints/default/readme-embed/v1/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ prompt: 'hello', max_tokens: 4 }),
  });
  expect(inference.status).toBe(200);

  expect(
    (await call('PATCH', `${deployments}/readme-embed`, { spec: { model: 'whisper-large-v3' } }))
      .body,
  ).toMatchObject({ revision: 2, state: 'updating' });
  await waitFor(
    view('readme-embed'),
    (v) => v.revision === 2 && v.state === 'running' && v.health === 'Healthy',
    'rolled out',
    30_000,
  );

  // The rollout is its own workflow, visible in the Temporal UI's list.
  const connection = await Connection.connect({ address: `127.0.0.1:${stackEnv.TEMPORAL_PORT}` });
  const rollouts: string[] = [];
  for await (const wf of new Client({ connection }).workflow.list({
    query: `WorkflowType = 'rolloutWorkflow'`,
  }))
    rollouts.push(wf.workflowId);
  await connection.close();
  expect(rollouts).toContain('deployment:default:readme-embed:rollout:2');

  expect((await call('POST', `${deployments}/readme-embed/pause`)).status).toBe(202);
  await waitFor(view('readme-embed'), (v) => v.health === 'NotPresent', 'paused');
  expect((await call('POST', `${deployments}/readme-embed/resume`)).status).toBe(202);
  await waitFor(view('readme-embed'), (v) => v.health === 'Healthy', 'resumed', 30_000);
  expect(
    (await call('POST', `${deployments}/readme-embed/clone`, { name: 'readme-copy' })).status,
  ).toBe(202);
  await waitFor(view('readme-copy'), (v) => v.health === 'Healthy', 'clone Healthy', 30_000);
  expect((await call('DELETE', `${deployments}/readme-copy`)).status).toBe(202);
  await waitFor(
    async () => (await call('GET', `${deployments}/readme-copy`)).status,
    (s) => s === 404,
    'clone deleted',
  );

  // Ctrl-C: everything the stack started stops, replicas included.
  await stack.stop('SIGINT');
  expect(stack.output()).toContain('[start] stopped');
  expect(modelServerPids('default--readme-')).toEqual([]);

  // A second start reuses the data: the deployment and its history are back.
  stack = await startNodeStack();
  const back = await waitFor(
    view('readme-embed'),
    (v) => v.health === 'Healthy',
    'Healthy after restart',
    60_000,
  );
  expect(back).toMatchObject({
    revision: 2,
    state: 'running',
    spec: { model: 'whisper-large-v3' },
  });
  const events = await call('GET', `${deployments}/readme-embed/events?pageSize=500`);
  expect(events.body.items.map((e) => e.reason)).toEqual(
    expect.arrayContaining(['Created', 'RolloutSucceeded', 'Paused', 'Resumed']),
  );
}, 240_000);

/** Starts dist/scripts/start.js (what `npm start` runs after building) and waits for its banner. */
function startNodeStack(): Promise<RunningProcess> {
  return startNode(
    path.join(DIST, 'scripts', 'start.js'),
    stackEnv,
    (output) => output.includes('Ctrl-C stops everything'),
    'npm start',
    90_000,
  );
}
