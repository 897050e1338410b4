import type { Duplex } from 'node:stream';
import type { PeerIdentity, RecordingInfo, ServerMessage, WorkerAdmission } from '@trackroom/protocol';
import type { MediaSource } from '@trackroom/recorder';

/**
 * What a media worker needs of its SFU: the recorder's media source (peers, tap, media events) plus
 * signalling admission and host actions. `Sfu` of `@trackroom/sfu` is one; unit tests pass a fake.
 */
export interface WorkerSfu extends MediaSource {
  handleUpgrade(
    req: WorkerAdmission['request'],
    socket: Duplex,
    head: Buffer,
    admission?: { identity: PeerIdentity; recordings: RecordingInfo[] },
  ): void;
  kick(meetingId: string, peerIds?: string[]): string[];
  muteAudio(meetingId: string, peerIds?: string[]): string[];
  broadcast(meetingId: string, msg: ServerMessage): void;
  stats(): object;
  close(): Promise<void>;
}
