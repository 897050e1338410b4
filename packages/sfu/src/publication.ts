/**
 * Publications and the RTP fast path: a peer's one publish peer connection (offer → answer), the
 * handlers that take each received packet to the peer's audio taps and subscribers, and keyframe
 * requests. The packet handlers allocate nothing but the one copy audio needs and look nothing up:
 * each track's handler holds its peer, whose taps and subscribers are plain sets.
 */
import { RtkError } from '@trackroom/protocol';
import type { MediaKind, MediaTrackInfo } from '@trackroom/protocol';
import type { PeerSession } from './peer-session.js';
import type { Roster } from './roster.js';
import { isRtcp, isRtp, rewriteRtp, rtpSequence, rtpTimestamp, writeSeqTs } from './rtp.js';
import { findAudioLevelExtId, parseSdp, preferRemoteDtlsClient } from './sdp.js';
import type { SdpRtpMap } from './sdp.js';
import { pickPublishMedia } from './sdp-media.js';
import type { AudioTap, MediaContext, Publication, SfuCounters } from './sfu-types.js';
import type { Subscriptions } from './subscription.js';
import { watchConnection } from './watch-connection.js';

const KEYFRAME_REQUEST_MIN_INTERVAL_MS = 300;

/** Asks the publisher for a keyframe, at most once per {@link KEYFRAME_REQUEST_MIN_INTERVAL_MS}. */
export function requestKeyframe(peer: PeerSession, counters: SfuCounters): void {
  const pub = peer.publication;
  if (!pub?.video) return;
  const now = Date.now();
  if (now - pub.lastKeyframeRequest < KEYFRAME_REQUEST_MIN_INTERVAL_MS) return;
  pub.lastKeyframeRequest = now;
  if (pub.video.requestKeyframe()) counters.keyframeRequests++;
}

/**
 * The audio-level extension id our answer kept on the audio m-line `mid` (the recorder reads levels
 * only when the answer says both sides agreed), or undefined.
 */
function answeredAudioLevelId(answer: string, mid: string): number | undefined {
  try {
    const m = parseSdp(answer).media.find((x) => x.mid === mid);
    return m ? findAudioLevelExtId(m) : undefined;
  } catch {
    // Our own answer always parses; if it ever did not, the track records without levels.
    return undefined;
  }
}

export class Publications {
  readonly #ctx: MediaContext;
  readonly #counters: SfuCounters;
  readonly #roster: Roster;
  readonly #subscriptions: Subscriptions;

  constructor(ctx: MediaContext, roster: Roster, subscriptions: Subscriptions) {
    this.#ctx = ctx;
    this.#counters = ctx.counters;
    this.#roster = roster;
    this.#subscriptions = subscriptions;
  }

  /** Answers a joined peer's publish offer, then offers its media to the others of its meeting. */
  async publish(peer: PeerSession, sdp: string): Promise<void> {
    if (peer.publication)
      throw new RtkError('CONFLICT', 'this peer already publishes; publish once per socket');
    const id = peer.identity!;
    const { audio, video } = pickPublishMedia(parseSdp(sdp));
    if (audio && !id.canProduceAudio)
      throw new RtkError('FORBIDDEN', 'this participant may not produce audio');
    if (video && !id.canProduceVideo)
      throw new RtkError('FORBIDDEN', 'this participant may not produce video');
    const pc = this.#ctx.transport().createPeerConnection(`${peer.id}/publish`);
    const pub: Publication = { pc, kinds: [], lastKeyframeRequest: 0 };
    peer.publication = pub;
    try {
      if (audio) {
        const t = pc.addTrack({
          kind: 'audio',
          mid: audio.media.mid,
          direction: 'recvonly',
          codec: 'opus',
          payloadType: audio.codec.payloadType,
          ...(audio.audioLevelExtId !== undefined && { audioLevelExtId: audio.audioLevelExtId }),
        });
        pub.audio = t;
        pub.kinds.push('audio');
        t.setPacketHandler((pkt, at) => this.#onPublishedAudio(peer, pkt, at));
        t.once('open', () => this.#trackStarted(peer, 'audio', audio.codec, pub.audioLevelExtId));
      }
      if (video) {
        const t = pc.addTrack({
          kind: 'video',
          mid: video.media.mid,
          direction: 'recvonly',
          codec: 'VP8',
          payloadType: video.codec.payloadType,
        });
        pub.video = t;
        pub.kinds.push('video');
        t.setPacketHandler((pkt, at) => this.#onPublishedVideo(peer, pkt, at));
        t.once('open', () => this.#trackStarted(peer, 'video', video.codec));
      }
      const answer = await pc.answer(preferRemoteDtlsClient(sdp));
      if (peer.state.phase !== 'joined' || peer.publication !== pub) return;
      if (audio?.audioLevelExtId !== undefined)
        pub.audioLevelExtId = answeredAudioLevelId(answer, audio.media.mid);
      peer.send({ type: 'publishAnswer', sdp: answer });
    } catch (err) {
      if (peer.publication === pub) peer.publication = undefined;
      pc.close();
      throw err;
    }
    watchConnection(pc, this.#ctx.connectTimeoutMs, () => {
      if (peer.publication !== pub || peer.state.phase !== 'joined') return;
      peer.log.warn({ state: pc.state }, 'publish connection failed');
      this.unpublish(peer);
      peer.send({
        type: 'error',
        code: 'INTERNAL',
        message: 'publish connection failed; publish again',
        details: { type: 'publishOffer' },
      });
    });
    if (!id.hidden) {
      for (const o of this.#roster.members(id.meetingId)) {
        if (o !== peer) this.#subscriptions.offer(peer, o, 1);
      }
    }
  }

  /** Ends a peer's publication and every subscription to it (offered ones among `meetingId`'s peers). */
  unpublish(peer: PeerSession, meetingId = peer.identity?.meetingId): void {
    const pub = peer.publication;
    if (!pub) return;
    peer.publication = undefined;
    this.#subscriptions.endFor(peer, meetingId === undefined ? [] : this.#roster.members(meetingId));
    pub.pc.close();
  }

  /** Adds a raw RTP tap on a peer's incoming audio; returns the untap function. */
  tap(peer: PeerSession, onRtp: (rtp: Uint8Array, arrivalMs: number) => void): () => void {
    // A wrapper per call: tapping twice with one function gives two taps, each untapped alone.
    const tap = (rtp: Uint8Array, ms: number) => onRtp(rtp, ms);
    peer.taps.add(tap);
    return () => {
      peer.taps.delete(tap);
    };
  }

  /** A published track's transport is open: the peer's `tracks` lists it and `trackStarted` says so. */
  #trackStarted(peer: PeerSession, kind: MediaKind, codec: SdpRtpMap, audioLevelExtId?: number): void {
    const media = peer.media;
    if (!media) return;
    const track: MediaTrackInfo = {
      kind,
      codec: codec.codec.toLowerCase(),
      payloadType: codec.payloadType,
      clockRate: codec.clockRate,
      channels: codec.channels,
      ...(audioLevelExtId !== undefined && { audioLevelExtId }),
    };
    media.tracks[kind] = track;
    peer.log.info({ kind, payloadType: track.payloadType }, 'track started');
    this.#ctx.emit('trackStarted', { meetingId: media.meetingId, peerId: peer.id, track });
  }

  /** Every packet of a published audio track: to the taps as received, then to each subscriber. */
  #onPublishedAudio(peer: PeerSession, pkt: Buffer, now: number): void {
    if (!isRtp(pkt)) {
      // Publisher RTCP is never forwarded; its sender reports go to the taps (the recorder's clock).
      if (isRtcp(pkt)) for (const tap of peer.taps) this.#callTap(peer, tap, pkt, now);
      return;
    }
    this.#counters.rtpReceived++;
    if (!peer.audioEnabled) return;
    for (const tap of peer.taps) this.#callTap(peer, tap, pkt, now);
    if (peer.subscribers.size === 0) return;
    // One copy for all subscribers: the tap owns `pkt`, and sending copies into native memory.
    const out = Buffer.from(pkt);
    const seq = rtpSequence(pkt);
    const ts = rtpTimestamp(pkt);
    for (const s of peer.subscribers) {
      const a = s.audio;
      if (!a || !a.track.isOpen) continue;
      rewriteRtp(out, a.ssrc, a.payloadType);
      writeSeqTs(out, seq, ts, a.rebase, now);
      if (a.track.send(out)) this.#counters.rtpForwarded++;
    }
  }

  #callTap(peer: PeerSession, tap: AudioTap, pkt: Buffer, now: number): void {
    try {
      tap(pkt, now);
    } catch (err) {
      peer.log.warn({ err: String(err) }, 'audio tap threw; tap removed');
      peer.taps.delete(tap);
    }
  }

  /** Every packet of a published video track, to each subscriber (rewritten in place). */
  #onPublishedVideo(peer: PeerSession, pkt: Buffer, now: number): void {
    if (!isRtp(pkt)) return;
    this.#counters.rtpReceived++;
    if (peer.subscribers.size === 0) return;
    const seq = rtpSequence(pkt);
    const ts = rtpTimestamp(pkt);
    for (const s of peer.subscribers) {
      const v = s.video;
      if (!v || !v.track.isOpen) continue;
      rewriteRtp(pkt, v.ssrc, v.payloadType);
      writeSeqTs(pkt, seq, ts, v.rebase, now);
      if (v.track.send(pkt)) this.#counters.rtpForwarded++;
    }
  }
}
