/**
 * The SFU's facade: accepts signalling sockets, runs each peer's messages, and forwards Opus and VP8
 * RTP between the peers of one meeting. It emits the media plane's events (`MediaEvents`) and is the
 * recorder's media source (`peers`, `tap`). The work is done by its parts: `PeerSession` (a socket
 * and its state), `PeerMessages` (what each message does), `Roster` (meetings and announcements),
 * `Publications` (publish and the RTP fast path), `Subscriptions` (one receive-only connection per
 * subscriber and publisher), `SubscriberConnections` (or one renegotiated connection per subscriber), `sdp-media.ts` (which m-lines an offer may hold).
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import type { WebSocket } from 'ws';
import {
  MAX_SIGNALLING_MESSAGE_BYTES,
  RtkError,
  SIGNALLING_TOKEN_PARAM,
  SignallingCloseCodes,
  TypedEmitter,
  silentLogger,
} from '@trackroom/protocol';
import type {
  Logger,
  MediaEvents,
  MediaKind,
  MediaPeer,
  PeerInfo,
  PeerLeftReason,
  ServerMessage,
  SignallingCloseCode,
} from '@trackroom/protocol';
import { NodeDatachannelTransport } from './node-datachannel-transport.js';
import { PeerSession } from './peer-session.js';
import { PeerMessages } from './peer-messages.js';
import { Publications } from './publication.js';
import { authFailure } from './refuse-upgrade.js';
import { Roster } from './roster.js';
import type {
  AudioTap,
  MediaContext,
  SfuOptions,
  SfuStats,
  SignallingAdmission,
  UpgradeRequest,
} from './sfu-types.js';
import { Subscriptions } from './subscription.js';
import type { Transport } from './transport.js';
import { TurnCredentials } from './turn-credentials.js';

export type { AudioTap, SfuOptions, SfuStats, SignallingAdmission, UpgradeRequest } from './sfu-types.js';

/** ws closes the socket by itself beyond this; between maxMessageBytes and this we answer first. */
const HARD_MAX_PAYLOAD = 1024 * 1024;

export class Sfu extends TypedEmitter<MediaEvents> {
  readonly #opts: SfuOptions;
  readonly #log: Logger;
  readonly #wss: WebSocketServer;
  #transport: Transport | undefined;
  readonly #sessions = new Set<PeerSession>();
  readonly #counters = { rtpReceived: 0, rtpForwarded: 0, keyframeRequests: 0 };
  readonly #roster: Roster;
  readonly #subscriptions: Subscriptions;
  readonly #publications: Publications;
  readonly #messages: PeerMessages;
  #pingTimer: NodeJS.Timeout | undefined;
  #closed = false;
  #closing: Promise<void> | undefined;

  constructor(opts: SfuOptions) {
    super();
    this.#opts = opts;
    this.#log = (opts.logger ?? silentLogger).child({ component: 'sfu' });
    this.onListenerError = (err, event) => this.#log.error({ err, event }, 'a media event listener threw');
    this.#transport = opts.transport;
    this.#wss = new WebSocketServer({
      noServer: true,
      maxPayload: Math.max(HARD_MAX_PAYLOAD, (opts.maxMessageBytes ?? MAX_SIGNALLING_MESSAGE_BYTES) * 2),
      perMessageDeflate: false,
    });
    const ctx: MediaContext = {
      transport: () =>
        (this.#transport ??= new NodeDatachannelTransport({ ice: opts.ice, logger: this.#log })),
      counters: this.#counters,
      emit: (event, payload) => this.emit(event, payload),
      connectTimeoutMs: opts.connectTimeoutMs ?? 20_000,
    };
    const turn = new TurnCredentials(opts.ice.turn);
    this.#roster = new Roster(ctx.emit, (peerId) => turn.forPeer(peerId));
    this.#subscriptions = new Subscriptions(ctx);
    this.#publications = new Publications(ctx, this.#roster, this.#subscriptions);
    this.#messages = new PeerMessages({
      roster: this.#roster,
      publications: this.#publications,
      subscriptions: this.#subscriptions,
      counters: this.#counters,
      initialState: opts.initialState?.bind(opts),
      close: (peer, reason, code) => this.#closePeer(peer, reason, code),
    });
  }

  /**
   * Takes over an HTTP upgrade request for the signalling path. With `admission`, the peer is
   * admitted with that identity and no token is resolved. Otherwise the participant token is read
   * from the `authToken` query parameter; an invalid one gets an `error` message and close code 4001.
   */
  handleUpgrade(req: UpgradeRequest, socket: Duplex, head: Buffer, admission?: SignallingAdmission): void {
    if (this.#closed) {
      socket.end('HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n\r\n');
      return;
    }
    const token = new URL(req.url ?? '/', 'http://localhost').searchParams.get(SIGNALLING_TOKEN_PARAM);
    // ws reads only method, url and headers of the request (no verifyClient is set).
    this.#wss.handleUpgrade(req as IncomingMessage, socket, head, (ws) =>
      this.#onConnection(ws, token, admission),
    );
  }

  /** Every joined peer of a meeting, hidden ones included (the recorder's media source); [] after close. */
  peers(meetingId: string): MediaPeer[] {
    return this.#roster.mediaPeers(meetingId);
  }

  /** Visible joined peers of a meeting (hidden peers excluded); [] after close. */
  listPeers(meetingId: string): PeerInfo[] {
    return this.#roster.list(meetingId);
  }

  /** Removes peers (all joined peers of the meeting when `peerIds` is omitted); returns their ids. */
  kick(meetingId: string, peerIds?: string[]): string[] {
    this.#assertOpen();
    const targets = this.#roster.select(meetingId, peerIds);
    for (const p of targets) {
      p.send({ type: 'kicked', reason: 'removed by host' });
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
    const targets = this.#roster.select(meetingId, peerIds);
    for (const p of targets) {
      p.send({ type: 'muted', kind: 'audio', reason: 'muted by host' });
      this.#messages.setMediaState(p, 'audio', false, true);
    }
    return targets.map((p) => p.id);
  }

  /**
   * Sends a message to every joined peer of a meeting. A `recordingUpdate` is remembered, and is
   * what admitted peers of the meeting not joined yet get in their `joined`.
   */
  broadcast(meetingId: string, msg: ServerMessage): void {
    this.#assertOpen();
    this.#roster.broadcast(meetingId, msg);
    if (msg.type !== 'recordingUpdate') return;
    for (const p of this.#sessions) {
      const s = p.state;
      if (s.phase === 'ready' && s.admitted && s.identity.meetingId === meetingId)
        s.admitted = msg.recordings;
    }
  }

  /**
   * Taps a peer's incoming Opus RTP as it arrives (before any rewriting), and the publisher's RTCP
   * (sender reports: the sender's clock, no audio). The buffer is the callback's; `arrivalMs` is the
   * transport's receive time (`Date.now()` first thing in its callback). Muted audio is not
   * delivered. The tap ends when the returned function is called or the peer leaves.
   * @throws RtkError NOT_IMPLEMENTED for a kind other than audio, NOT_FOUND when the peer is not in
   * the meeting.
   */
  tap(meetingId: string, peerId: string, kind: MediaKind, onRtp: AudioTap): () => void {
    this.#assertOpen();
    if (kind !== 'audio') throw new RtkError('NOT_IMPLEMENTED', 'only audio can be tapped');
    const p = this.#roster.get(meetingId, peerId);
    if (!p) throw new RtkError('NOT_FOUND', `peer ${peerId} is not in meeting ${meetingId}`);
    return this.#publications.tap(p, onRtp);
  }

  stats(): SfuStats {
    let publishConnections = 0;
    let subscriptions = 0;
    let pendingSubscriptions = 0;
    let audioTaps = 0;
    let subscriberConnections = 0;
    let subscriberSlots = 0;
    for (const p of this.#sessions) {
      if (p.publication) publishConnections++;
      if (p.subscriber?.pc) subscriberConnections++;
      for (const s of p.publication ? p.subscribers : [])
        if (s.subscriber.subscriberMode === 'single') subscriberSlots++;
      for (const s of p.subscriptions.values())
        if (s.pc) subscriptions++;
        else pendingSubscriptions++;
      audioTaps += p.taps.size;
    }
    const transport = this.#transport?.stats?.() ?? { peerConnections: 0, tracks: 0 };
    return {
      meetings: this.#roster.meetingCount,
      peers: this.#sessions.size,
      joinedPeers: this.#roster.peerCount,
      publishConnections,
      subscriptions,
      pendingSubscriptions,
      subscriberConnections,
      subscriberSlots,
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
      for (const p of [...this.#sessions])
        this.#closePeer(p, 'disconnected', SignallingCloseCodes.GOING_AWAY);
      this.#transport?.close();
      await new Promise<void>((resolve) => this.#wss.close(() => resolve()));
      this.#log.info({}, 'sfu closed');
    })();
    return this.#closing;
  }

  // ------------------------------------------------------------------ a peer's life

  #onConnection(ws: WebSocket, token: string | null, admission: SignallingAdmission | undefined): void {
    const id = randomUUID();
    const peer = new PeerSession({
      id,
      ws,
      log: this.#log.child({ peerId: id }),
      maxMessageBytes: this.#opts.maxMessageBytes ?? MAX_SIGNALLING_MESSAGE_BYTES,
      maxInvalidMessages: this.#opts.maxInvalidMessages ?? 10,
      onMessage: (p, msg) =>
        p.enqueue(
          () => this.#messages.handle(p, msg),
          (err) => this.#messages.failed(p, msg.type, err),
        ),
      onClose: (p, reason, code) => this.#closePeer(p, reason, code),
    });
    this.#sessions.add(peer);
    this.#ensurePingTimer();
    peer.joinTimer = setTimeout(() => {
      if (peer.state.phase === 'joined' || peer.state.phase === 'closed') return;
      peer.send({ type: 'error', code: 'VALIDATION_FAILED', message: 'join timed out' });
      this.#closePeer(peer, 'disconnected', SignallingCloseCodes.TIMEOUT);
    }, this.#opts.joinTimeoutMs ?? 15_000);
    if (admission) {
      peer.admit(admission.identity, admission.recordings);
      return;
    }
    const authenticate = this.#opts.authenticate;
    peer.enqueue(
      async () => {
        if (!token) throw new RtkError('TOKEN_INVALID', `missing ${SIGNALLING_TOKEN_PARAM} query parameter`);
        if (!authenticate) throw new RtkError('TOKEN_INVALID', 'this server admits no tokens here');
        const identity = await authenticate(token);
        peer.admit(identity);
      },
      (err) => {
        if (!(err instanceof RtkError))
          peer.log.warn({ err: String(err) }, 'authenticate threw a non-RtkError');
        peer.send(authFailure(err));
        this.#closePeer(peer, 'error', SignallingCloseCodes.AUTH_FAILED);
      },
    );
  }

  /** Releases everything the peer held (publication, subscriptions, taps), announces a leave, closes its socket. */
  #closePeer(peer: PeerSession, reason: PeerLeftReason, code?: SignallingCloseCode): void {
    if (peer.state.phase === 'closed') return;
    const was = peer.markClosed();
    this.#sessions.delete(peer);
    // Still a member of its meeting here: pending subscriptions of the others to it are found.
    this.#publications.unpublish(
      peer,
      was.phase === 'ready' || was.phase === 'joined' ? was.identity.meetingId : undefined,
    );
    this.#subscriptions.closeOf(peer);
    peer.taps.clear();
    if (was.phase === 'joined') this.#roster.leave(peer, was.media, reason);
    peer.closeSocket(
      code ?? (reason === 'kicked' ? SignallingCloseCodes.KICKED : SignallingCloseCodes.NORMAL),
    );
  }

  #ensurePingTimer(): void {
    if (this.#pingTimer) return;
    this.#pingTimer = setInterval(() => {
      for (const p of [...this.#sessions]) {
        if (p.ping()) continue;
        p.log.info({}, 'ping timeout');
        this.#closePeer(p, 'disconnected', SignallingCloseCodes.TIMEOUT);
      }
    }, this.#opts.pingIntervalMs ?? 10_000);
    this.#pingTimer.unref();
  }

  #assertOpen(): void {
    if (this.#closed) throw new RtkError('CONFLICT', 'the sfu is closed');
  }
}
