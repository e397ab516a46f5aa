/**
 * The observer on the local runtime: the real compiled agent's change stream and lease, and two
 * observers (one active, one standing by) signalling deployments' workflows on a real Temporal
 * dev server with a real worker.
 *
 * Nothing here polls per deployment: the feed is one long poll; the tests count its requests.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalRuntimeProvider, replicaSetName } from '../../activities/providers/local';
import type { RevisionStatus } from '../../activities/providers/provider';
import type { ReplicaSetStatus } from '../../runtime/agent/api';
import { AgentLease, AgentRevisionFeed } from '../../observer/local-feed';
import { Observer } from '../../observer/observer';
import { eventsQuery, deploymentWorkflowId } from '../../workflows/deployment/definitions';
import { startHarness, waitFor, type Harness } from '../helpers/harness';
import { closedLoop } from '../helpers/load';
import {
  freePort,
  killAll,
  modelServerPids,
  startAgent,
  type RunningProcess,
} from '../helpers/processes';
import { dedicatedSpec } from '../helpers/catalog';

const AGENT_MAIN = path.resolve(__dirname, '../../dist/runtime/agent/main.js');
const WS = `lob${process.pid}`;

let dataDir: string;
let agent: RunningProcess;
let provider: LocalRuntimeProvider;
let agentUrl: string;

beforeAll(async () => {
  if (!fs.existsSync(AGENT_MAIN))
    throw new Error(`${AGENT_MAIN} is missing: run \`npm run build\` first`);
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'local-observer-test-'));
  const port = await freePort();
  agentUrl = `http://127.0.0.1:${port}`;
  provider = new LocalRuntimeProvider(agentUrl, { removalTimeoutMs: 30_000 });
  agent = await startAgent(dataDir, port);
});

/** Short windows, so what the observer measures follows the traffic within seconds. */
const LOAD = { windowMs: 4000, shortWindowMs: 2000 };

/** Keeps `clients` requests in flight straight at the deployment's ready replicas until stopped. */
function load(deploymentId: string, clients: number) {
  let turn = 0;
  return closedLoop(async () => {
    const { urls } = await provider.endpoints(deploymentId);
    const url = urls[turn++ % Math.max(1, urls.length)];
    return url && `${url}/v1/completions`;
  }, clients);
}

afterAll(async () => {
  if (agent?.running()) {
    agent.child.kill('SIGKILL');
    await agent.exited;
  }
  killAll(modelServerPids(WS));
  if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
});

describe('the agent change stream', () => {
  it('lists every set first, then answers each change since the cursor, and a removal as gone', async () => {
    const deploymentId = `${WS}/stream`;
    const first = await provider.changes(undefined, 0);
    expect(first.resync).toBe(true);

    // Nothing changed: a long poll waits (bounded) and answers nothing new.
    const quiet = await provider.changes(first.cursor, 200);
    expect(quiet.items).toEqual([]);
    expect(quiet.gone).toEqual([]);

    await provider.applyRevision({
      deploymentId,
      revision: 1,
      replicas: 1,
      template: { model: 'm', loadMs: 200 },
    });
    let cursor = first.cursor;
    const seen: RevisionStatus[] = [];
    await waitFor(
      async () => {
        const next = await provider.changes(cursor, 2_000);
        cursor = next.cursor;
        seen.push(...next.items.filter((s) => s.deploymentId === deploymentId));
        return seen.at(-1);
      },
      (s) => s?.ready === 1,
      'the replica becoming ready to come through the stream',
    );
    expect(seen[0]).toMatchObject({ exists: true, desired: 1 });

    await provider.removeRevision(deploymentId, 1);
    const gone = await provider.changes(cursor, 2_000);
    expect(gone.gone).toContainEqual({
      name: replicaSetName(deploymentId, 1),
      deploymentId,
      revision: 1,
    });

    // A cursor from another epoch (an agent that restarted) gets the whole list again.
    const other = await provider.changes(`someoneelse:${cursor.split(':')[1]}`, 0);
    expect(other.resync).toBe(true);
  });

  it('feeds the observer: one long poll open at a time, whatever happens', async () => {
    const feed = new AgentRevisionFeed(provider);
    const statuses: RevisionStatus[] = [];
    await feed.start({ onStatus: (s) => statuses.push(s) });
    const deploymentId = `${WS}/feed`;
    await provider.applyRevision({
      deploymentId,
      revision: 1,
      replicas: 2,
      template: { model: 'm', loadMs: 100 },
    });
    await waitFor(
      async () => statuses.filter((s) => s.deploymentId === deploymentId).at(-1),
      (s) => s?.ready === 2,
      'two ready replicas through the feed',
    );
    const requests = feed.requests;
    // Each request is answered by a change (or after 25 s): far fewer than the statuses seen.
    expect(requests).toBeLessThan(20);
    await provider.removeRevision(deploymentId, 1);
    await waitFor(
      async () => statuses.filter((s) => s.deploymentId === deploymentId).at(-1),
      (s) => s?.exists === false,
      'the removal through the feed',
    );
    await feed.stop();
  });

  it('cuts its long poll when it stops, so a stopping process does not wait for the agent', async () => {
    const first = await provider.changes(undefined, 0);
    const stopping = new AbortController();
    // Nothing changes meanwhile: unaborted, this would answer (empty) after 25 s.
    const poll = provider.changes(first.cursor, 25_000, stopping.signal);
    stopping.abort();
    await expect(poll).rejects.toMatchObject({ name: 'AbortError' });

    const feed = new AgentRevisionFeed(provider);
    await feed.start({ onStatus: () => undefined });
    const before = feed.requests;
    await feed.stop(); // resolves once its loop has ended: no request after it
    expect(feed.requests).toBe(before);
  });
});

describe('the agent-held lease', () => {
  it('has one holder at a time, passes on the checkpoint, and is free at once when released', async () => {
    const a = new AgentLease(provider, 'a', { name: 'lease-test', durationMs: 60_000 });
    const b = new AgentLease(provider, 'b', { name: 'lease-test', durationMs: 60_000 });
    expect(await a.tryAcquire('{"x#1":"h"}')).toBe(true);
    expect(await b.tryAcquire()).toBe(false);
    expect(await a.tryAcquire()).toBe(true); // renewing keeps the checkpoint
    await a.release();
    expect(await b.tryAcquire()).toBe(true);
    expect(b.checkpoint).toBe('{"x#1":"h"}');
    expect(await a.tryAcquire()).toBe(false);
  });

  it('goes to another holder once the holder stops renewing', async () => {
    const a = new AgentLease(provider, 'a', { name: 'lease-expiry', durationMs: 300 });
    const b = new AgentLease(provider, 'b', { name: 'lease-expiry', durationMs: 300 });
    expect(await a.tryAcquire()).toBe(true);
    expect(await b.tryAcquire()).toBe(false);
    await waitFor(
      () => b.tryAcquire(),
      (held) => held,
      'b to take the expired lease',
      5_000,
    );
    expect(await a.tryAcquire()).toBe(false);
  });
});

describe('observers on a live stack', () => {
  let harness: Harness;

  beforeAll(async () => {
    // Short load windows, so scaling follows the traffic within seconds.
    harness = await startHarness({ observerLoad: LOAD });
    // The worker starts an observer over this runtime, as the worker process does.
    await harness.startWorker(provider);
  });

  afterAll(async () => {
    await harness?.stop();
  });

  const spec = (name: string) => ({ name, ...dedicatedSpec() });
  /** Scales 1 -> 2 past 2 requests in flight per replica, back to 1 two seconds after it stops. */
  const busy = {
    name: 'busy',
    ...dedicatedSpec({
      scaling: { minReplicas: 1, maxReplicas: 2, metric: 'concurrency', threshold: 2 },
      autoscalingPolicy: {
        scaleUp: { stabilizationWindowSeconds: 0 },
        scaleDown: { stabilizationWindowSeconds: 2 },
      },
    }),
  };
  const replicasOf = (name: string) => async () => (await harness.service.get(WS, name)).replicas;

  it('takes over within the lease when the active observer dies under load: no decision lost, nothing signalled twice', async () => {
    const names = ['one', 'two', 'three'];
    for (const name of names) await harness.service.create(WS, spec(name));
    await harness.service.create(WS, busy);
    await waitFor(replicasOf('busy'), (r) => r.ready === 1, 'busy ready');
    // Under load: 6 requests in flight straight at the replicas, so "busy" scales out to 2.
    const traffic = load(`${WS}/busy`, 6);
    for (const name of names)
      await waitFor(
        () => harness.service.get(WS, name),
        (v) => v.health === 'Healthy',
        `${name} Healthy`,
      );
    await waitFor(replicasOf('busy'), (r) => r.desired === 2 && r.ready === 2, 'busy scaled out');

    // Two more observers over the same runtime: the one the worker started holds the lease.
    const lease = (holder: string) => new AgentLease(provider, holder, { durationMs: 3_000 });
    const standby = (holder: string) =>
      new Observer({
        feed: new AgentRevisionFeed(provider),
        lease: lease(holder),
        client: harness.env.client,
        renewEveryMs: 500,
        load: LOAD,
      });
    const standby1 = standby('standby-1');
    const standby2 = standby('standby-2');
    standby1.start();
    standby2.start();
    try {
      // Long enough for the active observer's next renewal to leave its checkpoint.
      await new Promise((r) => setTimeout(r, 4_000));
      expect([standby1.isActive, standby2.isActive]).toEqual([false, false]);

      // The worker's observer stops without a word (its lease expires): one standby takes over.
      await harness.stopObservers({ crash: true });
      const active = await waitFor(
        async () => [standby1, standby2].filter((o) => o.isActive),
        (list) => list.length === 1,
        'exactly one standby to become active',
        15_000,
      );
      const successor = active[0]!;
      // It starts from its predecessor's checkpoint: no replica status is signalled again.
      await new Promise((r) => setTimeout(r, 1_000));
      expect(successor.stats.signals).toBe(0);

      // No decision lost: the load stops, the successor measures it, and "busy" scales back in.
      expect(await traffic.stop()).toBeGreaterThan(0);
      await waitFor(
        replicasOf('busy'),
        (r) => r.desired === 1,
        'busy to scale in on what the new observer measured',
        30_000,
      );
      expect(successor.load!.stats.signals).toBeGreaterThan(0);
      const reasons = (await harness.service.events(WS, 'busy')).map((e) => e.type);
      expect(reasons.filter((t) => t === 'ScaleOut')).toHaveLength(1); // one scale-out, not one per observer

      // A change after the failover reaches the workflow: a replica of "two" is killed and restarts.
      const set = await fetch(`${agentUrl}/v1/replicasets/${replicaSetName(`${WS}/two`, 1)}`).then(
        (r) => r.json() as Promise<ReplicaSetStatus>,
      );
      process.kill(set.replicas[0]!.pid!, 'SIGKILL');
      const handle = harness.env.client.workflow.getHandle(deploymentWorkflowId(WS, 'two'));
      await waitFor(
        () => handle.query(eventsQuery),
        (events) => events.some((e) => e.reason === 'ReplicaRestarted'),
        'the restart to reach the workflow through the new observer',
        20_000,
      );
      expect(successor.stats.signals).toBeGreaterThan(0);
      // The other deployments heard nothing new.
      expect([standby1, standby2].filter((o) => o.isActive)).toEqual([successor]);
    } finally {
      await traffic.stop();
      await standby1.stop();
      await standby2.stop();
    }
  });
});
