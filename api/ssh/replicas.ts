/**
 * Where an SSH session lands: a shell in one replica of a deployment, by runtime.
 *
 * - Local runtime (runtime/agent): replicas are processes. A session is a process started beside
 *   the replica, in its working directory, as read from /proc/<pid>/cwd. `runtime: "main"` gets
 *   the replica's own environment (/proc/<pid>/environ), as a shell in the model server's
 *   container would; `"sidecar"` gets the same working directory (the shared filesystem) but
 *   only a plain environment plus REPLICA_ID, as a sidecar container of the pod gets, which
 *   shares the pod's filesystem and network but not the server's environment variables.
 * - Kubernetes: the pod's exec API, in the model server's container ("server") or the SSH
 *   sidecar ("ssh", see kubernetes-manifests.ts).
 *
 * A pseudo-terminal on the local runtime comes from util-linux `script` (Node has none of its
 * own); its size is set at start and on each window change (stty on the session's terminal).
 */
import { spawn, execFile } from 'node:child_process';
import fs from 'node:fs';
import { PassThrough, type Readable, type Writable } from 'node:stream';
import { CoreV1Api, Exec, type KubeConfig, type V1Status } from '@kubernetes/client-node';
import type { LocalRuntimeProvider } from '../../activities/providers/local';
import {
  objectName,
  REVISION_LABEL,
  selectorOf,
} from '../../activities/providers/kubernetes-manifests';
import { replicaStatus } from '../../activities/providers/kubernetes';

export type SshRuntime = 'main' | 'sidecar';

export interface ShellRequest {
  /** A command to run (`ssh host cmd`); none: an interactive shell. */
  command?: string;
  /** The client asked for a terminal. */
  pty?: { term: string; cols: number; rows: number };
}

export interface ShellProcess {
  stdin: Writable;
  stdout: Readable;
  stderr: Readable;
  /** The exit code (or the signal's name) once it ended. */
  exited: Promise<{ code: number | null; signal?: string }>;
  kill(): void;
  resize?(cols: number, rows: number): void;
}

export interface ReplicaShells {
  /** The ready replicas of the revision that serves, by name; revision null when none serves. */
  ready(deploymentId: string): Promise<{ revision: number | null; replicas: string[] }>;
  /** Starts a shell (or the command) in that replica. */
  open(
    deploymentId: string,
    replica: string,
    runtime: SshRuntime,
    request: ShellRequest,
  ): Promise<ShellProcess>;
}

/** The replica's name as api.md shows it: `r{revision}-{index}` (the agent calls it `r{index}`). */
export function localReplicaName(revision: number, agentId: string): string {
  return `r${revision}-${agentId.replace(/^r/, '')}`;
}

/** `'...'` for sh, whatever the text holds. */
export function shellQuote(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

/** The login shell to use: bash when there is one. */
function localShell(): string {
  return fs.existsSync('/bin/bash') ? '/bin/bash' : '/bin/sh';
}

/** The variables a sidecar gets: a plain environment, not the server's. */
const PLAIN_ENV = ['PATH', 'HOME', 'LANG', 'LC_ALL', 'USER', 'LOGNAME', 'TZ'];

export class LocalReplicaShells implements ReplicaShells {
  constructor(private readonly provider: LocalRuntimeProvider) {}

  async ready(deploymentId: string): Promise<{ revision: number | null; replicas: string[] }> {
    const { revision } = await this.provider.endpoints(deploymentId);
    if (revision === null) return { revision, replicas: [] };
    const processes = await this.provider.replicaProcesses(deploymentId, revision);
    return {
      revision,
      replicas: processes
        .filter((p) => p.ready && p.pid !== null)
        .map((p) => localReplicaName(revision, p.id)),
    };
  }

  async open(
    deploymentId: string,
    replica: string,
    runtime: SshRuntime,
    request: ShellRequest,
  ): Promise<ShellProcess> {
    const { revision } = await this.provider.endpoints(deploymentId);
    const processes =
      revision === null ? [] : await this.provider.replicaProcesses(deploymentId, revision);
    const found = processes.find(
      (p) => revision !== null && localReplicaName(revision, p.id) === replica,
    );
    if (!found?.pid) throw new Error(`replica ${replica} is not running`);
    const { cwd, env } = processContext(found.pid);
    const sessionEnv: NodeJS.ProcessEnv =
      runtime === 'main'
        ? { ...env }
        : {
            ...Object.fromEntries(
              PLAIN_ENV.filter((k) => env[k] !== undefined).map((k) => [k, env[k]]),
            ),
            ...(env.REPLICA_ID !== undefined ? { REPLICA_ID: env.REPLICA_ID } : {}),
          };
    sessionEnv.SSH_REPLICA = replica;
    const shell = localShell();
    let child;
    if (request.pty) {
      sessionEnv.TERM = request.pty.term || 'xterm';
      const inner = request.command
        ? `exec ${shell} -c ${shellQuote(request.command)}`
        : `exec ${shell} -l`;
      const size = `stty rows ${request.pty.rows} cols ${request.pty.cols} 2>/dev/null; `;
      child = spawn('script', ['-qfec', size + inner, '/dev/null'], {
        cwd,
        env: sessionEnv,
        stdio: 'pipe',
        detached: true,
      });
    } else {
      child = spawn(shell, request.command ? ['-c', request.command] : [], {
        cwd,
        env: sessionEnv,
        stdio: 'pipe',
        detached: true,
      });
    }
    const exited = new Promise<{ code: number | null; signal?: string }>((resolve) => {
      child.once('error', () => resolve({ code: 127 }));
      child.once('close', (code, signal) =>
        resolve(signal ? { code: null, signal: signal.replace(/^SIG/, '') } : { code }),
      );
    });
    return {
      stdin: child.stdin,
      stdout: child.stdout,
      stderr: child.stderr,
      exited,
      // The session's own process group (detached): what it started in the background goes too.
      kill: () => {
        try {
          if (child.pid !== undefined) process.kill(-child.pid, 'SIGHUP');
        } catch {
          // already gone
        }
      },
      ...(request.pty && child.pid !== undefined
        ? { resize: (cols: number, rows: number) => resizeScript(child.pid!, cols, rows) }
        : {}),
    };
  }
}

/** The working directory and environment of a running process (Linux /proc). */
export function processContext(pid: number): { cwd: string; env: NodeJS.ProcessEnv } {
  let cwd: string;
  let env: NodeJS.ProcessEnv = {};
  try {
    cwd = fs.readlinkSync(`/proc/${pid}/cwd`);
    env = Object.fromEntries(
      fs
        .readFileSync(`/proc/${pid}/environ`, 'utf8')
        .split('\0')
        .filter((e) => e.includes('='))
        .map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]),
    );
  } catch {
    throw new Error(
      `cannot read the working directory and environment of the replica's process ${pid} (/proc): is it running as another user?`,
    );
  }
  return { cwd, env };
}

/** A window change: the terminal `script` made is its child's standard input. */
function resizeScript(scriptPid: number, cols: number, rows: number): void {
  let children: string[];
  try {
    children = fs
      .readFileSync(`/proc/${scriptPid}/task/${scriptPid}/children`, 'utf8')
      .trim()
      .split(/\s+/)
      .filter(Boolean);
  } catch {
    return;
  }
  const child = children[0];
  if (!child) return;
  let tty: string;
  try {
    tty = fs.readlinkSync(`/proc/${child}/fd/0`);
  } catch {
    return;
  }
  if (!tty.startsWith('/dev/pts/')) return;
  execFile('stty', ['-F', tty, 'rows', String(rows), 'cols', String(cols)], () => {
    try {
      process.kill(-Number(child), 'SIGWINCH');
    } catch {
      // gone meanwhile
    }
  });
}

/** Kubernetes: the pods of the revision the Service selects, through the API server's exec. */
export class KubernetesReplicaShells implements ReplicaShells {
  private readonly core: CoreV1Api;

  constructor(
    private readonly kubeconfig: KubeConfig,
    private readonly namespace: string,
  ) {
    this.core = kubeconfig.makeApiClient(CoreV1Api);
  }

  async ready(deploymentId: string): Promise<{ revision: number | null; replicas: string[] }> {
    const service = await this.core
      .readNamespacedService({ name: objectName(deploymentId), namespace: this.namespace })
      .catch((err: unknown) => {
        if ((err as { code?: number }).code === 404) return undefined;
        throw err;
      });
    const revision = Number(service?.spec?.selector?.[REVISION_LABEL]);
    if (!Number.isInteger(revision)) return { revision: null, replicas: [] };
    const selector = Object.entries(selectorOf(deploymentId, revision))
      .map(([k, v]) => `${k}=${v}`)
      .join(',');
    const pods = await this.core.listNamespacedPod({
      namespace: this.namespace,
      labelSelector: selector,
    });
    return {
      revision,
      replicas: pods.items
        .filter((p) => !p.metadata?.deletionTimestamp && replicaStatus(p).ready)
        .map((p) => p.metadata?.name ?? '')
        .filter(Boolean),
    };
  }

  async open(
    deploymentId: string,
    replica: string,
    runtime: SshRuntime,
    request: ShellRequest,
  ): Promise<ShellProcess> {
    const { replicas } = await this.ready(deploymentId);
    if (!replicas.includes(replica)) throw new Error(`replica ${replica} is not ready`);
    const stdin = new PassThrough();
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    const command = request.command
      ? ['/bin/sh', '-c', request.command]
      : ['/bin/sh', '-c', 'if command -v bash >/dev/null; then exec bash -l; else exec sh -l; fi'];
    let status: V1Status | undefined;
    const container = runtime === 'sidecar' ? 'ssh' : 'server';
    // The client ends the streams it is given on close: give it its own, so a failure can still
    // be said on stderr before the session ends.
    const execOut = new PassThrough();
    const execErr = new PassThrough();
    execOut.on('data', (chunk: Buffer) => stdout.write(chunk));
    execErr.on('data', (chunk: Buffer) => stderr.write(chunk));
    const socket = await new Exec(this.kubeconfig)
      .exec(
        this.namespace,
        replica,
        container,
        command,
        execOut,
        execErr,
        stdin,
        request.pty !== undefined,
        (s) => {
          status = s;
        },
      )
      .catch((err: unknown) => {
        const why = err instanceof Error ? err.message : (err as { message?: string }).message;
        throw new Error(
          `the Kubernetes API server refused exec into container "${container}" of pod ${replica}${why ? `: ${why}` : ''}`,
        );
      });
    const exited = new Promise<{ code: number | null; signal?: string }>((resolve) => {
      socket.once('close', () => {
        const code = Number(status?.details?.causes?.find((c) => c.reason === 'ExitCode')?.message);
        // A failure that is not the command's exit (the container, the kubelet): say it.
        if (status && status.status !== 'Success' && !Number.isInteger(code))
          stderr.write(`exec in pod ${replica}: ${status.message ?? status.reason ?? 'failed'}\n`);
        stdout.end();
        stderr.end();
        if (!status || status.status === 'Success') return resolve({ code: status ? 0 : null });
        resolve({ code: Number.isInteger(code) ? code : 1 });
      });
    });
    return { stdin, stdout, stderr, exited, kill: () => socket.close() };
  }
}
