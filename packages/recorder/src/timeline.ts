/**
 * Stage 3: maps Opus packets onto the recording timeline and fills every gap with silence.
 *
 * Positions are 48 kHz sample counts from the recording start instant t0 (wall-clock ms). The output
 * is a gap-free, overlap-free run of frames: each frame starts exactly where the previous one ended.
 * Every position is a multiple of 120 samples (2.5 ms, the shortest Opus frame), so any gap can be
 * filled exactly with CELT silence frames of 20/10/5/2.5 ms.
 *
 * Anchoring: a packet is placed where it was sent, as estimated by a {@link SendTimeEstimator} from
 * the lower envelope of (arrival - RTP time): processing delay (a loaded event loop, a stall) only
 * ever makes a packet look late, so it never moves the estimate; a faster or slower sender clock and
 * a lasting change of the path are followed (earlier at once, later once it persisted). Trusted RTCP
 * sender reports give the sender clock's rate. The frames of a stream's first `holdMs` of arrivals
 * are held before they are placed, so that the packets a stall did not delay count too; `tick`
 * writes silence only up to `stallGuardMs` behind the playout point, and never over a held frame, so
 * that packets queued behind a stall still find their slot free.
 *
 * Inside a run of RTP-contiguous frames, small corrections wait: a frame is written right after the
 * previous one unless its estimated position is `SLACK_MS` or more away (then silence is inserted, for
 * a slow sender clock, or the frame is dropped as an overlap, for a fast one: a fast clock makes more
 * audio than time passes). Gaps in the RTP (loss, DTX) and pauses absorb the corrections instead.
 */
import type { Sink } from './reused-list.js';
import { OPUS_MIN_FRAME_SAMPLES, OPUS_SAMPLE_RATE, opusPacketSamples, opusSilenceFrame } from './opus.js';
import type { OrderedRtpPacket } from './reorder-buffer.js';
import type { SenderReport } from './rtcp-parser.js';
import {
  SendTimeEstimator,
  type SendTimeEstimatorOptions,
  type SendTimeEstimatorStats,
  type SendTimeStep,
} from './send-time-estimator.js';
import { SenderClock, type SenderClockStats } from './sender-clock.js';
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
   * Packets arriving more than this (ms) later than the estimated send time are "late"; a later
   * offset is followed only when every packet is late for `driftSustainMs`. Default 20.
   */
  driftThresholdMs?: number;
  /** How long a later offset must persist before it is followed (ms of arrivals). Default 3000. */
  driftSustainMs?: number;
  /**
   * Packets this much later (ms) are a jump (a frozen RTP clock), followed once three of them span
   * 200 ms; the RTP clock going back by more than this starts a new stream. Default 500.
   */
  jumpThresholdMs?: number;
  /**
   * The frames of a stream's first moments (this long, ms of arrivals) wait to be placed until the
   * estimate has seen them all: a first packet delayed by a stall does not place the stream late.
   * Default 1000.
   */
  holdMs?: number;
  /**
   * `tick` writes silence up to now - playoutDelayMs - this (ms): the longest event-loop stall whose
   * queued packets still find their slots free. Default 1000.
   */
  stallGuardMs?: number;
  /** Finer settings of the send-time estimator. */
  estimator?: SendTimeEstimatorOptions;
}

/** One Opus packet on the timeline. `pos` and `durationSamples` are 48 kHz samples. */
export interface TimelineFrame {
  readonly kind: 'frame';
  readonly pos: number;
  readonly durationSamples: number;
  readonly payload: Uint8Array;
  /** True for generated silence. */
  readonly filled: boolean;
  /** The packet's RFC 6464 audio-level byte (V bit 7, level bits 0-6), or -1 (none, or filled). */
  readonly audioLevel?: number;
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
  | { readonly kind: 'pause' | 'resume'; readonly atMs: number }
  /** An RTCP sender report of the source: its NTP <-> RTP pair measures the sender clock's rate. */
  | SenderReport;

export type TimelineOutput = TimelineFrame | TimelineEnd;

export type ReanchorReason = 'start' | 'jump' | 'drift';

export interface TimelineStats {
  framesReal: number;
  framesFilled: number;
  samplesReal: number;
  samplesFilled: number;
  /**
   * Real frames dropped: their RTP time was already written, or they would have to be written more
   * than `DROP_LAG_MS` late to meet the previous frame (a fast sender clock), or `SLACK_MS` (or half
   * their length) late after a gap.
   */
  overlaps: number;
  /** Real frames written up to `SLACK_MS` away from their estimated position, to meet the previous one. */
  shifted: number;
  /** Silence inserted inside a run of RTP-contiguous frames to follow a slow sender clock. */
  driftFilledSamples: number;
  droppedPaused: number;
  droppedAfterEnd: number;
  /** Samples the cursor went back by `rewind` (audio a consumer cut after a late pause). */
  rewoundSamples: number;
  invalidPayload: number;
  /** Packets declared lost by the reorder buffer whose slot was filled with silence. */
  concealedPackets: number;
  /** Silence inserted between two real frames of one anchored stream (loss, DTX). */
  concealedSamples: number;
  reanchors: Record<ReanchorReason, number>;
  /** Real frames waiting to be placed. */
  held: number;
  estimator: SendTimeEstimatorStats | null;
  senderClock: SenderClockStats;
  /** Position of the first real frame, or null. */
  firstRealPos: number | null;
  /** Where the output has been written up to, or null before anything (first_packet align). */
  cursor: number | null;
}

const Q = OPUS_MIN_FRAME_SAMPLES;
const TWO_32 = 0x1_0000_0000;
/** Arrivals this far apart (ms) start a new burst, whose first `holdMs` are held like a stream's. */
const BURST_GAP_MS = 250;
/** How far a frame of a contiguous run may sit from its estimated position (ms). */
export const SLACK_MS = 10;
/**
 * How late a frame of a contiguous run may be written (ms) before it is dropped instead: room for the
 * estimate to settle lower, and for a fast sender clock to build up lag until one frame can go.
 */
export const DROP_LAG_MS = 15;

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

interface Held {
  readonly input: OrderedRtpPacket;
  readonly extTs: number;
  readonly samples: number;
  /** RTP time since the stream's first packet (ms). */
  readonly x: number;
}

/** One anchored stream: from a (re)start to the next. */
interface Stream {
  readonly anchorExt: number;
  readonly ssrc: number;
  readonly estimator: SendTimeEstimator;
  lastExt: number;
  /** Largest RTP end (ext timestamp units) accepted. */
  maxEnd: number;
  /** RTP end of the last real frame written, or undefined before the first. */
  writtenEnd: number | undefined;
  /** No real frame of the stream goes before this position (the resume instant). */
  notBefore: number;
  /** Arrival time until which the stream's frames are held (its first moments, or a burst's). */
  settledAtMs: number;
  lastArrivalMs: number;
  /** The next frame placed follows a re-anchor: its gap is not concealment. */
  reanchored: boolean;
}

/** By `refMs` the stream's frames are placed as they come: its hold is over and no run of late packets is pending. */
function placesAtOnce(s: Stream, refMs: number): boolean {
  return refMs >= s.settledAtMs && !s.estimator.pendingLate;
}

export class Timeline {
  private readonly t0Ms: number;
  private readonly delayMs: number;
  private clockRate: number;
  private scale: number;
  private readonly align: TimelineAlign;
  private readonly jumpMs: number;
  private readonly holdMs: number;
  private readonly sustainMs: number;
  private readonly stallGuardMs: number;
  private readonly estimatorOptions: SendTimeEstimatorOptions;
  private readonly silence: ReadonlyMap<number, Uint8Array>;
  private readonly senderClock: SenderClock;

  private cursor: number | null;
  private stream: Stream | undefined;
  private held: Held[] = [];
  private needAnchor = true;
  private resumedAt: number | undefined;
  private paused = false;
  private ended = false;
  private readonly counters: Omit<
    TimelineStats,
    'cursor' | 'reanchors' | 'held' | 'estimator' | 'senderClock'
  > = {
    framesReal: 0,
    framesFilled: 0,
    samplesReal: 0,
    samplesFilled: 0,
    overlaps: 0,
    shifted: 0,
    driftFilledSamples: 0,
    droppedPaused: 0,
    droppedAfterEnd: 0,
    rewoundSamples: 0,
    invalidPayload: 0,
    concealedPackets: 0,
    concealedSamples: 0,
    firstRealPos: null,
  };
  private readonly reanchors: Record<ReanchorReason, number> = { start: 0, jump: 0, drift: 0 };

  constructor(options: TimelineOptions) {
    this.t0Ms = options.t0Ms;
    this.delayMs = options.playoutDelayMs ?? 100;
    this.clockRate = options.clockRate ?? OPUS_SAMPLE_RATE;
    this.scale = OPUS_SAMPLE_RATE / this.clockRate;
    this.align = options.align ?? 'timeline';
    this.jumpMs = options.jumpThresholdMs ?? 500;
    const sustainMs = options.driftSustainMs ?? 3000;
    this.holdMs = options.holdMs ?? 1000;
    this.sustainMs = sustainMs;
    this.stallGuardMs = options.stallGuardMs ?? 1000;
    this.estimatorOptions = {
      stepMs: options.driftThresholdMs ?? 20,
      confirmMs: sustainMs,
      jumpMs: this.jumpMs,
      ...options.estimator,
    };
    this.senderClock = new SenderClock({ clockRate: this.clockRate });
    const channels = options.channels ?? 2;
    this.silence = new Map(([960, 480, 240, 120] as const).map((n) => [n, opusSilenceFrame(n, channels)]));
    this.cursor = this.align === 'timeline' ? 0 : null;
  }

  process(input: TimelineInput): TimelineOutput[] {
    const out: TimelineOutput[] = [];
    this.processInto(input, out);
    return out;
  }

  /** As `process`, appending the frames to `out`. */
  processInto(input: TimelineInput, out: Sink<TimelineOutput>): void {
    if (this.ended) {
      if (input.kind === 'packet') this.counters.droppedAfterEnd++;
      return;
    }
    switch (input.kind) {
      case 'packet':
        this.onPacket(input, out);
        break;
      case 'tick': {
        this.release(input.nowMs - this.delayMs, out);
        // Silence stops a stall guard short of the oldest frame still held, whatever its estimate.
        const first = this.held[0];
        const refMs = first ? Math.min(input.nowMs, first.input.arrivalMs) : input.nowMs;
        const target = msToSamples(refMs - this.t0Ms - this.delayMs - this.stallGuardMs);
        this.fillTo(Math.floor(target / Q) * Q, out);
        break;
      }
      case 'senderReport':
        this.senderClock.add(input);
        this.applySenderClock();
        break;
      case 'discontinuity':
        this.releaseAll(out);
        this.needAnchor = true;
        if (input.clockRate !== undefined) {
          this.clockRate = input.clockRate;
          this.scale = OPUS_SAMPLE_RATE / input.clockRate;
          this.senderClock.reset(undefined, input.clockRate);
        }
        break;
      case 'pause':
        this.releaseAll(out);
        this.paused = true;
        break;
      case 'resume':
        if (this.paused) {
          this.needAnchor = true;
          this.resumedAt = quantize(msToSamples(input.atMs - this.t0Ms));
        }
        this.paused = false;
        break;
      case 'end': {
        this.releaseAll(out);
        this.ended = true;
        const stopPos = quantize(msToSamples(input.atMs - this.t0Ms));
        this.fillTo(stopPos, out);
        // An end that arrives late (a busy loop, a forwarded stop) finds audio placed past its
        // instant: the end still says the instant, and the muxer and levels cut back to it.
        out.push({ kind: 'end', atMs: input.atMs, endPos: Math.min(this.cursor ?? 0, Math.max(0, stopPos)) });
        break;
      }
    }
  }

  /**
   * Moves the cursor back to `pos` (a consumer cut the audio past it, for a pause that arrived
   * late): the next frame is placed there. Only while paused, so that no stream continues across.
   */
  rewind(pos: number): void {
    if (!this.paused || this.cursor === null || pos >= this.cursor) return;
    this.counters.rewoundSamples += this.cursor - pos;
    this.cursor = pos;
  }

  stats(): TimelineStats {
    return {
      ...this.counters,
      reanchors: { ...this.reanchors },
      held: this.held.length,
      estimator: this.stream ? this.stream.estimator.stats() : null,
      senderClock: this.senderClock.stats(),
      cursor: this.cursor,
    };
  }

  private onPacket(input: OrderedRtpPacket, out: Sink<TimelineOutput>): void {
    if (this.paused) {
      this.counters.droppedPaused++;
      return;
    }
    const samples = opusPacketSamples(input.packet.payload);
    if (samples === 0) {
      this.counters.invalidPayload++;
      return;
    }
    const ts = input.packet.timestamp;
    let stream = this.stream;
    let extTs: number;
    if (this.needAnchor || input.discontinuity || stream === undefined) {
      extTs = TWO_32 + ts;
      stream = this.startStream(input, extTs, 'start', out);
    } else {
      // Signed 32-bit difference to the previous timestamp: handles wraparound both ways.
      extTs = stream.lastExt + ((ts - stream.lastExt) | 0);
      if (extTs + (this.jumpMs * this.clockRate) / 1000 < stream.maxEnd) {
        // The RTP clock went back: a restarted sender. Its old timestamps mean nothing now.
        extTs = TWO_32 + ts;
        stream = this.startStream(input, extTs, 'jump', out);
      }
    }
    stream.lastExt = extTs;
    // A burst after a pause is held too: its first packet may have waited behind a stall.
    if (input.arrivalMs - stream.lastArrivalMs > BURST_GAP_MS)
      stream.settledAtMs = input.arrivalMs + this.holdMs;
    stream.lastArrivalMs = Math.max(stream.lastArrivalMs, input.arrivalMs);
    const rtpSamples = samples / this.scale;
    stream.maxEnd = Math.max(stream.maxEnd, extTs + rtpSamples);
    const x = ((extTs - stream.anchorExt) * 1000) / this.clockRate;
    const y = input.arrivalMs - this.t0Ms - x;
    this.onStep(stream, stream.estimator.add(x, y, input.arrivalMs), out);
    const h: Held = { input, extTs, samples, x };
    // The common case, nothing held and nothing to hold, places the frame at once: a trip through
    // `held` would empty it again (length = 0), and that drops its backing store every packet.
    if (this.held.length === 0 && placesAtOnce(stream, input.arrivalMs)) this.place(h, out);
    else {
      this.held.push(h);
      this.release(input.arrivalMs, out);
    }
  }

  private onStep(stream: Stream, step: SendTimeStep | undefined, out: Sink<TimelineOutput>): void {
    if (step) {
      this.reanchors[step.sizeMs > this.jumpMs ? 'jump' : 'drift']++;
      // Frames sent before the new offset began belong to the previous estimate: place them now.
      while (this.held.length > 0 && (this.held[0] as Held).x < step.fromX) {
        this.place(this.held.shift() as Held, out, step.previousOffsetAt);
      }
      stream.reanchored = true;
    }
  }

  private startStream(
    input: OrderedRtpPacket,
    extTs: number,
    reason: ReanchorReason,
    out: Sink<TimelineOutput>,
  ): Stream {
    this.releaseAll(out);
    const ssrc = input.packet.ssrc;
    if (this.senderClock.stats().ssrc !== ssrc) this.senderClock.reset(ssrc);
    const stream: Stream = {
      anchorExt: extTs,
      ssrc,
      estimator: new SendTimeEstimator(this.estimatorOptions),
      lastExt: extTs,
      maxEnd: extTs,
      writtenEnd: undefined,
      notBefore: this.resumedAt ?? -Infinity,
      settledAtMs: input.arrivalMs + this.holdMs,
      lastArrivalMs: input.arrivalMs,
      reanchored: true,
    };
    this.resumedAt = undefined;
    this.stream = stream;
    this.needAnchor = false;
    this.reanchors[reason]++;
    this.applySenderClock();
    return stream;
  }

  /** Trusted sender reports give the slope: real ms per RTP ms is 1 / (measured rate / nominal). */
  private applySenderClock(): void {
    const s = this.stream;
    if (!s) return;
    const skew = this.senderClock.skewOf(s.ssrc);
    s.estimator.setSlope(skew === undefined ? undefined : 1 / skew - 1);
  }

  /**
   * Places the held frames once the stream's first `holdMs` of arrivals are over by `refMs`, and no
   * run of late packets is pending (or the oldest frame waited twice the confirmation time).
   */
  private release(refMs: number, out: Sink<TimelineOutput>): void {
    const s = this.stream;
    if (!s) return;
    if (placesAtOnce(s, refMs)) this.releaseAll(out);
    else if (refMs >= s.settledAtMs) {
      // A run of late packets is pending.
      while (this.held.length > 0 && refMs - (this.held[0] as Held).input.arrivalMs >= 2 * this.sustainMs) {
        this.place(this.held.shift() as Held, out);
      }
    }
  }

  /** Places every held frame. */
  private releaseAll(out: Sink<TimelineOutput>): void {
    if (this.held.length === 0) return;
    for (const h of this.held) this.place(h, out);
    this.held.length = 0;
  }

  /** Estimated send position of a frame of the current stream (samples, on the 2.5 ms grid). */
  private positionOf(h: Held, offsetAt?: (x: number) => number): number {
    const s = this.stream as Stream;
    const offset = offsetAt ? offsetAt(h.x) : s.estimator.offsetAt(h.x);
    const pos = quantize(msToSamples(h.x + offset));
    return Math.max(pos, s.notBefore);
  }

  private place(h: Held, out: Sink<TimelineOutput>, offsetAt?: (x: number) => number): void {
    const s = this.stream as Stream;
    const { input, samples } = h;
    const payload = input.packet.payload;
    const pos = this.positionOf(h, offsetAt);
    if (this.cursor === null) this.cursor = Math.floor(pos / Q) * Q;
    if (s.writtenEnd !== undefined && h.extTs < s.writtenEnd) {
      this.counters.overlaps++; // its RTP time is already written: a duplicate, or time going back
      return;
    }
    const slack = msToSamples(SLACK_MS);
    const contiguous = s.writtenEnd !== undefined && h.extTs === s.writtenEnd;
    const d = pos - this.cursor;
    if (contiguous ? -d > msToSamples(DROP_LAG_MS) : -d * 2 >= samples || -d >= slack) {
      // Too early for the free slot: a fast sender clock made more audio than time passed. The next
      // frame continues the run where this one would have ended.
      this.counters.overlaps++;
      if (contiguous) s.writtenEnd = h.extTs + samples / this.scale;
      return;
    }
    if (d < 0) this.counters.shifted++;
    else if (d > 0) {
      const gap = Math.floor(d / Q) * Q;
      if (contiguous) {
        if (d >= slack) {
          this.counters.driftFilledSamples += gap;
          this.fillTo(this.cursor + gap, out);
        } else this.counters.shifted++;
      } else {
        if (!s.reanchored && s.writtenEnd !== undefined) {
          this.counters.concealedSamples += gap;
          this.counters.concealedPackets += input.lostBefore;
        }
        this.fillTo(this.cursor + gap, out);
      }
    }
    const at = this.cursor;
    s.reanchored = false;
    s.writtenEnd = h.extTs + samples / this.scale;
    if (this.counters.firstRealPos === null) this.counters.firstRealPos = at;
    this.counters.framesReal++;
    this.counters.samplesReal += samples;
    this.cursor = at + samples;
    const audioLevel = input.packet.audioLevel ?? -1;
    out.push({ kind: 'frame', pos: at, durationSamples: samples, payload, filled: false, audioLevel });
  }

  private fillTo(target: number, out: Sink<TimelineOutput>): void {
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
        audioLevel: -1,
      });
      this.counters.framesFilled++;
      this.counters.samplesFilled += n;
      cursor += n;
    }
    this.cursor = cursor;
  }
}
