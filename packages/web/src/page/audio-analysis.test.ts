import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SpeakingDetector, dominantFrequency, rms } from './audio-analysis.js';

/** A dB magnitude spectrum of a windowed sine, computed with a plain DFT (small sizes only). */
function spectrumDb(freq: number, sampleRate: number, fftSize: number): Float32Array {
  const x = new Float64Array(fftSize);
  for (let i = 0; i < fftSize; i++) {
    const w = 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / fftSize); // Hann
    x[i] = w * Math.sin((2 * Math.PI * freq * i) / sampleRate);
  }
  const out = new Float32Array(fftSize / 2);
  for (let k = 0; k < fftSize / 2; k++) {
    let re = 0;
    let im = 0;
    for (let i = 0; i < fftSize; i++) {
      re += (x[i] ?? 0) * Math.cos((2 * Math.PI * k * i) / fftSize);
      im -= (x[i] ?? 0) * Math.sin((2 * Math.PI * k * i) / fftSize);
    }
    out[k] = 20 * Math.log10(Math.hypot(re, im) / fftSize + 1e-12);
  }
  return out;
}

test('dominant frequency finds a tone within a fraction of a bin', () => {
  const rate = 48_000;
  const size = 1024; // bins of 46.9 Hz
  for (const f of [440, 660, 880, 1234]) {
    const got = dominantFrequency(spectrumDb(f, rate, size), rate, size);
    assert.ok(Math.abs(got - f) < 15, `${f} Hz measured as ${got.toFixed(1)} Hz`);
  }
});

test('a silent spectrum has no dominant frequency', () => {
  assert.equal(dominantFrequency(new Float32Array(512).fill(-Infinity), 48_000, 1024), 0);
});

test('rms of a full-scale sine is 1/sqrt(2)', () => {
  const s = Array.from({ length: 4800 }, (_, i) => Math.sin((2 * Math.PI * 100 * i) / 48_000));
  assert.ok(Math.abs(rms(s) - Math.SQRT1_2) < 1e-3);
  assert.equal(rms([]), 0);
});

test('speaking detection holds between words and releases after silence', () => {
  const d = new SpeakingDetector({ onLevel: 0.02, offLevel: 0.01, holdMs: 300 });
  assert.equal(d.process(0.05, 0), true);
  assert.equal(d.process(0.015, 100), true); // above the off level while speaking
  assert.equal(d.process(0.0, 300), true); // within the hold
  assert.equal(d.process(0.0, 500), false);
  assert.equal(d.process(0.015, 600), false); // below the on level when quiet
});
