/**
 * `node --import tsx bench/src/profile-summary.ts <file.cpuprofile | dir> [--top 25] [--span 6]
 *   [--from <s> --to <s>] [--json]` (--from/--to: seconds after the server was spawned, as the
 *   benchmark's log prints for each window; the profile starts within a few ms of the spawn)
 *
 * Summarises V8 CPU profiles (`node --cpu-prof`, as `npm run bench -- --cpu-prof <dir>` writes for
 * the server): self time per function (name + file:line), self time per file/package, and the share
 * of the main thread that was idle, in GC, or in native code entered from JS ("(program)"). Only the
 * main JS thread is profiled: libdatachannel's native threads (ICE, DTLS, SRTP, sockets) never show
 * here; compare with the whole-process CPU from /proc that the benchmark reports.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
}
interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileSummary {
  file: string;
  /** Wall time covered by the profile (ms). */
  wallMs: number;
  /** Sampled time that was not idle (ms): JS, GC, and native work on the main thread. */
  busyMs: number;
  idleMs: number;
  gcMs: number;
  programMs: number;
  /** Busiest span of `spanS` seconds: main-thread busy share (%) — compare with a measured window. */
  busiestSpan: { spanS: number; busyPct: number; fromS: number };
  functions: { name: string; where: string; selfMs: number; pct: number }[];
  files: { where: string; selfMs: number; pct: number }[];
}

const short = (url: string) =>
  url
    .replace(/^file:\/\//, '')
    .replace(/^.*\/node_modules\//, 'node_modules/')
    .replace(/^.*\/packages\//, 'packages/');

function group(url: string): string {
  const s = short(url);
  if (!s) return '(native / V8)';
  const nm = /^node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(s);
  if (nm) return `node_modules/${nm[1]}`;
  if (s.startsWith('node:')) return 'node: (core)';
  return s;
}

/** `range`: only samples between these seconds after the profile started (e.g. one bench window). */
export function summarize(
  file: string,
  top = 25,
  spanS = 6,
  range?: { fromS: number; toS: number },
): ProfileSummary {
  const p = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  // Busy time per second of the profile, for the busiest span.
  const perSecond: number[] = [];
  let t = 0;
  for (let i = 0; i < p.samples.length; i++) {
    const id = p.samples[i]!;
    const dt = p.timeDeltas[i] ?? 0;
    t += dt;
    if (range && (t < range.fromS * 1e6 || t > range.toS * 1e6)) continue;
    self.set(id, (self.get(id) ?? 0) + dt);
    if (byId.get(id)?.callFrame.functionName !== '(idle)') {
      const sec = Math.floor(t / 1e6);
      perSecond[sec] = (perSecond[sec] ?? 0) + dt;
    }
  }
  let best = { spanS, busyPct: 0, fromS: 0 };
  for (let i = 0; i + spanS <= perSecond.length; i++) {
    let sum = 0;
    for (let j = i; j < i + spanS; j++) sum += perSecond[j] ?? 0;
    const pct = Math.round((sum / (spanS * 1e6)) * 1000) / 10;
    if (pct > best.busyPct) best = { spanS, busyPct: pct, fromS: i };
  }
  const fn = new Map<string, { name: string; where: string; us: number }>();
  const files = new Map<string, number>();
  let idle = 0;
  let gc = 0;
  let program = 0;
  let total = 0;
  for (const [id, us] of self) {
    const cf = byId.get(id)!.callFrame;
    total += us;
    if (cf.functionName === '(idle)') idle += us;
    else if (cf.functionName === '(garbage collector)') gc += us;
    else if (cf.functionName === '(program)') program += us;
    const where = cf.url ? `${short(cf.url)}:${cf.lineNumber + 1}` : '';
    const key = `${cf.functionName}@${where}`;
    const e = fn.get(key) ?? { name: cf.functionName || '(anonymous)', where, us: 0 };
    e.us += us;
    fn.set(key, e);
    if (cf.functionName !== '(idle)') files.set(group(cf.url), (files.get(group(cf.url)) ?? 0) + us);
  }
  const busy = total - idle;
  const ms = (us: number) => Math.round(us / 100) / 10;
  const pct = (us: number) => (busy > 0 ? Math.round((us / busy) * 1000) / 10 : 0);
  return {
    file,
    wallMs: range ? ms((range.toS - range.fromS) * 1e6) : ms(p.endTime - p.startTime),
    busyMs: ms(busy),
    idleMs: ms(idle),
    busiestSpan: best,
    gcMs: ms(gc),
    programMs: ms(program),
    functions: [...fn.values()]
      .filter((f) => f.name !== '(idle)')
      .sort((a, b) => b.us - a.us)
      .slice(0, top)
      .map((f) => ({ name: f.name, where: f.where, selfMs: ms(f.us), pct: pct(f.us) })),
    files: [...files]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([where, us]) => ({ where, selfMs: ms(us), pct: pct(us) })),
  };
}

export function renderSummary(s: ProfileSummary): string {
  const lines = [
    `### ${s.file}`,
    '',
    `Main thread over ${s.wallMs} ms: busy ${s.busyMs} ms (${Math.round((s.busyMs / s.wallMs) * 1000) / 10} % of the wall time), of which GC ${s.gcMs} ms, native/unattributed "(program)" ${s.programMs} ms; idle ${s.idleMs} ms. Busiest ${s.busiestSpan.spanS} s: ${s.busiestSpan.busyPct} % busy (from ${s.busiestSpan.fromS} s).`,
    '',
    '| self ms | % of busy | function | where |',
    '| --- | --- | --- | --- |',
    ...s.functions.map((f) => `| ${f.selfMs} | ${f.pct} | ${f.name} | ${f.where} |`),
    '',
    '| self ms | % of busy | file / package |',
    '| --- | --- | --- |',
    ...s.files.map((f) => `| ${f.selfMs} | ${f.pct} | ${f.where} |`),
  ];
  return lines.join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      top: { type: 'string', default: '25' },
      span: { type: 'string', default: '6' },
      from: { type: 'string' },
      to: { type: 'string' },
      json: { type: 'boolean', default: false },
    },
  });
  const paths = positionals.flatMap((p) =>
    statSync(p).isDirectory()
      ? readdirSync(p)
          .filter((f) => f.endsWith('.cpuprofile'))
          .map((f) => join(p, f))
      : [p],
  );
  // The largest profile of a server run is its main thread (the others are tsx's loader thread).
  const range =
    values.from !== undefined && values.to !== undefined
      ? { fromS: Number(values.from), toS: Number(values.to) }
      : undefined;
  const sums = paths.map((f) => summarize(f, Number(values.top), Number(values.span), range));
  process.stdout.write(
    values.json
      ? `${JSON.stringify(sums, null, 2)}\n`
      : `${sums
          .sort((a, b) => b.busyMs - a.busyMs)
          .map(renderSummary)
          .join('\n\n')}\n`,
  );
}
