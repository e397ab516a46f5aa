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
 * It is checked again when each session starts, with the key: a key rotated (the keySecret now
 * holds another key), a user removed or SSH turned off ends what an open connection may start.
 *
 * Bounds on unauthenticated work: at most MAX_CONNECTIONS connections, LOGIN_TIMEOUT_MS to log
 * in, MAX_AUTH_FAILURES refused attempts (and MAX_AUTH_ATTEMPTS in all) per connection, a login
 * name checked against the name rules before any lookup, and one lookup per (name, key) per
 * connection. At most MAX_SESSIONS_PER_CONNECTION sessions at once per connection.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { finished } from 'node:stream/promises';
import {
  Server,
  utils,
  type ClientInfo,
  type Connection,
  type ParsedKey,
  type ServerChannel,
} from 'ssh2';
import type { Log } from '../../config/logging';
import { deploymentId } from '../../workflows/domain/deployment';
import {
  deploymentNameSchema,
  runtimeTargetOf,
  sshSchema,
  workspaceNameSchema,
} from '../../workflows/domain/spec';
import type { DeploymentView } from '../../workflows/domain/deployment';
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

/** spec.ssh.users[].username's own rule. */
const usernameSchema = sshSchema.shape.users.unwrap().element.shape.username;
/** A replica: `r{revision}-{index}` (local runtime) or a pod's name (a DNS-1123 subdomain). */
const REPLICA_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/**
 * The login a user name asks for, each part checked against its own rule (so no part can hold
 * what would make another workflow's ID, e.g. ':'); undefined when it is not one.
 */
export function parseLogin(username: string): SshLogin | undefined {
  if (username.length > 512) return undefined;
  const parts = username.split('+');
  if (parts.length < 3 || parts.length > 4 || parts.some((p) => p === '')) return undefined;
  const [user, workspace, deployment, replica] = parts as [string, string, string, string?];
  if (
    !usernameSchema.safeParse(user).success ||
    !workspaceNameSchema.safeParse(workspace).success ||
    !deploymentNameSchema.safeParse(deployment).success ||
    (replica !== undefined && (replica.length > 253 || !REPLICA_NAME.test(replica)))
  )
    return undefined;
  return { user, workspace, deployment, ...(replica !== undefined ? { replica } : {}) };
}

/** The host key file in the data folder: made once (ed25519, OpenSSH format), mode 0600. */
export const HOST_KEY_FILE = 'ssh-host-key';

export function loadOrCreateHostKey(dataDir: string): { key: string; created: boolean } {
  const file = path.join(dataDir, HOST_KEY_FILE);
  if (fs.existsSync(file)) return { key: fs.readFileSync(file, 'utf8'), created: false };
  const pair = utils.generateKeyPairSync('ed25519');
  fs.mkdirSync(dataDir, { recursive: true });
  const temp = `${file}.${process.pid}.${crypto.randomBytes(4).toString('hex')}.tmp`;
  try {
    fs.writeFileSync(temp, pair.private, { mode: 0o600, flag: 'wx' });
    fs.renameSync(temp, file);
  } catch (err) {
    fs.rmSync(temp, { force: true });
    throw err;
  }
  // What is there now: another process starting at once may have renamed its key over ours.
  return { key: fs.readFileSync(file, 'utf8'), created: true };
}

/** The most connections at once (each one authenticated or not). */
export const MAX_CONNECTIONS = 100;
/** How long a connection has to log in before it is ended. */
export const LOGIN_TIMEOUT_MS = 30_000;
/** Refused authentication attempts (the "none" probe aside) before the connection is ended. */
export const MAX_AUTH_FAILURES = 6;
/** Authentication attempts in all (accepted key queries included) before the connection ends. */
export const MAX_AUTH_ATTEMPTS = 20;
/** Sessions (shells, commands) open at once on one connection. */
export const MAX_SESSIONS_PER_CONNECTION = 10;

export interface SshServerOptions {
  host: string;
  port: number;
  hostKey: string;
  deployments: Pick<DeploymentService, 'get'>;
  secrets: Pick<SecretStore, 'get'>;
  /** Replicas of the dedicated runtime (local processes or Kubernetes pods). */
  shells: ReplicaShells;
  log: Log;
  /**
   * When set, every session is refused with this reason, told to the authenticated client (see
   * start.ts: the local runtime serving several workspaces).
   */
  refuseSessions?: string;
  /** Tests: LOGIN_TIMEOUT_MS otherwise. */
  loginTimeoutMs?: number;
}

export const LOGIN_BANNER =
  'model-deployments: log in as user+workspace+deployment[+replica] with the private key of the public key in your keySecret\r\n';

/** Said to the client (stderr) and the log: why a session cannot start. */
class Refusal extends Error {}

/** A login that authenticated, with the key blob it authenticated with. */
interface Authenticated {
  login: SshLogin;
  keyBlob: Buffer;
}

export class SshServer {
  private readonly server: Server;
  /** The TCP listener: ssh2 gets its sockets (injectSocket) once they are counted and timed. */
  private readonly listener: net.Server;
  private readonly connections = new Set<Connection>();
  /** Each socket's login timer, by its remote address and port, until it logs in or closes. */
  private readonly loginTimers = new Map<string, NodeJS.Timeout>();

  constructor(private readonly options: SshServerOptions) {
    // The banner (shown before authentication) says how to log in, so a bare "Permission denied
    // (publickey)" (all a refused login is told, so strangers learn nothing) can be understood.
    this.server = new Server(
      { hostKeys: [options.hostKey], banner: LOGIN_BANNER },
      (client, info) => this.accept(client, info),
    );
    // The login timer starts with the TCP connection: ssh2 tells of a connection only once the
    // client has sent its version line, and one that never does must not hold a slot forever.
    this.listener = net.createServer((socket) => this.connected(socket));
    this.listener.maxConnections = MAX_CONNECTIONS;
  }

  private connected(socket: net.Socket): void {
    const key = `${socket.remoteAddress}|${socket.remotePort}`;
    const timeout = this.options.loginTimeoutMs ?? LOGIN_TIMEOUT_MS;
    const timer = setTimeout(() => {
      this.options.log.warn(
        `ssh: ended a connection from ${socket.remoteAddress} that did not log in within ${Math.round(timeout / 1000)} s`,
      );
      socket.destroy();
    }, timeout);
    timer.unref();
    this.loginTimers.set(key, timer);
    socket.once('close', () => {
      clearTimeout(timer);
      if (this.loginTimers.get(key) === timer) this.loginTimers.delete(key);
    });
    socket.on('error', () => undefined);
    this.server.injectSocket(socket);
  }

  /** Listens; resolves with the port it got (0 asks for a free one). */
  listen(): Promise<number> {
    return new Promise((resolve, reject) => {
      this.listener.once('error', reject);
      this.listener.listen(this.options.port, this.options.host, () => {
        this.listener.off('error', reject);
        const address = this.listener.address();
        resolve(typeof address === 'object' && address ? address.port : this.options.port);
      });
    });
  }

  close(): Promise<void> {
    for (const c of this.connections) c.end();
    return new Promise((resolve) => this.listener.close(() => resolve()));
  }

  private accept(client: Connection, info: ClientInfo): void {
    this.connections.add(client);
    const timerKey = `${info.ip}|${info.port}`;
    let authenticated: Authenticated | undefined;
    let failures = 0;
    let attempts = 0;
    let sessions = 0;
    // One lookup per (user name, key) on this connection: a key's query and its signature share it.
    const lookups = new Map<string, Promise<ParsedKey | undefined>>();
    client.on('close', () => this.connections.delete(client));
    client.on('error', () => undefined); // a client gone mid-handshake
    client.on('authentication', (ctx) => {
      const refuse = () => {
        if (ctx.method !== 'none') failures += 1;
        ctx.reject(['publickey']);
        if (failures >= MAX_AUTH_FAILURES || attempts >= MAX_AUTH_ATTEMPTS) {
          this.options.log.warn(
            `ssh: ended the connection of ${ctx.username}: ${failures} refused authentication attempts (at most ${MAX_AUTH_FAILURES}), ${attempts} in all (at most ${MAX_AUTH_ATTEMPTS})`,
          );
          client.end();
        }
      };
      attempts += 1;
      if (ctx.method !== 'publickey') return refuse();
      const offered = Buffer.from(ctx.key.data);
      const cacheKey = `${ctx.username}\0${offered.toString('base64')}`;
      let lookup = lookups.get(cacheKey);
      if (!lookup) {
        lookup = this.keyFor(ctx.username, offered);
        lookups.set(cacheKey, lookup);
      }
      void lookup.then(
        (key) => {
          if (!key) return refuse();
          if (ctx.signature && key.verify(ctx.blob!, ctx.signature, ctx.hashAlgo) !== true) {
            this.options.log.warn(`ssh: refused ${ctx.username}: the signature does not verify`);
            return refuse();
          }
          if (ctx.signature) {
            const login = parseLogin(ctx.username);
            if (!login) return refuse();
            authenticated = { login, keyBlob: offered };
          }
          ctx.accept();
        },
        (err: unknown) => {
          // Not cached: the next attempt looks again.
          lookups.delete(cacheKey);
          this.options.log.error(
            `ssh: cannot check ${ctx.username}: ${err instanceof Error ? err.message : String(err)}`,
          );
          refuse();
        },
      );
    });
    client.on('ready', () => {
      clearTimeout(this.loginTimers.get(timerKey));
      this.loginTimers.delete(timerKey);
      lookups.clear();
      if (!authenticated) return client.end();
      const who = authenticated;
      client.on('session', (acceptSession, rejectSession) => {
        if (sessions >= MAX_SESSIONS_PER_CONNECTION) {
          this.options.log.warn(
            `ssh: ${who.login.user}+${who.login.workspace}+${who.login.deployment}: refused a session: already ${MAX_SESSIONS_PER_CONNECTION} on this connection`,
          );
          return rejectSession();
        }
        sessions += 1;
        const session = acceptSession();
        session.once('close', () => (sessions -= 1));
        this.session(session, who);
      });
    });
  }

  /**
   * The user's key, when the login names a deployment of that workspace with SSH enabled that
   * lists the user and `offered` is the key in the user's keySecret; else undefined, with the
   * reason logged (once per user name and key on a connection: the caller keeps the answer).
   */
  private async keyFor(username: string, offered: Buffer): Promise<ParsedKey | undefined> {
    const refuse = (why: string) => {
      this.options.log.warn(`ssh: refused ${username} (key ${sshFingerprint(offered)}): ${why}`, {
        username,
      });
      return undefined;
    };
    const login = parseLogin(username);
    if (!login)
      return refuse(
        'the user name is not user+workspace+deployment[+replica] (each part by its name rule), e.g. alice+default+llama-8b-prod',
      );
    const view = await this.options.deployments
      .get(login.workspace, login.deployment)
      .catch(() => undefined);
    if (!view)
      return refuse(`no deployment "${login.deployment}" in workspace "${login.workspace}"`);
    const checked = await this.checkKey(login, view, offered);
    return typeof checked === 'string' ? refuse(checked) : checked;
  }

  /**
   * Whether `offered` is the key of the login's user in this deployment now: SSH enabled, the
   * user listed, and the user's keySecret holding that public key. The key, or why not.
   */
  private async checkKey(
    login: SshLogin,
    view: DeploymentView,
    offered: Buffer,
  ): Promise<ParsedKey | string> {
    const ssh = view.spec.ssh;
    if (!ssh?.enabled)
      return `SSH access is disabled for deployment "${login.deployment}" (spec.ssh.enabled is false)`;
    const user = ssh.users.find((u) => u.username === login.user);
    if (!user)
      return `user "${login.user}" is not in spec.ssh.users of deployment "${login.deployment}" in workspace "${login.workspace}"`;
    const secret = await this.options.secrets.get(login.workspace, user.keySecret);
    if (!secret || secret.type !== 'ssh-public-key')
      return `the keySecret "${user.keySecret}" of user "${login.user}" is not an ssh-public-key secret of workspace "${login.workspace}"`;
    const parsed = parsePublicKey(secret.value);
    if ('error' in parsed) return `the keySecret "${user.keySecret}" ${parsed.error}`;
    if (!parsed.key.getPublicSSH().equals(offered))
      return `the key is not the one in keySecret "${user.keySecret}" (${secret.fingerprint ?? 'unknown fingerprint'})`;
    return parsed.key;
  }

  /** Where the login lands now: the deployment's state decides, with a reason when refused. */
  private async target({
    login,
    keyBlob,
  }: Authenticated): Promise<{ id: string; replica: string; runtime: 'main' | 'sidecar' }> {
    if (this.options.refuseSessions !== undefined) throw new Refusal(this.options.refuseSessions);
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
    // The key this connection logged in with must still be the user's (a rotated key ends it).
    if (typeof (await this.checkKey(login, view, keyBlob)) === 'string')
      throw new Refusal(
        `the key this connection logged in with is no longer the one in user "${login.user}"'s keySecret: log in again with the current key`,
      );
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

  private session(session: import('ssh2').Session, login: Authenticated): void {
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
    authenticated: Authenticated,
    request: ShellRequest,
    started: (p: ShellProcess) => void,
  ): Promise<void> {
    const { login } = authenticated;
    const who = `${login.user}+${login.workspace}+${login.deployment}`;
    // From the start: a channel closed while the target is looked up or the shell starts must
    // still end the shell once there is one.
    let closed = false;
    let shell: ShellProcess | undefined;
    channel.once('close', () => {
      closed = true;
      shell?.kill();
    });
    // ssh2 reports a channel's close only once its input was read to the end: read it at once,
    // into a buffer the shell's input takes over, so a close is seen while the shell starts.
    const input = new PassThrough();
    channel.pipe(input);
    let replica: string;
    try {
      const target = await this.target(authenticated);
      replica = target.replica;
      if (closed) return;
      shell = await this.options.shells.open(target.id, target.replica, target.runtime, request);
      if (closed) {
        shell.kill();
        return;
      }
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
    shell.stdin.on('error', () => undefined);
    input.pipe(shell.stdin);
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
