/** Byte-level RTP/RTCP helpers for the forwarding path. No allocation, no I/O. */
import type { RtpRebase } from './sfu-types.js';

/** RFC 5761 demultiplexing: byte 1 in 192..223 is an RTCP packet type (200-206 in practice). */
export function isRtcp(packet: Uint8Array): boolean {
  const b = packet[1];
  return b !== undefined && b >= 192 && b <= 223;
}

/** A plausible RTP packet: version 2 and a full fixed header. */
export function isRtp(packet: Uint8Array): boolean {
  return packet.length >= 12 && (packet[0]! & 0xc0) === 0x80 && !isRtcp(packet);
}

export function rtpPayloadType(packet: Uint8Array): number {
  return packet[1]! & 0x7f;
}

export function rtpSsrc(packet: Uint8Array): number {
  return ((packet[8]! << 24) | (packet[9]! << 16) | (packet[10]! << 8) | packet[11]!) >>> 0;
}

/** Rewrites payload type (keeping the marker bit) and SSRC in place. */
export function rewriteRtp(packet: Uint8Array, ssrc: number, payloadType: number): void {
  packet[1] = (packet[1]! & 0x80) | (payloadType & 0x7f);
  packet[8] = (ssrc >>> 24) & 0xff;
  packet[9] = (ssrc >>> 16) & 0xff;
  packet[10] = (ssrc >>> 8) & 0xff;
  packet[11] = ssrc & 0xff;
}

export function rtpSequence(packet: Uint8Array): number {
  return (packet[2]! << 8) | packet[3]!;
}

export function rtpTimestamp(packet: Uint8Array): number {
  return ((packet[4]! << 24) | (packet[5]! << 16) | (packet[6]! << 8) | packet[7]!) >>> 0;
}

/**
 * Writes the forwarded sequence number and timestamp: the publisher's (`seq`, `ts`, read before any
 * rewriting) plus the track's offsets. When the source just changed (`rebase.pending`), the offsets
 * are chosen so the stream continues from the last packet sent: the next sequence number, and the
 * timestamp advanced by the wall time elapsed. Without `rebase` the original values are written
 * back (the buffer is shared between subscribers).
 */
export function writeSeqTs(
  packet: Uint8Array,
  seq: number,
  ts: number,
  rebase: RtpRebase | undefined,
  nowMs: number,
): void {
  let outSeq = seq;
  let outTs = ts;
  if (rebase) {
    if (rebase.pending) {
      rebase.pending = false;
      if (rebase.lastMs < 0) {
        rebase.seqDelta = 0;
        rebase.tsDelta = 0;
      } else {
        const ticks = Math.max(1, Math.round(((nowMs - rebase.lastMs) * rebase.clockRate) / 1000));
        rebase.seqDelta = (rebase.lastSeq + 1 - seq) & 0xffff;
        rebase.tsDelta = (rebase.lastTs + ticks - ts) >>> 0;
      }
    }
    outSeq = (seq + rebase.seqDelta) & 0xffff;
    outTs = (ts + rebase.tsDelta) >>> 0;
    rebase.lastSeq = outSeq;
    rebase.lastTs = outTs;
    rebase.lastMs = nowMs;
  }
  packet[2] = outSeq >>> 8;
  packet[3] = outSeq & 0xff;
  packet[4] = (outTs >>> 24) & 0xff;
  packet[5] = (outTs >>> 16) & 0xff;
  packet[6] = (outTs >>> 8) & 0xff;
  packet[7] = outTs & 0xff;
}

/** True when a (compound) RTCP packet holds a PLI (PSFB FMT 1) or FIR (PSFB FMT 4). */
export function hasKeyframeRequest(packet: Uint8Array): boolean {
  let off = 0;
  while (off + 4 <= packet.length) {
    const b0 = packet[off]!;
    if ((b0 & 0xc0) !== 0x80) return false;
    const pt = packet[off + 1]!;
    const fmt = b0 & 0x1f;
    if (pt === 206 && (fmt === 1 || fmt === 4)) return true;
    const words = (packet[off + 2]! << 8) | packet[off + 3]!;
    off += (words + 1) * 4;
  }
  return false;
}
