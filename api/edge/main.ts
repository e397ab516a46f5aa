/**
 * The edge gateway process (`node dist/api/edge/main.js`), run by a BYOC customer in their
 * cluster (deploy/byoc-edge): inference from the control plane to the cluster's pods. See
 * api/edge/app.ts for what it does, api/edge/config.ts for its environment.
 */
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { KubernetesProvider } from '../../activities/providers/kubernetes';
import { apiLoggerOptions, jsonLog, logLevel } from '../../config/logging';
import { buildEdgeApp } from './app';
import { loadEdgeConfig } from './config';

const log = jsonLog('edge');

async function main(): Promise<void> {
  const config = loadEdgeConfig();
  const kubeconfig = new KubeConfig();
  if (config.KUBECONFIG) kubeconfig.loadFromFile(config.KUBECONFIG);
  else kubeconfig.loadFromDefault(); // in a pod: its ServiceAccount's token
  const namespace = config.KUBE_NAMESPACE;
  const provider = new KubernetesProvider({ kubeconfig, namespace });
  const core = kubeconfig.makeApiClient(CoreV1Api);

  const logger = apiLoggerOptions(logLevel(process.env.LOG_LEVEL));
  const app = await buildEdgeApp({
    replicas: provider,
    token: config.EDGE_TOKEN,
    ready: async () => {
      await core.listNamespacedPod({ namespace, limit: 1 });
    },
    ...(config.tls ? { https: config.tls } : {}),
    logger: {
      ...logger,
      formatters: { ...logger.formatters, bindings: () => ({ process: 'edge' }) },
    },
    endpointsTtlMs: config.EDGE_ENDPOINTS_TTL_MS,
  });
  await app.listen({ host: config.EDGE_HOST, port: config.EDGE_PORT });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.EDGE_PORT;
  const url = `${config.tls ? 'https' : 'http'}://${config.EDGE_HOST}:${port}`;
  log.info(`edge gateway listening on ${url}, serving the replicas of namespace ${namespace}`, {
    url,
    namespace,
  });

  const stop = async () => {
    // Requests in flight are answered first (streams included); the pod's grace period bounds it.
    await app.close();
    process.exit(0);
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((err: unknown) => {
  log.error(`edge gateway failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
