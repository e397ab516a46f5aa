/**
 * OS process helpers for replicas: free ports, detached spawning, liveness and identity
 * checks, and stopping with a grace period.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

/** Ask the OS for a free port by binding port 0; the replica binds it right after. */
export function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, host, () => {
      const address = server.address();
      server.close(() => {
        if (address && typeof address === 'object') resolve(address.port);
        else reject(new Error(`could not read the port bound on ${host}`));
      });
    });
  });
}

/**
 * Start a process in its own process group with output appended to logFile. Detached, so
 * a SIGKILL of the agent (or Ctrl-C, which signals the terminal's foreground group) does
 * not reach it: the agent decides when replicas stop.
 */
export function spawnDetached(
  command: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  logFile: string,
): ChildProcess {
  const fd = fs.openSync(logFile, 'a');
  try {
    return spawn(command, args, { detached: true, stdio: ['ignore', fd, fd], env });
  } finally {
    fs.closeSync(fd); // the child has its own copy
  }
}

/**
 * Whether pid is a live process. A zombie counts as gone: replicas re-adopted after an
 * agent restart are not our children, and a container's init may never reap them.
 */
export function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    // EPERM: it exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  if (process.platform !== 'linux') return true;
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // "pid (comm) state ...": comm may contain spaces and parentheses, so read after the last ')'.
    const state = stat.slice(stat.lastIndexOf(')') + 2).charAt(0);
    return state !== 'Z';
  } catch {
    return false;
  }
}

/**
 * Whether pid runs a command line containing every one of `args`. This tells our replica
 * apart from an unrelated process that got the same pid after a reboot or pid wrap-around.
 */
export function hasArgs(pid: number, args: string[]): boolean {
  if (!isRunning(pid)) return false;
  if (process.platform === 'linux') {
    let argv: string[];
    try {
      argv = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    } catch {
      return false;
    }
    return args.every((arg) => argv.includes(arg));
  }
  // No /proc (macOS): ps prints the command line as one string.
  try {
    const command = execFileSync('ps', ['-o', 'command=', '-p', String(pid)], { encoding: 'utf8' });
    return args.every((arg) => command.includes(arg));
  } catch {
    return false;
  }
}

/**
 * SIGTERM, wait up to graceMs for the process to go, then SIGKILL. Resolves 'exited' when it
 * went by itself (or was already gone), 'killed' when the grace ran out.
 */
export async function terminate(pid: number, graceMs: number): Promise<'exited' | 'killed'> {
  if (!signal(pid, 'SIGTERM')) return 'exited';
  if (await waitForExit(pid, graceMs)) return 'exited';
  signal(pid, 'SIGKILL');
  await waitForExit(pid, 1000);
  return 'killed';
}

/** Returns false when the process is already gone. */
function signal(pid: number, name: NodeJS.Signals): boolean {
  try {
    process.kill(pid, name);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw err;
  }
}

async function waitForExit(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (isRunning(pid)) {
    if (Date.now() >= deadline) return false;
    await sleep(25);
  }
  return true;
}
