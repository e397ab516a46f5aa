/**
 * BYOC clusters for workflow-tier tests: node groups as data, replicas on a FakeProvider of
 * their own, and a record of every node group growth asked for. The real chain (EKS on moto,
 * an EKS token accepted by a real kube-apiserver) is tested in test/integration/byoc.test.ts.
 */
import { ClusterError, type ByocClusters } from '../../activities/providers/byoc';
import type { NodeGroupInfo } from '../../activities/providers/eks';
import { nodesForReplicas } from '../../activities/providers/node-group-fit';
import { FakeProvider } from './fake-provider';

/** A node group of `max` nodes with `gpus` H100s each (8 x H100 is a p5.48xlarge). */
export function h100NodeGroup(name: string, desired: number, max: number, gpus = 8): NodeGroupInfo {
  return {
    name,
    instanceType: 'p5.48xlarge',
    gpu: { type: 'H100', count: gpus, memoryMiB: 81920 },
    vcpus: 192,
    memoryMiB: 2097152,
    size: { min: 0, max, desired },
    status: 'ACTIVE',
  };
}

export class FakeClusters implements ByocClusters {
  readonly provider_ = new FakeProvider();
  readonly growths: { nodeGroup: string; from: number; to: number }[] = [];

  /** cluster name -> its node groups (the same for every workspace). */
  constructor(readonly groups: Record<string, NodeGroupInfo[]>) {}

  async nodeGroup(_workspace: string, cluster: string, nodeGroup: string) {
    const groups = this.groups[cluster];
    if (!groups) throw new ClusterError('cloud.cluster', `no cluster "${cluster}" is linked`);
    const found = groups.find((g) => g.name === nodeGroup);
    if (!found)
      throw new ClusterError(
        'cloud.nodeGroup',
        `cluster "${cluster}" has no node group "${nodeGroup}"`,
      );
    return found;
  }

  async provider(workspace: string, cluster: string) {
    if (!this.groups[cluster])
      throw new ClusterError('cloud.cluster', `no cluster "${cluster}" is linked`);
    return this.provider_;
  }

  async ensureCapacity(input: Parameters<ByocClusters['ensureCapacity']>[0]) {
    const group = await this.nodeGroup(input.workspace, input.cluster, input.nodeGroup);
    const nodes = nodesForReplicas(
      Array<number>(input.replicas).fill(input.gpusPerReplica),
      group.gpu?.count ?? 0,
    );
    if (nodes <= group.size.desired) return null;
    const from = group.size.desired;
    group.size.desired = Math.min(nodes, group.size.max);
    this.growths.push({ nodeGroup: input.nodeGroup, from, to: group.size.desired });
    return { grewFrom: from, grewTo: group.size.desired, needed: nodes, max: group.size.max };
  }
}
