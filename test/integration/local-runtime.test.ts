/**
 * The local runtime end to end: the real compiled agent (dist/runtime/agent/main.js) runs
 * real model-server processes, driven through LocalRuntimeProvider.
 *
 * The tests run in order and share one deployment, like a deployment's life: create,
 * route, scale, crash, retry, agent crash, agent restart, delete.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalRuntimeProvider, replicaSetName } from '../../activities/providers/local';
import { waitFor } from '../helpers/harness';
import { freePort, startAgent, type RunningProcess } from '../helpers/processes';
import type { RevisionStatus } from '../../activities/providers/provider';
import type { ReplicaSetStatus } from '../../runtime/agent/api';

const AGENT_MAIN = path.resolve(__dirname, '../../dist/runtime/agent/main.js');
/** Unique per run, so counting processes by command line sees only this run's replicas. */
const NAMESPACE = `lrt${process.pid}`;
const DEPLOYMENT = `${NAMESPACE}/llama-8b`;
const MODEL = 'meta-llama/Llama-3.1-8B-Instruct';
const TEMPLATE = { model: MODEL, loadMs: 300 };
const REV1 = replicaSetName(DEPLOYMENT, 1);

let dataDir: string;
let agentUrl: string;
let agentPort: number;
let agent: RunningProcess;
let provider: LocalRuntimeProvider;

describe('local runtime (agent + model servers)', () => {
  beforeAll(async () => {
    if (!fs.existsSync(AGENT_MAIN)) {
      throw new Error(`${AGENT_MAIN} is missing: run \`npm run build\` first`);
    }
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'local-runtime-test-'));
    agentPort = await freePort();
    agentUrl = `http://127.0.0.1:${agentPort}`;
    provider = new LocalRuntimeProvider(agentUrl);
    agent = await startAgent(dataDir, agentPort);
  });

  afterAll(async () => {
    if (agent?.running()) {
      agent.child.kill('SIGKILL');
      await agent.exited;
    }
    for (const pid of modelServerPids()) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Exited meanwhile.
      }
    }
    if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('names replica sets DNS-safe from deployment id and revision', () => {
    expect(replicaSetName('default/llama-8b-prod', 3)).toBe('default--llama-8b-prod--r3');
  });

  // How soon they are ready is a benchmark figure (npm run bench:replica-ready), not a test.
  it('starts a revision not ready, and its replicas become ready', async () => {
    const created = await provider.applyRevision({
      deploymentId: DEPLOYMENT,
      revision: 1,
      replicas: 2,
      template: TEMPLATE,
    });
    expect(created).toMatchObject({
      deploymentId: DEPLOYMENT,
      revision: 1,
      exists: true,
      desired: 2,
      ready: 0,
    });
    expect(created.replicas.map((r) => r.ready)).toEqual([false, false]);

    const ready = await waitForRevision(1, (s) => s.ready === 2);
    expect(ready.replicas.every((r) => r.readyAt !== undefined)).toBe(true);
    expect(modelServerPids()).toHaveLength(2);
  });

  it('routes only to ready replicas, including one added by scaling 2 -> 3 once it is ready', async () => {
    await provider.routeTraffic(DEPLOYMENT, 1);
    const before = await provider.endpoints(DEPLOYMENT);
    expect(before.revision).toBe(1);
    expect(before.urls).toHaveLength(2);

    const scaled = await provider.applyRevision({
      deploymentId: DEPLOYMENT,
      revision: 1,
      replicas: 3,
      template: TEMPLATE,
    });
    expect(scaled.desired).toBe(3);
    const added = scaled.replicas.find((r) => r.id === 'r3');
    expect(added?.ready).toBe(false);
    // Still loading its weights (300 ms): not an endpoint yet.
    const whileLoading = await provider.endpoints(DEPLOYMENT);
    expect(whileLoading.urls.sort()).toEqual(before.urls.sort());

    await waitForRevision(1, (s) => s.ready === 3);
    const after = await provider.endpoints(DEPLOYMENT);
    expect(after.urls).toHaveLength(3);
    expect(after.urls).toContain(added?.url);
    expect(modelServerPids()).toHaveLength(3);

    // Each endpoint is a different replica process.
    const ids = await Promise.all(
      after.urls.map(async (url) => (await fetch(`${url}/health`)).headers.get('x-replica-id')),
    );
    expect(new Set(ids)).toEqual(new Set(['r1', 'r2', 'r3'].map((id) => `${REV1}/${id}`)));
  });

  it('serves OpenAI completions and vLLM metrics from a ready replica', async () => {
    const [url] = (await provider.endpoints(DEPLOYMENT)).urls;
    const res = await fetch(`${url}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: MODEL, prompt: 'Say hello', max_tokens: 4 }),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-replica-id')).toMatch(new RegExp(`^${REV1}/r\\d$`));
    const completion = (await res.json()) as {
      object: string;
      model: string;
      choices: { text: string; finish_reason: string }[];
      usage: { completion_tokens: number; total_tokens: number };
    };
    expect(completion).toMatchObject({ object: 'text_completion', model: MODEL });
    expect(completion.choices[0]?.text.trim().split(' ')).toHaveLength(4);
    expect(completion.usage.completion_tokens).toBe(4);

    const metrics = await (await fetch(`${url}/metrics`)).text();
    expect(metrics).toContain(`vllm:num_requests_running{model_name="${MODEL}"} 0`);
    expect(metrics).toContain(`vllm:request_success_total{model_name="${MODEL}"} 1`);
    expect(metrics).toContain(`vllm:generation_tokens_total{model_name="${MODEL}"} 4`);
    expect(metrics).toContain(`vllm:e2e_request_latency_seconds_count{model_name="${MODEL}"} 1`);
  });

  it('scales 3 -> 1 by taking the newest replicas out of the endpoints at once, then stopping them', async () => {
    const before = await agentReplicaSet(REV1);
    const scaled = await provider.applyRevision({
      deploymentId: DEPLOYMENT,
      revision: 1,
      replicas: 1,
      template: TEMPLATE,
    });
    expect(scaled.desired).toBe(1);
    expect(scaled.replicas.map((r) => r.id)).toEqual(['r1']);
    expect((await provider.endpoints(DEPLOYMENT)).urls).toEqual([scaled.replicas[0]?.url]);

    // Idle, they drain at once; the agent forgets them when they have exited.
    const drained = await waitFor(
      () => agentReplicaSet(REV1),
      (s) => s.draining === 0,
      'the scaled-away replicas drained',
    );
    expect(drained.replicas.map((r) => r.id)).toEqual(['r1']);
    const stopped = before.replicas.filter((r) => r.id !== 'r1').map((r) => r.pid);
    expect(stopped.every((pid) => pid !== null && !isRunning(pid))).toBe(true);
    expect(modelServerPids()).toEqual([before.replicas[0]?.pid]);
  });

  it('restarts a replica killed with SIGKILL and counts the restart', async () => {
    const [victim] = (await agentReplicaSet(REV1)).replicas;
    process.kill(victim!.pid!, 'SIGKILL');

    const after = await waitForRevision(1, (s) => s.restarts === 1 && s.ready === 1);
    expect(after.replicas[0]).toMatchObject({ id: 'r1', restarts: 1, ready: true });
    expect(after.replicas[0]?.message).toContain(
      'replica r1 exited with code 137 (SIGKILL); restarted',
    );
    const [replacement] = (await agentReplicaSet(REV1)).replicas;
    expect(replacement?.pid).not.toBe(victim?.pid);
    expect(modelServerPids()).toEqual([replacement?.pid]);
  });

  it('applies the same revision repeatedly, even concurrently, without duplicating anything', async () => {
    const input = { deploymentId: DEPLOYMENT, revision: 1, replicas: 2, template: { ...TEMPLATE } };
    await Promise.all([
      provider.applyRevision(input),
      provider.applyRevision(input),
      provider.applyRevision(input),
    ]);
    await provider.applyRevision(input);

    const status = await waitForRevision(1, (s) => s.ready === 2);
    // Replica ids are never reused (r2 and r3 were scaled away), so a new replica never
    // appends to an old one's log.
    expect(status.replicas.map((r) => r.id)).toEqual(['r1', 'r4']);
    const pids = (await agentReplicaSet(REV1)).replicas.map((r) => r.pid);
    expect(modelServerPids().sort()).toEqual(pids.sort());
  });

  it('rejects a template change of an existing revision (409: revisions are immutable)', async () => {
    const pids = modelServerPids();
    await expect(
      provider.applyRevision({
        deploymentId: DEPLOYMENT,
        revision: 1,
        replicas: 2,
        template: { model: 'other', loadMs: 300 },
      }),
    ).rejects.toThrow(/HTTP 409: .*revisions are immutable/);
    expect(modelServerPids()).toEqual(pids);
    expect((await provider.getRevision(DEPLOYMENT, 1)).desired).toBe(2);
  });

  it('never reports a replica whose weights fail to load as ready', async () => {
    await provider.applyRevision({
      deploymentId: DEPLOYMENT,
      revision: 2,
      replicas: 1,
      template: { ...TEMPLATE, loadMs: 100, failLoad: true },
    });
    const failing = await waitForRevision(
      2,
      (s) => s.replicas[0]?.message?.includes('failed to load weights') === true,
    );
    await sleep(1000);
    const later = await provider.getRevision(DEPLOYMENT, 2);
    expect(later).toMatchObject({ exists: true, desired: 1, ready: 0, restarts: 0 });
    expect(later.replicas[0]?.ready).toBe(false);
    expect(failing.replicas[0]?.message).toContain('not ready: failed to load weights: simulated');
    expect((await provider.endpoints(DEPLOYMENT)).revision).toBe(1);

    expect((await provider.listRevisions(DEPLOYMENT)).map((s) => s.revision)).toEqual([1, 2]);
    await provider.removeRevision(DEPLOYMENT, 2);
    await provider.removeRevision(DEPLOYMENT, 2); // no error when already gone
    expect(await provider.getRevision(DEPLOYMENT, 2)).toEqual({
      deploymentId: DEPLOYMENT,
      revision: 2,
      exists: false,
      desired: 0,
      ready: 0,
      restarts: 0,
      replicas: [],
    });
    expect(modelServerPids()).toHaveLength(2);
  });

  it('re-adopts the running replicas after the agent is SIGKILLed and started again', async () => {
    const before = await agentReplicaSet(REV1);
    const pids = before.replicas.map((r) => r.pid);
    agent.child.kill('SIGKILL');
    await agent.exited;
    // Replicas run in their own process group and outlive the agent.
    expect(pids.every((pid) => pid !== null && isRunning(pid))).toBe(true);

    agent = await startAgent(dataDir, agentPort);
    const after = await waitForRevision(1, (s) => s.ready === 2);
    expect(after.restarts).toBe(before.restarts);
    expect((await agentReplicaSet(REV1)).replicas.map((r) => r.pid)).toEqual(pids);
    expect(modelServerPids().sort()).toEqual([...pids].sort());
    expect((await provider.endpoints(DEPLOYMENT)).urls.sort()).toEqual(
      before.replicas.map((r) => r.url).sort(),
    );
    expect(agent.output()).toContain(`replica ${REV1}/r1 adopted (pid ${pids[0]}`);
  });

  it('stops every replica on SIGTERM and brings the revision back on the next start', async () => {
    const pids = (await agentReplicaSet(REV1)).replicas.map((r) => r.pid);
    agent.child.kill('SIGTERM');
    expect(await agent.exited).toBe(0);
    expect(pids.some((pid) => pid === null || isRunning(pid))).toBe(false);
    expect(modelServerPids()).toEqual([]);

    agent = await startAgent(dataDir, agentPort);
    const back = await waitForRevision(1, (s) => s.ready === 2);
    expect(back.replicas.map((r) => r.id)).toEqual(['r1', 'r4']);
    const newPids = (await agentReplicaSet(REV1)).replicas.map((r) => r.pid);
    expect(newPids.some((pid) => pids.includes(pid))).toBe(false);
    expect(modelServerPids().sort()).toEqual([...newPids].sort());
    expect((await provider.endpoints(DEPLOYMENT)).urls).toHaveLength(2);
  });

  it('removeDeployment leaves no process, revision or route behind', async () => {
    const pids = (await agentReplicaSet(REV1)).replicas.map((r) => r.pid);
    await provider.removeDeployment(DEPLOYMENT);

    expect(pids.some((pid) => pid === null || isRunning(pid))).toBe(false);
    expect(modelServerPids()).toEqual([]);
    expect(await provider.listRevisions(DEPLOYMENT)).toEqual([]);
    expect(await provider.endpoints(DEPLOYMENT)).toEqual({ revision: null, urls: [] });
    await provider.removeDeployment(DEPLOYMENT); // no error when nothing exists
  });

  it('names the agent URL when the agent is not reachable', async () => {
    const url = `http://127.0.0.1:${await freePort()}`;
    await expect(new LocalRuntimeProvider(url).getRevision(DEPLOYMENT, 1)).rejects.toThrow(
      `local runtime agent at ${url} is not reachable`,
    );
  });
});

/** The agent's own view, which has the pids the provider interface does not expose. */
async function agentReplicaSet(name: string): Promise<ReplicaSetStatus> {
  const res = await fetch(`${agentUrl}/v1/replicasets/${encodeURIComponent(name)}`);
  expect(res.status).toBe(200);
  return (await res.json()) as ReplicaSetStatus;
}

async function waitForRevision(
  revision: number,
  done: (status: RevisionStatus) => boolean,
  timeoutMs = 10_000,
): Promise<RevisionStatus> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const status = await provider.getRevision(DEPLOYMENT, revision);
    if (done(status)) return status;
    if (Date.now() > deadline) {
      throw new Error(
        `revision ${revision} did not reach the expected state in ${timeoutMs} ms: ${JSON.stringify(status)}`,
      );
    }
    await sleep(50);
  }
}

/** Live model-server processes of this test run, found by their command line. */
function modelServerPids(): number[] {
  const ps = execFileSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' });
  return ps
    .split('\n')
    .filter(
      (line) =>
        line.includes('model-server/main.js') && line.includes(`--replica-id ${NAMESPACE}--`),
    )
    .map((line) => Number.parseInt(line.trim(), 10));
}

/** A zombie counts as gone: its parent may be an init that never reaps it. */
function isRunning(pid: number): boolean {
  try {
    const stat = execFileSync('ps', ['-o', 'stat=', '-p', String(pid)], {
      encoding: 'utf8',
    }).trim();
    return stat !== '' && !stat.startsWith('Z');
  } catch {
    return false; // ps exits 1 when there is no such process
  }
}
