/** Just enough SDP reading and rewriting for the SFU: it never builds SDP itself. */
import { RtkError } from '@trackroom/protocol';

export type SdpDirection = 'sendonly' | 'recvonly' | 'sendrecv' | 'inactive';

export interface SdpRtpMap {
  payloadType: number;
  /** Encoding name as written, e.g. `opus`, `VP8`. */
  codec: string;
  clockRate: number;
  channels: number;
}

export interface SdpMedia {
  kind: string;
  /** 0 for a rejected m-line. */
  port: number;
  mid: string | undefined;
  direction: SdpDirection;
  rtpMaps: SdpRtpMap[];
  /** RTP header extensions offered on the m-line (`a=extmap:<id>[/<direction>] <uri>`). */
  extMaps: SdpExtMap[];
}

/** One `a=extmap` line (RFC 8285): the id the offerer uses in its packets, and the extension's URI. */
export interface SdpExtMap {
  id: number;
  uri: string;
}

/** RFC 6464 client-to-mixer audio level: a level (0..127, -dBov) and a voice-activity bit per packet. */
export const AUDIO_LEVEL_URI = 'urn:ietf:params:rtp-hdrext:ssrc-audio-level';

export interface SdpSummary {
  media: SdpMedia[];
}

function bad(problem: string): RtkError {
  return new RtkError('VALIDATION_FAILED', `sdp ${problem}`, { field: 'sdp' });
}

/**
 * Reads the m-lines of a session description.
 * @throws RtkError VALIDATION_FAILED when it is not recognisably SDP.
 */
export function parseSdp(sdp: string): SdpSummary {
  const lines = sdp.split(/\r?\n/);
  if (lines[0]?.trim() !== 'v=0') throw bad('must start with v=0');
  const media: SdpMedia[] = [];
  let sessionDirection: SdpDirection = 'sendrecv';
  let current: SdpMedia | undefined;
  for (const raw of lines) {
    const line = raw.trim();
    if (line === '') continue;
    if (!/^[a-z]=/.test(line)) throw bad(`has a malformed line: ${JSON.stringify(line.slice(0, 40))}`);
    if (line.startsWith('m=')) {
      const parts = line.slice(2).split(' ');
      const port = Number(parts[1]);
      if (parts.length < 4 || !Number.isInteger(port))
        throw bad(`has a malformed m-line: ${line.slice(0, 60)}`);
      current = {
        kind: parts[0] ?? '',
        port,
        mid: undefined,
        direction: sessionDirection,
        rtpMaps: [],
        extMaps: [],
      };
      media.push(current);
      continue;
    }
    const dir = /^a=(sendonly|recvonly|sendrecv|inactive)$/.exec(line)?.[1] as SdpDirection | undefined;
    if (dir) {
      if (current) current.direction = dir;
      else sessionDirection = dir;
      continue;
    }
    if (!current) continue;
    if (line.startsWith('a=mid:')) {
      current.mid = line.slice(6);
      continue;
    }
    const extmap = /^a=extmap:(\d+)(?:\/\w+)? (\S+)/.exec(line);
    if (extmap) {
      current.extMaps.push({ id: Number(extmap[1]), uri: extmap[2] ?? '' });
      continue;
    }
    const rtpmap = /^a=rtpmap:(\d+) ([^/\s]+)\/(\d+)(?:\/(\d+))?$/.exec(line);
    if (rtpmap) {
      current.rtpMaps.push({
        payloadType: Number(rtpmap[1]),
        codec: rtpmap[2] ?? '',
        clockRate: Number(rtpmap[3]),
        channels: rtpmap[4] === undefined ? 1 : Number(rtpmap[4]),
      });
    }
  }
  if (media.length === 0) throw bad('has no m-line');
  return { media };
}

/** The payload type the m-line offers for a codec (case-insensitive name and the usual clock rate). */
export function findPayloadType(media: SdpMedia, codec: 'opus' | 'VP8'): SdpRtpMap | undefined {
  const want = codec.toLowerCase();
  const clockRate = codec === 'opus' ? 48000 : 90000;
  return media.rtpMaps.find((m) => m.codec.toLowerCase() === want && m.clockRate === clockRate);
}

/**
 * The id the m-line gives the RFC 6464 audio-level extension, when it offers it in the one-byte
 * header form (ids 1..14, RFC 8285), which is the form the recorder reads.
 */
export function findAudioLevelExtId(media: SdpMedia): number | undefined {
  const ext = media.extMaps.find((e) => e.uri === AUDIO_LEVEL_URI && e.id >= 1 && e.id <= 14);
  return ext?.id;
}

/**
 * Makes the offerer the DTLS client: `a=setup:actpass` becomes `a=setup:active`, so our answer says
 * `passive`. libdatachannel as DTLS client can send its first handshake packet before a werift or
 * libdatachannel offerer's ICE is up, lose it, and stall for a second until the retransmission.
 */
export function preferRemoteDtlsClient(sdp: string): string {
  return sdp.replace(/^a=setup:actpass(\r?)$/gm, 'a=setup:active$1');
}

/** Rewrites host candidate addresses (and `c=` lines) of our answer to the announced address. */
export function announceAddress(sdp: string, announced: string): string {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const line of sdp.split(/\r\n|\n/)) {
    const cand = /^(a=candidate:\S+ \d+ \S+ \d+ )(\S+)( \d+ typ host.*)$/.exec(line);
    if (cand) {
      const rewritten = `${cand[1]}${announced}${cand[3]}`;
      if (seen.has(rewritten)) continue;
      seen.add(rewritten);
      out.push(rewritten);
      continue;
    }
    const conn = /^c=IN IP[46] (\S+)$/.exec(line);
    if (conn && conn[1] !== '0.0.0.0') {
      out.push(`c=IN ${announced.includes(':') ? 'IP6' : 'IP4'} ${announced}`);
      continue;
    }
    out.push(line);
  }
  return out.join('\r\n');
}

/**
 * Marks the m-sections of `mids` `a=inactive` in our answer. libdatachannel answers an `inactive`
 * offer m-line with its track's own direction (sendonly), which Chromium refuses ("Incompatible
 * receive direction"); RFC 8829 wants `inactive` there.
 */
export function inactivateMids(sdp: string, mids: ReadonlySet<string>): string {
  if (mids.size === 0) return sdp;
  const eol = sdp.includes('\r\n') ? '\r\n' : '\n';
  const lines = sdp.split(/\r?\n/);
  const out: string[] = [];
  let section: string[] = [];
  const flush = () => {
    const mid = section.find((l) => l.startsWith('a=mid:'))?.slice(6);
    if (section[0]?.startsWith('m=') && mid !== undefined && mids.has(mid)) {
      const dir = /^a=(sendonly|recvonly|sendrecv|inactive)$/;
      const rest = section.filter((l) => !dir.test(l));
      const at = rest.findIndex((l) => l.startsWith('a=mid:'));
      rest.splice(at + 1, 0, 'a=inactive');
      out.push(...rest);
    } else out.push(...section);
    section = [];
  };
  for (const line of lines) {
    if (line.startsWith('m=')) flush();
    section.push(line);
  }
  flush();
  return out.join(eol);
}
