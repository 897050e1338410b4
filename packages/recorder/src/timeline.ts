/**
 * Stage 3: maps Opus packets onto the recording timeline and fills every gap with silence.
 *
 * Positions are 48 kHz sample counts from the recording start instant t0 (wall-clock ms). The output
 * is a gap-free, overlap-free run of frames: each frame starts exactly where the previous one ended.
 * Every position is a multiple of 120 samples (2.5 ms, the shortest Opus frame), so any gap can be
 * filled exactly with CELT silence frames of 20/10/5/2.5 ms.
 *
 * Anchoring: the first packet of a stream is placed at its own arrival time (arrivalMs - t0Ms); with
 * `anchorSettleMs`, the frames of the first moments are held and the anchor moves to the least
 * delayed of them. Later packets follow their RTP timestamp relative to that anchor, corrected by the
 * sender's clock rate when its RTCP sender reports are trustworthy. Arrival times only correct the
 * anchor when their delay-free floor moved gradually (a drifting clock) or stayed put for
 * `driftConfirmWindows` windows (a lasting step); a processing-delay burst that recovers moves nothing.
 */
import { OPUS_MIN_FRAME_SAMPLES, OPUS_SAMPLE_RATE, opusPacketSamples, opusSilenceFrame } from './opus.js';
import type { OrderedRtpPacket } from './reorder-buffer.js';
import type { SenderReport } from './rtcp-parser.js';
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
   * Clock-drift correction. The smallest (arrival - expected position) over the last
   * `driftSustainMs` of arrivals is the offset free of network and processing delay (delay only ever
   * adds). When it is beyond this threshold the anchor moves by it: silence is inserted (sender clock
   * slow) or audio dropped (sender clock fast). A late offset that appeared abruptly must first hold
   * for the whole confirmation span (`driftConfirmWindows`). Default 20.
   */
  driftThresholdMs?: number;
  /** Span of arrivals the offset floor is taken over (ms). Default 1000. */
  driftSustainMs?: number;
  /**
   * Largest difference between the floor over the last `driftSustainMs` and the floor over the
   * confirmation span that still counts as gradual clock drift (ms). A clock 0.5 % off moves the floor
   * 5 ms per second; the rest is jitter allowance. A floor further ahead is a delay burst or a step and
   * must persist. Default 10.
   */
  driftGradualMs?: number;
  /**
   * The confirmation span, in units of `driftSustainMs`: a floor that jumped later than expected is
   * followed only once the floor over this whole span is beyond the threshold. Processing-delay bursts
   * shorter than the span never move the timeline. Default 2 (2 s).
   */
  driftConfirmWindows?: number;
  /**
   * While packets arrive, the gap after the last one is left to the packets themselves (loss and DTX
   * gaps are filled when the next packet lands): `tick` writes silence by time only once no packet has
   * arrived for this long (ms). A processing stall shorter than this delivers its queued packets into
   * free slots instead of onto silence. Default 2000.
   */
  liveHoldMs?: number;
  /** Re-anchor when |arrival - expected position| exceeds this (after settling). Default 500. */
  jumpThresholdMs?: number;
  /**
   * After a (re)anchor, hold the stream's frames for this long (ms of arrivals) and move the anchor
   * to the least delayed of them, so that an anchor packet delayed by a processing burst does not
   * place the whole stream late. 0 (default here) writes at once; `TrackPipeline` uses 250.
   */
  anchorSettleMs?: number;
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
  | { readonly kind: 'pause' | 'resume'; readonly atMs: number }
  /** An RTCP sender report of the source: measures the sender's RTP clock rate. */
  | SenderReport;

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
  /**
   * Times a floor jumped later than the threshold and was held back: delay bursts (which then
   * recovered), or steps that were followed once confirmed.
   */
  driftHeld: number;
  /** Drift corrections taken from the sender's clock rate (sender reports), part of reanchors.drift. */
  senderClockCorrections: number;
  senderClock: SenderClockStats;
  /** Position of the first real frame, or null. */
  firstRealPos: number | null;
  /** Where the output has been written up to, or null before anything (first_packet align). */
  cursor: number | null;
}

const Q = OPUS_MIN_FRAME_SAMPLES;
const TWO_32 = 0x1_0000_0000;
/** Settle after a jump (when settling is on): a stall's backlog may take this long to arrive. */
const JUMP_SETTLE_MS = 1000;
/** Confirmation span, in drift windows, while the sender's reports are trusted. */
const SENDER_REPORT_CONFIRM_WINDOWS = 10;

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

interface Anchor {
  extTs: number;
  pos: number;
}

interface Held {
  input: OrderedRtpPacket;
  extTs: number;
}

/** The first moments of a (re)anchored stream, held until the least delayed packet is known. */
interface Settle {
  untilMs: number;
  /** Smallest (arrival - expected) position seen, relative to the provisional anchor (<= 0). */
  minD: number;
  held: Held[];
  /** For a jump: the anchor before it, restored if the jump was only a delay burst. */
  previous: Anchor | undefined;
  /** After a resume: the stream may not move before the resume instant (nothing real while paused). */
  notBefore: number | undefined;
}

/** Minimum of recent values by time: a monotonic deque, values increasing from head to tail. */
class SlidingMin {
  private readonly at: number[] = [];
  private readonly value: number[] = [];
  private head = 0;

  push(atMs: number, value: number): void {
    while (this.value.length > this.head && (this.value.at(-1) as number) >= value) {
      this.value.pop();
      this.at.pop();
    }
    this.at.push(atMs);
    this.value.push(value);
  }

  /** Drops values older than `fromMs`. */
  evict(fromMs: number): void {
    while (this.head < this.at.length && (this.at[this.head] as number) < fromMs) this.head++;
    if (this.head > 64 && this.head * 2 > this.at.length) {
      this.at.splice(0, this.head);
      this.value.splice(0, this.head);
      this.head = 0;
    }
  }

  /** Smallest value pushed at or after `fromMs` (the first such entry: values increase). */
  minSince(fromMs: number): number | undefined {
    let lo = this.head;
    let hi = this.at.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((this.at[mid] as number) < fromMs) lo = mid + 1;
      else hi = mid;
    }
    return this.value[lo];
  }

  clear(): void {
    this.at.length = 0;
    this.value.length = 0;
    this.head = 0;
  }
}

export class Timeline {
  private readonly t0Ms: number;
  private readonly delaySamples: number;
  private scale: number;
  private readonly align: TimelineAlign;
  private readonly driftSamples: number;
  private readonly driftSustainMs: number;
  private readonly gradualSamples: number;
  private readonly confirmMs: number;
  private readonly jumpSamples: number;
  private readonly settleMs: number;
  private readonly liveHoldMs: number;
  private readonly silence: ReadonlyMap<number, Uint8Array>;
  private readonly senderClock: SenderClock;

  private cursor: number | null;
  private anchor: Anchor | undefined;
  private lastExtTs = 0;
  private ssrc: number | undefined;
  private needAnchor = true;
  /** (arrival - expected position) of the packets since the last (re)anchor, for the floors. */
  private readonly floors = new SlidingMin();
  /** Arrival of the first packet the floors hold (undefined: none since the last anchor move). */
  private floorsSince: number | undefined;
  /** A late floor is being held back (counted once per episode). */
  private holding = false;
  private settle: Settle | undefined;
  private resumedAt: number | undefined;
  private lastArrivalMs = -Infinity;
  private paused = false;
  private ended = false;
  private readonly counters: Omit<TimelineStats, 'cursor' | 'reanchors' | 'senderClock'> = {
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
    driftHeld: 0,
    senderClockCorrections: 0,
    firstRealPos: null,
  };
  private readonly reanchors: Record<ReanchorReason, number> = { start: 0, jump: 0, drift: 0 };

  constructor(options: TimelineOptions) {
    this.t0Ms = options.t0Ms;
    this.delaySamples = msToSamples(options.playoutDelayMs ?? 100);
    const clockRate = options.clockRate ?? OPUS_SAMPLE_RATE;
    this.scale = OPUS_SAMPLE_RATE / clockRate;
    this.align = options.align ?? 'timeline';
    this.driftSamples = msToSamples(options.driftThresholdMs ?? 20);
    this.driftSustainMs = options.driftSustainMs ?? 1000;
    this.gradualSamples = msToSamples(options.driftGradualMs ?? 10);
    this.confirmMs = Math.max(1, options.driftConfirmWindows ?? 2) * this.driftSustainMs;
    this.jumpSamples = msToSamples(options.jumpThresholdMs ?? 500);
    this.settleMs = options.anchorSettleMs ?? 0;
    this.liveHoldMs = options.liveHoldMs ?? 2000;
    this.senderClock = new SenderClock({ clockRate });
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
      case 'senderReport':
        this.senderClock.add(input);
        break;
      case 'tick': {
        if (this.settle) {
          // While settling, the held frames may still move earlier: write no silence over them.
          if (input.nowMs < this.settle.untilMs) break;
          this.commitSettle(out);
        }
        if (input.nowMs - this.lastArrivalMs < this.liveHoldMs && !this.paused) break;
        const target = Math.floor((msToSamples(input.nowMs - this.t0Ms) - this.delaySamples) / Q) * Q;
        this.fillTo(target, out);
        break;
      }
      case 'discontinuity':
        this.commitSettle(out);
        this.needAnchor = true;
        if (input.clockRate !== undefined) {
          this.scale = OPUS_SAMPLE_RATE / input.clockRate;
          this.senderClock.reset(undefined, input.clockRate);
        }
        break;
      case 'pause':
        this.commitSettle(out);
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
        this.commitSettle(out);
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
    return {
      ...this.counters,
      reanchors: { ...this.reanchors },
      senderClock: this.senderClock.stats(),
      cursor: this.cursor,
    };
  }

  private onPacket(input: OrderedRtpPacket, out: TimelineOutput[]): void {
    if (this.paused) {
      this.counters.droppedPaused++;
      return;
    }
    const samples = opusPacketSamples(input.packet.payload);
    if (samples === 0) {
      this.counters.invalidPayload++;
      return;
    }
    this.lastArrivalMs = Math.max(this.lastArrivalMs, input.arrivalMs);
    const ts = input.packet.timestamp;
    const arrivalPos = quantize(msToSamples(input.arrivalMs - this.t0Ms));
    if (this.needAnchor || input.discontinuity || this.anchor === undefined) {
      this.commitSettle(out);
      const extTs = TWO_32 + ts;
      this.lastExtTs = extTs;
      if (input.packet.ssrc !== this.ssrc) {
        this.ssrc = input.packet.ssrc;
        if (this.senderClock.stats().ssrc !== this.ssrc) this.senderClock.reset(this.ssrc);
      }
      this.setAnchor({ extTs, pos: arrivalPos }, 'start');
      const resumedAt = this.resumedAt;
      this.resumedAt = undefined;
      if (this.settleMs > 0) {
        this.settle = {
          untilMs: input.arrivalMs + this.settleMs,
          minD: 0,
          held: [],
          previous: undefined,
          notBefore: resumedAt,
        };
        this.settle.held.push({ input, extTs });
      } else this.place(extTs, input, samples, true, out);
      return;
    }
    // Signed 32-bit difference to the previous timestamp: handles wraparound both ways.
    const extTs = this.lastExtTs + ((ts - this.lastExtTs) | 0);
    this.lastExtTs = extTs;

    const settle = this.settle;
    if (settle) {
      const d = arrivalPos - this.expectedPos(extTs);
      if (Math.abs(d) <= this.jumpSamples) {
        settle.minD = Math.min(settle.minD, d);
        settle.held.push({ input, extTs });
        if (input.arrivalMs >= settle.untilMs) this.commitSettle(out);
        return;
      }
      this.commitSettle(out);
    }

    let reanchored = false;
    // The sender's own clock rate (sender reports): exact, and blind to every delay on the way.
    const clockOffset = this.expectedPos(extTs) - this.rtpPos(extTs);
    if (Math.abs(clockOffset) > this.driftSamples) {
      this.anchor = { extTs, pos: this.rtpPos(extTs) + quantize(clockOffset) };
      this.reanchors.drift++;
      this.counters.senderClockCorrections++;
      reanchored = true;
    }
    const d = arrivalPos - this.expectedPos(extTs);
    if (Math.abs(d) > this.jumpSamples) {
      // A frozen RTP clock, a reconnect, or a long stall: settle on the packets that follow.
      const previous = this.anchor;
      this.setAnchor({ extTs, pos: arrivalPos }, undefined);
      this.settle = {
        // Long enough for the queue of a stall to drain: its last packets are the nearly on-time ones.
        untilMs: input.arrivalMs + Math.max(this.settleMs, this.settleMs > 0 ? JUMP_SETTLE_MS : 1),
        minD: 0,
        held: [{ input, extTs }],
        previous,
        notBefore: undefined,
      };
      if (this.settleMs === 0) this.commitSettle(out);
      return;
    }
    if (this.followFloor(input.arrivalMs, d)) reanchored = true;
    this.place(extTs, input, samples, reanchored, out);
  }

  /**
   * Adds one packet's offset and decides whether the anchor follows the floor. Returns true when the
   * anchor moved. With `short` the floor over `driftSustainMs` and `long` the one over the
   * confirmation span:
   * - |short| within the threshold: nothing moves, and a burst being held back has recovered.
   * - short earlier than expected: follow at once. Delay cannot make packets early, so this is a fast
   *   sender clock, a step forward, or an anchor that was itself delayed.
   * - short later than expected, and long too: it persisted through the span; follow short.
   * - short later than expected, long close to it: it got there gradually (a slow clock); follow.
   * - short later than expected by a jump: a delay burst or a step back; hold back until confirmed.
   */
  private followFloor(arrivalMs: number, d: number): boolean {
    // With trusted sender reports the clock's drift is already in the expected position, and a real
    // step of the sender's clock would break the reports' line: a late floor is then delay, unless it
    // lasts far longer than any burst.
    const reported = this.ssrc !== undefined && this.senderClock.skewOf(this.ssrc) !== undefined;
    const confirmMs = reported ? this.driftSustainMs * SENDER_REPORT_CONFIRM_WINDOWS : this.confirmMs;
    this.floors.push(arrivalMs, d);
    this.floors.evict(arrivalMs - Math.max(confirmMs, this.confirmMs));
    this.floorsSince ??= arrivalMs;
    const span = arrivalMs - this.floorsSince;
    if (span < this.driftSustainMs) return false;
    const short = this.floors.minSince(arrivalMs - this.driftSustainMs) as number;
    const offset = quantize(short);
    if (Math.abs(offset) <= this.driftSamples) {
      this.holding = false;
      return false;
    }
    if (offset < 0) return this.moveAnchor(offset);
    const long = span >= confirmMs ? quantize(this.floors.minSince(arrivalMs - confirmMs) as number) : 0;
    if (long > this.driftSamples) return this.moveAnchor(offset);
    if (!reported && span >= confirmMs && short - long <= this.gradualSamples) return this.moveAnchor(offset);
    if (!this.holding) this.counters.driftHeld++;
    this.holding = true;
    return false;
  }

  private moveAnchor(offset: number): true {
    const a = this.anchor as Anchor;
    this.anchor = { extTs: a.extTs, pos: a.pos + offset };
    this.reanchors.drift++;
    this.resetFloors();
    return true;
  }

  private resetFloors(): void {
    this.floors.clear();
    this.floorsSince = undefined;
    this.holding = false;
  }

  /** Ends a settle: the anchor moves to the least delayed held packet, then the held frames are placed. */
  private commitSettle(out: TimelineOutput[]): void {
    const s = this.settle;
    if (!s) return;
    this.settle = undefined;
    const offset = quantize(s.minD);
    const a = this.anchor as Anchor;
    let pos = a.pos + offset;
    if (s.notBefore !== undefined) pos = Math.max(pos, Math.min(a.pos, s.notBefore));
    this.anchor = { extTs: a.extTs, pos };
    let reanchored = true;
    if (s.previous) {
      const p = s.previous;
      const continued = p.pos + Math.round((a.extTs - p.extTs) * this.scale);
      if (Math.abs(pos - continued) <= this.jumpSamples) {
        // Only a stall: the RTP clock was right all along, and the floors measured so far still hold.
        this.anchor = p;
        reanchored = false;
      } else {
        this.reanchors.jump++;
        this.resetFloors();
      }
    } else {
      if (Math.abs(pos - a.pos) > this.driftSamples) this.reanchors.drift++;
      this.resetFloors();
    }
    for (const h of s.held) {
      const samples = opusPacketSamples(h.input.packet.payload);
      const arrivalPos = quantize(msToSamples(h.input.arrivalMs - this.t0Ms));
      if (this.followFloor(h.input.arrivalMs, arrivalPos - this.expectedPos(h.extTs))) reanchored = true;
      this.place(h.extTs, h.input, samples, reanchored, out);
      reanchored = false;
    }
  }

  /** Position by RTP timestamp from the anchor. */
  private rtpPos(extTs: number): number {
    const a = this.anchor as Anchor;
    return a.pos + Math.round((extTs - a.extTs) * this.scale);
  }

  /** Where the packet belongs by the sender's clock: the RTP position, rate-corrected by sender reports. */
  private expectedPos(extTs: number): number {
    const a = this.anchor as Anchor;
    const skew = this.ssrc === undefined ? undefined : this.senderClock.skewOf(this.ssrc);
    const span = (extTs - a.extTs) * this.scale;
    return a.pos + Math.round(skew === undefined ? span : span / skew);
  }

  private place(
    extTs: number,
    input: OrderedRtpPacket,
    samples: number,
    reanchored: boolean,
    out: TimelineOutput[],
  ): void {
    const payload = input.packet.payload;
    const pos = this.rtpPos(extTs);
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

  private setAnchor(anchor: Anchor, reason: ReanchorReason | undefined): void {
    this.anchor = anchor;
    this.resetFloors();
    this.needAnchor = false;
    if (reason) this.reanchors[reason]++;
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
