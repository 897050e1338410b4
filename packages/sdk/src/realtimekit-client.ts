/**
 * The meeting object (`RealtimeKitClient`): joins over the signalling WebSocket, publishes the local
 * microphone/camera on one send-only peer connection, receives everyone else on ONE receive-only
 * connection renegotiated as publishers come and go (`subscriberUpdate`; against an older server
 * that sends `subscribe`, one receive-only connection per publisher), keeps `participants.joined` and `recording` in step, and rejoins with backoff when the socket
 * drops. See packages/protocol/src/signalling.ts for the wire protocol it speaks.
 */
import {
  PUBLISH_PC_ID,
  RtkError,
  SIGNALLING_PATH,
  SIGNALLING_TOKEN_PARAM,
  SignallingCloseCodes,
  TypedEmitter,
  silentLogger,
} from '@trackroom/protocol';
import type { IceServerInfo, Logger, MediaKind, ServerMessage, SubscriberMode } from '@trackroom/protocol';
import { Backoff } from './backoff.js';
import type { BackoffOptions } from './backoff.js';
import { PublishConnection, SubscribeConnection, SubscriberConnection } from './media-connections.js';
import type { MediaConnectionOptions } from './media-connections.js';
import type { PeerConnectionFactory } from './media-connections.js';
import { ParticipantMap } from './participant-map.js';
import { Recording } from './recording.js';
import { SelfParticipant } from './self-participant.js';
import type { GetUserMedia, LocalMediaSink, RoomLeftState } from './self-participant.js';
import { SignallingSocket } from './signalling-socket.js';
import type { WebSocketFactory } from './signalling-socket.js';

export interface RealtimeKitClientOptions {
  /** The participant token (RealtimeKit's `authToken` from "add participant"). */
  authToken: string;
  /** Where the server is, e.g. `https://meet.example.com`; default the page's origin. */
  baseURI?: string;
  /** Media to turn on when joining. Default `{ audio: true, video: false }`. */
  defaults?: { audio?: boolean; video?: boolean };
  /** getUserMedia constraints for the microphone and camera. Default `true` (the browser's defaults). */
  mediaConstraints?: { audio?: MediaTrackConstraints | boolean; video?: MediaTrackConstraints | boolean };
  /** Display name sent with `join`; the token's name is used when omitted. */
  name?: string;
  logger?: Logger;
  /** Rejoin timing after an unexpected socket drop. */
  reconnect?: BackoffOptions;
  /** Longest wait from socket open to `joined`. Default 15 000 ms. */
  joinTimeoutMs?: number;
  /**
   * How to receive the others: `single` (default) one renegotiated receive-only connection;
   * `perPublisher` one receive-only connection per remote publisher, as before.
   */
  subscriber?: SubscriberMode;
  /** Injection points for tests and non-browser runtimes. */
  createWebSocket?: WebSocketFactory;
  createPeerConnection?: PeerConnectionFactory;
  getUserMedia?: GetUserMedia;
}

export type SocketState = 'idle' | 'connecting' | 'connected' | 'reconnecting' | 'disconnected' | 'failed';

/** RealtimeKit's media connection states. */
export type MediaConnectionState =
  'new' | 'connecting' | 'connected' | 'disconnected' | 'reconnecting' | 'failed';
/** `producing`: the publish connection; `consuming`: the receive connections, taken together. */
export type MediaTransportKind = 'producing' | 'consuming';

export type MeetingMetaEvents = {
  socketConnectionUpdate: { state: SocketState; reconnectionAttempt: number };
  /** A media connection's state changed (RealtimeKit's event and payload). */
  mediaConnectionUpdate: { transport: MediaTransportKind; state: MediaConnectionState };
};

/** `meeting.meta`: meeting-level facts, the signalling connection's and the media connections' state. */
export class MeetingMeta extends TypedEmitter<MeetingMetaEvents> {
  #meetingId = '';
  #meetingTitle = '';
  #socketState: SocketState = 'idle';
  #attempt = 0;
  #media: Record<MediaTransportKind, MediaConnectionState> = { producing: 'new', consuming: 'new' };
  #relayOffered = false;

  /** The media connections' states (`failed`: ICE found no path to the server). */
  get mediaState(): Readonly<Record<MediaTransportKind, MediaConnectionState>> {
    return { ...this.#media };
  }
  /** Whether the server offered TURN relays with the last join (false: direct paths only). */
  get relayOffered(): boolean {
    return this.#relayOffered;
  }
  /** @internal */
  setRelayOffered(offered: boolean): void {
    this.#relayOffered = offered;
  }
  /** @internal */
  setMediaState(transport: MediaTransportKind, state: MediaConnectionState): void {
    if (this.#media[transport] === state) return;
    this.#media[transport] = state;
    this.emit('mediaConnectionUpdate', { transport, state });
  }

  get meetingId(): string {
    return this.#meetingId;
  }
  /** The meeting's title as the server sent it on joining ('' before, or when it has none). */
  get meetingTitle(): string {
    return this.#meetingTitle;
  }
  get socketState(): SocketState {
    return this.#socketState;
  }
  /** @internal */
  setMeetingId(id: string, title = ''): void {
    this.#meetingId = id;
    this.#meetingTitle = title;
  }
  /** @internal */
  setSocketState(state: SocketState, reconnectionAttempt = 0): void {
    if (state === this.#socketState && reconnectionAttempt === this.#attempt) return;
    this.#socketState = state;
    this.#attempt = reconnectionAttempt;
    this.emit('socketConnectionUpdate', { state, reconnectionAttempt });
  }
}

/** Builds `ws(s)://<host>/ws?authToken=...` from the base URI (http→ws, https→wss). */
export function signallingUrl(baseURI: string, authToken: string): string {
  const url = new URL(SIGNALLING_PATH, baseURI);
  url.protocol = url.protocol === 'https:' || url.protocol === 'wss:' ? 'wss:' : 'ws:';
  url.search = '';
  url.searchParams.set(SIGNALLING_TOKEN_PARAM, authToken);
  return url.toString();
}

/** The final state a socket close code means, or undefined when a rejoin may help. */
export function finalStateForClose(code: number, kicked: boolean): RoomLeftState | undefined {
  if (kicked || code === SignallingCloseCodes.KICKED) return 'kicked';
  if (code === SignallingCloseCodes.AUTH_FAILED) return 'rejected';
  if (code === SignallingCloseCodes.POLICY_VIOLATION || code === SignallingCloseCodes.MESSAGE_TOO_BIG)
    return 'failed';
  return undefined;
}

/** One signalling socket and the peer connections negotiated over it. */
interface Session {
  socket: SignallingSocket;
  joined: boolean;
  kicked: boolean;
  closeCode: number | undefined;
  publish: PublishConnection | undefined;
  publishAttempts: number;
  subscriptions: Map<string, SubscribeConnection>;
  /** Single mode: the one subscribing connection and its negotiation. */
  sub: SubscriberState;
  settleJoin: ((err?: Error) => void) | undefined;
  /** From `joined`: the ICE servers (TURN relays, this peer's credentials) of every peer connection. */
  iceServers: RTCIceServer[];
  /** From `redirect`: the server hosting the meeting (the socket closes with REDIRECT next). */
  redirectTo: string | undefined;
}

/** The subscribing connection of single mode: the latest slots, what was offered, what is mapped. */
interface SubscriberState {
  conn: SubscriberConnection | undefined;
  latest: Extract<ServerMessage, { type: 'subscriberUpdate' }> | undefined;
  /** Version of the offer in flight or last answered. */
  offered: number;
  busy: boolean;
  /** peerId → kind → track, per the last answer applied. */
  mapped: Map<string, Map<MediaKind, MediaStreamTrack>>;
}

/** Redirects followed in a row before a join gives up (a cluster moving the meeting around). */
const MAX_REDIRECTS = 3;

/** The browser's RTCIceServer for one the server sent (credentials only when present). */
function toRtcIceServer(s: IceServerInfo): RTCIceServer {
  return {
    urls: [...s.urls],
    ...(s.username !== undefined ? { username: s.username } : {}),
    ...(s.credential !== undefined ? { credential: s.credential } : {}),
  };
}

/** A peer connection's state as a media connection state ('closed' says nothing: undefined). */
function mediaStateOf(s: RTCPeerConnectionState): MediaConnectionState | undefined {
  if (s === 'closed') return undefined;
  return s === 'new' ? 'connecting' : s;
}

const MAX_PUBLISH_ATTEMPTS = 3;
/** Error codes of a join the server refused for good (the token or the meeting): no retry helps. */
const REFUSED_CODES: ReadonlySet<string> = new Set(['TOKEN_INVALID', 'TOKEN_EXPIRED', 'FORBIDDEN']);

export class RealtimeKitClient {
  readonly self: SelfParticipant;
  readonly participants: { readonly joined: ParticipantMap };
  readonly recording: Recording;
  readonly meta: MeetingMeta;
  readonly #opts: RealtimeKitClientOptions;
  readonly #log: Logger;
  /** The signalling URL of the server the page named (every join and rejoin starts there). */
  readonly #originUrl: string;
  #url: string;
  readonly #backoff: Backoff;
  #session: Session | undefined;
  #joining: Promise<void> | undefined;
  #prepared = false;
  #everJoined = false;
  #left = false;
  #reconnectTimer: ReturnType<typeof setTimeout> | undefined;

  /** Use {@link RealtimeKitClient.init}. Does no I/O. */
  constructor(opts: RealtimeKitClientOptions) {
    if (typeof opts.authToken !== 'string' || opts.authToken === '')
      throw new RtkError('VALIDATION_FAILED', 'authToken is required');
    this.#opts = opts;
    this.#log = (opts.logger ?? silentLogger).child({ component: 'realtimekit-client' });
    const base = opts.baseURI ?? (typeof location !== 'undefined' ? location.origin : undefined);
    if (!base) throw new RtkError('VALIDATION_FAILED', 'baseURI is required outside a browser page');
    this.#originUrl = signallingUrl(base, opts.authToken);
    this.#url = this.#originUrl;
    this.#backoff = new Backoff(opts.reconnect);
    this.self = new SelfParticipant({
      logger: this.#log,
      ...(opts.getUserMedia ? { getUserMedia: opts.getUserMedia } : {}),
      ...(opts.mediaConstraints?.audio !== undefined
        ? { audioConstraints: opts.mediaConstraints.audio }
        : {}),
      ...(opts.mediaConstraints?.video !== undefined
        ? { videoConstraints: opts.mediaConstraints.video }
        : {}),
    });
    if (opts.name !== undefined) this.self.setName(opts.name);
    this.participants = { joined: new ParticipantMap() };
    this.recording = new Recording();
    this.meta = new MeetingMeta();
  }

  /** RealtimeKit's entry point: validates the options and returns the meeting (not yet joined). */
  static init(opts: RealtimeKitClientOptions): Promise<RealtimeKitClient> {
    try {
      return Promise.resolve(new RealtimeKitClient(opts));
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
  }

  /**
   * Acquires the default media, connects and joins. Resolves once the server answered `joined`
   * (media connections come up right after). Calling it again while joining or joined returns the
   * same promise. Rejects after {@link leave} and when the token is refused.
   */
  join(): Promise<void> {
    if (this.#left)
      return Promise.reject(new RtkError('CONFLICT', 'this meeting object has left; init a new one'));
    this.#joining ??= this.#firstJoin();
    return this.#joining;
  }

  /** Leaves the meeting for good: stops media, closes connections, cancels any rejoin. Idempotent. */
  leave(): Promise<void> {
    if (this.#left) return Promise.resolve();
    const s = this.#session;
    s?.socket.send({ type: 'leave' });
    this.#finish('left');
    return Promise.resolve();
  }

  // ------------------------------------------------------------------ joining

  async #firstJoin(): Promise<void> {
    this.self.setRoomState('joining');
    if (!this.#prepared) {
      this.#prepared = true;
      await this.self.prepare(this.#opts.defaults?.audio ?? true, this.#opts.defaults?.video ?? false);
    }
    if (this.#left) throw new RtkError('CONFLICT', 'left while joining');
    try {
      await this.#connect(false);
    } catch (err) {
      // The server's error for a refused token may arrive before its close code: either says so.
      const refused =
        this.#session?.closeCode === SignallingCloseCodes.AUTH_FAILED ||
        (err instanceof RtkError && REFUSED_CODES.has(err.code));
      this.#finish(refused ? 'rejected' : 'failed');
      throw err;
    }
  }

  /**
   * Opens a socket, joins, starts publishing. Resolves on `joined`. A `redirect` (the meeting is
   * hosted by another server of the cluster) is followed with the same token, a few times at most.
   */
  async #connect(reconnected: boolean, redirects = 0): Promise<void> {
    // A rejoin asks the first server again: the one it was sent to may be the one that went away.
    if (redirects === 0) this.#url = this.#originUrl;
    try {
      await this.#connectOnce(reconnected);
    } catch (err) {
      const to = this.#session?.redirectTo;
      if (!to || this.#left || redirects >= MAX_REDIRECTS) throw err;
      this.#log.info({ to }, 'the meeting is hosted by another server: following the redirect');
      this.#url = signallingUrl(to, this.#opts.authToken);
      await this.#connect(reconnected, redirects + 1);
    }
  }

  async #connectOnce(reconnected: boolean): Promise<void> {
    const socket = new SignallingSocket({
      url: this.#url,
      logger: this.#log,
      ...(this.#opts.createWebSocket ? { createWebSocket: this.#opts.createWebSocket } : {}),
    });
    const session: Session = {
      socket,
      joined: false,
      kicked: false,
      closeCode: undefined,
      publish: undefined,
      publishAttempts: 0,
      subscriptions: new Map(),
      sub: { conn: undefined, latest: undefined, offered: 0, busy: false, mapped: new Map() },
      settleJoin: undefined,
      iceServers: [],
      redirectTo: undefined,
    };
    this.#session = session;
    const joined = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => session.settleJoin?.(new RtkError('INTERNAL', 'no joined answer in time')),
        this.#opts.joinTimeoutMs ?? 15_000,
      );
      session.settleJoin = (err) => {
        session.settleJoin = undefined;
        clearTimeout(timer);
        if (err) reject(err);
        else resolve();
      };
    });
    // Awaited below once the socket is open; a close before that must not count as unhandled.
    joined.catch(() => undefined);
    socket.on('message', (msg) => this.#onMessage(session, msg));
    socket.on('close', (ev) => this.#onClose(session, ev.code, ev.byClient));
    this.meta.setSocketState(reconnected ? 'reconnecting' : 'connecting', this.#backoff.attempt);
    const t0 = Date.now();
    try {
      await socket.connect();
      const name = this.#opts.name;
      socket.send({
        type: 'join',
        audio: this.self.audioEnabled,
        video: this.self.videoEnabled,
        ...(name !== undefined ? { name } : {}),
        subscriber: this.#opts.subscriber ?? 'single',
      });
      await joined;
    } catch (err) {
      session.settleJoin?.();
      if (this.#session === session) this.#teardown(session);
      socket.close();
      throw err;
    }
    this.#log.info({ reconnected, ms: Date.now() - t0, peerId: this.self.id }, 'joined');
  }

  #onJoined(session: Session, msg: Extract<ServerMessage, { type: 'joined' }>): void {
    session.joined = true;
    // An older server sends no iceServers: direct paths only.
    session.iceServers = (msg.iceServers ?? []).map(toRtcIceServer);
    this.meta.setRelayOffered(session.iceServers.length > 0);
    this.meta.setMeetingId(msg.meetingId, msg.meetingTitle ?? '');
    this.meta.setSocketState('connected');
    this.recording.update(msg.recordings);
    // Before the participants and the self are updated, so their events already carry it.
    const recorded = this.recording.recordedParticipantIds;
    this.participants.joined.setRecorded(recorded);
    this.participants.joined.reset(msg.peers);
    this.self.setBeingRecorded(recorded.has(msg.self.participantId));
    const sink: LocalMediaSink = {
      setTrack: async (kind, track) => {
        if (this.#session !== session) return;
        await session.publish?.replaceTrack(kind, track);
      },
      sendState: (kind, enabled) => {
        if (this.#session === session) session.socket.send({ type: 'mediaState', kind, enabled });
      },
    };
    this.self.setSink(sink);
    const reconnected = this.#everJoined;
    this.#everJoined = true;
    this.self.setJoined(msg.self, reconnected);
    session.settleJoin?.();
    this.#publish(session).catch((err: unknown) => this.#log.error({ err: String(err) }, 'publish failed'));
  }

  // ------------------------------------------------------------------ media

  async #publish(session: Session): Promise<void> {
    const { canProduceAudio, canProduceVideo } = this.self.permissions;
    const kinds: MediaKind[] = [];
    if (canProduceAudio) kinds.push('audio');
    if (canProduceVideo) kinds.push('video');
    if (kinds.length === 0 || this.#session !== session) return;
    session.publishAttempts++;
    session.publish?.close();
    const pub = new PublishConnection(
      kinds,
      {
        audio: this.self.audioTrack,
        video: this.self.videoEnabled ? this.self.videoTrack : undefined,
      },
      this.#pcOptions(session),
    );
    session.publish = pub;
    this.meta.setMediaState('producing', 'connecting');
    pub.on('state', (state) => {
      this.#log.debug({ pc: PUBLISH_PC_ID, state }, 'connection state');
      const m = mediaStateOf(state);
      if (!m || this.#session !== session || session.publish !== pub) return;
      if (m === 'failed') this.#logMediaFailure(session, PUBLISH_PC_ID);
      this.meta.setMediaState('producing', m);
    });
    const sdp = await pub.createOffer();
    if (this.#session !== session || session.publish !== pub) return;
    session.socket.send({ type: 'publishOffer', sdp });
  }

  async #subscribe(session: Session, msg: Extract<ServerMessage, { type: 'subscribe' }>): Promise<void> {
    const sub = new SubscribeConnection(msg.subscriptionId, msg.peerId, msg.kinds, this.#pcOptions(session));
    session.subscriptions.get(msg.subscriptionId)?.close();
    session.subscriptions.set(msg.subscriptionId, sub);
    this.#syncConsuming(session);
    sub.on('state', (state) => {
      this.#log.debug({ pc: msg.subscriptionId, peerId: msg.peerId, state }, 'connection state');
      if (state === 'failed') this.#logMediaFailure(session, msg.subscriptionId);
      this.#syncConsuming(session, state === 'failed');
    });
    const sdp = await sub.createOffer();
    if (sub.closed || this.#session !== session) return;
    session.socket.send({ type: 'subscribeOffer', subscriptionId: msg.subscriptionId, sdp });
  }

  async #onSubscribeAnswer(session: Session, subscriptionId: string, sdp: string): Promise<void> {
    const sub = session.subscriptions.get(subscriptionId);
    if (!sub) return;
    await sub.applyAnswer(sdp);
    if (sub.closed || this.#session !== session) return;
    for (const kind of sub.kinds) this.participants.joined.setTrack(sub.peerId, kind, sub.track(kind));
  }

  #unsubscribe(session: Session, subscriptionId: string): void {
    const sub = session.subscriptions.get(subscriptionId);
    if (!sub) return;
    session.subscriptions.delete(subscriptionId);
    const p = this.participants.joined.get(sub.peerId);
    for (const kind of sub.kinds) {
      const current = kind === 'audio' ? p?.audioTrack : p?.videoTrack;
      if (current && current === sub.track(kind))
        this.participants.joined.setTrack(sub.peerId, kind, undefined);
    }
    sub.close();
  }

  /** Single mode: the slots changed. A new connectionId replaces the connection. */
  #onSubscriberUpdate(session: Session, msg: Extract<ServerMessage, { type: 'subscriberUpdate' }>): void {
    const st = session.sub;
    if (st.conn?.connectionId !== msg.connectionId) {
      this.#closeSubscriber(session);
      const conn = new SubscriberConnection(msg.connectionId, this.#pcOptions(session));
      st.conn = conn;
      conn.on('state', (state) => {
        this.#log.debug({ pc: msg.connectionId, state }, 'connection state');
        if (state === 'failed') this.#logMediaFailure(session, msg.connectionId);
        this.#syncConsuming(session, state === 'failed');
      });
      this.#syncConsuming(session);
    }
    st.latest = msg;
    if (!st.busy) this.#offerSubscriber(session);
  }

  /** Offers the latest slots (one negotiation at a time). */
  #offerSubscriber(session: Session): void {
    const st = session.sub;
    const conn = st.conn;
    const plan = st.latest;
    if (!conn || !plan || plan.version <= st.offered || this.#session !== session) return;
    st.busy = true;
    st.offered = plan.version;
    conn
      .offer(plan.slots)
      .then((sdp) => {
        if (st.conn !== conn || this.#session !== session) return;
        session.socket.send({
          type: 'subscriberOffer',
          connectionId: conn.connectionId,
          version: plan.version,
          sdp,
        });
      })
      .catch((err: unknown) => {
        this.#log.warn({ err: String(err) }, 'subscriber offer failed');
        if (st.conn === conn) st.busy = false;
      });
  }

  async #onSubscriberAnswer(
    session: Session,
    msg: Extract<ServerMessage, { type: 'subscriberAnswer' }>,
  ): Promise<void> {
    const st = session.sub;
    const conn = st.conn;
    if (!conn || conn.connectionId !== msg.connectionId || msg.version !== st.offered) return;
    try {
      const { byPeer } = await conn.applyMapping(msg.sdp, msg.tracks);
      if (st.conn !== conn || this.#session !== session) return;
      this.#applyMapping(session, byPeer);
    } finally {
      if (st.conn === conn) {
        st.busy = false;
        this.#offerSubscriber(session);
      }
    }
  }

  /** Gives each remote participant the tracks the answer maps to it; takes back the ones it no longer does. */
  #applyMapping(session: Session, next: Map<string, Map<MediaKind, MediaStreamTrack>>): void {
    const joined = this.participants.joined;
    for (const [peerId, kinds] of session.sub.mapped) {
      const p = joined.get(peerId);
      for (const [kind, track] of kinds) {
        if (next.get(peerId)?.get(kind) === track) continue;
        const current = kind === 'audio' ? p?.audioTrack : p?.videoTrack;
        if (current === track) joined.setTrack(peerId, kind, undefined);
      }
    }
    for (const [peerId, kinds] of next)
      for (const [kind, track] of kinds) joined.setTrack(peerId, kind, track);
    session.sub.mapped = next;
  }

  #closeSubscriber(session: Session): void {
    const st = session.sub;
    if (st.conn) this.#applyMapping(session, new Map());
    st.conn?.close();
    st.conn = undefined;
    st.latest = undefined;
    st.offered = 0;
    st.busy = false;
  }

  #pcOptions(session: Session): MediaConnectionOptions {
    return {
      iceServers: session.iceServers,
      ...(this.#opts.createPeerConnection ? { createPeerConnection: this.#opts.createPeerConnection } : {}),
    };
  }

  /**
   * The receive connections taken together: failed when one failed (`failedNow`, or one still in
   * that state), connected when all are, connecting otherwise; unchanged with none.
   */
  #syncConsuming(session: Session, failedNow = false): void {
    if (this.#session !== session) return;
    const states = [...session.subscriptions.values()].map((s) => s.connectionState);
    if (session.sub.conn) states.push(session.sub.conn.connectionState);
    if (states.length === 0 && !failedNow) return;
    const state: MediaConnectionState =
      failedNow || states.includes('failed')
        ? 'failed'
        : states.every((s) => s === 'connected')
          ? 'connected'
          : states.some((s) => s === 'disconnected')
            ? 'disconnected'
            : 'connecting';
    this.meta.setMediaState('consuming', state);
  }

  #logMediaFailure(session: Session, pc: string): void {
    this.#log.warn(
      { pc, relayOffered: session.iceServers.length > 0 },
      session.iceServers.length > 0
        ? 'media connection failed: no path to the server, not even through the TURN relays'
        : 'media connection failed: no direct path to the server and the server offered no TURN relay',
    );
  }

  // ------------------------------------------------------------------ messages

  #onMessage(session: Session, msg: ServerMessage): void {
    if (this.#session !== session || this.#left) return;
    const fail = (what: string) => (err: unknown) =>
      this.#log.warn({ err: String(err), what }, 'signalling step failed');
    switch (msg.type) {
      case 'joined':
        this.#onJoined(session, msg);
        return;
      case 'publishAnswer':
        session.publish?.applyAnswer(msg.sdp).catch(fail('publishAnswer'));
        return;
      case 'subscribe':
        this.#subscribe(session, msg).catch(fail('subscribe'));
        return;
      case 'subscribeAnswer':
        this.#onSubscribeAnswer(session, msg.subscriptionId, msg.sdp).catch(fail('subscribeAnswer'));
        return;
      case 'unsubscribe':
        this.#unsubscribe(session, msg.subscriptionId);
        return;
      case 'subscriberUpdate':
        this.#onSubscriberUpdate(session, msg);
        return;
      case 'subscriberAnswer':
        this.#onSubscriberAnswer(session, msg).catch(fail('subscriberAnswer'));
        return;
      case 'peerJoined':
      case 'peerLeft':
      case 'audioUpdate':
      case 'videoUpdate':
        this.participants.joined.apply(msg);
        return;
      case 'muted':
        this.self.onMutedByHost(msg.kind).catch(fail('muted'));
        return;
      case 'kicked':
        session.kicked = true;
        return;
      case 'recordingUpdate':
        if (this.recording.update(msg.recordings)) this.#syncRecorded();
        return;
      case 'pong':
        return;
      case 'redirect':
        if (!session.joined && /^https?:\/\//.test(msg.nodeUrl)) session.redirectTo = msg.nodeUrl;
        return;
      case 'error': {
        const forType = msg.details?.type;
        this.#log.warn({ code: msg.code, message: msg.message, forType }, 'server error');
        if (forType === 'subscriberOffer') {
          // The offer was refused (e.g. it raced a replaced connection): the next update is offered.
          session.sub.busy = false;
          this.#offerSubscriber(session);
        } else if (forType === 'join' || !session.joined) {
          session.settleJoin?.(new RtkError(msg.code, msg.message, msg.details));
        } else if (forType === 'publishOffer' && msg.code !== 'FORBIDDEN' && msg.code !== 'CONFLICT') {
          // The server dropped our publish connection (it failed or never connected): publish again.
          if (session.publishAttempts < MAX_PUBLISH_ATTEMPTS) {
            this.meta.setMediaState('producing', 'reconnecting');
            this.#publish(session).catch(fail('republish'));
          } else {
            session.publish?.close();
            session.publish = undefined;
            this.#logMediaFailure(session, PUBLISH_PC_ID);
            this.meta.setMediaState('producing', 'failed');
          }
        }
        return;
      }
    }
  }

  #onClose(session: Session, code: number, byClient: boolean): void {
    session.closeCode = code;
    if (this.#session !== session) return;
    this.#teardown(session);
    session.settleJoin?.(new RtkError('INTERNAL', `signalling socket closed (${code})`));
    if (byClient || this.#left) return;
    const final = finalStateForClose(code, session.kicked);
    if (final) {
      this.#finish(final);
      return;
    }
    // Not joined yet: the join() or reconnect attempt awaiting this socket decides what follows.
    if (!session.joined) return;
    this.#log.info({ code }, 'signalling socket dropped; rejoining');
    this.#scheduleReconnect();
  }

  /** Who is being recorded right now: the participants' and the self's `isBeingRecorded`. */
  #syncRecorded(): void {
    const recorded = this.recording.recordedParticipantIds;
    this.participants.joined.setRecorded(recorded);
    if (this.self.userId !== '') this.self.setBeingRecorded(recorded.has(this.self.userId));
  }

  // ------------------------------------------------------------------ reconnecting and leaving

  #scheduleReconnect(): void {
    if (this.#left) return;
    const delay = this.#backoff.next();
    if (delay === undefined) {
      this.#finish('failed');
      return;
    }
    this.self.setRoomState('reconnecting');
    this.meta.setSocketState('reconnecting', this.#backoff.attempt);
    this.#reconnectTimer = setTimeout(() => {
      this.#reconnectTimer = undefined;
      this.#connect(true).then(
        () => this.#backoff.reset(),
        (err: unknown) => {
          this.#log.info({ err: String(err), attempt: this.#backoff.attempt }, 'rejoin failed');
          this.#scheduleReconnect();
        },
      );
    }, delay);
  }

  /** Closes the session's peer connections; the session object stays for its close code. */
  #teardown(session: Session): void {
    session.publish?.close();
    session.publish = undefined;
    for (const id of [...session.subscriptions.keys()]) this.#unsubscribe(session, id);
    this.#closeSubscriber(session);
    this.self.setSink(undefined);
  }

  #finish(state: RoomLeftState): void {
    if (this.#left) return;
    this.#left = true;
    if (this.#reconnectTimer) clearTimeout(this.#reconnectTimer);
    const s = this.#session;
    if (s) {
      this.#teardown(s);
      s.settleJoin?.(new RtkError('CONFLICT', `left the meeting (${state})`));
      s.socket.close(1000, state);
    }
    this.participants.joined.clear(state);
    this.meta.setSocketState(state === 'failed' ? 'failed' : 'disconnected');
    this.self.setLeft(state);
  }
}
