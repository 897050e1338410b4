/** One remote participant (RealtimeKit's `RTKParticipant`), as seen from this client. */
import { TypedEmitter } from '@trackroom/protocol';
import type { PeerInfo } from '@trackroom/protocol';

export type RemoteParticipantEvents = {
  audioUpdate: { audioEnabled: boolean; audioTrack: MediaStreamTrack | undefined };
  videoUpdate: { videoEnabled: boolean; videoTrack: MediaStreamTrack | undefined };
  /** A recording started or stopped capturing this participant's audio (see `isBeingRecorded`). */
  beingRecordedUpdate: { isBeingRecorded: boolean };
  /** The participant left the meeting (or this client lost sight of it on a reconnect). */
  left: { reason: string };
};

export class RemoteParticipant extends TypedEmitter<RemoteParticipantEvents> {
  /** Peer id: per connection (RealtimeKit's `id`). */
  readonly id: string;
  /** Participant id: stable per participant token (RealtimeKit's `userId`). */
  readonly userId: string;
  readonly customParticipantId: string;
  readonly presetName: string;
  readonly joinedAt: Date;
  #name: string;
  #audioEnabled: boolean;
  #videoEnabled: boolean;
  #audioTrack: MediaStreamTrack | undefined;
  #videoTrack: MediaStreamTrack | undefined;
  #beingRecorded: boolean;

  constructor(info: PeerInfo, beingRecorded = false) {
    super();
    this.id = info.peerId;
    this.userId = info.participantId;
    this.customParticipantId = info.customParticipantId;
    this.presetName = info.presetName;
    this.joinedAt = new Date(info.joinedAt);
    this.#name = info.name;
    this.#audioEnabled = info.audioEnabled;
    this.#videoEnabled = info.videoEnabled;
    this.#beingRecorded = beingRecorded;
  }

  get name(): string {
    return this.#name;
  }
  get audioEnabled(): boolean {
    return this.#audioEnabled;
  }
  get videoEnabled(): boolean {
    return this.#videoEnabled;
  }
  /** The received microphone track, once subscribed (it carries nothing while `audioEnabled` is false). */
  get audioTrack(): MediaStreamTrack | undefined {
    return this.#audioTrack;
  }
  /** The received camera track, once subscribed (it carries nothing while `videoEnabled` is false). */
  get videoTrack(): MediaStreamTrack | undefined {
    return this.#videoTrack;
  }

  /** Whether a recording captures this participant's audio right now (a paused one does not). */
  get isBeingRecorded(): boolean {
    return this.#beingRecorded;
  }

  /** @internal Returns whether it changed (and emitted). */
  setBeingRecorded(recorded: boolean): boolean {
    if (recorded === this.#beingRecorded) return false;
    this.#beingRecorded = recorded;
    this.emit('beingRecordedUpdate', { isBeingRecorded: recorded });
    return true;
  }

  /** @internal Applies a state change; returns whether anything changed (and emitted). */
  setAudio(enabled: boolean, track: MediaStreamTrack | undefined): boolean {
    if (enabled === this.#audioEnabled && track === this.#audioTrack) return false;
    this.#audioEnabled = enabled;
    this.#audioTrack = track;
    this.emit('audioUpdate', { audioEnabled: enabled, audioTrack: track });
    return true;
  }

  /** @internal */
  setVideo(enabled: boolean, track: MediaStreamTrack | undefined): boolean {
    if (enabled === this.#videoEnabled && track === this.#videoTrack) return false;
    this.#videoEnabled = enabled;
    this.#videoTrack = track;
    this.emit('videoUpdate', { videoEnabled: enabled, videoTrack: track });
    return true;
  }

  /** @internal */
  setName(name: string): void {
    this.#name = name;
  }

  toJSON(): Omit<PeerInfo, 'joinedAt' | 'peerId' | 'participantId'> & {
    id: string;
    userId: string;
    joinedAt: string;
    isBeingRecorded: boolean;
  } {
    return {
      id: this.id,
      userId: this.userId,
      customParticipantId: this.customParticipantId,
      name: this.#name,
      presetName: this.presetName,
      audioEnabled: this.#audioEnabled,
      videoEnabled: this.#videoEnabled,
      joinedAt: this.joinedAt.toISOString(),
      isBeingRecorded: this.#beingRecorded,
    };
  }
}
