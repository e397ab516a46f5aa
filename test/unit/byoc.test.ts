/**
 * BYOC pure logic: a replica against a node, node group capacity and packing, the cluster
 * registry (its edge gateway and the token secret included).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ClusterError, EksClusters } from '../../activities/providers/byoc';
import {
  nodeGroupGpuCapacity,
  nodesForReplicas,
  replicaFitViolations,
  type NodeShape,
} from '../../activities/providers/node-group-fit';
import { awsCallError } from '../../activities/providers/eks';
import { growthMessage } from '../../activities/runtime';
import { clustersOf, clustersSchema, findCluster } from '../../config/clusters';
import { violationsOf } from '../../workflows/domain/spec';

const P5: NodeShape = {
  instanceType: 'p5.48xlarge',
  gpu: { type: 'H100', count: 8 },
  vcpus: 192,
  memoryMiB: 2_097_152,
};
const request = (over: Partial<{ gpus: number; cpu: string; memory: string }> = {}) => ({
  nodeGroup: 'gpu-h100',
  gpusPerReplica: over.gpus ?? 8,
  resources: { cpuRequest: over.cpu ?? '16', memoryRequest: over.memory ?? '256Gi' },
});

describe('a replica against a node of its node group', () => {
  it.each([
    { sentence: 'a whole p5 node fits', request: request(), node: P5, paths: [] },
    {
      sentence: 'exactly the node vCPUs and memory fit',
      request: request({ cpu: '192', memory: '2Ti' }),
      node: P5,
      paths: [],
    },
    {
      sentence: 'more GPUs than a node has',
      request: request({ gpus: 9 }),
      node: P5,
      paths: ['cloud.gpusPerReplica'],
    },
    {
      sentence: 'more CPU than a node has',
      request: request({ cpu: '193' }),
      node: P5,
      paths: ['cloud.resources.cpuRequest'],
    },
    {
      sentence: 'more memory than a node has',
      request: request({ memory: '3Ti' }),
      node: P5,
      paths: ['cloud.resources.memoryRequest'],
    },
    {
      sentence: 'every field that does not fit, at once',
      request: request({ gpus: 16, cpu: '500', memory: '4Ti' }),
      node: P5,
      paths: [
        'cloud.gpusPerReplica',
        'cloud.resources.cpuRequest',
        'cloud.resources.memoryRequest',
      ],
    },
    {
      sentence: 'a node group without GPUs',
      request: request(),
      node: { instanceType: 'm5.large', vcpus: 2 },
      paths: ['cloud.nodeGroup'],
    },
    {
      sentence: 'unknown CPU and memory are not held against it',
      request: request({ cpu: '1000' }),
      node: { instanceType: 'x', gpu: { type: 'H100', count: 8 } },
      paths: [],
    },
  ])('$sentence', ({ request, node, paths }) => {
    expect(replicaFitViolations(request, node).map((v) => v.path)).toEqual(paths);
  });

  it('says what the node has', () => {
    expect(replicaFitViolations(request({ gpus: 9 }), P5)[0]?.message).toBe(
      '9 GPUs per replica do not fit a node of node group "gpu-h100" (p5.48xlarge), which has 8 H100',
    );
  });
});

describe('node group capacity and packing', () => {
  it('capacity is GPUs per node x the maximum size', () => {
    expect(nodeGroupGpuCapacity(P5, 3)).toBe(24);
    expect(nodeGroupGpuCapacity({ instanceType: 'm5.large' }, 3)).toBe(0);
  });

  it.each([
    { sentence: 'nothing needs no node', replicas: [], nodes: 0 },
    { sentence: 'four 2-GPU replicas share one 8-GPU node', replicas: [2, 2, 2, 2], nodes: 1 },
    {
      sentence: 'three 3-GPU replicas need two nodes (a GPU count alone says 2)',
      replicas: [3, 3, 3],
      nodes: 2,
    },
    {
      sentence: 'five 3-GPU replicas need three nodes (15 GPUs would fit two)',
      replicas: [3, 3, 3, 3, 3],
      nodes: 3,
    },
    { sentence: 'mixed sizes pack largest first', replicas: [2, 6, 2, 6], nodes: 2 },
    { sentence: 'whole-node replicas take a node each', replicas: [8, 8, 8], nodes: 3 },
  ])('$sentence', ({ replicas, nodes }) => {
    expect(nodesForReplicas(replicas, 8)).toBe(nodes);
  });

  it('refuses a replica bigger than a node', () => {
    expect(() => nodesForReplicas([16], 8)).toThrow('a replica needs 16 GPUs; a node has 8');
  });

  it.each([
    {
      grown: { grewFrom: 1, grewTo: 2, needed: 2, max: 4 },
      message: 'node group gpu-h100 grown from 1 to 2 node(s) for 3 replica(s) of revision 2',
    },
    {
      grown: { grewFrom: 1, grewTo: 2, needed: 3, max: 2 },
      message:
        'node group gpu-h100 grown from 1 to 2 node(s) for 3 replica(s) of revision 2; 3 node(s) are needed, so replicas that do not fit stay Pending',
    },
    {
      grown: { grewFrom: 2, grewTo: 2, needed: 3, max: 2 },
      message:
        'node group gpu-h100 is at its maximum of 2 node(s); 3 node(s) are needed, so replicas that do not fit stay Pending',
    },
  ])('reports growth: $message', ({ grown, message }) => {
    expect(growthMessage('gpu-h100', grown, 3, 2)).toBe(message);
  });
});

describe('the cluster registry (CLUSTERS_FILE)', () => {
  const registry = clustersSchema.parse({
    team: { 'prod-eks': { provider: 'eks', region: 'us-east-1', credentialsSecret: 'aws-prod' } },
    '*': {
      shared: { provider: 'eks', region: 'eu-west-1', eksClusterName: 'gpu-pool' },
      'prod-eks': { provider: 'eks', region: 'ap-south-1' },
    },
  });

  it('finds the workspace entry before the shared one, with defaults filled in', () => {
    expect(findCluster(registry, 'team', 'prod-eks')).toEqual({
      name: 'prod-eks',
      provider: 'eks',
      region: 'us-east-1',
      eksClusterName: 'prod-eks',
      credentialsSecret: 'aws-prod',
      namespace: 'model-deployments',
    });
    expect(findCluster(registry, 'other', 'prod-eks')?.region).toBe('ap-south-1');
    expect(findCluster(registry, 'team', 'shared')?.eksClusterName).toBe('gpu-pool');
    expect(findCluster(registry, 'team', 'nowhere')).toBeUndefined();
    expect(clustersOf(registry, 'team').map((c) => `${c.name}:${c.region}`)).toEqual([
      'prod-eks:us-east-1',
      'shared:eu-west-1',
    ]);
  });

  it.each([
    {
      sentence: 'an unknown provider',
      entry: { provider: 'gke', region: 'us-east-1' },
      path: 'team.c.provider',
    },
    {
      sentence: 'a region that is not one',
      entry: { provider: 'eks', region: 'east' },
      path: 'team.c.region',
    },
    {
      sentence: 'key material instead of a secret name',
      entry: { provider: 'eks', region: 'us-east-1', credentialsSecret: 'AKIA/abc+def' },
      path: 'team.c.credentialsSecret',
    },
    {
      sentence: 'inline credentials',
      entry: { provider: 'eks', region: 'us-east-1', accessKeyId: 'AKIA' },
      path: 'team.c',
    },
    {
      sentence: 'a namespace that is not a DNS label',
      entry: { provider: 'eks', region: 'us-east-1', namespace: 'Models' },
      path: 'team.c.namespace',
    },
    {
      sentence:
        'an edge gateway over plain http to a remote host (the token would travel in clear)',
      entry: {
        provider: 'eks',
        region: 'us-east-1',
        gateway: { url: 'http://edge.example.com', tokenSecret: 'edge' },
      },
      path: 'team.c.gateway.url',
    },
    {
      sentence: 'an edge gateway URL with credentials in it',
      entry: {
        provider: 'eks',
        region: 'us-east-1',
        gateway: { url: 'https://user:pw@edge.example.com', tokenSecret: 'edge' },
      },
      path: 'team.c.gateway.url',
    },
    {
      sentence: 'an edge gateway token inline instead of a secret name',
      entry: {
        provider: 'eks',
        region: 'us-east-1',
        gateway: { url: 'https://edge.example.com', token: 'abc' },
      },
      path: 'team.c.gateway',
    },
  ])('refuses $sentence, naming the field', ({ entry, path }) => {
    const parsed = clustersSchema.safeParse({ team: { c: entry } });
    expect(parsed.success).toBe(false);
    if (!parsed.success) expect(violationsOf(parsed.error).map((v) => v.path)).toContain(path);
  });
});

describe('AWS errors are told by code, never by AWS message', () => {
  const awsError = (name: string, message: string, status?: number) =>
    Object.assign(new Error(message), {
      name,
      ...(status ? { $metadata: { httpStatusCode: status } } : {}),
    });
  it.each([
    ['SignatureDoesNotMatch', 403, true],
    ['UnrecognizedClientException', 403, true],
    ['ExpiredTokenException', 400, true],
    ['CredentialsProviderError', undefined, true],
    ['ThrottlingException', 429, false],
    ['ResourceNotFoundException', 404, false],
  ] as const)('%s (HTTP %s): refused %s', (name, status, refused) => {
    const echo = 'The Canonical String ... Credential=AKIAIOSFODNN7EXAMPLE/20261130/us-east-1';
    const err = awsCallError('EKS ListNodegroups', awsError(name, echo, status));
    expect(err.refused).toBe(refused);
    expect(err.code).toBe(name);
    expect(err.message).toBe(
      `AWS EKS ListNodegroups failed: ${name}${status ? ` (HTTP ${status})` : ''}`,
    );
    expect(err.message).not.toContain('AKIA');
  });

  it('names a network failure by its system code, and an unreadable answer as such', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), {
      code: 'ECONNREFUSED',
    });
    expect(awsCallError('EKS DescribeCluster', refused).message).toBe(
      'AWS EKS DescribeCluster failed: ECONNREFUSED',
    );
    const garbled = awsCallError('EKS ListNodegroups', awsError('SyntaxError', '<xml>', 403));
    expect(garbled).toMatchObject({ code: 'UnreadableResponse', refused: true });
  });
});

describe("a cluster's edge gateway (CLUSTERS_FILE gateway, its token in SECRETS_DIR)", () => {
  const TOKEN = 'edge-token-0123456789abcdef0123456789abcdef';

  function clustersWith(secrets: Record<string, unknown>) {
    const secretsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'md-edge-secrets-'));
    for (const [name, value] of Object.entries(secrets))
      fs.writeFileSync(
        path.join(secretsDir, `${name}.json`),
        typeof value === 'string' ? value : JSON.stringify(value),
      );
    const registry = clustersSchema.parse({
      team: {
        edged: {
          provider: 'eks',
          region: 'us-east-1',
          gateway: { url: 'https://edge.team.example/prefix/', tokenSecret: 'edge-team' },
        },
        tunnelled: {
          provider: 'eks',
          region: 'us-east-1',
          gateway: { url: 'http://127.0.0.1:18443', tokenSecret: 'edge-team' },
        },
        bare: { provider: 'eks', region: 'us-east-1' },
      },
    });
    const clusters = new EksClusters({ registry, secretsDir, scaleTimeoutMs: 10_000 });
    return { clusters, cleanup: () => fs.rmSync(secretsDir, { recursive: true, force: true }) };
  }

  it('gives the URL (https, or http to loopback; no trailing slash) and the token the secret holds', () => {
    const { clusters, cleanup } = clustersWith({ 'edge-team': { token: `${TOKEN}\n` } });
    try {
      expect(clusters.edgeGateway('team', 'edged')).toEqual({
        cluster: 'edged',
        url: 'https://edge.team.example/prefix',
        tokenSecret: 'edge-team',
        token: TOKEN,
      });
      expect(clusters.edgeGateway('team', 'tunnelled')?.url).toBe('http://127.0.0.1:18443');
      expect(clusters.edgeGateway('team', 'bare')).toBeUndefined();
      expect(() => clusters.edgeGateway('team', 'nowhere')).toThrow(ClusterError);
    } finally {
      cleanup();
    }
  });

  it.each([
    ['missing', {}, /edge gateway token secret "edge-team" does not exist/],
    [
      'not JSON',
      { 'edge-team': `token=${TOKEN}` },
      /edge gateway token secret "edge-team" is not JSON/,
    ],
    [
      'too short',
      { 'edge-team': { token: 'short' } },
      /must hold \{"token": "\.\.\."\} of at least 32 characters/,
    ],
  ])(
    'refuses a token secret that is %s, naming it, never its content',
    (_what, secrets, message) => {
      const { clusters, cleanup } = clustersWith(secrets);
      try {
        const err = (() => {
          try {
            clusters.edgeGateway('team', 'edged');
          } catch (e) {
            return e as Error;
          }
          return undefined;
        })();
        expect(err).toBeInstanceOf(ClusterError);
        expect(err?.message).toMatch(message);
        expect(err?.message).not.toContain('short');
        expect(err?.message).not.toContain(TOKEN);
      } finally {
        cleanup();
      }
    },
  );
});
