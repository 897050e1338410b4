import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { isRecorderError } from './errors.js';
import { manifestFile } from './recording-manifest.js';
import { opusPacketSamples } from './opus.js';
import { buildRtp } from './rtp-parser.js';
import { inspectWebm } from './testing/webm-inspect.js';
import { TrackFileWriter, type TrackFileOpener } from './track-file-writer.js';
import { open as openFile } from 'node:fs/promises';
import fc from 'fast-check';

const dir = mkdtempSync(join(tmpdir(), 'recorder-writer-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const file = (): string => join(dir, `t${n++}.webm`);
const T0 = 1_750_000_000_000;

function rtp(seq: number, ts: number, pt = 111, ssrc = 42): Uint8Array {
  return buildRtp({
    payloadType: pt,
    sequenceNumber: seq,
    timestamp: ts,
    ssrc,
    payload: Uint8Array.of(0xfc, seq & 0xff, 9),
  });
}

/** Feeds `ms` of 20 ms packets starting at `fromMs` (timeline ms), ticking along. */
function talk(w: TrackFileWriter, fromMs: number, ms: number, seq0: number, ts0: number, ssrc = 42): void {
  for (let i = 0; i < ms / 20; i++) {
    const at = T0 + fromMs + i * 20;
    w.push(rtp(seq0 + i, ts0 + i * 960, 111, ssrc), at);
    w.tick(at);
  }
}

const expectCode = (code: string) => (e: unknown) => isRecorderError(e) && e.code === code;

void describe('TrackFileWriter', () => {
  void it('records joins, mutes, pauses and a rejoin as intervals on the timeline', async () => {
    const path = file();
    const w = new TrackFileWriter({ path, t0Ms: T0, channels: 2 });
    await w.open();
    w.attach({ sourceId: 'alice', payloadType: 111, atMs: T0 + 100 });
    talk(w, 100, 900, 1000, 5000);
    w.setMuted(true, T0 + 1000);
    for (let t = 1000; t < 2500; t += 20) w.tick(T0 + t);
    w.setMuted(false, T0 + 2500);
    talk(w, 2500, 500, 1045, 5000 + 2400 * 48);
    w.pause(T0 + 3000);
    talk(w, 3000, 500, 1070, 5000 + 2900 * 48); // dropped: paused
    w.resume(T0 + 3500);
    talk(w, 3500, 500, 1095, 5000 + 3400 * 48);
    w.detach(T0 + 4000);
    w.push(rtp(1, 1), T0 + 4100); // ignored: nobody attached
    w.attach({ sourceId: 'alice-2', payloadType: 111, atMs: T0 + 4500 });
    w.push(rtp(2, 2, 0), T0 + 4500); // ignored: other payload type
    talk(w, 4500, 1000, 7, 99, 43);
    const res = await w.close(T0 + 6000);

    assert.deepEqual(res.intervals, {
      present: [
        { sourceId: 'alice', fromMs: 100, toMs: 4000 },
        { sourceId: 'alice-2', fromMs: 4500, toMs: 6000 },
      ],
      muted: [{ fromMs: 1000, toMs: 2500 }],
      paused: [{ fromMs: 3000, toMs: 3500 }],
    });
    assert.equal(res.durationMs, 6000);
    assert.equal(res.startOffsetMs, 100);
    assert.equal(res.packets.received, 45 + 25 + 25 + 50 + 0);
    assert.equal(res.packets.ignored, 25 + 1 + 1);
    assert.equal(res.packets.lost, 0);
    assert.equal(res.framesWritten - res.framesFilled, 45 + 25 + 25 + 50);
    const webm = inspectWebm(new Uint8Array(readFileSync(path)));
    assert.equal(webm.durationMs, 6000);
    assert.equal(webm.clusters.flatMap((c) => c.blocks).length, res.framesWritten);
    assert.equal(webm.cues.length, 3, '2 s clusters');

    const entry = manifestFile({
      fileName: 'a.webm',
      layer: 'default',
      participantId: 'alice',
      customParticipantId: 'al',
      peerId: 'p1',
      peerIds: ['p1'],
      sizeBytes: res.sizeBytes,
      durationMs: res.durationMs,
      sha256: res.sha256,
      result: res,
    });
    assert.deepEqual(JSON.parse(JSON.stringify(entry)), entry, 'manifest entry is plain JSON');
    assert.equal(entry.file_end_ms, 6000);
    assert.deepEqual(entry.intervals.muted, [{ from_ms: 1000, to_ms: 2500 }]);
    assert.equal(entry.packets.after_stop, 0);
    assert.equal(entry.levels_source, 'none');
    assert.equal(entry.levels_missing_reason, 'not_negotiated');
    assert.equal(entry.speaking, null);
    assert.equal(entry.level_envelope, null);
  });

  void it("speaking intervals and the envelope from the packets' audio levels; none invented without them", async () => {
    // 20 ms packets with a one-byte RFC 6464 element (id 3): loud (-20 dBov, V set) in 1000..2000.
    const levelled = (seq: number, ts: number, byte: number | undefined) =>
      buildRtp({
        payloadType: 111,
        sequenceNumber: seq,
        timestamp: ts,
        ssrc: 7,
        payload: Uint8Array.of(0xfc, seq & 0xff, 9),
        ...(byte !== undefined && { extension: { profile: 0xbede, data: Uint8Array.of(0x30, byte, 0, 0) } }),
      });
    const runOne = async (extId: number | undefined, send: boolean) => {
      const w = new TrackFileWriter({ path: file(), t0Ms: T0 });
      await w.open();
      w.attach({
        sourceId: 'a',
        payloadType: 111,
        atMs: T0,
        ...(extId !== undefined && { audioLevelExtId: extId }),
      });
      for (let i = 0; i < 150; i++) {
        const t = i * 20;
        const loud = t >= 1000 && t < 2000;
        w.push(levelled(i, i * 960, send ? (loud ? 0x80 | 20 : 100) : undefined), T0 + t);
        w.tick(T0 + t);
      }
      return w.close(T0 + 3000);
    };
    const withLevels = await runOne(3, true);
    assert.equal(withLevels.speech.levelsSource, 'rtp_header_extension');
    assert.equal(withLevels.speech.intervals?.length, 1);
    const [spoke] = withLevels.speech.intervals ?? [];
    assert.ok(
      spoke && Math.abs(spoke.fromMs - 1000) <= 20 && Math.abs(spoke.toMs - 2000) <= 20,
      JSON.stringify(spoke),
    );
    assert.equal(spoke.vad, true);
    assert.equal(withLevels.speech.envelope?.values.length, 30);
    assert.equal(withLevels.speech.envelope?.values[15], -20);
    assert.equal(withLevels.speech.envelope?.values[5], -100);
    assert.equal(withLevels.speech.framesWithLevel, 150);

    const notSent = await runOne(3, false);
    assert.equal(notSent.speech.levelsSource, 'none');
    assert.equal(notSent.speech.missingReason, 'not_sent');
    assert.equal(notSent.speech.intervals, null);
    assert.equal(notSent.speech.framesWithoutLevel, 150);

    const notNegotiated = await runOne(undefined, true); // levels present but the id was not agreed
    assert.equal(notNegotiated.speech.missingReason, 'not_negotiated');
    assert.equal(notNegotiated.speech.intervals, null);
  });

  void it('a stop that arrives late cuts the file back to its instant, levels included', async () => {
    const path = file();
    const w = new TrackFileWriter({ path, t0Ms: T0, clusterMs: 1000 });
    await w.open();
    w.attach({ sourceId: 'a', payloadType: 111, atMs: T0, audioLevelExtId: 3 });
    for (let i = 0; i < 190; i++) {
      const t = i * 20;
      const loud = t >= 2500;
      const pkt = buildRtp({
        payloadType: 111,
        sequenceNumber: i,
        timestamp: i * 960,
        ssrc: 7,
        payload: Uint8Array.of(0xfc, i & 0xff, 9),
        extension: { profile: 0xbede, data: Uint8Array.of(0x30, loud ? 0x80 | 20 : 100, 0, 0) },
      });
      w.push(pkt, T0 + t);
      w.tick(T0 + t);
    }
    await w.drained();
    // Clusters up to 3 s are on disk by now, 3 to 3.8 s open; the stop was asked for at 2.6 s and is
    // carried out late: the open cluster goes, the one of 2 to 3 s is written again up to 2.6 s.
    assert.equal(w.stats().muxer.clusters, 3, JSON.stringify(w.stats().muxer));
    const res = await w.close(T0 + 2600);
    assert.equal(res.durationMs, 2600);
    assert.equal(res.framesWritten, 130);
    assert.equal(res.packets.received, 190);
    assert.equal(res.framesWritten - res.framesFilled, res.packets.received - res.packets.afterStop);
    assert.deepEqual(res.intervals.present, [{ sourceId: 'a', fromMs: 0, toMs: 2600 }]);
    assert.deepEqual(
      res.speech.intervals?.map((i) => [i.fromMs, i.toMs]),
      [[2500, 2600]],
    );
    assert.equal(res.speech.envelope?.values.length, 26);
    const bytes = new Uint8Array(readFileSync(path));
    assert.equal(res.sizeBytes, bytes.length);
    const webm = inspectWebm(bytes);
    assert.equal(webm.segmentSize, bytes.length - webm.segmentDataStart, 'nothing past the Cues');
    assert.equal(webm.durationMs, 2600);
    const blocks = webm.clusters.flatMap((c) => c.blocks);
    assert.equal(blocks.length, 130);
    assert.equal(blocks.at(-1)?.timeMs, 2580);
    assert.equal(webm.cues.length, webm.clusters.length);
  });

  void it('a pause that arrives late cuts back to its instant: silence from there until the resume', async () => {
    const path = file();
    const w = new TrackFileWriter({ path, t0Ms: T0, clusterMs: 1000 });
    await w.open();
    w.attach({ sourceId: 'a', payloadType: 111, atMs: T0 });
    talk(w, 0, 3800, 0, 0); // the pause was asked for at 2.6 s and is carried out at 3.8 s
    await w.drained();
    assert.equal(w.stats().muxer.clusters, 3, JSON.stringify(w.stats().muxer));
    w.pause(T0 + 2600);
    for (let t = 3800; t < 5000; t += 20) w.tick(T0 + t);
    w.resume(T0 + 5000);
    talk(w, 5000, 1000, 500, 5000 * 48);
    const res = await w.close(T0 + 6000);

    assert.deepEqual(res.intervals.paused, [{ fromMs: 2600, toMs: 5000 }]);
    assert.equal(res.durationMs, 6000);
    assert.equal(res.packets.received, 190 + 50);
    assert.equal(res.packets.ignored, 190 - 130, 'the audio past the pause instant is counted as ignored');
    assert.equal(res.framesWritten - res.framesFilled, 130 + 50);
    const bytes = new Uint8Array(readFileSync(path));
    const webm = inspectWebm(bytes);
    assert.equal(webm.durationMs, 6000);
    const blocks = webm.clusters.flatMap((c) => c.blocks);
    let at = 0;
    for (const b of blocks) {
      assert.equal(b.timeMs, Math.round(at), 'gap-free and overlap-free');
      const real = b.payload[0] === 0xfc && b.payload[2] === 9;
      assert.equal(real, at < 2600 || at >= 5000, `block at ${b.timeMs} ms is ${real ? 'audio' : 'silence'}`);
      at += opusPacketSamples(b.payload) / 48;
    }
    assert.equal(at, 6000);
    assert.equal(webm.cues.length, webm.clusters.length);
  });

  void it('a full disk: close() finalises what was written, and the file ends where the disk ran out', async () => {
    // A real file whose writes fail with ENOSPC once `budget` bytes are on disk (a write that
    // crosses the budget writes part of its bytes first, as a kernel does on a full disk).
    let budget = Infinity;
    const opener: TrackFileOpener = async (path) => {
      const fh = await openFile(path, 'wx');
      let used = 0;
      return {
        async write(buf, off, len, pos) {
          const room = budget - used;
          if (room <= 0)
            throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
          const r = await fh.write(buf, off, Math.min(len, room), pos);
          used += r.bytesWritten;
          return r;
        },
        sync: () => fh.sync(),
        truncate: (n: number) => fh.truncate(n),
        close: () => fh.close(),
      };
    };
    const path = file();
    const w = new TrackFileWriter({ path, t0Ms: T0, clusterMs: 1000, openFile: opener });
    const failures: { code: string }[] = [];
    w.on('writeFailed', (f) => failures.push(f));
    await w.open();
    w.attach({ sourceId: 'a', payloadType: 111, atMs: T0 });
    talk(w, 0, 2100, 0, 0); // two complete 1 s clusters reach the disk
    await once(w, 'flushed');
    while (w.stats().muxer.clusters < 2 || w.stats().pendingWrites > 0) await once(w, 'flushed');
    budget = w.stats().bytesOnDisk + 40; // the third cluster is cut after 40 bytes
    talk(w, 2100, 3000, 105, 105 * 960);
    const res = await w.close(T0 + 5100);

    assert.deepEqual(
      failures.map((f) => f.code),
      ['ENOSPC'],
      'one writeFailed event',
    );
    assert.equal(res.writeFailure?.code, 'ENOSPC');
    assert.equal(res.durationMs, 2000, 'the file holds the two clusters that fit');
    assert.equal(res.writeFailure?.endsAtMs, 2000);
    const webm = inspectWebm(new Uint8Array(readFileSync(path)));
    assert.equal(webm.durationMs, 2000);
    assert.notEqual(webm.segmentSize, undefined, 'the Segment has its size');
    assert.equal(webm.clusters.flatMap((c) => c.blocks).length, 100);
    assert.equal(webm.cues.length, 2, 'seekable: one cue per complete cluster');
    assert.equal(res.sizeBytes, readFileSync(path).length);
    // A later close answers the same result, at once.
    assert.equal(await w.close(T0 + 9000), res);
  });

  void it('a write that fails before any cluster reached the disk leaves nothing usable: close() rejects', async () => {
    const opener: TrackFileOpener = async (path) => {
      const fh = await openFile(path, 'wx');
      let writes = 0;
      return {
        async write(buf, off, len, pos) {
          if (writes++ > 0) throw Object.assign(new Error('EIO: i/o error, write'), { code: 'EIO' });
          return fh.write(buf, off, len, pos);
        },
        sync: () => fh.sync(),
        truncate: (n: number) => fh.truncate(n),
        close: () => fh.close(),
      };
    };
    const w = new TrackFileWriter({ path: file(), t0Ms: T0, clusterMs: 1000, openFile: opener });
    await w.open();
    w.attach({ sourceId: 'a', payloadType: 111, atMs: T0 });
    talk(w, 0, 1500, 0, 0);
    await assert.rejects(w.close(T0 + 1500), expectCode('RECORDER_IO_FAILED'));
  });

  void it('appends each cluster as soon as it completes', async () => {
    const w = new TrackFileWriter({ path: file(), t0Ms: T0, clusterMs: 1000 });
    await w.open();
    const headerBytes = w.stats().bytesOnDisk;
    w.attach({ sourceId: 'a', payloadType: 111 });
    const flushed = once(w, 'flushed');
    talk(w, 0, 1200, 0, 0);
    const [info] = (await flushed) as [{ bytesOnDisk: number; clusters: number; durationMs: number }];
    assert.ok(info.bytesOnDisk > headerBytes);
    assert.equal(info.clusters, 1);
    assert.equal(info.durationMs, 1000);
    await w.close(T0 + 1200);
  });

  void it('drops the leading silence with align: first_packet', async () => {
    const w = new TrackFileWriter({ path: file(), t0Ms: T0, align: 'first_packet' });
    await w.open();
    w.attach({ sourceId: 'a', payloadType: 111 });
    for (let t = 0; t < 700; t += 20) w.tick(T0 + t);
    talk(w, 700, 1000, 0, 0);
    const res = await w.close(T0 + 2000);
    assert.equal(res.startOffsetMs, 700);
    assert.equal(res.fileStartMs, 700);
    assert.equal(res.durationMs, 1300);
    assert.equal(res.fileStartMs + res.durationMs, 2000, 'the file ends at 2 s on the timeline');
  });

  void it('has a forward-only lifecycle with typed errors; close() is idempotent', async () => {
    const path = file();
    const w = new TrackFileWriter({ path, t0Ms: T0 });
    assert.throws(() => w.push(rtp(1, 1), T0), expectCode('RECORDER_NOT_OPEN'));
    await w.open();
    await assert.rejects(w.open(), expectCode('RECORDER_ALREADY_OPEN'));
    let threw = 0;
    w.on('flushed', () => {
      threw++;
      throw new Error('listener failure must not break the writer');
    });
    const p1 = w.close(T0 + 100);
    const p2 = w.close(T0 + 999);
    assert.equal(p1, p2);
    const res = await p1;
    assert.ok(threw > 0);
    assert.equal(res.durationMs, 100);
    assert.throws(() => w.push(rtp(1, 1), T0), expectCode('RECORDER_CLOSED'));
    assert.throws(() => w.tick(T0), expectCode('RECORDER_CLOSED'));
    assert.throws(() => w.attach({ sourceId: 'x', payloadType: 111 }), expectCode('RECORDER_CLOSED'));
    await assert.rejects(w.open(), expectCode('RECORDER_CLOSED'));
    assert.equal(w.stats().state, 'closed');
  });

  void it('refuses to overwrite an existing file', async () => {
    const path = file();
    writeFileSync(path, 'precious');
    const w = new TrackFileWriter({ path, t0Ms: T0 });
    await assert.rejects(w.open(), expectCode('RECORDER_IO_FAILED'));
    assert.equal(readFileSync(path, 'utf8'), 'precious');
    await assert.rejects(w.close(T0), expectCode('RECORDER_NOT_OPEN'));
  });

  void it('survives garbage input without throwing', async () => {
    const w = new TrackFileWriter({ path: file(), t0Ms: T0 });
    await w.open();
    w.attach({ sourceId: 'a', payloadType: 111 });
    w.push(new Uint8Array(3), T0);
    w.push(Uint8Array.of(0x80, 111, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1), T0); // header only
    w.push(
      buildRtp({ payloadType: 111, sequenceNumber: 5, timestamp: 5, ssrc: 1, payload: Uint8Array.of(0xfb) }),
      T0,
    );
    const res = await w.close(T0 + 500);
    assert.equal(res.packets.invalid, 3);
    assert.equal(res.durationMs, 500);
  });
});

void describe('TrackFileWriter batchPackets', () => {
  type Op =
    | { op: 'push'; seq: number; ts: number; atMs: number }
    | { op: 'tick' | 'pause' | 'resume' | 'mute' | 'unmute' | 'detach' | 'attach'; atMs: number };

  /** A random session: talk with loss, reordering and jitter, ticks, pauses, mutes and a rejoin. */
  const session = fc
    .array(
      fc.record({
        kind: fc.constantFrom(
          'talk',
          'talk',
          'talk',
          'silence',
          'pause',
          'resume',
          'mute',
          'unmute',
          'rejoin',
          'stats',
        ),
        ms: fc.integer({ min: 20, max: 1500 }),
        loss: fc.integer({ min: 0, max: 20 }),
        swap: fc.boolean(),
      }),
      { minLength: 1, maxLength: 12 },
    )
    .map((steps) => {
      const ops: (Op | { op: 'stats' })[] = [];
      let t = 0;
      let seq = 500;
      let ts = 90_000;
      for (const s of steps) {
        const n = Math.max(1, Math.floor(s.ms / 20));
        if (s.kind === 'talk') {
          const burst: Op[] = [];
          for (let i = 0; i < n; i++) {
            const at = t + i * 20 + ((i * 7) % 13);
            if (s.loss > 0 && i % (25 - s.loss) === 3) continue;
            burst.push({ op: 'push', seq: (seq + i) & 0xffff, ts: (ts + i * 960) >>> 0, atMs: at });
          }
          if (s.swap && burst.length > 4) [burst[1], burst[2]] = [burst[2] as Op, burst[1] as Op];
          for (const [i, b] of burst.entries()) {
            ops.push(b);
            if (i % 5 === 4) ops.push({ op: 'tick', atMs: b.atMs });
          }
          seq += n;
          ts += n * 960;
        } else if (s.kind === 'silence') ops.push({ op: 'tick', atMs: t + n * 20 });
        else if (s.kind === 'rejoin') {
          ops.push({ op: 'detach', atMs: t }, { op: 'attach', atMs: t + 10 });
          seq += 1000;
          ts += 7_000_000;
        } else if (s.kind === 'stats') ops.push({ op: 'stats' });
        else ops.push({ op: s.kind, atMs: t });
        t += n * 20 + 5;
      }
      return { ops, endMs: t + 100 };
    });

  void it('writes the same file and result whether packets run at once or in batches (property)', async () => {
    await fc.assert(
      fc.asyncProperty(session, fc.integer({ min: 2, max: 40 }), async ({ ops, endMs }, batch) => {
        const run = async (batchPackets: number) => {
          const path = file();
          const w = new TrackFileWriter({ path, t0Ms: T0, batchPackets });
          await w.open();
          w.attach({ sourceId: 'a', payloadType: 111, atMs: T0 });
          const seen: unknown[] = [];
          let source = 0;
          for (const o of ops) {
            if (o.op === 'push') w.push(rtp(o.seq, o.ts), T0 + o.atMs);
            else if (o.op === 'tick') w.tick(T0 + o.atMs);
            else if (o.op === 'pause') w.pause(T0 + o.atMs);
            else if (o.op === 'resume') w.resume(T0 + o.atMs);
            else if (o.op === 'mute') w.setMuted(true, T0 + o.atMs);
            else if (o.op === 'unmute') w.setMuted(false, T0 + o.atMs);
            else if (o.op === 'detach') w.detach(T0 + o.atMs);
            else if (o.op === 'attach')
              w.attach({ sourceId: `a${++source}`, payloadType: 111, atMs: T0 + o.atMs });
            // What a reader sees at any moment includes every packet pushed so far.
            else seen.push(w.stats().timeline.framesReal);
          }
          const res = await w.close(T0 + endMs);
          const { path: _p, sha256: _h, ...rest } = res;
          return { bytes: readFileSync(path), rest, seen };
        };
        const once = await run(0);
        const batched = await run(batch);
        assert.deepEqual(batched.rest, once.rest);
        assert.deepEqual(batched.seen, once.seen);
        assert.ok(batched.bytes.equals(once.bytes), 'the same bytes');
      }),
      { numRuns: 60 },
    );
  });
});
