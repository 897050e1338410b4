/**
 * A recording's page: status, the shared time axis (one row per file: level envelope, speaking
 * intervals, present/muted/paused shading, allowlist-change marks, a ruler), click-to-play of every
 * file (or one) from the clicked instant, download links and the manifest.
 */
import { recordingFiles, sameOriginFallback, type ApiRecording, type DashboardApi } from './api-client.js';
import { h, link, svg, when } from './dom.js';
import type { Manifest } from './manifest-types.js';
import { SyncPlayer } from './sync-player.js';
import {
  envelopeFromSamples,
  envelopePath,
  formatMs,
  layoutTimeline,
  timeAtFraction,
  type AxisSpan,
  type TimelineLayout,
} from './timeline-layout.js';

export interface RecordingViewHooks {
  /** Called with the player once the page is built (the page exposes it for tests). */
  onPlayer?(player: SyncPlayer, layout: TimelineLayout): void;
}

export async function renderRecording(
  root: HTMLElement,
  api: DashboardApi,
  appId: string,
  recordingId: string,
  hooks: RecordingViewHooks = {},
): Promise<void> {
  const rec = await api.recording(appId, recordingId);
  root.replaceChildren(
    h(
      'p',
      { class: 'crumbs' },
      link(`/apps/${appId}/recordings`, '← Recordings'),
      ' · ',
      link(`/apps/${appId}/meetings/${rec.meeting_id}`, 'Meeting'),
    ),
    h('h2', {}, `Recording ${rec.id}`),
    summary(rec),
  );
  const files = recordingFiles(rec);
  if (!rec.manifest_url) {
    root.append(
      h(
        'p',
        { class: 'note', role: 'status' },
        rec.status === 'UPLOADED'
          ? 'This recording has no manifest.'
          : `Files and the timeline appear once the recording is UPLOADED (now ${rec.status}).`,
      ),
    );
    return;
  }
  const manifest = await loadManifest(rec.manifest_url);
  const layout = layoutTimeline(manifest);
  // The ids of the allowlist by the names the files give them (custom ids), once the manifest says.
  const names = new Map(manifest.files.map((f) => [f.participant_id, f.custom_participant_id]));
  const users = document.getElementById('recorded-users');
  if (users && rec.user_ids?.length)
    users.textContent = rec.user_ids.map((u) => (names.get(u) ? `${names.get(u)} (${u})` : u)).join(', ');
  const urlOf = new Map(files.map((f) => [f.fileName, f.url]));

  const audios = layout.rows.map((r) => {
    const src = urlOf.get(r.fileName);
    const el = h('audio', { preload: 'auto', 'data-file': r.fileName, ...(src ? { src } : {}) });
    // The link's host cannot be reached from here: the same link on this origin (once).
    const fallback = src ? sameOriginFallback(src, location.origin) : undefined;
    if (fallback) el.addEventListener('error', () => (el.src = fallback), { once: true });
    return el;
  });
  const player = new SyncPlayer(
    layout.rows.map((r, i) => ({
      fileName: r.fileName,
      fileStartMs: r.fileStartMs,
      fileEndMs: r.fileEndMs,
      el: audios[i]!,
    })),
  );

  const timeline = h('div', { class: 'timeline', id: 'timeline', 'data-duration-ms': layout.durationMs });
  const playheads: HTMLElement[] = [];
  const playhead = () => {
    const p = h('div', { class: 'tl-playhead', hidden: true });
    playheads.push(p);
    return p;
  };
  const clock = h('span', { id: 'clock', class: 'clock' }, `0:00.0 / ${formatMs(layout.durationMs, true)}`);
  const onTrackClick = (only?: string) => (ev: MouseEvent) => {
    const track = ev.currentTarget as HTMLElement;
    const rect = track.getBoundingClientRect();
    const at = timeAtFraction((ev.clientX - rect.left) / rect.width, layout.durationMs);
    void player.playAt(at, only);
  };

  // The ruler (its track is the same width as every row's).
  const ruler = h('div', {
    class: 'tl-track tl-ruler-track',
    'data-role': 'axis',
    title: 'Click to play everyone from here',
    tabindex: 0,
    role: 'slider',
    'aria-label': 'Playback position: arrows move by 1 s (Shift: 10 s) and play, Space pauses or plays',
    'aria-valuemin': 0,
    'aria-valuemax': Math.round(layout.durationMs / 1000),
  });
  for (const t of layout.ticks)
    ruler.append(h('span', { class: 'tl-tick', style: `left:${t.leftPct}%` }, t.label));
  for (const m of layout.marks) ruler.append(mark(m.leftPct, m.atMs, m.label));
  ruler.append(playhead());
  ruler.addEventListener('click', onTrackClick());
  ruler.addEventListener('keydown', (ev) => {
    const here = player.positionMs() ?? player.last?.atMs ?? 0;
    const step = ev.shiftKey ? 10_000 : 1000;
    if (ev.key === 'ArrowRight' || ev.key === 'ArrowLeft') {
      const to = Math.min(layout.durationMs, Math.max(0, here + (ev.key === 'ArrowRight' ? step : -step)));
      void player.playAt(to);
    } else if (ev.key === ' ' || ev.key === 'Enter') {
      if (player.playing) player.pause();
      else void player.playAt(here);
    } else return;
    ev.preventDefault();
  });
  timeline.append(h('div', { class: 'tl-row tl-ruler' }, h('div', { class: 'tl-label' }, clock), ruler));

  layout.rows.forEach((r, i) => {
    const track = h('div', {
      class: 'tl-track',
      'data-file': r.fileName,
      title: 'Click to play everyone from here',
    });
    track.append(spanEl('tl-file', r.file));
    for (const s of r.present) track.append(spanEl('tl-present', s));
    for (const s of r.muted) track.append(spanEl('tl-muted', s));
    for (const s of r.paused) track.append(spanEl('tl-paused', s));
    if (r.envelopePath) {
      const g = svg('svg', {
        class: 'tl-envelope',
        viewBox: `0 0 ${layout.durationMs} 127`,
        preserveAspectRatio: 'none',
        'aria-hidden': 'true',
      });
      g.append(svg('path', { d: r.envelopePath }));
      track.append(g);
    } else {
      const note = h('span', { class: 'tl-nolevels' }, `no RTP levels (${r.noLevelsReason ?? 'unknown'})`);
      track.append(note);
      const src = urlOf.get(r.fileName);
      const size = manifest.files.find((f) => f.file_name === r.fileName)?.size_bytes ?? 0;
      if (src) decodeInto(track, note, src, r.fileStartMs, layout.durationMs, size);
    }
    for (const s of r.speaking) {
      const e = spanEl('tl-speaking', s);
      e.title = `speaking ${formatMs(s.fromMs, true)}–${formatMs(s.toMs, true)}`;
      track.append(e);
    }
    for (const m of layout.marks) track.append(mark(m.leftPct, m.atMs, m.label, false));
    track.append(playhead());
    track.addEventListener('click', onTrackClick());
    const solo = h(
      'button',
      {
        type: 'button',
        class: 'solo',
        'data-file': r.fileName,
        title: 'Play only this file from the playhead',
      },
      'Solo',
    );
    solo.addEventListener(
      'click',
      () => void player.playAt(player.positionMs() ?? player.last?.atMs ?? 0, r.fileName),
    );
    const url = urlOf.get(r.fileName);
    const label = h(
      'div',
      { class: 'tl-label' },
      h('strong', {}, r.label),
      r.layer !== 'default' ? h('span', { class: 'muted' }, ` (${r.layer})`) : null,
      h(
        'span',
        { class: 'tl-actions' },
        solo,
        url ? h('a', { href: url, download: r.fileName }, 'Download') : null,
      ),
      audios[i]!,
    );
    timeline.append(h('div', { class: 'tl-row', 'data-file': r.fileName }, label, track));
  });

  const playAll = h('button', { type: 'button', id: 'play-all' }, 'Play all');
  playAll.addEventListener('click', () => void player.playAt(player.positionMs() ?? player.last?.atMs ?? 0));
  const pause = h('button', { type: 'button', id: 'pause' }, 'Pause');
  pause.addEventListener('click', () => player.pause());

  root.append(
    h(
      'section',
      { class: 'card' },
      h('h3', {}, 'Timeline'),
      h(
        'p',
        { class: 'legend' },
        h('span', { class: 'key key-speaking' }),
        'speaking ',
        h('span', { class: 'key key-present' }),
        'present ',
        h('span', { class: 'key key-muted' }),
        'muted ',
        h('span', { class: 'key key-paused' }),
        'paused ',
        h('span', { class: 'key key-mark' }),
        'allowlist change ',
        h('span', { class: 'key key-file' }),
        'file start/end',
      ),
      h('div', { class: 'controls' }, playAll, pause),
      timeline,
      h(
        'p',
        { class: 'note' },
        'Click anywhere on the axis to play every file from that instant; Solo plays one.',
      ),
    ),
    downloads(files),
    h(
      'section',
      { class: 'card' },
      h('h3', {}, 'Manifest'),
      h(
        'details',
        {},
        h('summary', {}, 'manifest.json'),
        h('pre', { id: 'manifest' }, JSON.stringify(manifest, null, 2)),
      ),
    ),
  );

  // The playhead follows the first playing file.
  const tick = () => {
    if (!timeline.isConnected) return;
    const pos = player.positionMs();
    const shown = pos ?? player.last?.atMs;
    for (const p of playheads) {
      p.hidden = shown === undefined;
      if (shown !== undefined)
        p.style.left = `${(Math.min(shown, layout.durationMs) * 100) / layout.durationMs}%`;
    }
    clock.textContent = `${formatMs(shown ?? 0, true)} / ${formatMs(layout.durationMs, true)}`;
    ruler.setAttribute('aria-valuenow', String(Math.round((shown ?? 0) / 1000)));
    requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
  hooks.onPlayer?.(player, layout);
}

/** The manifest by its link as given, else (unreachable, refused) by the same link on this origin. */
async function loadManifest(url: string): Promise<Manifest> {
  const get = async (u: string) => {
    const res = await fetch(u, { cache: 'no-store' });
    if (!res.ok) throw new Error(`The manifest could not be loaded (HTTP ${res.status})`);
    return (await res.json()) as Manifest;
  };
  const fallback = sameOriginFallback(url, location.origin);
  if (!fallback) return get(url);
  try {
    return await get(url);
  } catch {
    return get(fallback);
  }
}

function spanEl(cls: string, s: AxisSpan): HTMLElement {
  return h('span', {
    class: `tl-span ${cls}`,
    style: `left:${s.leftPct}%;width:${s.widthPct}%`,
    'data-from-ms': s.fromMs,
    'data-to-ms': s.toMs,
  });
}

function mark(leftPct: number, atMs: number, label: string, withLabel = true): HTMLElement {
  return h(
    'span',
    {
      class: 'tl-mark',
      style: `left:${leftPct}%`,
      'data-at-ms': atMs,
      title: `${formatMs(atMs, true)} ${label}`,
    },
    withLabel ? h('span', { class: 'tl-mark-label' }, label) : null,
  );
}

function summary(rec: ApiRecording): HTMLElement {
  const dl = h('dl', { class: 'facts' });
  const fact = (k: string, v: string) => dl.append(h('dt', {}, k), h('dd', {}, v));
  fact('Status', rec.status);
  fact('Type', rec.type);
  if (rec.meeting?.title) fact('Meeting', rec.meeting.title);
  fact('Started', when(rec.started_time));
  fact('Stopped', when(rec.stopped_time));
  if (rec.recording_duration != null) fact('Duration', `${rec.recording_duration} s`);
  if (rec.stop_reason?.reason) fact('Stop reason', rec.stop_reason.reason);
  if (rec.error_reason) fact('Error', rec.error_reason);
  fact('Recorded users', rec.user_ids?.length ? rec.user_ids.join(', ') : 'everyone');
  dl.lastElementChild!.id = 'recorded-users';
  return h('section', { class: 'card', id: 'summary', 'data-status': rec.status }, dl);
}

function downloads(files: { layer: string; fileName: string; url: string }[]): HTMLElement {
  const ul = h('ul', { class: 'downloads' });
  for (const f of files)
    ul.append(
      h(
        'li',
        {},
        h('a', { href: f.url, download: f.fileName }, f.fileName),
        f.layer !== 'default' ? ` (${f.layer})` : '',
      ),
    );
  return h(
    'section',
    { class: 'card' },
    h('h3', {}, 'Downloads'),
    h('p', { class: 'note' }, 'Signed links: they expire, and need no token.'),
    ul,
  );
}

/** Files up to this size are decoded for their envelope at once; larger ones on a click. */
const AUTO_DECODE_BYTES = 32 * 2 ** 20;

/**
 * A file without RTP levels (its sender did not send them) gets an envelope from its audio, decoded
 * here in the browser (the server never decodes): drawn like the recorder's, marked as decoded.
 * Speaking intervals are not derived from it: the manifest's are never invented.
 */
function decodeInto(
  track: HTMLElement,
  note: HTMLElement,
  src: string,
  fileStartMs: number,
  durationMs: number,
  sizeBytes: number,
): void {
  const run = async () => {
    note.textContent = `${note.textContent}: decoding the file for its envelope…`;
    try {
      let res = await fetch(src);
      const fallback = sameOriginFallback(src, location.origin);
      if (!res.ok && fallback) res = await fetch(fallback);
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      const ctx = new OfflineAudioContext(1, 1, 48_000);
      const audio = await ctx.decodeAudioData(await res.arrayBuffer());
      const channels = Array.from({ length: audio.numberOfChannels }, (_, i) => audio.getChannelData(i));
      const env = envelopeFromSamples(channels, audio.sampleRate, fileStartMs);
      const g = svg('svg', {
        class: 'tl-envelope tl-envelope-decoded',
        viewBox: `0 0 ${durationMs} 127`,
        preserveAspectRatio: 'none',
        'data-values': env.values.join(','),
      });
      const t = svg('title', {});
      t.textContent = 'Level envelope decoded in this browser (the sender sent no RTP audio levels)';
      g.append(t, svg('path', { d: envelopePath(env, durationMs, 1200) }));
      note.before(g); // where the recorder's envelope would be: above the shading, under the marks
      note.textContent = 'no RTP levels: envelope decoded from the audio';
      note.classList.add('tl-decoded');
    } catch (err) {
      note.textContent = `no RTP levels, and the file could not be decoded here (${(err as Error).message})`;
    }
  };
  if (sizeBytes <= AUTO_DECODE_BYTES) {
    void run();
    return;
  }
  const b = h(
    'button',
    { type: 'button', class: 'decode' },
    `Decode (${Math.round(sizeBytes / 2 ** 20)} MB)`,
  );
  b.addEventListener('click', (ev) => {
    ev.stopPropagation();
    b.remove();
    void run();
  });
  note.append(' ', b);
}
