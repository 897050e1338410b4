/**
 * Which m-lines of a client's offer the SFU answers: the checks that turn a publish or subscribe
 * offer into the tracks to create, each refusal built by {@link invalidOffer}.
 */
import { RtkError } from '@trackroom/protocol';
import type { MediaKind } from '@trackroom/protocol';
import { findAudioLevelExtId, findPayloadType } from './sdp.js';
import type { SdpMedia, SdpRtpMap } from './sdp.js';

/** A publish m-line and the codec the SFU receives on it. */
export interface PickedMedia {
  media: SdpMedia & { mid: string };
  codec: SdpRtpMap;
  /** Audio: the offer's id for the RFC 6464 audio-level header extension, when it offers it. */
  audioLevelExtId?: number;
}

/** A subscribe m-line and the payload type the subscriber expects on it. */
export interface PickedSubscribeMedia {
  kind: MediaKind;
  media: SdpMedia & { mid: string };
  payloadType: number;
}

/** The one refusal of an offer the SFU cannot answer: VALIDATION_FAILED on the `sdp` field. */
export function invalidOffer(problem: string): RtkError {
  return new RtkError('VALIDATION_FAILED', `sdp: ${problem}`, { field: 'sdp' });
}

function codecName(kind: MediaKind): 'opus' | 'VP8' {
  return kind === 'audio' ? 'opus' : 'VP8';
}

/** The m-line's mid and codec for `kind`, or the refusal naming what is missing. */
function usable(media: SdpMedia, kind: MediaKind): { media: SdpMedia & { mid: string }; codec: SdpRtpMap } {
  const mid = media.mid;
  if (!mid) throw invalidOffer(`${kind} m-line has no a=mid`);
  const codec = findPayloadType(media, codecName(kind));
  if (!codec) throw invalidOffer(`${kind} m-line offers no ${codecName(kind)}`);
  return { media: { ...media, mid }, codec };
}

/** The audio and video m-lines of a publish offer, validated. */
export function pickPublishMedia(sdp: { media: SdpMedia[] }): { audio?: PickedMedia; video?: PickedMedia } {
  const out: { audio?: PickedMedia; video?: PickedMedia } = {};
  for (const media of sdp.media) {
    if (media.port === 0) continue;
    const kind = media.kind;
    if (kind !== 'audio' && kind !== 'video')
      throw invalidOffer(`a publish offer may hold audio and video only, not ${kind}`);
    if (media.direction !== 'sendonly' && media.direction !== 'sendrecv') continue;
    if (out[kind]) throw invalidOffer(`more than one sending ${kind} m-line`);
    const picked: PickedMedia = usable(media, kind);
    const levelId = kind === 'audio' ? findAudioLevelExtId(media) : undefined;
    if (levelId !== undefined) picked.audioLevelExtId = levelId;
    out[kind] = picked;
  }
  if (!out.audio && !out.video) throw invalidOffer('a publish offer needs a sendonly audio or video m-line');
  return out;
}

/** One receiving m-line per subscribed kind, in the offer's order. */
export function pickSubscribeMedia(sdp: { media: SdpMedia[] }, kinds: MediaKind[]): PickedSubscribeMedia[] {
  const out: PickedSubscribeMedia[] = [];
  const wanted = new Set(kinds);
  for (const media of sdp.media) {
    if (media.port === 0) continue;
    const kind = media.kind;
    if ((kind !== 'audio' && kind !== 'video') || !wanted.has(kind))
      throw invalidOffer(`unexpected ${kind} m-line in a subscribe offer`);
    if (media.direction !== 'recvonly' && media.direction !== 'sendrecv')
      throw invalidOffer(`the ${kind} m-line must be recvonly`);
    const { media: m, codec } = usable(media, kind);
    wanted.delete(kind);
    out.push({ kind, media: m, payloadType: codec.payloadType });
  }
  if (wanted.size > 0)
    throw invalidOffer(`the subscribe offer lacks a recvonly ${[...wanted].join(' and ')} m-line`);
  return out;
}
