/**
 * Stop latency of long files (not a test): a TrackFileWriter is fed `minutes` of 20 ms Opus packets
 * as fast as it takes them (a 10-minute-equivalent file by default), then `close()` is timed: the last
 * cluster, Cues, Duration and SeekHead patches, fsync and the sha256 of the whole file. This is what
 * stands between PUT {action: "stop"} and UPLOADED for one long file. Prints p50/p95 over `runs`.
 * Run: node --conditions=source --import tsx packages/recorder/bench/close-latency.mts [minutes] [runs]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { TrackFileWriter, buildRtp } from '@trackroom/recorder';

const minutes = Number(process.argv[2] ?? 10);
const runs = Number(process.argv[3] ?? 10);
const T0 = 1_700_000_000_000;
const frames = minutes * 60 * 50;
const payload = new Uint8Array(120).fill(7); // 48 kb/s
payload[0] = 0xfc;

const dir = mkdtempSync(join(tmpdir(), 'close-latency-'));
const closeMs: number[] = [];
let sizeBytes = 0;
try {
  for (let r = 0; r < runs; r++) {
    const w = new TrackFileWriter({ path: join(dir, `f${r}.webm`), t0Ms: T0, channels: 1 });
    await w.open();
    w.attach({ sourceId: 'peer', payloadType: 111, atMs: T0 });
    for (let i = 0; i < frames; i++) {
      const rtp = buildRtp({
        payloadType: 111,
        sequenceNumber: i & 0xffff,
        timestamp: (i * 960) >>> 0,
        ssrc: 1,
        payload,
      });
      w.push(rtp, T0 + i * 20);
      if (i % 500 === 499) {
        w.tick(T0 + i * 20);
        await new Promise((res) => setImmediate(res)); // let completed clusters reach the disk, as live
      }
    }
    const t = performance.now();
    const result = await w.close(T0 + frames * 20);
    closeMs.push(performance.now() - t);
    sizeBytes = result.sizeBytes;
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
closeMs.sort((a, b) => a - b);
const pct = (p: number) =>
  closeMs[Math.min(closeMs.length - 1, Math.ceil((p / 100) * closeMs.length) - 1)] as number;
console.log(
  `close() of a ${minutes}-minute file (${(sizeBytes / 1e6).toFixed(2)} MB), ${runs} runs: p50 ${pct(50).toFixed(1)} ms, p95 ${pct(95).toFixed(1)} ms, max ${(closeMs.at(-1) as number).toFixed(1)} ms`,
);
