/**
 * Whole-process CPU time from /proc/<pid>/stat: utime + stime of every thread (libuv workers and
 * native threads included), in microseconds. Linux only; the benchmark says so and fails loudly.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

let ticksPerSecond: number | undefined;

/** Clock ticks per second (`getconf CLK_TCK`, usually 100), the unit of /proc/<pid>/stat times. */
export function clockTicks(): number {
  if (ticksPerSecond === undefined) {
    const raw = execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim();
    const n = Number(raw);
    ticksPerSecond = Number.isFinite(n) && n > 0 ? n : 100;
  }
  return ticksPerSecond;
}

export interface ProcCpuSample {
  /** utime + stime in microseconds (resolution: one clock tick, usually 10 ms). */
  cpuUs: number;
  /** `performance.now()` when read, in ms. */
  atMs: number;
}

export function readProcCpu(pid: number): ProcCpuSample {
  const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) may hold spaces; fields after its closing paren are space-separated.
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // rest[0] is field 3 (state); utime is field 14, stime field 15.
  const utime = Number(rest[11]);
  const stime = Number(rest[12]);
  return { cpuUs: ((utime + stime) / clockTicks()) * 1e6, atMs: performance.now() };
}

/** CPU use between two samples as a percentage of one core. */
export function cpuPercent(a: ProcCpuSample, b: ProcCpuSample): number {
  const wallUs = (b.atMs - a.atMs) * 1000;
  return wallUs > 0 ? ((b.cpuUs - a.cpuUs) / wallUs) * 100 : 0;
}

export interface SystemCpuSample {
  busy: number;
  total: number;
}

/** Whole-machine CPU counters (all cores) from /proc/stat, to show contention from other work. */
export function readSystemCpu(): SystemCpuSample {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  const total = v.reduce((a, b) => a + b, 0);
  const idle = (v[3] ?? 0) + (v[4] ?? 0);
  return { busy: total - idle, total };
}

/** Machine busy share between two samples, as a percentage of all cores. */
export function systemBusyPercent(a: SystemCpuSample, b: SystemCpuSample): number {
  const t = b.total - a.total;
  return t > 0 ? ((b.busy - a.busy) / t) * 100 : 0;
}
