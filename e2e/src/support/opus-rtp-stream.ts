/**
 * The RTP side of one Opus sender, as bytes (RFC 3550): a random SSRC, sequence number and
 * timestamp origin; one packet per 20 ms frame (960 ticks at 48 kHz), and sender reports that tie
 * the RTP clock to the wall clock. For senders on a transport that takes plain RTP/RTCP
 * (node-datachannel encrypts it). No I/O.
 */

const RTCP_SR = 200;
const SR_BYTES = 28;
const NTP_UNIX_OFFSET_S = 2_208_988_800;

export interface OpusRtpStreamOptions {
  payloadType: number;
  /** Default random. */
  ssrc?: number;
  /** First sequence number; default random. */
  sequenceNumber?: number;
  /** RTP timestamp of frame 0; default random. */
  timestamp?: number;
  /** RTP ticks per frame. Default 960 (20 ms at 48 kHz). */
  ticksPerFrame?: number;
  /** Frame length (ms). Default 20. */
  frameMs?: number;
}

export class OpusRtpStream {
  readonly ssrc: number;
  readonly payloadType: number;
  readonly #seq0: number;
  readonly #ts0: number;
  readonly #ticks: number;
  readonly #frameMs: number;
  #next = 0;
  #anchor: { frame: number; unixMs: number } | undefined;
  /** RTP packets built so far, and their payload bytes (for sender reports). */
  packets = 0;
  octets = 0;

  constructor(o: OpusRtpStreamOptions) {
    this.payloadType = o.payloadType & 0x7f;
    this.ssrc = (o.ssrc ?? Math.random() * 2 ** 32) >>> 0;
    this.#seq0 = (o.sequenceNumber ?? Math.floor(Math.random() * 65536)) & 0xffff;
    this.#ts0 = (o.timestamp ?? Math.random() * 2 ** 32) >>> 0;
    this.#ticks = o.ticksPerFrame ?? 960;
    this.#frameMs = o.frameMs ?? 20;
  }

  /** Frames used so far (sent or not): the next frame's number. */
  get frames(): number {
    return this.#next;
  }

  /** RTP timestamp of frame `i`. */
  timestampOf(i: number): number {
    return (this.#ts0 + i * this.#ticks) >>> 0;
  }

  /**
   * Uses up the next frame, due at wall-clock `dueUnixMs`, and returns its number. A frame used and
   * not sent is a gap (sequence number and timestamp move on) that a receiver counts as lost, as a
   * real sender's lost packet or muted stretch would be.
   */
  frame(dueUnixMs: number): number {
    this.#anchor = { frame: this.#next, unixMs: dueUnixMs };
    return this.#next++;
  }

  /** The RTP packet of frame `i` (from {@link frame}). */
  packet(i: number, payload: Uint8Array): Buffer {
    const buf = Buffer.allocUnsafe(12 + payload.length);
    buf[0] = 0x80;
    buf[1] = this.payloadType;
    buf.writeUInt16BE((this.#seq0 + i) & 0xffff, 2);
    buf.writeUInt32BE(this.timestampOf(i), 4);
    buf.writeUInt32BE(this.ssrc, 8);
    buf.set(payload, 12);
    this.packets++;
    this.octets += payload.length;
    return buf;
  }

  /**
   * A sender report (no report blocks) for wall-clock `unixMs`: the RTP clock read there (from the
   * last frame used and its due time, at the nominal rate), with the packet and octet counts so far.
   * Undefined before the first frame.
   */
  senderReport(unixMs: number): Buffer | undefined {
    const a = this.#anchor;
    if (!a) return undefined;
    const rtpTimestamp =
      this.timestampOf(a.frame) + Math.round(((unixMs - a.unixMs) * this.#ticks) / this.#frameMs);
    const buf = Buffer.alloc(SR_BYTES);
    buf[0] = 0x80;
    buf[1] = RTCP_SR;
    buf.writeUInt16BE(SR_BYTES / 4 - 1, 2);
    buf.writeUInt32BE(this.ssrc, 4);
    const s = Math.floor(unixMs / 1000);
    let fraction = Math.round(((unixMs - s * 1000) / 1000) * 0x1_0000_0000);
    let seconds = s + NTP_UNIX_OFFSET_S;
    if (fraction >= 0x1_0000_0000) {
      fraction -= 0x1_0000_0000;
      seconds++;
    }
    buf.writeUInt32BE(seconds >>> 0, 8);
    buf.writeUInt32BE(fraction >>> 0, 12);
    buf.writeUInt32BE(rtpTimestamp >>> 0, 16);
    buf.writeUInt32BE(this.packets >>> 0, 20);
    buf.writeUInt32BE(this.octets >>> 0, 24);
    return buf;
  }
}
