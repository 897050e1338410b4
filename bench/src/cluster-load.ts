/**
 * Recorded tracks at zero loss on two nodes (docs/cluster.md, "Capacity"): two trackroom nodes on
 * this machine (MEDIA_WORKERS=1 each) sharing PostgreSQL and a redis-server of the run's own. Every
 * publisher connects to node-a and follows its `redirect` when the meeting is placed on node-b (as
 * the SDK does); every meeting's track recording is started and stopped at once through node-a's
 * API (the command bus carries node-b's). Loss is exact: packets the publishers sent against the
 * sum of both nodes' rtpReceived; every file is ffprobed and its manifest counts checked.
 *
 * Usage (inside a network namespace, loopback up):
 *   node --conditions=source --import tsx bench/src/cluster-load.ts [--n 200,400] [--m 5]
 *     [--seconds 6] [--workers 2]
 */
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { api, startTestCluster, type ServerProcess } from '@trackroom/e2e/support';
import { LoadGenerator } from './load.js';
import {
  checkRecording,
  createMeetings,
  emptyCorrectness,
  machineInfo,
  sfuOf,
  stats,
  round,
  summarize,
  waitAllUploaded,
  workerEventLoopP99,
  type LatencySummary,
} from './scenarios.js';
import { cpuPercent, readSystemCpu, systemBusyPercent } from './support/proc-stat.js';
import { readTreeCpu } from './support/proc-tree.js';
import { redisCalls } from './support/redis-calls.js';

const { values } = parseArgs({
  options: {
    n: { type: 'string', default: '200,400' },
    m: { type: 'string', default: '5' },
    seconds: { type: 'string', default: '6' },
    workers: { type: 'string', default: '2' },
  },
});
const ns = values.n.split(',').map(Number);
const m = Number(values.m);
const seconds = Number(values.seconds);
const workers = Number(values.workers);
const log = (s: string) => process.stderr.write(`${s}\n`);

interface NodeRow {
  node: string;
  /** Publishers (peers) the node hosts. */
  peers: number;
  cpuPct: number;
  rssMb: number;
  workerLoopP99Ms: number[];
}

interface ClusterLoadRow {
  n: number;
  connected: number;
  failed: number;
  redirected: number;
  nodes: NodeRow[];
  serverCpuPct: number;
  machineBusyPct: number;
  sent: number;
  received: number;
  lost: number;
  files: number;
  filesWithLoss: number;
  invalid: number;
  frameMismatch: number;
  /** Files whose end is off the stop instant (or ffprobe off the manifest) by more than 40 ms. */
  durationOff: number;
  maxDurationErrorMs: number;
  startHttpMs: LatencySummary;
  stopMs: LatencySummary;
  redisCommandsPerSecond: number;
  problems: string[];
}

async function runOnce(n: number): Promise<ClusterLoadRow> {
  const cluster = await startTestCluster({
    heartbeatMs: 1000,
    deadAfterMs: 30_000,
    env: { LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'warn', RTC_UDP_MUX_PORT: 'off' },
  });
  let gen: LoadGenerator | undefined;
  try {
    const a = await cluster.startNode('node-a');
    const b = await cluster.startNode('node-b');
    const nodes: [string, ServerProcess][] = [
      ['node-a', a],
      ['node-b', b],
    ];
    const call = api(a);
    const { ids, tokens } = await createMeetings(call, n, m);
    log(`  n=${n}: ${ids.length} meetings; publishers connect to node-a and follow redirects`);
    const [g, ready] = await LoadGenerator.start({
      wsUrl: a.wsUrl,
      tokens,
      workDir: mkdtempSync(join(tmpdir(), 'trackroom-cluster-load-')),
      connectConcurrency: Math.max(2, Math.ceil(8 / workers)),
      workers,
      fanout: false,
      generator: 'ndc',
      followRedirects: true,
    });
    gen = g;
    log(
      `  n=${n}: ${ready.connected} connected, ${ready.failed} failed in ${Math.round(ready.connectMs)} ms`,
    );
    const listed = (await (
      await fetch(`${a.baseUrl}/v1/nodes`, { headers: { authorization: `Bearer ${a.token}` } })
    ).json()) as { data: { nodes: { node_id: string; live_tracks: number; meetings: number }[] } };
    log(
      `  n=${n}: ${listed.data.nodes.map((x) => `${x.node_id} ${x.meetings} meetings ${x.live_tracks} tracks`).join(', ')}`,
    );
    await gen.play();
    await sleep(2000);

    const t = performance.now();
    const startHttp: number[] = [];
    const recs = await Promise.all(
      ids.map(async (id) => {
        const t0 = performance.now();
        const r = await call<{ data: { recording: { id: string; status: string } } }>(
          'POST',
          '/recordings/track',
          { meeting_id: id },
        );
        if (r.status !== 200) throw new Error(`start recording: ${r.status} ${JSON.stringify(r.json)}`);
        startHttp.push(performance.now() - t0);
        return r.json.data.recording.id;
      }),
    );
    log(
      `  n=${n}: ${recs.length} recordings started through node-a in ${Math.round(performance.now() - t)} ms`,
    );
    await sleep(1000);
    // Reset each node's event-loop histogram at the window's start.
    await Promise.all(nodes.map(([, s]) => stats(s, true)));
    const c0 = nodes.map(([, s]) => readTreeCpu(s.proc.pid!));
    const m0 = readSystemCpu();
    const r0 = redisCalls(cluster.redis.port);
    await sleep(seconds * 1000);
    const c1 = nodes.map(([, s]) => readTreeCpu(s.proc.pid!));
    const m1 = readSystemCpu();
    const r1 = redisCalls(cluster.redis.port);
    const s1 = await Promise.all(nodes.map(([, s]) => stats(s, true)));
    const stopAt = performance.now();
    await Promise.all(
      recs.map(async (id) => {
        const r = await call('PUT', `/recordings/${id}`, { action: 'stop' });
        if (r.status !== 200) throw new Error(`stop recording ${id}: ${r.status} ${JSON.stringify(r.json)}`);
      }),
    );
    const uploaded = await waitAllUploaded(call, recs, 120_000);
    const final = await gen.stopPlaying();
    await sleep(300);
    const end = await Promise.all(nodes.map(([, s]) => stats(s, false)));
    await gen.close();
    gen = undefined;

    const correctness = emptyCorrectness();
    for (const id of recs) {
      const host = nodes.find(([, s]) => existsSync(join(s.dataDir, 'recordings', id)))?.[1] ?? a;
      await checkRecording(host, uploaded.get(id)!.view, id, correctness);
    }
    const received = end.reduce((sum, s) => sum + sfuOf(s).rtpReceived, 0);
    const rows: NodeRow[] = nodes.map(([name], i) => ({
      node: name,
      peers: sfuOf(s1[i]!).peers,
      cpuPct: round(cpuPercent(c0[i]!, c1[i]!)),
      rssMb: round(c1[i]!.rssMb),
      workerLoopP99Ms: (s1[i]!.workers ?? s1[i]!.media.workers ?? [])
        .map(workerEventLoopP99)
        .filter((v): v is number => v !== undefined)
        .map((v) => round(v, 2)),
    }));
    return {
      n,
      connected: ready.connected,
      failed: ready.failed,
      redirected: rows[1]?.peers ?? 0,
      nodes: rows,
      serverCpuPct: round(rows.reduce((x, r) => x + r.cpuPct, 0)),
      machineBusyPct: round(systemBusyPercent(m0, m1)),
      sent: final.sent,
      received,
      lost: final.sent - received,
      files: correctness.files,
      filesWithLoss: correctness.filesWithLoss ?? 0,
      invalid: correctness.invalid,
      frameMismatch: correctness.frameMismatch,
      durationOff: correctness.durationOff,
      maxDurationErrorMs: correctness.maxDurationErrorMs,
      startHttpMs: summarize(startHttp),
      stopMs: summarize([...uploaded.values()].map((u) => u.at - stopAt)),
      redisCommandsPerSecond: round((r1.commands - r0.commands) / seconds),
      problems: correctness.problems.slice(0, 5),
    };
  } finally {
    await gen?.close();
    await cluster.stop();
  }
}

const rows: ClusterLoadRow[] = [];
for (const n of ns) {
  log(`cluster load: N=${n}, two nodes (MEDIA_WORKERS=1 each), meetings of ${m}, ingest only, recorded`);
  rows.push(await runOnce(n));
}
const out = join(
  process.cwd(),
  'bench',
  'results',
  `cluster-load-${machineInfo().date.replace(/[:.]/g, '-')}.json`,
);
if (existsSync(join(process.cwd(), 'bench', 'results')))
  writeFileSync(out, `${JSON.stringify({ machine: machineInfo(), m, seconds, workers, rows }, null, 2)}\n`);
const table = [
  '| N | connected / failed | publishers on node-a / node-b | server CPU % (both trees) | per node CPU % | packets lost (sent → both nodes) | files with zero loss / files | invalid, frame mismatch | file end vs stop: off by > 40 ms, max error ms | worker event-loop p99 ms (a; b) | start all through node-a: POST → 200 p95 ms | stop → UPLOADED p95 ms | Redis commands/s | machine busy % |',
  '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  ...rows.map(
    (r) =>
      `| ${r.n} | ${r.connected} / ${r.failed} | ${r.nodes.map((x) => x.peers).join(' / ')} | ${r.serverCpuPct} | ${r.nodes.map((x) => x.cpuPct).join(' / ')} | ${r.lost} of ${r.sent} | ${r.files - r.filesWithLoss} / ${r.files} | ${r.invalid}, ${r.frameMismatch} | ${r.durationOff}, ${r.maxDurationErrorMs} | ${r.nodes.map((x) => x.workerLoopP99Ms.join(', ')).join('; ')} | ${r.startHttpMs.p95} | ${r.stopMs.p95} | ${r.redisCommandsPerSecond} | ${r.machineBusyPct} |`,
  ),
].join('\n');
process.stdout.write(`${table}\n`);
for (const r of rows) if (r.problems.length) log(`N=${r.n} problems: ${r.problems.join('; ')}`);
