/**
 * The media plane's event vocabulary, defined once and carried unchanged from the SFU to its
 * consumers (the recorder, the control plane). Events say what consumers need, so that none has to
 * call back to ask. Plain data: every payload is serialisable (times are ms since the Unix epoch).
 */
import type { MediaKind } from './signalling.js';

/** Who a peer is: one connection of one participant of one meeting. */
export interface PeerRef {
  meetingId: string;
  peerId: string;
  /** RealtimeKit participant id (`userId`). */
  participantId: string;
  customParticipantId: string;
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
}

/** A peer as the media plane knows it now. */
export interface MediaPeer extends PeerRef {
  /** Hidden peers (recorders, bots) are never listed to others and never recorded. */
  hidden: boolean;
  /** Tracks whose transport is open, by kind. */
  tracks: Partial<Record<MediaKind, MediaTrackInfo>>;
  /** Whether the peer sends each kind (false while muted). */
  enabled: Record<MediaKind, boolean>;
}

export type MediaSourceEvents = {
  peerJoined: MediaPeer;
  peerLeft: { meetingId: string; peerId: string; at: number };
  trackStarted: { meetingId: string; peerId: string; track: MediaTrackInfo };
  mediaEnabled: { meetingId: string; peerId: string; kind: MediaKind; enabled: boolean; at: number };
};
