/**
 * For benchmarks: CPU time of named processes (and of the whole machine) from /proc, so a run can
 * say which component was busy when something slowed down. Linux only; a process that is gone or
 * unreadable counts as zero.
 */
import fs from 'node:fs';

const TICKS_PER_SECOND = 100; // USER_HZ on Linux

export interface CpuSample {
  at: number;
  /** CPU seconds (user + system) per component, summed over its processes. */
  seconds: Map<string, number>;
  /** The machine: busy and total CPU seconds over all cores. */
  machine: { busy: number; total: number };
}

export class ProcessCpu {
  /** Component -> a function that lists its pids now (children come and go). */
  private readonly components = new Map<string, () => number[]>();

  add(component: string, pids: () => number[]): void {
    this.components.set(component, pids);
  }

  sample(): CpuSample {
    const seconds = new Map<string, number>();
    for (const [component, pids] of this.components) {
      let total = 0;
      for (const pid of pids()) total += cpuSecondsOf(pid);
      seconds.set(component, total);
    }
    return { at: performance.now(), seconds, machine: machineSeconds() };
  }

  /**
   * Per component, CPU used between two samples as % of one core; `other` is what the rest of
   * the machine used (other people's processes included); `machine` the busy % of all cores.
   */
  static usage(from: CpuSample, to: CpuSample): Map<string, number> {
    const wall = (to.at - from.at) / 1000;
    const out = new Map<string, number>();
    if (wall <= 0) return out;
    let ours = 0;
    for (const [component, s] of to.seconds) {
      const used = Math.max(0, s - (from.seconds.get(component) ?? 0));
      ours += used;
      out.set(component, (100 * used) / wall);
    }
    const busy = to.machine.busy - from.machine.busy;
    const total = to.machine.total - from.machine.total;
    out.set('other', Math.max(0, (100 * (busy - ours)) / wall));
    out.set('machine', total > 0 ? (100 * busy) / total : 0);
    return out;
  }
}

export function cpuSecondsOf(pid: number): number {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command (which may hold spaces) start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND; // utime, stime
  } catch {
    return 0;
  }
}

export function rssMbOf(pid: number): number {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = /VmRSS:\s+(\d+)/.exec(status)?.[1];
    return kb ? Number(kb) / 1024 : 0;
  } catch {
    return 0;
  }
}

/** Direct children of a process (from /proc), optionally only those whose command matches. */
export function childrenOf(pid: number, command?: RegExp): number[] {
  const out: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[1]) !== pid) continue;
      if (command) {
        const cmdline = fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').replace(/\0/g, ' ');
        if (!command.test(cmdline)) continue;
      }
      out.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

function machineSeconds(): { busy: number; total: number } {
  const line = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
  const values = line.trim().split(/\s+/).slice(1).map(Number);
  const total = values.reduce((a, b) => a + b, 0);
  const idle = (values[3] ?? 0) + (values[4] ?? 0); // idle + iowait
  return { busy: (total - idle) / TICKS_PER_SECOND, total: total / TICKS_PER_SECOND };
}
