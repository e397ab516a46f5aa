/**
 * SSH into a replica, end to end, with the real OpenSSH client (`ssh`, `ssh-keygen`): the real
 * stack (Temporal dev server, worker, local runtime agent with real model-server processes), the
 * API with a file-backed secrets store, and the control plane's SSH server on a free port of
 * 127.0.0.1. The right key lands in the replica (its working directory, its environment, a
 * terminal when asked); a wrong key, an unlisted user, another workspace's deployment and a
 * paused deployment are refused, each with a clear reason (on stderr, or in the server's log
 * when authentication itself is refused).
 */
import { execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { Client } from 'ssh2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../api/app';
import { DeploymentService } from '../../api/deployment-service';
import { TrafficMeter } from '../../api/metrics/traffic-meter';
import { ReplicaEndpoints } from '../../api/replica-endpoints';
import { FileSecretStore } from '../../api/secrets/store';
import { KubernetesProvider } from '../../activities/providers/kubernetes';
import type { RevisionTemplate } from '../../activities/providers/provider';
import {
  KubernetesReplicaShells,
  LocalReplicaShells,
  type SshRuntime,
} from '../../api/ssh/replicas';
import { loadOrCreateHostKey, SshServer } from '../../api/ssh/server';
import { dedicatedSpec, TEST_CATALOG } from '../helpers/catalog';
import { waitFor } from '../helpers/harness';
import { LOOPBACK_PODS, startControlPlane, type ControlPlane } from '../helpers/kubernetes';
import { freePort } from '../helpers/processes';
import { startStack, type Stack } from '../helpers/stack';

const SSH = '/usr/bin/ssh';

function requireOpenSsh(): void {
  for (const tool of ['ssh', 'ssh-keygen']) {
    try {
      execFileSync('sh', ['-c', `command -v ${tool}`]);
    } catch {
      throw new Error(
        `${tool} is missing: this test connects with the real OpenSSH client. Install it: ` +
          'sudo apt-get install -y openssh-client (or run `npm run setup -- --for-tests`)',
      );
    }
  }
}

let stack: Stack;
let sshServer: SshServer;
let sshPort: number;
let app: FastifyInstance;
let baseUrl: string;
let keys: string;
const serverLog: string[] = [];

/** A key pair in the test's folder: the private key file and the public key line. */
function keyPair(name: string): { file: string; pub: string } {
  const file = path.join(keys, name);
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', name, '-f', file]);
  return { file, pub: fs.readFileSync(`${file}.pub`, 'utf8').trim() };
}

let alice: { file: string; pub: string };
let mallory: { file: string; pub: string };

/** Runs the OpenSSH client; never throws: the exit code, stdout and stderr. */
function ssh(
  identity: string,
  login: string,
  args: string[] = [],
  options: { input?: string; tty?: boolean } = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const argv = [
    '-F',
    '/dev/null',
    '-p',
    String(sshPort),
    '-o',
    'StrictHostKeyChecking=no',
    '-o',
    'UserKnownHostsFile=/dev/null',
    '-o',
    'BatchMode=yes',
    '-o',
    'IdentitiesOnly=yes',
    '-o',
    'LogLevel=ERROR',
    '-i',
    identity,
    ...(options.tty ? ['-tt'] : ['-T']),
    `${login}@127.0.0.1`,
    ...args,
  ];
  return new Promise((resolve) => {
    const child = execFile(SSH, argv, { timeout: 30_000 }, (err, stdout, stderr) =>
      resolve({
        code: err ? (typeof err.code === 'number' ? err.code : null) : 0,
        stdout: stdout.toString(),
        stderr: stderr.toString(),
      }),
    );
    child.stdin?.end(options.input ?? '');
  });
}

/** A deployment, the SSH access of one, or an error. */
interface Answer {
  error: { code: string; message: string };
  health?: string;
  state?: string;
  replicas?: unknown;
  [key: string]: unknown;
}

async function api(method: string, urlPath: string, body?: unknown, key = stack.key) {
  const res = await fetch(`${baseUrl}${urlPath}`, {
    method,
    headers: {
      authorization: `Bearer ${key}`,
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : {}) as Answer };
}

const healthy = (workspace: string, name: string, key?: string) =>
  waitFor(
    () => api('GET', `/v1/workspaces/${workspace}/deployments/${name}`, undefined, key),
    (r) =>
      r.body.health === 'Healthy' && ((r.body.replicas as { ready?: number })?.ready ?? 0) >= 1,
    `${name} Healthy`,
    60_000,
  );

beforeAll(async () => {
  requireOpenSsh();
  keys = fs.mkdtempSync(path.join(os.tmpdir(), 'md-ssh-keys-'));
  alice = keyPair('alice');
  mallory = keyPair('mallory');
  stack = await startStack();
  const service = new DeploymentService({
    client: stack.harness.env.client,
    taskQueue: stack.harness.taskQueue,
    catalog: TEST_CATALOG,
    limitFor: () => 1000,
  });
  const secrets = new FileSecretStore(stack.dataDir);
  const shells = new LocalReplicaShells(stack.provider);
  const at = (level: string) => (message: string) => serverLog.push(`${level} ${message}`);
  sshServer = new SshServer({
    host: '127.0.0.1',
    port: 0,
    hostKey: loadOrCreateHostKey(stack.dataDir).key,
    deployments: service,
    secrets,
    shells,
    log: { info: at('info'), warn: at('warn'), error: at('error') },
  });
  sshPort = await sshServer.listen();
  const port = await freePort();
  baseUrl = `http://127.0.0.1:${port}`;
  app = await buildApp({
    service,
    replicas: new ReplicaEndpoints({ dedicated: stack.provider, deployments: service }),
    meter: new TrafficMeter(),
    wake: () => undefined,
    catalog: TEST_CATALOG,
    apiKeys: new Map([
      [stack.key, stack.workspace],
      [stack.otherKey, stack.otherWorkspace],
    ]),
    publicUrl: baseUrl,
    secrets,
    ssh: { host: '127.0.0.1', port: sshPort, shells },
  });
  await app.listen({ host: '127.0.0.1', port });

  const ws = `/v1/workspaces/${stack.workspace}`;
  const other = `/v1/workspaces/${stack.otherWorkspace}`;
  expect(
    (await api('PUT', `${ws}/secrets/alice-key`, { type: 'ssh-public-key', value: alice.pub }))
      .status,
  ).toBe(201);
  expect(
    (await api('PUT', `${ws}/secrets/bob-key`, { type: 'ssh-public-key', value: mallory.pub }))
      .status,
  ).toBe(201);
  // The other workspace lists alice too, with a key of its own (mallory's).
  expect(
    (
      await api(
        'PUT',
        `${other}/secrets/alice-key`,
        { type: 'ssh-public-key', value: mallory.pub },
        stack.otherKey,
      )
    ).status,
  ).toBe(201);
  const users = [
    { username: 'alice', keySecret: 'alice-key' },
    { username: 'bob', keySecret: 'bob-key' },
  ];
  const scaling = { minReplicas: 1, maxReplicas: 1, metric: 'concurrency', threshold: 8 };
  for (const [name, runtime] of [
    ['shell', 'main'],
    ['side', 'sidecar'],
  ] as const) {
    const created = await api('POST', `${ws}/deployments`, {
      name,
      ...dedicatedSpec({ scaling, ssh: { enabled: true, runtime, users } }),
    });
    expect(created.status).toBe(202);
  }
  // Never ready: its weights never load.
  const broken = await api('POST', `${ws}/deployments`, {
    name: 'broken',
    ...dedicatedSpec({
      model: 'broken-model',
      scaling,
      ssh: { enabled: true, runtime: 'main', users },
    }),
  });
  expect(broken.status).toBe(202);
  expect(
    (
      await api(
        'POST',
        `${other}/deployments`,
        {
          name: 'shell',
          ...dedicatedSpec({ scaling, ssh: { enabled: true, runtime: 'main', users: [users[0]] } }),
        },
        stack.otherKey,
      )
    ).status,
  ).toBe(202);
  await healthy(stack.workspace, 'shell');
  await healthy(stack.workspace, 'side');
  await healthy(stack.otherWorkspace, 'shell', stack.otherKey);
}, 180_000);

afterAll(async () => {
  await app?.close();
  await sshServer?.close();
  await stack?.stop();
  if (keys) fs.rmSync(keys, { recursive: true, force: true });
});

describe('SSH into a replica', () => {
  const login = (name: string, user = 'alice', workspace = () => stack.workspace) =>
    `${user}+${workspace()}+${name}`;

  it('GET .../ssh says where: host, port, users, the ready replicas and the command', async () => {
    const res = await api('GET', `/v1/workspaces/${stack.workspace}/deployments/shell/ssh`);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      host: '127.0.0.1',
      port: sshPort,
      users: ['alice', 'bob'],
      replicas: [expect.stringMatching(/^r1-\d+$/)],
      command: `ssh -p ${sshPort} alice+${stack.workspace}+shell@127.0.0.1`,
    });
    // The host key: made once, kept in the data folder, readable by its owner only.
    expect(fs.statSync(path.join(stack.dataDir, 'ssh-host-key')).mode & 0o777).toBe(0o600);
    expect(loadOrCreateHostKey(stack.dataDir).created).toBe(false);
    // Another workspace's key: 403, as every route of the workspace.
    expect(
      (
        await api(
          'GET',
          `/v1/workspaces/${stack.workspace}/deployments/shell/ssh`,
          undefined,
          stack.otherKey,
        )
      ).status,
    ).toBe(403);
  });

  it('the right key runs a command in the replica: its working directory and its environment', async () => {
    const [pid] = stack.replicaPids().filter((p) => {
      const env = fs.readFileSync(`/proc/${p}/environ`, 'utf8');
      return env.includes(`REPLICA_ID=${stack.workspace}--shell--r1/`);
    });
    expect(pid).toBeDefined();
    const replicaCwd = fs.readlinkSync(`/proc/${pid}/cwd`);
    const res = await ssh(alice.file, login('shell'), [
      'pwd; echo "id=$REPLICA_ID data=$DATA_DIR"',
    ]);
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    const [pwd, vars] = res.stdout.trim().split('\n');
    expect(pwd).toBe(replicaCwd);
    expect(vars).toMatch(
      new RegExp(`^id=${stack.workspace}--shell--r1/r\\d+ data=${stack.dataDir}$`),
    );
    // The exit status comes back.
    expect((await ssh(alice.file, login('shell'), ['exit 7'])).code).toBe(7);
  });

  it('an interactive shell reads its commands from the client, with a terminal when asked', async () => {
    const pwd = (await ssh(alice.file, login('shell'), ['pwd'])).stdout.trim();
    const shell = await ssh(alice.file, login('shell'), [], { input: 'echo "in $PWD"; exit 3\n' });
    expect(shell.code).toBe(3);
    expect(shell.stdout.trim()).toBe(`in ${pwd}`);
    const tty = await ssh(alice.file, login('shell'), ['tty; echo "term=$TERM"'], { tty: true });
    expect(tty.code).toBe(0);
    expect(tty.stdout).toMatch(/\/dev\/pts\/\d+/);
  });

  it('follows the client terminal size when the window changes', async () => {
    // OpenSSH sends window changes only from a real terminal: ssh2's client sends one here.
    const sizes = await new Promise<string>((resolve, reject) => {
      const conn = new Client();
      conn.on('error', reject);
      conn.on('ready', () => {
        conn.exec(
          'stty size; sleep 1; stty size',
          { pty: { rows: 24, cols: 80, term: 'xterm' } },
          (err, stream) => {
            if (err) return reject(err);
            let out = '';
            stream.on('data', (chunk: Buffer) => (out += chunk.toString()));
            setTimeout(() => stream.setWindow(40, 120, 0, 0), 400);
            stream.on('close', () => {
              conn.end();
              resolve(out);
            });
          },
        );
      });
      conn.connect({
        host: '127.0.0.1',
        port: sshPort,
        username: login('shell'),
        privateKey: fs.readFileSync(alice.file),
      });
    });
    expect(sizes.trim().split(/\r?\n/)).toEqual(['24 80', '40 120']);
  });

  it('picks one replica with +replica, and refuses an unknown one saying which are ready', async () => {
    const { body } = await api('GET', `/v1/workspaces/${stack.workspace}/deployments/shell/ssh`);
    const replica = (body.replicas as string[])[0]!;
    const picked = await ssh(alice.file, `${login('shell')}+${replica}`, ['echo $SSH_REPLICA']);
    expect(picked.stdout.trim()).toBe(replica);
    const unknown = await ssh(alice.file, `${login('shell')}+r9-9`, ['true']);
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr).toContain(`has no ready replica "r9-9"; ready: ${replica}`);
  });

  it('sidecar: the same working directory, not the model server environment', async () => {
    const main = await ssh(alice.file, login('shell'), ['pwd']);
    const res = await ssh(alice.file, login('side'), [
      'pwd; echo "id=$REPLICA_ID data=${DATA_DIR:-none}"',
    ]);
    expect(res.code).toBe(0);
    const [pwd, vars] = res.stdout.trim().split('\n');
    expect(pwd).toBe(main.stdout.trim());
    expect(vars).toMatch(new RegExp(`^id=${stack.workspace}--side--r1/r\\d+ data=none$`));
  });

  it('refuses a wrong key, an unlisted user and another workspace deployment, logging why', async () => {
    const denied = /Permission denied \(publickey\)/;
    const wrongKey = await ssh(mallory.file, login('shell'), ['true']);
    expect(wrongKey.code).toBe(255);
    expect(wrongKey.stderr).toMatch(denied);
    expect(serverLog.join('\n')).toContain(`refused alice+${stack.workspace}+shell (key SHA256:`);
    expect(serverLog.join('\n')).toMatch(
      /the key is not the one in keySecret "alice-key" \(SHA256:/,
    );

    const unlisted = await ssh(alice.file, login('shell', 'carol'), ['true']);
    expect(unlisted.code).toBe(255);
    expect(unlisted.stderr).toMatch(denied);
    expect(serverLog.join('\n')).toContain(
      'user "carol" is not in spec.ssh.users of deployment "shell"',
    );

    // alice's key of this workspace opens nothing in the other one (its alice-key is another key).
    const otherWs = await ssh(
      alice.file,
      login('shell', 'alice', () => stack.otherWorkspace),
      ['true'],
    );
    expect(otherWs.code).toBe(255);
    expect(otherWs.stderr).toMatch(denied);
    expect(serverLog.join('\n')).toContain(`refused alice+${stack.otherWorkspace}+shell`);

    const nowhere = await ssh(alice.file, login('nope'), ['true']);
    expect(nowhere.code).toBe(255);
    expect(serverLog.join('\n')).toContain(
      `no deployment "nope" in workspace "${stack.workspace}"`,
    );
    // Never key material in the log: fingerprints only.
    expect(serverLog.join('\n')).not.toContain(alice.pub.split(' ')[1]!);
    expect(serverLog.join('\n')).not.toContain(mallory.pub.split(' ')[1]!);
  });

  it('refuses a deployment whose SSH access was turned off, and GET .../ssh answers 404', async () => {
    const patched = await fetch(`${baseUrl}/v1/workspaces/${stack.workspace}/deployments/side`, {
      method: 'PATCH',
      headers: {
        authorization: `Bearer ${stack.key}`,
        'content-type': 'application/merge-patch+json',
      },
      body: JSON.stringify({ spec: { ssh: { enabled: false } } }),
    });
    expect(patched.status).toBe(202);
    const res = await ssh(alice.file, login('side'), ['true']);
    expect(res.code).toBe(1);
    expect(res.stderr).toContain('SSH access is disabled for deployment "side"');
    const info = await api('GET', `/v1/workspaces/${stack.workspace}/deployments/side/ssh`);
    expect(info.status).toBe(404);
    expect(info.body.error.message).toContain('has no SSH access');
  });

  it('refuses a deployment without a ready replica, saying so', async () => {
    const res = await ssh(alice.file, login('broken'), ['true']);
    expect(res.code).toBe(1);
    expect(res.stderr).toContain('deployment "broken" has no ready replica');
    const info = await api('GET', `/v1/workspaces/${stack.workspace}/deployments/broken/ssh`);
    expect(info.status).toBe(200);
    expect(info.body.replicas).toEqual([]);
  });

  it('a secret in use cannot be deleted', async () => {
    const res = await api('DELETE', `/v1/workspaces/${stack.workspace}/secrets/alice-key`);
    expect(res.status).toBe(409);
    expect(res.body.error.message).toContain('deployment "shell" (spec.ssh.users[0].keySecret)');
  });

  it('refuses a paused deployment with a clear message', async () => {
    expect(
      (await api('POST', `/v1/workspaces/${stack.workspace}/deployments/shell/pause`)).status,
    ).toBe(202);
    await waitFor(
      () => api('GET', `/v1/workspaces/${stack.workspace}/deployments/shell`),
      (r) => r.body.state === 'paused',
      'shell paused',
      30_000,
    );
    const res = await ssh(alice.file, login('shell'), ['true']);
    expect(res.code).toBe(1);
    expect(res.stderr).toContain('deployment "shell" is paused');
    expect(res.stdout).toBe('');
  });
});

/**
 * Kubernetes (kwok: pods without a kubelet, their node on loopback, so nothing dials a private
 * address): the ready pods of the revision the Service routes to, and an exec through the API
 * server into the container the runtime names. The API server checks the container, then fails to
 * reach the (absent) kubelet: a clear error, not a shell.
 */
describe('SSH on Kubernetes (kwok)', () => {
  let cp: ControlPlane;
  let provider: KubernetesProvider;
  let shells: KubernetesReplicaShells;
  const namespace = 'ssh';

  beforeAll(async () => {
    cp = await startControlPlane({ podNetwork: LOOPBACK_PODS });
    await cp.kubectl('create', 'namespace', namespace);
    provider = new KubernetesProvider({ kubeconfig: cp.kubeconfig, namespace });
    shells = new KubernetesReplicaShells(cp.kubeconfig, namespace);
  }, 180_000);
  afterAll(async () => cp?.stop(), 60_000);

  const template = (runtime?: SshRuntime): RevisionTemplate => ({
    model: 'llama-3.1-8b-instruct',
    loadMs: 300,
    accelerator: { type: 'H100', count: 1 },
    ...(runtime
      ? { ssh: { runtime, users: [{ username: 'alice', keySecret: 'alice-key' }] } }
      : {}),
  });

  async function routed(id: string, t: RevisionTemplate): Promise<string> {
    expect(await shells.ready(id)).toEqual({ revision: null, replicas: [] });
    await provider.applyRevision({ deploymentId: id, revision: 1, replicas: 1, template: t });
    await provider.routeTraffic(id, 1);
    const ready = await waitFor(
      () => shells.ready(id),
      (r) => r.replicas.length === 1,
      `${id}: one ready pod`,
      30_000,
    );
    expect(ready.revision).toBe(1);
    return ready.replicas[0]!;
  }

  const failure = (id: string, pod: string, runtime: SshRuntime) =>
    shells.open(id, pod, runtime, { command: 'pwd' }).then(
      async (p) => {
        let said = '';
        p.stdout.on('data', (chunk: Buffer) => (said += chunk.toString()));
        p.stderr.on('data', (chunk: Buffer) => (said += chunk.toString()));
        const exit = await p.exited;
        return `exit ${JSON.stringify(exit)}: ${said}`;
      },
      (err: unknown) => (err instanceof Error ? err.message : String(err)),
    );

  it('lists the ready pods of the routed revision and execs into the ssh sidecar or the server container', async () => {
    const id = 'team-a/k8s-sidecar';
    const pod = await routed(id, template('sidecar'));
    expect(pod).toMatch(/^md-team-a--k8s-sidecar-/);
    for (const runtime of ['sidecar', 'main'] as const) {
      const why = await failure(id, pod, runtime);
      // Past the container check, to the node's kubelet (none on kwok).
      expect(why, runtime).toMatch(/exit \{"code":1\}: exec in pod .*127\.0\.100\.1:10250/);
      expect(why, runtime).toContain(
        `/${runtime === 'sidecar' ? 'ssh' : 'server'}?command=%2Fbin%2Fsh&command=-c&command=pwd`,
      );
    }
    // A pod without the sidecar: the API server refuses the container name itself.
    const plain = 'team-a/k8s-plain';
    const plainPod = await routed(plain, template());
    expect(await failure(plain, plainPod, 'sidecar')).toMatch(
      /refused exec into container "ssh" of pod md-team-a--k8s-plain-/,
    );
    expect(await failure(plain, 'md-not-a-pod', 'main')).toContain('is not ready');
  }, 120_000);
});
