/**
 * `npm run bench -- --generators ndc,werift`: the load generator's own cost, stack against stack, on
 * one server. Each stack connects its own N publishers (own meetings of M, ingest only) to the same
 * server; then windows alternate between the stacks (ABAB…), only one stack playing at a time, so
 * each window's server figures and loss belong to that stack alone. Reports generator CPU per 100
 * publishers, its busiest process and event-loop lag, the server's CPU over the same window, and
 * loss: packets the stack sent vs the SFU's rtpReceived from before the window's first packet to
 * after its last (exact, since nobody else sends meanwhile).
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { api, freePort, startServer } from '@trackroom/e2e/support';
import { LoadGenerator, generatorName, type GeneratorKind, type LoadGeneratorReady } from './load.js';
import {
  GENERATOR_CPU_LIMIT_PCT,
  GENERATOR_LAG_LIMIT_MS,
  createMeetings,
  median,
  round,
  sfuOf,
  sleep,
  stats,
} from './scenarios.js';
import { cpuPercent, readSystemCpu, systemBusyPercent } from './support/proc-stat.js';
import { readTreeCpu } from './support/proc-tree.js';

export interface GeneratorWindow {
  generator: GeneratorKind;
  seconds: number;
  /** All generator processes of this stack, % of one core. */
  generatorCpuPct: number;
  generatorMaxWorkerCpuPct: number;
  /** generatorCpuPct / N × 100. */
  generatorCpuPer100Pct: number;
  generatorEventLoopP99Ms: number;
  generatorBound: boolean;
  generatorLagging: boolean;
  serverCpuPct: number;
  machineBusyPct: number;
  /** From play to stop (a little longer than the measured window). */
  sent: number;
  refused: number;
  /** The SFU's rtpReceived over the same span (nobody else sends). */
  rtpReceived: number;
  lossPct: number;
}

export interface GeneratorRun {
  generator: GeneratorKind;
  connect: LoadGeneratorReady;
  /** The window with the median generator CPU, and the median per-100 figure over all windows. */
  median: GeneratorWindow;
  generatorCpuPer100Pct: number;
  sent: number;
  refused: number;
  rtpReceived: number;
  lossPct: number;
}

export interface GeneratorCompareResult {
  kind: 'generators';
  n: number;
  m: number;
  workers: number;
  windows: GeneratorWindow[];
  runs: GeneratorRun[];
}

export interface GeneratorCompareOptions {
  n: number;
  m: number;
  seconds: number;
  pairs: number;
  workers: number;
  generators: GeneratorKind[];
  log: (s: string) => void;
}

export async function runGeneratorCompare(o: GeneratorCompareOptions): Promise<GeneratorCompareResult> {
  const server = await startServer({
    env: { LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'warn', RTC_UDP_MUX_PORT: String(await freePort()) },
  });
  const gens = new Map<GeneratorKind, { gen: LoadGenerator; connect: LoadGeneratorReady }>();
  try {
    const call = api(server);
    for (const kind of o.generators) {
      const { tokens } = await createMeetings(call, o.n, o.m);
      o.log(`  n=${o.n}: connecting ${o.n} ${generatorName(kind)} publishers (${o.workers} process(es))`);
      const [gen, connect] = await LoadGenerator.start({
        wsUrl: server.wsUrl,
        tokens,
        workDir: mkdtempSync(join(tmpdir(), `trackroom-bench-gen-${kind}-`)),
        connectConcurrency: Math.max(2, Math.ceil(8 / o.workers)),
        workers: o.workers,
        generator: kind,
      });
      gens.set(kind, { gen, connect });
      o.log(
        `  n=${o.n}: ${kind}: ${connect.connected} connected, ${connect.failed} failed (${connect.retried ?? 0} retried) in ${Math.round(connect.connectMs)} ms${connect.errors.length ? ` (${connect.errors.join('; ')})` : ''}`,
      );
      if (connect.connected === 0) throw new Error(`${kind}: no publisher connected`);
    }
    const windows: GeneratorWindow[] = [];
    for (let k = 0; k < o.pairs; k++) {
      for (const kind of o.generators) {
        const { gen, connect } = gens.get(kind)!;
        const before = sfuOf(await stats(server, true)).rtpReceived;
        const g0 = await gen.sample();
        await gen.play();
        await sleep(1000);
        await gen.sample(); // resets the workers' event-loop histograms: the window's lag only
        const c0 = readTreeCpu(server.proc.pid!);
        const gc0 = gen.cpus();
        const m0 = readSystemCpu();
        await sleep(o.seconds * 1000);
        const c1 = readTreeCpu(server.proc.pid!);
        const gc1 = gen.cpus();
        const m1 = readSystemCpu();
        const lag = (await gen.sample()).eventLoopP99Ms;
        const g1 = await gen.stopPlaying();
        // What is in flight lands before the count (loopback: well under this).
        await sleep(300);
        const after = sfuOf(await stats(server, false)).rtpReceived;
        const perWorker = gc0.map((a, i) => cpuPercent(a, gc1[i]!));
        const cpu = perWorker.reduce((a, b) => a + b, 0);
        const maxWorker = Math.max(...perWorker);
        const sent = g1.sent - g0.sent;
        const received = after - before;
        const w: GeneratorWindow = {
          generator: kind,
          seconds: o.seconds,
          generatorCpuPct: round(cpu),
          generatorMaxWorkerCpuPct: round(maxWorker),
          generatorCpuPer100Pct: round((cpu / connect.connected) * 100),
          generatorEventLoopP99Ms: round(lag),
          generatorBound: maxWorker >= GENERATOR_CPU_LIMIT_PCT,
          generatorLagging: lag > GENERATOR_LAG_LIMIT_MS,
          serverCpuPct: round(cpuPercent(c0, c1)),
          machineBusyPct: round(systemBusyPercent(m0, m1)),
          sent,
          refused: g1.refused - g0.refused,
          rtpReceived: received,
          lossPct: sent > 0 ? round(((sent - received) / sent) * 100, 3) : 0,
        };
        windows.push(w);
        o.log(
          `  n=${o.n}: ${kind}: generator ${w.generatorCpuPct}% (${w.generatorCpuPer100Pct}% per 100, busiest ${w.generatorMaxWorkerCpuPct}%, lag p99 ${w.generatorEventLoopP99Ms} ms), server ${w.serverCpuPct}%, machine ${w.machineBusyPct}%; sent ${sent}, server received ${received} (loss ${w.lossPct}%)`,
        );
      }
    }
    const runs = o.generators.map((kind): GeneratorRun => {
      const ws = windows.filter((w) => w.generator === kind);
      const sorted = [...ws].sort((a, b) => a.generatorCpuPct - b.generatorCpuPct);
      const sent = ws.reduce((a, w) => a + w.sent, 0);
      const received = ws.reduce((a, w) => a + w.rtpReceived, 0);
      return {
        generator: kind,
        connect: gens.get(kind)!.connect,
        median: sorted[Math.floor((sorted.length - 1) / 2)]!,
        generatorCpuPer100Pct: round(median(ws.map((w) => w.generatorCpuPer100Pct))),
        sent,
        refused: ws.reduce((a, w) => a + w.refused, 0),
        rtpReceived: received,
        lossPct: sent > 0 ? round(((sent - received) / sent) * 100, 3) : 0,
      };
    });
    return { kind: 'generators', n: o.n, m: o.m, workers: o.workers, windows, runs };
  } finally {
    for (const { gen } of gens.values()) await gen.close();
    await server.stop();
  }
}

/** A Markdown table of the runs (printed; it belongs to no region of docs/BENCHMARKS.md). */
export function renderGeneratorCompare(results: GeneratorCompareResult[]): string {
  const head = [
    'N',
    'generator',
    'generator CPU % per 100 publishers (median)',
    'generator CPU % (busiest process)',
    'generator lag p99 ms',
    'server CPU %',
    'machine busy %',
    'sent',
    'server received',
    'loss %',
    'refused',
  ];
  const rows = results.flatMap((r) =>
    r.runs.map((g) => [
      r.n,
      generatorName(g.generator),
      g.generatorCpuPer100Pct,
      `${g.median.generatorCpuPct} (${g.median.generatorMaxWorkerCpuPct})${g.median.generatorBound ? ' ⚠' : ''}`,
      `${g.median.generatorEventLoopP99Ms}${g.median.generatorLagging ? ' ⚠' : ''}`,
      g.median.serverCpuPct,
      g.median.machineBusyPct,
      g.sent,
      g.rtpReceived,
      g.lossPct,
      g.refused,
    ]),
  );
  return [
    `| ${head.join(' | ')} |`,
    `| ${head.map(() => '---').join(' | ')} |`,
    ...rows.map((r) => `| ${r.join(' | ')} |`),
  ].join('\n');
}
