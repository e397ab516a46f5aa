/**
 * The control plane's own manifests (deploy/kubernetes) against a real control plane (etcd,
 * kube-apiserver with RBAC and service-account tokens, controller-manager, scheduler, kwok's fake
 * GPU nodes):
 *
 * - every overlay renders (kubectl's built-in kustomize) to what matters: probes, requests and
 *   limits, a ServiceAccount bound to a Role, configuration the processes accept, secrets only by
 *   name; and the apiserver accepts it (`kubectl apply --dry-run=server -k`, under the
 *   `restricted` Pod Security Standard);
 * - the RBAC, applied for real, is enough: the Kubernetes provider, the observer's feed and its
 *   Lease, and the gateway's lookup run with each ServiceAccount's own token (configured the way
 *   its pod is: the rendered ConfigMap, KUBE_NAMESPACE = its namespace), and the same calls are
 *   refused (403) to an account without a binding, to the other processes' accounts, and in
 *   another namespace.
 *
 * Only the apiserver on 127.0.0.1 is dialed; nothing dials the pods' (private) IPs.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import {
  AuthorizationV1Api,
  KubeConfig,
  type KubernetesObject,
  type V1ConfigMap,
  type V1Container,
  type V1Deployment,
  type V1EnvVar,
  type V1PodDisruptionBudget,
  type V1ResourceRule,
  type V1Role,
  type V1RoleBinding,
  type V1Service,
} from '@kubernetes/client-node';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments, stringify } from 'yaml';
import { createProvider } from '../../activities/providers';
import { KubernetesProvider } from '../../activities/providers/kubernetes';
import { FIELD_MANAGER, objectName } from '../../activities/providers/kubernetes-manifests';
import type {
  RevisionStatus,
  RevisionTemplate,
  RuntimeProvider,
} from '../../activities/providers/provider';
import { loadConfig } from '../../config';
import type { RevisionFeed } from '../../observer/feed';
import { DEFAULT_LEASE_NAME, KubernetesLease } from '../../observer/kubernetes-lease';
import { kubernetesToolsPath } from '../../scripts/toolchain';
import { waitFor } from '../helpers/harness';
import { startControlPlane, type ControlPlane } from '../helpers/kubernetes';
import { freePort } from '../helpers/processes';

const run = promisify(execFile);
const ROOT = path.resolve(__dirname, '..', '..');
const MANIFESTS = path.join(ROOT, 'deploy', 'kubernetes');
const OVERLAYS = fs.readdirSync(path.join(MANIFESTS, 'overlays')).sort();
/** The namespace the overlays deploy into. */
const NAMESPACE = 'model-deployments';
const COMPONENTS = ['api', 'worker', 'observer'] as const;
type Component = (typeof COMPONENTS)[number];
const ACCOUNT: Record<Component, string> = {
  api: 'model-deployments-api',
  worker: 'model-deployments-worker',
  observer: 'model-deployments-observer',
};

let cp: ControlPlane;
let tmp: string;

beforeAll(async () => {
  cp = await startControlPlane();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'md-manifests-'));
}, 180_000);
afterAll(async () => {
  await cp?.stop();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
}, 60_000);

/** kubectl as the control plane's admin, with its stderr (warnings) as well. */
async function kubectl(...args: string[]): Promise<{ stdout: string; stderr: string }> {
  return run(kubernetesToolsPath().kubectl, ['--kubeconfig', cp.kubeconfigPath, ...args], {
    maxBuffer: 16 * 1024 * 1024,
  });
}

/**
 * A kustomization of our own in a temporary folder: `base` (a folder of deploy/kubernetes) with
 * the given components and namespace, as an operator would write one over ours.
 */
function kustomization(
  name: string,
  base: string,
  options: { components?: string[]; namespace?: string; tag?: string },
): string {
  const dir = path.join(tmp, name);
  fs.mkdirSync(dir, { recursive: true });
  const rel = (p: string) => path.relative(dir, path.join(MANIFESTS, p));
  fs.writeFileSync(
    path.join(dir, 'kustomization.yaml'),
    stringify({
      apiVersion: 'kustomize.config.k8s.io/v1beta1',
      kind: 'Kustomization',
      ...(options.namespace ? { namespace: options.namespace } : {}),
      resources: [rel(base)],
      ...(options.components ? { components: options.components.map(rel) } : {}),
      ...(options.tag ? { images: [{ name: 'model-deployments', newTag: options.tag }] } : {}),
    }),
  );
  return dir;
}

/**
 * What is deployed: each overlay, and the base with each Temporal component that no overlay
 * uses (so every component is rendered and applied somewhere).
 */
const VARIANTS: { name: string; dir: () => string }[] = [
  ...OVERLAYS.map((o) => ({
    name: `overlays/${o}`,
    dir: () => path.join(MANIFESTS, 'overlays', o),
  })),
  {
    name: 'base + components/temporal-mtls + temporal-private-ca',
    dir: () =>
      kustomization('private-ca', 'base', {
        components: ['components/temporal-mtls', 'components/temporal-private-ca'],
        tag: '0.1.0',
      }),
  },
  {
    name: 'base + components/temporal-api-key',
    dir: () =>
      kustomization('api-key', 'base', {
        components: ['components/temporal-api-key'],
        tag: '0.1.0',
      }),
  },
];

type Rendered = KubernetesObject[];

async function render(dir: string): Promise<Rendered> {
  const { stdout } = await kubectl('kustomize', dir);
  return parseAllDocuments(stdout).map((d) => d.toJS() as KubernetesObject);
}

const ofKind = <T>(objects: Rendered, kind: string) =>
  objects.filter((o) => o.kind === kind) as unknown as T[];

function deploymentOf(objects: Rendered, component: Component): V1Deployment {
  const found = ofKind<V1Deployment>(objects, 'Deployment').filter(
    (d) => d.spec?.template.metadata?.labels?.['app.kubernetes.io/component'] === component,
  );
  expect(found, `one ${component} Deployment`).toHaveLength(1);
  return found[0]!;
}

const containerOf = (d: V1Deployment): V1Container => {
  expect(d.spec?.template.spec?.containers).toHaveLength(1);
  return d.spec!.template.spec!.containers[0]!;
};

const matches = (selector: Record<string, string> | undefined, labels: Record<string, string>) =>
  selector !== undefined &&
  Object.keys(selector).length > 0 &&
  Object.entries(selector).every(([k, v]) => labels[k] === v);

/**
 * The environment a container of this Deployment starts with: the ConfigMap it takes everything
 * from, then its own variables (a field reference as the pod's namespace, a secret as a
 * stand-in: the repository has none).
 */
function environmentOf(objects: Rendered, d: V1Deployment, namespace: string) {
  const container = containerOf(d);
  const configMaps = ofKind<V1ConfigMap>(objects, 'ConfigMap');
  const env: Record<string, string> = {};
  for (const from of container.envFrom ?? []) {
    const map = configMaps.find((c) => c.metadata?.name === from.configMapRef?.name);
    expect(map, `the ConfigMap ${from.configMapRef?.name} is rendered`).toBeDefined();
    Object.assign(env, map!.data);
  }
  const secretRefs: V1EnvVar[] = [];
  for (const v of container.env ?? []) {
    if (v.valueFrom?.fieldRef) {
      expect(v.valueFrom.fieldRef.fieldPath).toBe('metadata.namespace');
      env[v.name] = namespace;
    } else if (v.valueFrom?.secretKeyRef) {
      secretRefs.push(v);
      env[v.name] = v.name === 'API_KEYS' ? 'stand-in-key=default' : 'stand-in';
    } else {
      env[v.name] = v.value ?? '';
    }
  }
  return { env, secretRefs };
}

/** The Secrets a Deployment references by name: from variables and from volumes. */
function secretsOf(d: V1Deployment): string[] {
  const spec = d.spec!.template.spec!;
  return [
    ...(containerOf(d).env ?? []).flatMap((v) =>
      v.valueFrom?.secretKeyRef ? [v.valueFrom.secretKeyRef.name!] : [],
    ),
    ...(spec.volumes ?? []).flatMap((v) => (v.secret ? [v.secret.secretName!] : [])),
  ];
}

describe('Kubernetes manifests: what they render', () => {
  it('has the overlays the README names', () => {
    expect(OVERLAYS).toEqual(expect.arrayContaining(['dev', 'production']));
  });

  for (const variant of VARIANTS) {
    it(`${variant.name}: three processes of the one image, each with probes, requests, limits and its own account`, async () => {
      const objects = await render(variant.dir());
      // Secrets are referenced by name only; nothing cluster-wide is granted.
      expect(ofKind(objects, 'Secret')).toEqual([]);
      expect(objects.map((o) => o.kind)).not.toContain('ClusterRole');
      expect(objects.map((o) => o.kind)).not.toContain('ClusterRoleBinding');
      expect(objects.map((o) => o.kind)).not.toContain('Namespace');
      expect(new Set(objects.map((o) => o.metadata?.namespace))).toEqual(new Set([NAMESPACE]));
      expect(ofKind(objects, 'Deployment')).toHaveLength(3);

      const roles = ofKind<V1Role>(objects, 'Role');
      const bindings = ofKind<V1RoleBinding>(objects, 'RoleBinding');
      const accounts = ofKind<KubernetesObject>(objects, 'ServiceAccount').map(
        (a) => a.metadata?.name,
      );
      for (const component of COMPONENTS) {
        const d = deploymentOf(objects, component);
        const pod = d.spec!.template.spec!;
        const container = containerOf(d);
        const labels = d.spec!.template.metadata!.labels!;

        // The image built from the Dockerfile, at a tag (or digest) the overlay chose, running
        // the component's entry point (compiled from <component>/main.ts).
        expect(container.image).toMatch(/(^|\/)model-deployments(:[\w.-]+|@sha256:[0-9a-f]{64})$/);
        expect(container.command).toEqual(['node', `dist/${component}/main.js`]);
        expect(fs.existsSync(path.join(ROOT, component, 'main.ts'))).toBe(true);

        // Its own account, bound by a Role in the same namespace.
        expect(pod.serviceAccountName).toBe(ACCOUNT[component]);
        expect(accounts).toContain(ACCOUNT[component]);
        const binding = bindings.find((b) =>
          b.subjects?.some(
            (s) =>
              s.kind === 'ServiceAccount' &&
              s.name === ACCOUNT[component] &&
              s.namespace === d.metadata?.namespace,
          ),
        );
        expect(binding?.roleRef).toMatchObject({ kind: 'Role', name: ACCOUNT[component] });
        expect(roles.map((r) => r.metadata?.name)).toContain(binding?.roleRef.name);

        // Requests for the scheduler, a memory limit against leaks.
        expect(container.resources?.requests).toMatchObject({
          cpu: expect.any(String),
          memory: expect.any(String),
        });
        expect(container.resources?.limits?.memory).toEqual(expect.any(String));

        // Probes: the API's /healthz on the port the API listens on; the worker and the
        // observer serve no HTTP, so their readiness is an exec probe (checked below).
        expect(container.readinessProbe, `${component} readiness`).toBeDefined();
        if (component === 'api') {
          for (const probe of [
            container.readinessProbe,
            container.livenessProbe,
            container.startupProbe,
          ]) {
            expect(probe?.httpGet).toMatchObject({ path: '/healthz', port: 'http' });
          }
        } else {
          expect(container.readinessProbe?.exec?.command?.[0]).toBe('bash');
        }

        // Hardened the `restricted` Pod Security Standard's way (the dry run checks it too).
        expect(pod.securityContext).toMatchObject({ runAsNonRoot: true });
        expect(container.securityContext).toMatchObject({
          allowPrivilegeEscalation: false,
          readOnlyRootFilesystem: true,
          capabilities: { drop: ['ALL'] },
        });

        // One disruption budget per process, selecting its pods and no other process's, that
        // still lets a drain evict one pod.
        const budgets = ofKind<V1PodDisruptionBudget>(objects, 'PodDisruptionBudget').filter((b) =>
          matches(b.spec?.selector?.matchLabels, labels),
        );
        expect(budgets, `${component} PodDisruptionBudget`).toHaveLength(1);
        const budget = budgets[0]!.spec!;
        const replicas = d.spec!.replicas ?? 1;
        if (budget.minAvailable !== undefined) {
          expect(Number(budget.minAvailable)).toBeLessThan(replicas);
        } else {
          expect(Number(budget.maxUnavailable)).toBeGreaterThanOrEqual(1);
        }
        for (const other of COMPONENTS.filter((c) => c !== component)) {
          const otherLabels = deploymentOf(objects, other).spec!.template.metadata!.labels!;
          expect(matches(budgets[0]!.spec?.selector?.matchLabels, otherLabels)).toBe(false);
        }

        // Never mistaken for replicas: the observer and the provider select what they manage
        // by app.kubernetes.io/managed-by=model-deployments.
        expect(labels['app.kubernetes.io/managed-by']).not.toBe(FIELD_MANAGER);
        expect(d.metadata?.labels?.['app.kubernetes.io/managed-by']).not.toBe(FIELD_MANAGER);
      }

      // The gateway's Service reaches the API pods on the port their probes use.
      const services = ofKind<V1Service>(objects, 'Service');
      expect(services).toHaveLength(1);
      const api = deploymentOf(objects, 'api');
      expect(matches(services[0]!.spec?.selector, api.spec!.template.metadata!.labels!)).toBe(true);
      for (const other of ['worker', 'observer'] as const) {
        const labels = deploymentOf(objects, other).spec!.template.metadata!.labels!;
        expect(matches(services[0]!.spec?.selector, labels)).toBe(false);
      }
      expect(services[0]!.spec?.ports?.[0]?.targetPort).toBe('http');
    });

    it(`${variant.name}: configuration the processes accept, secrets only by name`, async () => {
      const objects = await render(variant.dir());
      for (const map of ofKind<V1ConfigMap>(objects, 'ConfigMap')) {
        for (const key of Object.keys(map.data ?? {}))
          expect(key, 'a secret in a ConfigMap').not.toMatch(/KEY|TOKEN|PASSWORD|SECRET|CERT/);
      }
      for (const component of COMPONENTS) {
        const d = deploymentOf(objects, component);
        const container = containerOf(d);
        const { env, secretRefs } = environmentOf(objects, d, NAMESPACE);

        // config/index.ts parses it; a variable it does not know would be dropped silently,
        // so every one set must come back (LOG_LEVEL is read by the processes themselves).
        const config = loadConfig(env);
        for (const key of Object.keys(env).filter((k) => k !== 'LOG_LEVEL'))
          expect(config, `${component}: ${key} is a configuration variable`).toHaveProperty(key);
        expect(config).toMatchObject({
          RUNTIME_PROVIDER: 'kubernetes',
          KUBE_NAMESPACE: NAMESPACE,
          // The observer is its own Deployment: the workers do not run one.
          OBSERVER: 'off',
          OBSERVER_SCRAPE_ANY_ADDRESS: true,
        });
        expect(config.KUBECONFIG).toBeUndefined(); // in-cluster credentials: the token

        // Secret values never inline: these come from Secrets, and the TLS files from a
        // mounted Secret.
        for (const name of ['API_KEYS', 'TEMPORAL_API_KEY'])
          expect(container.env?.find((v) => v.name === name)?.value).toBeUndefined();
        for (const ref of secretRefs) expect(ref.value).toBeUndefined();
        for (const name of ['TEMPORAL_TLS_CERT', 'TEMPORAL_TLS_KEY', 'TEMPORAL_TLS_CA']) {
          const file = env[name];
          if (file === undefined) continue;
          const mount = container.volumeMounts?.find((m) => file.startsWith(`${m.mountPath}/`));
          const volume = d.spec!.template.spec!.volumes?.find((v) => v.name === mount?.name);
          expect(volume?.secret?.secretName, `${name} is a file of a mounted Secret`).toEqual(
            expect.any(String),
          );
        }
        // Prometheus can reach /metrics: on the pod's interfaces, at the port the process
        // serves it on, named in the container and in the scrape annotations.
        expect(config.METRICS_HOST).toBe('0.0.0.0');
        const metricsPort = {
          api: config.API_METRICS_PORT,
          worker: config.WORKER_METRICS_PORT,
          observer: config.OBSERVER_METRICS_PORT,
        }[component];
        expect(metricsPort).toBeGreaterThan(0);
        expect(container.ports?.find((p) => p.name === 'metrics')?.containerPort).toBe(metricsPort);
        expect(d.spec?.template.metadata?.annotations).toMatchObject({
          'prometheus.io/scrape': 'true',
          'prometheus.io/port': String(metricsPort),
        });
        if (component === 'api') {
          const port = container.ports?.find((p) => p.name === 'http')?.containerPort;
          expect(port).toBe(config.API_PORT);
          expect(config.API_HOST).toBe('0.0.0.0');
          expect(secretRefs.map((r) => r.name)).toContain('API_KEYS');
        }
      }

      // The Secrets each variant needs, by the names the README tells you to create.
      const secrets = new Set(
        COMPONENTS.flatMap((c) => secretsOf(deploymentOf(objects, c))).sort(),
      );
      const expected: Record<string, string[]> = {
        'overlays/dev': ['model-deployments-api-keys'],
        'overlays/production': ['model-deployments-api-keys', 'model-deployments-temporal-tls'],
        'base + components/temporal-mtls + temporal-private-ca': [
          'model-deployments-api-keys',
          'model-deployments-temporal-tls',
        ],
        'base + components/temporal-api-key': [
          'model-deployments-api-keys',
          'model-deployments-temporal-api-key',
        ],
      };
      expect([...secrets]).toEqual(expected[variant.name]);
    });
  }

  it('overlays/production: two of each process, Temporal over mutual TLS, budgets that keep one', async () => {
    const objects = await render(path.join(MANIFESTS, 'overlays', 'production'));
    for (const component of COMPONENTS) {
      const d = deploymentOf(objects, component);
      expect(d.spec?.replicas).toBeGreaterThanOrEqual(2);
      const { env } = environmentOf(objects, d, NAMESPACE);
      expect(env).toMatchObject({
        TEMPORAL_TLS_CERT: expect.any(String),
        TEMPORAL_TLS_KEY: expect.any(String),
      });
      expect(containerOf(d).image).toMatch(/^[\w.-]+\.[\w-]+\/.*model-deployments:/); // a registry
    }
    for (const budget of ofKind<V1PodDisruptionBudget>(objects, 'PodDisruptionBudget'))
      expect(budget.spec).toMatchObject({ minAvailable: 1 });
    // The API key stays a Secret the operator creates.
    const api = containerOf(deploymentOf(objects, 'api'));
    expect(api.env?.find((v) => v.name === 'API_KEYS')?.valueFrom?.secretKeyRef).toEqual({
      name: 'model-deployments-api-keys',
      key: 'API_KEYS',
    });
  });

  it('overlays/dev: one of each process, the locally built image, no Secret required', async () => {
    const objects = await render(path.join(MANIFESTS, 'overlays', 'dev'));
    for (const component of COMPONENTS) {
      const d = deploymentOf(objects, component);
      expect(d.spec?.replicas).toBe(1);
      expect(containerOf(d).image).toBe('model-deployments:local');
    }
    const api = containerOf(deploymentOf(objects, 'api'));
    expect(api.env?.find((v) => v.name === 'API_KEYS')?.valueFrom?.secretKeyRef).toMatchObject({
      name: 'model-deployments-api-keys',
      optional: true,
    });
    // Without API_KEYS the API writes its generated key to DATA_DIR: a writable volume there.
    const data = api.volumeMounts?.find((m) => m.mountPath === '/data');
    expect(
      deploymentOf(objects, 'api').spec?.template.spec?.volumes?.find((v) => v.name === data?.name)
        ?.emptyDir,
    ).toBeDefined();
  });

  it("the worker's and the observer's readiness probe passes only while Temporal's port answers", async () => {
    const objects = await render(path.join(MANIFESTS, 'overlays', 'production'));
    const commands = (['worker', 'observer'] as const).map(
      (c) => containerOf(deploymentOf(objects, c)).readinessProbe!.exec!.command!,
    );
    expect(commands[1]).toEqual(commands[0]);
    const [shell, ...args] = commands[0]!;
    const server = net.createServer((socket) => socket.end());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const open = (server.address() as net.AddressInfo).port;
    const closed = await freePort();
    const probe = (address: string) =>
      run(shell!, args, { env: { ...process.env, TEMPORAL_ADDRESS: address }, timeout: 10_000 })
        .then(() => 0)
        .catch((err: { code?: number }) => err.code ?? -1);
    try {
      expect(await probe(`127.0.0.1:${open}`)).toBe(0);
      expect(await probe(`localhost:${open}`)).toBe(0);
      expect(await probe(`127.0.0.1:${closed}`)).not.toBe(0);
    } finally {
      server.close();
    }
  });
});

describe('Kubernetes manifests: the apiserver accepts them', () => {
  beforeAll(async () => {
    // Warn about (and audit) anything the `restricted` Pod Security Standard forbids: the
    // apiserver checks Deployments' pod templates that way on a dry run too.
    await kubectl('create', 'namespace', NAMESPACE);
    await kubectl(
      'label',
      'namespace',
      NAMESPACE,
      'pod-security.kubernetes.io/enforce=restricted',
      'pod-security.kubernetes.io/warn=restricted',
    );
  });

  for (const variant of VARIANTS) {
    it(`kubectl apply --dry-run=server -k ${variant.name}`, async () => {
      const dir = variant.dir();
      const expected = (await render(dir)).map((o) => `${o.kind}/${o.metadata?.name}`);
      const { stdout, stderr } = await kubectl('apply', '--dry-run=server', '-k', dir);
      const accepted = stdout
        .trim()
        .split('\n')
        .map((line) => /^(\S+)\s.*\(server dry run\)$/.exec(line)?.[1]);
      expect(accepted.every((name) => name !== undefined)).toBe(true);
      expect(accepted).toHaveLength(expected.length);
      expect(accepted.map((a) => a!.split('/')[1])).toEqual(expected.map((e) => e.split('/')[1]));
      // No warning: nothing deprecated, nothing the restricted profile would refuse.
      expect(stderr).toBe('');
    });
  }

  it('a pod template the restricted profile refuses is reported (the check above can fail)', async () => {
    const { stderr } = await kubectl(
      'create',
      'deployment',
      'not-hardened',
      '--image=model-deployments',
      '-n',
      NAMESPACE,
      '--dry-run=server',
    );
    expect(stderr).toMatch(/would violate PodSecurity "restricted/);
  });
});

// ---- RBAC ------------------------------------------------------------------------------------

/** A namespace other than the overlays' one: kustomize must carry the bindings' subjects there. */
const RBAC_NAMESPACE = 'md-rbac';
const ELSEWHERE = 'md-elsewhere';
const UNBOUND = 'md-unbound';
const template: RevisionTemplate = {
  model: 'llama-3.1-8b-instruct',
  loadMs: 500,
  accelerator: { type: 'H100', count: 1 },
};

/** One ServiceAccount's credentials, as its pod would use them. */
interface Account {
  name: string;
  kubeconfig: KubeConfig;
  /** The runtime provider the process creates (createProvider), with this account's token. */
  provider(namespace?: string): RuntimeProvider;
}

describe('Kubernetes manifests: RBAC', () => {
  let rendered: Rendered;
  const accounts = {} as Record<Component | 'unbound', Account>;
  let admin: KubernetesProvider;
  const created: string[] = [];
  const cleanups: (() => Promise<void>)[] = [];
  let counter = 0;

  beforeAll(async () => {
    rendered = await render(
      kustomization('rbac', 'overlays/production', { namespace: RBAC_NAMESPACE }),
    );
    const rbac = rendered.filter((o) =>
      ['ServiceAccount', 'Role', 'RoleBinding'].includes(o.kind ?? ''),
    );
    expect(rbac).toHaveLength(9);
    const file = path.join(tmp, 'rbac.yaml');
    fs.writeFileSync(file, rbac.map((o) => stringify(o)).join('---\n'));
    await kubectl('create', 'namespace', RBAC_NAMESPACE);
    await kubectl('create', 'namespace', ELSEWHERE);
    await kubectl('apply', '-f', file);
    await kubectl('create', 'serviceaccount', UNBOUND, '-n', RBAC_NAMESPACE);
    admin = new KubernetesProvider({ kubeconfig: cp.kubeconfig, namespace: RBAC_NAMESPACE });

    // Configured the way the pods are: the rendered ConfigMap, KUBE_NAMESPACE, and a kubeconfig
    // holding nothing but the account's token (in a pod, the mounted token does that).
    const configMap = ofKind<V1ConfigMap>(rendered, 'ConfigMap')[0]!.data!;
    const server = cp.kubeconfig.getCurrentCluster()!.server;
    for (const [key, name] of [...Object.entries(ACCOUNT), ['unbound', UNBOUND]] as [
      Component | 'unbound',
      string,
    ][]) {
      const { stdout: token } = await kubectl(
        'create',
        'token',
        name,
        '-n',
        RBAC_NAMESPACE,
        '--duration',
        '1h',
      );
      const kubeconfigPath = path.join(tmp, `${name}.kubeconfig`);
      fs.writeFileSync(
        kubeconfigPath,
        stringify({
          apiVersion: 'v1',
          kind: 'Config',
          clusters: [{ name: 'local', cluster: { server, 'insecure-skip-tls-verify': true } }],
          users: [{ name, user: { token: token.trim() } }],
          contexts: [{ name, context: { cluster: 'local', user: name } }],
          'current-context': name,
        }),
      );
      const kubeconfig = new KubeConfig();
      kubeconfig.loadFromFile(kubeconfigPath);
      accounts[key] = {
        name,
        kubeconfig,
        provider: (namespace = RBAC_NAMESPACE) =>
          createProvider(
            loadConfig({ ...configMap, KUBECONFIG: kubeconfigPath, KUBE_NAMESPACE: namespace }),
          ),
      };
    }
  }, 60_000);

  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    for (const id of created.splice(0)) await admin.removeDeployment(id);
  }, 60_000);

  function newDeployment(): string {
    const id = `team-rbac/llm-${++counter}`;
    created.push(id);
    return id;
  }

  /** A deployment the admin runs (1 ready replica, traffic routed), for the read-only accounts. */
  async function routedDeployment(): Promise<string> {
    const id = newDeployment();
    await admin.applyRevision({ deploymentId: id, revision: 1, replicas: 1, template });
    await admin.routeTraffic(id, 1);
    await waitFor(
      () => admin.getRevision(id, 1),
      (s: RevisionStatus) => s.ready === 1,
      'a ready replica',
    );
    return id;
  }

  /** The call is refused by the apiserver's authorizer: 403, not any other failure. */
  async function forbidden(call: Promise<unknown>, what: string): Promise<void> {
    const outcome = await call.then(
      () => 'allowed',
      (err: unknown) => err,
    );
    expect(outcome, `${what}: refused`).not.toBe('allowed');
    expect((outcome as { code?: number }).code, `${what}: ${String(outcome)}`).toBe(403);
  }

  /** Starts a feed that cannot watch; returns whether it ever synced and the errors it reported. */
  async function refusedFeed(feed: RevisionFeed): Promise<{ synced: boolean; errors: Error[] }> {
    const errors: Error[] = [];
    let synced = false;
    const started = feed.start({ onStatus: () => undefined, onError: (e) => errors.push(e) });
    const settled = started.then(
      () => (synced = true),
      () => undefined,
    );
    await waitFor(
      async () => errors.length,
      (n) => n > 0,
      'the feed to report the refusal',
    );
    await feed.stop();
    await settled;
    return { synced, errors };
  }

  const FORBIDDEN = /\b403\b|forbidden/i;

  it("the worker's account runs every operation of the Kubernetes provider", async () => {
    const worker = accounts.worker.provider();
    expect(worker).toBeInstanceOf(KubernetesProvider);
    const id = newDeployment();
    // Server-side apply that creates, then one that changes the object.
    expect(
      await worker.applyRevision({ deploymentId: id, revision: 1, replicas: 1, template }),
    ).toMatchObject({ exists: true, desired: 1 });
    await worker.applyRevision({ deploymentId: id, revision: 1, replicas: 2, template });
    const ready = await waitFor(
      () => worker.getRevision(id, 1),
      (s: RevisionStatus) => s.ready === 2,
      '2 ready replicas, read with the worker token',
    );
    expect(ready.replicas).toHaveLength(2);
    expect((await worker.listRevisions(id)).map((r) => r.revision)).toEqual([1]);
    expect(await (worker as KubernetesProvider).replicasOnNodeGroup('gpu-h100')).toEqual([]);
    await worker.routeTraffic(id, 1);
    await worker.applyRevision({ deploymentId: id, revision: 2, replicas: 1, template });
    await worker.routeTraffic(id, 2); // the Service exists: a change
    const { stdout: selector } = await kubectl(
      'get',
      'service',
      objectName(id),
      '-n',
      RBAC_NAMESPACE,
      '-o',
      'jsonpath={.spec.selector.model-deployments\\.dev/revision}',
    );
    expect(selector).toBe('2');
    await worker.removeRevision(id, 1);
    expect(await worker.getRevision(id, 1)).toMatchObject({ exists: false });
    await worker.removeDeployment(id);
    const { stdout: left } = await kubectl(
      'get',
      'deployments,services',
      '-n',
      RBAC_NAMESPACE,
      '-o',
      'name',
    );
    expect(left.trim()).toBe('');
  });

  it("the worker's account is refused what only the API and the observer do, and other namespaces", async () => {
    const id = await routedDeployment();
    const worker = accounts.worker.provider();
    await forbidden(worker.endpoints(id), 'worker: get services (the gateway reads them)');
    await forbidden(worker.observerLease!('worker').tryAcquire(), 'worker: the observer Lease');
    const feed = await refusedFeed(worker.revisionFeed!());
    expect(feed.errors.some((e) => FORBIDDEN.test(e.message))).toBe(true);

    const elsewhere = accounts.worker.provider(ELSEWHERE);
    const other = `team-rbac/elsewhere-${++counter}`;
    await forbidden(
      elsewhere.applyRevision({ deploymentId: other, revision: 1, replicas: 1, template }),
      'worker: create in another namespace',
    );
    await forbidden(elsewhere.getRevision(other, 1), 'worker: read in another namespace');
    await forbidden(elsewhere.removeDeployment(other), 'worker: delete in another namespace');
  });

  it("the observer's account watches the replicas and holds its Lease, and changes nothing", async () => {
    const observer = accounts.observer.provider();
    const statuses: RevisionStatus[] = [];
    const errors: Error[] = [];
    const feed = observer.revisionFeed!();
    cleanups.push(() => feed.stop());
    await feed.start({ onStatus: (s) => statuses.push(s), onError: (e) => errors.push(e) });
    const id = newDeployment();
    await admin.applyRevision({ deploymentId: id, revision: 1, replicas: 1, template });
    await waitFor(
      async () => statuses.find((s) => s.deploymentId === id && s.ready === 1),
      (s) => s !== undefined,
      'the watch to deliver the replica ready',
    );
    expect(errors).toEqual([]);

    // Its Lease: taken, renewed, refused to a second observer while held, released, taken over.
    cleanups.push(async () => {
      await kubectl(
        'delete',
        'lease',
        DEFAULT_LEASE_NAME,
        '-n',
        RBAC_NAMESPACE,
        '--ignore-not-found',
      );
    });
    const a = observer.observerLease!('observer-a');
    const b = observer.observerLease!('observer-b');
    expect(await a.tryAcquire()).toBe(true);
    expect(await a.tryAcquire('{"team-rbac/x#1":"abc"}')).toBe(true);
    expect(await b.tryAcquire()).toBe(false);
    await a.release();
    expect(await b.tryAcquire()).toBe(true);
    expect(b.checkpoint).toBe('{"team-rbac/x#1":"abc"}');
    // Any other Lease of the namespace is not its to read or renew.
    await forbidden(
      new KubernetesLease({
        kubeconfig: accounts.observer.kubeconfig,
        namespace: RBAC_NAMESPACE,
        name: 'someone-elses-lease',
      }).tryAcquire(),
      'observer: another Lease',
    );

    await forbidden(
      observer.applyRevision({ deploymentId: id, revision: 1, replicas: 2, template }),
      'observer: change a replica Deployment',
    );
    await forbidden(observer.getRevision(id, 1), 'observer: get a Deployment (it lists)');
    await forbidden(observer.removeDeployment(id), 'observer: delete');
    await forbidden(observer.endpoints(id), 'observer: get services');
  });

  it("the API's account finds a deployment's ready replicas, and changes nothing", async () => {
    const id = await routedDeployment();
    const api = accounts.api.provider();
    const found = await api.endpoints(id);
    expect(found.revision).toBe(1);
    expect(found.urls).toHaveLength(1);
    expect(found.urls[0]).toMatch(/^http:\/\//);
    await forbidden(
      api.applyRevision({ deploymentId: id, revision: 2, replicas: 1, template }),
      'api: create a Deployment',
    );
    await forbidden(api.getRevision(id, 1), 'api: read a Deployment');
    await forbidden(api.routeTraffic(id, 2), 'api: change the Service');
    await forbidden(api.removeDeployment(id), 'api: delete');
    await forbidden(api.observerLease!('api').tryAcquire(), 'api: the observer Lease');
    const feed = await refusedFeed(api.revisionFeed!());
    expect(feed.synced).toBe(false);
    expect(feed.errors.some((e) => FORBIDDEN.test(e.message))).toBe(true);
    await forbidden(accounts.api.provider(ELSEWHERE).endpoints(id), 'api: another namespace');
  });

  it('an account without a binding is refused every one of those calls', async () => {
    const id = await routedDeployment();
    const nobody = accounts.unbound.provider();
    await forbidden(
      nobody.applyRevision({ deploymentId: id, revision: 2, replicas: 1, template }),
      'applyRevision',
    );
    await forbidden(nobody.getRevision(id, 1), 'getRevision');
    await forbidden(nobody.listRevisions(id), 'listRevisions');
    await forbidden(nobody.routeTraffic(id, 1), 'routeTraffic');
    await forbidden(nobody.removeRevision(id, 1), 'removeRevision');
    await forbidden(nobody.removeDeployment(id), 'removeDeployment');
    await forbidden(nobody.endpoints(id), 'endpoints');
    await forbidden(nobody.observerLease!('nobody').tryAcquire(), 'the observer Lease');
    const feed = await refusedFeed(nobody.revisionFeed!());
    expect(feed.synced).toBe(false);
    expect(feed.errors.some((e) => FORBIDDEN.test(e.message))).toBe(true);
    // And nothing of the deployment was touched.
    expect(await admin.getRevision(id, 1)).toMatchObject({ exists: true, ready: 1 });
  });

  /**
   * What each account may do, as the apiserver itself lists it (a SelfSubjectRulesReview with
   * the account's token: what `kubectl auth can-i --list` shows), without the self-reviews every
   * authenticated user has.
   */
  async function rulesOf(account: Account, namespace: string): Promise<string[]> {
    const review = await account.kubeconfig
      .makeApiClient(AuthorizationV1Api)
      .createSelfSubjectRulesReview({
        body: { spec: { namespace } },
      });
    expect(review.status?.incomplete).toBe(false);
    const everyone = /^self(subject(access|rules)?)?reviews$/;
    return review
      .status!.resourceRules.flatMap((r: V1ResourceRule) =>
        (r.apiGroups ?? []).flatMap((g) =>
          (r.resources ?? [])
            .filter((res) => !everyone.test(res))
            .map(
              (res) =>
                `${g ? `${g}/` : ''}${res}${r.resourceNames?.length ? `[${[...r.resourceNames].sort().join(',')}]` : ''}: ${[...(r.verbs ?? [])].sort().join(',')}`,
            ),
        ),
      )
      .sort();
  }

  it('grants exactly the calls the code makes, in its namespace and nowhere else', async () => {
    expect(await rulesOf(accounts.worker, RBAC_NAMESPACE)).toEqual([
      'apps/deployments: create,delete,get,list,patch',
      'pods: list',
      'services: create,delete,patch',
    ]);
    expect(await rulesOf(accounts.observer, RBAC_NAMESPACE)).toEqual([
      'apps/deployments: list,watch',
      'coordination.k8s.io/leases: create',
      'coordination.k8s.io/leases[model-deployments-observer]: get,update',
      'pods: list,watch',
    ]);
    expect(await rulesOf(accounts.api, RBAC_NAMESPACE)).toEqual(['pods: list', 'services: get']);
    for (const account of [accounts.worker, accounts.observer, accounts.api, accounts.unbound]) {
      expect(await rulesOf(account, ELSEWHERE), `${account.name} elsewhere`).toEqual([]);
      expect(await rulesOf(account, 'kube-system'), `${account.name} in kube-system`).toEqual([]);
    }
    expect(await rulesOf(accounts.unbound, RBAC_NAMESPACE)).toEqual([]);

    // And as the apiserver authorizes single requests (kubectl auth can-i, impersonating).
    const canI = (account: string, ...args: string[]) =>
      kubectl(
        'auth',
        'can-i',
        ...args,
        `--as=system:serviceaccount:${RBAC_NAMESPACE}:${account}`,
      ).then(
        ({ stdout }) => stdout.trim(),
        (err: { stdout?: string }) => err.stdout?.trim() ?? String(err),
      );
    for (const account of Object.values(ACCOUNT)) {
      expect(await canI(account, 'list', 'secrets', '-n', RBAC_NAMESPACE)).toBe('no');
      expect(await canI(account, 'get', 'secrets', '-n', RBAC_NAMESPACE)).toBe('no');
      expect(await canI(account, 'create', 'pods', '-n', RBAC_NAMESPACE)).toBe('no');
      expect(await canI(account, 'list', 'nodes')).toBe('no');
      expect(await canI(account, 'list', 'pods', '--all-namespaces')).toBe('no');
      expect(await canI(account, 'list', 'pods', '-n', ELSEWHERE)).toBe('no');
      expect(await canI(account, 'create', 'rolebindings', '-n', RBAC_NAMESPACE)).toBe('no');
    }
    expect(await canI(ACCOUNT.worker, 'delete', 'deployments', '-n', RBAC_NAMESPACE)).toBe('yes');
    expect(await canI(ACCOUNT.worker, 'delete', 'deployments', '-n', ELSEWHERE)).toBe('no');
    expect(
      await canI(ACCOUNT.observer, 'update', `leases/${DEFAULT_LEASE_NAME}`, '-n', RBAC_NAMESPACE),
    ).toBe('yes');
    expect(
      await canI(ACCOUNT.observer, 'update', 'leases/kube-scheduler', '-n', RBAC_NAMESPACE),
    ).toBe('no');
  });
});
