/**
 * The recording page's shared time axis as a pure function: manifest → layout model. Every position
 * is a percentage of the axis width (0 = t0, 100 = the end of the recording), so all rows line up by
 * construction at any screen width; the view only turns percentages into CSS `left`/`width`.
 */
import type { Manifest, ManifestFile, ManifestInterval } from './manifest-types.js';

/** A span on the axis, in percent of its width. */
export interface AxisSpan {
  fromMs: number;
  toMs: number;
  leftPct: number;
  widthPct: number;
}

export interface TimelineRow {
  fileName: string;
  /** Who, for people: the custom participant id, else the participant id, else the file name. */
  label: string;
  layer: string;
  participantId: string;
  fileStartMs: number;
  fileEndMs: number;
  /** Where the file itself covers the axis. */
  file: AxisSpan;
  present: AxisSpan[];
  muted: AxisSpan[];
  paused: AxisSpan[];
  speaking: AxisSpan[];
  /**
   * The level envelope as an SVG path in a `0 0 durationMs 127` viewBox (y = -dBov, so 0 dBov is at
   * the top and silence at the bottom); empty when the file has no levels.
   */
  envelopePath: string;
  /** Why there is no envelope (`levels_missing_reason`), when there is none. */
  noLevelsReason?: string;
}

export interface TimelineMark {
  atMs: number;
  leftPct: number;
  label: string;
}

export interface TimelineTick {
  atMs: number;
  leftPct: number;
  label: string;
}

export interface TimelineLayout {
  durationMs: number;
  rows: TimelineRow[];
  marks: TimelineMark[];
  ticks: TimelineTick[];
}

export interface TimelineLayoutOptions {
  /** At most this many envelope points per row (bins are merged by their loudest value). Default 1200. */
  maxEnvelopePoints?: number;
  /** About this many ruler ticks at most. Default 8. */
  maxTicks?: number;
}

/** The recording's length on its timeline: stop − t0, or the end of the longest file. */
export function recordingDurationMs(m: Manifest): number {
  const byStop = m.stop_ms !== undefined && m.t0_ms !== undefined ? m.stop_ms - m.t0_ms : 0;
  const byFiles = Math.max(0, ...m.files.map((f) => fileEnd(f)));
  return Math.max(1, byStop, byFiles);
}

function fileEnd(f: ManifestFile): number {
  return f.file_end_ms ?? (f.file_start_ms ?? 0) + (f.duration_ms ?? 0);
}

export function layoutTimeline(m: Manifest, opts: TimelineLayoutOptions = {}): TimelineLayout {
  const durationMs = recordingDurationMs(m);
  const span = (from: number, to: number): AxisSpan => {
    const a = clamp(from, 0, durationMs);
    const b = clamp(Math.max(from, to), 0, durationMs);
    return {
      fromMs: from,
      toMs: to,
      leftPct: (a * 100) / durationMs,
      widthPct: ((b - a) * 100) / durationMs,
    };
  };
  const spans = (list: ManifestInterval[] | null | undefined): AxisSpan[] =>
    (list ?? []).map((i) => span(i.from_ms, i.to_ms));
  const rows = m.files.map((f): TimelineRow => {
    const fileStartMs = f.file_start_ms ?? 0;
    const fileEndMs = fileEnd(f);
    const env = f.level_envelope;
    return {
      fileName: f.file_name,
      label: f.custom_participant_id || f.participant_id || f.file_name,
      layer: f.layer ?? 'default',
      participantId: f.participant_id ?? '',
      fileStartMs,
      fileEndMs,
      file: span(fileStartMs, fileEndMs),
      present: spans(f.intervals?.present),
      muted: spans(f.intervals?.muted),
      paused: spans(f.intervals?.paused),
      speaking: spans(f.speaking),
      envelopePath: env ? envelopePath(env, durationMs, opts.maxEnvelopePoints ?? 1200) : '',
      ...(env ? {} : { noLevelsReason: f.levels_missing_reason ?? 'no levels' }),
    };
  });
  // Allowlist ids may be participant ids: shown by their custom id when a file tells it.
  const names = new Map<string, string>();
  for (const f of m.files)
    if (f.participant_id && f.custom_participant_id) names.set(f.participant_id, f.custom_participant_id);
  const name = (id: string) => names.get(id) ?? id;
  const marks = (m.allowlist_changes ?? []).map((c): TimelineMark => ({
    atMs: c.at_ms,
    leftPct: (clamp(c.at_ms, 0, durationMs) * 100) / durationMs,
    label: allowlistLabel((c.added_user_ids ?? []).map(name), (c.removed_user_ids ?? []).map(name)),
  }));
  return { durationMs, rows, marks, ticks: rulerTicks(durationMs, opts.maxTicks ?? 8) };
}

function allowlistLabel(added: string[], removed: string[]): string {
  const parts = [...added.map((u) => `+${u}`), ...removed.map((u) => `−${u}`)];
  return parts.length ? parts.join(' ') : 'allowlist change';
}

/**
 * The envelope as a closed area path. Bins are merged (loudest wins) so that there are at most
 * `maxPoints` points; each point sits at its bin's start and the area runs to the last bin's end.
 */
export function envelopePath(
  env: { interval_ms: number; from_ms: number; values: number[] },
  durationMs: number,
  maxPoints: number,
): string {
  const n = env.values.length;
  if (n === 0 || env.interval_ms <= 0) return '';
  const per = Math.max(1, Math.ceil(n / Math.max(1, maxPoints)));
  const step = env.interval_ms * per;
  const pts: string[] = [];
  const fmt = (x: number) => String(Math.round(x * 10) / 10);
  for (let i = 0; i < n; i += per) {
    let loudest = -127;
    for (let k = i; k < Math.min(n, i + per); k++) loudest = Math.max(loudest, env.values[k] ?? -127);
    const x = clamp(env.from_ms + (i / per) * step, 0, durationMs);
    const y = -clamp(loudest, -127, 0);
    // A step per bin: flat over the bin, like the loudest packet it stands for.
    pts.push(`L${fmt(x)},${fmt(y)}`, `L${fmt(clamp(x + step, 0, durationMs))},${fmt(y)}`);
  }
  const x0 = fmt(clamp(env.from_ms, 0, durationMs));
  const xEnd = fmt(clamp(env.from_ms + Math.ceil(n / per) * step, 0, durationMs));
  return `M${x0},127${pts.join('')}L${xEnd},127Z`;
}

/**
 * A level envelope from decoded audio, for files whose sender sent no RTP audio levels: one value
 * per `binMs` from `fromMs` (the file's start on the timeline), the RMS of the bin over all channels
 * in dBFS, rounded, -127..0 (-127 for digital silence), the same scale as the recorder's dBov
 * envelope (a full-scale sine reads -3).
 */
export function envelopeFromSamples(
  channels: readonly Float32Array[],
  sampleRate: number,
  fromMs: number,
  binMs = 100,
): { interval_ms: number; from_ms: number; unit: 'dBFS'; values: number[] } {
  const n = channels[0]?.length ?? 0;
  const per = Math.max(1, Math.round((sampleRate * binMs) / 1000));
  const values: number[] = [];
  for (let start = 0; start < n; start += per) {
    const end = Math.min(n, start + per);
    let sum = 0;
    for (const ch of channels) for (let i = start; i < end; i++) sum += (ch[i] as number) ** 2;
    const rms = Math.sqrt(sum / ((end - start) * Math.max(1, channels.length)));
    values.push(rms < 1e-6 ? -127 : Math.max(-127, Math.min(0, Math.round(20 * Math.log10(rms)))));
  }
  return { interval_ms: binMs, from_ms: fromMs, unit: 'dBFS', values };
}

const TICK_STEPS_MS = [
  100, 200, 500, 1000, 2000, 5000, 10_000, 15_000, 30_000, 60_000, 120_000, 300_000, 600_000, 900_000,
  1_800_000, 3_600_000, 7_200_000,
];

/** Ruler ticks at a round step, at most about `maxTicks` of them, from 0 to the end. */
export function rulerTicks(durationMs: number, maxTicks: number): TimelineTick[] {
  const step =
    TICK_STEPS_MS.find((s) => durationMs / s <= maxTicks) ??
    Math.ceil(durationMs / maxTicks / 3_600_000) * 3_600_000;
  const ticks: TimelineTick[] = [];
  for (let t = 0; t <= durationMs; t += step)
    ticks.push({ atMs: t, leftPct: (t * 100) / durationMs, label: formatMs(t, step < 1000) });
  return ticks;
}

/** `m:ss` (or `m:ss.s` with tenths), `h:mm:ss` past an hour. */
export function formatMs(ms: number, tenths = false): string {
  const totalS = ms / 1000;
  const h = Math.floor(totalS / 3600);
  const m = Math.floor((totalS % 3600) / 60);
  const s = totalS % 60;
  const ss = tenths ? s.toFixed(1).padStart(4, '0') : String(Math.floor(s)).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

/** The recording-timeline instant (ms) at a horizontal fraction (0..1) of the axis. */
export function timeAtFraction(fraction: number, durationMs: number): number {
  return clamp(fraction, 0, 1) * durationMs;
}

/**
 * Where each file must be to play the recording-timeline instant `atMs`: its `currentTime` (s) and,
 * for a file that starts later (a late joiner with `align: first_packet`), how long to wait before
 * it starts. A file that has ended by then is not played.
 */
export interface SeekTarget {
  fileName: string;
  currentTimeS: number;
  startInMs: number;
  ended: boolean;
}

export function seekTargets(
  rows: Pick<TimelineRow, 'fileName' | 'fileStartMs' | 'fileEndMs'>[],
  atMs: number,
): SeekTarget[] {
  return rows.map((r) => {
    const into = atMs - r.fileStartMs;
    return {
      fileName: r.fileName,
      currentTimeS: Math.max(0, into) / 1000,
      startInMs: Math.max(0, -into),
      ended: atMs >= r.fileEndMs,
    };
  });
}

function clamp(x: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, x));
}
