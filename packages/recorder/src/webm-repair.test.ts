import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import fc from 'fast-check';
import { concat } from './ebml.js';
import { inspectWebm } from './testing/webm-inspect.js';
import type { TimelineFrame } from './timeline.js';
import { WebmMuxer, type WebmWrite } from './webm-muxer.js';
import { repairWebmFile } from './webm-repair.js';

const dir = mkdtempSync(join(tmpdir(), 'recorder-repair-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** The bytes a live writer would have on disk after `frames` 20 ms frames (appends only). */
function liveFile(frameCount: number, clusterMs: number): { bytes: Uint8Array; clusterEnds: number[] } {
  const mux = new WebmMuxer({ channels: 2, clusterMs });
  const parts: Uint8Array[] = [mux.start().bytes];
  const clusterEnds: number[] = [];
  let size = parts[0]?.length ?? 0;
  for (let i = 0; i < frameCount; i++) {
    const f: TimelineFrame = {
      kind: 'frame',
      pos: i * 960,
      durationSamples: 960,
      payload: Uint8Array.of(0xfc, i & 0xff, 1),
      filled: false,
    };
    for (const w of mux.process(f) as WebmWrite[]) {
      parts.push(w.bytes);
      size += w.bytes.length;
      clusterEnds.push(size);
    }
  }
  return { bytes: concat(parts), clusterEnds };
}

let n = 0;
function tmpFile(bytes: Uint8Array): string {
  const p = join(dir, `f${n++}.webm`);
  writeFileSync(p, bytes);
  return p;
}

void describe('repairWebmFile', () => {
  void it('finalizes a live file cut anywhere, keeping every complete block, and is idempotent', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 300 }),
        fc.integer({ min: 100, max: 2000 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        async (frames, clusterMs, cutAt) => {
          const { bytes, clusterEnds } = liveFile(frames, clusterMs);
          const cut = Math.floor(cutAt * bytes.length);
          const path = tmpFile(bytes.subarray(0, cut));
          const res = await repairWebmFile(path);
          const repairedBytes = new Uint8Array(readFileSync(path));
          const firstClusterEnd = clusterEnds[0];
          if (!res.ok) {
            // Nothing usable: the cut fell before the first complete block.
            assert.ok(firstClusterEnd === undefined || cut < firstClusterEnd);
            return;
          }
          const w = inspectWebm(repairedBytes);
          assert.equal(w.segmentSize, repairedBytes.length - w.segmentDataStart, 'Segment size set');
          assert.equal(w.cues.length, w.clusters.length);
          assert.ok(w.clusters.length > 0);
          const blocks = w.clusters.flatMap((c) => c.blocks);
          // Every block that was completely on disk survives (salvaged from a cut cluster too).
          const complete = clusterEnds.filter((e) => e <= cut).length;
          const blocksInCompleteClusters = liveFileBlocks(bytes, complete);
          assert.ok(blocks.length >= blocksInCompleteClusters);
          blocks.forEach((b, i) => assert.equal(b.timeMs, i * 20));
          assert.equal(w.durationMs, blocks.length * 20);
          assert.equal(res.durationMs, blocks.length * 20);
          assert.equal(res.sizeBytes, repairedBytes.length);

          const again = await repairWebmFile(path);
          assert.equal(again.repaired, false);
          assert.equal(again.sha256, res.sha256);
          assert.equal(again.durationMs, res.durationMs);
        },
      ),
      { numRuns: 60 },
    );
  });

  void it('reads cluster timestamps of any width (files longer than 65.5 s)', async () => {
    // 100 s of 20 ms frames in 2 s clusters; cut inside the last cluster, as a crash would.
    const { bytes, clusterEnds } = liveFile(5000, 2000);
    const lastComplete = clusterEnds.at(-2) as number;
    const path = tmpFile(bytes.subarray(0, lastComplete + 40));
    const res = await repairWebmFile(path);
    assert.equal(res.ok, true, res.reason);
    assert.ok(Number.isFinite(res.durationMs), `duration ${res.durationMs}`);
    // 49 complete clusters (98 s) plus the whole blocks of the cut one (40 bytes hold at most 3).
    assert.ok(res.durationMs >= 98_000 && res.durationMs <= 98_060, `duration ${res.durationMs} ms`);
    const info = inspectWebm(new Uint8Array(readFileSync(path)));
    assert.equal(info.durationMs, res.durationMs);
  });

  void it('reports ok:false for a file that is not WebM, without changing it', async () => {
    const path = tmpFile(Uint8Array.of(1, 2, 3, 4, 5));
    const res = await repairWebmFile(path);
    assert.equal(res.ok, false);
    assert.deepEqual([...readFileSync(path)], [1, 2, 3, 4, 5]);
  });
});

function liveFileBlocks(bytes: Uint8Array, clusters: number): number {
  const w = inspectWebm(bytes);
  return w.clusters.slice(0, clusters).reduce((n, c) => n + c.blocks.length, 0);
}
