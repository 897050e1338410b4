import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SendTimeEstimator } from './send-time-estimator.js';

/** The bound by its definition: the tightest any bucket gives, with the slope's uncertainty. */
function reference(e: SendTimeEstimator, x: number): number {
  const inner = e as unknown as {
    buckets: { x: number; y: number }[];
    slope: number;
    uncertainty(): number;
  };
  const u = inner.uncertainty();
  let best = Infinity;
  for (const k of inner.buckets) best = Math.min(best, k.y + inner.slope * (x - k.x) + u * Math.abs(x - k.x));
  return best;
}

/** A small deterministic generator (the test must not depend on Math.random). */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

void describe('SendTimeEstimator', () => {
  void it('offsetAt equals the bound by definition, ahead of and behind the buckets, through drift, jitter, steps and restarts', () => {
    const rnd = lcg(7);
    const e = new SendTimeEstimator({ slopeMinSpanMs: 2000 });
    let offset = 40;
    let worst = 0;
    let checked = 0;
    for (let i = 0; i < 6000; i++) {
      const x = i * 20;
      // A sender clock 0.1 % slow, jitter up to 30 ms, a 300 ms longer path from packet 2500, a
      // frozen RTP clock (arrivals jump) around 4000, and a few packets out of order.
      if (i === 2500) offset += 300;
      const jump = i >= 4000 && i < 4020 ? 800 : 0;
      const y = offset + 0.001 * x + rnd() * 30 + jump;
      const xs = i % 97 === 0 && i > 0 ? x - 40 : x;
      e.add(xs, y, xs + y);
      for (const probe of [x, x + 500, x - 3000, x - 15_000]) {
        const d = Math.abs(e.offsetAt(probe) - reference(e, probe));
        worst = Math.max(worst, d);
        checked++;
      }
    }
    assert.ok(e.stats().steps >= 1, 'the longer path was followed');
    assert.equal(e.stats().slopeSource, 'envelope');
    assert.ok(worst < 1e-6, `cached and defined bounds differ by ${worst} ms (${checked} probes)`);
  });
});
