/**
 * Micro-benchmark (not a test): T track files written at once, their packets interleaved as a
 * server receives them (one 20 ms packet of every track per round, each in a fresh Buffer, as the
 * transport hands them over), a tick of every file each 200 ms of media time, and the event loop let
 * run after every round so the file writes drain. Media time is simulated: it runs as fast as the CPU
 * allows. Prints CPU time (user + system, all threads) per packet, and GC time, against the same loop
 * with no writer (the cost of making the packets), so the difference is what recording costs. Once
 * with each packet run as it is pushed, once with `batchPackets: 32` (as a ticked recording runs);
 * give one value per process for steadier figures (the heap of one run weighs on the next).
 *
 * Run: node --conditions=source --import tsx packages/recorder/bench/many-tracks-bench.mts
 *        [tracks=300] [seconds=60] [batchPackets=0,32] [--levels]
 * (--levels: packets carry the RFC 6464 audio-level extension, as browsers send it.)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PerformanceObserver, performance } from 'node:perf_hooks';
import { TrackFileWriter, buildRtp } from '@trackroom/recorder';

const args = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const TRACKS = Number(args[0] ?? 300);
const SECONDS = Number(args[1] ?? 60);
const LEVELS = process.argv.includes('--levels');
const BATCHES = (args[2] ?? '0,32').split(',').map(Number);
const ROUNDS = (SECONDS * 1000) / 20;
const T0 = 1_700_000_000_000;
const EXT_ID = 1;

// 16 distinct 80-byte payloads (32 kb/s).
const payloads = Array.from({ length: 16 }, (_, i) => {
  const p = new Uint8Array(80).fill(i + 1);
  p[0] = 0xfc;
  return p;
});

/** One-byte header extension (RFC 8285) carrying the audio level: 4 bytes of extension data. */
function withLevel(rtp: Uint8Array, level: number): Uint8Array {
  const out = new Uint8Array(rtp.length + 8);
  out.set(rtp.subarray(0, 12));
  out[0] = (out[0] as number) | 0x10;
  out.set([0xbe, 0xde, 0, 1, (EXT_ID << 4) | 0, 0x80 | level, 0, 0], 12);
  out.set(rtp.subarray(12), 20);
  return out;
}

/** The RTP packet of `track` in `round`, in a fresh Buffer (as the transport delivers one). */
const templates = Array.from({ length: 16 }, (_, i) => {
  const rtp = buildRtp({ payloadType: 111, sequenceNumber: 0, timestamp: 0, ssrc: 0, payload: payloads[i]! });
  return [withLevel(rtp, 30), withLevel(rtp, 90), rtp];
});
function packet(track: number, round: number): Buffer {
  const tpl = templates[(round + track) % 16]![LEVELS ? (round >> 4) % 2 : 2]!;
  // Its own ArrayBuffer, as the native transport makes one per packet (not Node's pool).
  const b = Buffer.from(new ArrayBuffer(tpl.length));
  b.set(tpl);
  b.writeUInt16BE((round + track * 7) & 0xffff, 2);
  b.writeUInt32BE((round * 960 + track * 12345) >>> 0, 4);
  b.writeUInt32BE(1000 + track, 8);
  return b;
}

let gcMs = 0;
const obs = new PerformanceObserver((list) => {
  for (const e of list.getEntries()) gcMs += e.duration;
});
obs.observe({ entryTypes: ['gc'] });

const yieldLoop = () => new Promise<void>((r) => setImmediate(r));

async function run(
  record: boolean,
  batchPackets = 0,
): Promise<{ cpuUs: number; gcMs: number; wallMs: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'recorder-many-'));
  try {
    const writers: TrackFileWriter[] = [];
    if (record) {
      for (let t = 0; t < TRACKS; t++) {
        const w = new TrackFileWriter({ path: join(dir, `t${t}.webm`), t0Ms: T0, batchPackets });
        await w.open();
        w.attach({
          sourceId: `p${t}`,
          payloadType: 111,
          ...(LEVELS && { audioLevelExtId: EXT_ID }),
          atMs: T0,
        });
        writers.push(w);
      }
    }
    let sink = 0;
    const gc0 = gcMs;
    const cpu0 = process.cpuUsage();
    const wall0 = performance.now();
    for (let r = 0; r < ROUNDS; r++) {
      const at = T0 + r * 20;
      for (let t = 0; t < TRACKS; t++) {
        const p = packet(t, r);
        if (record) (writers[t] as TrackFileWriter).push(p, at + (t % 5));
        else sink += p[1] as number;
      }
      if (record && r % 10 === 9) for (const w of writers) w.tick(at + 10);
      await yieldLoop();
    }
    if (record) await Promise.all(writers.map((w) => w.close(T0 + ROUNDS * 20)));
    const cpu = process.cpuUsage(cpu0);
    const wallMs = performance.now() - wall0;
    if (sink < 0) console.log(sink);
    return { cpuUs: cpu.user + cpu.system, gcMs: gcMs - gc0, wallMs };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const packets = TRACKS * ROUNDS;
await run(false); // warm-up
const base = await run(false);
await run(true); // warm-up
const perPacket = (us: number) => (us / packets).toFixed(2);
console.log(
  `${TRACKS} tracks x ${SECONDS} s of 20 ms Opus (${packets} packets)${LEVELS ? ', with audio levels' : ''}`,
);
console.log(
  `making packets only: ${perPacket(base.cpuUs)} us CPU/packet, GC ${base.gcMs.toFixed(0)} ms, wall ${base.wallMs.toFixed(0)} ms`,
);
for (const batch of BATCHES) {
  const rec = await run(true, batch);
  console.log(
    `recording, batchPackets ${batch}: ${perPacket(rec.cpuUs - base.cpuUs)} us CPU/packet more (incl. close of every file), GC ${rec.gcMs.toFixed(0)} ms, wall ${rec.wallMs.toFixed(0)} ms`,
  );
}
obs.disconnect();
