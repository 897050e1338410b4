/**
 * The media plane's event vocabulary and identity types, defined once and carried unchanged from the
 * SFU to its consumers (the recorder, the control plane, a media worker's parent). Events say what
 * consumers need, so that none has to call back to ask. Plain data: every payload is serialisable
 * (times are ms since the Unix epoch).
 */
import type { MediaKind, PeerLeftReason } from './signalling.js';

/** A participant of a meeting, as ids. */
export interface ParticipantRef {
  meetingId: string;
  /** RealtimeKit participant id (`userId`). */
  participantId: string;
  customParticipantId: string;
}

/**
 * Who a participant token belongs to, as the control plane resolves it: the identity a peer is
 * admitted with. Hidden peers (recorders, bots) are not listed, not announced, never recorded, and
 * their media is not forwarded.
 */
export interface PeerIdentity extends ParticipantRef {
  name: string;
  presetName: string;
  canProduceAudio: boolean;
  canProduceVideo: boolean;
  hidden: boolean;
  /** The meeting's title, sent in `joined`. */
  meetingTitle: string;
}

/** Who a peer is: one connection of one participant of one meeting. */
export interface PeerRef extends ParticipantRef {
  peerId: string;
}

/** A negotiated incoming track of a peer. */
export interface MediaTrackInfo {
  kind: MediaKind;
  /** Lower-case codec name as negotiated (`opus`, `vp8`, ...). */
  codec: string;
  /** The payload type the publisher's offer chose (Chromium's Opus is 111, werift's 96). */
  payloadType: number;
  clockRate: number;
  channels: number;
  /**
   * Audio: the negotiated id of the RFC 6464 audio-level RTP header extension
   * (`urn:ietf:params:rtp-hdrext:ssrc-audio-level`, one-byte form), absent when the publisher did not
   * offer it or the answer did not keep it. The recorder reads the per-packet level under this id.
   */
  audioLevelExtId?: number;
}

/** A peer as the media plane knows it now. */
export interface MediaPeer extends PeerRef {
  name: string;
  presetName: string;
  /** Hidden peers (recorders, bots) are never listed to others and never recorded. */
  hidden: boolean;
  /** When the peer joined (ms). */
  joinedAt: number;
  /** Tracks whose transport is open, by kind. */
  tracks: Partial<Record<MediaKind, MediaTrackInfo>>;
  /** Whether the peer sends each kind (false while muted). */
  enabled: Record<MediaKind, boolean>;
}

/** The media plane's events: emitted by the SFU, relayed unchanged by a media worker. */
export type MediaEvents = {
  peerJoined: MediaPeer;
  peerLeft: PeerRef & { hidden: boolean; at: number; reason: PeerLeftReason };
  trackStarted: { meetingId: string; peerId: string; track: MediaTrackInfo };
  mediaEnabled: {
    meetingId: string;
    peerId: string;
    kind: MediaKind;
    enabled: boolean;
    /** Changed by a host (a mute from the API) rather than by the peer itself. */
    byHost: boolean;
    at: number;
  };
};

/** What a media source emits to the recorder: the media plane's events. */
export type MediaSourceEvents = MediaEvents;
