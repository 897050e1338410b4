/**
 * Comparison (not a test): our WebM writer against mediabunny's WebM output, on the same real Opus
 * packets (ffmpeg/libopus, 440 Hz, mono, 20 ms). It measures CPU per packet, peak RSS, file writes,
 * what ffprobe/ffmpeg read back, a 1.5 s timestamp gap, and what a SIGKILL mid-write leaves on disk.
 *
 * Run: node --conditions=source --import tsx packages/recorder/bench/writer-compare.mts [seconds=600] [runs=5]
 *
 * Writers (each measured in its own child process, so RSS is not shared between them):
 * - `ours`: `WebmMuxer` fed timeline frames, its writes applied with `FileHandle.write` (the adapter
 *   `TrackFileWriter` uses).
 * - `trackfile`: `TrackFileWriter` fed the same audio as RTP, so it also parses, reorders and runs the
 *   timeline, and `close()` fsyncs and hashes the file. The product path, for reference.
 * - `mb-file`: mediabunny `Output` + `WebMOutputFormat` + `FilePathTarget` (its defaults: chunked, 16 MiB).
 * - `mb-file-64k`: the same with `chunkSize: 65536`, the smallest chunk that still batches writes.
 * - `mb-stream`: mediabunny `StreamTarget` (unchunked) over a `WritableStream` doing positional
 *   `FileHandle.write`s: every write mediabunny flushes goes to the file at once.
 * - `mb-append-64k`: `mb-file-64k` with `appendOnly: true` (unknown Segment and Cluster sizes, no
 *   patching at the end), mediabunny's mode for files read while they are written.
 * All mediabunny outputs use `minimumClusterDuration: 2` (our clusters are 2 s) and get our OpusHead
 * as the decoder description.
 */
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  EncodedAudioPacketSource,
  EncodedPacket,
  FilePathTarget,
  Output,
  StreamTarget,
  WebMOutputFormat,
  type StreamTargetChunk,
  type Target,
} from 'mediabunny';
import {
  TrackFileWriter,
  TrackPipeline,
  WebmMuxer,
  buildRtp,
  opusHead,
  repairWebmFile,
  type TimelineFrame,
} from '@trackroom/recorder';
import { decodeMono, ffprobe, sineOpusPackets } from '@trackroom/recorder/testing';
import { inspectWebm } from '../src/testing/webm-inspect.js';

const WRITERS = ['ours', 'trackfile', 'mb-file', 'mb-file-64k', 'mb-stream', 'mb-append-64k'] as const;
type WriterName = (typeof WRITERS)[number];
const SR = 48_000;
const FRAME = 960; // 20 ms
const T0 = 1_700_000_000_000;
const SELF = fileURLToPath(import.meta.url);

// ---------------------------------------------------------------------------------------------
// Counting file writes: every writer here ends in FileHandle.prototype.write.

const io = { writes: 0, bytes: 0 };
async function countFileWrites(dir: string): Promise<void> {
  const probe = await open(join(dir, 'probe.tmp'), 'w');
  const proto = Object.getPrototypeOf(probe) as { write: (this: FileHandle, ...a: unknown[]) => unknown };
  await probe.close();
  const orig = proto.write;
  proto.write = function (this: FileHandle, ...a: unknown[]) {
    io.writes++;
    const b = a[0];
    if (b instanceof Uint8Array) io.bytes += typeof a[2] === 'number' ? a[2] : b.byteLength;
    return orig.apply(this, a);
  };
}

// ---------------------------------------------------------------------------------------------
// Input

function savePackets(file: string, packets: Uint8Array[]): void {
  const total = packets.reduce((n, p) => n + 2 + p.length, 0);
  const out = new Uint8Array(total);
  let o = 0;
  for (const p of packets) {
    out[o++] = p.length >> 8;
    out[o++] = p.length & 0xff;
    out.set(p, o);
    o += p.length;
  }
  writeFileSync(file, out);
}

function loadPackets(file: string): Uint8Array[] {
  const b = new Uint8Array(readFileSync(file));
  const packets: Uint8Array[] = [];
  for (let o = 0; o < b.length;) {
    const n = ((b[o] as number) << 8) | (b[o + 1] as number);
    packets.push(b.slice(o + 2, o + 2 + n));
    o += 2 + n;
  }
  return packets;
}

function gridFrames(packets: Uint8Array[]): TimelineFrame[] {
  return packets.map((payload, i) => ({
    kind: 'frame',
    pos: i * FRAME,
    durationSamples: FRAME,
    payload,
    filled: false,
  }));
}

// ---------------------------------------------------------------------------------------------
// Writers. `finish: false` leaves the file open and unfinalized (the crash test).

interface WriteOptions {
  finish: boolean;
  /** Called every 250 frames (memory sampling). */
  onProgress?: () => void;
  /** Prebuilt RTP for `trackfile` (built outside the timed region). */
  rtp?: Uint8Array[];
}

async function writeOurs(path: string, frames: TimelineFrame[], o: WriteOptions): Promise<void> {
  const mux = new WebmMuxer({ channels: 1, clusterMs: 2000, dateUtcMs: T0 });
  const fh = await open(path, 'wx');
  const apply = async (w: { offset: number; bytes: Uint8Array }): Promise<void> => {
    await fh.write(w.bytes, 0, w.bytes.length, w.offset);
  };
  await apply(mux.start());
  let k = 0;
  for (const f of frames) {
    for (const w of mux.process(f)) await apply(w);
    if (o.onProgress && ++k % 250 === 0) o.onProgress();
  }
  if (!o.finish) return; // the open cluster stays in memory; the handle stays open
  const last = frames[frames.length - 1] as TimelineFrame;
  const endPos = last.pos + last.durationSamples;
  for (const w of mux.process({ kind: 'end', atMs: T0 + (endPos * 1000) / SR, endPos })) await apply(w);
  await fh.close();
}

async function writeTrackFile(path: string, frames: TimelineFrame[], o: WriteOptions): Promise<void> {
  const rtp = o.rtp ?? buildRtpFor(frames);
  const w = new TrackFileWriter({ path, t0Ms: T0, channels: 1, clusterMs: 2000 });
  await w.open();
  w.attach({ sourceId: 'bench', payloadType: 111 });
  for (let i = 0; i < frames.length; i++) {
    const at = T0 + ((frames[i] as TimelineFrame).pos * 1000) / SR;
    w.push(rtp[i] as Uint8Array, at);
    if (i % 5 === 4) w.tick(at); // a 100 ms ticker
    if (i % 500 === 499) await new Promise<void>((r) => setImmediate(r)); // let the write queue run
    if (o.onProgress && i % 250 === 249) o.onProgress();
  }
  if (!o.finish) {
    await new Promise<void>((r) => setTimeout(r, 200));
    return;
  }
  const last = frames[frames.length - 1] as TimelineFrame;
  await w.close(T0 + ((last.pos + last.durationSamples) * 1000) / SR);
}

function buildRtpFor(frames: TimelineFrame[]): Uint8Array[] {
  return frames.map((f, i) =>
    buildRtp({
      payloadType: 111,
      sequenceNumber: i & 0xffff,
      timestamp: f.pos >>> 0,
      ssrc: 7,
      payload: f.payload,
    }),
  );
}

function fileStreamTarget(path: string): StreamTarget {
  let fh: FileHandle | undefined;
  const writable = new WritableStream<StreamTargetChunk>({
    start: async () => {
      fh = await open(path, 'wx');
    },
    write: async (chunk) => {
      await fh?.write(chunk.data, 0, chunk.data.byteLength, chunk.position);
    },
    close: async () => {
      await fh?.close();
    },
  });
  return new StreamTarget(writable);
}

async function writeMediabunny(
  name: WriterName,
  path: string,
  frames: TimelineFrame[],
  o: WriteOptions,
): Promise<void> {
  const target: Target =
    name === 'mb-file'
      ? new FilePathTarget(path)
      : name === 'mb-stream'
        ? fileStreamTarget(path)
        : new FilePathTarget(path, { chunkSize: 65536 });
  const appendOnly = name === 'mb-append-64k';
  const output = new Output({
    format: new WebMOutputFormat({ minimumClusterDuration: 2, appendOnly }),
    target,
  });
  const source = new EncodedAudioPacketSource('opus');
  output.addAudioTrack(source);
  await output.start();
  const meta = {
    decoderConfig: { codec: 'opus', numberOfChannels: 1, sampleRate: SR, description: opusHead(1) },
  };
  let k = 0;
  for (const f of frames) {
    const packet = new EncodedPacket(f.payload, 'key', f.pos / SR, f.durationSamples / SR);
    await source.add(packet, k === 0 ? meta : undefined);
    if (o.onProgress && k % 250 === 249) o.onProgress();
    k++;
  }
  if (!o.finish) {
    await new Promise<void>((r) => setTimeout(r, 200)); // let queued stream writes land
    return;
  }
  await output.finalize();
}

function write(name: WriterName, path: string, frames: TimelineFrame[], o: WriteOptions): Promise<void> {
  if (name === 'ours') return writeOurs(path, frames, o);
  if (name === 'trackfile') return writeTrackFile(path, frames, o);
  return writeMediabunny(name, path, frames, o);
}

// ---------------------------------------------------------------------------------------------
// Child: cost of one writer (RSS on the first, cold run; CPU median over `runs` warm runs).

interface CostResult {
  writer: WriterName;
  packets: number;
  cpuUsRuns: number[];
  cpuUsMedian: number;
  peakRssDeltaMB: number;
  peakLiveDeltaMB: number;
  writes: number;
  bytesWritten: number;
  fileBytes: number;
}

async function childCost(name: WriterName, dir: string, runs: number): Promise<void> {
  const frames = gridFrames(loadPackets(join(dir, 'packets.bin')));
  const rtp = name === 'trackfile' ? buildRtpFor(frames) : undefined;
  await countFileWrites(dir);
  const out = join(dir, `${name}.webm`);
  const gc = (globalThis as { gc?: () => void }).gc;

  // Run 1 (cold): peak RSS as the process sees it, garbage included.
  gc?.();
  const base = process.memoryUsage();
  let peakRss = base.rss;
  io.writes = 0;
  io.bytes = 0;
  await write(name, out, frames, {
    finish: true,
    onProgress: () => (peakRss = Math.max(peakRss, process.memoryUsage().rss)),
    ...(rtp ? { rtp } : {}),
  });
  peakRss = Math.max(peakRss, process.memoryUsage().rss);
  const writes = io.writes;
  const bytesWritten = io.bytes;
  // Run 2: what the writer really holds: heap + ArrayBuffers after a forced GC, every 250 packets.
  const live = (): number => {
    gc?.();
    const m = process.memoryUsage();
    return m.heapUsed + m.arrayBuffers;
  };
  const liveBase = live();
  let peakLive = liveBase;
  const p2 = join(dir, `${name}-live.webm`);
  await write(name, p2, frames, {
    finish: true,
    onProgress: () => (peakLive = Math.max(peakLive, live())),
    ...(rtp ? { rtp } : {}),
  });
  rmSync(p2, { force: true });
  const fileBytes = statSync(out).size;

  const cpu: number[] = [];
  for (let r = 0; r < runs; r++) {
    const p = join(dir, `${name}-run.webm`);
    rmSync(p, { force: true });
    gc?.();
    const c0 = process.cpuUsage();
    await write(name, p, frames, { finish: true, ...(rtp ? { rtp } : {}) });
    const c = process.cpuUsage(c0);
    cpu.push((c.user + c.system) / frames.length);
    rmSync(p, { force: true });
  }
  const sorted = [...cpu].sort((a, b) => a - b);
  const result: CostResult = {
    writer: name,
    packets: frames.length,
    cpuUsRuns: cpu.map((x) => Math.round(x * 100) / 100),
    cpuUsMedian: sorted[Math.floor(sorted.length / 2)] as number,
    peakRssDeltaMB: (peakRss - base.rss) / 1e6,
    peakLiveDeltaMB: (peakLive - liveBase) / 1e6,
    writes,
    bytesWritten,
    fileBytes,
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

// Child: writes `count` packets without finalizing, says READY, and waits to be SIGKILLed.
async function childCrash(name: WriterName, dir: string, path: string, count: number): Promise<void> {
  const frames = gridFrames(loadPackets(join(dir, 'packets.bin')).slice(0, count));
  await write(name, path, frames, { finish: false });
  await new Promise<void>((r) => setTimeout(r, 300));
  process.stdout.write(`READY ${statSync(path, { throwIfNoEntry: false })?.size ?? -1}\n`);
  setInterval(() => undefined, 60_000);
}

// ---------------------------------------------------------------------------------------------
// Reading files back

function packetPtsMs(file: string): { pts: number[]; ok: boolean } {
  const res = spawnSync(
    'ffprobe',
    ['-v', 'error', '-select_streams', 'a:0', '-show_entries', 'packet=pts_time', '-of', 'csv=p=0', file],
    { maxBuffer: 256 * 1024 * 1024 },
  );
  if (res.status !== 0) return { pts: [], ok: false };
  const pts = res.stdout
    .toString('utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => Math.round(Number(l) * 1e6) / 1e3); // ms, to the µs
  return { pts, ok: true };
}

const CUES_ID = 0x1c53bb6b;
function countId(buf: Uint8Array, id: number): number {
  let n = 0;
  for (let i = 0; i + 3 < buf.length; i++) {
    if (
      buf[i] === id >>> 24 &&
      buf[i + 1] === ((id >> 16) & 0xff) &&
      buf[i + 2] === ((id >> 8) & 0xff) &&
      buf[i + 3] === (id & 0xff)
    )
      n++;
  }
  return n;
}

interface Check {
  codec: string;
  durationSec: number;
  durationErrMs: number;
  cues: number | string;
  clusters: number | string;
  segmentSize: string;
  packets: number;
  ptsMismatches: number;
  ptsMaxErrMs: number;
  decodedSec: number;
  decodeErrors: string;
}

function check(file: string, expectedPtsMs: number[], spanMs: number): Check {
  let codec = 'unreadable';
  let durationSec = NaN;
  try {
    const p = ffprobe(file);
    codec = `${p.codecName} ${p.sampleRate} Hz ${p.channels} ch`;
    durationSec = p.durationSec;
  } catch (e) {
    codec = `ffprobe failed: ${String(e).split('\n')[0]}`;
  }
  let cues: number | string = '?';
  let clusters: number | string = '?';
  let segmentSize = '?';
  try {
    const buf = new Uint8Array(readFileSync(file));
    const w = inspectWebm(buf);
    segmentSize = w.segmentSize === undefined ? 'unknown' : 'known';
    if (w.clusters.length > 0) {
      cues = `${w.cues.length}${w.seek.some((e) => e.id === CUES_ID) ? '' : ' (not in SeekHead)'}`;
      clusters = w.clusters.length;
    } else {
      // Our inspector walks sized elements only; unknown-size clusters need a byte scan.
      cues = `${countId(buf, CUES_ID) > 0 ? 'Cues element present' : 'none'}${w.seek.some((e) => e.id === CUES_ID) ? '' : ', not in SeekHead'} (byte scan)`;
      clusters = `${countId(buf, 0x1f43b675)} (byte scan)`;
    }
  } catch (e) {
    cues = `inspect failed: ${String(e)}`;
  }
  const { pts } = packetPtsMs(file);
  let mismatches = Math.abs(pts.length - expectedPtsMs.length);
  let maxErr = 0;
  for (let i = 0; i < Math.min(pts.length, expectedPtsMs.length); i++) {
    const err = Math.abs((pts[i] as number) - (expectedPtsMs[i] as number));
    if (err > 0.001) mismatches++;
    maxErr = Math.max(maxErr, err);
  }
  const d = decodeMono(file);
  return {
    codec,
    durationSec,
    durationErrMs: Math.abs(durationSec * 1000 - spanMs),
    cues,
    clusters,
    segmentSize,
    packets: pts.length,
    ptsMismatches: mismatches,
    ptsMaxErrMs: maxErr,
    decodedSec: d.samples.length / SR,
    decodeErrors: d.stderr.trim().split('\n')[0] ?? '',
  };
}

// ---------------------------------------------------------------------------------------------
// Main

function runChild(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = spawn(process.execPath, [...process.execArgv, '--expose-gc', SELF, ...args], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    c.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
    c.on('exit', (code) =>
      code === 0 ? resolve(out) : reject(new Error(`child ${args.join(' ')} exited ${code}`)),
    );
  });
}

function crashChild(name: WriterName, dir: string, path: string, count: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const c = spawn(process.execPath, [...process.execArgv, SELF, 'crash', name, dir, path, String(count)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    c.stdout.on('data', (d: Buffer) => {
      out += d.toString('utf8');
      const m = /READY (-?\d+)/.exec(out);
      if (m) {
        c.kill('SIGKILL');
        resolve(Number(m[1]));
      }
    });
    c.on('exit', (code, sig) => {
      if (sig !== 'SIGKILL') reject(new Error(`crash child ${name} exited ${code} ${sig}`));
    });
  });
}

async function main(): Promise<void> {
  const seconds = Number(process.argv[2] ?? 600);
  const runs = Number(process.argv[3] ?? 5);
  const dir = mkdtempSync(join(tmpdir(), 'writer-compare-'));
  try {
    const packets = sineOpusPackets({ dir, frequency: 440, seconds, channels: 1 });
    savePackets(join(dir, 'packets.bin'), packets);
    const n = packets.length;
    const payloadBytes = packets.reduce((s, p) => s + p.length, 0);
    const cpu = cpus()[0]?.model ?? '?';
    console.log(`machine: nproc ${cpus().length}, ${cpu}, Node ${process.version}`);
    console.log(
      `input: ${n} Opus packets (${(n * 0.02).toFixed(2)} s, 20 ms mono, ${(payloadBytes / n).toFixed(0)} B avg)`,
    );

    // 1. Cost and correctness of the full file.
    const expected = Array.from({ length: n }, (_, i) => i * 20);
    const costs: CostResult[] = [];
    const checks: Record<string, Check> = {};
    for (const w of WRITERS) {
      const line = (await runChild(['cost', w, dir, String(runs)])).trim().split('\n').pop() as string;
      costs.push(JSON.parse(line) as CostResult);
      checks[w] = check(join(dir, `${w}.webm`), expected, n * 20);
    }
    console.log('\n## Cost and correctness (full file)');
    console.log(
      '| writer | CPU µs/packet (median) | runs | peak RSS Δ MB | peak live heap+buffers Δ MB (after GC) | file writes | file bytes | codec | duration s (err ms) | Cues / clusters | Segment size | pts mismatches (max err ms) | decoded s | decode errors |',
    );
    console.log('|---|---|---|---|---|---|---|---|---|---|---|---|---|---|');
    for (const c of costs) {
      const k = checks[c.writer] as Check;
      console.log(
        `| ${c.writer} | ${c.cpuUsMedian.toFixed(2)} | ${c.cpuUsRuns.join(' ')} | ${c.peakRssDeltaMB.toFixed(1)} | ${c.peakLiveDeltaMB.toFixed(2)} | ${c.writes} | ${c.fileBytes} | ${k.codec} | ${k.durationSec.toFixed(3)} (${k.durationErrMs.toFixed(1)}) | ${k.cues} / ${k.clusters} | ${k.segmentSize} | ${k.ptsMismatches} of ${k.packets} (${k.ptsMaxErrMs.toFixed(3)}) | ${k.decodedSec.toFixed(3)} | ${k.decodeErrors || 'none'} |`,
      );
    }

    // 2. Gap: 20 s of audio with a 1.5 s hole after 10 s, (i) as a raw hole in the frame timestamps,
    // (ii) as our Timeline emits it (the hole filled with silence frames). Both writers get the same frames.
    const gapPackets = packets.slice(0, 1000);
    const GAP = 1.5 * SR;
    const hole: TimelineFrame[] = gridFrames(gapPackets).map((f, i) =>
      i < 500 ? f : { ...f, pos: f.pos + GAP },
    );
    const pipeline = new TrackPipeline({ t0Ms: T0 });
    const filled: TimelineFrame[] = [];
    const take = (outs: ReturnType<TrackPipeline['process']>): void => {
      for (const o of outs) if (o.kind === 'frame') filled.push(o);
    };
    take(pipeline.process({ kind: 'attach', payloadType: 111 }));
    gapPackets.forEach((payload, i) => {
      const pos = i * FRAME + (i < 500 ? 0 : GAP);
      const data = buildRtp({ payloadType: 111, sequenceNumber: i, timestamp: pos, ssrc: 3, payload });
      take(pipeline.process({ kind: 'rtp', data, arrivalMs: T0 + (pos * 1000) / SR }));
    });
    take(pipeline.process({ kind: 'end', atMs: T0 + 21_500 }));
    console.log('\n## Gap case (20 s of audio, 1.5 s hole after 10 s; true span 21.5 s)');
    console.log(
      '| input | writer | packets | pts step across the hole ms (expect 1520) | duration s | pts mismatches | decoded s (plain ffmpeg decode) |',
    );
    console.log('|---|---|---|---|---|---|---|');
    for (const [label, frames] of [
      ['raw hole', hole],
      [`timeline-filled (${filled.length} frames)`, filled],
    ] as const) {
      const exp = frames.map((f) => (f.pos * 1000) / SR);
      for (const w of ['ours', 'mb-file'] as const) {
        const p = join(dir, `gap-${w}-${frames.length}.webm`);
        await write(w, p, [...frames], { finish: true });
        const k = check(p, exp, 21_500);
        const { pts } = packetPtsMs(p);
        const jump = label === 'raw hole' ? (pts[500] ?? NaN) - (pts[499] ?? NaN) : NaN;
        console.log(
          `| ${label} | ${w} | ${k.packets} | ${Number.isNaN(jump) ? '-' : jump.toFixed(1)} | ${k.durationSec.toFixed(3)} | ${k.ptsMismatches} | ${k.decodedSec.toFixed(3)} |`,
        );
      }
    }

    // 3. Crash: push 61.5 s (3075 packets) without finalizing, let writes settle, SIGKILL.
    console.log('\n## SIGKILL mid-write (not finalized; pending writes given 0.3 s to land)');
    console.log(
      '| pushed s | writer | bytes on disk | ffprobe | decodable s (lost s) | decode errors | after repairWebmFile |',
    );
    console.log('|---|---|---|---|---|---|---|');
    for (const pushed of [Math.min(3075, n), Math.min(4590, n)])
      for (const w of WRITERS) {
        const p = join(dir, `crash-${w}-${pushed}.webm`);
        await crashChild(w, dir, p, pushed);
        const size = statSync(p, { throwIfNoEntry: false })?.size ?? -1;
        let probe = size === 0 ? 'empty file' : 'no file';
        let decoded = 0;
        let errs = '';
        let repaired = '-';
        if (size > 0) {
          try {
            const pr = ffprobe(p);
            probe = `${pr.codecName}, duration ${Number.isNaN(pr.durationSec) ? 'absent' : pr.durationSec.toFixed(2)}`;
          } catch (e) {
            probe = `fails (${String(e).split('\n')[0]?.slice(0, 80)})`;
          }
          const d = decodeMono(p);
          decoded = d.samples.length / SR;
          errs = d.stderr.trim().split('\n')[0] ?? '';
          const copy = `${p}.repaired.webm`;
          copyFileSync(p, copy);
          try {
            const r = await repairWebmFile(copy);
            repaired = r.ok ? `ok, ${(r.durationMs / 1000).toFixed(2)} s` : `not ok: ${r.reason ?? ''}`;
          } catch (e) {
            repaired = `throws: ${String(e).slice(0, 80)}`;
          }
        }
        console.log(
          `| ${(pushed * 0.02).toFixed(1)} | ${w} | ${size} | ${probe} | ${decoded.toFixed(2)} (${(pushed * 0.02 - decoded).toFixed(2)}) | ${errs || 'none'} | ${repaired} |`,
        );
      }
  } finally {
    if (process.env.WRITER_COMPARE_KEEP) console.log(`\nkept ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  }
}

const [mode, ...rest] = process.argv.slice(2);
if (mode === 'cost') {
  await childCost(rest[0] as WriterName, rest[1] as string, Number(rest[2]));
} else if (mode === 'crash') {
  await childCrash(rest[0] as WriterName, rest[1] as string, rest[2] as string, Number(rest[3]));
} else {
  await main();
}
