/**
 * Stage 3: maps Opus packets onto the recording timeline and fills every gap with silence.
 *
 * Positions are 48 kHz sample counts from the recording start instant t0 (wall-clock ms). The output
 * is a gap-free, overlap-free run of frames: each frame starts exactly where the previous one ended.
 * Every position is a multiple of 120 samples (2.5 ms, the shortest Opus frame), so any gap can be
 * filled exactly with CELT silence frames of 20/10/5/2.5 ms.
 *
 * Anchoring: the first packet of a stream is placed at its own arrival time (arrivalMs - t0Ms).
 * Later packets follow their RTP timestamp relative to that anchor. When the RTP-derived position
 * and the arrival-derived position disagree by more than `jumpThresholdMs` once, or by more than
 * `driftThresholdMs` for `driftSustainMs` on end, the stream is re-anchored on arrival.
 */
import { OPUS_MIN_FRAME_SAMPLES, OPUS_SAMPLE_RATE, opusPacketSamples, opusSilenceFrame } from './opus.js';
import type { OrderedRtpPacket } from './reorder-buffer.js';
import type { EndOfStream, Tick } from './stream-events.js';

export type TimelineAlign = 'timeline' | 'first_packet';

export interface TimelineOptions {
  /** Recording start instant, wall-clock ms. Position 0 of the timeline. */
  t0Ms: number;
  /** Channel flag of the silence frames. Default 2. */
  channels?: 1 | 2;
  /** `tick(now)` writes silence up to now - playoutDelayMs. Must cover the reorder delay. Default 100. */
  playoutDelayMs?: number;
  /** RTP clock rate of the source. Default 48000 (Opus). */
  clockRate?: number;
  /** `timeline` (default): output starts at t0. `first_packet`: output starts at the first real frame. */
  align?: TimelineAlign;
  /**
   * Clock-drift correction: over each window of `driftSustainMs`, the smallest (arrival - RTP
   * position) seen is the clock offset free of network delay (delay only ever adds). When it is
   * beyond this threshold, the anchor moves by it: silence is inserted (sender clock slow) or
   * audio dropped (sender clock fast, or a first packet that arrived late). Default 20.
   */
  driftThresholdMs?: number;
  /** Length of a drift-measuring window (ms). Default 1000. */
  driftSustainMs?: number;
  /** Re-anchor at once when |arrival - RTP position| exceeds this. Default 500. */
  jumpThresholdMs?: number;
}

/** One Opus packet on the timeline. `pos` and `durationSamples` are 48 kHz samples. */
export interface TimelineFrame {
  readonly kind: 'frame';
  readonly pos: number;
  readonly durationSamples: number;
  readonly payload: Uint8Array;
  /** True for generated silence. */
  readonly filled: boolean;
}

/** End of the output: `endPos` is where the last frame ends (the stop instant, normally). */
export interface TimelineEnd {
  readonly kind: 'end';
  readonly atMs: number;
  readonly endPos: number;
}

export type TimelineInput =
  | OrderedRtpPacket
  | Tick
  | EndOfStream
  /** The next packet starts a new stream (attach of a new source, reconnect): anchor it on arrival. */
  | { readonly kind: 'discontinuity'; readonly clockRate?: number }
  | { readonly kind: 'pause' | 'resume'; readonly atMs: number };

export type TimelineOutput = TimelineFrame | TimelineEnd;

export type ReanchorReason = 'start' | 'jump' | 'drift';

export interface TimelineStats {
  framesReal: number;
  framesFilled: number;
  samplesReal: number;
  samplesFilled: number;
  /** Real frames whose slot was already written (dropped). */
  overlaps: number;
  /** Real frames moved later by less than half their length to meet the previous frame. */
  shifted: number;
  droppedPaused: number;
  droppedAfterEnd: number;
  invalidPayload: number;
  /** Packets declared lost by the reorder buffer whose slot was filled with silence. */
  concealedPackets: number;
  /** Silence inserted between two real frames of one anchored stream (loss, DTX). */
  concealedSamples: number;
  reanchors: Record<ReanchorReason, number>;
  /** Position of the first real frame, or null. */
  firstRealPos: number | null;
  /** Where the output has been written up to, or null before anything (first_packet align). */
  cursor: number | null;
}

const Q = OPUS_MIN_FRAME_SAMPLES;
const TWO_32 = 0x1_0000_0000;

/** Nearest multiple of 120 samples. */
export function quantize(samples: number): number {
  return Math.round(samples / Q) * Q;
}

export function msToSamples(ms: number): number {
  return Math.round((ms * OPUS_SAMPLE_RATE) / 1000);
}

export function samplesToMs(samples: number): number {
  return (samples * 1000) / OPUS_SAMPLE_RATE;
}

export class Timeline {
  private readonly t0Ms: number;
  private readonly delaySamples: number;
  private scale: number;
  private readonly align: TimelineAlign;
  private readonly driftSamples: number;
  private readonly driftSustainMs: number;
  private readonly jumpSamples: number;
  private readonly silence: ReadonlyMap<number, Uint8Array>;

  private cursor: number | null;
  private anchor: { extTs: number; pos: number } | undefined;
  private lastExtTs = 0;
  private needAnchor = true;
  private drift: { sinceMs: number; min: number } | undefined;
  private paused = false;
  private ended = false;
  private readonly counters: Omit<TimelineStats, 'cursor' | 'reanchors'> = {
    framesReal: 0,
    framesFilled: 0,
    samplesReal: 0,
    samplesFilled: 0,
    overlaps: 0,
    shifted: 0,
    droppedPaused: 0,
    droppedAfterEnd: 0,
    invalidPayload: 0,
    concealedPackets: 0,
    concealedSamples: 0,
    firstRealPos: null,
  };
  private readonly reanchors: Record<ReanchorReason, number> = { start: 0, jump: 0, drift: 0 };

  constructor(options: TimelineOptions) {
    this.t0Ms = options.t0Ms;
    this.delaySamples = msToSamples(options.playoutDelayMs ?? 100);
    this.scale = OPUS_SAMPLE_RATE / (options.clockRate ?? OPUS_SAMPLE_RATE);
    this.align = options.align ?? 'timeline';
    this.driftSamples = msToSamples(options.driftThresholdMs ?? 20);
    this.driftSustainMs = options.driftSustainMs ?? 1000;
    this.jumpSamples = msToSamples(options.jumpThresholdMs ?? 500);
    const channels = options.channels ?? 2;
    this.silence = new Map(([960, 480, 240, 120] as const).map((n) => [n, opusSilenceFrame(n, channels)]));
    this.cursor = this.align === 'timeline' ? 0 : null;
  }

  process(input: TimelineInput): TimelineOutput[] {
    const out: TimelineOutput[] = [];
    if (this.ended) {
      if (input.kind === 'packet') this.counters.droppedAfterEnd++;
      return out;
    }
    switch (input.kind) {
      case 'packet':
        this.onPacket(input, out);
        break;
      case 'tick': {
        const target = Math.floor((msToSamples(input.nowMs - this.t0Ms) - this.delaySamples) / Q) * Q;
        this.fillTo(target, out);
        break;
      }
      case 'discontinuity':
        this.needAnchor = true;
        if (input.clockRate !== undefined) this.scale = OPUS_SAMPLE_RATE / input.clockRate;
        break;
      case 'pause':
        this.paused = true;
        break;
      case 'resume':
        if (this.paused) this.needAnchor = true;
        this.paused = false;
        break;
      case 'end': {
        this.ended = true;
        const stopPos = quantize(msToSamples(input.atMs - this.t0Ms));
        this.fillTo(stopPos, out);
        out.push({ kind: 'end', atMs: input.atMs, endPos: this.cursor ?? 0 });
        break;
      }
    }
    return out;
  }

  stats(): TimelineStats {
    return { ...this.counters, reanchors: { ...this.reanchors }, cursor: this.cursor };
  }

  private onPacket(input: OrderedRtpPacket, out: TimelineOutput[]): void {
    if (this.paused) {
      this.counters.droppedPaused++;
      return;
    }
    const payload = input.packet.payload;
    const samples = opusPacketSamples(payload);
    if (samples === 0) {
      this.counters.invalidPayload++;
      return;
    }
    const ts = input.packet.timestamp;
    const arrivalPos = quantize(msToSamples(input.arrivalMs - this.t0Ms));
    let extTs: number;
    let reanchored = false;
    if (this.needAnchor || input.discontinuity || this.anchor === undefined) {
      extTs = TWO_32 + ts;
      reanchored = this.setAnchor(extTs, arrivalPos, 'start');
    } else {
      // Signed 32-bit difference to the previous timestamp: handles wraparound both ways.
      extTs = this.lastExtTs + ((ts - this.lastExtTs) | 0);
      const rtpPos = this.anchor.pos + Math.round((extTs - this.anchor.extTs) * this.scale);
      const d = arrivalPos - rtpPos;
      if (Math.abs(d) > this.jumpSamples) reanchored = this.setAnchor(extTs, arrivalPos, 'jump');
      else if (this.drift === undefined) this.drift = { sinceMs: input.arrivalMs, min: d };
      else {
        this.drift.min = Math.min(this.drift.min, d);
        if (input.arrivalMs - this.drift.sinceMs >= this.driftSustainMs) {
          const offset = quantize(this.drift.min);
          this.drift = undefined;
          if (Math.abs(offset) > this.driftSamples) {
            reanchored = this.setAnchor(this.anchor.extTs, this.anchor.pos + offset, 'drift');
          }
        }
      }
    }
    this.lastExtTs = extTs;
    const anchor = this.anchor as { extTs: number; pos: number };
    const pos = anchor.pos + Math.round((extTs - anchor.extTs) * this.scale);

    if (this.cursor === null) this.cursor = Math.floor(pos / Q) * Q;
    let at = this.cursor;
    if (pos >= this.cursor) {
      const gap = Math.floor((pos - this.cursor) / Q) * Q;
      if (gap > 0) {
        if (!reanchored && this.counters.framesReal > 0) {
          this.counters.concealedSamples += gap;
          this.counters.concealedPackets += input.lostBefore;
        }
        this.fillTo(this.cursor + gap, out);
      }
      at = this.cursor;
    } else if ((this.cursor - pos) * 2 < samples) {
      this.counters.shifted++;
    } else {
      this.counters.overlaps++;
      return;
    }
    if (this.counters.firstRealPos === null) this.counters.firstRealPos = at;
    this.counters.framesReal++;
    this.counters.samplesReal += samples;
    this.cursor = at + samples;
    out.push({ kind: 'frame', pos: at, durationSamples: samples, payload, filled: false });
  }

  private setAnchor(extTs: number, pos: number, reason: ReanchorReason): true {
    this.anchor = { extTs, pos };
    this.drift = undefined;
    this.needAnchor = false;
    this.reanchors[reason]++;
    return true;
  }

  private fillTo(target: number, out: TimelineOutput[]): void {
    if (this.cursor === null) return;
    let cursor = this.cursor;
    while (cursor < target) {
      const left = target - cursor;
      const n = left >= 960 ? 960 : left >= 480 ? 480 : left >= 240 ? 240 : 120;
      if (left < n) break; // cannot happen: target and cursor are multiples of Q
      out.push({
        kind: 'frame',
        pos: cursor,
        durationSamples: n,
        payload: this.silence.get(n) as Uint8Array,
        filled: true,
      });
      this.counters.framesFilled++;
      this.counters.samplesFilled += n;
      cursor += n;
    }
    this.cursor = cursor;
  }
}
