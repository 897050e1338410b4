/**
 * The join page's script: `GET /join?authToken=<participant token>[&audio=0][&video=1][&name=..]`
 * joins at once, lists participants with a speaking indicator (WebAudio level per participant),
 * offers mute/unmute, camera and leave buttons, and shows the recording state. Plain DOM.
 *
 * For tests it exposes `window.__trackroom` ({@link TrackroomPageApi}).
 */
import { RealtimeKitClient } from '@trackroom/sdk';
import type { Logger, RemoteParticipant } from '@trackroom/sdk';
import { SpeakingDetector, dominantFrequency, rms } from './audio-analysis.js';
import type { ParticipantAnalysis, TrackroomPageApi } from './page-api.js';

const FFT_SIZE = 8192;
const t0 = performance.now();
const params = new URLSearchParams(location.search);
const flag = (name: string, dflt: boolean): boolean => {
  const v = params.get(name);
  return v === null ? dflt : v === '1' || v === 'true';
};

function consoleLogger(bindings: Record<string, unknown> = {}): Logger {
  const log =
    (level: 'debug' | 'info' | 'warn' | 'error') =>
    (obj: object | string, msg?: string): void => {
      console[level](msg ?? '', typeof obj === 'string' ? obj : { ...bindings, ...obj });
    };
  return {
    debug: log('debug'),
    info: log('info'),
    warn: log('warn'),
    error: log('error'),
    child: (b) => consoleLogger({ ...bindings, ...b }),
  };
}

function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: Partial<HTMLElementTagNameMap[K]> = {},
  ...children: (Node | string)[]
): HTMLElementTagNameMap[K] {
  const e = Object.assign(document.createElement(tag), props);
  e.append(...children);
  return e;
}

function byId<T extends HTMLElement>(id: string): T {
  const e = document.getElementById(id);
  if (!e) throw new Error(`#${id} is missing from the page`);
  return e as T;
}

// ------------------------------------------------------------------ audio analysis

let audioCtx: AudioContext | undefined;
function ctx(): AudioContext {
  audioCtx ??= new AudioContext();
  if (audioCtx.state === 'suspended') void audioCtx.resume();
  return audioCtx;
}
// Autoplay policies may hold audio until a gesture (e.g. when joining without a microphone):
// any click resumes the context and the participants' audio elements.
const taps = new Set<AudioTap>();
document.addEventListener('click', () => {
  void audioCtx?.resume();
  for (const tap of taps) tap.resume();
});

/** One analysed (and played) audio track. */
class AudioTap {
  readonly track: MediaStreamTrack;
  readonly analyser: AnalyserNode;
  readonly detector = new SpeakingDetector();
  readonly #source: MediaStreamAudioSourceNode;
  readonly #element: HTMLAudioElement | undefined;
  readonly #freq: Float32Array<ArrayBuffer>;
  readonly #time: Float32Array<ArrayBuffer>;

  constructor(track: MediaStreamTrack, play: boolean) {
    this.track = track;
    const stream = new MediaStream([track]);
    const c = ctx();
    this.#source = c.createMediaStreamSource(stream);
    this.analyser = c.createAnalyser();
    this.analyser.fftSize = FFT_SIZE;
    this.analyser.smoothingTimeConstant = 0.3;
    this.#source.connect(this.analyser);
    this.#freq = new Float32Array(this.analyser.frequencyBinCount);
    this.#time = new Float32Array(this.analyser.fftSize);
    if (play) {
      // Plays the participant; Chromium also needs remote WebRTC audio attached to a media element
      // before WebAudio sees any samples from it.
      this.#element = el('audio', { autoplay: true });
      this.#element.srcObject = stream;
      this.resume();
    }
    taps.add(this);
  }

  resume(): void {
    if (!this.#element?.paused) return;
    this.#element.play().catch((err: unknown) => console.debug('audio autoplay refused until a click', err));
  }

  measure(): { dominantHz: number; rms: number } {
    this.analyser.getFloatFrequencyData(this.#freq);
    this.analyser.getFloatTimeDomainData(this.#time);
    const level = rms(this.#time);
    return {
      dominantHz:
        level > 1e-4 ? dominantFrequency(this.#freq, this.analyser.context.sampleRate, FFT_SIZE) : 0,
      rms: level,
    };
  }

  close(): void {
    taps.delete(this);
    this.#source.disconnect();
    this.analyser.disconnect();
    if (this.#element) {
      this.#element.pause();
      this.#element.srcObject = null;
    }
  }
}

// ------------------------------------------------------------------ page

interface Row {
  li: HTMLLIElement;
  name: HTMLSpanElement;
  mic: HTMLSpanElement;
  meter: HTMLMeterElement;
  video: HTMLVideoElement;
  tap: AudioTap | undefined;
}

const api: TrackroomPageApi = {
  meeting: undefined,
  state: 'init',
  error: undefined,
  joinMs: undefined,
  analysis: () => {
    const out: Record<string, ParticipantAnalysis> = {};
    const meeting = api.meeting;
    if (!meeting) return out;
    for (const p of meeting.participants.joined.values()) {
      const tap = rows.get(p.id)?.tap;
      const m = tap ? tap.measure() : { dominantHz: 0, rms: 0 };
      out[p.id] = {
        peerId: p.id,
        userId: p.userId,
        name: p.name,
        audioEnabled: p.audioEnabled,
        hasTrack: tap !== undefined,
        dominantHz: m.dominantHz,
        rms: m.rms,
        speaking: tap?.detector.speaking ?? false,
      };
    }
    return out;
  },
};
window.__trackroom = api;

const rows = new Map<string, Row>();
let selfTap: AudioTap | undefined;

function setStatus(state: string, text?: string): void {
  api.state = state;
  byId('status').textContent = text ?? state;
  document.body.dataset.state = state;
}

function renderRecording(meeting: RealtimeKitClient): void {
  const badge = byId('recording');
  const state = meeting.recording.recordingState;
  if (state === 'IDLE') {
    badge.hidden = true;
    badge.textContent = '';
    return;
  }
  const types = [...new Set(meeting.recording.activeRecordings.map((r) => r.type.toLowerCase()))];
  const label =
    state === 'RECORDING' ? 'Recording' : state === 'PAUSED' ? 'Recording paused' : state.toLowerCase();
  badge.hidden = false;
  badge.textContent = `● ${label}${types.length > 0 ? ` (${types.join(', ')})` : ''}`;
  badge.dataset.state = state;
}

function micLabel(enabled: boolean): string {
  return enabled ? '🎤 on' : '🔇 muted';
}

function syncRow(p: RemoteParticipant): void {
  let row = rows.get(p.id);
  if (!row) {
    const name = el('span', { className: 'name' });
    const mic = el('span', { className: 'mic' });
    const meter = el('meter', { min: 0, max: 0.3, value: 0, className: 'level' });
    const video = el('video', { autoplay: true, muted: true, playsInline: true, hidden: true });
    const li = el('li', {}, name, ' ', mic, ' ', meter, video);
    li.dataset.peerId = p.id;
    byId('participants').append(li);
    row = { li, name, mic, meter, video, tap: undefined };
    rows.set(p.id, row);
  }
  row.name.textContent = p.name || p.userId;
  row.mic.textContent = micLabel(p.audioEnabled);
  row.li.dataset.audio = String(p.audioEnabled);
  if (p.audioTrack !== row.tap?.track) {
    row.tap?.close();
    row.tap = p.audioTrack ? new AudioTap(p.audioTrack, true) : undefined;
  }
  const showVideo = p.videoEnabled && p.videoTrack !== undefined;
  if (
    showVideo &&
    !(row.video.srcObject instanceof MediaStream && row.video.srcObject.getTracks()[0] === p.videoTrack)
  ) {
    row.video.srcObject = new MediaStream([p.videoTrack!]);
  }
  if (!showVideo) row.video.srcObject = null;
  row.video.hidden = !showVideo;
}

function removeRow(peerId: string): void {
  const row = rows.get(peerId);
  if (!row) return;
  row.tap?.close();
  row.li.remove();
  rows.delete(peerId);
}

function renderSelf(meeting: RealtimeKitClient): void {
  const self = meeting.self;
  byId('self-name').textContent = self.name || 'you';
  byId('self-mic').textContent = micLabel(self.audioEnabled);
  byId<HTMLButtonElement>('mute').textContent = self.audioEnabled ? 'Mute' : 'Unmute';
  byId<HTMLButtonElement>('camera').textContent = self.videoEnabled ? 'Stop camera' : 'Start camera';
  if (self.audioTrack !== selfTap?.track) {
    selfTap?.close();
    selfTap = self.audioTrack ? new AudioTap(self.audioTrack, false) : undefined;
  }
  const video = byId<HTMLVideoElement>('self-video');
  video.hidden = !self.videoEnabled;
  video.srcObject = self.videoEnabled && self.videoTrack ? new MediaStream([self.videoTrack]) : null;
}

function tick(meeting: RealtimeKitClient): void {
  const now = performance.now();
  for (const [peerId, row] of rows) {
    const p = meeting.participants.joined.get(peerId);
    const level = row.tap && p?.audioEnabled ? row.tap.measure().rms : 0;
    row.meter.value = level;
    const speaking = row.tap ? row.tap.detector.process(level, now) : false;
    row.li.classList.toggle('speaking', speaking);
  }
  const selfLevel = selfTap && meeting.self.audioEnabled ? selfTap.measure().rms : 0;
  byId<HTMLMeterElement>('self-level').value = selfLevel;
  byId('self').classList.toggle('speaking', selfTap?.detector.process(selfLevel, now) ?? false);
}

async function main(): Promise<void> {
  const authToken = params.get('authToken');
  if (!authToken) {
    setStatus('error', 'Missing authToken in the page address.');
    api.error = 'missing authToken';
    return;
  }
  const name = params.get('name');
  const meeting = await RealtimeKitClient.init({
    authToken,
    defaults: { audio: flag('audio', true), video: flag('video', false) },
    // processing=0 turns off echo cancellation, noise suppression and gain control (e.g. for test tones).
    ...(flag('processing', true)
      ? {}
      : {
          mediaConstraints: {
            audio: { echoCancellation: false, noiseSuppression: false, autoGainControl: false },
          },
        }),
    ...(name ? { name } : {}),
    ...(flag('debug', false) ? { logger: consoleLogger() } : {}),
  });
  api.meeting = meeting;

  const joined = meeting.participants.joined;
  joined.on('participantJoined', syncRow);
  joined.on('participantLeft', (p) => removeRow(p.id));
  joined.on('audioUpdate', syncRow);
  joined.on('videoUpdate', syncRow);
  meeting.self.on('audioUpdate', () => renderSelf(meeting));
  meeting.self.on('videoUpdate', () => renderSelf(meeting));
  meeting.self.on('mutedByHost', () => {
    byId('notice').textContent = 'A host muted your microphone.';
  });
  meeting.self.on('roomJoined', ({ reconnected }) => {
    api.joinMs ??= Math.round(performance.now() - t0);
    setStatus('joined', reconnected ? 'Rejoined' : 'In the meeting');
    renderSelf(meeting);
  });
  meeting.self.on('roomLeft', ({ state }) => {
    setStatus(state, state === 'left' ? 'You left the meeting.' : `Disconnected: ${state}`);
    for (const id of [...rows.keys()]) removeRow(id);
    selfTap?.close();
    selfTap = undefined;
    clearInterval(timer);
    for (const b of document.querySelectorAll('button')) b.disabled = true;
  });
  meeting.meta.on('socketConnectionUpdate', ({ state, reconnectionAttempt }) => {
    if (state === 'reconnecting') setStatus('reconnecting', `Reconnecting (attempt ${reconnectionAttempt})…`);
  });
  meeting.recording.on('recordingsUpdate', () => renderRecording(meeting));

  const run = (what: string, fn: () => Promise<void>) => () => {
    ctx();
    fn().catch((err: unknown) => {
      byId('notice').textContent = `${what} failed: ${String(err)}`;
    });
  };
  byId('mute').addEventListener(
    'click',
    run('Microphone', () =>
      meeting.self.audioEnabled ? meeting.self.disableAudio() : meeting.self.enableAudio(),
    ),
  );
  byId('camera').addEventListener(
    'click',
    run('Camera', () =>
      meeting.self.videoEnabled ? meeting.self.disableVideo() : meeting.self.enableVideo(),
    ),
  );
  byId('leave').addEventListener(
    'click',
    run('Leave', () => meeting.leave()),
  );

  const timer = setInterval(() => tick(meeting), 100);
  setStatus('joining', 'Joining…');
  try {
    await meeting.join();
  } catch (err) {
    api.error = String(err);
    if (api.state === 'joining') setStatus('error', `Could not join: ${String(err)}`);
  }
}

main().catch((err: unknown) => {
  api.error = String(err);
  setStatus('error', `Could not start: ${String(err)}`);
});
