/**
 * The pure pipeline of one track: RTP parse -> reorder -> timeline. No I/O; the file writer feeds
 * its output frames to the WebM muxer. Also what the property tests drive with synthetic RTP.
 */
import { ReusedList, type Sink } from './reused-list.js';
import {
  ReorderBuffer,
  type ReorderBufferStats,
  type ReorderInput,
  type ReorderOutput,
} from './reorder-buffer.js';
import { isRtcpPacket, parseRtcp } from './rtcp-parser.js';
import { RtpParser, type RtpParserStats } from './rtp-parser.js';
import type { EndOfStream, Tick } from './stream-events.js';
import {
  Timeline,
  type TimelineInput,
  type TimelineOptions,
  type TimelineOutput,
  type TimelineStats,
} from './timeline.js';

export interface TrackPipelineOptions extends TimelineOptions {
  /** Most packets the reorder buffer holds. Default 64. */
  reorderMaxPackets?: number;
}

export type TrackPipelineInput =
  /**
   * A packet of the source's rtcp-mux transport: RTP, or a compound RTCP packet (RFC 5761 demux on
   * byte 1). Sender reports in RTCP measure the sender's clock; nothing else of RTCP is used.
   */
  | { readonly kind: 'rtp'; readonly data: Uint8Array; readonly arrivalMs: number }
  | Tick
  /** A source starts feeding (first join or rejoin): only its payload type passes; re-anchor. */
  | {
      readonly kind: 'attach';
      readonly payloadType: number;
      readonly clockRate?: number;
      /** The source's negotiated RFC 6464 audio-level extension id, if any: frames carry levels. */
      readonly audioLevelExtId?: number;
    }
  /** The source is gone: flush what it sent; silence from here. */
  | { readonly kind: 'detach'; readonly atMs: number }
  | { readonly kind: 'pause' | 'resume'; readonly atMs: number }
  | EndOfStream;

export interface TrackPipelineStats {
  /** RTP dropped before parsing: no source attached, or paused. */
  ignored: number;
  /** RTCP packets received, and those that did not parse. */
  rtcp: { received: number; invalid: number };
  parser: RtpParserStats;
  reorder: ReorderBufferStats;
  timeline: TimelineStats;
}

export class TrackPipeline {
  private readonly parser = new RtpParser();
  private readonly reorder: ReorderBuffer;
  private readonly timeline: Timeline;
  private attached = false;
  private paused = false;
  private ended = false;
  private ignored = 0;
  private readonly rtcp = { received: 0, invalid: 0 };
  private readonly released = new ReusedList<ReorderOutput>();

  constructor(options: TrackPipelineOptions) {
    this.reorder = new ReorderBuffer({
      delayMs: options.playoutDelayMs ?? 100,
      ...(options.reorderMaxPackets !== undefined && { maxPackets: options.reorderMaxPackets }),
    });
    this.timeline = new Timeline(options);
  }

  process(input: TrackPipelineInput): TimelineOutput[] {
    const out: TimelineOutput[] = [];
    this.processInto(input, out);
    return out;
  }

  /**
   * One packet of the source's transport (as `process({ kind: 'rtp', ... })`), its frames appended
   * to `out`: the per-packet path, which allocates only what the frames themselves need.
   */
  processRtp(data: Uint8Array, arrivalMs: number, out: Sink<TimelineOutput>): void {
    if (this.ended) {
      this.ignored++;
      return;
    }
    if (isRtcpPacket(data)) {
      this.onRtcp(data, out);
      return;
    }
    if (!this.attached || this.paused) {
      this.ignored++;
      return;
    }
    const packet = this.parser.parse(data);
    if (packet) this.run(out, { kind: 'packet', packet, arrivalMs });
  }

  /** As `process`, appending the frames to `out`. */
  processInto(input: TrackPipelineInput, out: Sink<TimelineOutput>): void {
    if (input.kind === 'rtp') {
      this.processRtp(input.data, input.arrivalMs, out);
      return;
    }
    if (this.ended) return;
    switch (input.kind) {
      case 'tick':
        this.run(out, input, input);
        break;
      case 'attach':
        this.attached = true;
        this.parser.setPayloadType(input.payloadType);
        this.parser.setAudioLevelExtId(input.audioLevelExtId);
        this.run(
          out,
          { kind: 'reset' },
          { kind: 'discontinuity', ...(input.clockRate !== undefined && { clockRate: input.clockRate }) },
        );
        break;
      case 'detach':
        if (!this.attached) break;
        this.attached = false;
        this.parser.setPayloadType(undefined);
        this.parser.setAudioLevelExtId(undefined);
        this.run(out, { kind: 'flush' }, { kind: 'discontinuity' });
        this.run(out, { kind: 'tick', nowMs: input.atMs });
        break;
      case 'pause':
        if (this.paused) break;
        this.paused = true;
        this.run(out, { kind: 'flush' }, input);
        break;
      case 'resume':
        if (!this.paused) break;
        this.paused = false;
        this.run(out, { kind: 'reset' }, input);
        break;
      case 'end':
        this.ended = true;
        this.run(out, input);
        break;
    }
  }

  /** While paused: the next frame goes at `pos` (audio past it was cut; `Timeline.rewind`). */
  rewind(pos: number): void {
    this.timeline.rewind(pos);
  }

  stats(): TrackPipelineStats {
    return {
      ignored: this.ignored,
      rtcp: { ...this.rtcp },
      parser: this.parser.stats(),
      reorder: this.reorder.stats(),
      timeline: this.timeline.stats(),
    };
  }

  /** Sender reports go straight to the timeline: they describe the clock, not a slot in the stream. */
  private onRtcp(data: Uint8Array, out: Sink<TimelineOutput>): void {
    this.rtcp.received++;
    const parsed = parseRtcp(data);
    if (!parsed.ok) {
      this.rtcp.invalid++;
      return;
    }
    if (!this.attached) return;
    for (const sr of parsed.senderReports) this.timeline.processInto(sr, out);
  }

  /** Reorder input first; everything it releases goes to the timeline, then the timeline input. */
  private run(out: Sink<TimelineOutput>, reorderInput: ReorderInput, timelineInput?: TimelineInput): void {
    // The released packets go through a reused list (run never re-enters itself).
    const released = this.released;
    this.reorder.processInto(reorderInput, released);
    for (let i = 0; i < released.length; i++) this.timeline.processInto(released.get(i), out);
    released.clear();
    if (timelineInput) this.timeline.processInto(timelineInput, out);
  }
}
