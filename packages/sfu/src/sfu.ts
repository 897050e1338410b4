/**
 * The SFU: accepts signalling sockets, negotiates one publish peer connection per peer and one
 * receive-only peer connection per (subscriber, remote publisher) pair, and forwards Opus and VP8
 * RTP between the peers of one meeting with per-subscriber SSRC/payload type rewriting.
 */
import { randomInt, randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import type { RawData, WebSocket } from 'ws';
import {
  MAX_SIGNALLING_MESSAGE_BYTES,
  PUBLISH_PC_ID,
  RtkError,
  SIGNALLING_PROTOCOL_VERSION,
  SIGNALLING_TOKEN_PARAM,
  SignallingCloseCodes,
  TypedEmitter,
  errorMessage,
  parseClientMessage,
  silentLogger,
} from '@trackroom/protocol';
import type {
  ClientMessage,
  Logger,
  MediaKind,
  PeerInfo,
  PeerLeftReason,
  RecordingInfo,
  ServerMessage,
  SignallingCloseCode,
} from '@trackroom/protocol';
import { NodeDatachannelTransport } from './node-datachannel-transport.js';
import { hasKeyframeRequest, isRtcp, isRtp, rewriteRtp } from './rtp.js';
import { findPayloadType, parseSdp, preferRemoteDtlsClient } from './sdp.js';
import type { SdpMedia } from './sdp.js';
import type { IceOptions, Transport, TransportPeerConnection, TransportTrack } from './transport.js';

/** Who a participant token belongs to, as the server's `authenticate` resolves it. */
export interface PeerIdentity {
  meetingId: string;
  /** RealtimeKit participant id (`userId`). */
  participantId: string;
  customParticipantId: string;
  name: string;
  presetName: string;
  canProduceAudio: boolean;
  canProduceVideo: boolean;
  /** Hidden peers (recorders, bots) are not listed, not announced, and their media is not forwarded. */
  hidden?: boolean;
  /** The meeting's title, sent in `joined`. Default ''. */
  meetingTitle?: string;
}

export interface SfuOptions {
  /** Resolves a participant token; throws RtkError TOKEN_INVALID / TOKEN_EXPIRED / FORBIDDEN. */
  authenticate(token: string): Promise<PeerIdentity>;
  ice: IceOptions;
  logger?: Logger;
  /**
   * The meeting's state for the `joined` of `joining` (who is not yet among the meeting's peers).
   * Without it, the last `recordingUpdate` broadcast is used.
   */
  initialState?(meetingId: string, joining: PeerIdentity): Promise<{ recordings: RecordingInfo[] }>;
  /** Largest accepted signalling message. Default {@link MAX_SIGNALLING_MESSAGE_BYTES}. */
  maxMessageBytes?: number;
  /** Injected media transport; default node-datachannel with `ice`. Closed by {@link Sfu.close}. */
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

export type SfuEvents = {
  peerJoined: {
    meetingId: string;
    peerId: string;
    participantId: string;
    customParticipantId: string;
    name: string;
    presetName: string;
    hidden: boolean;
    joinedAt: Date;
  };
  peerLeft: {
    meetingId: string;
    peerId: string;
    participantId: string;
    leftAt: Date;
    reason: PeerLeftReason;
  };
  /** The peer's negotiated Opus track is open; `payloadType` is the one the publisher's offer chose. */
  audioTrackStarted: {
    meetingId: string;
    peerId: string;
    participantId: string;
    payloadType: number;
    clockRate: number;
    channels: number;
  };
  mediaStateChanged: {
    meetingId: string;
    peerId: string;
    kind: MediaKind;
    enabled: boolean;
    byHost: boolean;
    at: Date;
  };
};

/** Counters for benchmarks and health checks. */
export interface SfuStats {
  meetings: number;
  peers: number;
  publishConnections: number;
  /** Negotiated subscriptions (with a peer connection). */
  subscriptions: number;
  /** Subscriptions offered to a subscriber and not answered yet. */
  pendingSubscriptions: number;
  /** Audio taps (track recordings) attached to peers. */
  audioTaps: number;
  /** Transport objects not closed yet: with no peer left, all of these are 0. */
  transportPeerConnections: number;
  transportTracks: number;
  rtpReceived: number;
  rtpForwarded: number;
  keyframeRequests: number;
}

/** RTP, or an RTCP compound packet of the publisher (its sender reports), with its receive time. */
export type AudioTap = (packet: Uint8Array, arrivalMs: number) => void;

type PeerState = 'authenticating' | 'ready' | 'joined' | 'closed';

interface OutTrack {
  track: TransportTrack;
  ssrc: number;
  payloadType: number;
}

interface Publication {
  pc: TransportPeerConnection;
  kinds: MediaKind[];
  audio?: TransportTrack;
  video?: TransportTrack;
  lastKeyframeRequest: number;
  timer: NodeJS.Timeout | undefined;
}

interface Subscription {
  id: string;
  publisher: Peer;
  subscriber: Peer;
  kinds: MediaKind[];
  attempt: number;
  pc?: TransportPeerConnection;
  audio?: OutTrack;
  video?: OutTrack;
  timer: NodeJS.Timeout | undefined;
  closed: boolean;
}

interface Peer {
  id: string;
  ws: WebSocket;
  log: Logger;
  state: PeerState;
  identity?: PeerIdentity;
  name: string;
  joinedAt?: Date;
  audioEnabled: boolean;
  videoEnabled: boolean;
  publication?: Publication;
  /** Subscriptions of other peers to this peer's media. */
  subscribers: Set<Subscription>;
  /** This peer's subscriptions, by id. */
  subscriptions: Map<string, Subscription>;
  taps: Set<AudioTap>;
  invalidMessages: number;
  alive: boolean;
  leaving: boolean;
  errored: boolean;
  queue: Promise<void>;
  joinTimer: NodeJS.Timeout | undefined;
}

const KEYFRAME_REQUEST_MIN_INTERVAL_MS = 300;
const MAX_SUBSCRIBE_ATTEMPTS = 3;
/** ws closes the socket by itself beyond this; between maxMessageBytes and this we answer first. */
const HARD_MAX_PAYLOAD = 1024 * 1024;

function closeCodeForReason(reason: PeerLeftReason): SignallingCloseCode {
  return reason === 'kicked' ? SignallingCloseCodes.KICKED : SignallingCloseCodes.NORMAL;
}

export class Sfu extends TypedEmitter<SfuEvents> {
  readonly #opts: SfuOptions;
  readonly #log: Logger;
  readonly #maxBytes: number;
  readonly #wss: WebSocketServer;
  #transport: Transport | undefined;
  readonly #peers = new Set<Peer>();
  /** Joined peers by meeting, then by peer id. */
  readonly #meetings = new Map<string, Map<string, Peer>>();
  readonly #recordings = new Map<string, RecordingInfo[]>();
  #pingTimer: NodeJS.Timeout | undefined;
  #subCounter = 0;
  #closed = false;
  #closing: Promise<void> | undefined;
  readonly #counters = { rtpReceived: 0, rtpForwarded: 0, keyframeRequests: 0 };

  constructor(opts: SfuOptions) {
    super();
    this.#opts = opts;
    this.#log = (opts.logger ?? silentLogger).child({ component: 'sfu' });
    this.#maxBytes = opts.maxMessageBytes ?? MAX_SIGNALLING_MESSAGE_BYTES;
    this.#transport = opts.transport;
    this.#wss = new WebSocketServer({
      noServer: true,
      maxPayload: Math.max(HARD_MAX_PAYLOAD, this.#maxBytes * 2),
      perMessageDeflate: false,
    });
  }

  // ------------------------------------------------------------------ public surface

  /**
   * Takes over an HTTP upgrade request for the signalling path. The participant token is read from
   * the `authToken` query parameter; an invalid one gets an `error` message and close code 4001.
   */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    if (this.#closed) {
      socket.end('HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n\r\n');
      return;
    }
    const url = new URL(req.url ?? '/', 'http://localhost');
    const token = url.searchParams.get(SIGNALLING_TOKEN_PARAM);
    this.#wss.handleUpgrade(req, socket, head, (ws) => this.#onConnection(ws, token));
  }

  /** Visible joined peers of a meeting (hidden peers excluded); [] after close. */
  listPeers(meetingId: string): PeerInfo[] {
    const m = this.#meetings.get(meetingId);
    if (!m) return [];
    return [...m.values()].filter((p) => !p.identity?.hidden).map((p) => this.#peerInfo(p));
  }

  /** Removes peers (all joined peers of the meeting when `peerIds` is omitted); returns their ids. */
  kick(meetingId: string, peerIds?: string[]): string[] {
    this.#assertOpen();
    const targets = this.#select(meetingId, peerIds);
    for (const p of targets) {
      this.#send(p, { type: 'kicked', reason: 'removed by host' });
      this.#closePeer(p, 'kicked');
    }
    return targets.map((p) => p.id);
  }

  /**
   * Host-mutes peers' microphones (all joined peers when omitted): the SFU stops forwarding and
   * tapping their audio until they unmute themselves. Returns the ids of the peers targeted.
   */
  muteAudio(meetingId: string, peerIds?: string[]): string[] {
    this.#assertOpen();
    const targets = this.#select(meetingId, peerIds);
    for (const p of targets) {
      this.#send(p, { type: 'muted', kind: 'audio', reason: 'muted by host' });
      this.#setMediaState(p, 'audio', false, true);
    }
    return targets.map((p) => p.id);
  }

  /** Sends a message to every joined peer of a meeting. A `recordingUpdate` is also remembered. */
  broadcast(meetingId: string, msg: ServerMessage): void {
    this.#assertOpen();
    const m = this.#meetings.get(meetingId);
    if (msg.type === 'recordingUpdate' && m) this.#recordings.set(meetingId, msg.recordings);
    if (!m) return;
    const data = JSON.stringify(msg);
    for (const p of m.values()) this.#sendRaw(p, data);
  }

  /**
   * Taps a peer's incoming Opus RTP as it arrives (before any rewriting), and the publisher's RTCP
   * (sender reports: the sender's clock, no audio). The buffer is the callback's; `arrivalMs` is the
   * transport's receive time (`Date.now()` first thing in its callback). Muted audio is not
   * delivered. The tap
   * ends when the returned function is called or the peer leaves.
   * @throws RtkError NOT_FOUND when the peer is not in the meeting.
   */
  tapAudio(meetingId: string, peerId: string, onRtp: AudioTap): () => void {
    this.#assertOpen();
    const p = this.#meetings.get(meetingId)?.get(peerId);
    if (!p) throw new RtkError('NOT_FOUND', `peer ${peerId} is not in meeting ${meetingId}`);
    const tap: AudioTap = (rtp, ms) => onRtp(rtp, ms);
    p.taps.add(tap);
    return () => {
      p.taps.delete(tap);
    };
  }

  stats(): SfuStats {
    let publishConnections = 0;
    let subscriptions = 0;
    let pendingSubscriptions = 0;
    let audioTaps = 0;
    for (const p of this.#peers) {
      if (p.publication) publishConnections++;
      for (const s of p.subscriptions.values())
        if (s.pc) subscriptions++;
        else pendingSubscriptions++;
      audioTaps += p.taps.size;
    }
    const transport = this.#transport?.stats?.() ?? { peerConnections: 0, tracks: 0 };
    return {
      meetings: this.#meetings.size,
      peers: this.#peers.size,
      publishConnections,
      subscriptions,
      pendingSubscriptions,
      audioTaps,
      transportPeerConnections: transport.peerConnections,
      transportTracks: transport.tracks,
      ...this.#counters,
    };
  }

  /** Closes every peer (close code 1001), the transport and the socket server. Idempotent. */
  close(): Promise<void> {
    if (this.#closing) return this.#closing;
    this.#closed = true;
    this.#closing = (async () => {
      if (this.#pingTimer) clearInterval(this.#pingTimer);
      for (const p of [...this.#peers]) this.#closePeer(p, 'disconnected', SignallingCloseCodes.GOING_AWAY);
      this.#transport?.close();
      await new Promise<void>((resolve) => this.#wss.close(() => resolve()));
      this.#log.info({}, 'sfu closed');
    })();
    return this.#closing;
  }

  // ------------------------------------------------------------------ connection lifecycle

  #onConnection(ws: WebSocket, token: string | null): void {
    const peer: Peer = {
      id: randomUUID(),
      ws,
      log: this.#log,
      state: 'authenticating',
      name: '',
      audioEnabled: false,
      videoEnabled: false,
      subscribers: new Set(),
      subscriptions: new Map(),
      taps: new Set(),
      invalidMessages: 0,
      alive: true,
      leaving: false,
      errored: false,
      queue: Promise.resolve(),
      joinTimer: undefined,
    };
    peer.log = this.#log.child({ peerId: peer.id });
    this.#peers.add(peer);
    this.#ensurePingTimer();
    peer.joinTimer = setTimeout(() => {
      if (peer.state === 'joined' || peer.state === 'closed') return;
      this.#send(peer, { type: 'error', code: 'VALIDATION_FAILED', message: 'join timed out' });
      this.#closePeer(peer, 'disconnected', SignallingCloseCodes.TIMEOUT);
    }, this.#opts.joinTimeoutMs ?? 15_000);

    ws.on('pong', () => {
      peer.alive = true;
    });
    ws.on('message', (data, isBinary) => this.#onMessage(peer, data, isBinary));
    ws.on('error', (err) => {
      peer.errored = true;
      peer.log.debug({ err: err.message }, 'socket error');
    });
    ws.on('close', () => {
      this.#closePeer(peer, peer.leaving ? 'left' : peer.errored ? 'error' : 'disconnected');
    });

    this.#enqueue(peer, 'auth', async () => {
      if (!token) throw new RtkError('TOKEN_INVALID', `missing ${SIGNALLING_TOKEN_PARAM} query parameter`);
      const identity = await this.#opts.authenticate(token);
      if (peer.state === 'closed') return;
      peer.identity = identity;
      peer.name = identity.name;
      peer.state = 'ready';
      peer.log = peer.log.child({ meetingId: identity.meetingId, participantId: identity.participantId });
    });
  }

  #onMessage(peer: Peer, data: RawData, isBinary: boolean): void {
    if (peer.state === 'closed') return;
    const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
    if (buf.length > this.#maxBytes) {
      this.#send(
        peer,
        errorMessage(
          new RtkError('SIGNALLING_MESSAGE_TOO_LARGE', `message is larger than ${this.#maxBytes} bytes`, {
            limit: this.#maxBytes,
          }),
        ),
      );
      this.#closePeer(peer, 'error', SignallingCloseCodes.MESSAGE_TOO_BIG);
      return;
    }
    let msg: ClientMessage;
    try {
      if (isBinary) throw new RtkError('SIGNALLING_INVALID_MESSAGE', 'message must be a text frame');
      msg = parseClientMessage(buf.toString('utf8'), this.#maxBytes);
    } catch (err) {
      this.#refuse(peer, err);
      return;
    }
    this.#enqueue(peer, msg.type, () => this.#handle(peer, msg));
  }

  /** Runs a peer's work strictly in order; a failure answers with `error` and does not stop the queue. */
  #enqueue(peer: Peer, what: string, work: () => Promise<void> | void): void {
    peer.queue = peer.queue
      .then(async () => {
        if (peer.state === 'closed') return;
        await work();
      })
      .catch((err: unknown) => {
        if (peer.state === 'closed') return;
        if (what === 'auth') {
          const e = err instanceof RtkError ? err : new RtkError('TOKEN_INVALID');
          if (!(err instanceof RtkError))
            peer.log.warn({ err: String(err) }, 'authenticate threw a non-RtkError');
          this.#send(peer, errorMessage(e));
          this.#closePeer(peer, 'error', SignallingCloseCodes.AUTH_FAILED);
          return;
        }
        if (!(err instanceof RtkError)) peer.log.error({ err: String(err), what }, 'handler failed');
        if (
          err instanceof RtkError &&
          (err.code === 'VALIDATION_FAILED' || err.code === 'SIGNALLING_INVALID_MESSAGE')
        ) {
          this.#refuse(peer, err, what);
        } else {
          this.#send(peer, errorMessage(err, what));
        }
      });
  }

  /** Answers a malformed message with `error`; closes the socket after too many. */
  #refuse(peer: Peer, err: unknown, forType?: string): void {
    peer.invalidMessages++;
    this.#send(peer, errorMessage(err, forType));
    if (peer.invalidMessages > (this.#opts.maxInvalidMessages ?? 10)) {
      peer.log.warn({ count: peer.invalidMessages }, 'too many invalid messages; closing');
      this.#closePeer(peer, 'error', SignallingCloseCodes.POLICY_VIOLATION);
    }
  }

  #ensurePingTimer(): void {
    if (this.#pingTimer) return;
    this.#pingTimer = setInterval(() => {
      for (const p of [...this.#peers]) {
        if (!p.alive) {
          p.log.info({}, 'ping timeout');
          this.#closePeer(p, 'disconnected', SignallingCloseCodes.TIMEOUT);
          continue;
        }
        p.alive = false;
        try {
          p.ws.ping();
        } catch (err) {
          p.log.debug({ err: String(err) }, 'ping failed; the close event follows');
        }
      }
    }, this.#opts.pingIntervalMs ?? 10_000);
    this.#pingTimer.unref();
  }

  #closePeer(peer: Peer, reason: PeerLeftReason, code?: SignallingCloseCode): void {
    if (peer.state === 'closed') return;
    const wasJoined = peer.state === 'joined';
    peer.state = 'closed';
    if (peer.joinTimer) clearTimeout(peer.joinTimer);
    this.#peers.delete(peer);
    this.#unpublish(peer);
    for (const s of [...peer.subscriptions.values()]) this.#closeSubscription(s);
    peer.taps.clear();
    const identity = peer.identity;
    if (wasJoined && identity) {
      const m = this.#meetings.get(identity.meetingId);
      m?.delete(peer.id);
      if (m && m.size === 0) {
        this.#meetings.delete(identity.meetingId);
        this.#recordings.delete(identity.meetingId);
      }
      if (!identity.hidden && m) {
        const data = JSON.stringify({
          type: 'peerLeft',
          peerId: peer.id,
          participantId: identity.participantId,
          reason,
        } satisfies ServerMessage);
        for (const other of m.values()) this.#sendRaw(other, data);
      }
      peer.log.info({ reason }, 'peer left');
      this.emit('peerLeft', {
        meetingId: identity.meetingId,
        peerId: peer.id,
        participantId: identity.participantId,
        leftAt: new Date(),
        reason,
      });
    }
    const ws = peer.ws;
    if (ws.readyState === ws.OPEN || ws.readyState === ws.CONNECTING) {
      if (reason === 'disconnected' && code === SignallingCloseCodes.TIMEOUT && !peer.alive) ws.terminate();
      else ws.close(code ?? closeCodeForReason(reason));
    }
  }

  // ------------------------------------------------------------------ messages

  async #handle(peer: Peer, msg: ClientMessage): Promise<void> {
    switch (msg.type) {
      case 'ping':
        this.#send(peer, msg.ts === undefined ? { type: 'pong' } : { type: 'pong', ts: msg.ts });
        return;
      case 'leave':
        peer.leaving = true;
        this.#closePeer(peer, 'left', SignallingCloseCodes.NORMAL);
        return;
      case 'join':
        if (peer.state !== 'ready') throw new RtkError('CONFLICT', 'already joined');
        await this.#join(peer, msg.name, msg.audio, msg.video);
        return;
    }
    if (peer.state !== 'joined') throw new RtkError('CONFLICT', `send join before ${msg.type}`);
    switch (msg.type) {
      case 'publishOffer':
        await this.#publish(peer, msg.sdp);
        return;
      case 'subscribeOffer':
        await this.#answerSubscription(peer, msg.subscriptionId, msg.sdp);
        return;
      case 'candidate': {
        if (msg.candidate === '') return;
        const pc = msg.pcId === PUBLISH_PC_ID ? peer.publication?.pc : peer.subscriptions.get(msg.pcId)?.pc;
        if (!pc) throw new RtkError('NOT_FOUND', `no peer connection ${msg.pcId}`, { field: 'pcId' });
        pc.addRemoteCandidate(msg.candidate, msg.sdpMid ?? '0');
        return;
      }
      case 'mediaState': {
        const id = peer.identity!;
        if (msg.enabled && !(msg.kind === 'audio' ? id.canProduceAudio : id.canProduceVideo)) {
          throw new RtkError('FORBIDDEN', `this participant may not produce ${msg.kind}`);
        }
        this.#setMediaState(peer, msg.kind, msg.enabled, false);
        return;
      }
    }
  }

  async #join(peer: Peer, name: string | undefined, audio: boolean, video: boolean): Promise<void> {
    const id = peer.identity!;
    const state = this.#opts.initialState
      ? await this.#opts.initialState(id.meetingId, id)
      : { recordings: this.#recordings.get(id.meetingId) ?? [] };
    if (peer.state !== 'ready') return;
    if (name !== undefined && name.trim() !== '') peer.name = name.trim();
    peer.audioEnabled = audio && id.canProduceAudio;
    peer.videoEnabled = video && id.canProduceVideo;
    peer.joinedAt = new Date();
    peer.state = 'joined';
    if (peer.joinTimer) clearTimeout(peer.joinTimer);
    let m = this.#meetings.get(id.meetingId);
    if (!m) {
      m = new Map();
      this.#meetings.set(id.meetingId, m);
    }
    const others = [...m.values()];
    m.set(peer.id, peer);
    this.#send(peer, {
      type: 'joined',
      protocolVersion: SIGNALLING_PROTOCOL_VERSION,
      meetingId: id.meetingId,
      meetingTitle: id.meetingTitle ?? '',
      self: {
        peerId: peer.id,
        participantId: id.participantId,
        customParticipantId: id.customParticipantId,
        name: peer.name,
        presetName: id.presetName,
        canProduceAudio: id.canProduceAudio,
        canProduceVideo: id.canProduceVideo,
      },
      peers: others.filter((p) => !p.identity?.hidden).map((p) => this.#peerInfo(p)),
      recordings: state.recordings,
    });
    peer.log.info({ hidden: id.hidden === true }, 'peer joined');
    this.emit('peerJoined', {
      meetingId: id.meetingId,
      peerId: peer.id,
      participantId: id.participantId,
      customParticipantId: id.customParticipantId,
      name: peer.name,
      presetName: id.presetName,
      hidden: id.hidden === true,
      joinedAt: peer.joinedAt,
    });
    if (!id.hidden) {
      const data = JSON.stringify({ type: 'peerJoined', peer: this.#peerInfo(peer) } satisfies ServerMessage);
      for (const o of others) this.#sendRaw(o, data);
    }
    for (const o of others) {
      if (o.publication && !o.identity?.hidden) this.#offerSubscription(o, peer, 1);
    }
  }

  #setMediaState(peer: Peer, kind: MediaKind, enabled: boolean, byHost: boolean): void {
    const id = peer.identity;
    if (!id || peer.state !== 'joined') return;
    const current = kind === 'audio' ? peer.audioEnabled : peer.videoEnabled;
    if (current === enabled) return;
    if (kind === 'audio') peer.audioEnabled = enabled;
    else peer.videoEnabled = enabled;
    if (kind === 'video' && enabled) this.#requestKeyframe(peer);
    if (!id.hidden) {
      const msg: ServerMessage =
        kind === 'audio'
          ? { type: 'audioUpdate', peerId: peer.id, enabled, byHost }
          : { type: 'videoUpdate', peerId: peer.id, enabled, byHost };
      const data = JSON.stringify(msg);
      for (const o of this.#meetings.get(id.meetingId)?.values() ?? [])
        if (o !== peer) this.#sendRaw(o, data);
    }
    peer.log.info({ kind, enabled, byHost }, 'media state changed');
    this.emit('mediaStateChanged', {
      meetingId: id.meetingId,
      peerId: peer.id,
      kind,
      enabled,
      byHost,
      at: new Date(),
    });
  }

  // ------------------------------------------------------------------ publishing

  async #publish(peer: Peer, sdp: string): Promise<void> {
    if (peer.publication)
      throw new RtkError('CONFLICT', 'this peer already publishes; publish once per socket');
    const id = peer.identity!;
    const { audio, video } = pickPublishMedia(parseSdp(sdp));
    if (audio && !id.canProduceAudio)
      throw new RtkError('FORBIDDEN', 'this participant may not produce audio');
    if (video && !id.canProduceVideo)
      throw new RtkError('FORBIDDEN', 'this participant may not produce video');
    const pc = this.#transport_().createPeerConnection(`${peer.id}/publish`);
    const pub: Publication = { pc, kinds: [], lastKeyframeRequest: 0, timer: undefined };
    peer.publication = pub;
    try {
      if (audio) {
        const t = pc.addTrack({
          kind: 'audio',
          mid: audio.media.mid!,
          direction: 'recvonly',
          codec: 'opus',
          payloadType: audio.codec.payloadType,
        });
        pub.audio = t;
        pub.kinds.push('audio');
        t.setPacketHandler((pkt, at) => this.#onPublishedAudio(peer, pkt, at));
        t.once('open', () => {
          if (peer.state !== 'joined') return;
          peer.log.info({ payloadType: audio.codec.payloadType }, 'audio track started');
          this.emit('audioTrackStarted', {
            meetingId: id.meetingId,
            peerId: peer.id,
            participantId: id.participantId,
            payloadType: audio.codec.payloadType,
            clockRate: audio.codec.clockRate,
            channels: audio.codec.channels,
          });
        });
      }
      if (video) {
        const t = pc.addTrack({
          kind: 'video',
          mid: video.media.mid!,
          direction: 'recvonly',
          codec: 'VP8',
          payloadType: video.codec.payloadType,
        });
        pub.video = t;
        pub.kinds.push('video');
        t.setPacketHandler((pkt) => this.#onPublishedVideo(peer, pkt));
      }
      const answer = await pc.answer(preferRemoteDtlsClient(sdp));
      if (peer.state !== 'joined' || peer.publication !== pub) return;
      this.#send(peer, { type: 'publishAnswer', sdp: answer });
    } catch (err) {
      if (peer.publication === pub) peer.publication = undefined;
      pc.close();
      throw err;
    }
    this.#watchConnection(pc, () => {
      if (peer.publication !== pub || peer.state !== 'joined') return;
      peer.log.warn({ state: pc.state }, 'publish connection failed');
      this.#unpublish(peer);
      this.#send(peer, {
        type: 'error',
        code: 'INTERNAL',
        message: 'publish connection failed; publish again',
        details: { type: 'publishOffer' },
      });
    });
    if (!id.hidden) {
      for (const o of this.#meetings.get(id.meetingId)?.values() ?? []) {
        if (o !== peer) this.#offerSubscription(peer, o, 1);
      }
    }
  }

  /** Calls `onFail` when the connection fails, closes on its own, or is not connected in time. */
  #watchConnection(pc: TransportPeerConnection, onFail: () => void): void {
    let done = false;
    const timer = setTimeout(() => {
      if (pc.state !== 'connected' && !done) {
        done = true;
        onFail();
      }
    }, this.#opts.connectTimeoutMs ?? 20_000);
    timer.unref();
    pc.on('stateChange', (s) => {
      if (s === 'connected') clearTimeout(timer);
      if ((s === 'failed' || s === 'closed') && !done) {
        done = true;
        clearTimeout(timer);
        onFail();
      }
    });
  }

  #unpublish(peer: Peer): void {
    const pub = peer.publication;
    if (!pub) return;
    peer.publication = undefined;
    for (const s of [...peer.subscribers]) {
      this.#send(s.subscriber, { type: 'unsubscribe', subscriptionId: s.id, peerId: peer.id });
      this.#closeSubscription(s);
    }
    // Pending subscriptions without a peer connection yet.
    const meeting = peer.identity ? this.#meetings.get(peer.identity.meetingId) : undefined;
    for (const o of meeting?.values() ?? []) {
      for (const s of [...o.subscriptions.values()]) {
        if (s.publisher === peer) {
          this.#send(o, { type: 'unsubscribe', subscriptionId: s.id, peerId: peer.id });
          this.#closeSubscription(s);
        }
      }
    }
    pub.pc.close();
  }

  #onPublishedAudio(peer: Peer, pkt: Buffer, now: number): void {
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
    for (const s of peer.subscribers) {
      const a = s.audio;
      if (!a || !a.track.isOpen) continue;
      rewriteRtp(out, a.ssrc, a.payloadType);
      if (a.track.send(out)) this.#counters.rtpForwarded++;
    }
  }

  #callTap(peer: Peer, tap: AudioTap, pkt: Buffer, now: number): void {
    try {
      tap(pkt, now);
    } catch (err) {
      peer.log.warn({ err: String(err) }, 'audio tap threw; tap removed');
      peer.taps.delete(tap);
    }
  }

  #onPublishedVideo(peer: Peer, pkt: Buffer): void {
    if (!isRtp(pkt)) return;
    this.#counters.rtpReceived++;
    if (peer.subscribers.size === 0) return;
    for (const s of peer.subscribers) {
      const v = s.video;
      if (!v || !v.track.isOpen) continue;
      rewriteRtp(pkt, v.ssrc, v.payloadType);
      if (v.track.send(pkt)) this.#counters.rtpForwarded++;
    }
  }

  #requestKeyframe(peer: Peer): void {
    const pub = peer.publication;
    if (!pub?.video) return;
    const now = Date.now();
    if (now - pub.lastKeyframeRequest < KEYFRAME_REQUEST_MIN_INTERVAL_MS) return;
    pub.lastKeyframeRequest = now;
    if (pub.video.requestKeyframe()) this.#counters.keyframeRequests++;
  }

  // ------------------------------------------------------------------ subscribing

  #offerSubscription(publisher: Peer, subscriber: Peer, attempt: number): void {
    const pub = publisher.publication;
    if (!pub || pub.kinds.length === 0 || subscriber.state !== 'joined') return;
    // A peer that joins while the publisher's answer is being made is offered the publication by
    // both the join and the publish path: one subscription per publisher is enough (a failed one is
    // removed before its retry, so retries pass).
    for (const other of subscriber.subscriptions.values())
      if (other.publisher === publisher && !other.closed) return;
    const s: Subscription = {
      id: `sub-${++this.#subCounter}`,
      publisher,
      subscriber,
      kinds: [...pub.kinds],
      attempt,
      timer: undefined,
      closed: false,
    };
    subscriber.subscriptions.set(s.id, s);
    this.#send(subscriber, { type: 'subscribe', subscriptionId: s.id, peerId: publisher.id, kinds: s.kinds });
  }

  async #answerSubscription(peer: Peer, subscriptionId: string, sdp: string): Promise<void> {
    const s = peer.subscriptions.get(subscriptionId);
    if (!s) throw new RtkError('NOT_FOUND', `no subscription ${subscriptionId}`, { field: 'subscriptionId' });
    if (s.pc) throw new RtkError('CONFLICT', `subscription ${subscriptionId} is already negotiated`);
    const picked = pickSubscribeMedia(parseSdp(sdp), s.kinds);
    const pc = this.#transport_().createPeerConnection(`${peer.id}/${s.id}`);
    s.pc = pc;
    const publisherId = s.publisher.id;
    for (const { kind, media, payloadType } of picked) {
      const ssrc = randomInt(1, 0xffffffff);
      const track = pc.addTrack({
        kind,
        mid: media.mid!,
        direction: 'sendonly',
        codec: kind === 'audio' ? 'opus' : 'VP8',
        payloadType,
        ssrc,
        cname: publisherId,
        streamId: publisherId,
        trackId: `${publisherId}-${kind}`,
      });
      if (kind === 'audio') s.audio = { track, ssrc, payloadType };
      else {
        s.video = { track, ssrc, payloadType };
        track.once('open', () => this.#requestKeyframe(s.publisher));
        // The subscriber's RTCP arrives here: forward its keyframe requests to the publisher.
        track.setPacketHandler((pkt) => {
          if (hasKeyframeRequest(pkt)) this.#requestKeyframe(s.publisher);
        });
      }
    }
    let answer: string;
    try {
      answer = await pc.answer(preferRemoteDtlsClient(sdp));
    } catch (err) {
      s.pc = undefined;
      s.audio = undefined;
      s.video = undefined;
      pc.close();
      throw err;
    }
    if (s.closed) return;
    s.publisher.subscribers.add(s);
    this.#send(peer, { type: 'subscribeAnswer', subscriptionId: s.id, sdp: answer });
    this.#watchConnection(pc, () => {
      if (s.closed) return;
      peer.log.warn({ subscriptionId: s.id, state: pc.state, attempt: s.attempt }, 'subscription failed');
      this.#send(peer, { type: 'unsubscribe', subscriptionId: s.id, peerId: s.publisher.id });
      this.#closeSubscription(s);
      if (s.attempt < MAX_SUBSCRIBE_ATTEMPTS && s.publisher.state === 'joined') {
        this.#offerSubscription(s.publisher, peer, s.attempt + 1);
      }
    });
  }

  #closeSubscription(s: Subscription): void {
    if (s.closed) return;
    s.closed = true;
    s.subscriber.subscriptions.delete(s.id);
    s.publisher.subscribers.delete(s);
    s.pc?.close();
  }

  // ------------------------------------------------------------------ helpers

  #transport_(): Transport {
    this.#transport ??= new NodeDatachannelTransport({ ice: this.#opts.ice, logger: this.#log });
    return this.#transport;
  }

  #select(meetingId: string, peerIds: string[] | undefined): Peer[] {
    const m = this.#meetings.get(meetingId);
    if (!m) return [];
    if (!peerIds) return [...m.values()];
    return peerIds.map((id) => m.get(id)).filter((p): p is Peer => p !== undefined);
  }

  #peerInfo(p: Peer): PeerInfo {
    const id = p.identity!;
    return {
      peerId: p.id,
      participantId: id.participantId,
      customParticipantId: id.customParticipantId,
      name: p.name,
      presetName: id.presetName,
      audioEnabled: p.audioEnabled,
      videoEnabled: p.videoEnabled,
      joinedAt: (p.joinedAt ?? new Date()).toISOString(),
    };
  }

  #send(peer: Peer, msg: ServerMessage): void {
    this.#sendRaw(peer, JSON.stringify(msg));
  }

  #sendRaw(peer: Peer, data: string): void {
    if (peer.ws.readyState !== peer.ws.OPEN) return;
    peer.ws.send(data, (err) => {
      if (err) peer.log.debug({ err: err.message }, 'send failed; the close event follows');
    });
  }

  #assertOpen(): void {
    if (this.#closed) throw new RtkError('CONFLICT', 'the sfu is closed');
  }
}

interface Picked {
  media: SdpMedia;
  codec: { payloadType: number; clockRate: number; channels: number };
}

/** The audio and video m-lines of a publish offer, validated. */
function pickPublishMedia(sdp: { media: SdpMedia[] }): { audio?: Picked; video?: Picked } {
  const out: { audio?: Picked; video?: Picked } = {};
  for (const media of sdp.media) {
    if (media.port === 0) continue;
    if (media.kind !== 'audio' && media.kind !== 'video') {
      throw new RtkError(
        'VALIDATION_FAILED',
        `sdp: a publish offer may hold audio and video only, not ${media.kind}`,
        {
          field: 'sdp',
        },
      );
    }
    if (media.direction !== 'sendonly' && media.direction !== 'sendrecv') continue;
    if (out[media.kind]) {
      throw new RtkError('VALIDATION_FAILED', `sdp: more than one sending ${media.kind} m-line`, {
        field: 'sdp',
      });
    }
    if (!media.mid)
      throw new RtkError('VALIDATION_FAILED', `sdp: ${media.kind} m-line has no a=mid`, { field: 'sdp' });
    const codec = findPayloadType(media, media.kind === 'audio' ? 'opus' : 'VP8');
    if (!codec) {
      throw new RtkError(
        'VALIDATION_FAILED',
        `sdp: ${media.kind} m-line offers no ${media.kind === 'audio' ? 'opus' : 'VP8'}`,
        {
          field: 'sdp',
        },
      );
    }
    out[media.kind] = { media, codec };
  }
  if (!out.audio && !out.video) {
    throw new RtkError('VALIDATION_FAILED', 'sdp: a publish offer needs a sendonly audio or video m-line', {
      field: 'sdp',
    });
  }
  return out;
}

/** One receiving m-line per subscribed kind, in the offer's order. */
function pickSubscribeMedia(
  sdp: { media: SdpMedia[] },
  kinds: MediaKind[],
): { kind: MediaKind; media: SdpMedia; payloadType: number }[] {
  const out: { kind: MediaKind; media: SdpMedia; payloadType: number }[] = [];
  const wanted = new Set(kinds);
  for (const media of sdp.media) {
    if (media.port === 0) continue;
    const kind = media.kind;
    if ((kind !== 'audio' && kind !== 'video') || !wanted.has(kind)) {
      throw new RtkError('VALIDATION_FAILED', `sdp: unexpected ${kind} m-line in a subscribe offer`, {
        field: 'sdp',
      });
    }
    if (media.direction !== 'recvonly' && media.direction !== 'sendrecv') {
      throw new RtkError('VALIDATION_FAILED', `sdp: the ${kind} m-line must be recvonly`, { field: 'sdp' });
    }
    if (!media.mid)
      throw new RtkError('VALIDATION_FAILED', `sdp: ${kind} m-line has no a=mid`, { field: 'sdp' });
    const codec = findPayloadType(media, kind === 'audio' ? 'opus' : 'VP8');
    if (!codec) {
      throw new RtkError(
        'VALIDATION_FAILED',
        `sdp: ${kind} m-line offers no ${kind === 'audio' ? 'opus' : 'VP8'}`,
        {
          field: 'sdp',
        },
      );
    }
    wanted.delete(kind);
    out.push({ kind, media, payloadType: codec.payloadType });
  }
  if (wanted.size > 0) {
    throw new RtkError(
      'VALIDATION_FAILED',
      `sdp: the subscribe offer lacks a recvonly ${[...wanted].join(' and ')} m-line`,
      {
        field: 'sdp',
      },
    );
  }
  return out;
}
