/**
 * `npm run bench -- [--n 20,50,100] [--m 5] [--seconds 20] [--cycles 10] [--quick]
 *                   [--out bench/results] [--no-docs] [--skip-start-stop]
 *                   [--pairs 3] [--workers 2] [--udp-mux on|off] [--fanout on|off] [--cpu-prof <dir>]
 *                   [--peers trackroom,janus | --peer janus] [--file-quality on|off]
 *                   [--media-workers 1,2] [--generator ndc|werift] [--generators ndc,werift]
 *                   [--meetings 2,10,25,50 [--client-processes 2] [--client-stack ndc|werift]]
 *                   [--server-build source|dist]`

 * `--meetings` runs only the large-meeting scenario (meeting-scale.ts: one meeting of each size,
 * one subscribing connection per participant, its clients spread over `--client-processes` forked
 * processes, default 2, on node-datachannel unless `--client-stack werift`) and prints its table;
 * its section of docs/BENCHMARKS.md is written by hand.
 *
 * `--peers` runs the side-by-side comparison with Janus instead (compare.ts; ingest only), and
 * `--media-workers` the ingest-only scenario once per MEDIA_WORKERS value; each writes its own
 * region of docs/BENCHMARKS.md (docs-page.ts) and leaves the others alone. `--generator` picks the
 * load generator's WebRTC stack: node-datachannel (`ndc`, the default) or werift (for comparison);
 * `--generators ndc,werift` measures the generator itself, stack against stack on one server
 * (generator-compare.ts; printed, no docs region).
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
import { runCompare, type CompareResult, type PeerName } from './compare.js';
import {
  renderCompare,
  renderMediaWorkers,
  type CompareBenchResult,
  type MediaWorkersBenchResult,
} from './compare-report.js';
import { writeRegion, type DocRegion } from './docs-page.js';
import { runFileQuality, type FileQualityResult } from './file-quality.js';
import { ensureJanusInstalled, janusVersion } from './janus/janus-install.js';
import { ensureBenchInterface, inOwnNetns, reexecInOwnNetns } from './janus/netns.js';
import {
  renderGeneratorCompare,
  runGeneratorCompare,
  type GeneratorCompareResult,
} from './generator-compare.js';
import { GENERATOR_KINDS, type GeneratorKind } from './load.js';
import { renderMeetingScale, runMeetingScale } from './meeting-scale.js';
import { evaluateTargets, renderMarkdown, type BenchResult } from './report.js';
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
/** Rewrites the main report's region of the page; other regions and hand-written sections stay. */
const writeDocs = (md: string) => writeRegion(docsFile, 'main', md);

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
    // (default on; with --media-workers, off unless given as on)
    fanout: { type: 'string' },
    'cpu-prof': { type: 'string' },
    notes: { type: 'string' },
    peer: { type: 'string' },
    peers: { type: 'string' },
    'file-quality': { type: 'string', default: 'on' },
    'media-workers': { type: 'string' },
    // The load generator's WebRTC stack: ndc (node-datachannel) or werift.
    generator: { type: 'string', default: 'ndc' },
    generators: { type: 'string' },
    meetings: { type: 'string' },
    'client-processes': { type: 'string' },
    'client-stack': { type: 'string' },
    // source (default): the server from TypeScript through tsx, as tests run it; dist: the compiled
    // server that `npm start` runs (build first: npx tsc -b), without the loader's memory and CPU.
    'server-build': { type: 'string' },
  },
});
if (values['server-build'] === 'dist') process.env.TRACKROOM_SERVER_BUILD = 'dist';
else if (values['server-build'] !== undefined && values['server-build'] !== 'source')
  throw new Error(`--server-build is source or dist, not ${values['server-build']}`);

if (values.meetings) {
  const sizes = values.meetings.split(',').map(Number);
  const rs = await runMeetingScale({
    sizes,
    ...(values.seconds ? { seconds: Number(values.seconds) } : {}),
    ...(values['client-processes'] ? { clientProcesses: Number(values['client-processes']) } : {}),
    ...(values['client-stack'] === 'werift' ? { clientStack: 'werift' as const } : {}),
  });
  mkdirSync(values.out, { recursive: true });
  const file = join(values.out, `meetings-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, JSON.stringify({ kind: 'meetings', machine: machineInfo(), results: rs }, null, 2));
  process.stdout.write(`${renderMeetingScale(rs)}\n\n(${relative(root, file)})\n`);
  process.exit(0);
}

const renderOther = (paths: string[]): boolean => {
  const first = JSON.parse(readFileSync(paths[0]!, 'utf8')) as { kind?: string };
  const name = paths.map((p) => relative(root, p)).join('`, `');
  if (first.kind === 'compare') {
    const all = paths.map((p) => JSON.parse(readFileSync(p, 'utf8')) as CompareBenchResult);
    const saved = { ...all[all.length - 1]! };
    saved.compare = all.flatMap((r) => r.compare).sort((a, b) => a.n - b.n);
    saved.failures = all.flatMap((r) => r.failures);
    saved.fileQuality =
      all
        .map((r) => r.fileQuality)
        .filter((f) => f !== null)
        .pop() ?? null;
    saved.config = { ...saved.config, n: saved.compare.map((c) => c.n) };
    const md = renderCompare(saved, name);
    process.stdout.write(`${md}\n`);
    if (!values['no-docs']) writeRegion(docsFile, 'janus', md);
    return true;
  }
  if (first.kind === 'media-workers') {
    const all = paths.map((p) => JSON.parse(readFileSync(p, 'utf8')) as MediaWorkersBenchResult);
    const saved = { ...all[all.length - 1]!, load: all.flatMap((r) => r.load) };
    const md = renderMediaWorkers(saved, name);
    process.stdout.write(`${md}\n`);
    if (!values['no-docs']) writeRegion(docsFile, 'media-workers', md);
    return true;
  }
  return false;
};

if (values.render && renderOther(values.render.split(','))) process.exit(0);

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
if (!GENERATOR_KINDS.includes(values.generator as GeneratorKind))
  throw new Error(`--generator: unknown ${values.generator} (${GENERATOR_KINDS.join(', ')})`);
const generator = values.generator as GeneratorKind;
const log = (s: string) => process.stderr.write(`${s}\n`);

const peerList = (values.peers ?? (values.peer ? `trackroom,${values.peer}` : ''))
  .split(',')
  .filter(Boolean)
  .filter((p, i, all) => all.indexOf(p) === i);
for (const p of peerList)
  if (p !== 'trackroom' && p !== 'janus') throw new Error(`--peers: unknown server ${p} (trackroom, janus)`);
const writeResult = (name: string, result: unknown) => {
  mkdirSync(values.out, { recursive: true });
  const file = join(values.out, `${name}-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
  log(`result: ${file}`);
  return file;
};

if (peerList.length) {
  const peers = peerList as PeerName[];
  let version = 'none';
  let net: { iface: string; address: string } | undefined;
  if (peers.includes('janus')) {
    if (!inOwnNetns()) {
      // Installing needs the network, so it happens here, before the bench enters its namespace.
      ensureJanusInstalled(log);
      log('janus: running the comparison again inside a network namespace of its own');
      reexecInOwnNetns();
    }
    const v = janusVersion();
    if (!v)
      throw new Error(
        'janus is not installed and cannot be installed from inside the namespace: apt-get install janus janus-tools',
      );
    version = v;
    net = ensureBenchInterface();
  }
  const began = performance.now();
  const compare: CompareResult[] = [];
  const failures: { n: number; error: string }[] = [];
  for (const n of ns) {
    log(
      `compare: N=${n} (${peers.join(' vs ')}), meetings of ${m}, ingest only, ${pairs} pairs of ${seconds} s windows`,
    );
    try {
      compare.push(
        await runCompare({
          n,
          m,
          seconds,
          pairs,
          workers,
          generator,
          peers,
          net: net ?? { iface: '', address: '' },
          janusVersion: version,
          log,
        }),
      );
    } catch (err) {
      log(`  n=${n}: FAILED: ${String(err)}`);
      failures.push({ n, error: String(err) });
    }
  }
  let fileQuality: FileQualityResult | null = null;
  if (values['file-quality'] !== 'off') {
    try {
      fileQuality = await runFileQuality({ peers, ...(net ? { net } : {}), log });
    } catch (err) {
      log(`file quality: FAILED: ${String(err)}`);
      failures.push({ n: 1, error: `file quality: ${String(err)}` });
    }
  }
  const result: CompareBenchResult = {
    kind: 'compare',
    machine: { ...machineInfo(), nproc: availableParallelism() },
    config: { n: ns, m, seconds, pairs, workers, generator, peers },
    janusVersion: version,
    compare,
    failures,
    fileQuality,
    durationSec: Math.round((performance.now() - began) / 1000),
  };
  publishAndExit(
    'compare',
    result,
    (f) => renderCompare(result, f),
    'janus',
    failures.length > 0 && !compare.length,
  );
}

/** The load options every run shares, for one size. */
function loadOptions(n: number) {
  return { n, m, seconds, log, pairs, workers, udpMux, generator };
}

/** Saves a run's raw result, prints its report, writes its region of the docs page, and exits. */
function publishAndExit<T>(
  kind: string,
  result: T,
  render: (resultFile: string) => string,
  region: DocRegion,
  failed: boolean,
): never {
  const file = writeResult(kind, result);
  const md = render(relative(root, file));
  process.stdout.write(`${md}\n`);
  if (!values['no-docs']) writeRegion(docsFile, region, md);
  process.exit(failed ? 1 : 0);
}

if (values.generators) {
  const kinds = values.generators.split(',').filter(Boolean);
  for (const k of kinds)
    if (!GENERATOR_KINDS.includes(k as GeneratorKind))
      throw new Error(`--generators: unknown ${k} (${GENERATOR_KINDS.join(', ')})`);
  const began = performance.now();
  const results: GeneratorCompareResult[] = [];
  const failures: { n: number; error: string }[] = [];
  for (const n of ns) {
    log(
      `generators: N=${n} each (${kinds.join(' vs ')}), meetings of ${m}, ingest only, ${pairs} windows of ${seconds} s each`,
    );
    try {
      results.push(
        await runGeneratorCompare({
          n,
          m,
          seconds,
          pairs,
          workers,
          generators: kinds as GeneratorKind[],
          log,
        }),
      );
    } catch (err) {
      log(`  n=${n}: FAILED: ${String(err)}`);
      failures.push({ n, error: String(err) });
    }
  }
  writeResult('generators', {
    machine: { ...machineInfo(), nproc: availableParallelism() },
    config: { n: ns, m, seconds, pairs, workers, generators: kinds },
    results,
    failures,
    durationSec: Math.round((performance.now() - began) / 1000),
  });
  process.stdout.write(`${renderGeneratorCompare(results)}\n`);
  process.exit(failures.length && !results.length ? 1 : 0);
}

if (values['media-workers']) {
  const counts = values['media-workers'].split(',').map((s) => Math.round(num(s, 'media-workers')));
  const began = performance.now();
  const load: LoadResult[] = [];
  const failures: { n: number; mediaWorkers: number; error: string }[] = [];
  // Ingest only; with an explicit `--fanout on`, fan-out runs too (everyone subscribed).
  const modes = values.fanout === 'on' ? [false, true] : [false];
  // Values alternate per size (1, 2, 1, 2 ... at each N) so drift on the shared machine falls on both.
  for (const fan of modes) {
    for (const n of ns) {
      for (const mediaWorkers of counts) {
        log(
          `media workers: MEDIA_WORKERS=${mediaWorkers}, N=${n}, meetings of ${m}, ${fan ? 'fan-out' : 'ingest only'}`,
        );
        try {
          load.push(
            await runLoad({
              ...loadOptions(n),
              fanout: fan,
              mediaWorkers,
              ...(cpuProf ? { cpuProfDir: join(cpuProf, `mw${mediaWorkers}-n${n}`) } : {}),
            }),
          );
        } catch (err) {
          log(`  FAILED: ${String(err)}`);
          failures.push({ n, mediaWorkers, error: String(err) });
        }
      }
    }
  }
  const result: MediaWorkersBenchResult = {
    kind: 'media-workers',
    machine: { ...machineInfo(), nproc: availableParallelism() },
    config: { n: ns, m, seconds, pairs, workers, generator, mediaWorkers: counts },
    load,
    failures,
    durationSec: Math.round((performance.now() - began) / 1000),
  };
  publishAndExit(
    'media-workers',
    result,
    (f) => renderMediaWorkers(result, f),
    'media-workers',
    failures.length > 0 && !load.length,
  );
}

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
        ...loadOptions(n),
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
  startStop = await runStartStop({ m, cycles, holdMs: quick ? 200 : 1000, log, generator });
}

const machine = { ...machineInfo(), nproc: availableParallelism() };
const result: BenchResult = {
  machine,
  config: { n: ns, m, seconds, cycles, quick, pairs, workers, udpMux, fanout, generator },
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
