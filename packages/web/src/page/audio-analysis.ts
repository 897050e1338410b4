/** Pure helpers for the join page's audio meters: spectrum peak and RMS level. No DOM here. */

/**
 * The frequency of the strongest bin of a dB spectrum (AnalyserNode.getFloatFrequencyData), refined
 * by parabolic interpolation over its neighbours. Bins below `minHz` are skipped (DC and rumble).
 * Returns 0 for a silent spectrum (every bin at -Infinity or below `floorDb`).
 */
export function dominantFrequency(
  spectrumDb: ArrayLike<number>,
  sampleRate: number,
  fftSize: number,
  minHz = 50,
  floorDb = -140,
): number {
  const binHz = sampleRate / fftSize;
  const first = Math.max(1, Math.ceil(minHz / binHz));
  let best = -1;
  let bestDb = floorDb;
  for (let i = first; i < spectrumDb.length; i++) {
    const v = spectrumDb[i] ?? -Infinity;
    if (v > bestDb) {
      bestDb = v;
      best = i;
    }
  }
  if (best < 0) return 0;
  const a = spectrumDb[best - 1] ?? bestDb;
  const c = spectrumDb[best + 1] ?? bestDb;
  const denom = a - 2 * bestDb + c;
  const offset = Number.isFinite(denom) && denom !== 0 ? (0.5 * (a - c)) / denom : 0;
  return (best + Math.max(-0.5, Math.min(0.5, offset))) * binHz;
}

/** Root mean square of time-domain samples in -1..1 (AnalyserNode.getFloatTimeDomainData). */
export function rms(samples: ArrayLike<number>): number {
  if (samples.length === 0) return 0;
  let sum = 0;
  for (let i = 0; i < samples.length; i++) {
    const s = samples[i] ?? 0;
    sum += s * s;
  }
  return Math.sqrt(sum / samples.length);
}

/** Speaking detection with hysteresis so the indicator does not flicker between words. */
export class SpeakingDetector {
  readonly #on: number;
  readonly #off: number;
  readonly #holdMs: number;
  #speaking = false;
  #lastLoud = -Infinity;

  constructor(opts: { onLevel?: number; offLevel?: number; holdMs?: number } = {}) {
    this.#on = opts.onLevel ?? 0.02;
    this.#off = opts.offLevel ?? 0.01;
    this.#holdMs = opts.holdMs ?? 400;
  }

  get speaking(): boolean {
    return this.#speaking;
  }

  /** Feeds one RMS level measured at `nowMs`; returns whether the participant is speaking. */
  process(level: number, nowMs: number): boolean {
    if (level >= this.#on || (this.#speaking && level >= this.#off)) this.#lastLoud = nowMs;
    this.#speaking = nowMs - this.#lastLoud <= this.#holdMs;
    return this.#speaking;
  }
}
