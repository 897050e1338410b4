/** Types shared by the SFU's parts: its options and stats, and the records its managers share. */
import type { IncomingMessage } from 'node:http';
import type { Logger, MediaEvents, MediaKind, PeerIdentity, RecordingInfo } from '@trackroom/protocol';
import type { PeerSession } from './peer-session.js';
import type { Transport, TransportPeerConnection, TransportTrack } from './transport.js';
import type { IceOptions } from './transport.js';

/** The upgrade request as plain data: an IncomingMessage fits, so does a request that crossed IPC. */
export type UpgradeRequest = Pick<IncomingMessage, 'method' | 'url' | 'headers'>;

/** A socket the control plane already authenticated: no `authenticate` call is made for it. */
export interface SignallingAdmission {
  identity: PeerIdentity;
  /** The meeting's recordings at admission, sent in `joined` unless a newer broadcast came since. */
  recordings: RecordingInfo[];
}

export interface SfuOptions {
  /**
   * Resolves a participant token (upgrades without an admission); throws RtkError TOKEN_INVALID /
   * TOKEN_EXPIRED / FORBIDDEN. Without it, such upgrades are refused with TOKEN_INVALID.
   */
  authenticate?(token: string): Promise<PeerIdentity>;
  ice: IceOptions;
  logger?: Logger;
  /**
   * The meeting's state for the `joined` of `joining` (who is not yet among the meeting's peers),
   * for peers admitted by token. Without it, the last `recordingUpdate` broadcast is used.
   */
  initialState?(meetingId: string, joining: PeerIdentity): Promise<{ recordings: RecordingInfo[] }>;
  /** Largest accepted signalling message. Default MAX_SIGNALLING_MESSAGE_BYTES. */
  maxMessageBytes?: number;
  /** Injected media transport; default node-datachannel with `ice`. Closed by `Sfu.close`. */
  transport?: Transport;
  /** WebSocket ping period; a peer missing two pings in a row is dropped. Default 10 000 ms. */
  pingIntervalMs?: number;
  /** Time from socket open to `join`. Default 15 000 ms. */
  joinTimeoutMs?: number;
  /** Time from our answer to a connected peer connection. Default 20 000 ms. */
  connectTimeoutMs?: number;
  /** Malformed messages tolerated per socket before it is closed. Default 10. */
  maxInvalidMessages?: number;
}

/** Counters for benchmarks and health checks. */
export interface SfuStats {
  meetings: number;
  /** Signalling sockets, joined or not. */
  peers: number;
  /** Joined peers, hidden ones included (what `peers()` lists over all meetings). */
  joinedPeers: number;
  publishConnections: number;
  /** Negotiated subscriptions (with a peer connection). */
  subscriptions: number;
  /** Subscriptions offered to a subscriber and not answered yet. */
  pendingSubscriptions: number;
  /** Single-mode subscribing peer connections (one per subscriber that asked for it). */
  subscriberConnections: number;
  /** Publisher tracks forwarded into those connections now (one per active slot). */
  subscriberSlots: number;
  /** Audio taps (track recordings) attached to peers. */
  audioTaps: number;
  /** Transport objects not closed yet: with no peer left, all of these are 0. */
  transportPeerConnections: number;
  transportTracks: number;
  rtpReceived: number;
  rtpForwarded: number;
  keyframeRequests: number;
}

/** A raw RTP tap on a peer's incoming audio: `rtp` is a buffer the callee owns. */
/** RTP, or an RTCP compound packet of the publisher (its sender reports), with its receive time. */
export type AudioTap = (packet: Uint8Array, arrivalMs: number) => void;

/** Packet counters, shared by the fast path (one object, incremented in place). */
export interface SfuCounters {
  rtpReceived: number;
  rtpForwarded: number;
  keyframeRequests: number;
}

/** How the SFU's parts emit the media plane's events (the facade's own emitter). */
export type EmitMedia = <K extends keyof MediaEvents>(event: K, payload: MediaEvents[K]) => void;

/** What the publication and subscription managers need from the facade. */
export interface MediaContext {
  /** The transport, created on first use. */
  transport(): Transport;
  counters: SfuCounters;
  emit: EmitMedia;
  /** Time from our answer to a connected peer connection (ms). */
  connectTimeoutMs: number;
}

/**
 * Sequence and timestamp offsets of a forwarded track whose source can change (a reused slot of a
 * subscribing connection): the subscriber sees one continuous stream under one SSRC.
 */
export interface RtpRebase {
  /** The next packet starts a new source: compute the offsets from it. */
  pending: boolean;
  seqDelta: number;
  tsDelta: number;
  /** The last packet sent out (its rewritten sequence number and timestamp, and when); lastMs -1: none yet. */
  lastSeq: number;
  lastTs: number;
  lastMs: number;
  clockRate: number;
}

/** A forwarded track of a subscription, with the SSRC and payload type its subscriber expects. */
export interface OutTrack {
  track: TransportTrack;
  ssrc: number;
  payloadType: number;
  /** Only on slots of a subscribing connection, which change publishers. */
  rebase?: RtpRebase;
}

/** A peer's one publish peer connection and the tracks the SFU receives on it. */
export interface Publication {
  pc: TransportPeerConnection;
  kinds: MediaKind[];
  audio?: TransportTrack;
  video?: TransportTrack;
  lastKeyframeRequest: number;
  /** The audio-level header extension id both sides agreed on (read from our answer). */
  audioLevelExtId?: number;
}

/** One subscriber's receive-only peer connection for one publisher's media. */
export interface Subscription {
  id: string;
  publisher: PeerSession;
  subscriber: PeerSession;
  kinds: MediaKind[];
  /** 1 for the first offer; retries after a failed connection count up. */
  attempt: number;
  pc?: TransportPeerConnection;
  audio?: OutTrack;
  video?: OutTrack;
  closed: boolean;
}
