/**
 * The control plane's SSH server (api.md "SSH access"): `ssh -p 2222 alice+default+llama-8b-prod@host`
 * (add `+r4-1` for one replica) lands in a ready replica of the serving revision.
 *
 * Authentication is by public key only, against the key in the secret the user's `keySecret`
 * names in that deployment's workspace: a deployment of another workspace names its own
 * secrets, so a key of one workspace opens nothing in another (unless that workspace holds the
 * same public key for that user). Every refused authentication is logged with its reason (never
 * key material; the offered key's fingerprint at most).
 *
 * What depends on the deployment's state (SSH disabled, paused, no ready replica, an unknown
 * replica) is said to an authenticated client on stderr, and the session ends with exit status 1.
 */
import fs from 'node:fs';
import path from 'node:path';
import { finished } from 'node:stream/promises';
import { Server, utils, type Connection, type ParsedKey, type ServerChannel } from 'ssh2';
import type { Log } from '../../config/logging';
import { deploymentId } from '../../workflows/domain/deployment';
import { runtimeTargetOf } from '../../workflows/domain/spec';
import type { DeploymentService } from '../deployment-service';
import type { SecretStore } from '../secrets/store';
import { parsePublicKey, sshFingerprint } from '../secrets/validate';
import type { ReplicaShells, ShellProcess, ShellRequest } from './replicas';

/** `user+workspace+deployment[+replica]`. */
export interface SshLogin {
  user: string;
  workspace: string;
  deployment: string;
  replica?: string;
}

export function parseLogin(username: string): SshLogin | undefined {
  const parts = username.split('+');
  if (parts.length < 3 || parts.length > 4 || parts.some((p) => p === '')) return undefined;
  const [user, workspace, deployment, replica] = parts as [string, string, string, string?];
  return { user, workspace, deployment, ...(replica !== undefined ? { replica } : {}) };
}

/** The host key file in the data folder: made once (ed25519, OpenSSH format), mode 0600. */
export const HOST_KEY_FILE = 'ssh-host-key';

export function loadOrCreateHostKey(dataDir: string): { key: string; created: boolean } {
  const file = path.join(dataDir, HOST_KEY_FILE);
  if (fs.existsSync(file)) return { key: fs.readFileSync(file, 'utf8'), created: false };
  const pair = utils.generateKeyPairSync('ed25519');
  fs.mkdirSync(dataDir, { recursive: true });
  const temp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(temp, pair.private, { mode: 0o600 });
  fs.renameSync(temp, file);
  return { key: pair.private, created: true };
}

export interface SshServerOptions {
  host: string;
  port: number;
  hostKey: string;
  deployments: Pick<DeploymentService, 'get'>;
  secrets: Pick<SecretStore, 'get'>;
  /** Replicas of the dedicated runtime (local processes or Kubernetes pods). */
  shells: ReplicaShells;
  log: Log;
}

export const LOGIN_BANNER =
  'model-deployments: log in as user+workspace+deployment[+replica] with the private key of the public key in your keySecret\r\n';

/** Said to the client (stderr) and the log: why a session cannot start. */
class Refusal extends Error {}

export class SshServer {
  private readonly server: Server;
  private readonly connections = new Set<Connection>();

  constructor(private readonly options: SshServerOptions) {
    // The banner (shown before authentication) says how to log in, so a bare "Permission denied
    // (publickey)" (all a refused login is told, so strangers learn nothing) can be understood.
    this.server = new Server({ hostKeys: [options.hostKey], banner: LOGIN_BANNER }, (client) =>
      this.accept(client),
    );
  }

  /** Listens; resolves with the port it got (0 asks for a free one). */
  listen(): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.options.port, this.options.host, () => {
        this.server.off('error', reject);
        const address = this.server.address();
        resolve(typeof address === 'object' && address ? address.port : this.options.port);
      });
    });
  }

  close(): Promise<void> {
    for (const c of this.connections) c.end();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private accept(client: Connection): void {
    this.connections.add(client);
    let login: SshLogin | undefined;
    client.on('close', () => this.connections.delete(client));
    client.on('error', () => undefined); // a client gone mid-handshake
    client.on('authentication', (ctx) => {
      if (ctx.method !== 'publickey') return ctx.reject(['publickey']);
      const offered = { algo: ctx.key.algo, data: ctx.key.data };
      void this.keyFor(ctx.username, offered.data, !ctx.signature).then(
        (key) => {
          if (!key) return ctx.reject(['publickey']);
          if (ctx.signature && key.verify(ctx.blob!, ctx.signature, ctx.hashAlgo) !== true) {
            this.options.log.warn(`ssh: refused ${ctx.username}: the signature does not verify`);
            return ctx.reject(['publickey']);
          }
          if (ctx.signature) login = parseLogin(ctx.username);
          ctx.accept();
        },
        (err: unknown) => {
          this.options.log.error(
            `ssh: cannot check ${ctx.username}: ${err instanceof Error ? err.message : String(err)}`,
          );
          ctx.reject(['publickey']);
        },
      );
    });
    client.on('ready', () => {
      if (!login) return client.end();
      const who = login;
      client.on('session', (acceptSession) => this.session(acceptSession(), who));
    });
  }

  /**
   * The user's key, when the login names a deployment of that workspace that lists the user and
   * `offered` is the key in the user's keySecret; else undefined, with the reason logged (once
   * per key: on the query without a signature).
   */
  private async keyFor(
    username: string,
    offered: Buffer,
    logRefusal: boolean,
  ): Promise<ParsedKey | undefined> {
    const refuse = (why: string) => {
      if (logRefusal)
        this.options.log.warn(`ssh: refused ${username} (key ${sshFingerprint(offered)}): ${why}`, {
          username,
        });
      return undefined;
    };
    const login = parseLogin(username);
    if (!login)
      return refuse(
        'the user name is not user+workspace+deployment[+replica], e.g. alice+default+llama-8b-prod',
      );
    const view = await this.options.deployments
      .get(login.workspace, login.deployment)
      .catch(() => undefined);
    if (!view)
      return refuse(`no deployment "${login.deployment}" in workspace "${login.workspace}"`);
    const user = view.spec.ssh?.users.find((u) => u.username === login.user);
    if (!user)
      return refuse(
        `user "${login.user}" is not in spec.ssh.users of deployment "${login.deployment}" in workspace "${login.workspace}"`,
      );
    const secret = await this.options.secrets.get(login.workspace, user.keySecret);
    if (!secret || secret.type !== 'ssh-public-key')
      return refuse(
        `the keySecret "${user.keySecret}" of user "${login.user}" is not an ssh-public-key secret of workspace "${login.workspace}"`,
      );
    const parsed = parsePublicKey(secret.value);
    if ('error' in parsed) return refuse(`the keySecret "${user.keySecret}" ${parsed.error}`);
    if (!parsed.key.getPublicSSH().equals(offered))
      return refuse(
        `the key is not the one in keySecret "${user.keySecret}" (${secret.fingerprint ?? 'unknown fingerprint'})`,
      );
    return parsed.key;
  }

  /** Where the login lands now: the deployment's state decides, with a reason when refused. */
  private async target(
    login: SshLogin,
  ): Promise<{ id: string; replica: string; runtime: 'main' | 'sidecar' }> {
    const view = await this.options.deployments
      .get(login.workspace, login.deployment)
      .catch(() => undefined);
    if (!view) throw new Refusal(`deployment "${login.deployment}" does not exist any more`);
    const ssh = view.spec.ssh;
    if (!ssh?.enabled)
      throw new Refusal(
        `SSH access is disabled for deployment "${login.deployment}" (spec.ssh.enabled is false)`,
      );
    if (!ssh.users.some((u) => u.username === login.user))
      throw new Refusal(`user "${login.user}" is not in spec.ssh.users any more`);
    if (view.state === 'paused')
      throw new Refusal(
        `deployment "${login.deployment}" is paused: it has no replica to connect to; resume it first (POST .../deployments/${login.deployment}/resume)`,
      );
    if (view.state === 'deleting' || view.state === 'deleted' || view.state === 'failed')
      throw new Refusal(`deployment "${login.deployment}" is ${view.state}`);
    if (runtimeTargetOf(view.spec).type !== 'dedicated')
      throw new Refusal(
        `deployment "${login.deployment}" runs on a BYOC cluster: SSH through the control plane reaches dedicated deployments only`,
      );
    const id = deploymentId(login.workspace, login.deployment);
    const { replicas } = await this.options.shells.ready(id);
    if (replicas.length === 0)
      throw new Refusal(
        `deployment "${login.deployment}" has no ready replica (state ${view.state}, health ${view.health}); try again once it is Healthy`,
      );
    if (login.replica !== undefined && !replicas.includes(login.replica))
      throw new Refusal(
        `deployment "${login.deployment}" has no ready replica "${login.replica}"; ready: ${replicas.join(', ')}`,
      );
    return { id, replica: login.replica ?? replicas[0]!, runtime: ssh.runtime };
  }

  private session(session: import('ssh2').Session, login: SshLogin): void {
    let pty: ShellRequest['pty'];
    let running: ShellProcess | undefined;
    session.on('pty', (accept, _reject, info) => {
      pty = { term: info.term, cols: info.cols, rows: info.rows };
      accept?.();
    });
    session.on('window-change', (accept, _reject, info) => {
      running?.resize?.(info.cols, info.rows);
      accept?.();
    });
    session.on('env', (accept) => accept?.()); // accepted, not passed on
    session.on('subsystem', (_accept, reject) => reject?.());
    const start = (channel: ServerChannel, command: string | undefined) => {
      void this.run(
        channel,
        login,
        { ...(command !== undefined ? { command } : {}), ...(pty ? { pty } : {}) },
        (p) => {
          running = p;
        },
      );
    };
    session.on('exec', (accept, _reject, info) => start(accept(), info.command));
    session.on('shell', (accept) => start(accept(), undefined));
  }

  private async run(
    channel: ServerChannel,
    login: SshLogin,
    request: ShellRequest,
    started: (p: ShellProcess) => void,
  ): Promise<void> {
    const who = `${login.user}+${login.workspace}+${login.deployment}`;
    let shell: ShellProcess;
    let replica: string;
    try {
      const target = await this.target(login);
      replica = target.replica;
      shell = await this.options.shells.open(target.id, target.replica, target.runtime, request);
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      if (!(err instanceof Refusal))
        this.options.log.error(`ssh: ${who}: cannot start a session: ${message}`);
      else this.options.log.warn(`ssh: ${who}: refused: ${message}`);
      channel.stderr.write(`model-deployments: ${message}\r\n`);
      channel.exit(1);
      channel.end();
      return;
    }
    started(shell);
    this.options.log.info(
      `ssh: ${who} connected to replica ${replica} (${request.command !== undefined ? 'command' : 'shell'}${request.pty ? ', terminal' : ''})`,
    );
    channel.on('close', () => shell.kill());
    shell.stdin.on('error', () => undefined);
    channel.pipe(shell.stdin);
    shell.stdout.pipe(channel, { end: false });
    shell.stderr.pipe(channel.stderr, { end: false });
    const [exit] = await Promise.all([
      shell.exited,
      finished(shell.stdout).catch(() => undefined),
      finished(shell.stderr).catch(() => undefined),
    ]);
    if (exit.signal) channel.exit(exit.signal);
    else channel.exit(exit.code ?? 1);
    channel.end();
  }
}
