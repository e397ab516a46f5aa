/** What a revision runs as on Kubernetes: names, labels, placement, resources, SSH. */
import { describe, expect, it } from 'vitest';
import {
  deploymentManifest,
  objectName,
  revisionName,
  revisionOf,
  serviceManifest,
} from '../../activities/providers/kubernetes-manifests';

const dedicated = {
  model: 'llama-3.1-8b-instruct',
  loadMs: 3000,
  accelerator: { type: 'H100', count: 2 },
};
const byoc = {
  model: 'mistral-7b-instruct',
  loadMs: 1000,
  nodeGroup: 'gpu-a10g',
  resources: { cpuRequest: '4', cpuLimit: '8', memoryRequest: '32Gi', memoryLimit: '64Gi' },
  ssh: { runtime: 'sidecar' as const, users: [{ username: 'al_ice', keySecret: 'alice-key' }] },
};

describe('Kubernetes manifests', () => {
  it.each([
    ['a short id keeps its name readable', 'default/llm', 'md-default--llm'],
    [
      'a long id is cut and hashed to stay a 63-character DNS label',
      `default/${'x'.repeat(70)}`,
      expect.stringMatching(/^md-default--x+-[0-9a-f]{8}$/),
    ],
  ])('%s', (_sentence, id, name) => {
    expect(objectName(id)).toEqual(name);
    expect(revisionName(id, 12).length).toBeLessThanOrEqual(63);
  });

  it('asks a dedicated revision for its GPUs on nodes with that GPU, and tells kwok the load time', () => {
    const d = deploymentManifest(
      { deploymentId: 'default/llm', revision: 3, replicas: 2, template: dedicated },
      'ns',
    );
    expect(d.metadata).toMatchObject({
      name: 'md-default--llm-r3',
      namespace: 'ns',
      labels: {
        'app.kubernetes.io/managed-by': 'model-deployments',
        'model-deployments.dev/revision': '3',
      },
    });
    expect(d.spec.replicas).toBe(2);
    expect(d.spec.template.metadata.annotations).toEqual({
      'model-deployments.dev/weights-load': '3000ms',
    });
    expect(d.spec.template.spec).toMatchObject({
      nodeSelector: { 'nvidia.com/gpu.product': 'H100' },
      tolerations: [{ key: 'nvidia.com/gpu' }],
    });
    expect(d.spec.template.spec.containers[0]).toMatchObject({
      resources: { limits: { 'nvidia.com/gpu': '2' } },
      readinessProbe: { httpGet: { path: '/health' } },
    });
  });

  it.each([
    ['failLoad', { failLoad: true }, 'model-deployments.dev/fails-to-load'],
    ['simulateRestarts', { simulateRestarts: true }, 'model-deployments.dev/simulate-restarts'],
  ])('marks the pods of a %s template for the kwok simulation', (_flag, flags, annotation) => {
    const d = deploymentManifest(
      {
        deploymentId: 'default/llm',
        revision: 1,
        replicas: 1,
        template: { ...dedicated, ...flags },
      },
      'ns',
    );
    expect(d.spec.template.metadata.annotations).toEqual({
      'model-deployments.dev/weights-load': '3000ms',
      [annotation]: 'true',
    });
  });

  it('places a BYOC revision on its node group with its CPU and memory, and mounts SSH keys from named Secrets', () => {
    const d = deploymentManifest(
      { deploymentId: 'ws/chat', revision: 1, replicas: 1, template: byoc },
      'ns',
    );
    const [server, ssh] = d.spec.template.spec.containers;
    expect(d.spec.template.spec.nodeSelector).toEqual({
      'eks.amazonaws.com/nodegroup': 'gpu-a10g',
    });
    expect((server as { resources: unknown }).resources).toEqual({
      limits: { cpu: '8', memory: '64Gi' },
      requests: { cpu: '4', memory: '32Gi' },
    });
    expect(ssh).toMatchObject({
      name: 'ssh',
      volumeMounts: [{ name: 'ssh-key-0', mountPath: '/etc/ssh/keys/al_ice', readOnly: true }],
    });
    expect(d.spec.template.spec.volumes).toEqual([
      { name: 'ssh-key-0', secret: { secretName: 'alice-key' } },
    ]);
  });

  it.each([
    ['the default drain grace (60 s)', undefined, 65],
    ['a configured drain grace', 300, 305],
  ])(
    'drains a pod being removed with %s: readiness stays on /health, a preStop pause, then SIGTERM and the grace',
    (_sentence, graceSeconds, terminationGracePeriodSeconds) => {
      const d = deploymentManifest(
        { deploymentId: 'default/llm', revision: 1, replicas: 1, template: dedicated },
        'ns',
        undefined,
        graceSeconds,
      );
      const [server] = d.spec.template.spec.containers;
      expect(server).toMatchObject({
        readinessProbe: { httpGet: { path: '/health', port: 8000 } },
        // Endpoints drop a terminating pod at once; the pause covers callers that looked them up
        // just before, and needs no shell in the image.
        lifecycle: { preStop: { sleep: { seconds: 5 } } },
      });
      // The grace counts from the start of preStop: the pause plus the drain.
      expect(d.spec.template.spec.terminationGracePeriodSeconds).toBe(
        terminationGracePeriodSeconds,
      );
    },
  );

  it('routes the Service to one revision', () => {
    expect(serviceManifest('ws/chat', 4, 'ns').spec.selector).toEqual({
      'model-deployments.dev/deployment': 'ws.chat',
      'model-deployments.dev/revision': '4',
    });
  });

  it.each([
    ['a short id', 'ws/chat'],
    ['a long id, whose label is a hash', `ws/${'x'.repeat(70)}`],
  ])('says which revision a Deployment runs, for %s', (_sentence, id) => {
    const d = deploymentManifest(
      { deploymentId: id, revision: 7, replicas: 1, template: dedicated },
      'ns',
    );
    expect(revisionOf(d.metadata)).toEqual({ deploymentId: id, revision: 7 });
    // The id is on the Deployment only: a pod template that changed would roll every revision.
    expect(d.spec.template.metadata.annotations).not.toHaveProperty(
      'model-deployments.dev/deployment-id',
    );
  });

  it('reads the revision of a Deployment applied before the id annotation from its labels, when they tell', () => {
    const { labels } = deploymentManifest(
      { deploymentId: 'ws/chat', revision: 2, replicas: 1, template: dedicated },
      'ns',
    ).metadata;
    expect(revisionOf({ labels })).toEqual({ deploymentId: 'ws/chat', revision: 2 });
    const hashed = deploymentManifest(
      { deploymentId: `ws/${'x'.repeat(70)}`, revision: 2, replicas: 1, template: dedicated },
      'ns',
    ).metadata.labels;
    expect(revisionOf({ labels: hashed })).toBeUndefined();
    expect(
      revisionOf({ labels: { ...labels, 'model-deployments.dev/revision': '' } }),
    ).toBeUndefined();
  });
});
