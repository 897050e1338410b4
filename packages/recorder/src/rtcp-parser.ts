/**
 * RTCP sender reports (RFC 3550 section 6.4.1) out of a compound RTCP packet. Only what the timeline
 * needs: the sender's SSRC and its NTP <-> RTP timestamp pair. Never throws on bad input.
 */

/** One sender report: at the sender's wall-clock instant `ntpMs`, its RTP clock read `rtpTimestamp`. */
export interface SenderReport {
  readonly kind: 'senderReport';
  readonly ssrc: number;
  /** The NTP timestamp as Unix ms (fractional), on the sender's clock. */
  readonly ntpMs: number;
  readonly rtpTimestamp: number;
  readonly packetCount: number;
  readonly octetCount: number;
}

export type RtcpParseErrorCode = 'RTCP_TOO_SHORT' | 'RTCP_BAD_VERSION' | 'RTCP_LENGTH_PAST_END';

export type RtcpParseResult =
  { ok: true; senderReports: SenderReport[]; packets: number } | { ok: false; error: RtcpParseErrorCode };

const RTCP_SR = 200;
/** Seconds from the NTP epoch (1900) to the Unix epoch (1970). */
const NTP_UNIX_OFFSET_S = 2_208_988_800;
const SR_MIN_BYTES = 28;

/** RFC 5761 demultiplexing: byte 1 in 192..223 is an RTCP packet type. */
export function isRtcpPacket(buf: Uint8Array): boolean {
  const b = buf[1];
  return buf.length >= 4 && b !== undefined && b >= 192 && b <= 223;
}

/** NTP 64-bit timestamp (seconds, 2^-32 fraction) as Unix ms. */
export function ntpToUnixMs(seconds: number, fraction: number): number {
  return (seconds - NTP_UNIX_OFFSET_S) * 1000 + (fraction * 1000) / 0x1_0000_0000;
}

/**
 * Walks a compound RTCP packet and returns its sender reports. Any other packet type is skipped by
 * its length. A header that is not version 2, or a length that runs past the end, fails the whole
 * packet (the compound is corrupt from there on).
 */
export function parseRtcp(buf: Uint8Array): RtcpParseResult {
  if (buf.length < 4) return { ok: false, error: 'RTCP_TOO_SHORT' };
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const senderReports: SenderReport[] = [];
  let offset = 0;
  let packets = 0;
  while (offset < buf.length) {
    if (offset + 4 > buf.length) return { ok: false, error: 'RTCP_LENGTH_PAST_END' };
    const b0 = buf[offset] as number;
    if (b0 >> 6 !== 2) return { ok: false, error: 'RTCP_BAD_VERSION' };
    const type = buf[offset + 1] as number;
    const bytes = (view.getUint16(offset + 2) + 1) * 4;
    if (offset + bytes > buf.length) return { ok: false, error: 'RTCP_LENGTH_PAST_END' };
    if (type === RTCP_SR) {
      if (bytes < SR_MIN_BYTES) return { ok: false, error: 'RTCP_TOO_SHORT' };
      senderReports.push({
        kind: 'senderReport',
        ssrc: view.getUint32(offset + 4),
        ntpMs: ntpToUnixMs(view.getUint32(offset + 8), view.getUint32(offset + 12)),
        rtpTimestamp: view.getUint32(offset + 16),
        packetCount: view.getUint32(offset + 20),
        octetCount: view.getUint32(offset + 24),
      });
    }
    packets++;
    offset += bytes;
  }
  return { ok: true, senderReports, packets };
}

/** Builds a sender report (no report blocks); the inverse of {@link parseRtcp} for tests. */
export function buildSenderReport(sr: Omit<SenderReport, 'kind' | 'packetCount' | 'octetCount'>): Uint8Array {
  const buf = new Uint8Array(SR_MIN_BYTES);
  const view = new DataView(buf.buffer);
  buf[0] = 0x80;
  buf[1] = RTCP_SR;
  view.setUint16(2, SR_MIN_BYTES / 4 - 1);
  view.setUint32(4, sr.ssrc >>> 0);
  const unixS = sr.ntpMs / 1000;
  const seconds = Math.floor(unixS);
  let fraction = Math.round((unixS - seconds) * 0x1_0000_0000);
  let ntpSeconds = seconds + NTP_UNIX_OFFSET_S;
  if (fraction >= 0x1_0000_0000) {
    fraction -= 0x1_0000_0000;
    ntpSeconds++;
  }
  view.setUint32(8, ntpSeconds >>> 0);
  view.setUint32(12, fraction >>> 0);
  view.setUint32(16, sr.rtpTimestamp >>> 0);
  return buf;
}
