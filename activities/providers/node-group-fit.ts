/**
 * BYOC placement arithmetic, pure so it is table-testable: does one replica fit a node of the
 * node group, what the node group can hold, and how many nodes a set of replicas needs.
 */
import type { Violation } from '../../workflows/domain/spec';
import { parseCpuQuantity, parseMemoryQuantity } from '../../workflows/domain/quantity';

/** One node of a node group, from the cloud's instance type data. */
export interface NodeShape {
  instanceType: string;
  gpu?: { type: string; count: number };
  /** vCPUs and memory of the instance (before the kubelet's reservations). */
  vcpus?: number;
  memoryMiB?: number;
}

export interface ByocRequest {
  nodeGroup: string;
  gpusPerReplica: number;
  resources: { cpuRequest: string; memoryRequest: string };
}

/** Every reason one replica cannot run on a node of this node group, each naming its field. */
export function replicaFitViolations(request: ByocRequest, node: NodeShape): Violation[] {
  const where = `node group "${request.nodeGroup}" (${node.instanceType || 'unknown instance type'})`;
  if (!node.gpu || node.gpu.count === 0)
    return [{ path: 'cloud.nodeGroup', message: `${where} has no GPUs` }];
  const violations: Violation[] = [];
  if (request.gpusPerReplica > node.gpu.count) {
    violations.push({
      path: 'cloud.gpusPerReplica',
      message: `${request.gpusPerReplica} GPUs per replica do not fit a node of ${where}, which has ${node.gpu.count} ${node.gpu.type}`,
    });
  }
  const cpu = parseCpuQuantity(request.resources.cpuRequest);
  if (node.vcpus !== undefined && cpu !== null && cpu > node.vcpus) {
    violations.push({
      path: 'cloud.resources.cpuRequest',
      message: `cpuRequest ${request.resources.cpuRequest} does not fit a node of ${where}, which has ${node.vcpus} vCPUs`,
    });
  }
  const memory = parseMemoryQuantity(request.resources.memoryRequest);
  if (node.memoryMiB !== undefined && memory !== null && memory > node.memoryMiB * 2 ** 20) {
    violations.push({
      path: 'cloud.resources.memoryRequest',
      message: `memoryRequest ${request.resources.memoryRequest} does not fit a node of ${where}, which has ${node.memoryMiB} MiB`,
    });
  }
  return violations;
}

/** GPUs the node group holds at its maximum size: the quota of BYOC deployments on it. */
export function nodeGroupGpuCapacity(node: NodeShape, maxNodes: number): number {
  return (node.gpu?.count ?? 0) * maxNodes;
}

/**
 * Nodes needed to place replicas of these GPU sizes (first fit, largest first: optimal for the
 * usual one or two sizes on a node group, and never fewer than the GPUs need).
 */
export function nodesForReplicas(replicaGpus: readonly number[], gpusPerNode: number): number {
  const free: number[] = [];
  for (const gpus of [...replicaGpus].sort((a, b) => b - a)) {
    if (gpus > gpusPerNode)
      throw new Error(`a replica needs ${gpus} GPUs; a node has ${gpusPerNode}`);
    const node = free.findIndex((left) => left >= gpus);
    if (node >= 0) free[node] = (free[node] ?? 0) - gpus;
    else free.push(gpusPerNode - gpus);
  }
  return free.length;
}
