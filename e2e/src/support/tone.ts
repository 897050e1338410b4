/** Tone analysis of decoded mono 48 kHz samples. */
export const SAMPLE_RATE = 48_000;

export function rms(samples: Int16Array, fromSec: number, toSec: number): number {
  const a = Math.max(0, Math.floor(fromSec * SAMPLE_RATE));
  const b = Math.min(samples.length, Math.floor(toSec * SAMPLE_RATE));
  let sum = 0;
  for (let i = a; i < b; i++) sum += (samples[i] as number) ** 2;
  return b > a ? Math.sqrt(sum / (b - a)) : 0;
}

/** Power of one frequency (Goertzel) over a window, normalised by length. */
export function goertzel(samples: Int16Array, fromSec: number, toSec: number, freq: number): number {
  const a = Math.max(0, Math.floor(fromSec * SAMPLE_RATE));
  const b = Math.min(samples.length, Math.floor(toSec * SAMPLE_RATE));
  const k = 2 * Math.cos((2 * Math.PI * freq) / SAMPLE_RATE);
  let s1 = 0;
  let s2 = 0;
  for (let i = a; i < b; i++) {
    const s = (samples[i] as number) + k * s1 - s2;
    s2 = s1;
    s1 = s;
  }
  const n = Math.max(1, b - a);
  return Math.sqrt(s1 * s1 + s2 * s2 - k * s1 * s2) / n;
}

/** The strongest of `candidates` in a window. */
export function strongest(samples: Int16Array, fromSec: number, toSec: number, candidates: number[]): number {
  let best = candidates[0] as number;
  let bestP = -1;
  for (const f of candidates) {
    const p = goertzel(samples, fromSec, toSec, f);
    if (p > bestP) {
      bestP = p;
      best = f;
    }
  }
  return best;
}
