/**
 * `meeting.self`: the local participant. Owns the local microphone and camera tracks; what happens to
 * them on the wire (replaceTrack on the publish connection, `mediaState` to the server) goes through
 * an injected {@link LocalMediaSink} so this class stays free of signalling.
 */
import { RtkError, TypedEmitter } from '@trackroom/protocol';
import type { Logger, MediaKind, SelfInfo } from '@trackroom/protocol';

export type RoomLeftState = 'left' | 'kicked' | 'disconnected' | 'failed' | 'rejected';
export type RoomState = 'init' | 'joining' | 'joined' | 'reconnecting' | RoomLeftState;

export type SelfEvents = {
  audioUpdate: { audioEnabled: boolean; audioTrack: MediaStreamTrack | undefined };
  videoUpdate: { videoEnabled: boolean; videoTrack: MediaStreamTrack | undefined };
  /** Joined the meeting; `reconnected` when this is a rejoin after the socket dropped. */
  roomJoined: { reconnected: boolean };
  /** Left the meeting for good: `left` (leave()), `kicked`, `rejected` (token refused), `failed`. */
  roomLeft: { state: RoomLeftState };
  /** A host muted this participant's microphone (already disabled locally when this fires). */
  mutedByHost: { kind: MediaKind };
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
  setRoomState(state: 'joining' | 'reconnecting'): void {
    this.#roomState = state;
  }

  /** @internal Final: stops local media and emits `roomLeft` once. */
  setLeft(state: RoomLeftState): void {
    if (this.#roomState === state || this.#isLeft()) return;
    this.#roomState = state;
    this.#sink = undefined;
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
    const gum: GetUserMedia = this.#opts.getUserMedia ?? ((c) => navigator.mediaDevices.getUserMedia(c));
    const stream = await gum(
      kind === 'audio'
        ? { audio: this.#opts.audioConstraints ?? true }
        : { video: this.#opts.videoConstraints ?? true },
    );
    const track = (kind === 'audio' ? stream.getAudioTracks() : stream.getVideoTracks())[0];
    if (!track) throw new RtkError('INTERNAL', `getUserMedia returned no ${kind} track`);
    if (kind === 'audio') this.#audioTrack = track;
    else this.#videoTrack = track;
    return track;
  }

  #serial<T>(work: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(work, work);
    this.#queue = run.catch(() => undefined);
    return run;
  }
}
