/**
 * Stage 1: RTP parsing (RFC 3550 section 5.1). Never throws on bad input: `parseRtp` returns a
 * typed failure and the `RtpParser` stage counts it as a drop.
 */

export interface RtpPacket {
  readonly version: 2;
  readonly padding: boolean;
  readonly marker: boolean;
  readonly payloadType: number;
  readonly sequenceNumber: number;
  readonly timestamp: number;
  readonly ssrc: number;
  readonly csrcs: readonly number[];
  /** Header extension, if present: the 16-bit profile and its data (without the 4-byte ext header). */
  readonly extension: { readonly profile: number; readonly data: Uint8Array } | undefined;
  /** Payload with padding removed. A view into the input buffer (no copy). */
  readonly payload: Uint8Array;
  /**
   * The RFC 6464 audio-level byte when the parser was given the extension's id and the packet
   * carries it in the one-byte header form (bit 7: voice activity, bits 0-6: level in -dBov,
   * 127 = silence), else -1. Absent on packets built by hand (read as -1).
   */
  readonly audioLevel?: number;
}

/** RFC 8285 one-byte header extension profile. */
export const ONE_BYTE_EXTENSION_PROFILE = 0xbede;

/**
 * Reads one element of an RFC 8285 one-byte header extension block (`data` without its 4-byte
 * header) by id: the first byte of its value, or -1 when the block does not hold it or is malformed.
 * Allocates nothing.
 */
export function readOneByteExtension(data: Uint8Array, id: number): number {
  const n = data.length;
  let i = 0;
  while (i < n) {
    const b = data[i] as number;
    if (b === 0) {
      i++; // padding between elements
      continue;
    }
    const elementId = b >> 4;
    if (elementId === 15) return -1; // reserved: stop reading (RFC 8285 section 4.2)
    const len = (b & 0x0f) + 1;
    if (i + 1 + len > n) return -1;
    if (elementId === id) return data[i + 1] as number;
    i += 1 + len;
  }
  return -1;
}

export type RtpParseErrorCode =
  | 'RTP_TOO_SHORT'
  | 'RTP_BAD_VERSION'
  | 'RTP_CSRC_PAST_END'
  | 'RTP_EXTENSION_PAST_END'
  | 'RTP_BAD_PADDING'
  | 'RTP_EMPTY_PAYLOAD';

export type RtpParseResult = { ok: true; packet: RtpPacket } | { ok: false; error: RtpParseErrorCode };

const HEADER_BYTES = 12;
const NO_CSRCS: readonly number[] = Object.freeze([]);

const u16 = (b: Uint8Array, o: number): number => ((b[o] as number) << 8) | (b[o + 1] as number);
const u32 = (b: Uint8Array, o: number): number =>
  (((b[o] as number) << 24) |
    ((b[o + 1] as number) << 16) |
    ((b[o + 2] as number) << 8) |
    (b[o + 3] as number)) >>>
  0;
/** A plain Uint8Array view (cheaper to make than a Buffer's subarray, which builds a Buffer). */
const view = (b: Uint8Array, offset: number, length: number): Uint8Array =>
  new Uint8Array(b.buffer, b.byteOffset + offset, length);

/**
 * Parses one RTP packet. With `audioLevelExtId` (1..14), the RFC 6464 audio level is read from a
 * one-byte header extension into `audioLevel`.
 */
export function parseRtp(buf: Uint8Array, audioLevelExtId = 0): RtpParseResult {
  if (buf.length < HEADER_BYTES) return { ok: false, error: 'RTP_TOO_SHORT' };
  const b0 = buf[0] as number;
  const b1 = buf[1] as number;
  if (b0 >> 6 !== 2) return { ok: false, error: 'RTP_BAD_VERSION' };
  const padding = (b0 & 0x20) !== 0;
  const hasExtension = (b0 & 0x10) !== 0;
  const csrcCount = b0 & 0x0f;
  let offset = HEADER_BYTES;
  if (offset + csrcCount * 4 > buf.length) return { ok: false, error: 'RTP_CSRC_PAST_END' };
  let csrcs: readonly number[] = NO_CSRCS;
  if (csrcCount > 0) {
    const list: number[] = [];
    for (let i = 0; i < csrcCount; i++) {
      list.push(u32(buf, offset));
      offset += 4;
    }
    csrcs = list;
  }
  let extension: RtpPacket['extension'];
  let audioLevel = -1;
  if (hasExtension) {
    if (offset + 4 > buf.length) return { ok: false, error: 'RTP_EXTENSION_PAST_END' };
    const profile = u16(buf, offset);
    const length = u16(buf, offset + 2) * 4;
    offset += 4;
    if (offset + length > buf.length) return { ok: false, error: 'RTP_EXTENSION_PAST_END' };
    extension = { profile, data: view(buf, offset, length) };
    if (audioLevelExtId > 0 && profile === ONE_BYTE_EXTENSION_PROFILE)
      audioLevel = readOneByteExtension(extension.data, audioLevelExtId);
    offset += length;
  }
  let end = buf.length;
  if (padding) {
    const padCount = buf[buf.length - 1] as number;
    if (padCount === 0 || offset + padCount > buf.length) return { ok: false, error: 'RTP_BAD_PADDING' };
    end -= padCount;
  }
  if (end <= offset) return { ok: false, error: 'RTP_EMPTY_PAYLOAD' };
  return {
    ok: true,
    packet: {
      version: 2,
      padding,
      marker: (b1 & 0x80) !== 0,
      payloadType: b1 & 0x7f,
      sequenceNumber: u16(buf, 2),
      timestamp: u32(buf, 4),
      ssrc: u32(buf, 8),
      csrcs,
      extension,
      payload: view(buf, offset, end - offset),
      audioLevel,
    },
  };
}

/** Options for building an RTP packet (used by tests, the benchmark and synthetic sources). */
export interface RtpBuildOptions {
  payloadType: number;
  sequenceNumber: number;
  timestamp: number;
  ssrc: number;
  payload: Uint8Array;
  marker?: boolean;
  csrcs?: readonly number[];
  extension?: { profile: number; data: Uint8Array };
  /** Number of padding bytes to append (1..255); 0 or absent for none. */
  paddingBytes?: number;
}

/** Serialises an RTP packet. Extension data is zero-padded to a multiple of 4 bytes. */
export function buildRtp(o: RtpBuildOptions): Uint8Array {
  const csrcs = o.csrcs ?? [];
  const extLen = o.extension ? Math.ceil(o.extension.data.length / 4) * 4 : 0;
  const pad = o.paddingBytes ?? 0;
  const size = HEADER_BYTES + csrcs.length * 4 + (o.extension ? 4 + extLen : 0) + o.payload.length + pad;
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  out[0] = 0x80 | (pad > 0 ? 0x20 : 0) | (o.extension ? 0x10 : 0) | (csrcs.length & 0x0f);
  out[1] = (o.marker ? 0x80 : 0) | (o.payloadType & 0x7f);
  view.setUint16(2, o.sequenceNumber & 0xffff);
  view.setUint32(4, o.timestamp >>> 0);
  view.setUint32(8, o.ssrc >>> 0);
  let offset = HEADER_BYTES;
  for (const c of csrcs) {
    view.setUint32(offset, c >>> 0);
    offset += 4;
  }
  if (o.extension) {
    view.setUint16(offset, o.extension.profile);
    view.setUint16(offset + 2, extLen / 4);
    out.set(o.extension.data, offset + 4);
    offset += 4 + extLen;
  }
  out.set(o.payload, offset);
  offset += o.payload.length;
  if (pad > 0) out[size - 1] = pad;
  return out;
}

/** Input of the parser stage: raw bytes and the wall-clock time they arrived (ms). */
export interface RtpParserInput {
  data: Uint8Array;
  arrivalMs: number;
}

/** A parsed packet plus its arrival time: what flows into the reorder buffer. */
export interface ReceivedRtpPacket {
  packet: RtpPacket;
  arrivalMs: number;
}

export interface RtpParserOptions {
  /** Only packets of this payload type pass; others are counted as `wrongPayloadType`. */
  payloadType?: number;
  /** The negotiated id (1..14) of the RFC 6464 audio-level extension; levels are read when set. */
  audioLevelExtId?: number;
}

export interface RtpParserStats {
  parsed: number;
  wrongPayloadType: number;
  invalid: number;
  invalidByReason: Partial<Record<RtpParseErrorCode, number>>;
}

/** Pipeline stage wrapping `parseRtp`: one input, zero or one output, drops counted by reason. */
export class RtpParser {
  private payloadType: number | undefined;
  private audioLevelExtId = 0;
  private readonly counters: RtpParserStats = {
    parsed: 0,
    wrongPayloadType: 0,
    invalid: 0,
    invalidByReason: {},
  };

  constructor(options: RtpParserOptions = {}) {
    this.payloadType = options.payloadType;
    this.setAudioLevelExtId(options.audioLevelExtId);
  }

  setPayloadType(payloadType: number | undefined): void {
    this.payloadType = payloadType;
  }

  /** The audio-level extension id of the source now feeding (undefined: it did not negotiate one). */
  setAudioLevelExtId(id: number | undefined): void {
    this.audioLevelExtId = id !== undefined && id >= 1 && id <= 14 ? id : 0;
  }

  process(input: RtpParserInput): ReceivedRtpPacket[] {
    const packet = this.parse(input.data);
    return packet ? [{ packet, arrivalMs: input.arrivalMs }] : [];
  }

  /** The packet, or undefined when it is invalid or of another payload type (counted either way). */
  parse(data: Uint8Array): RtpPacket | undefined {
    const res = parseRtp(data, this.audioLevelExtId);
    if (!res.ok) {
      this.counters.invalid++;
      this.counters.invalidByReason[res.error] = (this.counters.invalidByReason[res.error] ?? 0) + 1;
      return undefined;
    }
    if (this.payloadType !== undefined && res.packet.payloadType !== this.payloadType) {
      this.counters.wrongPayloadType++;
      return undefined;
    }
    this.counters.parsed++;
    return res.packet;
  }

  stats(): RtpParserStats {
    return { ...this.counters, invalidByReason: { ...this.counters.invalidByReason } };
  }
}
