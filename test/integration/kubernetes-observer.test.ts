/**
 * The observer's Kubernetes side against a real control plane (etcd, kube-apiserver,
 * controller-manager, scheduler) with kwok's fake GPU nodes (2 x 8 H100, 1 x 4 A100-80GB): the
 * revision feed (two informers, no request per deployment) and the Lease that makes one observer
 * the active one.
 *
 * Each test stands alone: its own deployments and its own Lease, created in the test and removed
 * after it. Only the apiserver on 127.0.0.1 is dialed (directly or through a cuttable proxy);
 * nothing dials the pods' (private) IPs.
 */
import { KubeConfig } from '@kubernetes/client-node';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { KubernetesProvider } from '../../activities/providers/kubernetes';
import { revisionName } from '../../activities/providers/kubernetes-manifests';
import type { RevisionStatus, RevisionTemplate } from '../../activities/providers/provider';
import {
  KubernetesRevisionFeed,
  type KubernetesRevisionFeedOptions,
} from '../../observer/kubernetes-feed';
import { KubernetesLease } from '../../observer/kubernetes-lease';
import { waitFor } from '../helpers/harness';
import { startControlPlane, type ControlPlane } from '../helpers/kubernetes';
import { startTcpProxy } from '../helpers/tcp-proxy';

let cp: ControlPlane;
let provider: KubernetesProvider;
const namespace = 'observed';
const template: RevisionTemplate = {
  model: 'llama-3.1-8b-instruct',
  loadMs: 1000,
  accelerator: { type: 'H100', count: 4 },
};

beforeAll(async () => {
  cp = await startControlPlane();
  await cp.kubectl('create', 'namespace', namespace);
  provider = new KubernetesProvider({ kubeconfig: cp.kubeconfig, namespace });
}, 180_000);
afterAll(async () => cp?.stop(), 60_000);

/** Deployments and feeds the current test created; removed and stopped after it. */
const created: string[] = [];
const cleanups: (() => Promise<void>)[] = [];
let counter = 0;
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  for (const id of created.splice(0)) await provider.removeDeployment(id);
}, 60_000);

function newDeployment(): string {
  const id = `team-o/llm-${++counter}`;
  created.push(id);
  return id;
}

type Revision = { deploymentId: string; revision: number };

/** A started feed and everything it delivered, in order. */
interface Recorded {
  feed: KubernetesRevisionFeed;
  statuses: RevisionStatus[];
  resyncs: Revision[][];
  errors: Error[];
  /** Waits (on what was delivered, no request) for a status of the revision that satisfies `ok`. */
  delivered(
    id: string,
    ok: (s: RevisionStatus) => boolean,
    what: string,
    from?: number,
  ): Promise<RevisionStatus>;
}

async function startFeed(options: Partial<KubernetesRevisionFeedOptions> = {}): Promise<Recorded> {
  const feed = new KubernetesRevisionFeed({ kubeconfig: cp.kubeconfig, namespace, ...options });
  const recorded: Recorded = {
    feed,
    statuses: [],
    resyncs: [],
    errors: [],
    delivered: (id, ok, what, from = 0) =>
      waitFor(
        async () =>
          recorded.statuses
            .slice(from)
            .find((s) => s.deploymentId === id && s.revision === 1 && ok(s)),
        (s) => s !== undefined,
        `${id}: ${what}`,
        30_000,
      ) as Promise<RevisionStatus>,
  };
  cleanups.push(() => feed.stop());
  await feed.start({
    onStatus: (s) => recorded.statuses.push(s),
    onResync: (existing) => recorded.resyncs.push(existing),
    onError: (err) => recorded.errors.push(err),
  });
  return recorded;
}

const statusesOf = (r: Recorded, id: string, from = 0) =>
  r.statuses.slice(from).filter((s) => s.deploymentId === id && s.revision === 1);

describe('Kubernetes revision feed', () => {
  it('delivers every existing revision and names them in onResync before start() resolves', async () => {
    const id = newDeployment();
    await provider.applyRevision({ deploymentId: id, revision: 1, replicas: 1, template });
    const r = await startFeed();
    expect(statusesOf(r, id)).toEqual([expect.objectContaining({ exists: true, desired: 1 })]);
    expect(r.resyncs).toHaveLength(1);
    expect(r.resyncs[0]).toContainEqual({ deploymentId: id, revision: 1 });
    // One LIST and one WATCH per informer (Deployments, pods), nothing per revision.
    expect(r.feed.requests).toEqual({ list: 2, watch: 2 });
  });

  it('delivers a new revision and its pods becoming ready, with no request beyond its two watches', async () => {
    const r = await startFeed();
    const id = newDeployment();
    await provider.applyRevision({ deploymentId: id, revision: 1, replicas: 2, template });
    const ready = await r.delivered(id, (s) => s.ready === 2, '2 ready replicas');
    expect(ready).toMatchObject({ exists: true, desired: 2, restarts: 0 });
    expect(ready.replicas.map((p) => p.url)).toEqual([
      expect.stringMatching(/^http:\/\//),
      expect.stringMatching(/^http:\/\//),
    ]);
    const seen = statusesOf(r, id);
    expect(seen[0]).toMatchObject({ exists: true, desired: 2 });
    expect(seen.some((s) => s.ready < 2)).toBe(true); // it saw them not ready, while loading
    expect(seen.every((s) => s.exists && s.desired === 2)).toBe(true);
    expect(r.feed.requests).toEqual({ list: 2, watch: 2 });
    expect(r.errors).toEqual([]);
  });

  it('delivers the reason a replica is stuck Pending when the GPUs run out', async () => {
    const r = await startFeed();
    // The one A100 node has 4 GPUs: one replica of 4 fits, the second cannot be scheduled.
    const id = newDeployment();
    await provider.applyRevision({
      deploymentId: id,
      revision: 1,
      replicas: 2,
      template: { ...template, accelerator: { type: 'A100-80GB', count: 4 } },
    });
    const stuck = await r.delivered(
      id,
      (s) => s.ready === 1 && s.replicas.some((p) => p.message),
      'a Pending replica next to a ready one',
    );
    expect(stuck.desired).toBe(2);
    expect(stuck.replicas.find((p) => p.message)?.message).toMatch(
      /Pending: .*Insufficient nvidia\.com\/gpu/,
    );
  });

  it('delivers container restarts with their reason', async () => {
    const r = await startFeed();
    // kwok restarts the server container of such pods 3 times, every 2-3 s, once they are Ready.
    const id = newDeployment();
    await provider.applyRevision({
      deploymentId: id,
      revision: 1,
      replicas: 1,
      template: { ...template, simulateRestarts: true },
    });
    const restarted = await r.delivered(id, (s) => s.restarts === 3, '3 restarts');
    expect(restarted).toMatchObject({ exists: true, ready: 1 });
    expect(restarted.replicas[0]?.message).toMatch(
      /^container server of pod \S+ ended: Error \(exit code 1\)$/,
    );
    // Each restart came as its own status.
    const counts = [...new Set(statusesOf(r, id).map((s) => s.restarts))];
    expect(counts).toEqual([0, 1, 2, 3]);
  });

  it('delivers a revision deleted out of band as gone', async () => {
    const r = await startFeed();
    const id = newDeployment();
    await provider.applyRevision({ deploymentId: id, revision: 1, replicas: 1, template });
    await r.delivered(id, (s) => s.ready === 1, 'ready');
    const from = r.statuses.length;
    await cp.kubectl('delete', 'deployment', revisionName(id, 1), '-n', namespace);
    const gone = await r.delivered(id, (s) => !s.exists, 'gone', from);
    expect(gone).toEqual({
      deploymentId: id,
      revision: 1,
      exists: false,
      desired: 0,
      ready: 0,
      restarts: 0,
      replicas: [],
    });
  });

  it('resumes a dropped watch without losing what changed while it was down', async () => {
    const server = new URL(cp.kubeconfig.getCurrentCluster()!.server);
    const proxy = await startTcpProxy({ host: server.hostname, port: Number(server.port) });
    cleanups.push(() => proxy.close());
    const viaProxy = new KubeConfig();
    viaProxy.loadFromOptions({
      clusters: cp.kubeconfig.clusters.map((c) => ({
        ...c,
        server: `https://127.0.0.1:${proxy.port}`,
      })),
      users: cp.kubeconfig.users,
      contexts: cp.kubeconfig.contexts,
      currentContext: cp.kubeconfig.currentContext,
    });
    const kept = newDeployment();
    const doomed = newDeployment();
    await provider.applyRevision({ deploymentId: kept, revision: 1, replicas: 1, template });
    await provider.applyRevision({ deploymentId: doomed, revision: 1, replicas: 1, template });
    const r = await startFeed({
      kubeconfig: viaProxy,
      restartBackoff: { initialMs: 100, maxMs: 400 },
    });
    await r.delivered(kept, (s) => s.ready === 1, 'ready');
    await r.delivered(doomed, (s) => s.ready === 1, 'ready');

    proxy.cut();
    await waitFor(
      async () => r.errors.length,
      (n) => n > 0,
      'the feed to notice the cut',
    );
    const cutAt = r.statuses.length;
    const resyncsBefore = r.resyncs.length;
    // While nothing reaches the apiserver through the proxy: one revision scales out, one goes.
    await provider.applyRevision({ deploymentId: kept, revision: 1, replicas: 2, template });
    await cp.kubectl('delete', 'deployment', revisionName(doomed, 1), '-n', namespace);
    await waitFor(
      () => provider.getRevision(kept, 1),
      (s) => s.ready === 2,
      'the scale-out done while the feed is cut off',
    );
    await waitFor(
      () => provider.getRevision(doomed, 1),
      (s) => !s.exists,
      'the deletion done while the feed is cut off',
    );
    expect(statusesOf(r, kept, cutAt).filter((s) => s.desired === 2)).toEqual([]);
    expect(statusesOf(r, doomed, cutAt).filter((s) => !s.exists)).toEqual([]);
    const listsBefore = r.feed.requests.list;

    proxy.restore();
    await waitFor(
      async () => r.resyncs.length,
      (n) => n > resyncsBefore,
      'a resync after the connection is back',
    );
    const existing = r.resyncs.at(-1)!;
    expect(existing).toContainEqual({ deploymentId: kept, revision: 1 });
    expect(existing).not.toContainEqual({ deploymentId: doomed, revision: 1 });
    expect(statusesOf(r, kept, cutAt)).toContainEqual(
      expect.objectContaining({ exists: true, desired: 2, ready: 2 }),
    );
    expect(statusesOf(r, doomed, cutAt)).toContainEqual(expect.objectContaining({ exists: false }));
    expect(r.feed.requests.list).toBeGreaterThan(listsBefore); // it relisted
    expect(r.errors[0]?.message).toMatch(/the (deployments|pods) watch failed/);

    // And it keeps watching afterwards: a change now comes through the new watches.
    const after = r.statuses.length;
    await provider.applyRevision({ deploymentId: kept, revision: 1, replicas: 1, template });
    await r.delivered(kept, (s) => s.desired === 1 && s.replicas.length === 1, 'scaled in', after);
  });
});

describe('Kubernetes observer lease', () => {
  let leaseCounter = 0;
  /** Leases of one name (its own per test), one per holder. */
  function leases(durationMs: number, ...holders: string[]) {
    const name = `observer-${++leaseCounter}`;
    cleanups.push(async () => {
      await cp.kubectl('delete', 'lease', name, '-n', namespace, '--ignore-not-found');
    });
    const spec = (field: string) =>
      cp.kubectl('get', 'lease', name, '-n', namespace, '-o', `jsonpath={.spec.${field}}`);
    return {
      spec,
      holders: holders.map(
        (holder) =>
          new KubernetesLease({ kubeconfig: cp.kubeconfig, namespace, name, holder, durationMs }),
      ),
    };
  }

  it('is held by one observer at a time: the other is refused while the holder renews', async () => {
    const {
      holders: [a, b],
      spec,
    } = leases(10_000, 'a', 'b');
    expect(a!.durationMs).toBe(10_000);
    expect(await a!.tryAcquire()).toBe(true);
    expect(await b!.tryAcquire()).toBe(false);
    expect(await a!.tryAcquire()).toBe(true); // a renewal
    expect(await b!.tryAcquire()).toBe(false);
    expect(await spec('holderIdentity')).toBe('a');
    expect(await spec('leaseDurationSeconds')).toBe('10');
  });

  it('goes to another observer once the holder stops renewing and its lease expires', async () => {
    const {
      holders: [a, b],
      spec,
    } = leases(2_000, 'a', 'b');
    expect(await a!.tryAcquire()).toBe(true);
    expect(await b!.tryAcquire()).toBe(false);
    // a stops renewing: b keeps trying, is refused while the lease lives, then takes it.
    let refused = 0;
    await waitFor(
      async () => {
        const acquired = await b!.tryAcquire();
        if (!acquired) refused++;
        return acquired;
      },
      (acquired) => acquired,
      'b to take the expired lease',
    );
    expect(refused).toBeGreaterThan(0);
    expect(await a!.tryAcquire()).toBe(false);
    await a!.release(); // not a's any more: left alone
    expect(await spec('holderIdentity')).toBe('b');
    expect(await spec('leaseTransitions')).toBe('1');
  });

  it('goes to another observer at once when the holder releases it', async () => {
    const {
      holders: [a, b],
      spec,
    } = leases(10_000, 'a', 'b');
    expect(await a!.tryAcquire()).toBe(true);
    expect(await b!.tryAcquire()).toBe(false);
    await a!.release();
    expect(await spec('holderIdentity')).toBe('');
    expect(await b!.tryAcquire()).toBe(true);
    expect(await a!.tryAcquire()).toBe(false);
  });

  it("hands the holder's checkpoint to its successor (what was signalled, so nothing is signalled twice)", async () => {
    const {
      holders: [a, b],
    } = leases(10_000, 'a', 'b');
    expect(await a!.tryAcquire()).toBe(true);
    expect(await a!.tryAcquire('{"ws/x#1":"abc"}')).toBe(true); // a renewal leaving a checkpoint
    expect(await a!.tryAcquire()).toBe(true); // a renewal without one keeps it
    await a!.release();
    expect(await b!.tryAcquire()).toBe(true);
    expect(b!.checkpoint).toBe('{"ws/x#1":"abc"}');
  });

  it('lets exactly one of observers trying at once win, when created and when taken over', async () => {
    const { holders, spec } = leases(10_000, 'a', 'b', 'c', 'd');
    const first = await Promise.all(holders.map((l) => l.tryAcquire()));
    expect(first.filter(Boolean)).toHaveLength(1);
    const winner = holders[first.indexOf(true)]!;
    expect(await spec('holderIdentity')).toBe(winner.holder);

    await winner.release();
    const others = holders.filter((l) => l !== winner);
    const second = await Promise.all(others.map((l) => l.tryAcquire()));
    expect(second.filter(Boolean)).toHaveLength(1);
    expect(await spec('holderIdentity')).toBe(others[second.indexOf(true)]!.holder);
  });
});
