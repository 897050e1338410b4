import type { Duplex } from 'node:stream';
import {
  RtkError,
  TypedEmitter,
  type MediaEvents,
  type MediaPeer,
  type PeerIdentity,
  type RecordingInfo,
  type ServerMessage,
  type WorkerAdmission,
} from '@trackroom/protocol';
import type { WorkerSfu } from '../worker-sfu.js';

/**
 * An SFU without media for tests of the worker plumbing: an admitted socket becomes a joined peer
 * at once (and gets a one-line answer), kick and mute act on those peers, `kick` of an unknown
 * meeting fails with NOT_FOUND and details (to see errors cross a process boundary).
 */
export class FakeSfu extends TypedEmitter<MediaEvents> implements WorkerSfu {
  readonly #peers = new Map<string, MediaPeer>();
  readonly broadcasts: { meetingId: string; msg: ServerMessage }[] = [];
  closed = false;

  handleUpgrade(
    _req: WorkerAdmission['request'],
    socket: Duplex,
    _head: Buffer,
    admission?: { identity: PeerIdentity; recordings: RecordingInfo[] },
  ): void {
    if (!admission) throw new RtkError('TOKEN_INVALID');
    const id = admission.identity;
    const peer: MediaPeer = {
      meetingId: id.meetingId,
      peerId: `peer-${this.#peers.size + 1}`,
      participantId: id.participantId,
      customParticipantId: id.customParticipantId,
      name: id.name,
      presetName: id.presetName,
      hidden: id.hidden,
      joinedAt: Date.now(),
      tracks: {},
      enabled: { audio: true, video: false },
    };
    this.#peers.set(peer.peerId, peer);
    socket.end(`joined ${peer.peerId} pid ${process.pid}\n`);
    this.emit('peerJoined', peer);
  }

  peers(meetingId: string): MediaPeer[] {
    return [...this.#peers.values()].filter((p) => p.meetingId === meetingId);
  }

  tap(): () => void {
    return () => undefined;
  }

  kick(meetingId: string, peerIds?: string[]): string[] {
    const targets = this.peers(meetingId).filter((p) => !peerIds || peerIds.includes(p.peerId));
    if (targets.length === 0)
      throw new RtkError('NOT_FOUND', `nobody to kick in ${meetingId}`, { meetingId });
    for (const p of targets) {
      this.#peers.delete(p.peerId);
      this.emit('peerLeft', { ...p, at: Date.now(), reason: 'kicked' });
    }
    return targets.map((p) => p.peerId);
  }

  muteAudio(meetingId: string, peerIds?: string[]): string[] {
    return this.peers(meetingId)
      .filter((p) => !peerIds || peerIds.includes(p.peerId))
      .map((p) => p.peerId);
  }

  broadcast(meetingId: string, msg: ServerMessage): void {
    this.broadcasts.push({ meetingId, msg });
  }

  stats(): Record<string, number> {
    return { peers: this.#peers.size };
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}
