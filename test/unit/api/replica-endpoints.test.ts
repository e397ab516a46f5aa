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
