/**
 * `meeting.self`: the local participant. Owns the local microphone and camera tracks; what happens to
 * them on the wire (replaceTrack on the publish connection, `mediaState` to the server) goes through
 * an injected {@link LocalMediaSink} so this class stays free of signalling.
 */
import { RtkError, TypedEmitter } from '@trackroom/protocol';
import type { Logger, MediaKind, SelfInfo } from '@trackroom/protocol';

export type RoomLeftState = 'left' | 'kicked' | 'disconnected' | 'failed' | 'rejected';
export type RoomState = 'init' | 'joining' | 'joined' | 'reconnecting' | RoomLeftState;

/**
 * What came of asking for a device (RealtimeKit's `mediaPermissions` values, plus `UNAVAILABLE`):
 * `NOT_REQUESTED` not asked yet; `ACCEPTED`; `DENIED` the user or the site settings refused;
 * `SYSTEM_DENIED` the operating system refused the browser; `COULD_NOT_START` no such device, or it
 * is busy or failed; `UNAVAILABLE` the page cannot ask at all (`navigator.mediaDevices` is missing:
 * an insecure origin, i.e. not https and not localhost).
 */
export type MediaPermission =
  'NOT_REQUESTED' | 'ACCEPTED' | 'DENIED' | 'SYSTEM_DENIED' | 'COULD_NOT_START' | 'UNAVAILABLE';

/** The permission a failed `getUserMedia` means, from the DOMException name (and message). */
export function permissionOfError(err: unknown): MediaPermission {
  const name = err instanceof Error || (typeof err === 'object' && err !== null) ? (err as Error).name : '';
  const message = err instanceof Error ? err.message : '';
  if (name === 'NotAllowedError' || name === 'SecurityError' || name === 'PermissionDeniedError')
    return /system/i.test(message) ? 'SYSTEM_DENIED' : 'DENIED';
  return 'COULD_NOT_START';
}

export type SelfEvents = {
  audioUpdate: { audioEnabled: boolean; audioTrack: MediaStreamTrack | undefined };
  videoUpdate: { videoEnabled: boolean; videoTrack: MediaStreamTrack | undefined };
  /** Joined the meeting; `reconnected` when this is a rejoin after the socket dropped. */
  roomJoined: { reconnected: boolean };
  /** Left the meeting for good: `left` (leave()), `kicked`, `rejected` (token refused), `failed`. */
  roomLeft: { state: RoomLeftState };
  /** A host muted this participant's microphone (already disabled locally when this fires). */
  mutedByHost: { kind: MediaKind };
  /** Asking for a device gave a new answer (`mediaPermissions[kind]` is already `message`). */
  mediaPermissionUpdate: { kind: MediaKind; message: MediaPermission };
  /** A recording started or stopped capturing this participant's audio (see `isBeingRecorded`). */
  beingRecordedUpdate: { isBeingRecorded: boolean };
};

/** Where local media changes go once the participant is connected. */
export interface LocalMediaSink {
  setTrack(kind: MediaKind, track: MediaStreamTrack | null): Promise<void>;
  sendState(kind: MediaKind, enabled: boolean): void;
}

export type GetUserMedia = (constraints: MediaStreamConstraints) => Promise<MediaStream>;

export interface SelfParticipantOptions {
  getUserMedia?: GetUserMedia;
  logger?: Logger;
  audioConstraints?: MediaTrackConstraints | boolean;
  videoConstraints?: MediaTrackConstraints | boolean;
}

export class SelfParticipant extends TypedEmitter<SelfEvents> {
  readonly #opts: SelfParticipantOptions;
  #info: SelfInfo | undefined;
  #nameOverride: string | undefined;
  #audioEnabled = false;
  #videoEnabled = false;
  #audioTrack: MediaStreamTrack | undefined;
  #videoTrack: MediaStreamTrack | undefined;
  #sink: LocalMediaSink | undefined;
  #roomState: RoomState = 'init';
  #beingRecorded = false;
  #permissions: Record<MediaKind, MediaPermission> = { audio: 'NOT_REQUESTED', video: 'NOT_REQUESTED' };
  /** Serialises enable/disable calls so a quick unmute-mute ends in the last requested state. */
  #queue: Promise<unknown> = Promise.resolve();

  constructor(opts: SelfParticipantOptions = {}) {
    super();
    this.#opts = opts;
  }

  /** Peer id of the current connection (RealtimeKit's `id`); '' before joining, new after a reconnect. */
  get id(): string {
    return this.#info?.peerId ?? '';
  }
  /** Participant id (RealtimeKit's `userId`). */
  get userId(): string {
    return this.#info?.participantId ?? '';
  }
  get customParticipantId(): string {
    return this.#info?.customParticipantId ?? '';
  }
  get name(): string {
    return this.#info?.name ?? this.#nameOverride ?? '';
  }
  get presetName(): string {
    return this.#info?.presetName ?? '';
  }
  get permissions(): { canProduceAudio: boolean; canProduceVideo: boolean } {
    return {
      canProduceAudio: this.#info?.canProduceAudio ?? true,
      canProduceVideo: this.#info?.canProduceVideo ?? true,
    };
  }
  get audioEnabled(): boolean {
    return this.#audioEnabled;
  }
  get videoEnabled(): boolean {
    return this.#videoEnabled;
  }
  get audioTrack(): MediaStreamTrack | undefined {
    return this.#audioTrack;
  }
  get videoTrack(): MediaStreamTrack | undefined {
    return this.#videoTrack;
  }
  get roomJoined(): boolean {
    return this.#roomState === 'joined';
  }
  get roomState(): RoomState {
    return this.#roomState;
  }

  /**
   * Whether a recording captures this participant's audio right now. A track recording selects
   * people (`user_ids`), so this can be false while `meeting.recording.recordingState` is RECORDING;
   * it is false while the recording is paused, and after leaving.
   */
  get isBeingRecorded(): boolean {
    return this.#beingRecorded;
  }
  /** What came of asking for the microphone and the camera; see {@link MediaPermission}. */
  get mediaPermissions(): Readonly<Record<MediaKind, MediaPermission>> {
    return { ...this.#permissions };
  }

  /** Sets the display name sent with `join` (before joining only). */
  setName(name: string): void {
    this.#nameOverride = name;
  }

  enableAudio(): Promise<void> {
    return this.#serial(async () => {
      if (this.#info && !this.#info.canProduceAudio)
        throw new RtkError('FORBIDDEN', 'this participant may not produce audio');
      const track = await this.#ensureTrack('audio');
      track.enabled = true;
      if (this.#audioEnabled) return;
      this.#audioEnabled = true;
      await this.#sink?.setTrack('audio', track);
      this.#sink?.sendState('audio', true);
      this.emit('audioUpdate', { audioEnabled: true, audioTrack: track });
    });
  }

  disableAudio(): Promise<void> {
    return this.#serial(async () => this.#disableAudioNow());
  }

  enableVideo(): Promise<void> {
    return this.#serial(async () => {
      if (this.#info && !this.#info.canProduceVideo)
        throw new RtkError('FORBIDDEN', 'this participant may not produce video');
      if (this.#videoEnabled) return;
      const track = await this.#ensureTrack('video');
      this.#videoEnabled = true;
      await this.#sink?.setTrack('video', track);
      this.#sink?.sendState('video', true);
      this.emit('videoUpdate', { videoEnabled: true, videoTrack: track });
    });
  }

  /** Stops the camera (its light goes off) and stops sending video. */
  disableVideo(): Promise<void> {
    return this.#serial(async () => {
      if (!this.#videoEnabled && !this.#videoTrack) return;
      this.#videoTrack?.stop();
      this.#videoTrack = undefined;
      const was = this.#videoEnabled;
      this.#videoEnabled = false;
      await this.#sink?.setTrack('video', null);
      if (was) {
        this.#sink?.sendState('video', false);
        this.emit('videoUpdate', { videoEnabled: false, videoTrack: undefined });
      }
    });
  }

  // ------------------------------------------------------------------ internal, used by the meeting

  /** @internal Acquires the initial media before joining; a refused device leaves it disabled. */
  async prepare(audio: boolean, video: boolean): Promise<void> {
    const wants: MediaKind[] = [];
    if (audio) wants.push('audio');
    if (video) wants.push('video');
    for (const kind of wants) {
      try {
        const track = await this.#ensureTrack(kind);
        track.enabled = true;
        if (kind === 'audio') this.#audioEnabled = true;
        else this.#videoEnabled = true;
      } catch (err) {
        // Joining without the device beats not joining; the app sees the disabled state.
        this.#opts.logger?.warn(
          { kind, err: String(err) },
          'could not get the device; joining with it disabled',
        );
      }
    }
  }

  /** @internal */
  setJoined(info: SelfInfo, reconnected: boolean): void {
    this.#info = info;
    if (!info.canProduceAudio && this.#audioEnabled) this.#disableLocal('audio');
    if (!info.canProduceVideo && this.#videoEnabled) this.#disableLocal('video');
    this.#roomState = 'joined';
    this.emit('roomJoined', { reconnected });
  }

  /** @internal */
  setBeingRecorded(recorded: boolean): void {
    if (recorded === this.#beingRecorded) return;
    this.#beingRecorded = recorded;
    this.emit('beingRecordedUpdate', { isBeingRecorded: recorded });
  }

  /** @internal */
  setRoomState(state: 'joining' | 'reconnecting'): void {
    this.#roomState = state;
  }

  /** @internal Final: stops local media and emits `roomLeft` once. */
  setLeft(state: RoomLeftState): void {
    if (this.#roomState === state || this.#isLeft()) return;
    this.#roomState = state;
    this.#sink = undefined;
    this.setBeingRecorded(false);
    this.#audioTrack?.stop();
    this.#videoTrack?.stop();
    this.emit('roomLeft', { state });
  }

  /** @internal */
  setSink(sink: LocalMediaSink | undefined): void {
    this.#sink = sink;
  }

  /** @internal The server muted us. */
  async onMutedByHost(kind: MediaKind): Promise<void> {
    await this.#serial(async () => {
      if (kind === 'audio') this.#disableAudioNow();
      else {
        this.#videoTrack?.stop();
        this.#videoTrack = undefined;
        if (this.#videoEnabled) {
          this.#videoEnabled = false;
          await this.#sink?.setTrack('video', null);
          this.emit('videoUpdate', { videoEnabled: false, videoTrack: undefined });
        }
      }
    });
    this.emit('mutedByHost', { kind });
  }

  #isLeft(): boolean {
    const s = this.#roomState;
    return s === 'left' || s === 'kicked' || s === 'disconnected' || s === 'failed' || s === 'rejected';
  }

  /** The microphone keeps running muted (`enabled = false` sends silence) so unmuting is instant. */
  #disableAudioNow(): void {
    if (this.#audioTrack) this.#audioTrack.enabled = false;
    if (!this.#audioEnabled) return;
    this.#audioEnabled = false;
    this.#sink?.sendState('audio', false);
    this.emit('audioUpdate', { audioEnabled: false, audioTrack: this.#audioTrack });
  }

  #disableLocal(kind: MediaKind): void {
    if (kind === 'audio') {
      this.#audioTrack?.stop();
      this.#audioTrack = undefined;
      this.#audioEnabled = false;
    } else {
      this.#videoTrack?.stop();
      this.#videoTrack = undefined;
      this.#videoEnabled = false;
    }
  }

  async #ensureTrack(kind: MediaKind): Promise<MediaStreamTrack> {
    const current = kind === 'audio' ? this.#audioTrack : this.#videoTrack;
    if (current && current.readyState === 'live') return current;
    const gum = this.#opts.getUserMedia ?? browserGetUserMedia();
    if (!gum) {
      this.#setPermission(kind, 'UNAVAILABLE');
      throw new RtkError(
        'FORBIDDEN',
        `this page cannot use the ${kind === 'audio' ? 'microphone' : 'camera'}: navigator.mediaDevices ` +
          'is missing (browsers offer it only on https:// or localhost pages)',
      );
    }
    let stream: MediaStream;
    try {
      stream = await gum(
        kind === 'audio'
          ? { audio: this.#opts.audioConstraints ?? true }
          : { video: this.#opts.videoConstraints ?? true },
      );
    } catch (err) {
      this.#setPermission(kind, permissionOfError(err));
      throw err;
    }
    const track = (kind === 'audio' ? stream.getAudioTracks() : stream.getVideoTracks())[0];
    if (!track) {
      this.#setPermission(kind, 'COULD_NOT_START');
      throw new RtkError('INTERNAL', `getUserMedia returned no ${kind} track`);
    }
    this.#setPermission(kind, 'ACCEPTED');
    if (kind === 'audio') this.#audioTrack = track;
    else this.#videoTrack = track;
    return track;
  }

  #setPermission(kind: MediaKind, message: MediaPermission): void {
    if (this.#permissions[kind] === message) return;
    this.#permissions[kind] = message;
    this.emit('mediaPermissionUpdate', { kind, message });
  }

  #serial<T>(work: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(work, work);
    this.#queue = run.catch(() => undefined);
    return run;
  }
}

/** The browser's getUserMedia, or undefined where the page may not use devices (insecure origins). */
function browserGetUserMedia(): GetUserMedia | undefined {
  const devices =
    typeof navigator === 'undefined' ? undefined : (navigator.mediaDevices as MediaDevices | undefined);
  if (!devices || typeof devices.getUserMedia !== 'function') return undefined;
  return (c) => devices.getUserMedia(c);
}
