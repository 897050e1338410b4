/**
 * One signalling socket and the peer behind it: its one `state` (authenticating → ready → joined →
 * closed, forward only), its socket (sending, liveness pings, closing), its message queue (work runs
 * strictly in order) and the refusal of malformed messages. What a message means, and what leaving
 * releases, is the facade's; the media records (publication, subscriptions, taps) hang here so the
 * fast path reaches them without a lookup.
 */
import type { RawData, WebSocket } from 'ws';
import { RtkError, errorMessage, parseClientMessage } from '@trackroom/protocol';
import type {
  ClientMessage,
  Logger,
  MediaKind,
  MediaPeer,
  PeerIdentity,
  PeerInfo,
  PeerLeftReason,
  RecordingInfo,
  ServerMessage,
  SignallingCloseCode,
  SubscriberMode,
} from '@trackroom/protocol';
import { SignallingCloseCodes } from '@trackroom/protocol';
import type { AudioTap, Publication, Subscription } from './sfu-types.js';
import type { SubscriberConnection } from './subscriber-connection.js';

/** Where a peer is in its life; identity and media view exist only where they are defined. */
export type PeerState =
  | { phase: 'authenticating' }
  /** `admitted`: recordings for `joined` from an admission (replaced by a newer broadcast). */
  | { phase: 'ready'; identity: PeerIdentity; admitted: RecordingInfo[] | undefined }
  | { phase: 'joined'; identity: PeerIdentity; media: MediaPeer }
  | { phase: 'closed' };

export interface PeerSessionOptions {
  id: string;
  ws: WebSocket;
  log: Logger;
  maxMessageBytes: number;
  maxInvalidMessages: number;
  /** A parsed message, to run in the peer's queue. */
  onMessage(session: PeerSession, msg: ClientMessage): void;
  /** The peer must go: a socket close, a refused socket, too many invalid messages. */
  onClose(session: PeerSession, reason: PeerLeftReason, code?: SignallingCloseCode): void;
}

export class PeerSession {
  readonly id: string;
  readonly ws: WebSocket;
  log: Logger;
  state: PeerState = { phase: 'authenticating' };
  /** The name shown to others: the identity's, or the one given in `join`. */
  name = '';
  /** Whether the peer sends each kind now (read per packet: plain fields). */
  audioEnabled = false;
  videoEnabled = false;
  publication: Publication | undefined;
  /** Subscriptions of other peers to this peer's media. */
  readonly subscribers = new Set<Subscription>();
  /** This peer's subscriptions, by id. */
  readonly subscriptions = new Map<string, Subscription>();
  readonly taps = new Set<AudioTap>();
  /** How this peer receives others' media (from its `join`). */
  subscriberMode: SubscriberMode = 'perPublisher';
  /** Its one subscribing connection (single mode), once someone publishes. */
  subscriber: SubscriberConnection | undefined;
  joinTimer: NodeJS.Timeout | undefined;
  /** Set by a `leave` message: the close that follows is a leave, not a disconnect. */
  leaving = false;
  #alive = true;
  #errored = false;
  #invalidMessages = 0;
  #queue: Promise<void> = Promise.resolve();
  readonly #o: PeerSessionOptions;

  constructor(o: PeerSessionOptions) {
    this.#o = o;
    this.id = o.id;
    this.ws = o.ws;
    this.log = o.log;
    const ws = o.ws;
    ws.on('pong', () => {
      this.#alive = true;
    });
    ws.on('message', (data, isBinary) => this.#onMessage(data, isBinary));
    ws.on('error', (err) => {
      this.#errored = true;
      this.log.debug({ err: err.message }, 'socket error');
    });
    ws.on('close', () => {
      o.onClose(this, this.leaving ? 'left' : this.#errored ? 'error' : 'disconnected');
    });
  }

  /** The identity once admitted (ready or joined). */
  get identity(): PeerIdentity | undefined {
    const s = this.state;
    return s.phase === 'ready' || s.phase === 'joined' ? s.identity : undefined;
  }

  /** The media plane's view once joined. */
  get media(): MediaPeer | undefined {
    return this.state.phase === 'joined' ? this.state.media : undefined;
  }

  /** authenticating → ready. */
  admit(identity: PeerIdentity, admitted?: RecordingInfo[]): void {
    if (this.state.phase !== 'authenticating') return;
    this.state = { phase: 'ready', identity, admitted };
    this.name = identity.name;
    this.log = this.log.child({ meetingId: identity.meetingId, participantId: identity.participantId });
  }

  /** ready → joined: the peer's media view, sending what it may of what it asked for. */
  join(name: string | undefined, audio: boolean, video: boolean, now: number): MediaPeer {
    if (this.state.phase !== 'ready') throw new RtkError('CONFLICT', 'already joined');
    const id = this.state.identity;
    if (name !== undefined && name.trim() !== '') this.name = name.trim();
    this.audioEnabled = audio && id.canProduceAudio;
    this.videoEnabled = video && id.canProduceVideo;
    const media: MediaPeer = {
      meetingId: id.meetingId,
      peerId: this.id,
      participantId: id.participantId,
      customParticipantId: id.customParticipantId,
      name: this.name,
      presetName: id.presetName,
      hidden: id.hidden,
      joinedAt: now,
      tracks: {},
      enabled: { audio: this.audioEnabled, video: this.videoEnabled },
    };
    this.state = { phase: 'joined', identity: id, media };
    if (this.joinTimer) clearTimeout(this.joinTimer);
    return media;
  }

  /** Whether the peer sends `kind`, kept in its media view too. Returns false when nothing changed. */
  setEnabled(kind: MediaKind, enabled: boolean): boolean {
    const current = kind === 'audio' ? this.audioEnabled : this.videoEnabled;
    if (current === enabled) return false;
    if (kind === 'audio') this.audioEnabled = enabled;
    else this.videoEnabled = enabled;
    const media = this.media;
    if (media) media.enabled[kind] = enabled;
    return true;
  }

  /** Any state → closed; returns the state it left. */
  markClosed(): PeerState {
    const was = this.state;
    this.state = { phase: 'closed' };
    if (this.joinTimer) clearTimeout(this.joinTimer);
    return was;
  }

  /** The peer as signalling lists it (joined peers only). */
  info(): PeerInfo {
    const media = this.media;
    return {
      peerId: this.id,
      participantId: this.identity?.participantId ?? '',
      customParticipantId: this.identity?.customParticipantId ?? '',
      name: this.name,
      presetName: this.identity?.presetName ?? '',
      audioEnabled: this.audioEnabled,
      videoEnabled: this.videoEnabled,
      joinedAt: new Date(media?.joinedAt ?? Date.now()).toISOString(),
    };
  }

  send(msg: ServerMessage): void {
    this.sendRaw(JSON.stringify(msg));
  }

  sendRaw(data: string): void {
    if (this.ws.readyState !== this.ws.OPEN) return;
    this.ws.send(data, (err) => {
      if (err) this.log.debug({ err: err.message }, 'send failed; the close event follows');
    });
  }

  /**
   * Runs the peer's work strictly in order; a failure goes to `onError` (which answers it) and does
   * not stop the queue. Nothing runs once the peer is closed.
   */
  enqueue(work: () => Promise<void> | void, onError: (err: unknown) => void): void {
    this.#queue = this.#queue
      .then(async () => {
        if (this.state.phase !== 'closed') await work();
      })
      .catch((err: unknown) => {
        if (this.state.phase !== 'closed') onError(err);
      });
  }

  /** Answers a malformed message with `error`; closes the socket after too many. */
  refuse(err: unknown, forType?: string): void {
    this.#invalidMessages++;
    this.send(errorMessage(err, forType));
    if (this.#invalidMessages > this.#o.maxInvalidMessages) {
      this.log.warn({ count: this.#invalidMessages }, 'too many invalid messages; closing');
      this.#o.onClose(this, 'error', SignallingCloseCodes.POLICY_VIOLATION);
    }
  }

  /** One liveness round: false when the last ping went unanswered, else a new ping is sent. */
  ping(): boolean {
    if (!this.#alive) return false;
    this.#alive = false;
    try {
      this.ws.ping();
    } catch (err) {
      this.log.debug({ err: String(err) }, 'ping failed; the close event follows');
    }
    return true;
  }

  /** Closes the socket with `code`; a peer that stopped answering pings is cut off at once. */
  closeSocket(code: SignallingCloseCode): void {
    const ws = this.ws;
    if (ws.readyState !== ws.OPEN && ws.readyState !== ws.CONNECTING) return;
    if (code === SignallingCloseCodes.TIMEOUT && !this.#alive) ws.terminate();
    else ws.close(code);
  }

  #onMessage(data: RawData, isBinary: boolean): void {
    if (this.state.phase === 'closed') return;
    const max = this.#o.maxMessageBytes;
    const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
    if (buf.length > max) {
      this.send(
        errorMessage(
          new RtkError('SIGNALLING_MESSAGE_TOO_LARGE', `message is larger than ${max} bytes`, { limit: max }),
        ),
      );
      this.#o.onClose(this, 'error', SignallingCloseCodes.MESSAGE_TOO_BIG);
      return;
    }
    let msg: ClientMessage;
    try {
      if (isBinary) throw new RtkError('SIGNALLING_INVALID_MESSAGE', 'message must be a text frame');
      msg = parseClientMessage(buf.toString('utf8'), max);
    } catch (err) {
      this.refuse(err);
      return;
    }
    this.#o.onMessage(this, msg);
  }
}
