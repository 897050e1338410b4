/**
 * The benchmark scenarios. Each starts its own server, bounds itself in time and stops by itself.
 *
 * - `runLoad`: N publishers in meetings of M, first forwarding only (measured window), then the same
 *   publishers with a track recording of every meeting (second window), so the ratio of the two
 *   server CPU figures is the recording overhead at identical load. Then stop → UPLOADED latency of
 *   those (long, loaded) recordings and a correctness check of every file.
 * - `runStartStop`: one meeting of M publishers; repeated start/stop cycles timing the file on disk.
 */
import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ffprobe } from '@trackroom/recorder/testing';
import { LoadGenerator, type GeneratorKind, type LoadGeneratorReady } from './load.js';
import { cpuPercent, readSystemCpu, systemBusyPercent } from './support/proc-stat.js';
import { readTreeCpu } from './support/proc-tree.js';
import { api, freePort, startServer, type ServerProcess } from '@trackroom/e2e/support';

/** Tolerance of the duration checks (ms). */
export const DURATION_TOLERANCE_MS = 40;
/** The generator is called the bottleneck above this share of one core or this event-loop p99. */
export const GENERATOR_CPU_LIMIT_PCT = 85;
export const GENERATOR_LAG_LIMIT_MS = 20;

interface SfuCounters {
  rtpReceived: number;
  rtpForwarded: number;
  peers: number;
  publishConnections: number;
  subscriptions: number;
}

/** One media worker's figures in `/v1/stats` (MEDIA_WORKERS=N); the field names vary by version. */
interface WorkerStats {
  event_loop_delay_ms?: number | { p99?: number };
  eventLoopP99Ms?: number;
  /** The server's media workers report their event-loop p99 in their load (`media.workers[].load`). */
  load?: { eventLoopP99Ms?: number };
  sfu?: Partial<SfuCounters>;
}

export interface ServerStats {
  rss_bytes: number;
  heap?: { used_bytes: number; total_bytes: number; array_buffers_bytes: number };
  event_loop_delay_ms: { p50: number; p99: number; max: number };
  media: {
    sfu?: SfuCounters;
    active_track_recordings: number;
    workers?: WorkerStats[];
  };
  workers?: WorkerStats[];
}

/** The media workers' list, wherever this server version puts it (absent: one process). */
const workersOf = (s: ServerStats): WorkerStats[] | undefined =>
  Array.isArray(s.workers) ? s.workers : Array.isArray(s.media.workers) ? s.media.workers : undefined;

/** A worker's event-loop p99 (ms), from either field name; undefined when it gives neither. */
export function workerEventLoopP99(w: WorkerStats): number | undefined {
  const e = w.event_loop_delay_ms;
  if (typeof e === 'number') return e;
  if (e && typeof e.p99 === 'number') return e.p99;
  if (typeof w.eventLoopP99Ms === 'number') return w.eventLoopP99Ms;
  return typeof w.load?.eventLoopP99Ms === 'number' ? w.load.eventLoopP99Ms : undefined;
}

/** SFU counters: the server's own, or summed over its workers when it only reports them per worker. */
export function sfuOf(s: ServerStats): SfuCounters {
  if (s.media.sfu) return s.media.sfu;
  const ws = workersOf(s) ?? [];
  const sum = (k: keyof SfuCounters) => ws.reduce((a, w) => a + (w.sfu?.[k] ?? 0), 0);
  return {
    rtpReceived: sum('rtpReceived'),
    rtpForwarded: sum('rtpForwarded'),
    peers: sum('peers'),
    publishConnections: sum('publishConnections'),
    subscriptions: sum('subscriptions'),
  };
}

export interface WindowMetrics {
  seconds: number;
  /**
   * The server process and all its descendants (all threads; MEDIA_WORKERS child processes
   * included), as % of one core, from /proc/<pid>/stat.
   */
  serverCpuPct: number;
  /** Processes in the server's tree at the window's end (1 without media workers). */
  serverProcesses?: number;
  /** Per media worker event-loop p99 (ms), when `/v1/stats` lists workers. */
  workerEventLoopP99Ms?: number[];
  /** Σ RSS over the server's process tree (MB); equals rssMb for one process. */
  treeRssMb?: number;
  /** The load generator processes together, same measure (may exceed 100 with several workers). */
  generatorCpuPct: number;
  /** The busiest generator process, % of one core (each is one event loop). */
  generatorMaxWorkerCpuPct?: number;
  generatorEventLoopP99Ms: number;
  /** Whole machine busy share (all cores, includes other people's work on a shared box). */
  machineBusyPct: number;
  eventLoopP50Ms: number;
  eventLoopP99Ms: number;
  eventLoopMaxMs: number;
  rssMb: number;
  /** The main process's V8 heap at the window's end (MB): used, reserved, and ArrayBuffer memory. */
  heapMb?: { used: number; total: number; arrayBuffers: number };
  /** Packets the publishers handed to their WebRTC stack during the window. */
  sent: number;
  /** Server rtpReceived over the window (window edges are read ~ms apart: approximate). */
  rtpReceived: number;
  rtpForwarded: number;
  /** Packets the subscribers received during the window (fan-out; approximate like rtpReceived). */
  subscriberReceived?: number;
  activeTrackRecordings: number;
  /** Generator at ≥ GENERATOR_CPU_LIMIT_PCT of a core: the generator, not the server, limits N. */
  generatorBound: boolean;
  /** Generator event-loop p99 > GENERATOR_LAG_LIMIT_MS: packets went out in bursts, not at pace. */
  generatorLagging: boolean;
}

export interface FileCheck {
  file: string;
  valid: boolean;
  problems: string[];
  durationMs: number;
  ffprobeDurationMs: number;
  received: number;
  lost: number;
}

export interface CorrectnessResult {
  files: number;
  /** Files that do not ffprobe as Opus 48 kHz with a finite duration. */
  invalid: number;
  /**
   * frames_written - frames_filled != received - duplicated - late - invalid - ignored - overlapped - after_stop.
   * Packets after the stop point (the timeline's droppedAfterEnd) are not in the manifest, so a
   * mismatch of a few frames at stop is unaccounted packets, not necessarily lost audio.
   */
  frameMismatch: number;
  /** ffprobe vs manifest, or file end vs stop - t0, more than DURATION_TOLERANCE_MS apart. */
  durationOff: number;
  manifestReceived: number;
  manifestLost: number;
  /** Files whose manifest counts any lost packet. */
  filesWithLoss?: number;
  maxDurationErrorMs: number;
  problems: string[];
}

export interface LatencySummary {
  count: number;
  p50: number;
  p95: number;
  max: number;
}

export interface LoadResult {
  n: number;
  m: number;
  meetings: number;
  connect: LoadGeneratorReady;
  /** Generator processes and whether the server used the ICE UDP mux (one port). */
  workers?: number;
  /** The publishers' WebRTC stack (absent in results from before it was selectable: werift). */
  generator?: GeneratorKind;
  udpMux?: boolean;
  /**
   * Fan-out: every publisher subscribed to the others of its meeting. Absent/false: ingest only
   * (nothing forwarded).
   */
  fanout?: boolean;
  /** Fan-out: subscriptions expected (Σ k(k-1) over meetings), up before playing, and failed. */
  subscriptions?: { expected: number; up: number; failed: number; waitMs: number };
  /** The forward and record windows with the median server CPU of their kind. */
  forward: WindowMetrics;
  record: WindowMetrics;
  /** Every window in order: forward, record, forward, record, ..., forward (ABAB...A). */
  windows?: { scenario: 'forward' | 'record'; w: WindowMetrics }[];
  /**
   * Median over the record windows of record CPU / mean(forward window before, forward window after)
   * - 1, in %; the min and max of those ratios are the spread. One pair: record / forward - 1.
   */
  recordingOverheadPct: number;
  overheadSpreadPct?: { min: number; max: number; n: number };
  /** Over the whole run, after the publishers stopped: exact counts. */
  totalSent: number;
  /**
   * Packets the generator's stack refused to send (node-datachannel's track not open, or a send
   * error): they never left the generator, so they are not in totalSent and not server loss.
   */
  totalRefused?: number;
  totalRtpReceived: number;
  totalLossPct: number;
  /**
   * Fan-out, exact over the whole run: the SFU's rtpForwarded, what the subscribers received, the
   * loss between the two, and up subscriptions that received nothing at all.
   */
  totalRtpForwarded?: number;
  totalSubscriberReceived?: number;
  forwardLossPct?: number;
  silentSubscriptions?: number;
  /** PUT stop → UPLOADED for the recordings of this run (files of `seconds` + warm-up, under load). */
  stopLatencyMs: LatencySummary;
  /** Every meeting's recording started at once, under load: POST /recordings/track → 200. */
  startHttpMs?: LatencySummary;
  /** The same starts: POST → every track file of that recording has bytes (its header) on disk. */
  startFileMs?: LatencySummary;
  /** MEDIA_WORKERS given to the server (undefined: not set, the server's default). */
  mediaWorkers?: number;
  /** Most processes seen in the server's tree during the windows. */
  serverProcesses?: number;
  correctness: CorrectnessResult;
}

export interface StartStopResult {
  m: number;
  cycles: number;
  /** POST /recordings/track → 200. */
  startHttpMs: LatencySummary;
  /** POST → first .webm in the recording directory with bytes on disk (EBML header written). */
  startFileMs: LatencySummary;
  /** POST → that file grows past its first size: first cluster (first audio) flushed. */
  firstClusterMs: LatencySummary;
  headerBytes: number;
  /** PUT stop → GET shows UPLOADED (files of ~recordMs). */
  stopUploadedMs: LatencySummary;
  recordMs: number;
  correctness: CorrectnessResult;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function summarize(values: number[]): LatencySummary {
  const s = [...values].sort((a, b) => a - b);
  const q = (p: number) =>
    s.length ? (s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] ?? NaN) : NaN;
  return { count: s.length, p50: round(q(50)), p95: round(q(95)), max: round(s[s.length - 1] ?? NaN) };
}

export const round = (v: number, d = 1) => Math.round(v * 10 ** d) / 10 ** d;

export async function stats(server: ServerProcess, reset: boolean): Promise<ServerStats> {
  const res = await fetch(`${server.baseUrl}/v1/stats${reset ? '?reset=1' : ''}`, {
    headers: { authorization: `Bearer ${server.token}` },
  });
  if (res.status !== 200) throw new Error(`/v1/stats: ${res.status}`);
  return ((await res.json()) as { data: ServerStats }).data;
}

export type Call = ReturnType<typeof api>;

export async function createMeetings(
  call: Call,
  n: number,
  m: number,
): Promise<{ ids: string[]; tokens: string[] }> {
  const ids: string[] = [];
  const tokens: string[] = [];
  for (let k = 0; k * m < n; k++) {
    const meeting = await call<{ data: { id: string } }>('POST', '/meetings', { title: `bench ${k}` });
    if (meeting.status !== 201) throw new Error(`create meeting: ${meeting.status}`);
    ids.push(meeting.json.data.id);
    for (let j = 0; j < m && k * m + j < n; j++) {
      const p = await call<{ data: { token: string } }>(
        'POST',
        `/meetings/${meeting.json.data.id}/participants`,
        {
          custom_participant_id: `p${k}-${j}`,
          preset_name: 'group_call_host',
          name: `p${k}-${j}`,
        },
      );
      if (p.status !== 201) throw new Error(`add participant: ${p.status}`);
      tokens.push(p.json.data.token);
    }
  }
  return { ids, tokens };
}

async function measureWindow(
  server: ServerProcess,
  gen: LoadGenerator,
  seconds: number,
): Promise<WindowMetrics> {
  const pid = server.proc.pid!;
  const s0 = await stats(server, true);
  const g0 = await gen.sample();
  const c0 = readTreeCpu(pid);
  const gc0 = gen.cpus();
  const m0 = readSystemCpu();
  await sleep(seconds * 1000);
  const c1 = readTreeCpu(pid);
  const gc1 = gen.cpus();
  const m1 = readSystemCpu();
  const g1 = await gen.sample();
  const s1 = await stats(server, true);
  const perWorker = gc0.map((a, i) => cpuPercent(a, gc1[i]!));
  const generatorCpuPct = perWorker.reduce((a, b) => a + b, 0);
  const maxWorker = Math.max(...perWorker);
  const a = sfuOf(s0);
  const b = sfuOf(s1);
  const workerLag = workersOf(s1)
    ?.map(workerEventLoopP99)
    .filter((v): v is number => v !== undefined)
    .map((v) => round(v, 2));
  return {
    seconds,
    serverCpuPct: round(cpuPercent(c0, c1)),
    serverProcesses: c1.pids.length,
    ...(workerLag?.length ? { workerEventLoopP99Ms: workerLag } : {}),
    treeRssMb: round(c1.rssMb),
    generatorCpuPct: round(generatorCpuPct),
    generatorMaxWorkerCpuPct: round(maxWorker),
    generatorEventLoopP99Ms: round(g1.eventLoopP99Ms),
    machineBusyPct: round(systemBusyPercent(m0, m1)),
    eventLoopP50Ms: round(s1.event_loop_delay_ms.p50, 2),
    eventLoopP99Ms: round(s1.event_loop_delay_ms.p99, 2),
    eventLoopMaxMs: round(s1.event_loop_delay_ms.max, 2),
    rssMb: round(s1.rss_bytes / 2 ** 20),
    ...(s1.heap
      ? {
          heapMb: {
            used: round(s1.heap.used_bytes / 2 ** 20),
            total: round(s1.heap.total_bytes / 2 ** 20),
            arrayBuffers: round(s1.heap.array_buffers_bytes / 2 ** 20),
          },
        }
      : {}),
    sent: g1.sent - g0.sent,
    rtpReceived: b.rtpReceived - a.rtpReceived,
    rtpForwarded: b.rtpForwarded - a.rtpForwarded,
    subscriberReceived: g1.received - g0.received,
    activeTrackRecordings: s1.media.active_track_recordings,
    generatorBound: maxWorker >= GENERATOR_CPU_LIMIT_PCT,
    generatorLagging: g1.eventLoopP99Ms > GENERATOR_LAG_LIMIT_MS,
  };
}

export interface RecordingView {
  status: string;
  download_url?: { download_urls: Record<string, { download_url: string }> }[] | null;
}

async function waitUploaded(call: Call, id: string, timeoutMs = 60_000): Promise<RecordingView> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const r = await call<{ data: RecordingView }>('GET', `/recordings/${id}`);
    if (r.json.data.status === 'UPLOADED') return r.json.data;
    if (r.json.data.status === 'ERRORED') throw new Error(`recording ${id} ERRORED`);
    if (Date.now() > end) throw new Error(`recording ${id} not UPLOADED within ${timeoutMs} ms`);
    await sleep(10);
  }
}

/**
 * Waits for many recordings at once with one list request per 10 ms (not one GET per recording per
 * 10 ms, which at 100 recordings is thousands of requests a second: load on the server under test,
 * and it slowed the very stops being timed). Resolves with when each was first seen UPLOADED.
 */
export async function waitAllUploaded(
  call: Call,
  ids: string[],
  timeoutMs = 60_000,
): Promise<Map<string, { at: number; view: RecordingView }>> {
  const pending = new Set(ids);
  const seen = new Map<string, number>();
  const end = Date.now() + timeoutMs;
  while (pending.size > 0) {
    // Page through the finished ones, newest first: a run can finish more than one page's worth
    // (120 meetings at N=600), and an earlier window's recordings sort among them.
    const now = performance.now();
    for (let page = 1; pending.size > 0; page++) {
      const r = await call<{ data: { id: string; status: string }[] }>(
        'GET',
        `/recordings?status=UPLOADED&status=ERRORED&per_page=100&page_no=${page}&sort_order=DESC`,
      );
      if (r.status !== 200) throw new Error(`list recordings: ${r.status} ${JSON.stringify(r.json)}`);
      for (const row of r.json.data) {
        if (!pending.has(row.id)) continue;
        if (row.status === 'ERRORED') throw new Error(`recording ${row.id} ERRORED`);
        pending.delete(row.id);
        seen.set(row.id, now);
      }
      if (r.json.data.length < 100 || page * 100 >= ids.length + 200) break;
    }
    if (pending.size === 0) break;
    if (Date.now() > end) throw new Error(`${pending.size} recordings not UPLOADED within ${timeoutMs} ms`);
    await sleep(10);
  }
  const out = new Map<string, { at: number; view: RecordingView }>();
  for (const id of ids) {
    const v = await call<{ data: RecordingView }>('GET', `/recordings/${id}`);
    out.set(id, { at: seen.get(id)!, view: v.json.data });
  }
  return out;
}

interface ManifestFile {
  file_name: string;
  file_start_ms: number;
  duration_ms: number;
  frames_written: number;
  frames_filled: number;
  packets: {
    received: number;
    lost: number;
    duplicated: number;
    late: number;
    invalid: number;
    ignored: number;
    overlapped?: number;
    after_stop?: number;
  };
}

/** Reads the manifest through its signed link and checks every file on the server's disk. */
export async function checkRecording(
  server: ServerProcess,
  rec: RecordingView,
  id: string,
  into: CorrectnessResult,
) {
  const links = rec.download_url?.[0]?.download_urls ?? {};
  const manifestUrl = links['manifest.json']?.download_url;
  if (!manifestUrl) {
    into.problems.push(`${id}: no manifest link`);
    into.invalid++;
    return;
  }
  const manifest = (await (await fetch(manifestUrl)).json()) as {
    t0_ms: number;
    stop_ms: number;
    files: ManifestFile[];
  };
  const span = manifest.stop_ms - manifest.t0_ms;
  for (const f of manifest.files) {
    into.files++;
    into.manifestReceived += f.packets.received;
    into.manifestLost += f.packets.lost;
    if (f.packets.lost > 0) into.filesWithLoss = (into.filesWithLoss ?? 0) + 1;
    const path = join(server.dataDir, 'recordings', id, f.file_name);
    let probeMs = NaN;
    try {
      const p = ffprobe(path);
      probeMs = p.durationSec * 1000;
      if (p.codecName !== 'opus' || p.sampleRate !== 48000 || !Number.isFinite(probeMs)) {
        into.invalid++;
        into.problems.push(`${f.file_name}: ${p.codecName} ${p.sampleRate} Hz duration ${p.durationSec}`);
      }
    } catch (err) {
      into.invalid++;
      into.problems.push(`${f.file_name}: ${String(err)}`);
    }
    const p = f.packets;
    const real = f.frames_written - f.frames_filled;
    const expected =
      p.received - p.duplicated - p.late - p.invalid - p.ignored - (p.overlapped ?? 0) - (p.after_stop ?? 0);
    if (real !== expected) {
      into.frameMismatch++;
      if (into.problems.length < 20)
        into.problems.push(`${f.file_name}: real frames ${real} vs received-derived ${expected}`);
    }
    const err = Math.max(
      Number.isFinite(probeMs) ? Math.abs(probeMs - f.duration_ms) : Infinity,
      Math.abs(f.file_start_ms + f.duration_ms - span),
    );
    into.maxDurationErrorMs = round(Math.max(into.maxDurationErrorMs, err));
    if (err > DURATION_TOLERANCE_MS) {
      into.durationOff++;
      if (into.problems.length < 20)
        into.problems.push(
          `${f.file_name}: ffprobe ${round(probeMs)} ms, manifest ${f.duration_ms} ms from ${f.file_start_ms}, stop - t0 ${span} ms`,
        );
    }
  }
}

export const emptyCorrectness = (): CorrectnessResult => ({
  files: 0,
  invalid: 0,
  frameMismatch: 0,
  durationOff: 0,
  manifestReceived: 0,
  manifestLost: 0,
  filesWithLoss: 0,
  maxDurationErrorMs: 0,
  problems: [],
});

export interface LoadOptions {
  n: number;
  m: number;
  seconds: number;
  log: (s: string) => void;
  /** Record windows, each bracketed by forward windows. Default 1. */
  pairs?: number;
  /** Generator processes. Default 1. */
  workers?: number;
  /** Start the server with RTC_UDP_MUX_PORT (ICE UDP mux on one port). Default false. */
  udpMux?: boolean;
  /** Write a V8 CPU profile of the server (--cpu-prof) into this directory. */
  cpuProfDir?: string;
  /** Every publisher subscribes to the others of its meeting. Default false (ingest only). */
  fanout?: boolean;
  /** MEDIA_WORKERS for the server (its CPU is always summed over the whole process tree). */
  mediaWorkers?: number;
  /** The publishers' WebRTC stack. Default `ndc` (node-datachannel). */
  generator?: GeneratorKind;
}

export const median = (v: number[]) => {
  const s = [...v].sort((a, b) => a - b);
  const k = Math.floor(s.length / 2);
  return s.length % 2 ? s[k]! : (s[k - 1]! + s[k]!) / 2;
};

/** The window with the median server CPU (lower median for an even count). */
const medianWindow = (ws: WindowMetrics[]) =>
  [...ws].sort((a, b) => a.serverCpuPct - b.serverCpuPct)[Math.floor((ws.length - 1) / 2)]!;

export async function runLoad(o: LoadOptions): Promise<LoadResult> {
  const pairs = Math.max(1, o.pairs ?? 1);
  const workers = Math.max(1, o.workers ?? 1);
  const env: Record<string, string> = { LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'warn' };
  // Any free port will do: everything is on 127.0.0.1 inside the benchmark's network namespace.
  env.RTC_UDP_MUX_PORT = o.udpMux ? String(await freePort()) : 'off';
  // A server that does not know MEDIA_WORKERS ignores it: then its tree is one process.
  if (o.mediaWorkers !== undefined) env.MEDIA_WORKERS = String(o.mediaWorkers);
  const spawnedAt = performance.now();
  // Seconds since the server was spawned: lines up windows with its --cpu-prof timeline.
  const at = () => round((performance.now() - spawnedAt) / 1000);
  const server = await startServer({
    env,
    ...(o.cpuProfDir ? { nodeArgs: ['--cpu-prof', '--cpu-prof-dir', o.cpuProfDir] } : {}),
  });
  const work = mkdtempSync(join(tmpdir(), 'trackroom-bench-load-'));
  let gen: LoadGenerator | undefined;
  const serverGone = () =>
    server.proc.exitCode !== null || server.proc.signalCode !== null
      ? `; the server exited (${server.proc.exitCode ?? server.proc.signalCode}): ${server.output().slice(-1500)}`
      : '';
  try {
    const call = api(server);
    const { ids, tokens } = await createMeetings(call, o.n, o.m);
    o.log(`  n=${o.n}: ${ids.length} meetings; connecting publishers (${workers} generator process(es))`);
    const [g, connect] = await LoadGenerator.start({
      wsUrl: server.wsUrl,
      tokens,
      workDir: work,
      connectConcurrency: Math.max(2, Math.ceil(8 / workers)),
      workers,
      fanout: Boolean(o.fanout),
      generator: o.generator ?? 'ndc',
    });
    gen = g;
    o.log(
      `  n=${o.n}: ${connect.connected} connected, ${connect.failed} failed (${connect.retried ?? 0} retried) in ${Math.round(connect.connectMs)} ms${connect.errors.length ? ` (${connect.errors.join('; ')})` : ''}`,
    );
    let subscriptions: LoadResult['subscriptions'];
    if (o.fanout) {
      // Everyone subscribed before anything plays: Σ k(k-1) over the meetings.
      let expected = 0;
      for (let k = 0; k * o.m < o.n; k++) {
        const size = Math.min(o.m, o.n - k * o.m);
        expected += size * (size - 1);
      }
      const t = performance.now();
      let s = await gen.sample();
      while (s.subscriptions + s.subscribeFailures < expected && performance.now() - t < 60_000) {
        await sleep(250);
        s = await gen.sample();
      }
      subscriptions = {
        expected,
        up: s.subscriptions,
        failed: s.subscribeFailures,
        waitMs: round(performance.now() - t, 0),
      };
      o.log(
        `  n=${o.n}: fan-out: ${s.subscriptions} of ${expected} subscriptions up, ${s.subscribeFailures} failed (waited ${subscriptions.waitMs} ms)`,
      );
      if (s.subscriptions < expected * 0.95)
        throw new Error(
          `fan-out: only ${s.subscriptions} of ${expected} subscriptions up (${s.subscribeFailures} failed)${serverGone()}`,
        );
    }
    await gen.play();
    await sleep(1000);
    // Media must flow before anything is measured: a run whose connections carry nothing is a failure,
    // not a low CPU figure.
    {
      const a = await stats(server, false);
      await sleep(1000);
      const b = await stats(server, false);
      const rate = sfuOf(b).rtpReceived - sfuOf(a).rtpReceived;
      const expected = connect.connected * 50;
      if (rate < expected * 0.8)
        throw new Error(
          `media not flowing: ${rate} packets/s at the server for ${connect.connected} connected publishers (expected ≈${expected}); ${sfuOf(b).peers} peers, ${sfuOf(b).publishConnections} publish connections${serverGone()}`,
        );
      if (o.fanout) {
        const fwd = sfuOf(b).rtpForwarded - sfuOf(a).rtpForwarded;
        const want = sfuOf(b).subscriptions * 50;
        if (fwd < want * 0.8)
          throw new Error(
            `fan-out not flowing: ${fwd} packets/s forwarded for ${sfuOf(b).subscriptions} subscriptions (expected ≈${want})${serverGone()}`,
          );
      }
    }

    const windows: { scenario: 'forward' | 'record'; w: WindowMetrics }[] = [];
    const stopLatencies: number[] = [];
    const startHttp: number[] = [];
    const startFile: number[] = [];
    const correctness = emptyCorrectness();
    const forwardWindow = async () => {
      const from = at();
      const w = await measureWindow(server, gen!, o.seconds);
      windows.push({ scenario: 'forward', w });
      o.log(
        `  n=${o.n}: forward server ${w.serverCpuPct}% generator ${w.generatorCpuPct}% event-loop p99 ${w.eventLoopP99Ms} ms${o.fanout ? ` forwarded ${w.rtpForwarded} received ${w.subscriberReceived}` : ''} (${from}-${at()} s)`,
      );
    };
    await forwardWindow();
    for (let k = 0; k < pairs; k++) {
      // Every meeting's recording started at once (as a control plane starting many would).
      const recs = await Promise.all(
        ids.map(async (id, i) => {
          const t = performance.now();
          const r = await call<{ data: { recording: { id: string; status: string } } }>(
            'POST',
            '/recordings/track',
            { meeting_id: id },
          );
          if (r.status !== 200) throw new Error(`start recording: ${r.status} ${JSON.stringify(r.json)}`);
          if (r.json.data.recording.status === 'ERRORED')
            throw new Error(`start recording: ERRORED ${JSON.stringify(r.json.data.recording)}`);
          startHttp.push(performance.now() - t);
          const tracks = Math.min(o.m, o.n - i * o.m);
          return { id: r.json.data.recording.id, t, tracks };
        }),
      );
      for (const ms of await headersOnDisk(server, recs)) startFile.push(ms);
      await sleep(1000);
      const from = at();
      const w = await measureWindow(server, gen, o.seconds);
      windows.push({ scenario: 'record', w });
      o.log(
        `  n=${o.n}: record server ${w.serverCpuPct}% generator ${w.generatorCpuPct}% event-loop p99 ${w.eventLoopP99Ms} ms${o.fanout ? ` forwarded ${w.rtpForwarded} received ${w.subscriberReceived}` : ''} (${from}-${at()} s)`,
      );
      const stopAt = new Map<string, number>();
      await Promise.all(
        recs.map(async ({ id }) => {
          const t = performance.now();
          stopAt.set(id, t);
          const r = await call('PUT', `/recordings/${id}`, { action: 'stop' });
          if (r.status !== 200) {
            // Say why: a 409 means the recording had already ended (ERRORED at start, or stopped
            // when every peer left), which is itself the finding.
            const cur = await call<{
              data: RecordingView & { stop_reason?: unknown; error_reason?: unknown };
            }>('GET', `/recordings/${id}`).catch(() => undefined);
            const d = cur?.json.data;
            throw new Error(
              `stop recording: ${r.status} ${JSON.stringify(r.json)}; recording status ${d?.status} stop_reason ${JSON.stringify(d?.stop_reason)} error_reason ${JSON.stringify(d?.error_reason)}${serverGone()}`,
            );
          }
        }),
      );
      const uploaded = await waitAllUploaded(
        call,
        recs.map((r) => r.id),
      );
      const stopped = recs.map(({ id }) => ({
        id,
        ms: uploaded.get(id)!.at - stopAt.get(id)!,
        view: uploaded.get(id)!.view,
      }));
      for (const x of stopped) stopLatencies.push(x.ms);
      // Every file is ffprobed; once per size (the last pair) keeps a run within minutes.
      if (k === pairs - 1) for (const x of stopped) await checkRecording(server, x.view, x.id, correctness);
      await sleep(1000);
      await forwardWindow();
    }
    const final = await gen.stopPlaying();
    await sleep(300);
    const end = await stats(server, false);
    // Subscribers counted after the server's last forward (the stopped sample can be a little early).
    const after = o.fanout ? await gen.sample() : final;
    await gen.close();
    gen = undefined;

    const fw = windows.filter((x) => x.scenario === 'forward').map((x) => x.w);
    const rw = windows.filter((x) => x.scenario === 'record').map((x) => x.w);
    const ratios = rw.map(
      (r, i) => (r.serverCpuPct / ((fw[i]!.serverCpuPct + fw[i + 1]!.serverCpuPct) / 2) - 1) * 100,
    );
    const totalRtpReceived = sfuOf(end).rtpReceived;
    const totalRtpForwarded = sfuOf(end).rtpForwarded;
    return {
      n: o.n,
      m: o.m,
      meetings: ids.length,
      connect,
      workers,
      generator: o.generator ?? 'ndc',
      udpMux: Boolean(o.udpMux),
      fanout: Boolean(o.fanout),
      ...(subscriptions ? { subscriptions } : {}),
      forward: medianWindow(fw),
      record: medianWindow(rw),
      windows,
      recordingOverheadPct: round(median(ratios)),
      overheadSpreadPct: {
        min: round(Math.min(...ratios)),
        max: round(Math.max(...ratios)),
        n: ratios.length,
      },
      totalSent: final.sent,
      totalRefused: final.refused,
      totalRtpReceived,
      totalLossPct: final.sent > 0 ? round(((final.sent - totalRtpReceived) / final.sent) * 100, 3) : 0,
      ...(o.fanout
        ? {
            totalRtpForwarded,
            totalSubscriberReceived: after.received,
            forwardLossPct:
              totalRtpForwarded > 0
                ? round(((totalRtpForwarded - after.received) / totalRtpForwarded) * 100, 3)
                : 0,
            silentSubscriptions: after.silentSubscriptions,
          }
        : {}),
      stopLatencyMs: summarize(stopLatencies),
      startHttpMs: summarize(startHttp),
      startFileMs: summarize(startFile),
      ...(o.mediaWorkers !== undefined ? { mediaWorkers: o.mediaWorkers } : {}),
      serverProcesses: Math.max(...windows.map((x) => x.w.serverProcesses ?? 1)),
      correctness,
    };
  } catch (err) {
    throw new Error(`${String(err)}${String(err).includes('the server exited') ? '' : serverGone()}`);
  } finally {
    await gen?.close();
    await server.stop();
    // The server's own log (LOG_LEVEL from BENCH_LOG_LEVEL, default warn) is kept for diagnosis.
    const logFile = join(work, 'server.log');
    writeFileSync(logFile, server.output());
    o.log(`  n=${o.n}: server log ${logFile}`);
  }
}

/**
 * For recordings started at `t` (performance.now() when the POST was sent): resolves with, per
 * recording, the ms from that POST until the last of its `tracks` files had its header on disk.
 * The instant is read from the file, not from when this poll saw it, so a poll that starts only once
 * every POST has answered still measures each file: the modification time while the file holds no
 * more than its header (under HEADER_ONLY_BYTES, which no 2 s cluster fits in), else its birth time
 * (statx; the header write follows the create in the same open, so this is at most that write early).
 */
export async function headersOnDisk(
  server: ServerProcess,
  recs: { id: string; t: number; tracks: number }[],
  timeoutMs = 20_000,
): Promise<number[]> {
  const HEADER_ONLY_BYTES = 1000;
  // performance.now() → wall-clock ms, the clock of file times.
  const toWall = Date.now() - performance.now();
  const pending = new Map(recs.map((r) => [r.id, r]));
  const out: number[] = [];
  const since = performance.now();
  while (pending.size > 0) {
    for (const r of [...pending.values()]) {
      const dir = join(server.dataDir, 'recordings', r.id);
      let ready = 0;
      let last = 0;
      try {
        for (const f of readdirSync(dir)) {
          if (!f.endsWith('.webm')) continue;
          const st = statSync(join(dir, f));
          if (st.size === 0) continue;
          ready++;
          const at = st.size < HEADER_ONLY_BYTES ? st.mtimeMs : st.birthtimeMs || st.mtimeMs;
          last = Math.max(last, at);
        }
      } catch {
        // Not made yet.
      }
      if (ready >= r.tracks) {
        out.push(Math.max(0, last - (r.t + toWall)));
        pending.delete(r.id);
      }
    }
    if (pending.size === 0) break;
    if (performance.now() - since > timeoutMs)
      throw new Error(`${pending.size} recordings without every file's header on disk in ${timeoutMs} ms`);
    await sleep(5);
  }
  return out;
}

export interface StartStopOptions {
  m: number;
  cycles: number;
  /** How long each recording runs after its first cluster is on disk (ms). */
  holdMs: number;
  log: (s: string) => void;
  /** Default `ndc`. */
  generator?: GeneratorKind;
}

/** Polls `dir` every ~2 ms; resolves with the first .webm and its first non-zero size. */
async function firstFile(
  dir: string,
  since: number,
  timeoutMs = 10_000,
): Promise<{ name: string; size: number; at: number }> {
  for (;;) {
    let names: string[] = [];
    try {
      names = readdirSync(dir).filter((f) => f.endsWith('.webm'));
    } catch {
      // The directory is made when the recording starts; not there yet.
    }
    for (const name of names) {
      const size = statSync(join(dir, name)).size;
      if (size > 0) return { name, size, at: performance.now() };
    }
    if (performance.now() - since > timeoutMs) throw new Error(`no .webm in ${dir} within ${timeoutMs} ms`);
    await sleep(2);
  }
}

async function grows(path: string, from: number, since: number, timeoutMs = 10_000): Promise<number> {
  for (;;) {
    if (statSync(path).size > from) return performance.now();
    if (performance.now() - since > timeoutMs) throw new Error(`${path} did not grow within ${timeoutMs} ms`);
    await sleep(2);
  }
}

export async function runStartStop(o: StartStopOptions): Promise<StartStopResult> {
  const server = await startServer({ env: { LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'warn' } });
  const work = mkdtempSync(join(tmpdir(), 'trackroom-bench-ss-'));
  let gen: LoadGenerator | undefined;
  try {
    const call = api(server);
    const { ids, tokens } = await createMeetings(call, o.m, o.m);
    const [g] = await LoadGenerator.start({
      wsUrl: server.wsUrl,
      tokens,
      workDir: work,
      connectConcurrency: 4,
      generator: o.generator ?? 'ndc',
    });
    gen = g;
    await gen.play();
    await sleep(1000);
    const http: number[] = [];
    const file: number[] = [];
    const cluster: number[] = [];
    const stop: number[] = [];
    const recMs: number[] = [];
    let headerBytes = 0;
    const correctness = emptyCorrectness();
    for (let c = 0; c < o.cycles; c++) {
      const t = performance.now();
      const r = await call<{ data: { recording: { id: string } } }>('POST', '/recordings/track', {
        meeting_id: ids[0],
      });
      if (r.status !== 200) throw new Error(`start recording: ${r.status} ${JSON.stringify(r.json)}`);
      http.push(performance.now() - t);
      const id = r.json.data.recording.id;
      const dir = join(server.dataDir, 'recordings', id);
      const f = await firstFile(dir, t);
      file.push(f.at - t);
      headerBytes = f.size;
      const grew = await grows(join(dir, f.name), f.size, t);
      cluster.push(grew - t);
      await sleep(o.holdMs);
      const ts = performance.now();
      const s = await call('PUT', `/recordings/${id}`, { action: 'stop' });
      if (s.status !== 200) throw new Error(`stop recording: ${s.status}`);
      const view = await waitUploaded(call, id);
      const stopMs = performance.now() - ts;
      stop.push(stopMs);
      recMs.push(ts - t);
      await checkRecording(server, view, id, correctness);
      o.log(
        `  cycle ${c + 1}/${o.cycles}: file ${round(f.at - t)} ms, cluster ${round(grew - t)} ms, stop→UPLOADED ${round(stopMs)} ms`,
      );
    }
    return {
      m: o.m,
      cycles: o.cycles,
      startHttpMs: summarize(http),
      startFileMs: summarize(file),
      firstClusterMs: summarize(cluster),
      headerBytes,
      stopUploadedMs: summarize(stop),
      recordMs: round(recMs.reduce((a, b) => a + b, 0) / Math.max(1, recMs.length), 0),
      correctness,
    };
  } finally {
    await gen?.close();
    await server.stop();
  }
}

/** Machine facts for the report. */
export function machineInfo(): {
  nproc: number;
  cpuModel: string;
  node: string;
  date: string;
  kernel: string;
} {
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  const model = /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim() ?? 'unknown';
  const nproc = cpuinfo.split('\n').filter((l) => l.startsWith('processor')).length;
  let kernel = 'unknown';
  try {
    kernel = readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim();
  } catch {
    // Not Linux-like /proc: leave unknown.
  }
  return { nproc, cpuModel: model, node: process.version, date: new Date().toISOString(), kernel };
}
