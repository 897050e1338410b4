/**
 * Micro-benchmark (not a test): pushes N RTP packets (default 500k = 2.8 h of 20 ms Opus) with 1 %
 * loss and some reordering through parse + reorder + timeline + mux into a real file, and prints the
 * cost per packet. Run: node --conditions=source --import tsx packages/recorder/bench/pipeline-bench.mts [N]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { TrackFileWriter, TrackPipeline, WebmMuxer, buildRtp } from '@trackroom/recorder';

const N = Number(process.argv[2] ?? 500_000);
const T0 = 1_700_000_000_000;

// 80-byte payloads (32 kb/s), 16 distinct ones; the RTP packets are built up front.
const payloads = Array.from({ length: 16 }, (_, i) => {
  const p = new Uint8Array(80).fill(i);
  p[0] = 0xfc;
  return p;
});
const packets: { data: Uint8Array; arrivalMs: number }[] = [];
for (let i = 0; i < N; i++) {
  if (i % 100 === 50) continue; // 1 % loss
  const swap = i % 50 === 10 ? 1 : i % 50 === 11 ? -1 : 0; // a reordered pair every second
  const j = i + swap;
  packets.push({
    data: buildRtp({
      payloadType: 111,
      sequenceNumber: j & 0xffff,
      timestamp: (j * 960) >>> 0,
      ssrc: 1,
      payload: payloads[j % 16] as Uint8Array,
    }),
    arrivalMs: T0 + i * 20 + (i % 7),
  });
}

function pureRun(): { us: number; bytes: number } {
  const pipeline = new TrackPipeline({ t0Ms: T0 });
  const mux = new WebmMuxer();
  mux.start();
  let bytes = 0;
  const start = performance.now();
  pipeline.process({ kind: 'attach', payloadType: 111 });
  for (const p of packets) {
    for (const f of pipeline.process({ kind: 'rtp', data: p.data, arrivalMs: p.arrivalMs })) {
      for (const w of mux.process(f)) bytes += w.bytes.length;
    }
  }
  for (const f of pipeline.process({ kind: 'end', atMs: T0 + N * 20 }))
    for (const w of mux.process(f)) bytes += w.bytes.length;
  return { us: ((performance.now() - start) * 1000) / packets.length, bytes };
}

async function fileRun(): Promise<{
  pushUs: number;
  totalUs: number;
  sizeBytes: number;
  durationMs: number;
}> {
  const dir = mkdtempSync(join(tmpdir(), 'recorder-bench-'));
  try {
    const w = new TrackFileWriter({ path: join(dir, 'bench.webm'), t0Ms: T0 });
    await w.open();
    w.attach({ sourceId: 'bench', payloadType: 111 });
    const start = performance.now();
    let k = 0;
    for (const p of packets) {
      w.push(p.data, p.arrivalMs);
      if (++k % 5 === 0) w.tick(p.arrivalMs); // a 100 ms ticker
      // Let the write queue run now and then, as a live event loop would.
      if (k % 5000 === 0) await new Promise<void>((r) => setImmediate(r));
    }
    const pushed = performance.now();
    const res = await w.close(T0 + N * 20);
    const end = performance.now();
    return {
      pushUs: ((pushed - start) * 1000) / packets.length,
      totalUs: ((end - start) * 1000) / packets.length,
      sizeBytes: res.sizeBytes,
      durationMs: res.durationMs,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

pureRun(); // warm-up
const pure = pureRun();
const file = await fileRun();
console.log(
  `packets: ${packets.length} (${((N * 20) / 3_600_000).toFixed(2)} h of 20 ms Opus, 1 % loss, reordering)`,
);
console.log(
  `pure pipeline (parse+reorder+timeline+mux, no I/O): ${pure.us.toFixed(2)} us/packet (${(pure.bytes / 1e6).toFixed(1)} MB muxed)`,
);
console.log(`TrackFileWriter push() incl. queuing writes:        ${file.pushUs.toFixed(2)} us/packet`);
console.log(`TrackFileWriter end to end incl. close+fsync+sha256: ${file.totalUs.toFixed(2)} us/packet`);
console.log(`file: ${(file.sizeBytes / 1e6).toFixed(1)} MB, ${(file.durationMs / 1000).toFixed(0)} s`);
