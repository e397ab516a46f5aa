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
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { Client, utils } from 'ssh2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../api/app';
import { DeploymentService } from '../../api/deployment-service';
import { TrafficMeter } from '../../api/metrics/traffic-meter';
import { ReplicaEndpoints } from '../../api/replica-endpoints';
import { FileSecretStore, MemorySecretStore } from '../../api/secrets/store';
import { localRuntimeRefusal, startSshServer } from '../../api/ssh/start';
import type { Config } from '../../config';
import type { DeploymentView } from '../../workflows/domain/deployment';
import { KubernetesProvider } from '../../activities/providers/kubernetes';
import type { RevisionTemplate } from '../../activities/providers/provider';
import {
  KubernetesReplicaShells,
  LocalReplicaShells,
  type ShellProcess,
  type SshRuntime,
} from '../../api/ssh/replicas';
import {
  HOST_KEY_FILE,
  loadOrCreateHostKey,
  MAX_AUTH_FAILURES,
  MAX_SESSIONS_PER_CONNECTION,
  parseLogin,
  SshServer,
} from '../../api/ssh/server';
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

  it('on the local runtime with several workspaces, refuses sessions unless SSH_LOCAL_SHARED_USER=1', async () => {
    const config = {
      RUNTIME_PROVIDER: 'local',
      LOCAL_AGENT_URL: `http://127.0.0.1:${stack.agentPort}`,
      DATA_DIR: stack.dataDir,
      API_KEYS: `${stack.key}=${stack.workspace},${stack.otherKey}=${stack.otherWorkspace}`,
    } as Config;
    const log = { info: () => undefined, warn: () => undefined, error: () => undefined };
    const started = async (env: Record<string, string>) =>
      (await startSshServer({
        config,
        env: { SSH_HOST: '127.0.0.1', SSH_PORT: '0', ...env },
        deployments: new DeploymentService({
          client: stack.harness.env.client,
          taskQueue: stack.harness.taskQueue,
          catalog: TEST_CATALOG,
          limitFor: () => 1000,
        }),
        secrets: new FileSecretStore(stack.dataDir),
        log,
      }))!;
    const run = (port: number) =>
      new Promise<{ code: number | null; stderr: string }>((resolve) => {
        execFile(
          SSH,
          [
            ...['-F', '/dev/null', '-p', String(port), '-o', 'StrictHostKeyChecking=no'],
            ...[
              '-o',
              'UserKnownHostsFile=/dev/null',
              '-o',
              'BatchMode=yes',
              '-o',
              'LogLevel=ERROR',
            ],
            ...['-o', 'IdentitiesOnly=yes', '-i', alice.file, '-T'],
            `${login('shell')}@127.0.0.1`,
            'echo in',
          ],
          { timeout: 30_000 },
          (err, _stdout, stderr) =>
            resolve({ code: err ? (typeof err.code === 'number' ? err.code : null) : 0, stderr }),
        );
      });

    const refused = await started({});
    try {
      const res = await run(refused.access.port);
      expect(res.code).toBe(1);
      expect(res.stderr).toContain('SSH_LOCAL_SHARED_USER=1');
      expect(res.stderr).toContain('serves more than one workspace on the local runtime');
      // GET .../ssh says so before anyone connects
      expect(refused.access.refused).toContain('SSH_LOCAL_SHARED_USER=1');
    } finally {
      await refused.server.close();
    }
    const allowed = await started({ SSH_LOCAL_SHARED_USER: '1' });
    try {
      expect(allowed.access.refused).toBeUndefined();
      expect((await run(allowed.access.port)).code).toBe(0);
    } finally {
      await allowed.server.close();
    }
    // One workspace, or Kubernetes: nothing to refuse.
    expect(localRuntimeRefusal({ ...config, API_KEYS: `a=${stack.workspace}` }, false)).toBe(
      undefined,
    );
    expect(localRuntimeRefusal({ RUNTIME_PROVIDER: 'local', API_KEYS: undefined }, false)).toBe(
      undefined,
    );
    expect(localRuntimeRefusal({ ...config, RUNTIME_PROVIDER: 'kubernetes' }, false)).toBe(
      undefined,
    );
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
    // Refused at login (the reason in the server's log); a connection already open is told on
    // stderr when it starts a session (see the fake deployment's tests below).
    const res = await ssh(alice.file, login('side'), ['true']);
    expect(res.code).toBe(255);
    expect(res.stderr).toMatch(/Permission denied \(publickey\)/);
    expect(serverLog.join('\n')).toContain('SSH access is disabled for deployment "side"');
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

/**
 * The SSH server's own checks and bounds, over a fake deployment and fake replicas (no stack
 * needed): the key is checked again on every session (a rotated key, SSH turned off), one lookup
 * per login, a login timeout, at most MAX_AUTH_FAILURES refused attempts, at most
 * MAX_SESSIONS_PER_CONNECTION sessions at once, a shell opened after its channel closed is ended,
 * and login names are checked part by part.
 */
describe('SSH server checks and bounds (fake deployment and replicas)', () => {
  const WS = 'ws';
  const LOGIN = `alice+${WS}+app`;
  const fakeLog: string[] = [];
  const log = {
    info: (m: string) => fakeLog.push(`info ${m}`),
    warn: (m: string) => fakeLog.push(`warn ${m}`),
    error: (m: string) => fakeLog.push(`error ${m}`),
  };
  let gets = 0;
  let view: DeploymentView;
  const secrets = new MemorySecretStore();
  /** Shells opened, each with whether it was ended. */
  const opened: { command?: string; killed: boolean }[] = [];
  /** While set, opening a shell waits for it. */
  let gate: Promise<void> | undefined;
  let server: SshServer;
  let port: number;

  function fakeShell(command: string | undefined): ShellProcess {
    const record = { ...(command !== undefined ? { command } : {}), killed: false };
    opened.push(record);
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    let exit!: (e: { code: number | null; signal?: string }) => void;
    const exited = new Promise<{ code: number | null; signal?: string }>((r) => (exit = r));
    if (command === 'ok') {
      setImmediate(() => {
        stdout.end('ok\n');
        stderr.end();
        exit({ code: 0 });
      });
    }
    return {
      stdin: new PassThrough(),
      stdout,
      stderr,
      exited,
      kill: () => {
        record.killed = true;
        stdout.end();
        stderr.end();
        exit({ code: null, signal: 'HUP' });
      },
    };
  }

  const connect = (options: Partial<import('ssh2').ConnectConfig> = {}) =>
    new Promise<Client>((resolve, reject) => {
      const conn = new Client();
      conn.on('error', reject);
      conn.on('ready', () => resolve(conn));
      conn.connect({
        host: '127.0.0.1',
        port,
        username: LOGIN,
        privateKey: fs.readFileSync(alice.file),
        ...options,
      });
    });
  const exec = (conn: Client, command: string) =>
    new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
      conn.exec(command, (err, stream) => {
        if (err) return reject(err);
        let stdout = '';
        let stderr = '';
        let code: number | null = null;
        stream.on('data', (c: Buffer) => (stdout += c.toString()));
        stream.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
        stream.on('exit', (c: number | null) => (code = c));
        stream.on('close', () => resolve({ code, stdout, stderr }));
      });
    });

  beforeAll(async () => {
    view = {
      name: 'app',
      workspace: WS,
      state: 'running',
      health: 'Healthy',
      spec: dedicatedSpec({
        ssh: {
          enabled: true,
          runtime: 'main',
          users: [{ username: 'alice', keySecret: 'alice-key' }],
        },
      }),
    } as unknown as DeploymentView;
    await secrets.put(WS, 'alice-key', { type: 'ssh-public-key', value: alice.pub });
    server = new SshServer({
      host: '127.0.0.1',
      port: 0,
      hostKey: utils.generateKeyPairSync('ed25519').private,
      deployments: {
        get: async (workspace: string, name: string) => {
          gets += 1;
          if (workspace === WS && name === 'app') return structuredClone(view);
          throw new Error('not found');
        },
      } as unknown as SshServerDeployments,
      secrets,
      shells: {
        ready: async () => ({ revision: 1, replicas: ['r1-0'] }),
        open: async (_id, _replica, _runtime, request) => {
          if (gate) await gate;
          return fakeShell(request.command);
        },
      },
      log,
      loginTimeoutMs: 1000,
    });
    port = await server.listen();
  });
  afterAll(async () => {
    await server?.close();
  });

  it('makes the host key once, with no temporary file left', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'md-ssh-hostkey-'));
    try {
      const made = loadOrCreateHostKey(dir);
      expect(made.created).toBe(true);
      expect(made.key).toBe(fs.readFileSync(path.join(dir, HOST_KEY_FILE), 'utf8'));
      expect(fs.statSync(path.join(dir, HOST_KEY_FILE)).mode & 0o777).toBe(0o600);
      expect(fs.readdirSync(dir)).toEqual([HOST_KEY_FILE]);
      expect(loadOrCreateHostKey(dir)).toEqual({ key: made.key, created: false });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('checks login names part by part against the name rules', () => {
    expect(parseLogin('alice+default+llama-8b+r1-0')).toEqual({
      user: 'alice',
      workspace: 'default',
      deployment: 'llama-8b',
      replica: 'r1-0',
    });
    for (const bad of [
      'alice+default',
      'alice+default+a+b+c',
      'alice+ws:x+app',
      'alice+ws+app:1',
      'Alice+ws+app',
      'alice+WS+app',
      'alice+ws+app+r1_0',
      `alice+${'a'.repeat(64)}+app`,
      'alice+ws++app',
    ])
      expect(parseLogin(bad), bad).toBeUndefined();
  });

  it('looks a login up once for its query and its signature, and again per session', async () => {
    gets = 0;
    const conn = await connect();
    try {
      expect(gets).toBe(1);
      expect(await exec(conn, 'ok')).toEqual({ code: 0, stdout: 'ok\n', stderr: '' });
      expect(gets).toBe(2);
    } finally {
      conn.end();
    }
  });

  it('refuses new sessions of an open connection once its key was rotated out', async () => {
    const conn = await connect();
    try {
      expect((await exec(conn, 'ok')).code).toBe(0);
      await secrets.put(WS, 'alice-key', { type: 'ssh-public-key', value: mallory.pub });
      const res = await exec(conn, 'ok');
      expect(res.code).toBe(1);
      expect(res.stderr).toContain('is no longer the one in user "alice"\'s keySecret');
    } finally {
      conn.end();
      await secrets.put(WS, 'alice-key', { type: 'ssh-public-key', value: alice.pub });
    }
    // SSH turned off: refused at login too.
    const ssh = (view.spec as { ssh: { enabled: boolean } }).ssh;
    ssh.enabled = false;
    try {
      await expect(connect()).rejects.toThrow(/authentication methods failed/);
      expect(fakeLog.join('\n')).toContain(`refused ${LOGIN} (key SHA256:`);
      expect(fakeLog.join('\n')).toContain('SSH access is disabled for deployment "app"');
    } finally {
      ssh.enabled = true;
    }
  });

  it('ends a connection that does not log in in time', async () => {
    const socket = net.connect(port, '127.0.0.1');
    socket.on('data', () => undefined);
    socket.on('error', () => undefined);
    await new Promise<void>((resolve) => socket.once('close', () => resolve()));
    expect(fakeLog.join('\n')).toContain('did not log in within');
  });

  it(`ends a connection after ${MAX_AUTH_FAILURES} refused attempts`, async () => {
    let attempts = 0;
    const outcome = await new Promise<string>((resolve) => {
      const conn = new Client();
      conn.on('error', (err) => resolve(`error: ${err.message}`));
      conn.on('close', () => resolve('closed'));
      conn.on('ready', () => resolve('ready'));
      conn.connect({
        host: '127.0.0.1',
        port,
        username: LOGIN,
        authHandler: (_methods, _partial, next) => {
          attempts += 1;
          if (attempts > 20) return next(false as never);
          next({
            type: 'publickey',
            username: LOGIN,
            key: fs.readFileSync(mallory.file),
          } as never);
        },
      });
    });
    expect(outcome).not.toBe('ready');
    expect(attempts).toBeLessThanOrEqual(MAX_AUTH_FAILURES + 1);
    expect(fakeLog.join('\n')).toContain(`${MAX_AUTH_FAILURES} refused authentication attempts`);
  });

  it(`opens at most ${MAX_SESSIONS_PER_CONNECTION} sessions at once on a connection`, async () => {
    opened.length = 0;
    const conn = await connect();
    const channels: import('ssh2').ClientChannel[] = [];
    try {
      for (let i = 0; i < MAX_SESSIONS_PER_CONNECTION; i += 1)
        channels.push(
          await new Promise((resolve, reject) =>
            conn.exec('hang', (err, stream) => (err ? reject(err) : resolve(stream))),
          ),
        );
      await waitFor(
        async () => opened.length,
        (n) => n === MAX_SESSIONS_PER_CONNECTION,
        'the shells open',
        10_000,
      );
      await expect(exec(conn, 'ok')).rejects.toThrow();
      // A session that ended frees its place.
      const first = channels.shift()!;
      await new Promise<void>((resolve) => {
        first.once('close', () => resolve());
        first.resume();
        first.stderr.resume();
        first.close();
      });
      expect(await exec(conn, 'ok')).toMatchObject({ code: 0, stdout: 'ok\n' });
    } finally {
      conn.end();
    }
    await waitFor(
      async () => opened.filter((o) => !o.killed).length,
      (n) => n === 0,
      'every shell ended with its connection',
      10_000,
    );
  });

  it('ends a shell that opened after its channel closed', async () => {
    opened.length = 0;
    let release!: () => void;
    gate = new Promise((r) => (release = r));
    const conn = await connect();
    try {
      const stream = await new Promise<import('ssh2').ClientChannel>((resolve, reject) =>
        conn.exec('hang', (err, s) => (err ? reject(err) : resolve(s))),
      );
      await new Promise<void>((resolve) => {
        stream.once('close', () => resolve());
        stream.resume(); // a channel's close is reported once its output was read to the end
        stream.stderr.resume();
        stream.close();
      });
      const connectedBefore = fakeLog.filter((l) => l.includes('connected to replica')).length;
      gate = undefined;
      release();
      await waitFor(
        async () => opened,
        (o) => o.length === 1 && o[0]!.killed,
        'the late shell ended',
        10_000,
      );
      // Ended as soon as it opened: never connected to the closed channel.
      expect(fakeLog.filter((l) => l.includes('connected to replica')).length).toBe(
        connectedBefore,
      );
    } finally {
      gate = undefined;
      release();
      conn.end();
    }
  });
});

type SshServerDeployments = ConstructorParameters<typeof SshServer>[0]['deployments'];
