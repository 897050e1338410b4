import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { Ids } from './ebml.js';
import { opusHead, opusPacketSamples, opusSilenceFrame } from './opus.js';
import { inspectWebm } from './testing/webm-inspect.js';
import type { TimelineFrame } from './timeline.js';
import { WebmMuxer, SEEK_HEAD_RESERVE, type WebmWrite } from './webm-muxer.js';

/** Applies writes to a growing byte array, as the file adapter does with positional writes. */
function apply(file: Uint8Array, writes: readonly WebmWrite[]): Uint8Array {
  let out = file;
  for (const w of writes) {
    if (w.kind === 'truncate') {
      assert.ok(w.offset <= out.length, 'a truncation only shortens');
      out = out.slice(0, w.offset);
      continue;
    }
    if (w.kind === 'append') assert.equal(w.offset, out.length, 'appends go exactly at the end');
    else assert.ok(w.offset + w.bytes.length <= out.length, 'patches stay inside the file');
    const end = Math.max(out.length, w.offset + w.bytes.length);
    if (end > out.length) {
      const grown = new Uint8Array(end);
      grown.set(out);
      out = grown;
    }
    out.set(w.bytes, w.offset);
  }
  return out;
}

const sizesArb = fc.array(fc.constantFrom(120, 240, 480, 960, 1920, 2880), { minLength: 0, maxLength: 400 });

function framesOf(sizes: readonly number[], startPos = 0): TimelineFrame[] {
  let pos = startPos;
  return sizes.map((n, i) => {
    const f: TimelineFrame = {
      kind: 'frame',
      pos,
      durationSamples: n,
      payload:
        i % 3 === 0
          ? opusSilenceFrame(n <= 960 ? (n as 120 | 240 | 480 | 960) : 960, 2)
          : Uint8Array.of(0xfc, i & 0xff, 7),
      filled: i % 3 === 0,
    };
    pos += n;
    return f;
  });
}

void describe('WebmMuxer', () => {
  void it('writes a header with Info, Tracks (A_OPUS, OpusHead) and a reserved SeekHead', () => {
    const mux = new WebmMuxer({ channels: 1 });
    const head = mux.start();
    const w = inspectWebm(head.bytes);
    assert.equal(w.segmentSize, undefined, 'unknown size while live');
    assert.equal(w.timestampScale, 1_000_000);
    assert.equal(w.codecId, 'A_OPUS');
    assert.equal(w.channels, 1);
    assert.equal(w.samplingFrequency, 48000);
    assert.deepEqual(w.codecPrivate, opusHead(1));
    assert.equal(w.durationMs, undefined);
    assert.deepEqual(w.layout, [Ids.SeekHead, Ids.Void, Ids.Info, Ids.Tracks]);
    assert.deepEqual(
      w.seek.map((s) => s.id),
      [Ids.Info, Ids.Tracks],
    );
  });

  void it('property: clusters are complete, bounded and in order; finalize patches only the header', () => {
    fc.assert(
      fc.property(
        sizesArb,
        fc.integer({ min: 20, max: 5000 }),
        fc.nat(10_000_000),
        (sizes, clusterMs, startPos) => {
          const mux = new WebmMuxer({ channels: 2, clusterMs });
          let file = apply(new Uint8Array(0), [mux.start()]);
          const headerLength = file.length;
          const frames = framesOf(sizes, startPos * 120);
          for (const f of frames) {
            const writes = mux.process(f);
            assert.ok(writes.every((w) => w.kind === 'append'));
            file = apply(file, writes);
            // Whatever is on disk while live is a playable file.
            if (writes.length > 0) inspectWebm(file);
            assert.ok(mux.stats().pendingMs <= clusterMs + 60, 'at most one cluster span held in memory');
          }
          const live = file;
          const endPos = (frames.at(-1)?.pos ?? 0) + (frames.at(-1)?.durationSamples ?? 0);
          const fin = mux.process({ kind: 'end', atMs: 0, endPos });
          for (const p of fin.filter((w) => w.kind === 'patch')) {
            assert.ok(p.offset + p.bytes.length <= headerLength, 'patches stay in the header');
          }
          file = apply(file, fin);
          assert.deepEqual(
            file.subarray(headerLength, live.length),
            live.subarray(headerLength),
            'clusters untouched',
          );

          const w = inspectWebm(file);
          assert.equal(w.segmentSize, file.length - w.segmentDataStart);
          const total = sizes.reduce((n, s) => n + s, 0);
          assert.equal(w.durationMs, (total * 1000) / 48000);
          const blocks = w.clusters.flatMap((c) => c.blocks);
          assert.equal(blocks.length, frames.length);
          blocks.forEach((b, i) => {
            const f = frames[i] as TimelineFrame;
            assert.equal(b.timeMs, Math.round(((f.pos - startPos * 120) * 1000) / 48000));
            assert.ok(b.keyframe);
            assert.deepEqual(b.payload, f.payload);
          });
          for (const c of w.clusters) {
            const last = c.blocks.at(-1);
            assert.ok(last, 'no empty cluster');
            const lastEnd = last.timeMs + opusPacketSamples(last.payload) / 48;
            assert.ok(lastEnd - c.timeMs <= clusterMs + 60 + 1, 'cluster span bounded');
          }
          assert.deepEqual(
            w.cues,
            w.clusters.map((c) => ({ timeMs: c.timeMs, clusterPosition: c.position })),
            'one cue per cluster',
          );
          if (w.clusters.length > 0) {
            const cuesSeek = w.seek.find((s) => s.id === Ids.Cues);
            assert.ok(cuesSeek);
            assert.equal(
              readId4(file, w.segmentDataStart + cuesSeek.position),
              Ids.Cues,
              'SeekHead points at the Cues',
            );
          }
          for (const s of w.seek) assert.ok(s.position >= SEEK_HEAD_RESERVE || s.id === Ids.Info);
        },
      ),
      { numRuns: 150 },
    );
  });

  void it('property: an end that arrives late cuts back to its position through the open and the last written cluster', () => {
    fc.assert(
      fc.property(
        fc.array(fc.constantFrom(240, 480, 960, 1920), { minLength: 1, maxLength: 300 }),
        fc.integer({ min: 20, max: 3000 }),
        fc.double({ min: -0.1, max: 1, noNaN: true }),
        (sizes, clusterMs, cutAt) => {
          const startPos = 4800;
          const mux = new WebmMuxer({ channels: 2, clusterMs });
          let file = apply(new Uint8Array(0), [mux.start()]);
          const frames = framesOf(sizes, startPos);
          for (const f of frames) file = apply(file, mux.process(f));
          const endPos =
            (frames.at(-1) as TimelineFrame).pos + (frames.at(-1) as TimelineFrame).durationSamples;
          const cut = Math.round(startPos + cutAt * (endPos - startPos));
          // Only the open cluster and the last written one can be taken back.
          const written = inspectWebm(file).clusters;
          const older = written.slice(0, -1).reduce((n, c) => n + c.blocks.length, 0);
          const before = frames.filter((f) => f.pos < cut).length;
          const kept = frames.slice(0, Math.max(older, before));
          file = apply(file, mux.process({ kind: 'end', atMs: 0, endPos: cut }));

          const w = inspectWebm(file);
          assert.equal(w.segmentSize, file.length - w.segmentDataStart, 'nothing left past the Cues');
          const blocks = w.clusters.flatMap((c) => c.blocks);
          assert.deepEqual(
            blocks.map((b) => b.payload),
            kept.map((f) => f.payload),
          );
          const keptEnd = kept.reduce((n, f) => n + f.durationSamples, 0);
          assert.equal(w.durationMs, (keptEnd * 1000) / 48000);
          assert.deepEqual(
            w.cues,
            w.clusters.map((c) => ({ timeMs: c.timeMs, clusterPosition: c.position })),
            'one cue per cluster',
          );
          for (const c of w.clusters) assert.ok(c.blocks.length > 0, 'no empty cluster');
          const st = mux.stats();
          assert.equal(st.trimmedBlocks, frames.length - kept.length);
          assert.equal(st.trimmedFilled, frames.slice(kept.length).filter((f) => f.filled).length);
          assert.equal(st.blocks, kept.length);
          const overrun =
            older > before ? ((startPos + keptEnd - Math.max(cut, startPos)) * 1000) / 48000 : 0;
          assert.equal(st.overrunMs, overrun);
        },
      ),
      { numRuns: 300 },
    );
  });
  void it('property: reusing the stage buffers of written clusters changes no byte, however late the writes land', () => {
    fc.assert(
      fc.property(
        fc.array(fc.constantFrom(240, 480, 960, 1920), { minLength: 1, maxLength: 300 }),
        fc.integer({ min: 20, max: 400 }),
        fc.array(fc.nat(3), { minLength: 1, maxLength: 50 }),
        fc.double({ min: 0, max: 1.2, noNaN: true }),
        (sizes, clusterMs, landings, cutAt) => {
          const startPos = 4800;
          const frames = framesOf(sizes, startPos);
          const endPos =
            (frames.at(-1) as TimelineFrame).pos + (frames.at(-1) as TimelineFrame).durationSamples;
          const end = {
            kind: 'end' as const,
            atMs: 0,
            endPos: Math.round(startPos + cutAt * (endPos - startPos)),
          };
          // Reference: nothing reported written, so no buffer is ever reused.
          const ref = new WebmMuxer({ channels: 2, clusterMs });
          let refFile = apply(new Uint8Array(0), [ref.start()]);
          for (const f of frames) refFile = apply(refFile, ref.process(f));
          refFile = apply(refFile, ref.process(end));
          // As the file writer does: writes land in order, some steps later, each reported once on disk.
          const mux = new WebmMuxer({ channels: 2, clusterMs });
          const queued: WebmWrite[] = [mux.start()];
          let file: Uint8Array = new Uint8Array(0);
          const seen = new Set<ArrayBufferLike>();
          let reused = 0;
          const land = (n: number) => {
            for (let i = 0; i < n && queued.length > 0; i++) {
              const w = queued.shift() as WebmWrite;
              file = apply(file, [w]);
              mux.written(w);
            }
          };
          frames.forEach((f, i) => {
            for (const w of mux.process(f)) {
              if (w.kind === 'append' && seen.has(w.bytes.buffer)) reused++;
              seen.add(w.bytes.buffer);
              queued.push(w);
            }
            land(landings[i % landings.length] as number);
          });
          queued.push(...mux.process(end));
          land(Infinity);
          assert.deepEqual(file, refFile);
          // With every write landing at once and 4+ clusters, buffers really are reused.
          if (landings.every((n) => n > 0) && ref.stats().clusters >= 4)
            assert.ok(reused > 0, 'a stage buffer was reused');
        },
      ),
      { numRuns: 300 },
    );
  });
});

function readId4(buf: Uint8Array, o: number): number {
  return (
    (((buf[o] as number) << 24) |
      ((buf[o + 1] as number) << 16) |
      ((buf[o + 2] as number) << 8) |
      (buf[o + 3] as number)) >>>
    0
  );
}
