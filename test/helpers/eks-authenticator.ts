/**
 * EKS authentication for tests, end to end: a stand-in for aws-iam-authenticator that a real
 * kube-apiserver asks (webhook token authentication, authentication.k8s.io/v1 TokenReview) about
 * EKS bearer tokens, checking them as the real one does and asking moto's STS who they belong to.
 *
 *   startEksAuthenticator({ stsEndpoint, cluster, groups }) -> { url, reviews, stop }
 *   startByocCluster()  -> moto + authenticator + a control plane whose apiserver uses it, with
 *                          the mapped group allowed to `edit` one namespace, and kubeconfig() for
 *                          a KubeConfig that authenticates with a fresh EKS token, as BYOC does.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import { CreateClusterCommand, EKSClient } from '@aws-sdk/client-eks';
import { KubeConfig } from '@kubernetes/client-node';
import { eksToken } from '../../activities/providers/eks';
import { startControlPlane, type ControlPlane, type ControlPlaneOptions } from './kubernetes';
import { MOTO_ACCESS, startMoto, type Moto } from './moto';

/** moto's account: every identity its default credentials resolve to lives there. */
export const MOTO_ACCOUNT = '123456789012';

export interface EksAuthenticatorOptions {
  /** The STS the tokens must point at (moto's endpoint); any other host is refused, as the real one does. */
  stsEndpoint: string;
  /** The cluster id the tokens must be signed for (the signed `x-k8s-aws-id` header). */
  cluster: string;
  /** The groups of every mapped identity. */
  groups: string[];
  /**
   * Like the aws-auth ConfigMap's mapAccounts: identities of this account are mapped, others are
   * refused. Defaults to moto's account.
   */
  account?: string;
  /** The Kubernetes username of a mapped ARN; defaults to `eks:<arn>`. */
  username?: (arn: string) => string;
  /**
   * Secret access keys by access key id. moto does not check signatures, so the stand-in checks
   * the one STS would check (which also binds the token to the cluster id). Defaults to moto's.
   */
  secrets?: Record<string, string>;
}

/** One TokenReview the authenticator answered, for tests to see why a token was refused. */
export interface TokenReviewAnswer {
  authenticated: boolean;
  /** The TokenReview's status.user, as aws-iam-authenticator fills it. */
  user?: { username: string; uid: string; groups: string[]; extra: Record<string, string[]> };
  error?: string;
}

export interface EksAuthenticator {
  /** The webhook URL for the apiserver (control-plane.sh's AUTHN_WEBHOOK_URL); plain http, which its webhook client accepts. */
  url: string;
  /** Every answer so far, oldest first. */
  reviews: TokenReviewAnswer[];
  stop(): Promise<void>;
}

const TOKEN_PREFIX = 'k8s-aws-v1.';
/** STS ignores X-Amz-Expires on presigned GetCallerIdentity: a token lives 15 min from X-Amz-Date. */
const TOKEN_LIFETIME_MS = 15 * 60_000;
const QUERY_KEYS = new Set([
  'Action',
  'Version',
  'X-Amz-Algorithm',
  'X-Amz-Credential',
  'X-Amz-Date',
  'X-Amz-Expires',
  'X-Amz-Security-Token',
  'X-Amz-Signature',
  'X-Amz-SignedHeaders',
]);

export async function startEksAuthenticator(
  options: EksAuthenticatorOptions,
): Promise<EksAuthenticator> {
  const reviews: TokenReviewAnswer[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', async () => {
      let review: { apiVersion?: string; kind?: string; spec?: { token?: string } };
      try {
        review = JSON.parse(body) as typeof review;
      } catch {
        return void res.writeHead(400).end('not JSON');
      }
      if (
        req.method !== 'POST' ||
        review.apiVersion !== 'authentication.k8s.io/v1' ||
        review.kind !== 'TokenReview'
      )
        return void res
          .writeHead(400)
          .end('expected a POST of an authentication.k8s.io/v1 TokenReview');
      const answer = await authenticate(review.spec?.token ?? '', options).catch(
        (err: Error): TokenReviewAnswer => ({ authenticated: false, error: err.message }),
      );
      reviews.push(answer);
      res.writeHead(200, { 'content-type': 'application/json' }).end(
        JSON.stringify({
          apiVersion: 'authentication.k8s.io/v1',
          kind: 'TokenReview',
          status: answer,
        }),
      );
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}/authenticate`,
    reviews,
    stop: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** What aws-iam-authenticator does with a token: check it, call STS with it, map the identity. */
async function authenticate(
  token: string,
  options: EksAuthenticatorOptions,
): Promise<TokenReviewAnswer> {
  const refuse = (error: string): TokenReviewAnswer => ({ authenticated: false, error });
  if (!token.startsWith(TOKEN_PREFIX)) return refuse('not an EKS token (no k8s-aws-v1. prefix)');
  let url: URL;
  try {
    url = new URL(Buffer.from(token.slice(TOKEN_PREFIX.length), 'base64url').toString());
  } catch {
    return refuse('the token is not a URL');
  }
  const q = url.searchParams;
  // Only the configured STS: the authenticator must not fetch whatever URL a caller hands it.
  if (url.origin !== new URL(options.stsEndpoint).origin || url.pathname !== '/')
    return refuse(`the token points at ${url.origin}${url.pathname}, not at STS`);
  const unexpected = [...q.keys()].filter((k) => !QUERY_KEYS.has(k));
  if (unexpected.length > 0) return refuse(`unexpected query parameters: ${unexpected.join(', ')}`);
  if (q.get('Action') !== 'GetCallerIdentity') return refuse('not a GetCallerIdentity call');
  const signedHeaders = q.get('X-Amz-SignedHeaders') ?? '';
  if (!signedHeaders.split(';').includes('x-k8s-aws-id'))
    return refuse('x-k8s-aws-id is not signed: the token is not bound to a cluster');
  // What eksToken (and `aws eks get-token`) send; the real authenticator accepts 0 to 900.
  if (q.get('X-Amz-Expires') !== '60') return refuse('X-Amz-Expires is not 60');
  const date = amzDate(q.get('X-Amz-Date') ?? '');
  if (date === undefined) return refuse('no valid X-Amz-Date');
  if (Date.now() > date.getTime() + TOKEN_LIFETIME_MS) return refuse('the token has expired');
  const signatureError = checkSignature(
    url,
    options.cluster,
    options.secrets ?? { testing: 'testing' },
  );
  if (signatureError) return refuse(signatureError);

  // moto routes a request by its Authorization header, which a presigned GET does not have:
  // hand it the presigned signature that way (the real authenticator calls the real STS).
  const authorization = `AWS4-HMAC-SHA256 Credential=${q.get('X-Amz-Credential')}, SignedHeaders=${signedHeaders}, Signature=${q.get('X-Amz-Signature')}`;
  const sts = await fetch(url, {
    headers: { authorization, 'x-k8s-aws-id': options.cluster },
    signal: AbortSignal.timeout(10_000),
  });
  const text = await sts.text();
  const field = (name: string) => new RegExp(`<${name}>([^<]*)</${name}>`).exec(text)?.[1];
  const [arn, account, userId] = [field('Arn'), field('Account'), field('UserId')];
  if (!sts.ok || !arn || !account || !userId)
    return refuse(`STS refused the token (${sts.status}): ${text.slice(0, 200)}`);
  if (account !== (options.account ?? MOTO_ACCOUNT))
    return refuse(`${arn} is not mapped (account ${account})`);
  const username = (options.username ?? ((a) => `eks:${a}`))(arn);
  return {
    authenticated: true,
    user: {
      username,
      uid: `aws-iam-authenticator:${account}:${userId}`,
      groups: options.groups,
      extra: {
        accessKeyId: [(q.get('X-Amz-Credential') ?? '').split('/')[0] ?? ''],
        arn: [arn],
        canonicalArn: [arn],
        principalId: [userId],
      },
    },
  };
}

const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

function amzDate(value: string): Date | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(value);
  return m ? new Date(`${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}Z`) : undefined;
}

/**
 * The SigV4 check STS makes on the presigned GET it receives with `x-k8s-aws-id: <cluster>`: a
 * token signed for another cluster id (or tampered with) fails it. Written out here rather than
 * with the signer eksToken uses, so a mistake there cannot hide. Returns why it fails, if it does.
 */
function checkSignature(url: URL, cluster: string, secrets: Record<string, string>) {
  const q = url.searchParams;
  if (q.get('X-Amz-Algorithm') !== 'AWS4-HMAC-SHA256') return 'not signed with AWS4-HMAC-SHA256';
  const [accessKeyId = '', ...scope] = (q.get('X-Amz-Credential') ?? '').split('/');
  const [day, region, service, terminator] = scope;
  const secret = secrets[accessKeyId];
  if (secret === undefined) return `unknown access key ${accessKeyId}`;
  if (!day || !region || service !== 'sts' || terminator !== 'aws4_request')
    return 'a malformed credential scope';
  const headers: Record<string, string> = { host: url.host, 'x-k8s-aws-id': cluster };
  const signed = (q.get('X-Amz-SignedHeaders') ?? '').split(';');
  if (signed.some((h) => !(h in headers))) return `signs headers STS is not sent: ${signed}`;
  const encode = (s: string) =>
    encodeURIComponent(s).replace(
      /[!'()*]/g,
      (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
    );
  const query = [...q.entries()]
    .filter(([k]) => k !== 'X-Amz-Signature')
    .map(([k, v]) => [encode(k), encode(v)])
    .sort(([a = '', x = ''], [b = '', y = '']) => (a === b ? cmp(x, y) : cmp(a, b)))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
  const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');
  const canonical = [
    'GET',
    '/',
    query,
    signed.map((h) => `${h}:${headers[h]}\n`).join(''),
    signed.join(';'),
    sha256(''), // the GET's empty body
  ].join('\n');
  const stringToSign = [
    'AWS4-HMAC-SHA256',
    q.get('X-Amz-Date'),
    scope.join('/'),
    sha256(canonical),
  ].join('\n');
  const key = [day, region, service, terminator].reduce<Buffer>(
    (k, part) => createHmac('sha256', k).update(part).digest(),
    Buffer.from(`AWS4${secret}`),
  );
  const expected = createHmac('sha256', key).update(stringToSign).digest();
  const given = Buffer.from(q.get('X-Amz-Signature') ?? '', 'hex');
  return given.length === expected.length && timingSafeEqual(given, expected)
    ? undefined
    : `the signature does not match (a token for another cluster than ${cluster}?)`;
}

/** AWS access with explicit credentials, as eksToken takes it. */
type AwsKeys = Parameters<typeof eksToken>[1];

export interface ByocCluster {
  moto: Moto;
  authenticator: EksAuthenticator;
  /** Its kubeconfig and kubectl are the admin's (static token), for setting up and checking. */
  controlPlane: ControlPlane;
  /** The EKS cluster: created in moto, and the cluster id the apiserver's tokens are bound to. */
  cluster: string;
  /** The namespace `group` may edit (the `edit` ClusterRole, bound there). */
  namespace: string;
  /** The group every identity of moto's account is mapped to. */
  group: string;
  /** AWS access to moto, as BYOC holds for the customer's account. */
  access: AwsKeys;
  /**
   * A KubeConfig for the apiserver whose user is a fresh EKS token (60 s for eksToken, 15 min
   * for the authenticator; the apiserver caches an accepted token for 10 s).
   */
  kubeconfig(access?: AwsKeys): Promise<KubeConfig>;
  stop(): Promise<void>;
}

/**
 * A stand-in for a customer's EKS cluster, as BYOC reaches it: moto (EKS, EC2, STS) with the EKS
 * cluster created, the stand-in authenticator mapping every identity of moto's account to
 * `eks:<arn>` in `group`, and a local control plane whose apiserver asks it about tokens, with
 * `namespace` created and `group` bound to `edit` there. Stop it with stop().
 */
export async function startByocCluster(
  options: {
    cluster?: string;
    namespace?: string;
    group?: string;
    /** Where kwok's pods get their IPs (see ControlPlaneOptions). */
    podNetwork?: ControlPlaneOptions['podNetwork'];
  } = {},
): Promise<ByocCluster> {
  const cluster = options.cluster ?? 'byoc-eks';
  const namespace = options.namespace ?? 'deployments';
  const group = options.group ?? 'model-deployments:byoc';
  const stops: (() => Promise<void>)[] = [];
  const stop = async () => {
    for (const s of stops.reverse()) await s().catch(() => undefined);
  };
  try {
    const moto = await startMoto();
    stops.push(() => moto.stop());
    const access = MOTO_ACCESS(moto.endpoint);
    await new EKSClient(access).send(
      new CreateClusterCommand({
        name: cluster,
        roleArn: `arn:aws:iam::${MOTO_ACCOUNT}:role/eks`,
        resourcesVpcConfig: { subnetIds: ['subnet-1'] },
      }),
    );
    const authenticator = await startEksAuthenticator({
      stsEndpoint: moto.endpoint,
      cluster,
      groups: [group],
    });
    stops.push(() => authenticator.stop());
    const controlPlane = await startControlPlane({
      authnWebhookUrl: authenticator.url,
      ...(options.podNetwork ? { podNetwork: options.podNetwork } : {}),
    });
    stops.push(() => controlPlane.stop());
    await controlPlane.kubectl('create', 'namespace', namespace);
    await controlPlane.kubectl(
      'create',
      'rolebinding',
      'byoc-edit',
      '--namespace',
      namespace,
      '--clusterrole',
      'edit',
      '--group',
      group,
    );
    return {
      moto,
      authenticator,
      controlPlane,
      cluster,
      namespace,
      group,
      access,
      kubeconfig: async (as = access) => eksKubeConfig(controlPlane, await eksToken(cluster, as)),
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** A KubeConfig for the control plane's apiserver (its server and TLS settings) with `token` as the user. */
export function eksKubeConfig(controlPlane: ControlPlane, token: string): KubeConfig {
  const server = controlPlane.kubeconfig.getCurrentCluster();
  if (!server) throw new Error(`no current cluster in ${controlPlane.kubeconfigPath}`);
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ ...server, name: 'eks' }],
    users: [{ name: 'eks', token }],
    contexts: [{ name: 'eks', cluster: 'eks', user: 'eks' }],
    currentContext: 'eks',
  });
  return kc;
}
