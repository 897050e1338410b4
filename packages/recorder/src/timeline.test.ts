import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { OrderedRtpPacket } from './reorder-buffer.js';
import { Timeline, msToSamples, samplesToMs, type TimelineFrame, type TimelineOutput } from './timeline.js';

const T0 = 1_000_000;
let extSeq = 100;

function packet(
  ts: number,
  arrivalMs: number,
  toc = 0xf8,
  opts: Partial<OrderedRtpPacket> = {},
): OrderedRtpPacket {
  const payload = Uint8Array.of(toc, 1, 2, 3);
  frameIndex.set(payload, Math.round(ts / 960));
  return {
    kind: 'packet',
    packet: {
      version: 2,
      padding: false,
      marker: false,
      payloadType: 111,
      sequenceNumber: extSeq & 0xffff,
      timestamp: ts >>> 0,
      ssrc: 1,
      csrcs: [],
      extension: undefined,
      payload,
    },
    arrivalMs,
    extSeq: extSeq++,
    lostBefore: 0,
    discontinuity: false,
    ...opts,
  };
}

const frames = (out: TimelineOutput[]): TimelineFrame[] => out.filter((o) => o.kind === 'frame');
const end = (atMs: number) => ({ kind: 'end' as const, atMs });
const real = (out: TimelineOutput[]): TimelineFrame[] => frames(out).filter((f) => !f.filled);
const ms = (samples: number): number => (samples * 1000) / 48000;
/** Which packet a frame is, in tests whose RTP timestamps are i * 960 from 0. */
const payloadIndex = (f: TimelineFrame | undefined): number => {
  assert.ok(f);
  return frameIndex.get(f.payload) ?? -1;
};
const frameIndex = new WeakMap<Uint8Array, number>();

function feed(tl: Timeline, inputs: Parameters<Timeline['process']>[0][]): TimelineOutput[] {
  return inputs.flatMap((i) => tl.process(i));
}

void describe('Timeline', () => {
  void it('anchors the first packet on its arrival and fills the lead-in with silence', () => {
    const tl = new Timeline({ t0Ms: T0 });
    assert.deepEqual(feed(tl, [packet(123_456, T0 + 500)]), [], "a stream's first moments are held");
    assert.equal(tl.stats().held, 1);
    const out = feed(tl, [end(T0 + 520)]);
    assert.deepEqual(
      real(out).map((f) => ms(f.pos)),
      [500],
    );
    assert.equal(
      frames(out).filter((f) => f.filled && f.pos < msToSamples(500)).length,
      25,
      '500 ms of 20 ms silence',
    );
    assert.equal(tl.stats().firstRealPos, msToSamples(500));
  });

  void it('writes silence on tick up to now - playout delay - stall guard while nothing arrives (muted)', () => {
    const guarded = new Timeline({ t0Ms: T0, playoutDelayMs: 100 });
    feed(guarded, [{ kind: 'tick', nowMs: T0 + 3000 }]);
    assert.equal(guarded.stats().cursor, msToSamples(1900), 'default stall guard: 1 s');
    const tl = new Timeline({ t0Ms: T0, playoutDelayMs: 100, stallGuardMs: 0 });
    feed(tl, [{ kind: 'tick', nowMs: T0 + 1000 }]);
    assert.equal(tl.stats().cursor, msToSamples(900));
    feed(tl, [{ kind: 'tick', nowMs: T0 + 1001.3 }]);
    assert.equal(tl.stats().cursor, msToSamples(900), 'only whole 2.5 ms steps');
    feed(tl, [{ kind: 'tick', nowMs: T0 + 1002.5 }]);
    assert.equal(tl.stats().cursor, msToSamples(902.5));
  });

  void it('follows RTP timestamps across the 32-bit wrap and honours 10/40/60 ms frames', () => {
    const tl = new Timeline({ t0Ms: T0 });
    let ts = 0xffffffff - 1000;
    let at = T0;
    const out: TimelineOutput[] = [];
    for (const [toc, frameMs] of [
      [0xf0, 10],
      [0x50, 40],
      [0x58, 60],
      [0xf8, 20],
      [0xfb, 20], // code 3, and the payload's count byte is 1: one 20 ms frame
    ] as const) {
      out.push(...tl.process(packet(ts, at, toc)));
      ts += frameMs * 48;
      at += frameMs;
    }
    out.push(...tl.process(end(at)));
    const r = real(out);
    assert.deepEqual(
      r.map((f) => ms(f.pos)),
      [0, 10, 50, 110, 130],
    );
    assert.equal(tl.stats().reanchors.jump + tl.stats().reanchors.drift, 0);
  });

  void it('fills a DTX pause (RTP clock running) without re-anchoring and counts it as concealed', () => {
    const tl = new Timeline({ t0Ms: T0 });
    const out = feed(tl, [
      packet(0, T0),
      packet(960, T0 + 20),
      packet(960 + 48 * 520, T0 + 540),
      end(T0 + 600),
    ]);
    assert.deepEqual(
      real(out).map((f) => ms(f.pos)),
      [0, 20, 540],
    );
    assert.equal(tl.stats().concealedSamples, msToSamples(500));
    assert.equal(tl.stats().reanchors.start, 1);
  });

  void it('re-anchors on arrival when the RTP clock froze through a long gap (jump)', () => {
    const tl = new Timeline({ t0Ms: T0 });
    const out = feed(tl, [
      packet(0, T0),
      packet(960, T0 + 20),
      { kind: 'tick', nowMs: T0 + 1540 },
      packet(1920, T0 + 1540),
      packet(2880, T0 + 1560),
      packet(3840, T0 + 1580),
      packet(14_400, T0 + 1800), // DTX, then more: packets over 200 ms, all 1.5 s late: a jump
      packet(15_360, T0 + 1820),
      end(T0 + 2000),
    ]);
    assert.deepEqual(
      real(out).map((f) => ms(f.pos)),
      [0, 20, 1540, 1560, 1580, 1800, 1820],
    );
    assert.equal(tl.stats().reanchors.jump, 1);
  });

  void it('takes a stall for a stall: packets queued behind it and delivered at once keep their slots', () => {
    const tl = new Timeline({ t0Ms: T0 });
    const out: TimelineOutput[] = [];
    for (let i = 0; i < 100; i++) out.push(...tl.process(packet(i * 960, T0 + i * 20)));
    out.push(...tl.process({ kind: 'tick', nowMs: T0 + 2000 }));
    // The event loop is blocked for 700 ms: packets 100..134 are all delivered when it ends.
    for (let i = 100; i < 135; i++) out.push(...tl.process(packet(i * 960, T0 + 2700)));
    out.push(...tl.process({ kind: 'tick', nowMs: T0 + 2700 }));
    for (let i = 135; i < 200; i++) out.push(...tl.process(packet(i * 960, T0 + i * 20)));
    out.push(...tl.process(end(T0 + 4000)));
    const r = real(out);
    assert.equal(r.length, 200);
    r.forEach((f, i) => assert.equal(ms(f.pos), i * 20, `frame ${i}`));
    assert.equal(tl.stats().overlaps, 0);
    assert.deepEqual(tl.stats().reanchors, { start: 1, jump: 0, drift: 0 });
  });

  void it('re-anchors after sustained drift beyond the threshold', () => {
    const tl = new Timeline({ t0Ms: T0, driftThresholdMs: 80, driftSustainMs: 200 });
    const out: TimelineOutput[] = [packet(0, T0)].flatMap((p) => tl.process(p));
    // From 1 s on, packets arrive 100 ms later than their timestamps say (sender clock jumped back).
    for (let i = 1; i < 60; i++) out.push(...tl.process(packet(i * 960, T0 + i * 20 + (i >= 10 ? 100 : 0))));
    out.push(...tl.process(end(T0 + 1400)));
    assert.equal(tl.stats().reanchors.drift, 1);
    const last = real(out).at(-1);
    assert.equal(last && ms(last.pos), 59 * 20 + 100);
  });

  void it('follows a drifting sender clock (its slope) over a long stream, within the slack', () => {
    // The sender's clock runs 0.2 % slow (7.2 s an hour) and the network adds 0-30 ms of delay.
    const tl = new Timeline({ t0Ms: T0 });
    const out: TimelineOutput[] = [];
    let seed = 7;
    const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const sentAt: number[] = [];
    for (let i = 0; i < 3000; i++) {
      const sendMs = i * 20 * 1.002; // 60 s of 20 ms frames, as the wall clock sees them
      sentAt.push(sendMs);
      out.push(...tl.process(packet(i * 960, T0 + sendMs + rand() * 30)));
    }
    out.push(...tl.process(end(T0 + 61_000)));
    const worst = real(out).reduce((w, f, i) => Math.max(w, Math.abs(ms(f.pos) - (sentAt[i] as number))), 0);
    // Uncorrected, the last frame would be 120 ms early. Corrected, a contiguous run is kept within
    // the 10 ms slack (plus one 2.5 ms step) of the estimated send time, by 10 ms of silence at a time;
    // before the slope is measured (10 s), the estimate lags by the drift over its 4 s window (8 ms).
    assert.ok(worst <= 10 + 2.5 + 8, `worst misplacement ${worst.toFixed(1)} ms`);
    const st = tl.stats();
    assert.equal(st.estimator?.slopeSource, 'envelope');
    assert.ok(Math.abs((st.estimator?.slope ?? 0) - 0.002) < 0.0003, `slope ${st.estimator?.slope}`);
    assert.ok(Math.abs(samplesToMs(st.driftFilledSamples) - 120) <= 12, 'the 120 ms went in as silence');
    assert.equal(st.overlaps, 0);
  });

  void it('drops audio of a fast sender clock in a long contiguous run, and only then', () => {
    // 0.25 % fast: 60.15 s of audio in 60 s. No gap to absorb it, so 150 ms must go.
    const tl = new Timeline({ t0Ms: T0 });
    const out: TimelineOutput[] = [];
    for (let i = 0; i < 3000; i++) out.push(...tl.process(packet(i * 960, T0 + (i * 20) / 1.0025)));
    out.push(...tl.process(end(T0 + 61_000)));
    const r = real(out);
    const st = tl.stats();
    assert.ok(st.overlaps >= 6 && st.overlaps <= 8, `${st.overlaps} frames dropped`);
    assert.equal(r.length + st.overlaps, 3000);
    const lastIndex = payloadIndex(r.at(-1));
    assert.ok(Math.abs(ms((r.at(-1) as TimelineFrame).pos) - (lastIndex * 20) / 1.0025) <= 12.5);
  });

  void it('corrects a first packet that arrived late, so the rest of the stream is on time', () => {
    const tl = new Timeline({ t0Ms: T0 });
    const out: TimelineOutput[] = [];
    out.push(...tl.process(packet(0, T0 + 60))); // delayed 60 ms on the way
    for (let i = 1; i < 150; i++) out.push(...tl.process(packet(i * 960, T0 + i * 20)));
    out.push(...tl.process(end(T0 + 3100)));
    const r = real(out);
    assert.equal(ms((r[0] as TimelineFrame).pos), 0, 'the packets after it moved the first one too');
    const last = r.at(-1);
    assert.ok(last);
    assert.ok(Math.abs(ms(last.pos) - 149 * 20) <= 2.5, `last frame at ${ms(last.pos)} ms`);
    assert.equal(tl.stats().overlaps, 0);
  });

  void it('drops a frame whose slot is already written and counts the overlap', () => {
    const tl = new Timeline({ t0Ms: T0 });
    const out = feed(tl, [packet(0, T0), packet(960, T0 + 20), packet(0, T0 + 21), end(T0 + 100)]);
    assert.equal(real(out).length, 2);
    assert.equal(tl.stats().overlaps, 1);
  });

  void it('drops packets while paused, writes silence, and re-anchors on resume', () => {
    const tl = new Timeline({ t0Ms: T0 });
    const out = feed(tl, [
      packet(0, T0),
      { kind: 'pause', atMs: T0 + 20 },
      packet(960, T0 + 20),
      { kind: 'tick', nowMs: T0 + 500 },
      { kind: 'resume', atMs: T0 + 500 },
      packet(960 * 25, T0 + 510),
      end(T0 + 600),
    ]);
    assert.deepEqual(
      real(out).map((f) => ms(f.pos)),
      [0, 510],
    );
    assert.equal(tl.stats().droppedPaused, 1);
    assert.equal(tl.stats().reanchors.start, 2);
  });

  void it('fills to exactly the stop instant at end of stream, then ignores input', () => {
    const tl = new Timeline({ t0Ms: T0 });
    const out = feed(tl, [packet(0, T0 + 100), { kind: 'end', atMs: T0 + 1234.5 }]);
    const end = out.at(-1);
    assert.ok(end?.kind === 'end');
    assert.equal(end.endPos, msToSamples(1235), 'stop rounded to the 2.5 ms grid');
    const f = frames(out);
    assert.equal(
      f.reduce((n, x) => n + x.durationSamples, 0),
      end.endPos,
    );
    assert.deepEqual(tl.process(packet(960, T0 + 120)), []);
    assert.equal(tl.stats().droppedAfterEnd, 1);
  });

  void it('with first_packet alignment, writes nothing before the first real frame', () => {
    const tl = new Timeline({ t0Ms: T0, align: 'first_packet' });
    assert.deepEqual(feed(tl, [{ kind: 'tick', nowMs: T0 + 5000 }]), []);
    const out = feed(tl, [packet(0, T0 + 5200), { kind: 'end', atMs: T0 + 6000 }]);
    const f = frames(out);
    assert.equal(f[0]?.filled, false);
    assert.equal(ms(f[0]?.pos ?? -1), 5200);
    const end = out.at(-1);
    assert.ok(end?.kind === 'end');
    assert.equal(ms(end.endPos), 6000);
  });
});
