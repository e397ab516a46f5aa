/**
 * The SSH server as the API process runs it, from the environment:
 *
 * - `SSH_HOST` (default 127.0.0.1) and `SSH_PORT` (default 2222; `off` runs none) where it listens;
 * - `SSH_PUBLIC_HOST`: the host clients are told (default SSH_HOST, or 127.0.0.1 for 0.0.0.0);
 * - the host key: DATA_DIR/ssh-host-key, made on first start.
 */
import { KubeConfig } from '@kubernetes/client-node';
import { z } from 'zod';
import type { Config } from '../../config';
import type { Log } from '../../config/logging';
import { LocalRuntimeProvider } from '../../activities/providers/local';
import type { DeploymentService } from '../deployment-service';
import type { SshAccessOptions } from '../routes/ssh';
import type { SecretStore } from '../secrets/store';
import { KubernetesReplicaShells, LocalReplicaShells, type ReplicaShells } from './replicas';
import { loadOrCreateHostKey, SshServer } from './server';

const sshEnvSchema = z.object({
  SSH_HOST: z.string().default('127.0.0.1'),
  SSH_PORT: z.union([z.literal('off'), z.coerce.number().int().min(0).max(65535)]).default(2222),
  SSH_PUBLIC_HOST: z.string().optional(),
});

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
      `invalid configuration: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')} (SSH_PORT is a port number or "off")`,
    );
  const env = parsed.data;
  if (env.SSH_PORT === 'off') return undefined;
  const hostKey = loadOrCreateHostKey(options.config.DATA_DIR);
  const shells = replicaShells(options.config);
  const server = new SshServer({
    host: env.SSH_HOST,
    port: env.SSH_PORT,
    hostKey: hostKey.key,
    deployments: options.deployments,
    secrets: options.secrets,
    shells,
    log: options.log,
  });
  const port = await server.listen().catch((err: Error) => {
    throw new Error(
      `the SSH server cannot listen on ${env.SSH_HOST}:${env.SSH_PORT} (${err.message}); set SSH_PORT to another port, or SSH_PORT=off`,
    );
  });
  const host = env.SSH_PUBLIC_HOST ?? (env.SSH_HOST === '0.0.0.0' ? '127.0.0.1' : env.SSH_HOST);
  return { server, access: { host, port, shells } };
}
