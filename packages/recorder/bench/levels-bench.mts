/**
 * Micro-benchmark (not a test): what reading RFC 6464 audio levels and tracking speech costs per
 * packet. Packets carry a Chromium-like one-byte extension block (audio level, a 3-byte
 * abs-send-time and a 2-byte transport-wide sequence number); the level is the last element read.
 * Run: node --conditions=source --import tsx --expose-gc packages/recorder/bench/levels-bench.mts [N]
 */
import { performance } from 'node:perf_hooks';
import { SpeechActivity, TrackPipeline, buildRtp, parseRtp, type TimelineOutput } from '@trackroom/recorder';

const N = Number(process.argv[2] ?? 500_000);
const T0 = 1_700_000_000_000;
const RUNS = 5;

const payload = new Uint8Array(80).fill(7);
payload[0] = 0xfc;
const packets: Uint8Array[] = [];
for (let i = 0; i < N; i++) {
  const loud = i % 100 < 60; // talk spurts of 1.2 s, 0.8 s pauses
  const level = (loud ? 20 : 100) | (loud ? 0x80 : 0);
  packets.push(
    buildRtp({
      payloadType: 111,
      sequenceNumber: i & 0xffff,
      timestamp: (i * 960) >>> 0,
      ssrc: 1,
      payload,
      // id 2 abs-send-time (3 bytes), id 3 transport-cc (2 bytes), id 1 audio level (1 byte)
      extension: {
        profile: 0xbede,
        data: Uint8Array.of(0x22, 1, 2, 3, 0x31, 4, 5, 0x10, level, 0, 0, 0),
      },
    }),
  );
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
const gc = (globalThis as { gc?: () => void }).gc;

function parseRun(levelId: number): number {
  let sink = 0;
  const t = performance.now();
  for (let i = 0; i < N; i++) {
    const r = parseRtp(packets[i] as Uint8Array, levelId);
    if (r.ok) sink += r.packet.audioLevel ?? 0;
  }
  const ns = ((performance.now() - t) * 1e6) / N;
  if (sink === 42) console.log('');
  return ns;
}

// Timeline frames as the pipeline emits them (built up front): the stage alone.
const frames: TimelineOutput[] = packets.map((p, i) => {
  const r = parseRtp(p, 1);
  return {
    kind: 'frame',
    pos: i * 960,
    durationSamples: 960,
    payload,
    filled: false,
    audioLevel: r.ok ? (r.packet.audioLevel ?? -1) : -1,
  };
});

function stageRun(): { ns: number; heapDelta: number; intervals: number } {
  gc?.();
  const sa = new SpeechActivity();
  const before = process.memoryUsage().heapUsed;
  const t = performance.now();
  // An indexed loop: a for-of in code not yet optimised allocates an iterator result per step.
  for (let i = 0; i < N; i++) sa.process(frames[i] as TimelineOutput);
  const ns = ((performance.now() - t) * 1e6) / N;
  const heapDelta = process.memoryUsage().heapUsed - before;
  sa.process({ kind: 'end', atMs: T0 + N * 20, endPos: N * 960 });
  return { ns, heapDelta, intervals: sa.stats().intervals };
}

function pipelineRun(withLevels: boolean): number {
  const pipeline = new TrackPipeline({ t0Ms: T0 });
  const sa = withLevels ? new SpeechActivity() : undefined;
  const t = performance.now();
  pipeline.process({ kind: 'attach', payloadType: 111, ...(withLevels && { audioLevelExtId: 1 }) });
  for (let i = 0; i < N; i++) {
    const out = pipeline.process({ kind: 'rtp', data: packets[i] as Uint8Array, arrivalMs: T0 + i * 20 });
    if (sa) for (let k = 0; k < out.length; k++) sa.process(out[k] as TimelineOutput);
  }
  return ((performance.now() - t) * 1e6) / N;
}

const rows: [string, number[]][] = [
  ['parseRtp, level not read', []],
  ['parseRtp, level read (id 1)', []],
  ['SpeechActivity.process per frame', []],
  ['pipeline (parse+reorder+timeline), no levels', []],
  ['pipeline + levels + SpeechActivity', []],
];
let stage = { ns: 0, heapDelta: 0, intervals: 0 };
for (let r = 0; r < RUNS + 1; r++) {
  const a = parseRun(0);
  const b = parseRun(1);
  stage = stageRun();
  const c = pipelineRun(false);
  const d = pipelineRun(true);
  if (r === 0) continue; // warm-up
  rows[0]![1].push(a);
  rows[1]![1].push(b);
  rows[2]![1].push(stage.ns);
  rows[3]![1].push(c);
  rows[4]![1].push(d);
}
console.log(`${N} packets, median of ${RUNS} runs (ns per packet):`);
for (const [name, xs] of rows) console.log(`  ${name.padEnd(48)} ${median(xs).toFixed(0).padStart(6)} ns`);
console.log(
  `  SpeechActivity: ${stage.intervals} intervals; heap growth over ${N} frames (last run): ${(stage.heapDelta / 1024).toFixed(0)} KiB` +
    (gc ? '' : ' (run with --expose-gc for a clean figure)'),
);
