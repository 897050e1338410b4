/**
 * Stage 2: reorder buffer keyed on the extended (unwrapped) RTP sequence number. In-order packets
 * pass straight through; a packet behind a hole is held until the hole is filled, or until the oldest
 * held packet has waited `delayMs`, or the buffer holds `maxPackets`. Then the hole is declared lost.
 */
import type { Sink } from './reused-list.js';
import type { RtpPacket } from './rtp-parser.js';
import type { EndOfStream, Tick } from './stream-events.js';

export interface ReorderBufferOptions {
  /** How long a packet may wait for the packets before it (ms). Default 100. */
  delayMs?: number;
  /** Hard cap on held packets. Default 64 (1.28 s of 20 ms packets). */
  maxPackets?: number;
  /** A sequence jump larger than this (either way) starts a new stream once confirmed. Default 3000. */
  maxDropout?: number;
}

export interface ReorderPacketInput {
  readonly kind: 'packet';
  readonly packet: RtpPacket;
  readonly arrivalMs: number;
}

/** `flush` releases everything held; `reset` flushes and starts a new stream with the next packet. */
export type ReorderInput = ReorderPacketInput | Tick | EndOfStream | { readonly kind: 'flush' | 'reset' };

export interface OrderedRtpPacket {
  readonly kind: 'packet';
  readonly packet: RtpPacket;
  readonly arrivalMs: number;
  /** Extended sequence number, strictly increasing within a stream. */
  readonly extSeq: number;
  /** Packets declared lost immediately before this one. */
  readonly lostBefore: number;
  /** First packet of a stream (first ever, new SSRC, confirmed sequence jump, after a reset). */
  readonly discontinuity: boolean;
}

export type ReorderOutput = OrderedRtpPacket | EndOfStream;

export interface ReorderBufferStats {
  received: number;
  released: number;
  lost: number;
  duplicated: number;
  reordered: number;
  /** Arrived after their slot was released (and counted lost). Dropped. */
  late: number;
  /** Held packets released early because the buffer was full. */
  overflows: number;
  /** New streams: first packet, SSRC changes, confirmed jumps, resets. */
  streams: number;
  /** Packets set aside as a possible sequence jump that was never confirmed. */
  strays: number;
  held: number;
}

const HISTORY = 1024;

export class ReorderBuffer {
  private readonly delayMs: number;
  private readonly maxPackets: number;
  private readonly maxDropout: number;

  private ssrc: number | undefined;
  private highest = 0;
  private next = 0;
  private startPending = true;
  private nowMs = -Infinity;
  private readonly held = new Map<number, ReorderPacketInput>();
  /** Extended seqs released recently, indexed by seq mod HISTORY: tells duplicates from late packets. */
  private readonly history = new Float64Array(HISTORY).fill(-1);
  private stray: ReorderPacketInput | undefined;
  private readonly counters = {
    received: 0,
    released: 0,
    lost: 0,
    duplicated: 0,
    reordered: 0,
    late: 0,
    overflows: 0,
    streams: 0,
    strays: 0,
  };

  constructor(options: ReorderBufferOptions = {}) {
    this.delayMs = options.delayMs ?? 100;
    this.maxPackets = Math.max(1, options.maxPackets ?? 64);
    this.maxDropout = options.maxDropout ?? 3000;
  }

  process(input: ReorderInput): ReorderOutput[] {
    const out: ReorderOutput[] = [];
    this.processInto(input, out);
    return out;
  }

  /** As `process`, appending what it releases to `out`. */
  processInto(input: ReorderInput, out: Sink<ReorderOutput>): void {
    switch (input.kind) {
      case 'packet':
        this.onPacket(input, out);
        break;
      case 'tick':
        this.advanceClock(input.nowMs);
        this.releaseExpired(out);
        break;
      case 'flush':
        this.releaseAll(out);
        break;
      case 'reset':
        this.releaseAll(out);
        this.dropStray();
        this.startPending = true;
        break;
      case 'end':
        this.releaseAll(out);
        this.dropStray();
        out.push(input);
        break;
    }
  }

  stats(): ReorderBufferStats {
    return { ...this.counters, held: this.held.size };
  }

  private advanceClock(nowMs: number): void {
    if (nowMs > this.nowMs) this.nowMs = nowMs;
  }

  private unwrap(seq: number): number {
    let ext = this.highest - (this.highest & 0xffff) + seq;
    if (ext - this.highest > 0x8000) ext -= 0x10000;
    else if (this.highest - ext > 0x8000) ext += 0x10000;
    return ext;
  }

  private startStream(input: ReorderPacketInput, out: Sink<ReorderOutput>): void {
    this.releaseAll(out);
    this.ssrc = input.packet.ssrc;
    // Start high so that unwrapping backwards never goes negative.
    this.highest = 0x10000 + input.packet.sequenceNumber;
    this.next = this.highest;
    this.startPending = false;
    this.counters.streams++;
    this.history.fill(-1);
    this.held.set(this.highest, input);
    this.releaseInOrder(out, true);
  }

  private onPacket(input: ReorderPacketInput, out: Sink<ReorderOutput>): void {
    this.counters.received++;
    this.advanceClock(input.arrivalMs);
    if (this.startPending || input.packet.ssrc !== this.ssrc) {
      this.dropStray();
      this.startStream(input, out);
      return;
    }
    const ext = this.unwrap(input.packet.sequenceNumber);
    if (ext - this.highest > this.maxDropout || this.next - ext > this.maxDropout) {
      // A big jump: accept it as a new stream only if the following packet confirms it.
      const stray = this.stray;
      if (stray && ((stray.packet.sequenceNumber + 1) & 0xffff) === input.packet.sequenceNumber) {
        this.stray = undefined;
        this.startStream(stray, out);
        this.onPacketInStream(input, this.unwrap(input.packet.sequenceNumber), out);
      } else {
        if (stray) this.counters.strays++;
        this.stray = input;
        this.releaseExpired(out);
      }
      return;
    }
    this.dropStray();
    this.onPacketInStream(input, ext, out);
  }

  private onPacketInStream(input: ReorderPacketInput, ext: number, out: Sink<ReorderOutput>): void {
    if (ext < this.next) {
      if (this.history[ext % HISTORY] === ext) this.counters.duplicated++;
      else this.counters.late++;
      this.releaseExpired(out);
      return;
    }
    if (this.held.has(ext)) {
      this.counters.duplicated++;
      this.releaseExpired(out);
      return;
    }
    if (ext < this.highest) this.counters.reordered++;
    else this.highest = ext;
    if (ext === this.next && this.held.size === 0) {
      this.emit(input, ext, 0, false, out);
      this.next = ext + 1;
      this.releaseExpired(out);
      return;
    }
    this.held.set(ext, input);
    this.releaseInOrder(out, false);
    this.releaseExpired(out);
  }

  private dropStray(): void {
    if (this.stray) this.counters.strays++;
    this.stray = undefined;
  }

  private emit(
    input: ReorderPacketInput,
    ext: number,
    lostBefore: number,
    discontinuity: boolean,
    out: Sink<ReorderOutput>,
  ): void {
    this.history[ext % HISTORY] = ext;
    this.counters.released++;
    this.counters.lost += lostBefore;
    out.push({
      kind: 'packet',
      packet: input.packet,
      arrivalMs: input.arrivalMs,
      extSeq: ext,
      lostBefore,
      discontinuity,
    });
  }

  /** Releases consecutive held packets starting at `next`. */
  private releaseInOrder(out: Sink<ReorderOutput>, discontinuity: boolean): void {
    let first = discontinuity;
    for (;;) {
      const p = this.held.get(this.next);
      if (!p) return;
      this.held.delete(this.next);
      this.emit(p, this.next, 0, first, out);
      first = false;
      this.next++;
    }
  }

  /** Skips the hole in front of the oldest held packet: its missing predecessors are lost. */
  private skipHole(out: Sink<ReorderOutput>): void {
    let min = Infinity;
    for (const k of this.held.keys()) if (k < min) min = k;
    if (min === Infinity) return;
    const p = this.held.get(min) as ReorderPacketInput;
    this.held.delete(min);
    this.emit(p, min, min - this.next, false, out);
    this.next = min + 1;
    this.releaseInOrder(out, false);
  }

  private releaseExpired(out: Sink<ReorderOutput>): void {
    while (this.held.size > this.maxPackets) {
      this.counters.overflows++;
      this.skipHole(out);
    }
    while (this.held.size > 0) {
      let oldest = Infinity;
      for (const p of this.held.values()) if (p.arrivalMs < oldest) oldest = p.arrivalMs;
      if (oldest + this.delayMs > this.nowMs) return;
      this.skipHole(out);
    }
  }

  private releaseAll(out: Sink<ReorderOutput>): void {
    while (this.held.size > 0) this.skipHole(out);
  }
}
