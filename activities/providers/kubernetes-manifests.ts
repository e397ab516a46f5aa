/**
 * The Kubernetes objects a revision runs as, built from its template (pure, table-testable):
 * an apps/v1 Deployment per revision and one Service per deployment whose selector names the
 * revision that gets traffic (a rollout switches it).
 */
import { createHash } from 'node:crypto';
import type { ApplyRevisionInput, RevisionTemplate } from './provider';

export const FIELD_MANAGER = 'model-deployments';
/** kwok (and a real cluster's weight-load expectations) read the simulated load time from here. */
export const WEIGHTS_LOAD_ANNOTATION = 'model-deployments.dev/weights-load';
/** Simulation only (the local control plane's kwok never readies such pods), for rollback drills. */
export const FAILS_TO_LOAD_ANNOTATION = 'model-deployments.dev/fails-to-load';
/** Simulation only (kwok restarts such pods' containers a few times once they are Ready). */
export const SIMULATE_RESTARTS_ANNOTATION = 'model-deployments.dev/simulate-restarts';
export const DEPLOYMENT_LABEL = 'model-deployments.dev/deployment';
export const REVISION_LABEL = 'model-deployments.dev/revision';
/**
 * The deployment id (`ws/name`) as it is, on the revision's Deployment object (not its pods, so
 * adding it changed no pod template): the label is sanitized, and hashed when the id is long.
 */
export const DEPLOYMENT_ID_ANNOTATION = 'model-deployments.dev/deployment-id';
/** The label EKS managed node groups put on their nodes (our kwok nodes carry it too). */
export const NODE_GROUP_LABEL = 'eks.amazonaws.com/nodegroup';
export const GPU_PRODUCT_LABEL = 'nvidia.com/gpu.product';
export const SERVER_PORT = 8000;

export const DEFAULT_IMAGE = 'vllm/vllm-openai:latest';
/** How long a replica taken out of service may take to answer its requests in flight, by default. */
export const DEFAULT_DRAIN_GRACE_SECONDS = 60;
/**
 * preStop pause before the server gets SIGTERM: a terminating pod leaves the Service's
 * EndpointSlices (and our gateway's list, which skips pods with a deletionTimestamp) at once, but
 * proxies and gateways that looked endpoints up a moment earlier still send to it for a while.
 */
export const PRE_STOP_SECONDS = 5;
const SSH_IMAGE = 'linuxserver/openssh-server:latest';

/** A DNS-1123 label for a deployment id (`ws/name`), hashed when too long. */
export function objectName(deploymentId: string, suffix = ''): string {
  const base = deploymentId.replace('/', '--');
  const name = `md-${base}${suffix}`;
  if (name.length <= 63) return name;
  const hash = createHash('sha256').update(deploymentId).digest('hex').slice(0, 8);
  return `md-${base.slice(0, 63 - 4 - 9 - suffix.length)}-${hash}${suffix}`;
}

/** Label values: at most 63 characters of [A-Za-z0-9-_.]; `ws/name` becomes `ws.name`. */
export function deploymentLabel(deploymentId: string): string {
  const value = deploymentId.replace('/', '.');
  return value.length <= 63
    ? value
    : createHash('sha256').update(deploymentId).digest('hex').slice(0, 63);
}

export function revisionName(deploymentId: string, revision: number): string {
  return objectName(deploymentId, `-r${revision}`);
}

/**
 * Which revision a Deployment object runs, from its annotation, or from its labels when it was
 * applied before the annotation existed (a `ws.name` label reads back as `ws/name`: both parts are
 * DNS labels, without dots; a hashed label cannot be read back). Undefined when neither says.
 */
export function revisionOf(metadata?: {
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}): { deploymentId: string; revision: number } | undefined {
  const revisionLabel = metadata?.labels?.[REVISION_LABEL] ?? '';
  if (!/^[0-9]+$/.test(revisionLabel)) return undefined;
  const revision = Number(revisionLabel);
  const annotated = metadata?.annotations?.[DEPLOYMENT_ID_ANNOTATION];
  if (annotated) return { deploymentId: annotated, revision };
  const label = metadata?.labels?.[DEPLOYMENT_LABEL] ?? '';
  const parts = label.split('.');
  if (parts.length !== 2 || !parts[0] || !parts[1]) return undefined;
  return { deploymentId: `${parts[0]}/${parts[1]}`, revision };
}

export function selectorOf(deploymentId: string, revision?: number): Record<string, string> {
  return {
    [DEPLOYMENT_LABEL]: deploymentLabel(deploymentId),
    ...(revision !== undefined ? { [REVISION_LABEL]: String(revision) } : {}),
  };
}

/**
 * Draining on Kubernetes: readiness stays on /health; a pod being removed (scale-in, the old
 * revision after a rollout, pause, delete) leaves the endpoints at once, waits PRE_STOP_SECONDS
 * (preStop sleep, no shell needed in the image), then the server gets SIGTERM and finishes its
 * requests in flight (vLLM's uvicorn and our model server both drain on SIGTERM); the kubelet kills
 * it at terminationGracePeriodSeconds, which counts from the start of the preStop hook.
 */
export function deploymentManifest(
  { deploymentId, revision, replicas, template }: ApplyRevisionInput,
  namespace: string,
  image = DEFAULT_IMAGE,
  drainGraceSeconds = DEFAULT_DRAIN_GRACE_SECONDS,
) {
  const labels = {
    'app.kubernetes.io/name': 'model-server',
    'app.kubernetes.io/instance': deploymentLabel(deploymentId),
    'app.kubernetes.io/version': `r${revision}`,
    'app.kubernetes.io/managed-by': FIELD_MANAGER,
    ...selectorOf(deploymentId, revision),
  };
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: {
      name: revisionName(deploymentId, revision),
      namespace,
      labels,
      annotations: { [DEPLOYMENT_ID_ANNOTATION]: deploymentId },
    },
    spec: {
      replicas,
      selector: { matchLabels: selectorOf(deploymentId, revision) },
      template: {
        metadata: {
          labels,
          annotations: {
            [WEIGHTS_LOAD_ANNOTATION]: `${template.loadMs}ms`,
            ...(template.failLoad ? { [FAILS_TO_LOAD_ANNOTATION]: 'true' } : {}),
            ...(template.simulateRestarts ? { [SIMULATE_RESTARTS_ANNOTATION]: 'true' } : {}),
          },
        },
        spec: {
          ...placement(template),
          terminationGracePeriodSeconds: PRE_STOP_SECONDS + drainGraceSeconds,
          containers: [serverContainer(template, image), ...sshSidecar(template)],
          ...sshVolumes(template),
        },
      },
    },
  };
}

export function serviceManifest(deploymentId: string, revision: number, namespace: string) {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      name: objectName(deploymentId),
      namespace,
      labels: { 'app.kubernetes.io/managed-by': FIELD_MANAGER, ...selectorOf(deploymentId) },
    },
    spec: {
      selector: selectorOf(deploymentId, revision),
      ports: [{ name: 'http', port: 80, targetPort: SERVER_PORT }],
    },
  };
}

/** GPUs pin a dedicated revision to nodes with that GPU; BYOC pins it to the node group. */
function placement(template: RevisionTemplate) {
  const nodeSelector = template.nodeGroup
    ? { [NODE_GROUP_LABEL]: template.nodeGroup }
    : template.accelerator
      ? { [GPU_PRODUCT_LABEL]: template.accelerator.type }
      : undefined;
  return {
    ...(nodeSelector ? { nodeSelector } : {}),
    tolerations: [{ key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' }],
  };
}

function serverContainer(template: RevisionTemplate, image: string) {
  const gpus = template.accelerator?.count ?? template.gpusPerReplica;
  const r = template.resources;
  const resources = {
    ...(r || gpus
      ? {
          limits: {
            ...(r ? { cpu: r.cpuLimit, memory: r.memoryLimit } : {}),
            ...(gpus ? { 'nvidia.com/gpu': String(gpus) } : {}),
          },
        }
      : {}),
    ...(r ? { requests: { cpu: r.cpuRequest, memory: r.memoryRequest } } : {}),
  };
  return {
    name: 'server',
    image,
    args: ['--model', template.model, '--port', String(SERVER_PORT)],
    ports: [{ name: 'http', containerPort: SERVER_PORT }],
    env: Object.entries(template.env ?? {}).map(([name, value]) => ({ name, value })),
    resources,
    readinessProbe: {
      httpGet: { path: '/health', port: SERVER_PORT },
      periodSeconds: 5,
      failureThreshold: 3,
    },
    lifecycle: { preStop: { sleep: { seconds: PRE_STOP_SECONDS } } },
    ...(template.ssh?.runtime === 'main' ? { volumeMounts: sshMounts(template) } : {}),
  };
}

/** SSH keys come from the named Secrets; key material never passes through the control plane. */
function sshSidecar(template: RevisionTemplate) {
  if (!template.ssh || template.ssh.runtime !== 'sidecar') return [];
  return [
    {
      name: 'ssh',
      image: SSH_IMAGE,
      ports: [{ name: 'ssh', containerPort: 2222 }],
      env: [{ name: 'USER_NAMES', value: template.ssh.users.map((u) => u.username).join(',') }],
      volumeMounts: sshMounts(template),
    },
  ];
}

function sshMounts(template: RevisionTemplate) {
  // Volume names are DNS labels and user names may hold '_': number them instead.
  return (template.ssh?.users ?? []).map((u, i) => ({
    name: `ssh-key-${i}`,
    mountPath: `/etc/ssh/keys/${u.username}`,
    readOnly: true,
  }));
}

function sshVolumes(template: RevisionTemplate) {
  if (!template.ssh) return {};
  return {
    volumes: template.ssh.users.map((u, i) => ({
      name: `ssh-key-${i}`,
      secret: { secretName: u.keySecret },
    })),
  };
}
