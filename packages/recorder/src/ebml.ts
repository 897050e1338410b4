/**
 * Minimal EBML (RFC 8794) writing and reading: just what the WebM muxer and the repair tool need.
 */

/** Matroska/WebM element IDs used here (with their length-marker bits, as written on disk). */
export const Ids = {
  EBML: 0x1a45dfa3,
  EBMLVersion: 0x4286,
  EBMLReadVersion: 0x42f7,
  EBMLMaxIDLength: 0x42f2,
  EBMLMaxSizeLength: 0x42f3,
  DocType: 0x4282,
  DocTypeVersion: 0x4287,
  DocTypeReadVersion: 0x4285,
  Segment: 0x18538067,
  SeekHead: 0x114d9b74,
  Seek: 0x4dbb,
  SeekID: 0x53ab,
  SeekPosition: 0x53ac,
  Void: 0xec,
  Info: 0x1549a966,
  TimestampScale: 0x2ad7b1,
  Duration: 0x4489,
  DateUTC: 0x4461,
  MuxingApp: 0x4d80,
  WritingApp: 0x5741,
  Tracks: 0x1654ae6b,
  TrackEntry: 0xae,
  TrackNumber: 0xd7,
  TrackUID: 0x73c5,
  TrackType: 0x83,
  FlagLacing: 0x9c,
  CodecID: 0x86,
  CodecPrivate: 0x63a2,
  CodecDelay: 0x56aa,
  SeekPreRoll: 0x56bb,
  Audio: 0xe1,
  SamplingFrequency: 0xb5,
  Channels: 0x9f,
  Cluster: 0x1f43b675,
  Timestamp: 0xe7,
  SimpleBlock: 0xa3,
  BlockGroup: 0xa0,
  Cues: 0x1c53bb6b,
  CuePoint: 0xbb,
  CueTime: 0xb3,
  CueTrackPositions: 0xb7,
  CueTrack: 0xf7,
  CueClusterPosition: 0xf1,
  Tags: 0x1254c367,
} as const;

/** The 8-byte "unknown size" marker. */
export const UNKNOWN_SIZE_8 = Uint8Array.of(0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff);

export function idBytes(id: number): Uint8Array {
  if (id >= 0x1000000) return Uint8Array.of(id >>> 24, (id >>> 16) & 0xff, (id >>> 8) & 0xff, id & 0xff);
  if (id >= 0x10000) return Uint8Array.of(id >>> 16, (id >>> 8) & 0xff, id & 0xff);
  if (id >= 0x100) return Uint8Array.of(id >>> 8, id & 0xff);
  return Uint8Array.of(id);
}

/** Encodes a data size as a vint; `length` forces the width (1..8), otherwise the shortest is used. */
export function sizeBytes(size: number, length?: number): Uint8Array {
  let len = length ?? 1;
  if (length === undefined) while (size >= 2 ** (7 * len) - 1) len++;
  if (len > 8 || size >= 2 ** (7 * len) - 1) throw new RangeError(`size ${size} does not fit ${len} bytes`);
  const out = new Uint8Array(len);
  let v = size;
  for (let i = len - 1; i >= 0; i--) {
    out[i] = v % 256;
    v = Math.floor(v / 256);
  }
  out[0] = (out[0] as number) | (0x80 >> (len - 1));
  return out;
}

export function concat(parts: readonly Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

export function element(id: number, ...children: Uint8Array[]): Uint8Array {
  const data = concat(children);
  return concat([idBytes(id), sizeBytes(data.length), data]);
}

/** An element with a fixed 8-byte size field (patchable in place). */
export function element8(id: number, data: Uint8Array): Uint8Array {
  return concat([idBytes(id), sizeBytes(data.length, 8), data]);
}

export function uintElement(id: number, value: number, width?: number): Uint8Array {
  let len = width ?? 1;
  if (width === undefined) while (len < 8 && value >= 2 ** (8 * len)) len++;
  const data = new Uint8Array(len);
  let v = value;
  for (let i = len - 1; i >= 0; i--) {
    data[i] = v % 256;
    v = Math.floor(v / 256);
  }
  return element(id, data);
}

export function intElement64(id: number, value: bigint): Uint8Array {
  const data = new Uint8Array(8);
  new DataView(data.buffer).setBigInt64(0, value);
  return element(id, data);
}

export function floatElement(id: number, value: number): Uint8Array {
  const data = new Uint8Array(8);
  new DataView(data.buffer).setFloat64(0, value);
  return element(id, data);
}

export function stringElement(id: number, value: string): Uint8Array {
  return element(id, new TextEncoder().encode(value));
}

/** A Void element occupying exactly `total` bytes (total >= 2). */
export function voidElement(total: number): Uint8Array {
  if (total < 2) throw new RangeError('a Void element needs at least 2 bytes');
  // One size byte holds up to 126; beyond that use an 8-byte size.
  const sizeLen = total - 2 <= 126 ? 1 : 8;
  const out = new Uint8Array(total);
  out[0] = Ids.Void;
  out.set(sizeBytes(total - 1 - sizeLen, sizeLen), 1);
  return out;
}

// ---- reading ----

export interface VintRead {
  value: number;
  length: number;
  /** All value bits set: the "unknown size" marker. */
  unknown: boolean;
}

/** Reads an element ID (marker bits kept). Returns undefined if truncated or invalid. */
export function readId(buf: Uint8Array, offset: number): { id: number; length: number } | undefined {
  const first = buf[offset];
  if (first === undefined || first === 0) return undefined;
  const length = Math.clz32(first) - 23;
  if (length > 4 || offset + length > buf.length) return undefined;
  let id = 0;
  for (let i = 0; i < length; i++) id = id * 256 + (buf[offset + i] as number);
  return { id, length };
}

/** Reads a data-size vint. Returns undefined if truncated or invalid. */
export function readSize(buf: Uint8Array, offset: number): VintRead | undefined {
  const first = buf[offset];
  if (first === undefined || first === 0) return undefined;
  const length = Math.clz32(first) - 23;
  if (offset + length > buf.length) return undefined;
  let value = first & (0xff >> length);
  let allOnes = value === 0xff >> length;
  for (let i = 1; i < length; i++) {
    const b = buf[offset + i] as number;
    value = value * 256 + b;
    if (b !== 0xff) allOnes = false;
  }
  return { value, length, unknown: allOnes };
}

export interface ElementHeader {
  id: number;
  /** Bytes of ID + size field. */
  headerLength: number;
  /** Data size; undefined for unknown size. */
  size: number | undefined;
}

export function readElementHeader(buf: Uint8Array, offset: number): ElementHeader | undefined {
  const id = readId(buf, offset);
  if (!id) return undefined;
  const size = readSize(buf, offset + id.length);
  if (!size) return undefined;
  return { id: id.id, headerLength: id.length + size.length, size: size.unknown ? undefined : size.value };
}

export function readUint(buf: Uint8Array, offset: number, length: number): number {
  let v = 0;
  for (let i = 0; i < length; i++) v = v * 256 + (buf[offset + i] as number);
  return v;
}

export function readFloat(buf: Uint8Array, offset: number, length: number): number {
  const view = new DataView(buf.buffer, buf.byteOffset + offset, length);
  return length === 4 ? view.getFloat32(0) : view.getFloat64(0);
}

/** Children of a master element's data, stopping silently at a truncated child. */
export function* children(
  buf: Uint8Array,
  start: number,
  end: number,
): Generator<{ id: number; offset: number; dataOffset: number; size: number }> {
  let o = start;
  while (o < end) {
    const h = readElementHeader(buf, o);
    if (!h || h.size === undefined) return;
    const dataOffset = o + h.headerLength;
    if (dataOffset + h.size > end) return;
    yield { id: h.id, offset: o, dataOffset, size: h.size };
    o = dataOffset + h.size;
  }
}
