/** Janus's recordings: packets in a `.mjr` and its conversion to Ogg Opus, both with janus-pp-rec. */
import { spawnSync } from 'node:child_process';
import { readProcStat } from '../support/proc-tree.js';

/** RTP packets in a .mjr (janus-pp-rec --parse: "Counted N RTP packets"). */
export function mjrPackets(path: string): number {
  const r = spawnSync('janus-pp-rec', ['-o', '-p', path], { encoding: 'utf8' });
  if (r.error) throw new Error(`janus-pp-rec could not run: ${r.error.message}`);
  const m = /Counted (\d+) RTP packets/.exec(`${r.stdout}${r.stderr}`);
  if (r.status !== 0 || !m) throw new Error(`janus-pp-rec -p ${path}: ${r.status} ${r.stderr.slice(-300)}`);
  return Number(m[1]);
}

/**
 * Converts a .mjr to `.opus` next to it (Janus fills lost packets and pauses with silence); resolves
 * with the output path and the CPU the conversion took (ms, from our reaped-children times).
 */
export function toOpus(path: string): { out: string; cpuMs: number } {
  const out = path.replace(/\.mjr$/, '.opus');
  const before = readProcStat(process.pid)?.childrenUs ?? 0;
  const r = spawnSync('janus-pp-rec', ['-o', path, out], { encoding: 'utf8' });
  const after = readProcStat(process.pid)?.childrenUs ?? 0;
  if (r.error) throw new Error(`janus-pp-rec could not run: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`janus-pp-rec ${path}: ${r.status} ${r.stderr.slice(-300)}`);
  return { out, cpuMs: (after - before) / 1000 };
}
