/** A real local Kubernetes control plane for tests (scripts/k8s/control-plane.sh), on free ports. */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { KubeConfig } from '@kubernetes/client-node';
import { kubernetesToolsPath } from '../../scripts/toolchain';
import { freePort } from './processes';

const run = promisify(execFile);
/** The script in the source tree, from test/helpers or from its compiled copy in dist/test/helpers (benches). */
const SCRIPT = [
  path.resolve(__dirname, '..', '..', 'scripts', 'k8s', 'control-plane.sh'),
  path.resolve(__dirname, '..', '..', '..', 'scripts', 'k8s', 'control-plane.sh'),
].find((file) => fs.existsSync(file))!;

export interface ControlPlane {
  kubeconfigPath: string;
  kubeconfig: KubeConfig;
  kubectl(...args: string[]): Promise<string>;
  stop(): Promise<void>;
}

export interface ControlPlaneOptions {
  /**
   * A webhook token authenticator (TokenReview v1) the apiserver asks about tokens it does not
   * know, e.g. startEksAuthenticator's url (test/helpers/eks-authenticator.ts). The admin token
   * of `kubeconfig` keeps working.
   */
  authnWebhookUrl?: string;
  /**
   * kwok's pod IP range and node IP (control-plane.sh's KWOK_POD_CIDR, KWOK_NODE_IP); default
   * 10.0.0.1/16 and 10.0.0.1, private addresses no test may dial. LOOPBACK_PODS puts them on
   * loopback, where a test can bind a stand-in server on a pod's IP.
   */
  podNetwork?: { cidr: string; nodeIp: string };
}

/**
 * Pods on 127.0.100.2-254 (Linux routes all of 127.0.0.0/8 to lo: nothing leaves the machine).
 * The apiserver accepts such pod IPs; it refuses them in EndpointSlices (the controller-manager
 * logs that and retries), which nothing here reads: the provider lists pods.
 */
export const LOOPBACK_PODS = { cidr: '127.0.100.1/24', nodeIp: '127.0.100.1' } as const;

export async function startControlPlane(options: ControlPlaneOptions = {}): Promise<ControlPlane> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'md-kube-'));
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    KUBE_DIR: dir,
    ETCD_PORT: String(await freePort()),
    ETCD_PEER_PORT: String(await freePort()),
    APISERVER_PORT: String(await freePort()),
    // Set (or cleared) explicitly: one inherited from the shell must not leak into a plain start.
    AUTHN_WEBHOOK_URL: options.authnWebhookUrl ?? '',
    // Likewise: empty is the script's default (10.0.0.1/16).
    KWOK_POD_CIDR: options.podNetwork?.cidr ?? '',
    KWOK_NODE_IP: options.podNetwork?.nodeIp ?? '',
  };
  try {
    await run('bash', [SCRIPT, 'start'], { env, timeout: 120_000 });
  } catch (err) {
    const logs = fs.existsSync(path.join(dir, 'logs'))
      ? fs
          .readdirSync(path.join(dir, 'logs'))
          .map(
            (f) => `--- ${f}\n${fs.readFileSync(path.join(dir, 'logs', f), 'utf8').slice(-2000)}`,
          )
          .join('\n')
      : '';
    throw new Error(
      `the local Kubernetes control plane did not start (run \`npm run setup\` to build it): ${(err as Error).message}\n${logs}`,
    );
  }
  const kubeconfigPath = path.join(dir, 'kubeconfig');
  const kubeconfig = new KubeConfig();
  kubeconfig.loadFromFile(kubeconfigPath);
  return {
    kubeconfigPath,
    kubeconfig,
    kubectl: async (...args) =>
      (await run(kubernetesToolsPath().kubectl, ['--kubeconfig', kubeconfigPath, ...args])).stdout,
    async stop() {
      await run('bash', [SCRIPT, 'stop'], { env, timeout: 120_000 });
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
