/**
 * CPU of a process and all its descendants, from /proc: for servers that run child processes
 * (MEDIA_WORKERS=N: one SFU worker process per core) and for Janus (one process, many threads).
 *
 * The tree is found afresh at every sample (ppid fields of /proc/<pid>/stat), so a worker that
 * restarts between two samples is picked up. A sample's CPU is, over every live process of the tree,
 * utime + stime + cutime + cstime: the last two are the CPU of children the process has already
 * reaped, so the CPU of a worker that exits (and is waited for) within a window stays in the figure
 * instead of vanishing with its /proc entry. A live process's cutime never holds a live child, so
 * nothing is counted twice.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { clockTicks } from './proc-stat.js';

export interface ProcStat {
  pid: number;
  ppid: number;
  /** utime + stime (µs). */
  selfUs: number;
  /** cutime + cstime: reaped children (µs). */
  childrenUs: number;
  rssPages: number;
}

/** Parses /proc/<pid>/stat; undefined when the process is gone. */
export function readProcStat(pid: number): ProcStat | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name (field 2) may hold spaces and parens; fields after its last ')' are plain.
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // rest[0] is field 3 (state): ppid is field 4, utime 14, stime 15, cutime 16, cstime 17, rss 24.
  const us = (v: string | undefined) => (Number(v) / clockTicks()) * 1e6;
  return {
    pid,
    ppid: Number(rest[1]),
    selfUs: us(rest[11]) + us(rest[12]),
    childrenUs: us(rest[13]) + us(rest[14]),
    rssPages: Number(rest[21]),
  };
}

/** Every live process whose ppid chain reaches `root`, root first; empty when root is gone. */
export function processTree(root: number): ProcStat[] {
  const all = new Map<number, ProcStat>();
  const byParent = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const s = readProcStat(Number(name));
    if (!s) continue; // exited while scanning
    all.set(s.pid, s);
    byParent.set(s.ppid, [...(byParent.get(s.ppid) ?? []), s.pid]);
  }
  const rootStat = all.get(root);
  if (!rootStat) return [];
  const out: ProcStat[] = [rootStat];
  for (let i = 0; i < out.length; i++) {
    for (const child of byParent.get(out[i]!.pid) ?? []) out.push(all.get(child)!);
  }
  return out;
}

export interface TreeCpuSample {
  /** Σ utime + stime + cutime + cstime over the tree (µs). */
  cpuUs: number;
  /** `performance.now()` when read (ms). */
  atMs: number;
  pids: number[];
  /** Σ RSS over the tree (MiB); shared pages are counted once per process. */
  rssMb: number;
}

let pageSize: number | undefined;
const pageBytes = () =>
  (pageSize ??= Number(execFileSync('getconf', ['PAGESIZE'], { encoding: 'utf8' }).trim()) || 4096);

/** One CPU sample of `root` and its descendants (compare two with `cpuPercent`). */
export function readTreeCpu(root: number): TreeCpuSample {
  const tree = processTree(root);
  if (tree.length === 0) throw new Error(`process ${root} is gone`);
  return {
    cpuUs: tree.reduce((a, s) => a + s.selfUs + s.childrenUs, 0),
    atMs: performance.now(),
    pids: tree.map((s) => s.pid),
    rssMb: tree.reduce((a, s) => a + s.rssPages, 0) * (pageBytes() / 2 ** 20),
  };
}
