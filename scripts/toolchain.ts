/** Finds the tools scripts/setup.sh provides (same lookup order, same cache). */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

function readToolchainEnv(): Record<string, string> {
  const file = path.join(__dirname, '..', '..', 'scripts', 'toolchain.env');
  const source = fs.existsSync(file) ? file : path.join(__dirname, 'toolchain.env');
  const values: Record<string, string> = {};
  for (const line of fs.readFileSync(source, 'utf8').split('\n')) {
    const match = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (match) values[match[1]!] = match[2]!;
  }
  return values;
}

export function toolsCache(): string {
  const base =
    process.env.MODEL_DEPLOYMENTS_CACHE ??
    path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'model-deployments');
  return path.join(base, 'tools');
}

/**
 * The Temporal CLI: $TEMPORAL_CLI, else `temporal` on PATH, else the version-keyed cache: the
 * prebuilt TEMPORAL_CLI_VERSION (PyPI wheel), then the Go-built TEMPORAL_CLI_GO_VERSION (setup.sh's
 * fallback where the wheel cannot be used).
 */
export function temporalCliPath(): string {
  if (process.env.TEMPORAL_CLI) return process.env.TEMPORAL_CLI;
  try {
    return execFileSync('sh', ['-c', 'command -v temporal'], { encoding: 'utf8' }).trim();
  } catch {
    // not on PATH
  }
  const env = readToolchainEnv();
  const candidates = [env.TEMPORAL_CLI_VERSION, env.TEMPORAL_CLI_GO_VERSION]
    .filter((version): version is string => Boolean(version))
    .map((version) => path.join(toolsCache(), `temporal-${version}`, 'temporal'));
  const cached = candidates.find((file) => fs.existsSync(file));
  if (cached) return cached;
  throw new Error(
    `the Temporal CLI ${env.TEMPORAL_CLI_VERSION} is missing: run \`npm run setup\` (fetches it from PyPI with pip, or builds it with Go, into ${path.dirname(candidates[0] ?? toolsCache())}), or put \`temporal\` on PATH`,
  );
}

/** Launcher of the Temporal Java test server (time-skipping), from the version-keyed cache. */
export function javaTestServerPath(): string {
  const version = readToolchainEnv().TEMPORAL_TEST_SERVER_VERSION;
  const launcher = path.join(
    toolsCache(),
    `temporal-test-server-${version}`,
    'temporal-test-server',
  );
  if (fs.existsSync(launcher)) return launcher;
  throw new Error(
    `the Temporal Java test server ${version} is missing: run \`npm run setup\` (fetches it from Maven Central with mvn into ${path.dirname(launcher)})`,
  );
}

/** The local Kubernetes control plane's binaries (scripts/k8s/build-control-plane.sh). */
export function kubernetesToolsPath(): { kubectl: string } {
  const env = readToolchainEnv();
  const dir = path.join(toolsCache(), `kubernetes-${env.KUBERNETES_VERSION}`);
  for (const bin of ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler']) {
    if (!fs.existsSync(path.join(dir, bin))) {
      throw new Error(
        `the local Kubernetes control plane is missing (${path.join(dir, bin)}): run \`npm run setup -- --for-tests\` (builds it with Go, a few minutes once)`,
      );
    }
  }
  const kubectl = path.join(dir, 'kubectl');
  return { kubectl: fs.existsSync(kubectl) ? kubectl : 'kubectl' };
}

/** The Temporal server, its SQL schema tool and the release's PostgreSQL schema (setup.sh). */
export function temporalServerTools(): { server: string; sqlTool: string; schemaDir: string } {
  const version = readToolchainEnv().TEMPORAL_SERVER_VERSION;
  const dir = path.join(toolsCache(), `temporal-server-${version}`);
  const tools = {
    server: path.join(dir, 'temporal-server'),
    sqlTool: path.join(dir, 'temporal-sql-tool'),
    schemaDir: path.join(dir, 'schema', 'postgresql'),
  };
  for (const file of Object.values(tools)) {
    if (!fs.existsSync(file)) {
      throw new Error(
        `the Temporal server ${version} is missing (${file}): run \`npm run setup -- --for-tests\` (builds it with Go, a few minutes once)`,
      );
    }
  }
  return tools;
}

/** PostgreSQL's server programs (initdb, postgres): on PATH, else Debian's /usr/lib/postgresql/N/bin. */
export function postgresBinDir(): string {
  try {
    const initdb = execFileSync('sh', ['-c', 'command -v initdb'], { encoding: 'utf8' }).trim();
    if (initdb) return path.dirname(fs.realpathSync(initdb));
  } catch {
    // not on PATH
  }
  const root = '/usr/lib/postgresql';
  const versions = fs.existsSync(root)
    ? fs
        .readdirSync(root)
        .filter((v) => fs.existsSync(path.join(root, v, 'bin', 'initdb')))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  if (versions[0]) return path.join(root, versions[0], 'bin');
  throw new Error(
    'PostgreSQL is missing (no initdb on PATH or in /usr/lib/postgresql/*/bin): run `npm run setup -- --for-tests` (installs it with apt-get)',
  );
}
