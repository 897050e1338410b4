/**
 * trackroom and Janus side by side (issue 14): the same werift publishers (Opus 20 ms, meetings of
 * M, ingest only) against both servers, started together and measured in alternating windows so
 * that load from other work on the shared machine falls on both alike:
 *
 *   for each pair: trackroom forward, trackroom record, Janus forward, Janus record; then one last
 *   forward window each (per server: F R F R ... F, interleaved with the other's windows).
 *
 * Only the server whose window it is has publishers sending; the other's publishers stay connected
 * and silent (its idle CPU is reported beside). Recording on means every publisher recorded:
 * trackroom a track recording of every meeting, Janus `enable_recording` on every room.
 */
import { readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { api, freePort, startServer, type ServerProcess } from '@trackroom/e2e/support';
import { JanusSession } from './janus/janus-api.js';
import { startJanus, type JanusProcess } from './janus/janus-process.js';
import { JanusRooms } from './janus/janus-rooms.js';
import { mjrPackets, toOpus } from './janus/janus-files.js';
import { LoadGenerator, type GeneratorKind, type LoadGeneratorReady } from './load.js';
import {
  checkRecording,
  createMeetings,
  emptyCorrectness,
  GENERATOR_CPU_LIMIT_PCT,
  GENERATOR_LAG_LIMIT_MS,
  headersOnDisk,
  median,
  round,
  sfuOf,
  sleep,
  stats,
  summarize,
  waitAllUploaded,
  type CorrectnessResult,
  type LatencySummary,
} from './scenarios.js';
import { ffprobe } from '@trackroom/recorder/testing';
import { cpuPercent, readSystemCpu, systemBusyPercent } from './support/proc-stat.js';
import { readTreeCpu } from './support/proc-tree.js';

export type PeerName = 'trackroom' | 'janus';

export interface CompareWindow {
  peer: PeerName;
  scenario: 'forward' | 'record';
  seconds: number;
  /** The peer under load: its whole process tree, % of one core. */
  serverCpuPct: number;
  /** The other server meanwhile (connected publishers, none sending). */
  idlePeerCpuPct: number;
  generatorCpuPct: number;
  generatorMaxWorkerCpuPct: number;
  generatorEventLoopP99Ms: number;
  generatorBound: boolean;
  generatorLagging: boolean;
  machineBusyPct: number;
  /** Σ RSS over the peer's process tree at the window's end (MB). */
  rssMb: number;
  threads: number;
  sent: number;
  /** trackroom only: its SFU's rtpReceived over the window, and its event-loop p99. */
  rtpReceived?: number;
  eventLoopP99Ms?: number;
}

export interface ComparePeerRun {
  peer: PeerName;
  version: string;
  connect: LoadGeneratorReady;
  /** RSS with the rooms made, before any publisher connected (MB). */
  rssIdleMb: number;
  forward: CompareWindow;
  record: CompareWindow;
  /** Median over record windows of record / mean(neighbouring forward windows) - 1, in %. */
  recordingOverheadPct: number;
  overheadSpreadPct: { min: number; max: number; n: number };
  /** Every meeting's / room's recording started at once: request → reply, and → files on disk. */
  startHttpMs: LatencySummary;
  startFileMs: LatencySummary;
  /** trackroom: PUT stop → UPLOADED (final files). Janus: enable_recording false → reply (.mjr closed; conversion not included). */
  stopMs: LatencySummary;
  /** Packets the publishers sent, and what the server took in: trackroom its rtpReceived over the run (exact); Janus the packets in the .mjr files of the last record window against what was sent while it recorded (approximate at the edges). */
  sent: number;
  received: number;
  lossExact: boolean;
  files: { files: number; invalid: number; withLoss: number; problems: string[] };
  /** Janus: CPU time janus-pp-rec took to convert the last record window's files (ms per recorded second). */
  conversionMsPerRecordedSecond?: number;
}

export interface CompareResult {
  n: number;
  m: number;
  meetings: number;
  windows: CompareWindow[];
  peers: ComparePeerRun[];
}

export interface CompareOptions {
  n: number;
  m: number;
  seconds: number;
  pairs: number;
  workers: number;
  /** The publishers' WebRTC stack, the same for every server. Default `ndc`. */
  generator?: GeneratorKind;
  peers: PeerName[];
  /** The bench's interface and address for Janus (see janus/netns.ts). */
  net: { iface: string; address: string };
  janusVersion: string;
  log: (s: string) => void;
}

/** One server under test, its rooms and its connected (silent) publishers. */
interface Peer {
  name: PeerName;
  pid: number;
  gen: LoadGenerator;
  connect: LoadGeneratorReady;
  rssIdleMb: number;
  /** Starts every recording at once; resolves when each has its files on disk. */
  startRecording(): Promise<{ http: number[]; file: number[] }>;
  /** Stops them all at once; with `check`, checks the files into `into`. */
  stopRecording(check: boolean, into: PeerFiles): Promise<number[]>;
  /** Exact or approximate received count at the end (see ComparePeerRun). */
  totals(sent: number, files: PeerFiles): Promise<{ received: number; exact: boolean; sent: number }>;
  stats(): Promise<{ rtpReceived: number; eventLoopP99Ms: number } | undefined>;
  close(): Promise<void>;
}

interface PeerFiles {
  correctness: CorrectnessResult;
  /** Janus: packets in the last window's files, and sent while that window recorded. */
  recordedPackets: number;
  sentWhileRecording: number;
  recordedSeconds: number;
  conversionMs: number;
}

const threadsOf = (pid: number) => {
  try {
    return readdirSync(`/proc/${pid}/task`).length;
  } catch {
    return 0;
  }
};

/**
 * RSS with the rooms made and nobody connected: after 2 s of quiet, so a Node server's start-up
 * garbage is mostly collected (it still may not be: per-track figures at small N are rough).
 */
async function idleRss(pid: number): Promise<number> {
  await sleep(2000);
  return readTreeCpu(pid).rssMb;
}

async function trackroomPeer(o: CompareOptions): Promise<Peer> {
  const server: ServerProcess = await startServer({
    env: {
      LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'warn',
      RTC_UDP_MUX_PORT: String(await freePort()),
      // One process against Janus's one (its default is one worker per core: 3 processes here).
      MEDIA_WORKERS: '1',
    },
  });
  try {
    const call = api(server);
    const { ids, tokens } = await createMeetings(call, o.n, o.m);
    const rssIdleMb = await idleRss(server.proc.pid!);
    const [gen, connect] = await LoadGenerator.start({
      wsUrl: server.wsUrl,
      tokens,
      workDir: server.dataDir,
      connectConcurrency: Math.max(2, Math.ceil(8 / o.workers)),
      workers: o.workers,
      generator: o.generator ?? 'ndc',
    });
    let recs: string[] = [];
    return {
      name: 'trackroom',
      pid: server.proc.pid!,
      gen,
      connect,
      rssIdleMb,
      async startRecording() {
        const http: number[] = [];
        const started = await Promise.all(
          ids.map(async (id, i) => {
            const t = performance.now();
            const r = await call<{ data: { recording: { id: string; status: string } } }>(
              'POST',
              '/recordings/track',
              { meeting_id: id },
            );
            if (r.status !== 200 || r.json.data.recording.status === 'ERRORED')
              throw new Error(`trackroom start recording: ${r.status} ${JSON.stringify(r.json)}`);
            http.push(performance.now() - t);
            return { id: r.json.data.recording.id, t, tracks: Math.min(o.m, o.n - i * o.m) };
          }),
        );
        recs = started.map((s) => s.id);
        return { http, file: await headersOnDisk(server, started) };
      },
      async stopRecording(check, into) {
        const at = new Map<string, number>();
        await Promise.all(
          recs.map(async (id) => {
            at.set(id, performance.now());
            const r = await call('PUT', `/recordings/${id}`, { action: 'stop' });
            if (r.status !== 200)
              throw new Error(`trackroom stop recording: ${r.status} ${JSON.stringify(r.json)}`);
          }),
        );
        const up = await waitAllUploaded(call, recs);
        if (check)
          for (const id of recs) await checkRecording(server, up.get(id)!.view, id, into.correctness);
        return recs.map((id) => up.get(id)!.at - at.get(id)!);
      },
      async totals(sent) {
        const s = await stats(server, false);
        return { received: sfuOf(s).rtpReceived, exact: true, sent };
      },
      async stats() {
        const s = await stats(server, true);
        return { rtpReceived: sfuOf(s).rtpReceived, eventLoopP99Ms: s.event_loop_delay_ms.p99 };
      },
      async close() {
        await gen.close();
        await server.stop();
      },
    };
  } catch (err) {
    await server.stop();
    throw err;
  }
}

async function janusPeer(o: CompareOptions): Promise<Peer> {
  const janus: JanusProcess = await startJanus({ iceInterface: o.net.iface });
  try {
    const admin = await JanusSession.create(janus.url);
    const rooms = await JanusRooms.open(admin, janus.recDir);
    const meetings = Math.ceil(o.n / o.m);
    const ids = await rooms.create(meetings, o.m + 1);
    const rssIdleMb = await idleRss(janus.pid);
    // One publisher per seat, room by room, as the trackroom tokens are.
    const seats = Array.from({ length: o.n }, (_, i) => ids[Math.floor(i / o.m)]!);
    const [gen, connect] = await LoadGenerator.start({
      wsUrl: '',
      tokens: [],
      workDir: janus.dir,
      connectConcurrency: Math.max(2, Math.ceil(8 / o.workers)),
      workers: o.workers,
      generator: o.generator ?? 'ndc',
      janus: { url: janus.url, rooms: seats, address: o.net.address },
    });
    let before = new Set<string>();
    let sentAtStart = 0;
    const mjrs = () => readdirSync(janus.recDir).filter((f) => f.endsWith('.mjr'));
    return {
      name: 'janus',
      pid: janus.pid,
      gen,
      connect,
      rssIdleMb,
      async startRecording() {
        before = new Set(mjrs());
        sentAtStart = (await gen.sample()).sent;
        const http: number[] = [];
        const t0 = new Map<number, number>();
        await Promise.all(
          ids.map(async (room) => {
            const t = performance.now();
            t0.set(room, t);
            await rooms.setRecording(room, true);
            http.push(performance.now() - t);
          }),
        );
        // Then: every publisher's .mjr on disk with bytes (Janus writes its header when it opens it).
        const file: number[] = [];
        const pending = new Map(ids.map((room, i) => [room, Math.min(o.m, o.n - i * o.m)]));
        const end = performance.now() + 20_000;
        while (pending.size > 0 && performance.now() < end) {
          const fresh = mjrs().filter((f) => !before.has(f) && statSync(join(janus.recDir, f)).size > 0);
          for (const [room, want] of [...pending]) {
            if (fresh.filter((f) => f.startsWith(`videoroom-${room}-`)).length >= want) {
              file.push(performance.now() - t0.get(room)!);
              pending.delete(room);
            }
          }
          if (pending.size) await sleep(5);
        }
        if (pending.size)
          throw new Error(`janus: ${pending.size} rooms without all their .mjr files in 20 s`);
        return { http, file };
      },
      async stopRecording(check, into) {
        const ms: number[] = [];
        await Promise.all(
          ids.map(async (room) => {
            const t = performance.now();
            await rooms.setRecording(room, false);
            ms.push(performance.now() - t);
          }),
        );
        if (check) {
          into.sentWhileRecording += (await gen.sample()).sent - sentAtStart;
          // Janus closes the files from its own threads: let that finish before reading them.
          await sleep(500);
          for (const f of mjrs().filter((x) => !before.has(x))) {
            const path = join(janus.recDir, f);
            into.correctness.files++;
            try {
              into.recordedPackets += mjrPackets(path);
              const conv = toOpus(path);
              into.conversionMs += conv.cpuMs;
              const p = ffprobe(conv.out);
              into.recordedSeconds += p.durationSec;
              if (p.codecName !== 'opus' || !Number.isFinite(p.durationSec)) {
                into.correctness.invalid++;
                into.correctness.problems.push(`${f}: ${p.codecName} ${p.durationSec}`);
              }
            } catch (err) {
              into.correctness.invalid++;
              if (into.correctness.problems.length < 10)
                into.correctness.problems.push(`${f}: ${String(err)}`);
            }
          }
        }
        return ms;
      },
      async totals(_sent, files) {
        return { received: files.recordedPackets, exact: false, sent: files.sentWhileRecording };
      },
      stats: () => Promise.resolve(undefined),
      async close() {
        await gen.close();
        await admin.close();
        await janus.stop();
        // Janus's own log and its .mjr files stay in its folder for diagnosis.
        writeFileSync(join(janus.dir, 'janus.log'), janus.output());
        o.log(`  n=${o.n}: janus log and recordings in ${janus.dir}`);
      },
    };
  } catch (err) {
    await janus.stop();
    throw err;
  }
}

/** The window with the median server CPU (lower median for an even count). */
const medianWindow = (ws: CompareWindow[]) =>
  [...ws].sort((a, b) => a.serverCpuPct - b.serverCpuPct)[Math.floor((ws.length - 1) / 2)]!;

async function measure(
  active: Peer,
  others: Peer[],
  scenario: 'forward' | 'record',
  seconds: number,
): Promise<CompareWindow> {
  await active.stats(); // resets trackroom's event-loop histogram
  const g0 = await active.gen.sample();
  const c0 = readTreeCpu(active.pid);
  const i0 = others.map((p) => readTreeCpu(p.pid));
  const gc0 = active.gen.cpus();
  const m0 = readSystemCpu();
  const s0 = await active.stats();
  await sleep(seconds * 1000);
  const c1 = readTreeCpu(active.pid);
  const i1 = others.map((p) => readTreeCpu(p.pid));
  const gc1 = active.gen.cpus();
  const m1 = readSystemCpu();
  const g1 = await active.gen.sample();
  const s1 = await active.stats();
  const perWorker = gc0.map((a, i) => cpuPercent(a, gc1[i]!));
  const maxWorker = Math.max(...perWorker);
  return {
    peer: active.name,
    scenario,
    seconds,
    serverCpuPct: round(cpuPercent(c0, c1)),
    idlePeerCpuPct: round(i0.reduce((a, s, k) => a + cpuPercent(s, i1[k]!), 0)),
    generatorCpuPct: round(perWorker.reduce((a, b) => a + b, 0)),
    generatorMaxWorkerCpuPct: round(maxWorker),
    generatorEventLoopP99Ms: round(g1.eventLoopP99Ms),
    generatorBound: maxWorker >= GENERATOR_CPU_LIMIT_PCT,
    generatorLagging: g1.eventLoopP99Ms > GENERATOR_LAG_LIMIT_MS,
    machineBusyPct: round(systemBusyPercent(m0, m1)),
    rssMb: round(c1.rssMb),
    threads: threadsOf(active.pid),
    sent: g1.sent - g0.sent,
    ...(s0 && s1
      ? { rtpReceived: s1.rtpReceived - s0.rtpReceived, eventLoopP99Ms: round(s1.eventLoopP99Ms, 2) }
      : {}),
  };
}

export async function runCompare(o: CompareOptions): Promise<CompareResult> {
  const peers: Peer[] = [];
  try {
    for (const name of o.peers) {
      o.log(`  n=${o.n}: starting ${name} and connecting ${o.n} publishers`);
      const p = name === 'trackroom' ? await trackroomPeer(o) : await janusPeer(o);
      peers.push(p);
      o.log(
        `  n=${o.n}: ${name}: ${p.connect.connected} connected, ${p.connect.failed} failed (${p.connect.retried ?? 0} retried) in ${Math.round(p.connect.connectMs)} ms${p.connect.errors.length ? ` (${p.connect.errors.join('; ')})` : ''}`,
      );
      if (p.connect.connected === 0)
        throw new Error(`${name}: no publisher connected: ${p.connect.errors.join('; ')}`);
    }
    const windows: CompareWindow[] = [];
    const start = new Map<PeerName, { http: number[]; file: number[] }>();
    const stop = new Map<PeerName, number[]>();
    const files = new Map<PeerName, PeerFiles>(
      peers.map((p) => [
        p.name,
        {
          correctness: emptyCorrectness(),
          recordedPackets: 0,
          sentWhileRecording: 0,
          recordedSeconds: 0,
          conversionMs: 0,
        },
      ]),
    );
    const window = async (p: Peer, scenario: 'forward' | 'record') => {
      const w = await measure(
        p,
        peers.filter((x) => x !== p),
        scenario,
        o.seconds,
      );
      windows.push(w);
      o.log(
        `  n=${o.n}: ${p.name} ${scenario}: ${w.serverCpuPct}% (idle peer ${w.idlePeerCpuPct}%), generator ${w.generatorCpuPct}%, machine ${w.machineBusyPct}%, RSS ${w.rssMb} MB`,
      );
    };
    for (let k = 0; k < o.pairs; k++) {
      for (const p of peers) {
        await p.gen.play();
        await sleep(1000);
        await window(p, 'forward');
        const s = await p.startRecording();
        const acc = start.get(p.name) ?? { http: [], file: [] };
        acc.http.push(...s.http);
        acc.file.push(...s.file);
        start.set(p.name, acc);
        await sleep(1000);
        await window(p, 'record');
        stop.set(p.name, [
          ...(stop.get(p.name) ?? []),
          ...(await p.stopRecording(k === o.pairs - 1, files.get(p.name)!)),
        ]);
        await p.gen.stopPlaying();
      }
    }
    for (const p of peers) {
      await p.gen.play();
      await sleep(1000);
      await window(p, 'forward');
      await p.gen.stopPlaying();
    }
    const runs: ComparePeerRun[] = [];
    for (const p of peers) {
      const ws = windows.filter((w) => w.peer === p.name);
      const fw = ws.filter((w) => w.scenario === 'forward');
      const rw = ws.filter((w) => w.scenario === 'record');
      const ratios = rw.map(
        (r, i) => (r.serverCpuPct / ((fw[i]!.serverCpuPct + fw[i + 1]!.serverCpuPct) / 2) - 1) * 100,
      );
      const sent = (await p.gen.sample()).sent;
      const f = files.get(p.name)!;
      const t = await p.totals(sent, f);
      runs.push({
        peer: p.name,
        version: p.name === 'janus' ? o.janusVersion : 'working tree',
        connect: p.connect,
        rssIdleMb: round(p.rssIdleMb),
        forward: medianWindow(fw),
        record: medianWindow(rw),
        recordingOverheadPct: round(median(ratios)),
        overheadSpreadPct: {
          min: round(Math.min(...ratios)),
          max: round(Math.max(...ratios)),
          n: ratios.length,
        },
        startHttpMs: summarize(start.get(p.name)?.http ?? []),
        startFileMs: summarize(start.get(p.name)?.file ?? []),
        stopMs: summarize(stop.get(p.name) ?? []),
        sent: t.sent,
        received: t.received,
        lossExact: t.exact,
        files: {
          files: f.correctness.files,
          invalid: f.correctness.invalid,
          withLoss: f.correctness.filesWithLoss ?? 0,
          problems: f.correctness.problems.slice(0, 10),
        },
        ...(p.name === 'janus' && f.recordedSeconds > 0
          ? { conversionMsPerRecordedSecond: round(f.conversionMs / f.recordedSeconds, 2) }
          : {}),
      });
    }
    return { n: o.n, m: o.m, meetings: Math.ceil(o.n / o.m), windows, peers: runs };
  } finally {
    for (const p of peers)
      await p.close().catch((err: unknown) => o.log(`  ${p.name}: close: ${String(err)}`));
  }
}
