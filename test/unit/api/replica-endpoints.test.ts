/** The gateway's and collector's view of replicas follows each deployment's placement. */
import { describe, expect, it } from 'vitest';
import type { ByocClusters } from '../../../activities/providers/byoc';
import type { RuntimeProvider } from '../../../activities/providers/provider';
import { DomainError } from '../../../api/deployment-service';
import { ReplicaEndpoints } from '../../../api/replica-endpoints';
import type { DeploymentView } from '../../../workflows/domain/deployment';
import { validateSpec } from '../../../workflows/domain/spec';
import { byocSpec, dedicatedSpec } from '../../helpers/catalog';

const endpointsAt = (url: string) =>
  ({ endpoints: async () => ({ revision: 1, urls: [url] }) }) as unknown as RuntimeProvider;

function setup() {
  const specs: Record<string, Record<string, unknown>> = {
    'ws/dedicated': dedicatedSpec(),
    'ws/own': byocSpec(),
  };
  const reads: string[] = [];
  const clusterAsks: string[] = [];
  let now = 0;
  const replicas = new ReplicaEndpoints({
    dedicated: endpointsAt('http://dedicated'),
    clusters: {
      provider: async (workspace: string, cluster: string) => {
        clusterAsks.push(`${workspace}:${cluster}`);
        return endpointsAt(`http://${cluster}`);
      },
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
    expect((await replicas.endpoints('ws/own')).urls).toEqual(['http://team-eks']);
    expect(clusterAsks).toEqual(['ws:team-eks']);
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
