/**
 * The media transport the SFU is written against: WebRTC peer connections that answer a remote
 * offer, with receive-only or send-only Opus/VP8 tracks created before the offer is applied.
 * `node-datachannel-transport.ts` implements it; nothing else in the package knows the library.
 */
import type { TurnConfig, TypedEmitter } from '@trackroom/protocol';

/** Where ICE listens and what it announces. */
export interface IceOptions {
  /** Local address ICE binds to, e.g. `127.0.0.1` in tests or the host's private address. */
  bindAddress: string;
  /** Address written into the answer's candidates instead of `bindAddress` (e.g. a public IP behind 1:1 NAT). */
  announcedAddress?: string;
  /** Port range for per-connection sockets when `udpMuxPort` is not set. */
  portRangeBegin?: number;
  portRangeEnd?: number;
  /** One UDP port shared by every peer connection (ICE UDP mux). Recommended in production. */
  udpMuxPort?: number;
  /**
   * TURN relays: browsers get them (with their own credentials) in `joined`; the SFU's own
   * connections use the UDP ones too, except with `udpMuxPort` (libjuice has no TURN in mux mode).
   */
  turn?: TurnConfig;
}

export type TrackCodec = 'opus' | 'VP8';

/** A track to create before applying a remote offer; `mid` must match the offer's m-line. */
export interface TrackSpec {
  kind: 'audio' | 'video';
  mid: string;
  direction: 'recvonly' | 'sendonly';
  codec: TrackCodec;
  /** The payload type the remote offer uses for `codec`. */
  payloadType: number;
  /**
   * Receive-only audio: negotiate the RFC 6464 audio-level header extension under this id (the
   * offer's), so the answer keeps it and the publisher sends a level in every packet.
   */
  audioLevelExtId?: number;
  /** Send-only tracks: the SSRC we will send with, and how the remote should label the stream. */
  ssrc?: number;
  cname?: string;
  streamId?: string;
  trackId?: string;
}

export type TransportPcState = 'new' | 'connecting' | 'connected' | 'disconnected' | 'failed' | 'closed';

export type TransportTrackEvents = {
  open: undefined;
  closed: undefined;
};

/**
 * Receives one packet. `arrivalMs` is `Date.now()` taken first thing in the transport's receive
 * callback: node-datachannel 0.33 gives no receive timestamp, so this is as close to the socket as JS
 * gets; it is late by the event loop's delay, never early.
 */
export type PacketHandler = (packet: Buffer, arrivalMs: number) => void;

/**
 * One negotiated media track. Packets are delivered to a single handler (not an event) to keep the
 * per-packet path free of allocations; both RTP and RTCP arrive there (tell them apart by byte 1).
 */
export interface TransportTrack extends TypedEmitter<TransportTrackEvents> {
  readonly spec: Readonly<TrackSpec>;
  readonly isOpen: boolean;
  /** Receives each incoming packet. The buffer belongs to the handler. */
  setPacketHandler(handler: PacketHandler | undefined): void;
  /** Sends one RTP or RTCP packet; false when the track is not open. Never throws. */
  send(packet: Uint8Array): boolean;
  /** Sends a PLI to the remote sender of a receive-only video track. */
  requestKeyframe(): boolean;
  close(): void;
}

export type TransportPeerConnectionEvents = {
  stateChange: TransportPcState;
};

export interface TransportPeerConnection extends TypedEmitter<TransportPeerConnectionEvents> {
  readonly label: string;
  readonly state: TransportPcState;
  /** Creates a track; call before {@link answer}. */
  addTrack(spec: TrackSpec): TransportTrack;
  /**
   * Applies a remote offer and resolves with the complete local answer (all candidates gathered).
   * @throws RtkError VALIDATION_FAILED when the offer is rejected.
   */
  answer(offerSdp: string): Promise<string>;
  /** A trickled remote candidate (`candidate:...`, with or without `a=`). */
  addRemoteCandidate(candidate: string, mid: string): void;
  /** Closes the tracks, then the connection. Idempotent. */
  close(): void;
}

/** Live objects of a transport: both come back to 0 once every connection is closed. */
export interface TransportStats {
  peerConnections: number;
  tracks: number;
}

export interface Transport {
  createPeerConnection(label: string): TransportPeerConnection;
  /** Peer connections and tracks not closed yet (a leak of either shows here). */
  stats?(): TransportStats;
  /** Closes every peer connection still open. Idempotent. */
  close(): void;
}
