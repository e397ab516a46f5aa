/**
 * EKS for BYOC: the customer's node groups, their GPUs, sizing them so the replicas fit, and the
 * token the Kubernetes provider presents to the cluster. The Kubernetes provider does the rest.
 */
import { createHash, createHmac } from 'node:crypto';
import { DescribeInstanceTypesCommand, EC2Client, type _InstanceType } from '@aws-sdk/client-ec2';
import {
  DescribeClusterCommand,
  DescribeNodegroupCommand,
  EKSClient,
  ListNodegroupsCommand,
  UpdateNodegroupConfigCommand,
} from '@aws-sdk/client-eks';
import { SignatureV4 } from '@smithy/signature-v4';
import { nodesForReplicas } from './node-group-fit';

export interface AwsCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

export interface AwsAccess {
  region: string;
  /** Omitted: the AWS default credential chain (environment, profile, instance or pod role). */
  credentials?: AwsCredentials;
  /** A different endpoint (tests: moto). */
  endpoint?: string;
}

export interface NodeGroupInfo {
  name: string;
  instanceType: string;
  /** GPUs of one node, from EC2's instance type data; undefined for CPU-only node groups. */
  gpu?: { type: string; count: number; memoryMiB: number };
  /** vCPUs and memory of one node, from the same data. */
  vcpus?: number;
  memoryMiB?: number;
  size: { min: number; max: number; desired: number };
  status: string;
}

/**
 * An AWS call that failed, said without AWS's own message: those can echo the request, its
 * signature and the access key id (SignatureDoesNotMatch does). What is kept: the call, the
 * error's code, the HTTP status, and whether the credentials were refused.
 */
export class AwsCallError extends Error {
  constructor(
    readonly call: string,
    readonly code: string,
    readonly httpStatus: number | undefined,
    /** AWS refused who we are (bad, expired or unauthorised credentials): retrying will not help. */
    readonly refused: boolean,
  ) {
    super(`AWS ${call} failed: ${code}${httpStatus ? ` (HTTP ${httpStatus})` : ''}`);
    this.name = 'AwsCallError';
  }
}

/** Error codes (and the credential chain's failure) that mean "not with these credentials". */
const REFUSED_CODES = new Set([
  'UnrecognizedClientException',
  'InvalidClientTokenId',
  'SignatureDoesNotMatch',
  'IncompleteSignature',
  'IncompleteSignatureException',
  'InvalidSignatureException',
  'MissingAuthenticationToken',
  'MissingAuthenticationTokenException',
  'AccessDenied',
  'AccessDeniedException',
  'UnauthorizedOperation',
  'AuthFailure',
  'ExpiredToken',
  'ExpiredTokenException',
  'RequestExpired',
  'CredentialsProviderError',
]);

export function awsCallError(call: string, err: unknown): AwsCallError {
  if (err instanceof AwsCallError) return err;
  const e = (err ?? {}) as {
    name?: string;
    code?: string;
    $metadata?: { httpStatusCode?: number };
  };
  // A system error (ECONNREFUSED, ETIMEDOUT) is safe to name; AWS's own codes are its `name`.
  const system = typeof e.code === 'string' && /^E[A-Z]+$/.test(e.code) ? e.code : undefined;
  // A JavaScript error (SyntaxError, TypeError) means the answer could not be read, not its code.
  const javascript = ['Error', 'SyntaxError', 'TypeError', 'RangeError'].includes(
    e.name ?? 'Error',
  );
  const code = system ?? (javascript ? 'UnreadableResponse' : (e.name as string));
  const status = e.$metadata?.httpStatusCode;
  return new AwsCallError(
    call,
    code,
    status,
    REFUSED_CODES.has(code) || status === 401 || status === 403,
  );
}

/** Runs an AWS call; a failure comes out as an AwsCallError (no AWS message text). */
async function aws<T>(call: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    throw awsCallError(call, err);
  }
}

export class EksNodeGroups {
  private readonly eks: EKSClient;
  private readonly ec2: EC2Client;
  private readonly region: string;

  constructor(access: AwsAccess) {
    const options = {
      region: access.region,
      credentials: access.credentials,
      ...(access.endpoint ? { endpoint: access.endpoint } : {}),
    };
    this.region = access.region;
    this.eks = new EKSClient(options);
    this.ec2 = new EC2Client(options);
  }

  /** The credentials in use (given, or resolved by the default chain), for signing EKS tokens. */
  async credentials(): Promise<AwsCredentials> {
    const { accessKeyId, secretAccessKey, sessionToken } = await aws('credentials', () =>
      this.eks.config.credentials(),
    );
    return { accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) };
  }

  /** The cluster's Kubernetes API endpoint and CA (base64 PEM), as EKS reports them. */
  async describeCluster(
    cluster: string,
  ): Promise<{ endpoint?: string; caData?: string; status: string }> {
    const found = (
      await aws('EKS DescribeCluster', () =>
        this.eks.send(new DescribeClusterCommand({ name: cluster })),
      )
    ).cluster;
    return {
      ...(found?.endpoint ? { endpoint: found.endpoint } : {}),
      ...(found?.certificateAuthority?.data ? { caData: found.certificateAuthority.data } : {}),
      status: found?.status ?? 'UNKNOWN',
    };
  }

  get awsRegion(): string {
    return this.region;
  }

  async discover(cluster: string): Promise<NodeGroupInfo[]> {
    const names =
      (
        await aws('EKS ListNodegroups', () =>
          this.eks.send(new ListNodegroupsCommand({ clusterName: cluster })),
        )
      ).nodegroups ?? [];
    const groups = await Promise.all(names.map((name) => this.describe(cluster, name)));
    const types = [...new Set(groups.map((g) => g.instanceType).filter(Boolean))];
    const shapes = new Map<string, Pick<NodeGroupInfo, 'gpu' | 'vcpus' | 'memoryMiB'>>();
    if (types.length > 0) {
      const described = await aws('EC2 DescribeInstanceTypes', () =>
        this.ec2.send(
          new DescribeInstanceTypesCommand({ InstanceTypes: types as _InstanceType[] }),
        ),
      );
      for (const t of described.InstanceTypes ?? []) {
        if (!t.InstanceType) continue;
        const gpu = t.GpuInfo?.Gpus?.[0];
        shapes.set(t.InstanceType, {
          ...(gpu
            ? {
                gpu: {
                  type: gpu.Name ?? 'unknown',
                  count: gpu.Count ?? 0,
                  memoryMiB: gpu.MemoryInfo?.SizeInMiB ?? 0,
                },
              }
            : {}),
          ...(t.VCpuInfo?.DefaultVCpus ? { vcpus: t.VCpuInfo.DefaultVCpus } : {}),
          ...(t.MemoryInfo?.SizeInMiB ? { memoryMiB: t.MemoryInfo.SizeInMiB } : {}),
        });
      }
    }
    return groups.map((g) => ({ ...g, ...shapes.get(g.instanceType) }));
  }

  /**
   * Makes the node group at least `nodes` big (never shrinks it: other workloads may use it) and
   * waits until EKS reports it ACTIVE at that size. DescribeUpdate is not polled: DescribeNodegroup
   * says the same and works everywhere (moto has no DescribeUpdate).
   */
  async ensureNodes(
    cluster: string,
    nodeGroup: string,
    nodes: number,
    wait: { timeoutMs: number; pollMs: number; heartbeat?: (info: NodeGroupInfo) => void },
  ): Promise<NodeGroupInfo> {
    let info = await this.describe(cluster, nodeGroup);
    if (nodes > info.size.max) {
      throw new Error(
        `node group ${nodeGroup} of cluster ${cluster} can grow to ${info.size.max} nodes; ${nodes} are needed`,
      );
    }
    if (info.size.desired < nodes) {
      await aws('EKS UpdateNodegroupConfig', () =>
        this.eks.send(
          new UpdateNodegroupConfigCommand({
            clusterName: cluster,
            nodegroupName: nodeGroup,
            scalingConfig: { minSize: info.size.min, maxSize: info.size.max, desiredSize: nodes },
          }),
        ),
      );
    }
    const until = Date.now() + wait.timeoutMs;
    for (;;) {
      info = await this.describe(cluster, nodeGroup);
      if (info.status === 'ACTIVE' && info.size.desired >= nodes) return info;
      if (Date.now() > until)
        throw new Error(
          `node group ${nodeGroup} did not reach ${nodes} nodes in ${wait.timeoutMs / 1000} s (status ${info.status}, desired ${info.size.desired})`,
        );
      wait.heartbeat?.(info);
      await new Promise((r) => setTimeout(r, wait.pollMs));
    }
  }

  private async describe(cluster: string, name: string): Promise<NodeGroupInfo> {
    const ng = (
      await aws('EKS DescribeNodegroup', () =>
        this.eks.send(new DescribeNodegroupCommand({ clusterName: cluster, nodegroupName: name })),
      )
    ).nodegroup;
    return {
      name,
      instanceType: ng?.instanceTypes?.[0] ?? '',
      size: {
        min: ng?.scalingConfig?.minSize ?? 0,
        max: ng?.scalingConfig?.maxSize ?? 0,
        desired: ng?.scalingConfig?.desiredSize ?? 0,
      },
      status: ng?.status ?? 'UNKNOWN',
    };
  }
}

/** Nodes a node group needs so `replicas` of `gpusPerReplica` GPUs fit, `gpusPerNode` to a node. */
export function nodesNeeded(replicas: number, gpusPerReplica: number, gpusPerNode: number): number {
  return nodesForReplicas(Array<number>(replicas).fill(gpusPerReplica), gpusPerNode);
}

/**
 * An EKS bearer token: `k8s-aws-v1.` + base64url of a presigned STS GetCallerIdentity URL that
 * signs the header `x-k8s-aws-id: <cluster>`, valid for 60 s. The cluster's authenticator calls
 * the URL to learn who is asking.
 */
export async function eksToken(
  cluster: string,
  access: AwsAccess & { credentials: AwsCredentials },
  now = new Date(),
): Promise<string> {
  const endpoint = new URL(access.endpoint ?? `https://sts.${access.region}.amazonaws.com`);
  const signer = new SignatureV4({
    service: 'sts',
    region: access.region,
    credentials: access.credentials,
    sha256: NodeSha256,
  });
  const presigned = await signer.presign(
    {
      method: 'GET',
      protocol: endpoint.protocol,
      hostname: endpoint.hostname,
      ...(endpoint.port ? { port: Number(endpoint.port) } : {}),
      path: '/',
      query: { Action: 'GetCallerIdentity', Version: '2011-06-15' },
      headers: { host: endpoint.host, 'x-k8s-aws-id': cluster },
    },
    { expiresIn: 60, signingDate: now },
  );
  const query = new URLSearchParams(presigned.query as Record<string, string>).toString();
  const url = `${endpoint.protocol}//${endpoint.host}${presigned.path}?${query}`;
  return `k8s-aws-v1.${Buffer.from(url).toString('base64url')}`;
}

/** The hash the signer needs (SHA-256, or HMAC-SHA-256 with a secret), from Node's crypto. */
class NodeSha256 {
  private readonly hash;
  constructor(secret?: string | ArrayBuffer | ArrayBufferView) {
    this.hash =
      secret === undefined
        ? createHash('sha256')
        : createHmac(
            'sha256',
            typeof secret === 'string' ? secret : Buffer.from(secret as ArrayBuffer),
          );
  }
  update(data: string | ArrayBuffer | ArrayBufferView): void {
    this.hash.update(typeof data === 'string' ? data : Buffer.from(data as ArrayBuffer));
  }
  async digest(): Promise<Uint8Array> {
    return new Uint8Array(this.hash.digest());
  }
}
