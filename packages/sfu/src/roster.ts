/**
 * Who is in which meeting: joined peers by meeting, listing them, broadcasting to them, and the
 * announcements of joins, leaves and media state (signalling messages to the others, media events
 * to the SFU's consumers). Hidden peers are members but are never listed or announced.
 */
import { SIGNALLING_PROTOCOL_VERSION } from '@trackroom/protocol';
import type {
  IceServerInfo,
  MediaKind,
  MediaPeer,
  PeerInfo,
  PeerLeftReason,
  RecordingInfo,
  ServerMessage,
} from '@trackroom/protocol';
import type { PeerSession } from './peer-session.js';
import type { EmitMedia } from './sfu-types.js';

export class Roster {
  /** Joined peers by meeting, then by peer id. */
  readonly #meetings = new Map<string, Map<string, PeerSession>>();
  /** The last `recordingUpdate` broadcast per meeting with peers. */
  readonly #recordings = new Map<string, RecordingInfo[]>();
  readonly #emit: EmitMedia;
  readonly #iceServersFor: (peerId: string) => IceServerInfo[];

  /** @param iceServersFor the ICE servers (TURN, with that peer's credentials) sent in a peer's `joined` */
  constructor(emit: EmitMedia, iceServersFor: (peerId: string) => IceServerInfo[] = () => []) {
    this.#emit = emit;
    this.#iceServersFor = iceServersFor;
  }

  get meetingCount(): number {
    return this.#meetings.size;
  }

  get peerCount(): number {
    let n = 0;
    for (const m of this.#meetings.values()) n += m.size;
    return n;
  }

  get(meetingId: string, peerId: string): PeerSession | undefined {
    return this.#meetings.get(meetingId)?.get(peerId);
  }

  /** The joined peers of a meeting, hidden ones included. */
  members(meetingId: string): Iterable<PeerSession> {
    return this.#meetings.get(meetingId)?.values() ?? [];
  }

  /** The peers named (all of the meeting when `peerIds` is omitted); unknown ids are skipped. */
  select(meetingId: string, peerIds: string[] | undefined): PeerSession[] {
    const m = this.#meetings.get(meetingId);
    if (!m) return [];
    if (!peerIds) return [...m.values()];
    return peerIds.map((id) => m.get(id)).filter((p): p is PeerSession => p !== undefined);
  }

  /** Visible peers as signalling lists them. */
  list(meetingId: string): PeerInfo[] {
    return [...this.members(meetingId)].filter((p) => !p.identity?.hidden).map((p) => p.info());
  }

  /** Every peer's media view, hidden ones included. */
  mediaPeers(meetingId: string): MediaPeer[] {
    return [...this.members(meetingId)].flatMap((p) => p.media ?? []);
  }

  /** The recordings for a `joined` when nothing else says: the last broadcast. */
  recordings(meetingId: string): RecordingInfo[] {
    return this.#recordings.get(meetingId) ?? [];
  }

  /** Sends to every joined peer of the meeting (but `except`). A `recordingUpdate` is remembered. */
  broadcast(meetingId: string, msg: ServerMessage, except?: PeerSession): void {
    const m = this.#meetings.get(meetingId);
    if (!m) return;
    if (msg.type === 'recordingUpdate') this.#recordings.set(meetingId, msg.recordings);
    const data = JSON.stringify(msg);
    for (const p of m.values()) if (p !== except) p.sendRaw(data);
  }

  /**
   * Adds a peer that just joined (state `joined`): it gets `joined`, the visible others get
   * `peerJoined`, consumers get `peerJoined`. Returns the peers that were there before.
   */
  join(peer: PeerSession, meetingTitle: string, recordings: RecordingInfo[]): PeerSession[] {
    const id = peer.identity;
    const media = peer.media;
    if (!id || !media) return [];
    let m = this.#meetings.get(id.meetingId);
    if (!m) {
      m = new Map();
      this.#meetings.set(id.meetingId, m);
    }
    const others = [...m.values()];
    m.set(peer.id, peer);
    peer.send({
      type: 'joined',
      protocolVersion: SIGNALLING_PROTOCOL_VERSION,
      meetingId: id.meetingId,
      meetingTitle,
      self: {
        peerId: peer.id,
        participantId: id.participantId,
        customParticipantId: id.customParticipantId,
        name: peer.name,
        presetName: id.presetName,
        canProduceAudio: id.canProduceAudio,
        canProduceVideo: id.canProduceVideo,
      },
      peers: others.filter((p) => !p.identity?.hidden).map((p) => p.info()),
      recordings,
      iceServers: this.#iceServersFor(peer.id),
    });
    peer.log.info({ hidden: id.hidden }, 'peer joined');
    this.#emit('peerJoined', media);
    if (!id.hidden) {
      const data = JSON.stringify({ type: 'peerJoined', peer: peer.info() } satisfies ServerMessage);
      for (const o of others) o.sendRaw(data);
    }
    return others;
  }

  /** Removes a peer that was joined: the visible others get `peerLeft`, consumers get `peerLeft`. */
  leave(peer: PeerSession, media: MediaPeer, reason: PeerLeftReason): void {
    const m = this.#meetings.get(media.meetingId);
    m?.delete(peer.id);
    if (m && m.size === 0) {
      this.#meetings.delete(media.meetingId);
      this.#recordings.delete(media.meetingId);
    }
    if (!media.hidden && m) {
      const data = JSON.stringify({
        type: 'peerLeft',
        peerId: peer.id,
        participantId: media.participantId,
        reason,
      } satisfies ServerMessage);
      for (const other of m.values()) other.sendRaw(data);
    }
    peer.log.info({ reason }, 'peer left');
    this.#emit('peerLeft', {
      meetingId: media.meetingId,
      peerId: peer.id,
      participantId: media.participantId,
      customParticipantId: media.customParticipantId,
      hidden: media.hidden,
      at: Date.now(),
      reason,
    });
  }

  /** A joined peer's media state changed: the visible others get the update, consumers `mediaEnabled`. */
  announceMediaState(peer: PeerSession, media: MediaPeer, kind: MediaKind, byHost: boolean): void {
    const enabled = media.enabled[kind];
    if (!media.hidden) {
      const msg: ServerMessage =
        kind === 'audio'
          ? { type: 'audioUpdate', peerId: peer.id, enabled, byHost }
          : { type: 'videoUpdate', peerId: peer.id, enabled, byHost };
      this.broadcast(media.meetingId, msg, peer);
    }
    peer.log.info({ kind, enabled, byHost }, 'media state changed');
    this.#emit('mediaEnabled', {
      meetingId: media.meetingId,
      peerId: peer.id,
      kind,
      enabled,
      byHost,
      at: Date.now(),
    });
  }
}
