/**
 * Stage: who spoke when, without decoding. Takes the timeline's frames (each real frame carries its
 * packet's RFC 6464 audio level, when the source sent one) and turns them into speaking intervals
 * and a level envelope on the recording timeline (ms from t0, like every interval of a file).
 *
 * - A frame is **loud** when it has a level and the level is at or above `thresholdDbov` (default
 *   -50 dBov: RFC 6464 byte <= 50). The voice-activity (V) bit is reported per interval, not used
 *   to decide: senders set it differently (Chromium sets it from its own VAD; tones may read as
 *   not voice).
 * - An interval runs from the start of its first loud frame to the end of its last loud one. A
 *   quiet (or silent, muted, lost) stretch shorter than `hangoverMs` (default 300 ms) between loud
 *   frames does not split it; the hangover is never added to the end.
 * - The envelope has one value per `envelopeMs` (default 100 ms) bin from position 0: the loudest
 *   level of the frames overlapping the bin, as an integer dBov from -127 to 0. -127 also stands for
 *   "no level" (generated silence, no packet, a packet without the extension).
 *
 * Per frame the stage allocates nothing: the envelope grows by doubling, and `process` returns a
 * shared empty array unless an interval closed.
 */
import type { TimelineOutput } from './timeline.js';

const SAMPLES_PER_MS = 48;

/** The documented defaults: loud from -50 dBov, 300 ms hangover, 100 ms envelope bins. */
export const SPEECH_DEFAULTS = Object.freeze({ thresholdDbov: -50, hangoverMs: 300, envelopeMs: 100 });

export interface SpeechActivityOptions {
  /** A frame at or above this level (dBov, -127..0) is loud. Default -50. */
  thresholdDbov?: number;
  /** Quiet stretches shorter than this (ms) do not split an interval. Default 300. */
  hangoverMs?: number;
  /** Envelope bin (ms). Default 100. */
  envelopeMs?: number;
}

/** A closed speaking interval on the recording timeline (ms from t0). */
export interface SpeakingInterval {
  readonly fromMs: number;
  readonly toMs: number;
  /** Whether any loud frame of the interval had the voice-activity bit set. */
  readonly vad: boolean;
}

/**
 * What became final since the previous checkpoint, for a journal that outlives a crash: the envelope
 * bins no later frame can change (frames come in timeline order), the intervals closed since, the
 * one still open, and the counters so far.
 */
export interface SpeechCheckpoint {
  /** Index of the first bin in `levels`. */
  fromBin: number;
  /** RFC 6464 levels (0 loudest .. 127 silence or no level) of bins `fromBin`.. */
  levels: Uint8Array;
  closed: SpeakingInterval[];
  /** The interval still open, up to its last loud frame so far. */
  open: SpeakingInterval | null;
  framesWithLevel: number;
  framesWithoutLevel: number;
}

export interface SpeechActivityStats {
  /** Real frames with a level, and without one (the source did not send it). */
  framesWithLevel: number;
  framesWithoutLevel: number;
  framesLoud: number;
  /** Frames whose V bit was set. */
  framesVad: number;
  intervals: number;
}

const NONE: readonly SpeakingInterval[] = Object.freeze([]);

export class SpeechActivity {
  /** RFC 6464 level bytes at or below this are loud (level = -dBov). */
  private readonly maxLoudLevel: number;
  private readonly hangoverSamples: number;
  private readonly binSamples: number;
  readonly thresholdDbov: number;
  readonly hangoverMs: number;
  readonly envelopeMs: number;
  /** Envelope as RFC 6464 levels (0 loudest .. 127 silence); `bins` of it are in use. */
  private env = new Uint8Array(1024).fill(127);
  private bins = 0;
  /** Timeline position the frames so far reach. */
  private coveredTo = 0;
  /** Bins and intervals a checkpoint already returned. */
  private checkpointBins = 0;
  private checkpointIntervals = 0;
  private openFrom = -1;
  private openTo = -1;
  private openVad = false;
  private readonly closed: SpeakingInterval[] = [];
  private readonly counters: SpeechActivityStats = {
    framesWithLevel: 0,
    framesWithoutLevel: 0,
    framesLoud: 0,
    framesVad: 0,
    intervals: 0,
  };

  constructor(options: SpeechActivityOptions = {}) {
    this.thresholdDbov = options.thresholdDbov ?? SPEECH_DEFAULTS.thresholdDbov;
    this.hangoverMs = options.hangoverMs ?? SPEECH_DEFAULTS.hangoverMs;
    this.envelopeMs = options.envelopeMs ?? SPEECH_DEFAULTS.envelopeMs;
    this.maxLoudLevel = Math.min(127, Math.max(0, Math.round(-this.thresholdDbov)));
    this.hangoverSamples = Math.round(this.hangoverMs * SAMPLES_PER_MS);
    this.binSamples = Math.max(1, Math.round(this.envelopeMs * SAMPLES_PER_MS));
  }

  /** Frames in timeline order; `end` closes the open interval and extends the envelope to the end. */
  process(input: TimelineOutput): readonly SpeakingInterval[] {
    if (input.kind === 'end') {
      if (input.endPos < this.coveredTo) this.cutTo(input.endPos);
      this.cover(input.endPos);
      return this.closeOpen();
    }
    const pos = input.pos;
    const end = pos + input.durationSamples;
    this.cover(end);
    let out = NONE;
    if (this.openTo >= 0 && pos - this.openTo >= this.hangoverSamples) out = this.closeOpen();
    if (input.filled) return out;
    const byte = input.audioLevel ?? -1;
    if (byte < 0) {
      this.counters.framesWithoutLevel++;
      return out;
    }
    this.counters.framesWithLevel++;
    const level = byte & 0x7f;
    const vad = byte >= 0x80;
    if (vad) this.counters.framesVad++;
    const env = this.env;
    for (
      let b = Math.floor(pos / this.binSamples), last = Math.floor((end - 1) / this.binSamples);
      b <= last;
      b++
    )
      if (level < (env[b] as number)) env[b] = level;
    if (level <= this.maxLoudLevel) {
      this.counters.framesLoud++;
      if (this.openFrom < 0) this.openFrom = pos;
      this.openTo = end;
      if (vad) this.openVad = true;
    }
    return out;
  }

  /** Every interval closed so far (after `end`: all of them). */
  intervals(): readonly SpeakingInterval[] {
    return this.closed;
  }

  /** The envelope so far, one integer dBov (-127..0) per bin from position 0. */
  envelope(): number[] {
    const out = new Array<number>(this.bins);
    for (let i = 0; i < this.bins; i++) out[i] = -(this.env[i] as number) || 0;
    return out;
  }

  stats(): SpeechActivityStats {
    return { ...this.counters };
  }

  /** What became final since the previous call (after `end`: everything left). */
  checkpoint(ended = false): SpeechCheckpoint {
    const final = ended ? this.bins : Math.min(this.bins, Math.floor(this.coveredTo / this.binSamples));
    const from = Math.min(this.checkpointBins, final);
    const out: SpeechCheckpoint = {
      fromBin: from,
      levels: this.env.slice(from, final),
      closed: this.closed.slice(this.checkpointIntervals),
      open:
        this.openFrom < 0
          ? null
          : { fromMs: this.openFrom / SAMPLES_PER_MS, toMs: this.openTo / SAMPLES_PER_MS, vad: this.openVad },
      framesWithLevel: this.counters.framesWithLevel,
      framesWithoutLevel: this.counters.framesWithoutLevel,
    };
    this.checkpointBins = final;
    this.checkpointIntervals = this.closed.length;
    return out;
  }

  /**
   * Forgets what lies past `endPos` (frames placed before a late stop or pause): envelope bins
   * after it, intervals that start at or after it; an interval running across it ends there.
   * Frames that follow (after a resume) are measured from there on.
   */
  cutTo(endPos: number): void {
    this.coveredTo = endPos;
    const bins = endPos > 0 ? (((endPos - 1) / this.binSamples) | 0) + 1 : 0;
    if (bins < this.bins) {
      this.env.fill(127, bins, this.bins);
      this.bins = bins;
    }
    // Bins measured again after a resume are journalled again (a repair takes the later line).
    if (this.checkpointBins > Math.max(0, bins - 1)) this.checkpointBins = Math.max(0, bins - 1);
    const endMs = endPos / SAMPLES_PER_MS;
    // The manifest is written from these lists. Intervals a checkpoint already journalled stay in
    // the journal: only a repair reads it, and only after a crash.
    while ((this.closed.at(-1)?.fromMs ?? -1) >= endMs) {
      this.closed.pop();
      this.counters.intervals--;
    }
    if (this.checkpointIntervals > this.closed.length) this.checkpointIntervals = this.closed.length;
    const lastClosed = this.closed.at(-1);
    if (lastClosed && lastClosed.toMs > endMs)
      this.closed[this.closed.length - 1] = { ...lastClosed, toMs: endMs };
    if (this.openFrom >= endPos) {
      this.openFrom = -1;
      this.openTo = -1;
      this.openVad = false;
    } else if (this.openTo > endPos) this.openTo = endPos;
  }

  /** Makes the envelope span [0, endPos), growing its buffer by doubling. */
  private cover(endPos: number): void {
    if (endPos > this.coveredTo) this.coveredTo = endPos;
    const need = endPos > 0 ? (((endPos - 1) / this.binSamples) | 0) + 1 : 0;
    if (need <= this.bins) return;
    if (need > this.env.length) {
      let size = this.env.length * 2;
      while (size < need) size *= 2;
      const grown = new Uint8Array(size).fill(127);
      grown.set(this.env.subarray(0, this.bins));
      this.env = grown;
    }
    this.bins = need;
  }

  private closeOpen(): readonly SpeakingInterval[] {
    if (this.openFrom < 0) return NONE;
    const interval: SpeakingInterval = {
      fromMs: this.openFrom / SAMPLES_PER_MS,
      toMs: this.openTo / SAMPLES_PER_MS,
      vad: this.openVad,
    };
    this.openFrom = -1;
    this.openTo = -1;
    this.openVad = false;
    this.closed.push(interval);
    this.counters.intervals++;
    return [interval];
  }
}
