/**
 * The SSH server as the API process runs it, from the environment:
 *
 * - `SSH_HOST` (default 127.0.0.1) and `SSH_PORT` (default 2222; `off` runs none) where it listens;
 * - `SSH_PUBLIC_HOST`: the host clients are told (default SSH_HOST, or 127.0.0.1 for 0.0.0.0);
 * - the host key: DATA_DIR/ssh-host-key, made on first start;
 * - `SSH_LOCAL_SHARED_USER=1`: allow sessions on the local runtime although the API serves more
 *   than one workspace (see localRuntimeRefusal: off by default).
 */
import { KubeConfig } from '@kubernetes/client-node';
import { z } from 'zod';
import type { Config } from '../../config';
import type { Log } from '../../config/logging';
import { LocalRuntimeProvider } from '../../activities/providers/local';
import { parseApiKeys } from '../auth';
import type { DeploymentService } from '../deployment-service';
import type { SshAccessOptions } from '../routes/ssh';
import type { SecretStore } from '../secrets/store';
import { KubernetesReplicaShells, LocalReplicaShells, type ReplicaShells } from './replicas';
import { loadOrCreateHostKey, SshServer } from './server';

const sshEnvSchema = z.object({
  SSH_HOST: z.string().default('127.0.0.1'),
  SSH_PORT: z.union([z.literal('off'), z.coerce.number().int().min(0).max(65535)]).default(2222),
  SSH_PUBLIC_HOST: z.string().optional(),
  SSH_LOCAL_SHARED_USER: z
    .enum(['1', '0', 'true', 'false'])
    .default('0')
    .transform((v) => v === '1' || v === 'true'),
});

/**
 * Why sessions are refused on this API, or undefined. On the local runtime a session is a process
 * of the API's own OS user: it can read the control plane's files (DATA_DIR/workspace-secrets.json
 * with every workspace's secrets, DATA_DIR/api-key, the SSH host key) and /proc/<pid>/environ of
 * the API and of every replica. With one workspace that is its own user's machine; with several
 * (API_KEYS mapping keys to more than one workspace) it would hand one workspace the others', so
 * sessions are refused unless the operator opts in with SSH_LOCAL_SHARED_USER=1.
 */
export function localRuntimeRefusal(
  config: Pick<Config, 'RUNTIME_PROVIDER' | 'API_KEYS'>,
  sharedUserAllowed: boolean,
): string | undefined {
  if (config.RUNTIME_PROVIDER !== 'local' || sharedUserAllowed) return undefined;
  let workspaces: number;
  try {
    // No API_KEYS: the one local key of workspace "default".
    workspaces = config.API_KEYS ? new Set(parseApiKeys(config.API_KEYS).values()).size : 1;
  } catch {
    workspaces = Infinity; // unreadable: assume the worst
  }
  if (workspaces <= 1) return undefined;
  return (
    'SSH sessions are turned off on this API: it serves more than one workspace on the local runtime, ' +
    "where a session runs as the API's own OS user and could read the control plane's files " +
    "(every workspace's secrets, the API keys, the SSH host key) and other workspaces' replicas. " +
    'The local runtime is for development; the operator can allow it anyway with SSH_LOCAL_SHARED_USER=1 ' +
    'on the API process, or run replicas on Kubernetes (RUNTIME_PROVIDER=kubernetes)'
  );
}

/** The replicas of the configured dedicated runtime. */
export function replicaShells(
  config: Pick<Config, 'RUNTIME_PROVIDER' | 'LOCAL_AGENT_URL' | 'KUBECONFIG' | 'KUBE_NAMESPACE'>,
): ReplicaShells {
  if (config.RUNTIME_PROVIDER === 'local')
    return new LocalReplicaShells(new LocalRuntimeProvider(config.LOCAL_AGENT_URL));
  const kubeconfig = new KubeConfig();
  if (config.KUBECONFIG) kubeconfig.loadFromFile(config.KUBECONFIG);
  else kubeconfig.loadFromDefault();
  return new KubernetesReplicaShells(kubeconfig, config.KUBE_NAMESPACE);
}

/** Starts the SSH server unless SSH_PORT=off; what the API's /ssh route needs to say where it is. */
export async function startSshServer(options: {
  config: Config;
  env?: NodeJS.ProcessEnv;
  deployments: Pick<DeploymentService, 'get'>;
  secrets: SecretStore;
  log: Log;
}): Promise<{ server: SshServer; access: SshAccessOptions } | undefined> {
  const parsed = sshEnvSchema.safeParse(options.env ?? process.env);
  if (!parsed.success)
    throw new Error(
      `invalid configuration: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')} (SSH_PORT is a port number or "off"; SSH_LOCAL_SHARED_USER is 1 or 0)`,
    );
  const env = parsed.data;
  if (env.SSH_PORT === 'off') return undefined;
  const hostKey = loadOrCreateHostKey(options.config.DATA_DIR);
  const shells = replicaShells(options.config);
  const refusal = localRuntimeRefusal(options.config, env.SSH_LOCAL_SHARED_USER);
  if (refusal) options.log.warn(`ssh: ${refusal}`);
  else if (options.config.RUNTIME_PROVIDER === 'local' && env.SSH_LOCAL_SHARED_USER)
    options.log.warn(
      "ssh: SSH_LOCAL_SHARED_USER=1: sessions on the local runtime run as the API's own OS user, with no isolation between replicas, workspaces and the control plane",
    );
  const server = new SshServer({
    host: env.SSH_HOST,
    port: env.SSH_PORT,
    hostKey: hostKey.key,
    deployments: options.deployments,
    secrets: options.secrets,
    shells,
    log: options.log,
    ...(refusal !== undefined ? { refuseSessions: refusal } : {}),
  });
  const port = await server.listen().catch((err: Error) => {
    throw new Error(
      `the SSH server cannot listen on ${env.SSH_HOST}:${env.SSH_PORT} (${err.message}); set SSH_PORT to another port, or SSH_PORT=off`,
    );
  });
  const host = env.SSH_PUBLIC_HOST ?? (env.SSH_HOST === '0.0.0.0' ? '127.0.0.1' : env.SSH_HOST);
  return {
    server,
    access: { host, port, shells, ...(refusal !== undefined ? { refused: refusal } : {}) },
  };
}
