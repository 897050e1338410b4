/**
 * The join page's script: `GET /join?authToken=<participant token>[&audio=0][&video=1][&name=..]`
 * joins at once, lists participants with a speaking indicator (WebAudio level per participant),
 * offers mute/unmute, camera and leave buttons, and shows the recording state: the meeting's, and
 * whether each person (you included) is being recorded right now. When something stands in the way
 * (no microphone on an insecure page, a blocked microphone, a bad link, a host removing you) it says
 * so in words and what to do; after leaving it offers to rejoin. Plain DOM.
 *
 * For tests it exposes `window.__trackroom` ({@link TrackroomPageApi}).
 */
import { RealtimeKitClient } from '@trackroom/sdk';
import type { Logger, MediaPermission, RemoteParticipant, RoomLeftState } from '@trackroom/sdk';
import { SpeakingDetector, dominantFrequency, rms } from './audio-analysis.js';
import type { ParticipantAnalysis, TrackroomPageApi } from './page-api.js';
import { consentLine, explainMediaConnection, explainMicrophone, explainOutside } from './page-messages.js';
import type { PageMessage } from './page-messages.js';

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

// ------------------------------------------------------------------ icons

// Inline SVG (24x24 viewBox, drawn in currentColor): no emoji font needed.
const ICONS = {
  mic: 'M12 14a3 3 0 0 0 3-3V5a3 3 0 0 0-6 0v6a3 3 0 0 0 3 3zm5-3a5 5 0 0 1-10 0H5a7 7 0 0 0 6 6.92V21h2v-3.08A7 7 0 0 0 19 11h-2z',
  'mic-off':
    'M19 11h-2a5 5 0 0 1-.7 2.54l1.46 1.46A6.96 6.96 0 0 0 19 11zm-4 .17V5a3 3 0 0 0-5.94-.6L15 10.34v.83zM4.27 3 3 4.27l6 6V11a3 3 0 0 0 4.52 2.6l1.53 1.53A5 5 0 0 1 7 11H5a7 7 0 0 0 6 6.92V21h2v-3.08a6.9 6.9 0 0 0 3.5-1.4L19.73 21 21 19.73 4.27 3z',
  rec: 'M12 5a7 7 0 1 0 0 14 7 7 0 0 0 0-14z',
  warn: 'M1 21h22L12 2 1 21zm12-3h-2v-2h2v2zm0-4h-2v-4h2v4z',
} as const;
type IconName = keyof typeof ICONS;

function icon(name: IconName): SVGSVGElement {
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('aria-hidden', 'true');
  svg.setAttribute('class', `icon icon-${name}`);
  const path = document.createElementNS(ns, 'path');
  path.setAttribute('d', ICONS[name]);
  path.setAttribute('fill', 'currentColor');
  svg.append(path);
  return svg;
}

/** Replaces an element's content with an icon and a text. */
function label(target: HTMLElement, name: IconName | undefined, text: string): void {
  target.replaceChildren(...(name ? [icon(name), ' '] : []), text);
}

// ------------------------------------------------------------------ page

interface Row {
  li: HTMLLIElement;
  name: HTMLSpanElement;
  mic: HTMLSpanElement;
  rec: HTMLSpanElement;
  meter: HTMLMeterElement;
  video: HTMLVideoElement;
  tap: AudioTap | undefined;
}

const api: TrackroomPageApi = {
  meeting: undefined,
  state: 'init',
  error: undefined,
  joinMs: undefined,
  joins: 0,
  mediaState: { producing: 'new', consuming: 'new' },
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
/** The meeting object of the current attempt (a rejoin makes a new one). */
let current: RealtimeKitClient | undefined;
let timer: ReturnType<typeof setInterval> | undefined;

function setStatus(state: string, text: string): void {
  api.state = state;
  byId('status').textContent = text;
  document.body.dataset.state = state;
}

/** The microphone state to show: a device the page cannot use counts even before asking. */
function microphonePermission(meeting: RealtimeKitClient): MediaPermission {
  if (!(navigator.mediaDevices as MediaDevices | undefined)) return 'UNAVAILABLE';
  return meeting.self.mediaPermissions.audio;
}

function micProblem(meeting: RealtimeKitClient): PageMessage | undefined {
  if (meeting.self.audioEnabled) return undefined;
  return explainMicrophone(microphonePermission(meeting), window.isSecureContext);
}

function showPanel(id: 'outside' | 'mic-problem' | 'media-problem', msg: PageMessage | undefined): void {
  const panel = byId(id);
  panel.hidden = msg === undefined;
  byId(`${id}-title`).textContent = msg?.title ?? '';
  byId(`${id}-text`).textContent = msg?.text ?? '';
}

function renderRecording(meeting: RealtimeKitClient): void {
  const badge = byId('recording');
  const state = meeting.recording.recordingState;
  badge.dataset.state = state;
  if (state === 'IDLE') {
    badge.hidden = true;
    badge.replaceChildren();
  } else {
    const types = [...new Set(meeting.recording.activeRecordings.map((r) => r.type.toLowerCase()))];
    const text =
      state === 'RECORDING' ? 'Recording' : state === 'PAUSED' ? 'Recording paused' : state.toLowerCase();
    badge.hidden = false;
    label(badge, 'rec', `${text}${types.length > 0 ? ` (${types.join(', ')})` : ''}`);
  }
  const consent = consentLine(meeting.self, meeting.recording.recordings, state);
  const line = byId('consent');
  line.dataset.recorded = String(consent.recorded);
  label(line, consent.recorded ? 'rec' : undefined, consent.text);
}

function syncRow(p: RemoteParticipant): void {
  let row = rows.get(p.id);
  if (!row) {
    const name = el('span', { className: 'name' });
    const mic = el('span', { className: 'mic' });
    const rec = el('span', { className: 'rec' });
    const meter = el('meter', { min: 0, max: 0.3, value: 0, className: 'level' });
    const video = el('video', { autoplay: true, muted: true, playsInline: true, hidden: true });
    const li = el('li', {}, name, ' ', mic, ' ', rec, ' ', meter, video);
    li.dataset.peerId = p.id;
    li.dataset.userId = p.userId;
    byId('participants').append(li);
    row = { li, name, mic, rec, meter, video, tap: undefined };
    rows.set(p.id, row);
  }
  row.name.textContent = p.name || p.userId;
  label(row.mic, p.audioEnabled ? 'mic' : 'mic-off', p.audioEnabled ? 'on' : 'muted');
  row.li.dataset.audio = String(p.audioEnabled);
  row.li.dataset.recorded = String(p.isBeingRecorded);
  row.rec.hidden = !p.isBeingRecorded;
  label(row.rec, 'rec', 'being recorded');
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
  const problem = micProblem(meeting);
  byId('self-name').textContent = `${self.name || 'You'} (you)`;
  label(
    byId('self-mic'),
    self.audioEnabled ? 'mic' : 'mic-off',
    self.audioEnabled ? 'Microphone on' : problem ? 'No microphone' : 'Muted',
  );
  byId('self').dataset.audio = String(self.audioEnabled);
  const mute = byId<HTMLButtonElement>('mute');
  const unavailable = microphonePermission(meeting) === 'UNAVAILABLE';
  mute.disabled = unavailable;
  mute.textContent = self.audioEnabled
    ? 'Mute'
    : unavailable
      ? 'Microphone unavailable'
      : problem
        ? 'Try the microphone again'
        : 'Unmute';
  const camera = byId<HTMLButtonElement>('camera');
  camera.disabled = unavailable;
  camera.textContent = self.videoEnabled ? 'Stop camera' : 'Start camera';
  showPanel('mic-problem', problem);
  const media = explainMediaConnection(meeting.meta.mediaState, meeting.meta.relayOffered);
  api.mediaState = { ...meeting.meta.mediaState };
  showPanel('media-problem', media);
  if (api.state === 'joined')
    byId('status').textContent = media
      ? 'In the meeting, but without audio'
      : problem
        ? 'In the meeting, listening only'
        : 'In the meeting';
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

/** Not (or no longer) in the meeting: say why, hide the room, offer to rejoin when that can help. */
function showOutside(state: RoomLeftState | 'no-token', code?: string): void {
  const msg = explainOutside(state, code);
  setStatus(state === 'no-token' ? 'error' : state, msg.title);
  showPanel('outside', msg);
  showPanel('mic-problem', undefined);
  showPanel('media-problem', undefined);
  byId('room').hidden = true;
  byId('recording').hidden = true;
  const rejoin = byId<HTMLButtonElement>('rejoin');
  rejoin.hidden = !msg.rejoin;
  rejoin.disabled = false;
}

function closeRoom(): void {
  for (const id of [...rows.keys()]) removeRow(id);
  selfTap?.close();
  selfTap = undefined;
  clearInterval(timer);
  timer = undefined;
}

/** One attempt to be in the meeting: a new meeting object (the SDK's cannot join twice). */
async function start(authToken: string): Promise<void> {
  closeRoom();
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
  current = meeting;
  api.meeting = meeting;
  api.error = undefined;
  const live = (fn: () => void) => () => {
    if (current === meeting) fn();
  };

  const joined = meeting.participants.joined;
  joined.on('participantJoined', syncRow);
  joined.on('participantLeft', (p) => removeRow(p.id));
  joined.on('audioUpdate', syncRow);
  joined.on('videoUpdate', syncRow);
  joined.on('beingRecordedUpdate', syncRow);
  const self = meeting.self;
  const rerender = live(() => renderSelf(meeting));
  self.on('audioUpdate', rerender);
  self.on('videoUpdate', rerender);
  self.on('mediaPermissionUpdate', rerender);
  self.on(
    'beingRecordedUpdate',
    live(() => renderRecording(meeting)),
  );
  self.on('mutedByHost', () => {
    byId('notice').textContent = 'A host muted your microphone. Unmute to speak again.';
  });
  self.on('roomJoined', ({ reconnected }) => {
    api.joinMs ??= Math.round(performance.now() - t0);
    api.joins++;
    const title = meeting.meta.meetingTitle;
    if (title) {
      byId('title').textContent = title;
      document.title = title;
    }
    setStatus('joined', reconnected ? 'Rejoined' : 'In the meeting');
    byId('room').hidden = false;
    showPanel('outside', undefined);
    renderSelf(meeting);
    renderRecording(meeting);
  });
  self.on('roomLeft', ({ state }) => {
    closeRoom();
    showOutside(state);
  });
  meeting.meta.on('mediaConnectionUpdate', rerender);
  meeting.meta.on('socketConnectionUpdate', ({ state, reconnectionAttempt }) => {
    if (state === 'reconnecting') setStatus('reconnecting', `Reconnecting (attempt ${reconnectionAttempt})…`);
  });
  meeting.recording.on(
    'recordingsUpdate',
    live(() => renderRecording(meeting)),
  );

  timer = setInterval(() => tick(meeting), 100);
  setStatus('joining', 'Joining…');
  byId('notice').textContent = '';
  try {
    await meeting.join();
  } catch (err) {
    api.error = String(err);
    const code = (err as { code?: unknown }).code;
    // roomLeft already showed the state; the error's code tells a bad link from an expired one.
    const state = self.roomState;
    showOutside(
      state === 'left' || state === 'kicked' || state === 'rejected' || state === 'disconnected'
        ? state
        : 'failed',
      typeof code === 'string' ? code : undefined,
    );
  }
}

function main(): void {
  const authToken = params.get('authToken');
  if (!authToken) {
    api.error = 'missing authToken';
    showOutside('no-token');
    return;
  }
  const run = (what: string, fn: (m: RealtimeKitClient) => Promise<void>) => () => {
    ctx();
    const m = current;
    if (!m) return;
    fn(m).catch((err: unknown) => {
      byId('notice').textContent = `${what}: ${err instanceof Error ? err.message : String(err)}`;
      if (current === m) renderSelf(m);
    });
  };
  byId('mute').addEventListener(
    'click',
    run('The microphone did not start', (m) =>
      m.self.audioEnabled ? m.self.disableAudio() : m.self.enableAudio(),
    ),
  );
  byId('camera').addEventListener(
    'click',
    run('The camera did not start', (m) =>
      m.self.videoEnabled ? m.self.disableVideo() : m.self.enableVideo(),
    ),
  );
  byId('leave').addEventListener(
    'click',
    run('Leaving failed', (m) => m.leave()),
  );
  byId('rejoin').addEventListener('click', () => {
    ctx();
    byId<HTMLButtonElement>('rejoin').disabled = true;
    start(authToken).catch(fail);
  });
  start(authToken).catch(fail);
}

function fail(err: unknown): void {
  api.error = String(err);
  setStatus('error', `Something went wrong: ${String(err)}. Reload the page to try again.`);
}

main();
