/**
 * The BYOC inference path end to end, on loopback only: a client calls the control plane's
 * gateway; the gateway finds the deployment's ready replica on the linked EKS cluster (moto for
 * EKS and STS, the local kube-apiserver accepting our EKS token) and sends the request to the
 * cluster's edge gateway, a real `node dist/api/edge/main.js` process authenticated to the
 * apiserver with the token of the ServiceAccount deploy/byoc-edge creates; the edge finds the
 * pod and proxies to its IP, where a stand-in model server (the repository's simulated one)
 * listens. kwok gives pods loopback IPs here (127.0.100.x, LOOPBACK_PODS): nothing is sent
 * off this machine, and a test fails before sending if a pod IP were anything else.
 *
 * Also: the edge refuses a missing or wrong token (401); the control plane says so when its own
 * token is the wrong one, when the edge is down, and when the cluster has no edge gateway; the
 * manifests of deploy/byoc-edge are accepted by the apiserver and grant only what the edge uses.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { CreateNodegroupCommand, EKSClient } from '@aws-sdk/client-eks';
import type { V1Deployment, V1Role } from '@kubernetes/client-node';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments, stringify } from 'yaml';
import { EksClusters } from '../../activities/providers/byoc';
import { KubernetesProvider } from '../../activities/providers/kubernetes';
import { buildApp } from '../../api/app';
import { parseApiKeys } from '../../api/auth';
import { loadEdgeConfig } from '../../api/edge/config';
import { TrafficMeter } from '../../api/metrics/traffic-meter';
import { ReplicaEndpoints } from '../../api/replica-endpoints';
import { clustersSchema } from '../../config/clusters';
import { SimulatedEngine } from '../../runtime/model-server/engine';
import { createModelServer } from '../../runtime/model-server/server';
import { kubernetesToolsPath } from '../../scripts/toolchain';
import { deploymentWorkflowId } from '../../workflows/deployment/definitions';
import { TEST_CATALOG, byocSpec } from '../helpers/catalog';
import { makeTestPki } from '../helpers/certificates';
import { startByocCluster, type ByocCluster } from '../helpers/eks-authenticator';
import { startHarness, waitFor, type Harness } from '../helpers/harness';
import { LOOPBACK_PODS } from '../helpers/kubernetes';
import { DIST, freePort, startNode, type RunningProcess } from '../helpers/processes';

const run = promisify(execFile);
const ROOT = path.resolve(__dirname, '..', '..');
const MANIFESTS = path.join(ROOT, 'deploy', 'byoc-edge');
const EDGE_MAIN = path.join(DIST, 'api', 'edge', 'main.js');
/** The namespace deploy/byoc-edge deploys into, and the cluster's registry `namespace`. */
const NAMESPACE = 'model-deployments';
const EDGE_ACCOUNT = 'model-deployments-edge';
const EKS_NAME = 'edge-eks';
const ws = 'team';
const API_KEY = 'team-key';
const TOKEN = 'edge-token-0123456789abcdef0123456789abcdef';
const OTHER_TOKEN = 'not-the-edge-token-0123456789abcdef012345';

let byoc: ByocCluster;
let h: Harness;
let tmp: string;
let secretsDir: string;
let edge: RunningProcess;
let edgeUrl: string;
/** Control-plane API processes' apps, one per registry variant (see `apiWith`). */
const apps: FastifyInstance[] = [];

const kubectl = async (...args: string[]) =>
  run(kubernetesToolsPath().kubectl, ['--kubeconfig', byoc.controlPlane.kubeconfigPath, ...args]);

/** The objects deploy/byoc-edge renders to (kubectl's built-in kustomize). */
async function rendered(): Promise<{ kind: string; metadata: { name: string } }[]> {
  const { stdout } = await kubectl('kustomize', MANIFESTS);
  return parseAllDocuments(stdout).map(
    (d) => d.toJS() as { kind: string; metadata: { name: string } },
  );
}

/** The cluster as CLUSTERS_FILE links it to workspace `team`, with `gateway` as given. */
function registry(gateway?: { url: string; tokenSecret: string }) {
  const server = byoc.controlPlane.kubeconfig.getCurrentCluster()?.server;
  if (!server) throw new Error('the control plane kubeconfig names no server');
  return clustersSchema.parse({
    [ws]: {
      'team-eks': {
        provider: 'eks',
        region: byoc.access.region,
        eksClusterName: EKS_NAME,
        credentialsSecret: 'aws-team',
        namespace: NAMESPACE,
        awsEndpoint: byoc.moto.endpoint,
        kubernetes: { server, insecureSkipTlsVerify: true },
        ...(gateway ? { gateway } : {}),
      },
    },
  });
}

/** The control plane's API (buildApp, as dist/api/main.js builds it) with this registry, on loopback. */
async function apiWith(gateway?: { url: string; tokenSecret: string }): Promise<string> {
  const clusters = new EksClusters({
    registry: registry(gateway),
    secretsDir,
    scaleTimeoutMs: 30_000,
  });
  const app = await buildApp({
    service: h.service,
    replicas: new ReplicaEndpoints({
      dedicated: new KubernetesProvider({
        kubeconfig: byoc.controlPlane.kubeconfig,
        namespace: 'dedicated',
      }),
      clusters,
      deployments: h.service,
      log: () => undefined,
    }),
    meter: new TrafficMeter(),
    wake: () => undefined,
    catalog: TEST_CATALOG,
    clusters,
    apiKeys: parseApiKeys(`${API_KEY}=${ws}`),
    publicUrl: 'http://127.0.0.1',
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  apps.push(app);
  return `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
}

/** The edge process, with this ServiceAccount kubeconfig, on a free loopback port. */
async function startEdge(kubeconfigPath: string, port: number): Promise<RunningProcess> {
  return startNode(
    EDGE_MAIN,
    {
      KUBECONFIG: kubeconfigPath,
      KUBE_NAMESPACE: NAMESPACE,
      EDGE_TOKEN: TOKEN,
      EDGE_HOST: '127.0.0.1',
      EDGE_PORT: String(port),
      LOG_LEVEL: 'warn',
    },
    async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).ok,
    'the edge gateway',
    30_000,
  );
}

beforeAll(async () => {
  byoc = await startByocCluster({
    cluster: EKS_NAME,
    namespace: NAMESPACE,
    podNetwork: LOOPBACK_PODS,
  });
  await new EKSClient(byoc.access).send(
    new CreateNodegroupCommand({
      clusterName: EKS_NAME,
      nodegroupName: 'gpu-h100',
      nodeRole: 'arn:aws:iam::123456789012:role/node',
      subnets: ['subnet-1'],
      instanceTypes: ['p5.48xlarge'],
      scalingConfig: { minSize: 0, maxSize: 2, desiredSize: 0 },
    }),
  );
  // Pod templates the `restricted` Pod Security Standard would refuse are reported (warn, not
  // enforce: the model replicas run here too).
  await kubectl('label', 'namespace', NAMESPACE, 'pod-security.kubernetes.io/warn=restricted');
  await kubectl('create', 'namespace', 'dedicated');
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'md-byoc-edge-'));
  secretsDir = path.join(tmp, 'secrets');
  fs.mkdirSync(secretsDir);
  fs.writeFileSync(path.join(secretsDir, 'aws-team.json'), JSON.stringify(byoc.access.credentials));
  fs.writeFileSync(path.join(secretsDir, 'edge-team.json'), JSON.stringify({ token: TOKEN }));
  fs.writeFileSync(
    path.join(secretsDir, 'edge-stale.json'),
    JSON.stringify({ token: OTHER_TOKEN }),
  );

  // What the customer applies: the edge's ServiceAccount, Role and RoleBinding, for real; then
  // the edge process with nothing but that account's token (in a pod, the mounted token).
  const rbac = (await rendered()).filter((o) =>
    ['ServiceAccount', 'Role', 'RoleBinding'].includes(o.kind),
  );
  expect(rbac.map((o) => o.kind).sort()).toEqual(['Role', 'RoleBinding', 'ServiceAccount']);
  const rbacFile = path.join(tmp, 'rbac.yaml');
  fs.writeFileSync(rbacFile, rbac.map((o) => stringify(o)).join('---\n'));
  await kubectl('apply', '-f', rbacFile);
  const { stdout: token } = await kubectl(
    'create',
    'token',
    EDGE_ACCOUNT,
    '-n',
    NAMESPACE,
    '--duration',
    '1h',
  );
  const server = byoc.controlPlane.kubeconfig.getCurrentCluster()!.server;
  const kubeconfigPath = path.join(tmp, 'edge.kubeconfig');
  fs.writeFileSync(
    kubeconfigPath,
    stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'customer', cluster: { server, 'insecure-skip-tls-verify': true } }],
      users: [{ name: EDGE_ACCOUNT, user: { token: token.trim() } }],
      contexts: [{ name: 'edge', context: { cluster: 'customer', user: EDGE_ACCOUNT } }],
      'current-context': 'edge',
    }),
  );
  const edgePort = await freePort();
  edgeUrl = `http://127.0.0.1:${edgePort}`;
  edge = await startEdge(kubeconfigPath, edgePort);

  h = await startHarness();
  await h.startWorker(
    new KubernetesProvider({ kubeconfig: byoc.controlPlane.kubeconfig, namespace: 'dedicated' }),
    new EksClusters({
      registry: registry({ url: edgeUrl, tokenSecret: 'edge-team' }),
      secretsDir,
      scaleTimeoutMs: 30_000,
      pollMs: 200,
    }),
  );
}, 240_000);

afterAll(async () => {
  for (const app of apps) await app.close();
  await edge?.stop();
  await h?.stop();
  await byoc?.stop();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
}, 60_000);

interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
}

/** The simulated model server, bound on the pod's own IP and port: it plays the pod. */
async function standInAt(
  podIP: string,
  podName: string,
): Promise<{ seen: Seen[]; close: () => Promise<void> }> {
  const config = {
    host: podIP,
    port: 8000,
    model: 'fast-model',
    loadMs: 0,
    failLoad: false,
    msPerToken: 0,
    maxNumSeqs: 8,
    replicaId: podName,
  };
  const { server } = createModelServer(config, new SimulatedEngine(config));
  const seen: Seen[] = [];
  server.on('request', (req: http.IncomingMessage) => {
    // The observer scrapes /metrics of loopback replicas; what matters here is inference.
    if (req.url !== '/metrics')
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, resolve);
  });
  return {
    seen,
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

const completion = (api: string, name: string) =>
  fetch(`${api}/v1/endpoints/${ws}/${name}/v1/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ prompt: 'Hello', max_tokens: 4 }),
  });

describe('inference for a BYOC deployment, through the edge gateway in its cluster', () => {
  let pod: { name: string; ip: string };
  let standIn: Awaited<ReturnType<typeof standInAt>>;

  beforeAll(async () => {
    await h.service.create(ws, { name: 'llm', ...byocSpec() });
    await waitFor(
      () => h.service.get(ws, 'llm'),
      (v) => v.health === 'Healthy',
      'Healthy',
      90_000,
    );
    const pods = JSON.parse(
      (
        await kubectl(
          'get',
          'pods',
          '-n',
          NAMESPACE,
          '-l',
          'model-deployments.dev/revision=1',
          '-o',
          'json',
        )
      ).stdout,
    ) as { items: { metadata: { name: string }; status: { podIP?: string } }[] };
    expect(pods.items).toHaveLength(1);
    pod = { name: pods.items[0]!.metadata.name, ip: pods.items[0]!.status.podIP ?? '' };
    // The apiserver took kwok's loopback pod IP; anything else and nothing below is sent.
    expect(pod.ip).toMatch(/^127\.0\.100\.\d{1,3}$/);
    standIn = await standInAt(pod.ip, pod.name);
  }, 120_000);
  afterAll(async () => {
    await standIn?.close();
  });

  it("reaches the stand-in at the pod's IP: control-plane gateway -> edge gateway -> pod", async () => {
    const api = await apiWith({ url: edgeUrl, tokenSecret: 'edge-team' });
    const before = standIn.seen.length;
    const res = await completion(api, 'llm');
    expect(res.status).toBe(200);
    // The stand-in's answer: the simulated server names the pod it plays, and the model it serves.
    expect(res.headers.get('x-replica-id')).toBe(pod.name);
    expect(await res.json()).toMatchObject({ object: 'text_completion', model: 'fast-model' });
    const got = standIn.seen.slice(before);
    expect(got.map((r) => `${r.method} ${r.url}`)).toEqual(['POST /v1/completions']);
    // Neither the client's API key nor the edge's token reaches the pod.
    expect(got[0]?.headers.authorization).toBeUndefined();
    expect(JSON.stringify(got[0]?.headers)).not.toContain(TOKEN);
    expect(JSON.stringify(got[0]?.headers)).not.toContain(API_KEY);
  });

  it('the edge refuses a missing or wrong token with 401, and sends the pod nothing', async () => {
    const before = standIn.seen.length;
    for (const authorization of [undefined, `Bearer ${OTHER_TOKEN}`, `Bearer ${API_KEY}`]) {
      const res = await fetch(`${edgeUrl}/v1/endpoints/${ws}/llm/v1/completions`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          ...(authorization ? { authorization } : {}),
        },
        body: '{"prompt":"Hello"}',
      });
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toBe('Bearer realm="model-deployments-edge"');
    }
    expect(standIn.seen.length).toBe(before);
  });

  it('the control plane says when the edge refused its token, naming the secret', async () => {
    const api = await apiWith({ url: edgeUrl, tokenSecret: 'edge-stale' });
    const before = standIn.seen.length;
    const res = await completion(api, 'llm');
    expect(res.status).toBe(502);
    const text = await res.text();
    expect(JSON.parse(text)).toEqual({
      error: {
        code: 'bad_gateway',
        message: `the edge gateway of cluster "team-eks" (${edgeUrl}) refused the control plane's token: the secret "edge-stale" does not hold the token that edge gateway was given`,
      },
    });
    expect(text).not.toContain(OTHER_TOKEN);
    expect(standIn.seen.length).toBe(before);
  });

  it('a cluster without an edge gateway answers 503 saying what to configure, and its pod is not dialled', async () => {
    const api = await apiWith(undefined);
    const before = standIn.seen.length;
    const res = await completion(api, 'llm');
    expect(res.status).toBe(503);
    expect(await res.json()).toEqual({
      error: {
        code: 'unavailable',
        message: expect.stringMatching(
          /^deployment "llm" runs on BYOC cluster "team-eks", which has no edge gateway: .*CLUSTERS_FILE$/,
        ),
      },
    });
    expect(standIn.seen.length).toBe(before);
  });

  it('the clusters API shows the edge gateway and its secret by name, never the token', async () => {
    const api = await apiWith({ url: edgeUrl, tokenSecret: 'edge-team' });
    const res = await fetch(`${api}/v1/workspaces/${ws}/clusters`, {
      headers: { authorization: `Bearer ${API_KEY}` },
    });
    const text = await res.text();
    expect(JSON.parse(text)).toMatchObject({
      items: [{ name: 'team-eks', gateway: { url: edgeUrl, tokenSecret: 'edge-team' } }],
    });
    expect(text).not.toContain(TOKEN);
  });

  it('the edge down: 502 naming it; back up, inference flows again', async () => {
    const api = await apiWith({ url: edgeUrl, tokenSecret: 'edge-team' });
    const kubeconfigPath = path.join(tmp, 'edge.kubeconfig');
    await edge.stop();
    const res = await completion(api, 'llm');
    expect(res.status).toBe(502);
    expect(await res.json()).toEqual({
      error: {
        code: 'bad_gateway',
        message: expect.stringMatching(
          new RegExp(
            `^the edge gateway of cluster "team-eks" \\(${edgeUrl.replace(/\./g, '\\.')}\\) did not answer: .*ECONNREFUSED`,
          ),
        ),
      },
    });
    edge = await startEdge(kubeconfigPath, Number(new URL(edgeUrl).port));
    const again = await completion(api, 'llm');
    expect(again.status).toBe(200);
    expect(again.headers.get('x-replica-id')).toBe(pod.name);
  });

  afterAll(async () => {
    await h.service.delete(ws, 'llm');
    await h.env.client.workflow.getHandle(deploymentWorkflowId(ws, 'llm')).result();
  }, 60_000);
});

describe('deploy/byoc-edge', () => {
  it('is accepted by the apiserver (kubectl apply --dry-run=server -k), with no warning', async () => {
    const expected = (await rendered()).map((o) => o.metadata.name);
    const { stdout, stderr } = await kubectl('apply', '--dry-run=server', '-k', MANIFESTS);
    const accepted = stdout
      .trim()
      .split('\n')
      .map((line) => /^\S+\/(\S+)\s.*\(server dry run\)$/.exec(line)?.[1]);
    expect(accepted).toEqual(expected);
    expect(expected).toHaveLength(6);
    // Nothing deprecated, nothing the `restricted` Pod Security Standard would refuse.
    expect(stderr).toBe('');
  });

  it('runs the edge process of the same image, configured as the process accepts, the token only from its Secret', async () => {
    const objects = (await rendered()) as unknown as (V1Deployment & V1Role & { kind: string })[];
    const deployment = objects.find((o) => o.kind === 'Deployment')!;
    const pod = deployment.spec!.template.spec!;
    const container = pod.containers[0]!;
    expect(container.command).toEqual(['node', 'dist/api/edge/main.js']);
    expect(fs.existsSync(EDGE_MAIN)).toBe(true); // what this file's edge process runs
    expect(pod.serviceAccountName).toBe(EDGE_ACCOUNT);
    const tokenVar = container.env!.find((e) => e.name === 'EDGE_TOKEN')!;
    expect(tokenVar.value).toBeUndefined();
    expect(tokenVar.valueFrom?.secretKeyRef).toEqual({
      name: 'model-deployments-edge',
      key: 'token',
    });
    // The TLS files are the mounted kubernetes.io/tls Secret's.
    const tlsMount = container.volumeMounts!.find((m) => m.name === 'tls')!;
    expect(pod.volumes!.find((v) => v.name === 'tls')?.secret?.secretName).toBe(
      'model-deployments-edge-tls',
    );
    const env: Record<string, string> = {};
    for (const e of container.env!) {
      if (e.value !== undefined) env[e.name] = e.value;
      else if (e.valueFrom?.fieldRef?.fieldPath === 'metadata.namespace') env[e.name] = NAMESPACE;
      else if (e.valueFrom?.secretKeyRef) env[e.name] = TOKEN;
    }
    for (const name of ['EDGE_TLS_CERT', 'EDGE_TLS_KEY'])
      expect(path.dirname(env[name]!)).toBe(tlsMount.mountPath);
    // The process accepts that environment (the certificate files put where the Secret mounts them).
    const pki = makeTestPki(path.join(tmp, 'pki'), 'edge.test');
    const config = loadEdgeConfig({
      ...env,
      EDGE_TLS_CERT: pki.server.cert,
      EDGE_TLS_KEY: pki.server.key,
    });
    expect(config).toMatchObject({
      EDGE_HOST: '0.0.0.0',
      EDGE_PORT: 8443,
      KUBE_NAMESPACE: NAMESPACE,
    });
    expect(config.tls).toBeDefined();
    expect(container.ports).toEqual([{ name: 'https', containerPort: 8443, protocol: 'TCP' }]);
    for (const probe of [container.readinessProbe, container.livenessProbe, container.startupProbe])
      expect(probe?.httpGet).toMatchObject({ port: 'https', scheme: 'HTTPS' });
  });

  it("grants the edge's ServiceAccount services get and pods list in its namespace, nothing else", async () => {
    const role = (await rendered()).find((o) => o.kind === 'Role') as unknown as V1Role;
    expect(role.rules).toEqual([
      { apiGroups: [''], resources: ['services'], verbs: ['get'] },
      { apiGroups: [''], resources: ['pods'], verbs: ['list'] },
    ]);
    const canI = (...args: string[]) =>
      kubectl(
        'auth',
        'can-i',
        ...args,
        `--as=system:serviceaccount:${NAMESPACE}:${EDGE_ACCOUNT}`,
      ).then(
        ({ stdout }) => stdout.trim(),
        (err: { stdout?: string }) => err.stdout?.trim() ?? String(err),
      );
    expect(await canI('list', 'pods', '-n', NAMESPACE)).toBe('yes');
    expect(await canI('get', 'services', '-n', NAMESPACE)).toBe('yes');
    for (const args of [
      ['get', 'secrets', '-n', NAMESPACE],
      ['list', 'secrets', '-n', NAMESPACE],
      ['create', 'pods', '-n', NAMESPACE],
      ['delete', 'deployments', '-n', NAMESPACE],
      ['get', 'pods/proxy', '-n', NAMESPACE],
      ['list', 'pods', '-n', 'dedicated'],
      ['list', 'pods', '--all-namespaces'],
      ['list', 'nodes'],
    ])
      expect(await canI(...args), args.join(' ')).toBe('no');
  });
});
