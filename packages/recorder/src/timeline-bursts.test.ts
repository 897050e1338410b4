/**
 * Processing-delay bursts (the server's event loop or CPU falling behind) against the drift rule:
 * arrival times late by 50-150 ms for up to ~2 s must not move the timeline or drop frames, while a
 * sender clock that really drifts is still followed. Driven through the product path (TrackPipeline).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { buildSenderReport } from './rtcp-parser.js';
import { buildRtp } from './rtp-parser.js';
import { payloadId } from './testing/synthetic-stream.js';
import { samplesToMs, type TimelineFrame } from './timeline.js';
import { TrackPipeline, type TrackPipelineInput } from './track-pipeline.js';

const T0 = 1_700_000_000_000;

interface Burst {
  /** Start, ms after the sender's first packet. */
  atMs: number;
  durationMs: number;
  delayMs: number;
}

interface Scenario {
  /** Sender RTP clock rate / real rate (1 = perfect, 0.998 = 0.2 % slow). */
  skew: number;
  seconds: number;
  /** Base network jitter: 0..jitterMs, from a seeded generator. */
  jitterMs: number;
  seed: number;
  bursts: Burst[];
  /** Send RTCP sender reports (exact NTP <-> RTP pairs) every `srEveryMs`, or none. */
  srEveryMs?: number;
}

interface Result {
  frames: TimelineFrame[];
  sendMs: Map<number, number>;
  pipeline: TrackPipeline;
}

/** A 20 ms Opus sender with a skewed clock, a jittery network, and processing-delay bursts. */
function run(s: Scenario): Result {
  let seed = s.seed;
  const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const timed: { at: number; order: number; input: TrackPipelineInput }[] = [];
  const sendMs = new Map<number, number>();
  const startMs = T0 + 500;
  const frames = Math.floor((s.seconds * 1000) / 20);
  const ts0 = 0xfff0_0000; // wraps during the run
  // Delay is a queue: a packet never overtakes the one before it (a burst ends by draining at once).
  let lastArrival = -Infinity;
  for (let i = 0; i < frames; i++) {
    // The sender emits one frame per 20 ms of *its* clock: in real time that is 20 / skew ms.
    const send = startMs + (i * 20) / s.skew;
    const rel = send - startMs;
    const burst = s.bursts.find((b) => rel >= b.atMs && rel < b.atMs + b.durationMs);
    const arrival = Math.max(lastArrival, send + 5 + rand() * s.jitterMs + (burst?.delayMs ?? 0));
    lastArrival = arrival;
    sendMs.set(i, send);
    const payload = new Uint8Array(5);
    payload[0] = 0xf8;
    new DataView(payload.buffer).setUint32(1, i);
    const data = buildRtp({
      payloadType: 111,
      sequenceNumber: i & 0xffff,
      timestamp: (ts0 + i * 960) >>> 0,
      ssrc: 7,
      payload,
    });
    timed.push({ at: arrival, order: 1, input: { kind: 'rtp', data, arrivalMs: arrival } });
  }
  if (s.srEveryMs !== undefined) {
    for (let t = s.srEveryMs; t < s.seconds * 1000; t += s.srEveryMs) {
      const rtp = ts0 + t * 48 * s.skew;
      const arrival = startMs + t + 5 + rand() * s.jitterMs;
      const data = buildSenderReport({ ssrc: 7, ntpMs: startMs + t, rtpTimestamp: Math.round(rtp) >>> 0 });
      timed.push({ at: arrival, order: 1, input: { kind: 'rtp', data, arrivalMs: arrival } });
    }
  }
  const stopMs = startMs + s.seconds * 1000 + 300;
  for (let t = T0; t < stopMs; t += 50) timed.push({ at: t, order: 2, input: { kind: 'tick', nowMs: t } });
  timed.sort((a, b) => a.at - b.at || a.order - b.order);
  const pipeline = new TrackPipeline({ t0Ms: T0, channels: 1 });
  const out = [
    { kind: 'attach', payloadType: 111 } as const,
    ...timed.map((t) => t.input),
    { kind: 'end', atMs: stopMs } as const,
  ].flatMap((i) => pipeline.process(i));
  return { frames: out.filter((o): o is TimelineFrame => o.kind === 'frame'), sendMs, pipeline };
}

/** Worst |timeline position - (send time + 5 ms base latency)| of the real frames, in ms. */
function worstMisplacement(r: Result): number {
  let worst = 0;
  for (const f of r.frames) {
    if (f.filled) continue;
    const send = r.sendMs.get(payloadId(f.payload)) as number;
    worst = Math.max(worst, Math.abs(samplesToMs(f.pos) - (send + 5 - T0)));
  }
  return worst;
}

const burstsArb = fc
  .array(
    fc.record({
      // Apart enough for the queue of one burst to drain before the next (else they chain into one).
      gapMs: fc.integer({ min: 500, max: 4000 }),
      // Late from the first delayed packet until the queue has drained: duration + delay < 2 s.
      durationMs: fc.integer({ min: 200, max: 1750 }),
      delayMs: fc.integer({ min: 50, max: 150 }),
    }),
    { minLength: 1, maxLength: 8 },
  )
  .map((list) => {
    let at = 1000;
    return list.map((b) => {
      const burst = { atMs: at + b.gapMs, durationMs: b.durationMs, delayMs: b.delayMs };
      at = burst.atMs + b.durationMs;
      return burst;
    });
  });

void describe('Timeline under processing-delay bursts', () => {
  void it('a 1.5 s burst 100 ms late moves nothing and drops nothing (perfect sender clock)', () => {
    const r = run({
      skew: 1,
      seconds: 12,
      jitterMs: 5,
      seed: 3,
      bursts: [{ atMs: 4000, durationMs: 1500, delayMs: 100 }],
    });
    const tl = r.pipeline.stats().timeline;
    assert.equal(tl.overlaps, 0, 'no frame dropped as overlapped');
    assert.equal(tl.reanchors.drift, 0, 'the anchor never followed the burst');
    assert.equal(tl.driftHeld, 1, 'the burst was seen and held back');
    const worst = worstMisplacement(r);
    assert.ok(worst <= 5 + 2.5 + 1.25, `worst misplacement ${worst.toFixed(1)} ms`);
  });

  void it('a lasting step (3 s, longer than the 2 s confirmation) is followed once confirmed', () => {
    const r = run({
      skew: 1,
      seconds: 12,
      jitterMs: 5,
      seed: 3,
      bursts: [{ atMs: 4000, durationMs: 6000, delayMs: 100 }],
    });
    const tl = r.pipeline.stats().timeline;
    assert.ok(tl.reanchors.drift >= 1, 'followed');
    // Frames sent at the end of the step sit where they arrived (100 ms later).
    const late = r.frames.filter((f) => !f.filled && payloadId(f.payload) === 440)[0];
    assert.ok(late && Math.abs(samplesToMs(late.pos) - ((r.sendMs.get(440) as number) + 105 - T0)) <= 8.75);
  });

  void it('property: bursts of 50-150 ms up to 1.75 s never move a perfect clock and never drop a frame; a drifting clock is still followed', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(1, 1, 0.998, 1.002, 0.9975),
        fc.integer({ min: 20, max: 45 }),
        fc.integer({ min: 0, max: 5 }),
        fc.integer({ min: 1, max: 2 ** 30 }),
        burstsArb,
        (skew, seconds, jitterMs, seed, bursts) => {
          const r = run({ skew, seconds, jitterMs, seed, bursts });
          const tl = r.pipeline.stats().timeline;
          const driftMs = Math.abs(1 - 1 / skew) * seconds * 1000;
          if (skew === 1) {
            assert.equal(tl.reanchors.drift, 0, `moved by a burst: ${JSON.stringify(tl.reanchors)}`);
            assert.equal(tl.overlaps, 0);
          } else if (skew < 1) {
            assert.equal(tl.overlaps, 0, 'a slow clock only ever needs silence inserted');
          } else {
            // A fast clock must lose audio: about its drift, never a burst's worth more.
            assert.ok(
              tl.overlaps <= Math.ceil(driftMs / 20) + 2,
              `overlaps ${tl.overlaps} for ${driftMs} ms of drift`,
            );
          }
          if (skew !== 1) assert.ok(tl.reanchors.drift >= Math.floor(driftMs / 25), 'the drift was followed');
          // Perfect clock: jitter + rounding. Drifting clock: the 20 ms threshold, one 2.5 ms step, and
          // the drift accrued while a floor is confirmed (2 s).
          const tol = jitterMs + 3.75 + (skew === 1 ? 0 : 20 + 2.5 + Math.abs(1 - skew) * 2000 * 2);
          const worst = worstMisplacement(r);
          assert.ok(worst <= tol, `worst misplacement ${worst.toFixed(1)} ms > ${tol.toFixed(1)} ms`);
        },
      ),
      { numRuns: 120 },
    );
  });

  void it('with sender reports, a drifting clock is followed from the reports, blind to the bursts', () => {
    const bursts = [
      { atMs: 6000, durationMs: 1800, delayMs: 150 },
      { atMs: 15_000, durationMs: 1500, delayMs: 120 },
    ];
    const r = run({ skew: 0.997, seconds: 40, jitterMs: 5, seed: 11, bursts, srEveryMs: 1000 });
    const tl = r.pipeline.stats().timeline;
    assert.ok(tl.senderClock.skew !== undefined && Math.abs(tl.senderClock.skew - 0.997) < 1e-4);
    assert.ok(tl.senderClockCorrections >= 4, `sender-report corrections ${tl.senderClockCorrections}`);
    assert.equal(tl.overlaps, 0);
    const worst = worstMisplacement(r);
    assert.ok(worst <= 20 + 2.5 + 5 + 3.75, `worst misplacement ${worst.toFixed(1)} ms`);
  });

  void it('with sender reports, even a 4 s burst (past the 2 s arrival confirmation) moves nothing', () => {
    const bursts = [{ atMs: 8000, durationMs: 4000, delayMs: 120 }];
    const r = run({ skew: 1, seconds: 30, jitterMs: 5, seed: 5, bursts, srEveryMs: 1000 });
    const tl = r.pipeline.stats().timeline;
    assert.equal(tl.reanchors.drift, 0);
    assert.equal(tl.overlaps, 0);
    const worst = worstMisplacement(r);
    assert.ok(worst <= 5 + 3.75, `worst misplacement ${worst.toFixed(1)} ms`);
    // The same burst without reports is taken for a step: followed, and moved back when it ends.
    const bare = run({ skew: 1, seconds: 30, jitterMs: 5, seed: 5, bursts });
    assert.ok(bare.pipeline.stats().timeline.reanchors.drift >= 2);
  });
});
