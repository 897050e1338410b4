/**
 * `meeting.participants.joined`: the remote participants by peer id, kept in step with the
 * signalling messages. A read-only Map-like plus typed events; the meeting feeds it through
 * {@link ParticipantMap.reset}, {@link ParticipantMap.apply} and {@link ParticipantMap.setTrack}.
 */
import { TypedEmitter } from '@trackroom/protocol';
import type { MediaKind, PeerInfo, ServerMessage } from '@trackroom/protocol';
import { RemoteParticipant } from './remote-participant.js';

export type ParticipantMapEvents = {
  participantJoined: RemoteParticipant;
  participantLeft: RemoteParticipant;
  /** A participant's `audioEnabled` or `audioTrack` changed. */
  audioUpdate: RemoteParticipant;
  /** A participant's `videoEnabled` or `videoTrack` changed. */
  videoUpdate: RemoteParticipant;
  /** A participant's `isBeingRecorded` changed. */
  beingRecordedUpdate: RemoteParticipant;
};

export class ParticipantMap
  extends TypedEmitter<ParticipantMapEvents>
  implements ReadonlyMap<string, RemoteParticipant>
{
  readonly #byPeer = new Map<string, RemoteParticipant>();
  #recorded: ReadonlySet<string> = new Set();

  get size(): number {
    return this.#byPeer.size;
  }
  get(peerId: string): RemoteParticipant | undefined {
    return this.#byPeer.get(peerId);
  }
  has(peerId: string): boolean {
    return this.#byPeer.has(peerId);
  }
  keys(): MapIterator<string> {
    return this.#byPeer.keys();
  }
  values(): MapIterator<RemoteParticipant> {
    return this.#byPeer.values();
  }
  entries(): MapIterator<[string, RemoteParticipant]> {
    return this.#byPeer.entries();
  }
  [Symbol.iterator](): MapIterator<[string, RemoteParticipant]> {
    return this.#byPeer.entries();
  }
  forEach(
    cb: (value: RemoteParticipant, key: string, map: ReadonlyMap<string, RemoteParticipant>) => void,
  ): void {
    for (const [k, v] of this.#byPeer) cb(v, k, this);
  }
  toArray(): RemoteParticipant[] {
    return [...this.#byPeer.values()];
  }
  /** The participants with a given participant id (`userId`): several when it joined from two tabs. */
  byUserId(userId: string): RemoteParticipant[] {
    return this.toArray().filter((p) => p.userId === userId);
  }

  /**
   * @internal Replaces the whole list (the `peers` of a `joined`): participants no longer present
   * leave, new ones join, the others keep their object and get their media state updated.
   */
  reset(peers: readonly PeerInfo[]): void {
    const next = new Set(peers.map((p) => p.peerId));
    for (const p of [...this.#byPeer.values()]) if (!next.has(p.id)) this.#remove(p.id, 'disconnected');
    for (const info of peers) {
      const existing = this.#byPeer.get(info.peerId);
      if (!existing) this.#add(info);
      else {
        existing.setName(info.name);
        if (existing.setAudio(info.audioEnabled, existing.audioTrack)) this.emit('audioUpdate', existing);
        if (existing.setVideo(info.videoEnabled, existing.videoTrack)) this.emit('videoUpdate', existing);
      }
    }
  }

  /** @internal Applies one server message; messages about other things are ignored. */
  apply(msg: ServerMessage): void {
    switch (msg.type) {
      case 'joined':
        this.reset(msg.peers);
        return;
      case 'peerJoined':
        if (this.#byPeer.has(msg.peer.peerId)) return;
        this.#add(msg.peer);
        return;
      case 'peerLeft':
        this.#remove(msg.peerId, msg.reason);
        return;
      case 'audioUpdate': {
        const p = this.#byPeer.get(msg.peerId);
        if (p?.setAudio(msg.enabled, p.audioTrack)) this.emit('audioUpdate', p);
        return;
      }
      case 'videoUpdate': {
        const p = this.#byPeer.get(msg.peerId);
        if (p?.setVideo(msg.enabled, p.videoTrack)) this.emit('videoUpdate', p);
        return;
      }
      default:
        return;
    }
  }

  /** @internal A subscription delivered (or lost, with `undefined`) a participant's track. */
  setTrack(peerId: string, kind: MediaKind, track: MediaStreamTrack | undefined): void {
    const p = this.#byPeer.get(peerId);
    if (!p) return;
    if (kind === 'audio') {
      if (p.setAudio(p.audioEnabled, track)) this.emit('audioUpdate', p);
    } else if (p.setVideo(p.videoEnabled, track)) this.emit('videoUpdate', p);
  }

  /**
   * @internal Who is being recorded right now, by participant id: updates every participant and
   * applies to those who join later.
   */
  setRecorded(userIds: ReadonlySet<string>): void {
    this.#recorded = userIds;
    for (const p of [...this.#byPeer.values()])
      if (p.setBeingRecorded(userIds.has(p.userId))) this.emit('beingRecordedUpdate', p);
  }

  /** @internal Everyone leaves (this client left the meeting). */
  clear(reason = 'left'): void {
    for (const id of [...this.#byPeer.keys()]) this.#remove(id, reason);
  }

  #add(info: PeerInfo): void {
    const p = new RemoteParticipant(info, this.#recorded.has(info.participantId));
    this.#byPeer.set(p.id, p);
    this.emit('participantJoined', p);
  }

  #remove(peerId: string, reason: string): void {
    const p = this.#byPeer.get(peerId);
    if (!p) return;
    this.#byPeer.delete(peerId);
    p.setAudio(false, undefined);
    p.setVideo(false, undefined);
    p.emit('left', { reason });
    this.emit('participantLeft', p);
  }
}
