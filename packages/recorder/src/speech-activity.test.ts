import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildRtp, parseRtp, readOneByteExtension } from './rtp-parser.js';
import { SpeechActivity, type SpeakingInterval } from './speech-activity.js';
import type { TimelineOutput } from './timeline.js';
import { TrackPipeline } from './track-pipeline.js';

const S = 48; // samples per ms
const TOC_20MS = Uint8Array.of(0xf8, 1, 2);

/** A real 20 ms frame at timeline ms `atMs` with an RFC 6464 byte (-1: none). */
function frame(atMs: number, level: number, vad = false, ms = 20): TimelineOutput {
  return {
    kind: 'frame',
    pos: atMs * S,
    durationSamples: ms * S,
    payload: TOC_20MS,
    filled: false,
    audioLevel: level < 0 ? -1 : level | (vad ? 0x80 : 0),
  };
}
const filled = (atMs: number, ms = 20): TimelineOutput => ({
  kind: 'frame',
  pos: atMs * S,
  durationSamples: ms * S,
  payload: TOC_20MS,
  filled: true,
  audioLevel: -1,
});

/** Runs frames through the stage and returns every interval it emitted, in order. */
function run(sa: SpeechActivity, inputs: TimelineOutput[]): SpeakingInterval[] {
  const out: SpeakingInterval[] = [];
  for (const i of inputs) out.push(...sa.process(i));
  return out;
}

/** 20 ms frames of `level` from `fromMs` for `ms`. */
function spurt(fromMs: number, ms: number, level: number, vad = false): TimelineOutput[] {
  return Array.from({ length: ms / 20 }, (_, k) => frame(fromMs + k * 20, level, vad));
}

/** One-byte header extension block (RFC 8285) with the given elements, zero-padded to 4 bytes. */
function oneByteBlock(elements: [id: number, value: number[]][]): Uint8Array {
  const bytes: number[] = [];
  for (const [id, v] of elements) bytes.push((id << 4) | (v.length - 1), ...v);
  while (bytes.length % 4) bytes.push(0);
  return Uint8Array.from(bytes);
}

void describe('SpeechActivity', () => {
  void it('turns loud frames into intervals: quiet gaps under the hangover do not split, longer ones do', () => {
    const sa = new SpeechActivity();
    const got = run(sa, [
      ...spurt(0, 200, 127), // silence packets
      ...spurt(200, 400, 20), // talk 200..600
      ...spurt(600, 280, 90), // quiet 280 ms < hangover: same interval
      ...spurt(880, 120, 30, true), // talk to 1000
      ...spurt(1000, 300, 70), // quiet 300 ms = hangover: splits
      ...spurt(1300, 100, 50), // exactly -50 dBov: loud
      ...spurt(1400, 600, 51), // just below the threshold
      { kind: 'end', atMs: 0, endPos: 2000 * S },
    ]);
    assert.deepEqual(got, [
      { fromMs: 200, toMs: 1000, vad: true },
      { fromMs: 1300, toMs: 1400, vad: false },
    ]);
    assert.deepEqual(sa.intervals(), got);
    const st = sa.stats();
    assert.equal(st.framesWithLevel, 100);
    assert.equal(st.framesLoud, 31);
    assert.equal(st.framesVad, 6);
    assert.equal(st.intervals, 2);
  });

  void it('emits an interval once the hangover has passed, driven by generated silence too', () => {
    const sa = new SpeechActivity({ hangoverMs: 300 });
    assert.deepEqual(run(sa, spurt(0, 100, 10)), []);
    // Muted or lost: the timeline fills silence. The interval closes at the first frame >= 300 ms after it.
    const out: SpeakingInterval[][] = [];
    for (let t = 100; t < 500; t += 20) out.push([...sa.process(filled(t))]);
    const firstNonEmpty = out.findIndex((o) => o.length > 0);
    assert.equal(100 + firstNonEmpty * 20, 400);
    assert.deepEqual(out[firstNonEmpty], [{ fromMs: 0, toMs: 100, vad: false }]);
    assert.deepEqual(sa.process({ kind: 'end', atMs: 0, endPos: 500 * S }), []);
  });

  void it('closes the open interval at the end of the stream', () => {
    const sa = new SpeechActivity();
    run(sa, spurt(1000, 500, 0));
    assert.deepEqual(
      [...sa.process({ kind: 'end', atMs: 0, endPos: 1500 * S })],
      [{ fromMs: 1000, toMs: 1500, vad: false }],
    );
  });

  void it('never invents speech: frames without a level and filled frames are not loud', () => {
    const sa = new SpeechActivity();
    const got = run(sa, [
      ...Array.from({ length: 50 }, (_, k) => frame(k * 20, -1)),
      ...Array.from({ length: 50 }, (_, k) => filled(1000 + k * 20)),
      { kind: 'end', atMs: 0, endPos: 2000 * S },
    ]);
    assert.deepEqual(got, []);
    assert.equal(sa.stats().framesWithLevel, 0);
    assert.equal(sa.stats().framesWithoutLevel, 50);
    assert.deepEqual(sa.envelope(), new Array<number>(20).fill(-127));
  });

  void it('keeps the loudest level per 100 ms bin, -127 where there is none, up to the end', () => {
    const sa = new SpeechActivity();
    run(sa, [
      frame(0, 60),
      frame(20, 10),
      frame(40, 127),
      frame(100, 127),
      // 200..300: nothing (a gap: the timeline would fill it)
      frame(300, 33, true, 60), // 300..360
      frame(380, 40, false, 60), // 380..440: straddles two bins
      { kind: 'end', atMs: 0, endPos: 650 * S },
    ]);
    assert.deepEqual(sa.envelope(), [-10, -127, -127, -33, -40, -127, -127]);
  });

  void it('grows the envelope past its first buffer (hours of audio) without losing values', () => {
    const sa = new SpeechActivity();
    const n = 5000; // 500 s: more bins than the first 1024-bin buffer
    for (let b = 0; b < n; b++) sa.process(frame(b * 100, b % 128));
    sa.process({ kind: 'end', atMs: 0, endPos: n * 100 * S });
    const env = sa.envelope();
    assert.equal(env.length, n);
    for (let b = 0; b < n; b++) assert.equal(env[b], -(b % 128) || 0);
  });

  void it('uses the threshold and hangover it is given', () => {
    const sa = new SpeechActivity({ thresholdDbov: -30, hangoverMs: 100 });
    const got = run(sa, [
      ...spurt(0, 100, 40), // not loud at -30
      ...spurt(100, 100, 30),
      ...spurt(200, 100, 90),
      ...spurt(300, 100, 25),
      { kind: 'end', atMs: 0, endPos: 400 * S },
    ]);
    assert.deepEqual(got, [
      { fromMs: 100, toMs: 200, vad: false },
      { fromMs: 300, toMs: 400, vad: false },
    ]);
  });
});

void describe('RFC 6464 level in the RTP header extension', () => {
  const LEVEL = 0x80 | 42; // voice, -42 dBov

  void it('reads the level by id among other one-byte elements and padding', () => {
    const data = oneByteBlock([
      [4, [0x61, 0x62]], // a mid, 2 bytes
      [1, [LEVEL]],
    ]);
    assert.equal(readOneByteExtension(data, 1), LEVEL);
    assert.equal(readOneByteExtension(data, 4), 0x61);
    assert.equal(readOneByteExtension(data, 3), -1);
    assert.equal(readOneByteExtension(Uint8Array.of(0, 0, 0x10, LEVEL), 1), LEVEL, 'padding first');
    assert.equal(readOneByteExtension(Uint8Array.of(0x13, 1), 1), -1, 'element past the end');
    assert.equal(readOneByteExtension(Uint8Array.of(0xf0, 0x10, LEVEL, 0), 1), -1, 'id 15 stops reading');
  });

  void it('parseRtp sets audioLevel only with the negotiated id and the one-byte profile', () => {
    const payload = TOC_20MS;
    const withExt = (profile: number) =>
      buildRtp({
        payloadType: 111,
        sequenceNumber: 1,
        timestamp: 2,
        ssrc: 3,
        payload,
        extension: { profile, data: oneByteBlock([[2, [LEVEL]]]) },
      });
    const ok = (r: ReturnType<typeof parseRtp>) => {
      assert.ok(r.ok);
      return r.packet;
    };
    assert.equal(ok(parseRtp(withExt(0xbede), 2)).audioLevel, LEVEL);
    assert.equal(ok(parseRtp(withExt(0xbede), 3)).audioLevel, -1, 'another id');
    assert.equal(ok(parseRtp(withExt(0xbede))).audioLevel, -1, 'not negotiated');
    assert.equal(ok(parseRtp(withExt(0x1000), 2)).audioLevel, -1, 'two-byte form is not read');
    const plain = buildRtp({ payloadType: 111, sequenceNumber: 1, timestamp: 2, ssrc: 3, payload });
    assert.equal(ok(parseRtp(plain, 2)).audioLevel, -1);
    assert.deepEqual(ok(parseRtp(withExt(0xbede), 2)).payload, payload);
  });

  void it('through the pipeline: talk spurts at known times land as intervals on the timeline', () => {
    // An injected clock: arrival times are the send schedule plus 30 ms of network, ticks follow it.
    const t0 = 1_750_000_000_000;
    const pipeline = new TrackPipeline({ t0Ms: t0, channels: 2 });
    const sa = new SpeechActivity();
    const feed = (outs: TimelineOutput[]) => {
      for (const o of outs) sa.process(o);
    };
    feed(pipeline.process({ kind: 'attach', payloadType: 111, audioLevelExtId: 1 }));
    const startMs = 500;
    const schedule = [
      { from: 1000, to: 2000 },
      { from: 3000, to: 3600 },
    ];
    let seq = 100;
    for (let t = startMs; t < 5000; t += 20) {
      const loud = schedule.some((s) => t >= s.from && t < s.to);
      const data = buildRtp({
        payloadType: 111,
        sequenceNumber: seq++,
        timestamp: (t - startMs) * 48,
        ssrc: 9,
        payload: TOC_20MS,
        extension: { profile: 0xbede, data: oneByteBlock([[1, [loud ? 0x80 | 25 : 110]]]) },
      });
      const now = t0 + t + 30;
      feed(pipeline.process({ kind: 'rtp', data, arrivalMs: now }));
      feed(pipeline.process({ kind: 'tick', nowMs: now }));
    }
    feed(pipeline.process({ kind: 'end', atMs: t0 + 5100 }));
    const got = sa.intervals();
    assert.equal(got.length, 2);
    got.forEach((g, k) => {
      const want = schedule[k]!;
      // The timeline places the stream at its arrival (30 ms late): within 2 frames of the schedule.
      assert.ok(Math.abs(g.fromMs - want.from) <= 40, `start ${g.fromMs} vs ${want.from}`);
      assert.ok(Math.abs(g.toMs - want.to) <= 40, `end ${g.toMs} vs ${want.to}`);
      assert.equal(g.vad, true);
    });
    const env = sa.envelope();
    assert.equal(env.length, 51);
    assert.equal(env[15], -25);
    assert.equal(env[25], -110);
    assert.equal(env[2], -127, 'before the stream');
  });
  void it('checkpoints: disjoint, final bins only, and together the whole envelope and every interval', () => {
    const sa = new SpeechActivity();
    const cps = [];
    const frames = [
      ...spurt(0, 400, 20),
      ...spurt(400, 600, 127),
      ...spurt(1000, 500, 30),
      ...spurt(1500, 300, 127),
    ];
    for (const [k, f] of frames.entries()) {
      sa.process(f);
      if (k % 7 === 3) cps.push(sa.checkpoint());
    }
    const open = sa.checkpoint();
    assert.ok(open.open, 'the second spurt is still open (hangover not yet over)');
    assert.equal(open.open.fromMs, 1000);
    cps.push(open);
    sa.process({ kind: 'end', atMs: 0, endPos: 1800 * S });
    cps.push(sa.checkpoint(true));
    let next = 0;
    const bins: number[] = [];
    for (const cp of cps) {
      assert.equal(cp.fromBin, next, 'each checkpoint starts where the previous one ended');
      next += cp.levels.length;
      bins.push(...cp.levels);
    }
    assert.deepEqual(
      bins.map((b) => -b || 0),
      sa.envelope(),
    );
    assert.deepEqual(
      cps.flatMap((c) => c.closed),
      sa.intervals(),
    );
    assert.equal(cps.at(-1)?.open, null);
    assert.equal(cps.at(-1)?.framesWithLevel, 90);
  });
});
