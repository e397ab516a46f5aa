/** Picks the runtime provider the configuration names. */
import { KubeConfig } from '@kubernetes/client-node';
import type { Config } from '../../config';
import { EksClusters } from './byoc';
import { KubernetesProvider } from './kubernetes';
import { LocalRuntimeProvider } from './local';
import type { RuntimeProvider } from './provider';

type ProviderConfig = Pick<
  Config,
  | 'RUNTIME_PROVIDER'
  | 'LOCAL_AGENT_URL'
  | 'KUBECONFIG'
  | 'KUBE_NAMESPACE'
  | 'MODEL_SERVER_IMAGE'
  | 'DRAIN_GRACE_SECONDS'
>;

export function createProvider(config: ProviderConfig): RuntimeProvider {
  switch (config.RUNTIME_PROVIDER) {
    case 'local':
      return new LocalRuntimeProvider(config.LOCAL_AGENT_URL);
    case 'kubernetes': {
      const kubeconfig = new KubeConfig();
      if (config.KUBECONFIG) kubeconfig.loadFromFile(config.KUBECONFIG);
      else kubeconfig.loadFromDefault();
      return new KubernetesProvider({
        kubeconfig,
        namespace: config.KUBE_NAMESPACE,
        drainGraceSeconds: config.DRAIN_GRACE_SECONDS,
        ...(config.MODEL_SERVER_IMAGE ? { image: config.MODEL_SERVER_IMAGE } : {}),
      });
    }
  }
}

/** BYOC: the clusters the registry links to workspaces, reached through EKS. */
export function createClusters(
  config: Pick<
    Config,
    'clusters' | 'secretsDir' | 'MODEL_SERVER_IMAGE' | 'NODE_GROUP_SCALE_TIMEOUT_SECONDS'
  >,
): EksClusters {
  return new EksClusters({
    registry: config.clusters,
    secretsDir: config.secretsDir,
    ...(config.MODEL_SERVER_IMAGE ? { image: config.MODEL_SERVER_IMAGE } : {}),
    scaleTimeoutMs: config.NODE_GROUP_SCALE_TIMEOUT_SECONDS * 1000,
  });
}
