/** EKS for BYOC against moto: node group discovery with GPU types, sizing, and the EKS token. */
import http from 'node:http';
import { CreateClusterCommand, CreateNodegroupCommand, EKSClient } from '@aws-sdk/client-eks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EksNodeGroups, eksToken, nodesNeeded } from '../../activities/providers/eks';
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

describe('EKS token', () => {
  it('is a presigned STS GetCallerIdentity URL for the cluster, accepted by a server that calls it', async () => {
    const access = MOTO_ACCESS(moto.endpoint);
    // A stand-in for the cluster's authenticator: decode the token, call STS with it, say who it is.
    const authenticator = http.createServer(async (req, res) => {
      const token = /^Bearer k8s-aws-v1\.(.+)$/.exec(req.headers.authorization ?? '')?.[1];
      if (!token) return void res.writeHead(401).end();
      let url: URL;
      try {
        url = new URL(Buffer.from(token, 'base64url').toString());
      } catch {
        return void res.writeHead(401).end('not a URL');
      }
      const signedHeaders = url.searchParams.get('X-Amz-SignedHeaders') ?? '';
      if (
        url.searchParams.get('Action') !== 'GetCallerIdentity' ||
        !signedHeaders.split(';').includes('x-k8s-aws-id') ||
        url.searchParams.get('X-Amz-Expires') !== '60'
      ) {
        return void res.writeHead(403).end('not an EKS token');
      }
      // moto routes a request by its Authorization header, which a presigned GET does not have:
      // hand it the presigned signature that way (the real authenticator calls the real STS).
      const q = url.searchParams;
      const authorization = `AWS4-HMAC-SHA256 Credential=${q.get('X-Amz-Credential')}, SignedHeaders=${q.get('X-Amz-SignedHeaders')}, Signature=${q.get('X-Amz-Signature')}`;
      const { status, body } = await new Promise<{ status: number; body: string }>(
        (resolve, reject) => {
          const call = http.request(
            {
              host: url.hostname,
              port: url.port,
              path: `${url.pathname}${url.search}`,
              headers: { authorization, 'x-k8s-aws-id': cluster },
            },
            (r) => {
              let text = '';
              r.on('data', (c: Buffer) => (text += c.toString()));
              r.on('end', () => resolve({ status: r.statusCode ?? 0, body: text }));
            },
          );
          call.on('error', reject);
          call.end();
        },
      );
      res
        .writeHead(status === 200 && body.includes('<Arn>') ? 200 : 403)
        .end(/<Arn>(.*)<\/Arn>/.exec(body)?.[1] ?? body);
    });
    await new Promise<void>((r) => authenticator.listen(0, '127.0.0.1', () => r()));
    const { port } = authenticator.address() as { port: number };
    try {
      const token = await eksToken(cluster, access);
      expect(token).toMatch(/^k8s-aws-v1\.[A-Za-z0-9_-]+$/);
      const res = await fetch(`http://127.0.0.1:${port}/`, {
        headers: { authorization: `Bearer ${token}` },
      });
      const text = await res.text();
      expect(res.status, text).toBe(200);
      expect(text).toMatch(/^arn:aws:/);
      const forged = await fetch(`http://127.0.0.1:${port}/`, {
        headers: { authorization: 'Bearer k8s-aws-v1.aGVsbG8' },
      });
      expect(forged.status).not.toBe(200);
    } finally {
      authenticator.close();
    }
  });
});
