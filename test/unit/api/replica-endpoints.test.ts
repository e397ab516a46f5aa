/**
 * The gateway's and collector's view of replicas follows each deployment's placement; a BYOC
 * cluster's pods are reached through its edge gateway, never at their own addresses.
 */
import { describe, expect, it } from 'vitest';
import type { ByocClusters, EdgeGateway } from '../../../activities/providers/byoc';
import type { RuntimeProvider } from '../../../activities/providers/provider';
import { DomainError } from '../../../api/deployment-service';
import { EdgeGatewayMissingError, ReplicaEndpoints } from '../../../api/replica-endpoints';
import type { DeploymentView } from '../../../workflows/domain/deployment';
import { validateSpec } from '../../../workflows/domain/spec';
import { byocSpec, dedicatedSpec } from '../../helpers/catalog';

const endpointsAt = (...urls: string[]) =>
  ({ endpoints: async () => ({ revision: 1, urls }) }) as unknown as RuntimeProvider;

const EDGE: EdgeGateway = {
  cluster: 'team-eks',
  url: 'https://edge.team.example',
  tokenSecret: 'edge-team',
  token: 'a'.repeat(32),
};

function setup(podUrls = ['http://10.0.3.7:8000', 'http://10.0.3.8:8000']) {
  const specs: Record<string, Record<string, unknown>> = {
    'ws/dedicated': dedicatedSpec(),
    'ws/own': byocSpec(),
    'ws/edgeless': byocSpec({ cluster: 'edgeless-eks' }),
  };
  const reads: string[] = [];
  const clusterAsks: string[] = [];
  let now = 0;
  const replicas = new ReplicaEndpoints({
    dedicated: endpointsAt('http://dedicated'),
    clusters: {
      provider: async (workspace: string, cluster: string) => {
        clusterAsks.push(`${workspace}:${cluster}`);
        return endpointsAt(...podUrls);
      },
      edgeGateway: (_workspace: string, cluster: string) =>
        cluster === 'team-eks' ? EDGE : undefined,
    } as unknown as ByocClusters,
    deployments: {
      get: async (workspace: string, name: string) => {
        reads.push(`${workspace}/${name}`);
        const spec = specs[`${workspace}/${name}`];
        if (!spec) throw new DomainError('not_found', 'no such deployment');
        const parsed = validateSpec(spec);
        if (!parsed.ok) throw new Error('bad spec');
        return { spec: parsed.value } as DeploymentView;
      },
    },
    now: () => now,
  });
  return { replicas, reads, clusterAsks, advance: (ms: number) => (now += ms) };
}

describe('replica endpoints by placement', () => {
  it('asks the dedicated runtime for dedicated deployments and the linked cluster for BYOC ones', async () => {
    const { replicas, clusterAsks } = setup();
    expect((await replicas.endpoints('ws/dedicated')).urls).toEqual(['http://dedicated']);
    expect(await replicas.endpoints('ws/own')).toEqual({
      revision: 1,
      urls: ['https://edge.team.example/v1/endpoints/ws/own'],
      edge: EDGE,
    });
    expect(clusterAsks).toEqual(['ws:team-eks']);
  });

  it("never hands out a BYOC cluster's pod addresses: its edge gateway stands for them", async () => {
    const { replicas } = setup();
    const found = await replicas.endpoints('ws/own');
    expect(JSON.stringify(found)).not.toMatch(/10\.0\.3\./);
    // one URL for the deployment, however many pods are ready (the edge picks among them)
    expect(found.urls).toHaveLength(1);
  });

  it('lists no URL while the cluster reports no ready replica (the gateway then holds the request)', async () => {
    const { replicas } = setup([]);
    expect(await replicas.endpoints('ws/own')).toEqual({ revision: 1, urls: [], edge: EDGE });
  });

  it('refuses a BYOC deployment whose cluster has no edge gateway, without asking the cluster', async () => {
    const { replicas, clusterAsks } = setup();
    const err = await replicas.endpoints('ws/edgeless').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EdgeGatewayMissingError);
    expect((err as Error).message).toMatch(
      /deployment "edgeless" runs on BYOC cluster "edgeless-eks", which has no edge gateway: .*"gateway": \{"url", "tokenSecret"\} for cluster "edgeless-eks" in CLUSTERS_FILE/,
    );
    expect(clusterAsks).toEqual([]);
  });

  it('refuses a BYOC deployment when no cluster registry was given at all', async () => {
    const replicas = new ReplicaEndpoints({
      dedicated: endpointsAt('http://10.0.3.9:8000'),
      deployments: {
        get: async () => {
          const parsed = validateSpec(byocSpec());
          if (!parsed.ok) throw new Error('bad spec');
          return { spec: parsed.value } as DeploymentView;
        },
      },
    });
    await expect(replicas.endpoints('ws/own')).rejects.toBeInstanceOf(EdgeGatewayMissingError);
  });

  it('looks a placement up once a minute, not on every request', async () => {
    const { replicas, reads, advance } = setup();
    await replicas.endpoints('ws/own');
    advance(59_000);
    await replicas.endpoints('ws/own');
    expect(reads).toEqual(['ws/own']);
    advance(2_000);
    await replicas.endpoints('ws/own');
    expect(reads).toEqual(['ws/own', 'ws/own']);
  });

  it('falls back to the dedicated runtime for a deployment it cannot read, and asks again next time', async () => {
    const { replicas, reads } = setup();
    expect((await replicas.endpoints('ws/missing')).urls).toEqual(['http://dedicated']);
    await replicas.endpoints('ws/missing');
    expect(reads).toEqual(['ws/missing', 'ws/missing']);
  });
});

describe('when the runtime cannot be reached', () => {
  function flaky() {
    let down = false;
    let now = 0;
    const logs: string[] = [];
    const replicas = new ReplicaEndpoints({
      dedicated: {
        endpoints: async () => {
          if (down)
            throw new Error('local runtime agent at http://127.0.0.1:7070 is not reachable');
          return { revision: 3, urls: ['http://127.0.0.1:1', 'http://127.0.0.1:2'] };
        },
      } as unknown as RuntimeProvider,
      deployments: {
        get: async () => {
          const parsed = validateSpec(dedicatedSpec());
          if (!parsed.ok) throw new Error('bad spec');
          return { spec: parsed.value } as DeploymentView;
        },
      },
      now: () => now,
      log: (m) => logs.push(m),
    });
    return {
      replicas,
      logs,
      setDown: (d: boolean) => (down = d),
      advance: (ms: number) => (now += ms),
    };
  }

  it('answers with the last endpoints it saw, and says so', async () => {
    const { replicas, logs, setDown, advance } = flaky();
    const seen = await replicas.endpoints('ws/dedicated');
    setDown(true);
    advance(5_000);
    expect(await replicas.endpoints('ws/dedicated')).toEqual(seen);
    expect(logs).toEqual([
      'replicas of ws/dedicated: the runtime cannot be reached (local runtime agent at http://127.0.0.1:7070 is not reachable); using the 2 endpoint(s) last seen 5 s ago',
    ]);
  });

  it('logs at most once per deployment every 30 s, counting the fallbacks in between, and when the runtime is back', async () => {
    const { replicas, logs, setDown, advance } = flaky();
    await replicas.endpoints('ws/dedicated');
    setDown(true);
    for (let i = 0; i < 10; i++) {
      await replicas.endpoints('ws/dedicated');
      advance(1_000);
    }
    expect(logs).toHaveLength(1);
    advance(20_000);
    await replicas.endpoints('ws/dedicated');
    expect(logs).toHaveLength(2);
    expect(logs[1]).toMatch(/last seen 30 s ago \(9 more since the last report\)$/);
    setDown(false);
    await replicas.endpoints('ws/dedicated');
    expect(logs[2]).toBe('replicas of ws/dedicated: the runtime answers again');
  });

  it('fails as before for a deployment it has never seen', async () => {
    const { replicas, setDown } = flaky();
    setDown(true);
    await expect(replicas.endpoints('ws/dedicated')).rejects.toThrow(/not reachable/);
  });
});
