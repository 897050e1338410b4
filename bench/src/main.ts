/**
 * `npm run bench -- [--n 20,50,100] [--m 5] [--seconds 20] [--cycles 10] [--quick]
 *                   [--out bench/results] [--no-docs] [--skip-start-stop]
 *                   [--pairs 3] [--workers 2] [--udp-mux on|off] [--fanout on|off] [--cpu-prof <dir>]`
 *
 * Runs every scenario at each size, writes bench/results/<timestamp>.json, prints a Markdown report
 * and writes it to docs/BENCHMARKS.md (unless --no-docs). Run it in a fresh network namespace so all
 * traffic stays on 127.0.0.1:
 *   unshare -n bash -c 'ip link set lo up && cd /work/main && npm run bench -- --quick'
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join, relative } from 'node:path';
import { parseArgs } from 'node:util';
import { evaluateTargets, renderMarkdown, type BenchResult } from './report.js';
import { soakSection } from './soak-report.js';
import {
  GENERATOR_CPU_LIMIT_PCT,
  GENERATOR_LAG_LIMIT_MS,
  machineInfo,
  runLoad,
  runStartStop,
  type LoadResult,
  type StartStopResult,
} from './scenarios.js';

const root = new URL('../../', import.meta.url).pathname;
const docsFile = join(root, 'docs', 'BENCHMARKS.md');
/** Rewrites the page, keeping the Soak section `npm run soak` wrote there. */
const writeDocs = (md: string) => {
  let soak: string | undefined;
  try {
    soak = soakSection(readFileSync(docsFile, 'utf8'));
  } catch {
    soak = undefined; // no page yet
  }
  writeFileSync(docsFile, soak ? `${md.trimEnd()}\n\n${soak}\n` : md);
};

const { values } = parseArgs({
  options: {
    n: { type: 'string' },
    m: { type: 'string', default: '5' },
    seconds: { type: 'string' },
    cycles: { type: 'string' },
    quick: { type: 'boolean', default: false },
    out: { type: 'string', default: join(root, 'bench', 'results') },
    'no-docs': { type: 'boolean', default: false },
    'skip-start-stop': { type: 'boolean', default: false },
    render: { type: 'string' },
    pairs: { type: 'string' },
    workers: { type: 'string', default: '2' },
    'udp-mux': { type: 'string', default: 'on' },
    // on: every publisher subscribes to the others of its meeting (forwarding with fan-out);
    // off: publishers ignore `subscribe` (ingest only, nothing forwarded).
    fanout: { type: 'string', default: 'on' },
    'cpu-prof': { type: 'string' },
    notes: { type: 'string' },
  },
});

if (values.render) {
  // Re-render docs/BENCHMARKS.md from saved results (comma-separated: load runs are concatenated,
  // start/stop comes from the last file that has it), without measuring anything.
  const paths = values.render.split(',');
  const all = paths.map((p) => JSON.parse(readFileSync(p, 'utf8')) as BenchResult);
  const saved = all[all.length - 1]!;
  saved.load = all.flatMap((r) => r.load).sort((a, b) => a.n - b.n);
  saved.failures = all.flatMap((r) => r.failures ?? []);
  saved.startStop =
    all
      .map((r) => r.startStop)
      .filter((s) => s !== null)
      .pop() ?? null;
  saved.config.n = saved.load.map((l) => l.n);
  saved.durationSec = all.reduce((a, r) => a + r.durationSec, 0);
  for (const w of saved.load.flatMap((l) => [l.forward, l.record])) {
    // Older results folded lag into generatorBound; derive both flags from the raw figures.
    w.generatorBound = w.generatorCpuPct >= GENERATOR_CPU_LIMIT_PCT;
    w.generatorLagging = w.generatorEventLoopP99Ms > GENERATOR_LAG_LIMIT_MS;
  }
  saved.targets = evaluateTargets(saved.load, saved.startStop);
  if (values.notes) saved.notes = readFileSync(values.notes, 'utf8').trim();
  const md = renderMarkdown(saved, paths.map((p) => relative(root, p)).join('`, `'));
  process.stdout.write(`${md}\n`);
  if (!values['no-docs']) writeDocs(md);
  process.exit(0);
}

const num = (s: string, what: string) => {
  const v = Number(s);
  if (!Number.isFinite(v) || v <= 0) throw new Error(`--${what}: not a positive number: ${s}`);
  return v;
};
const quick = values.quick;
const ns = (values.n ?? (quick ? '10' : '20,50,100')).split(',').map((s) => Math.round(num(s, 'n')));
const m = Math.round(num(values.m, 'm'));
const seconds = num(values.seconds ?? (quick ? '5' : '20'), 'seconds');
const cycles = Math.round(num(values.cycles ?? (quick ? '5' : '10'), 'cycles'));
const pairs = Math.round(num(values.pairs ?? (quick ? '1' : '3'), 'pairs'));
const workers = Math.round(num(values.workers, 'workers'));
const udpMux = values['udp-mux'] !== 'off';
const fanout = values.fanout !== 'off';
const cpuProf = values['cpu-prof'];
const log = (s: string) => process.stderr.write(`${s}\n`);

const began = performance.now();
const load: LoadResult[] = [];
const failures: { n: number; error: string }[] = [];
for (const n of ns) {
  log(
    `load: N=${n}, meetings of ${m}, ${fanout ? 'fan-out (everyone subscribed)' : 'ingest only'}, ${seconds} s forward + ${seconds} s record`,
  );
  try {
    load.push(
      await runLoad({
        n,
        m,
        seconds,
        log,
        pairs,
        workers,
        udpMux,
        fanout,
        ...(cpuProf ? { cpuProfDir: join(cpuProf, `n${n}`) } : {}),
      }),
    );
  } catch (err) {
    // A size that breaks is a result too: reported, never hidden; smaller sizes still count.
    log(`  n=${n}: FAILED: ${String(err)}`);
    failures.push({ n, error: String(err) });
  }
}
let startStop: StartStopResult | null = null;
if (!values['skip-start-stop']) {
  log(`start/stop: ${cycles} cycles on one meeting of ${m}`);
  startStop = await runStartStop({ m, cycles, holdMs: quick ? 200 : 1000, log });
}

const machine = { ...machineInfo(), nproc: availableParallelism() };
const result: BenchResult = {
  machine,
  config: { n: ns, m, seconds, cycles, quick, pairs, workers, udpMux, fanout },
  load,
  failures,
  startStop,
  targets: evaluateTargets(load, startStop),
  durationSec: Math.round((performance.now() - began) / 1000),
};
mkdirSync(values.out, { recursive: true });
const file = join(values.out, `${machine.date.replace(/[:.]/g, '-')}.json`);
writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
const md = renderMarkdown(result, relative(root, file));
process.stdout.write(`${md}\n`);
if (!values['no-docs']) writeDocs(md);
log(`result: ${file}`);
