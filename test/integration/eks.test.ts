/**
 * EKS for BYOC against moto: node group discovery with GPU types, sizing, and the EKS token, which
 * a real kube-apiserver accepts through webhook token authentication (a stand-in for
 * aws-iam-authenticator that calls moto's STS).
 */
import { CreateClusterCommand, CreateNodegroupCommand, EKSClient } from '@aws-sdk/client-eks';
import { AuthenticationV1Api, CoreV1Api } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EksNodeGroups, eksToken, nodesNeeded } from '../../activities/providers/eks';
import {
  eksKubeConfig,
  MOTO_ACCOUNT,
  startByocCluster,
  type ByocCluster,
} from '../helpers/eks-authenticator';
import { MOTO_ACCESS, startMoto, type Moto } from '../helpers/moto';

let moto: Moto;
const cluster = 'prod-eks';

beforeAll(async () => {
  moto = await startMoto();
  const eks = new EKSClient(MOTO_ACCESS(moto.endpoint));
  await eks.send(
    new CreateClusterCommand({
      name: cluster,
      roleArn: 'arn:aws:iam::123456789012:role/eks',
      resourcesVpcConfig: { subnetIds: ['subnet-1'] },
    }),
  );
  // moto shares one default scalingConfig between node groups unless each passes its own.
  for (const [name, type, desired] of [
    ['gpu-h100', 'p5.48xlarge', 1],
    ['gpu-a10g', 'g5.xlarge', 2],
  ] as const) {
    await eks.send(
      new CreateNodegroupCommand({
        clusterName: cluster,
        nodegroupName: name,
        nodeRole: 'arn:aws:iam::123456789012:role/node',
        subnets: ['subnet-1'],
        instanceTypes: [type],
        scalingConfig: { minSize: 0, maxSize: 4, desiredSize: desired },
      }),
    );
  }
}, 60_000);
afterAll(async () => moto?.stop());

describe('EKS node groups', () => {
  it('discovers node groups with their GPU type and count from EC2 instance type data', async () => {
    const groups = await new EksNodeGroups(MOTO_ACCESS(moto.endpoint)).discover(cluster);
    expect(groups.map((g) => [g.name, g.instanceType, g.gpu?.type, g.gpu?.count]).sort()).toEqual([
      ['gpu-a10g', 'g5.xlarge', 'A10G', 1],
      ['gpu-h100', 'p5.48xlarge', 'H100', 8],
    ]);
  });

  it.each([
    ['3 replicas of 8 GPUs need 3 nodes of 8', 3, 8, 8, 3],
    ['3 replicas of 2 GPUs fit 4 to a node: 1 node', 3, 2, 8, 1],
    ['5 replicas of 3 GPUs fit 2 to a node of 8: 3 nodes', 5, 3, 8, 3],
  ])('%s', (_s, replicas, perReplica, perNode, nodes) =>
    expect(nodesNeeded(replicas, perReplica, perNode)).toBe(nodes),
  );

  it('refuses a replica bigger than a node', () => {
    expect(() => nodesNeeded(1, 16, 8)).toThrow(/needs 16 GPUs; a node has 8/);
  });

  it('grows a node group so the replicas fit, waits for it, and refuses to pass its maximum', async () => {
    const groups = new EksNodeGroups(MOTO_ACCESS(moto.endpoint));
    const sized = await groups.ensureNodes(cluster, 'gpu-h100', 3, {
      timeoutMs: 10_000,
      pollMs: 100,
    });
    expect(sized).toMatchObject({ status: 'ACTIVE', size: { desired: 3, max: 4 } });
    await expect(
      groups.ensureNodes(cluster, 'gpu-h100', 5, { timeoutMs: 1000, pollMs: 100 }),
    ).rejects.toThrow(/can grow to 4 nodes; 5 are needed/);
  });
});

describe('EKS token, through a real kube-apiserver', () => {
  // moto + the stand-in aws-iam-authenticator + a control plane whose apiserver asks it.
  let byoc: ByocCluster;
  beforeAll(async () => {
    byoc = await startByocCluster({ cluster: 'byoc-eks', namespace: 'models' });
  }, 180_000);
  afterAll(async () => byoc?.stop(), 60_000);

  const motoArn = `arn:aws:sts::${MOTO_ACCOUNT}:user/moto`;
  /** A call the group may make (configmaps in its namespace), with `token` as the bearer. */
  const listConfigMaps = (token: string) =>
    eksKubeConfig(byoc.controlPlane, token)
      .makeApiClient(CoreV1Api)
      .listNamespacedConfigMap({ namespace: byoc.namespace });

  it('is a presigned STS GetCallerIdentity URL that signs the cluster id', async () => {
    const token = await eksToken(byoc.cluster, byoc.access);
    expect(token).toMatch(/^k8s-aws-v1\.[A-Za-z0-9_-]+$/);
    const url = new URL(Buffer.from(token.slice('k8s-aws-v1.'.length), 'base64url').toString());
    expect(url.origin).toBe(byoc.moto.endpoint);
    expect(Object.fromEntries(url.searchParams)).toMatchObject({
      Action: 'GetCallerIdentity',
      'X-Amz-SignedHeaders': 'host;x-k8s-aws-id',
      'X-Amz-Expires': '60',
    });
  });

  it('authenticates as the mapped user and group, with the rights RBAC gives that group', async () => {
    const kc = await byoc.kubeconfig();
    // What `kubectl auth whoami` shows.
    const review = await kc.makeApiClient(AuthenticationV1Api).createSelfSubjectReview({
      body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' },
    });
    expect(review.status?.userInfo).toMatchObject({
      username: `eks:${motoArn}`,
      uid: expect.stringMatching(new RegExp(`^aws-iam-authenticator:${MOTO_ACCOUNT}:`)),
      groups: expect.arrayContaining([byoc.group, 'system:authenticated']),
      extra: { arn: [motoArn] },
    });

    const core = kc.makeApiClient(CoreV1Api);
    await core.createNamespacedConfigMap({
      namespace: byoc.namespace,
      body: { metadata: { name: 'from-eks-token' }, data: { hello: 'world' } },
    });
    expect(
      await byoc.controlPlane.kubectl(
        'get',
        'configmap',
        'from-eks-token',
        '-n',
        byoc.namespace,
        '-o',
        'jsonpath={.data.hello}',
      ),
    ).toBe('world');
    const pods = await core.listNamespacedPod({ namespace: byoc.namespace });
    expect(pods.items).toEqual([]);
    // Authenticated, but only the namespace the group is bound in: RBAC decides, not the token.
    await expect(core.listNamespacedPod({ namespace: 'kube-system' })).rejects.toMatchObject({
      code: 403,
    });
    await expect(core.listNode()).rejects.toMatchObject({ code: 403 });
  });

  it.each([
    ['a forged token', async () => 'k8s-aws-v1.aGVsbG8', /not a URL/],
    [
      'a token for another cluster',
      () => eksToken('another-cluster', byoc.access),
      /signature does not match/,
    ],
    [
      'a token signed with the wrong secret',
      () =>
        eksToken(byoc.cluster, {
          ...byoc.access,
          credentials: { accessKeyId: 'testing', secretAccessKey: 'not-the-secret' },
        }),
      /signature does not match/,
    ],
    [
      'a token older than 15 minutes',
      () => eksToken(byoc.cluster, byoc.access, new Date(Date.now() - 16 * 60_000)),
      /expired/,
    ],
    [
      'a token that points somewhere other than STS',
      () => eksToken(byoc.cluster, { ...byoc.access, endpoint: 'http://127.0.0.1:9' }),
      /not at STS/,
    ],
  ])("refuses %s with 401, for the authenticator's reason", async (_what, token, reason) => {
    const before = byoc.authenticator.reviews.length;
    await expect(listConfigMaps(await token())).rejects.toMatchObject({ code: 401 });
    expect(byoc.authenticator.reviews.slice(before)).toEqual([
      { authenticated: false, error: expect.stringMatching(reason) },
    ]);
  });

  it('still accepts the static admin token, without asking the authenticator', async () => {
    const before = byoc.authenticator.reviews.length;
    const namespaces = await byoc.controlPlane.kubeconfig
      .makeApiClient(CoreV1Api)
      .readNamespace({ name: byoc.namespace });
    expect(namespaces.metadata?.name).toBe(byoc.namespace);
    expect(byoc.authenticator.reviews.length).toBe(before);
  });
});
