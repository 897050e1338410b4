/**
 * The signalling wire protocol between a client (browser SDK, test client) and `@trackroom/sfu`.
 *
 * Transport: one WebSocket per peer at `GET /ws?authToken=<participant token>` (path
 * {@link SIGNALLING_PATH}). Every frame is one UTF-8 JSON text message of at most
 * {@link MAX_SIGNALLING_MESSAGE_BYTES} bytes; each object has a `type` discriminator.
 *
 * Session, in order:
 * 1. The client opens the socket with its participant token in the `authToken` query parameter (a
 *    token for meeting M joins M only; a bad token gets an `error` then a close with
 *    {@link SignallingCloseCodes}.AUTH_FAILED).
 * 2. client `join` → server `joined` (self, the other visible peers, the meeting's recordings, and
 *    the ICE servers, i.e. TURN relays with this peer's own short-lived credentials, that the client
 *    uses for every peer connection of this socket). Every other peer of the meeting gets `peerJoined`.
 * 3. Publishing: the client builds ONE peer connection with at most one audio (Opus) and one video
 *    (VP8) transceiver, direction `sendonly`, and sends `publishOffer`; the server answers with
 *    `publishAnswer`. Publish once per socket; turn the camera on later with `replaceTrack`, not by
 *    renegotiating. A second `publishOffer` is refused with `CONFLICT`.
 * 4. Subscribing: for every other peer that publishes, the server sends `subscribe`
 *    (`subscriptionId`, the publisher's `peerId`, which kinds). The client creates one peer
 *    connection per subscription with `recvonly` transceivers for those kinds (audio first, then
 *    video), sends `subscribeOffer`, and gets `subscribeAnswer`. When the publisher leaves the server
 *    sends `unsubscribe`; the client closes that peer connection. The SFU is always the answerer:
 *    see "Differences from RealtimeKit" below and docs/media-plane.md for why.
 *    One subscribing connection instead (`join` with `subscriber: 'single'`, what the SDK does): the
 *    server keeps one list of receive slots per subscriber, index = m-line index, each slot an
 *    audio or video m-line for one publisher or free, and sends it as `subscriberUpdate`
 *    (`connectionId`, `version`, `slots`). The client keeps ONE receive-only peer connection per
 *    `connectionId`: one transceiver per slot in slot order (new slots are added at the end), its
 *    direction `recvonly` when the slot names a publisher and `inactive` when it is free, and sends
 *    `subscriberOffer` with the version it was built from; `subscriberAnswer` echoes it and lists
 *    each m-line's `mid` with the publisher it carries. Slots are never removed: a publisher that
 *    leaves frees its slots (`inactive`), and the next publisher of that kind reuses them, with the
 *    same SSRC and continuous sequence numbers. One negotiation at a time; an update that arrives
 *    meanwhile is offered once the answer is applied. A new `connectionId` (the previous connection
 *    failed to connect within the timeout) means: close the old connection and start a new one.
 * 5. ICE: the server never trickles; its answers carry all its candidates (one host candidate per
 *    configured address, plus a relay candidate per TURN server when the server itself uses TURN,
 *    which needs the UDP mux off). The client MAY trickle with
 *    `candidate` messages, or gather completely before sending its offer (simplest).
 * 6. DTLS: the client is always the DTLS client. The server answers `a=setup:actpass` offers as if
 *    they said `a=setup:active` (i.e. it answers `passive`).
 * 7. Media state: the client sends `mediaState` when it mutes/unmutes itself; everyone else in the
 *    meeting gets `audioUpdate`/`videoUpdate`. A host mute arrives as `muted`; the SFU stops
 *    forwarding that peer's audio until the client sends `mediaState` audio enabled again.
 * 8. Leaving: the client sends `leave` and closes; the server closes the socket after `kicked`.
 *
 * Several servers (docs/cluster.md): a server that does not host the meeting answers the upgrade with
 * `redirect { nodeUrl }` and closes with {@link SignallingCloseCodes}.REDIRECT; the client repeats
 * step 1 at `nodeUrl` with the same token.
 *
 * Liveness: the server sends WebSocket-level pings (browsers answer them automatically) and drops
 * a peer that misses two; `ping`/`pong` messages exist for clients that want an application-level
 * round trip (e.g. to show latency).
 *
 * Errors: a refused or malformed message gets `error { code, message, details? }`, with
 * `details.type` naming the message type it answers when known. `code` is an {@link ErrorCode}.
 * Repeated malformed messages, or one oversized message, close the socket with
 * {@link SignallingCloseCodes}.POLICY_VIOLATION / MESSAGE_TOO_BIG.
 *
 * Differences from RealtimeKit: RealtimeKit's socket protocol is proprietary and not reproduced.
 * Identity follows RealtimeKit: `participantId` is RealtimeKit's participant `id`/`userId` (stable
 * per participant token), `peerId` is per connection (a reconnect or a second tab is a new peer),
 * `customParticipantId` is the integrator's id. Topology differs: one publish peer connection and
 * one receive-only subscribing connection (single mode; or one per remote publisher), all offered by
 * the client.
 *
 * @packageDocumentation
 */
import { ErrorCodes, RtkError } from './errors.js';
import type { ErrorCode } from './errors.js';

/** The HTTP path the server routes WebSocket upgrades for signalling to. */
export const SIGNALLING_PATH = '/ws';
/** The query parameter carrying the participant token on the upgrade request. */
export const SIGNALLING_TOKEN_PARAM = 'authToken';
/** Largest accepted signalling message, in UTF-8 bytes. Larger ones close the socket. */
export const MAX_SIGNALLING_MESSAGE_BYTES = 64 * 1024;
/** Bumped on incompatible changes; sent in `joined`. */
export const SIGNALLING_PROTOCOL_VERSION = 1;

/** WebSocket close codes the server uses. */
export const SignallingCloseCodes = {
  /** Normal close after `leave`. */
  NORMAL: 1000,
  /** The server is shutting down. */
  GOING_AWAY: 1001,
  /** A message was larger than the limit. */
  MESSAGE_TOO_BIG: 1009,
  /** The participant token was missing, invalid or expired, or the meeting refused it. */
  AUTH_FAILED: 4001,
  /** A host removed the peer (after a `kicked` message). */
  KICKED: 4002,
  /** Too many malformed messages. */
  POLICY_VIOLATION: 4003,
  /** The peer missed pings or did not `join` in time. */
  TIMEOUT: 4004,
  /**
   * The meeting is hosted by another server of the cluster: a `redirect` message named it; open the
   * socket there with the same token.
   */
  REDIRECT: 4005,
} as const;
export type SignallingCloseCode = (typeof SignallingCloseCodes)[keyof typeof SignallingCloseCodes];

export type MediaKind = 'audio' | 'video';
/** The publish peer connection's id in `candidate` messages; subscriptions use their `subscriptionId`. */
export const PUBLISH_PC_ID = 'publish';
/** The one subscribing peer connection's id in `candidate` messages (`subscriber: 'single'`). */
export const SUBSCRIBER_PC_ID = 'subscriber';

/**
 * How a peer receives others' media: `perPublisher` (the default; one receive-only peer connection
 * per remote publisher, `subscribe`/`subscribeOffer`/`subscribeAnswer`/`unsubscribe`) or `single`
 * (one receive-only peer connection, renegotiated: `subscriberUpdate`/`subscriberOffer`/
 * `subscriberAnswer`).
 */
export type SubscriberMode = 'perPublisher' | 'single';

/** A participant connection as other peers see it. Hidden peers (e.g. recorders) are never listed. */
export interface PeerInfo {
  /** Per connection; a reconnect gets a new one. */
  peerId: string;
  /** RealtimeKit's participant id (`userId`); the same across reconnects and tabs. */
  participantId: string;
  customParticipantId: string;
  name: string;
  presetName: string;
  audioEnabled: boolean;
  videoEnabled: boolean;
  /** ISO 8601. */
  joinedAt: string;
}

/** The joining peer's own identity, as sent in `joined`. */
export interface SelfInfo {
  peerId: string;
  participantId: string;
  customParticipantId: string;
  name: string;
  presetName: string;
  canProduceAudio: boolean;
  canProduceVideo: boolean;
}

export type RecordingType = 'TRACK' | 'COMPOSITE';
/** One recording of the meeting; `status` is RealtimeKit's recording status string (e.g. RECORDING). */
export interface RecordingInfo {
  id: string;
  type: RecordingType;
  status: string;
  /**
   * Participant ids (`participantId`, not peer ids) of the visible peers present now whose audio this
   * recording captures while its status is RECORDING (a track recording selects people by `user_ids`;
   * hidden peers never appear). Sent again whenever someone joins or leaves while a recording is
   * active. A participant not listed is not recorded by it. Empty for recordings that have ended.
   */
  recordedParticipantIds: string[];
}

// ---------------------------------------------------------------- client → server

/** First message after the socket opens. `audio`/`video`: the peer's initial enabled state. */
export interface JoinMessage {
  type: 'join';
  /** Display name override; the token's name is used when omitted. At most 100 characters. */
  name?: string;
  audio: boolean;
  video: boolean;
  /** How this peer receives others' media. Default `perPublisher`. */
  subscriber?: SubscriberMode;
}
/** SDP offer of the publish peer connection (sendonly audio and/or video). */
export interface PublishOfferMessage {
  type: 'publishOffer';
  sdp: string;
}
/** SDP offer (recvonly transceivers) answering a server `subscribe`. */
export interface SubscribeOfferMessage {
  type: 'subscribeOffer';
  subscriptionId: string;
  sdp: string;
}
/** Offer of the one subscribing connection, built from `subscriberUpdate` `version` (single mode). */
export interface SubscriberOfferMessage {
  type: 'subscriberOffer';
  connectionId: string;
  version: number;
  sdp: string;
}
/**
 * A trickled ICE candidate for one of the client's peer connections. `pcId` is {@link PUBLISH_PC_ID}
 * or a `subscriptionId`. `candidate` is the `candidate:...` attribute value (with or without the
 * `a=` prefix); an empty string marks end of candidates and may be omitted.
 */
export interface CandidateMessage {
  type: 'candidate';
  pcId: string;
  candidate: string;
  sdpMid?: string;
}
/** The client muted or unmuted its own microphone or camera. */
export interface MediaStateMessage {
  type: 'mediaState';
  kind: MediaKind;
  enabled: boolean;
}
/** The client is leaving; the server closes the socket. */
export interface LeaveMessage {
  type: 'leave';
}
/** Application-level ping; answered with `pong` echoing `ts`. */
export interface PingMessage {
  type: 'ping';
  ts?: number;
}

export type ClientMessage =
  | JoinMessage
  | PublishOfferMessage
  | SubscribeOfferMessage
  | SubscriberOfferMessage
  | CandidateMessage
  | MediaStateMessage
  | LeaveMessage
  | PingMessage;
export type ClientMessageType = ClientMessage['type'];

// ---------------------------------------------------------------- server → client

/**
 * An ICE server for the client's peer connections, in the shape of the browser's `RTCIceServer`.
 * TURN credentials are this peer's own; with the TURN REST API they expire (the username starts
 * with the expiry in unix seconds), and a rejoin gets fresh ones.
 */
export interface IceServerInfo {
  urls: string[];
  username?: string;
  credential?: string;
}

/** Answer to `join`. `peers` excludes the joiner itself and hidden peers. */
export interface JoinedMessage {
  type: 'joined';
  protocolVersion: number;
  meetingId: string;
  /** The meeting's title ('' when it has none). */
  meetingTitle: string;
  self: SelfInfo;
  peers: PeerInfo[];
  recordings: RecordingInfo[];
  /**
   * ICE servers for every peer connection of this socket (empty when the server has no TURN relay
   * configured; clients treat a missing field as empty).
   */
  iceServers: IceServerInfo[];
}
export interface PublishAnswerMessage {
  type: 'publishAnswer';
  sdp: string;
}
/** A remote peer publishes: create a recvonly peer connection for it and send `subscribeOffer`. */
export interface SubscribeMessage {
  type: 'subscribe';
  subscriptionId: string;
  peerId: string;
  /** Kinds to offer as recvonly transceivers, in this order. */
  kinds: MediaKind[];
}
export interface SubscribeAnswerMessage {
  type: 'subscribeAnswer';
  subscriptionId: string;
  sdp: string;
}
/** The publisher behind a subscription left: close that peer connection. */
export interface UnsubscribeMessage {
  type: 'unsubscribe';
  subscriptionId: string;
  peerId: string;
}
/** One receive slot of the subscribing connection: m-line `index` for `kind`, a publisher's or free. */
export interface SubscriberSlot {
  kind: MediaKind;
  /** The publisher whose media the slot carries; null when free (offer it `inactive`). */
  peerId: string | null;
}
/**
 * The subscribing connection's slots changed (single mode): offer them (`subscriberOffer`). A
 * `connectionId` not seen before replaces the previous connection: close it and start anew.
 */
export interface SubscriberUpdateMessage {
  type: 'subscriberUpdate';
  connectionId: string;
  /** Grows with every change of this connection's slots. */
  version: number;
  /** By m-line index; only ever grows (free slots are reused, never removed). */
  slots: SubscriberSlot[];
}
/** One m-line of a subscriber answer: its `mid`, and the publisher it carries (null: inactive). */
export interface SubscriberTrack {
  mid: string;
  kind: MediaKind;
  peerId: string | null;
}
/** Answer to `subscriberOffer`; `tracks` maps each answered m-line's mid to its publisher. */
export interface SubscriberAnswerMessage {
  type: 'subscriberAnswer';
  connectionId: string;
  version: number;
  sdp: string;
  tracks: SubscriberTrack[];
}
export interface PeerJoinedMessage {
  type: 'peerJoined';
  peer: PeerInfo;
}
export type PeerLeftReason = 'left' | 'kicked' | 'disconnected' | 'error';
export interface PeerLeftMessage {
  type: 'peerLeft';
  peerId: string;
  participantId: string;
  reason: PeerLeftReason;
}
/** A peer's microphone state changed; `byHost` when a host muted it. */
export interface AudioUpdateMessage {
  type: 'audioUpdate';
  peerId: string;
  enabled: boolean;
  byHost: boolean;
}
export interface VideoUpdateMessage {
  type: 'videoUpdate';
  peerId: string;
  enabled: boolean;
  byHost: boolean;
}
/** A host muted this peer. The client should disable its microphone; the SFU already drops it. */
export interface MutedMessage {
  type: 'muted';
  kind: MediaKind;
  reason: 'muted by host';
}
/** A host removed this peer; the server closes the socket right after. */
export interface KickedMessage {
  type: 'kicked';
  reason: string;
}
/**
 * The meeting's recordings changed, or who they capture did (a peer joined or left while a recording
 * was active); the full current list.
 */
export interface RecordingUpdateMessage {
  type: 'recordingUpdate';
  recordings: RecordingInfo[];
}
export interface PongMessage {
  type: 'pong';
  ts?: number;
}
/**
 * Sent instead of `joined` (before the client's `join` is read) when the meeting's live session is
 * hosted by another server of the cluster; the socket then closes with
 * {@link SignallingCloseCodes}.REDIRECT. The client opens `/ws` at `nodeUrl` (that server's
 * PUBLIC_URL, http(s)) with the same participant token: tokens are valid on every node.
 */
export interface RedirectMessage {
  type: 'redirect';
  nodeUrl: string;
  nodeId: string;
}
/** A request failed or a message was refused. `details.type` names the message it answers. */
export interface ErrorMessage {
  type: 'error';
  code: ErrorCode;
  message: string;
  details?: Record<string, unknown>;
}

export type ServerMessage =
  | JoinedMessage
  | PublishAnswerMessage
  | SubscribeMessage
  | SubscribeAnswerMessage
  | UnsubscribeMessage
  | SubscriberUpdateMessage
  | SubscriberAnswerMessage
  | PeerJoinedMessage
  | PeerLeftMessage
  | AudioUpdateMessage
  | VideoUpdateMessage
  | MutedMessage
  | KickedMessage
  | RecordingUpdateMessage
  | PongMessage
  | RedirectMessage
  | ErrorMessage;
export type ServerMessageType = ServerMessage['type'];

// ---------------------------------------------------------------- parsing

/** Limits on individual fields, beyond the overall message size. */
export const SignallingLimits = {
  nameChars: 100,
  idChars: 64,
  candidateChars: 1024,
  sdpMidChars: 32,
} as const;

const encoder = new TextEncoder();

/** UTF-8 size of a string, computed only when the string could exceed `limit`. */
function exceedsBytes(raw: string, limit: number): boolean {
  if (raw.length * 3 <= limit) return false;
  if (raw.length > limit) return true;
  return encoder.encode(raw).length > limit;
}

function invalid(field: string, problem: string, type?: string): RtkError {
  return new RtkError(
    'SIGNALLING_INVALID_MESSAGE',
    `${field} ${problem}`,
    type === undefined ? { field } : { field, type },
  );
}

type Obj = Record<string, unknown>;

function str(o: Obj, key: string, type: string, opts: { max?: number; min?: number } = {}): string {
  const v = o[key];
  if (typeof v !== 'string') throw invalid(key, 'must be a string', type);
  if (opts.min !== undefined && v.length < opts.min) throw invalid(key, 'must not be empty', type);
  if (opts.max !== undefined && v.length > opts.max)
    throw invalid(key, `must be at most ${opts.max} characters`, type);
  return v;
}
function optStr(o: Obj, key: string, type: string, max: number): string | undefined {
  return o[key] === undefined ? undefined : str(o, key, type, { max });
}
function bool(o: Obj, key: string, type: string): boolean {
  const v = o[key];
  if (typeof v !== 'boolean') throw invalid(key, 'must be a boolean', type);
  return v;
}
function sdp(o: Obj, type: string): string {
  const v = str(o, 'sdp', type, { min: 1 });
  if (!v.startsWith('v=0'))
    throw invalid('sdp', 'must be an SDP session description starting with v=0', type);
  return v;
}

/**
 * Parses and validates one client message. Unknown extra fields are dropped.
 * @throws RtkError SIGNALLING_MESSAGE_TOO_LARGE when `raw` exceeds `maxBytes`;
 *   SIGNALLING_INVALID_MESSAGE naming the field and the problem otherwise.
 */
export function parseClientMessage(
  raw: string,
  maxBytes: number = MAX_SIGNALLING_MESSAGE_BYTES,
): ClientMessage {
  if (exceedsBytes(raw, maxBytes)) {
    throw new RtkError('SIGNALLING_MESSAGE_TOO_LARGE', `message is larger than ${maxBytes} bytes`, {
      limit: maxBytes,
    });
  }
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    throw invalid('message', 'is not valid JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalid('message', 'must be a JSON object');
  }
  const o = value as Obj;
  if (typeof o.type !== 'string') throw invalid('type', 'must be a string');
  const type = o.type;
  switch (type) {
    case 'join': {
      const name = optStr(o, 'name', type, SignallingLimits.nameChars);
      const msg: JoinMessage = { type, audio: bool(o, 'audio', type), video: bool(o, 'video', type) };
      if (name !== undefined) msg.name = name;
      const mode = o.subscriber;
      if (mode !== undefined) {
        if (mode !== 'perPublisher' && mode !== 'single')
          throw invalid('subscriber', "must be 'perPublisher' or 'single'", type);
        msg.subscriber = mode;
      }
      return msg;
    }
    case 'publishOffer':
      return { type, sdp: sdp(o, type) };
    case 'subscribeOffer':
      return {
        type,
        subscriptionId: str(o, 'subscriptionId', type, { min: 1, max: SignallingLimits.idChars }),
        sdp: sdp(o, type),
      };
    case 'subscriberOffer': {
      const version = o.version;
      if (typeof version !== 'number' || !Number.isInteger(version) || version < 1)
        throw invalid('version', 'must be a positive integer', type);
      return {
        type,
        connectionId: str(o, 'connectionId', type, { min: 1, max: SignallingLimits.idChars }),
        version,
        sdp: sdp(o, type),
      };
    }
    case 'candidate': {
      const msg: CandidateMessage = {
        type,
        pcId: str(o, 'pcId', type, { min: 1, max: SignallingLimits.idChars }),
        candidate: str(o, 'candidate', type, { max: SignallingLimits.candidateChars }),
      };
      const mid = optStr(o, 'sdpMid', type, SignallingLimits.sdpMidChars);
      if (mid !== undefined) msg.sdpMid = mid;
      return msg;
    }
    case 'mediaState': {
      const kind = o.kind;
      if (kind !== 'audio' && kind !== 'video') throw invalid('kind', "must be 'audio' or 'video'", type);
      return { type, kind, enabled: bool(o, 'enabled', type) };
    }
    case 'leave':
      return { type };
    case 'ping': {
      const ts = o.ts;
      if (ts === undefined) return { type };
      if (typeof ts !== 'number' || !Number.isFinite(ts))
        throw invalid('ts', 'must be a finite number', type);
      return { type, ts };
    }
    default:
      throw invalid('type', `'${type.slice(0, 40)}' is not a known client message type`);
  }
}

const serverTypes: ReadonlySet<string> = new Set<ServerMessageType>([
  'joined',
  'publishAnswer',
  'subscribe',
  'subscribeAnswer',
  'unsubscribe',
  'subscriberUpdate',
  'subscriberAnswer',
  'peerJoined',
  'peerLeft',
  'audioUpdate',
  'videoUpdate',
  'muted',
  'kicked',
  'recordingUpdate',
  'pong',
  'redirect',
  'error',
]);

/**
 * Light parser for clients: checks JSON, the object shape and a known `type`; trusts the server for
 * the rest. Unknown types throw so a client notices a protocol mismatch.
 * @throws RtkError SIGNALLING_INVALID_MESSAGE
 */
export function parseServerMessage(raw: string): ServerMessage {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    throw invalid('message', 'is not valid JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalid('message', 'must be a JSON object');
  }
  const type = (value as Obj).type;
  if (typeof type !== 'string' || !serverTypes.has(type)) {
    throw invalid('type', 'is not a known server message type');
  }
  return value as ServerMessage;
}

/** Builds the `error` message for an error thrown while handling a client message. */
export function errorMessage(err: unknown, forType?: string): ErrorMessage {
  const e = err instanceof RtkError ? err : new RtkError('INTERNAL', ErrorCodes.INTERNAL.message);
  const details = { ...(e.details ?? {}), ...(forType === undefined ? {} : { type: forType }) };
  return Object.keys(details).length > 0
    ? { type: 'error', code: e.code, message: e.message, details }
    : { type: 'error', code: e.code, message: e.message };
}
