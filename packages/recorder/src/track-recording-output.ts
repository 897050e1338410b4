/**
 * What a track recording leaves on disk besides the audio: the journal (who each file belongs to,
 * written as files are created) and the manifest, and the repair of what a killed process left.
 * Kept apart from the recording object (track-recording.ts), which calls into it.
 */
import { createHash } from 'node:crypto';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { RecordingAllowlistChange, TrackRecordingFailure } from '@trackroom/protocol';
import { withContext, silentLogger } from './logger.js';
import { everRequested } from './recording-allowlist.js';
import {
  MANIFEST_FILE,
  buildRecordingManifest,
  type ManifestFileInput,
  type TrackRecordingFile,
} from './recording-manifest.js';
import { SPEECH_DEFAULTS, type SpeakingInterval, type SpeechCheckpoint } from './speech-activity.js';
import type { TrackFileResult, TrackFileSpeech } from './track-file-writer.js';
import type { TrackRecordingOptions, TrackRecordingResult } from './track-recording.js';
import { repairWebmFile } from './webm-repair.js';

/** Who a file belongs to: a running-journal line as each file is created (and as it gains a peer). */
export interface JournalEntry {
  file: string;
  layer: string;
  participant_id: string;
  custom_participant_id: string;
  peer_ids: string[];
  t0_ms: number;
}

/** The journal of earlier versions (one JSON array, rewritten): still read by repair. */
export const JOURNAL_FILE = 'journal.json';

/**
 * The running journal, appended while a recording runs (one JSON object a line, through one open
 * handle): who each file belongs to as it is created (before any audio reaches it), each file's
 * levels as they become final (at every cluster written, and at close), and every allowlist change.
 * Crash repair reads it back: the files and their owners, each file's speaking intervals and
 * envelope up to its last cluster, and the `allowlist_changes`. A torn last line is ignored.
 */
export const RUNNING_JOURNAL_FILE = 'journal.jsonl';

type JournalInterval = [fromMs: number, toMs: number, vad: 0 | 1];

export type RunningJournalLine =
  | {
      t: 'levels';
      file: string;
      from_bin: number;
      /** The bins' RFC 6464 levels, base64. */
      levels: string;
      closed: JournalInterval[];
      open: JournalInterval | null;
      with_level: number;
      without_level: number;
      negotiated: boolean;
    }
  | { t: 'allowlist_change'; change: RecordingAllowlistChange }
  | { t: 'file'; entry: JournalEntry };

const toJournal = (i: SpeakingInterval): JournalInterval => [i.fromMs, i.toMs, i.vad ? 1 : 0];

export function levelsLine(file: string, cp: SpeechCheckpoint & { negotiated: boolean }): RunningJournalLine {
  return {
    t: 'levels',
    file,
    from_bin: cp.fromBin,
    levels: Buffer.from(cp.levels.buffer, cp.levels.byteOffset, cp.levels.byteLength).toString('base64'),
    closed: cp.closed.map(toJournal),
    open: cp.open ? toJournal(cp.open) : null,
    with_level: cp.framesWithLevel,
    without_level: cp.framesWithoutLevel,
    negotiated: cp.negotiated,
  };
}

/** One file's levels as the running journal has them. */
interface JournalLevels {
  bins: number[];
  closed: JournalInterval[];
  open: JournalInterval | null;
  withLevel: number;
  withoutLevel: number;
  negotiated: boolean;
}

export interface RunningJournal {
  /** The files, in the order they were created, each as its last line has it. */
  files: JournalEntry[];
  levels: Map<string, JournalLevels>;
  allowlistChanges: RecordingAllowlistChange[];
}

/** Reads the running journal; a missing file is an empty journal, unreadable lines are skipped. */
export async function readRunningJournal(dir: string): Promise<RunningJournal> {
  const out: RunningJournal = { files: [], levels: new Map(), allowlistChanges: [] };
  let text = '';
  try {
    text = await readFile(join(dir, RUNNING_JOURNAL_FILE), 'utf8');
  } catch {
    return out;
  }
  for (const raw of text.split('\n')) {
    let line: RunningJournalLine;
    try {
      line = JSON.parse(raw) as RunningJournalLine;
    } catch {
      continue;
    }
    if (line.t === 'allowlist_change') {
      out.allowlistChanges.push(line.change);
      continue;
    }
    if (line.t === 'file') {
      const at = out.files.findIndex((f) => f.file === line.entry.file);
      if (at >= 0) out.files[at] = line.entry;
      else out.files.push(line.entry);
      continue;
    }
    if (line.t !== 'levels' || typeof line.file !== 'string') continue;
    let l = out.levels.get(line.file);
    if (!l) {
      l = { bins: [], closed: [], open: null, withLevel: 0, withoutLevel: 0, negotiated: false };
      out.levels.set(line.file, l);
    }
    const levels = Buffer.from(line.levels, 'base64');
    for (let i = 0; i < levels.length; i++) l.bins[line.from_bin + i] = levels[i] as number;
    l.closed.push(...line.closed);
    l.open = line.open;
    l.withLevel = line.with_level;
    l.withoutLevel = line.without_level;
    l.negotiated ||= line.negotiated;
  }
  return out;
}

/**
 * The speech of a repaired file of `durationMs` from its journal levels: intervals cut at the
 * file's end, the envelope padded with -127 (no level) past what the journal knew.
 */
export function repairedSpeech(l: JournalLevels | undefined, durationMs: number): TrackFileSpeech {
  const base = {
    thresholdDbov: SPEECH_DEFAULTS.thresholdDbov,
    hangoverMs: SPEECH_DEFAULTS.hangoverMs,
    framesWithLevel: l?.withLevel ?? 0,
    framesWithoutLevel: l?.withoutLevel ?? 0,
  };
  if (!l || l.withLevel === 0)
    return {
      levelsSource: 'none',
      missingReason: l && !l.negotiated ? 'not_negotiated' : 'repaired_after_crash',
      intervals: null,
      envelope: null,
      ...base,
    };
  const binMs = SPEECH_DEFAULTS.envelopeMs;
  const nBins = Math.ceil(durationMs / binMs);
  const values = new Array<number>(nBins);
  for (let i = 0; i < nBins; i++) values[i] = -(l.bins[i] ?? 127) || 0;
  const intervals: SpeakingInterval[] = [];
  for (const [from, to, vad] of l.open ? [...l.closed, l.open] : l.closed)
    if (from < durationMs) intervals.push({ fromMs: from, toMs: Math.min(to, durationMs), vad: vad === 1 });
  const lastTo = l.open ? l.open[1] : 0;
  return {
    levelsSource: 'rtp_header_extension',
    intervals,
    envelope: { intervalMs: binMs, values },
    recoveredToMs: Math.min(durationMs, Math.max(l.bins.length * binMs, lastTo)),
    ...base,
  };
}
/** Who a file belongs to. */
export interface FileIdentity {
  fileName: string;
  layer: string;
  participantId: string;
  customParticipantId: string;
  peerIds: string[];
}

export function fileOf(f: FileIdentity, r: TrackFileResult): TrackRecordingFile {
  return {
    fileName: f.fileName,
    layer: f.layer,
    participantId: f.participantId,
    customParticipantId: f.customParticipantId,
    peerId: f.peerIds.length === 1 ? (f.peerIds[0] as string) : null,
    peerIds: [...f.peerIds],
    sizeBytes: r.sizeBytes,
    durationMs: Math.round(r.durationMs),
    sha256: r.sha256,
    ...(r.writeFailure ? { writeFailure: r.writeFailure } : {}),
  };
}

export function fileInput(f: FileIdentity, r: TrackFileResult): ManifestFileInput {
  return { ...fileOf(f, r), result: r };
}

export async function writeManifest(
  o: Pick<TrackRecordingOptions, 'id' | 'meetingId' | 'sessionId' | 'dir' | 'userIds' | 'align' | 'groupBy'>,
  t0Ms: number,
  stopMs: number,
  files: ManifestFileInput[],
  extra: {
    repaired: boolean;
    unusable?: { file_name: string; participant_id: string; reason: string }[];
    failure?: TrackRecordingFailure | undefined;
    allowlistChanges?: readonly RecordingAllowlistChange[];
  },
): Promise<TrackRecordingResult> {
  const manifest = buildRecordingManifest({
    recordingId: o.id,
    meetingId: o.meetingId,
    sessionId: o.sessionId,
    t0Ms,
    stopMs,
    align: o.align,
    groupBy: o.groupBy,
    userIds: o.userIds,
    files,
    repaired: extra.repaired,
    unusable: extra.unusable ?? [],
    allowlistChanges: extra.allowlistChanges ?? [],
    ...(extra.failure ? { failure: extra.failure } : {}),
  });
  const text = JSON.stringify(manifest, null, 2);
  await writeFile(join(o.dir, MANIFEST_FILE), text);
  return {
    t0Ms,
    stopMs,
    files: files.map(({ result: _r, ...f }) => f),
    manifest,
    manifestFile: {
      fileName: MANIFEST_FILE,
      sizeBytes: Buffer.byteLength(text),
      sha256: createHash('sha256').update(text).digest('hex'),
    },
  };
}

export type TrackRecordingRepairOptions = Pick<
  TrackRecordingOptions,
  'id' | 'meetingId' | 'sessionId' | 'dir' | 'userIds' | 'align' | 'groupBy' | 'logger'
> & {
  /** t0 to assume when the journal is missing (ms). */
  fallbackT0Ms: number;
};

/**
 * Finalises the files a killed process left in `dir` (known from the journal): each is repaired
 * (partial tail cut, Cues and Duration written) and a manifest marked `repaired_after_crash` is
 * written. Resolves undefined when nothing is usable.
 */
export async function repairTrackRecording(
  o: TrackRecordingRepairOptions,
): Promise<TrackRecordingResult | undefined> {
  const log = withContext(o.logger ?? silentLogger, { recordingId: o.id });
  const running = await readRunningJournal(o.dir);
  let journal: JournalEntry[] = running.files;
  if (journal.length === 0) {
    // A recording of an earlier version: its journal.json.
    try {
      journal = JSON.parse(await readFile(join(o.dir, JOURNAL_FILE), 'utf8')) as JournalEntry[];
    } catch (err) {
      log.warn({ err }, 'no readable journal: nothing to repair');
      journal = [];
    }
  }
  const present = new Set((await readdir(o.dir)).filter((n) => n.endsWith('.webm')));
  const inputs: ManifestFileInput[] = [];
  let t0Ms = o.fallbackT0Ms;
  for (const j of journal) {
    if (!present.has(j.file)) continue;
    t0Ms = j.t0_ms;
    const res = await repairWebmFile(join(o.dir, j.file));
    if (!res.ok) {
      log.warn({ file: j.file, reason: res.reason }, 'file not recoverable');
      continue;
    }
    const r: TrackFileResult = {
      path: join(o.dir, j.file),
      sizeBytes: res.sizeBytes,
      sha256: res.sha256,
      t0Ms: j.t0_ms,
      channels: 2,
      align: o.align === 'first_packet' ? 'first_packet' : 'timeline',
      fileStartMs: 0,
      durationMs: res.durationMs,
      startOffsetMs: null,
      framesWritten: 0,
      framesFilled: 0,
      concealedMs: 0,
      packets: {
        received: 0,
        lost: 0,
        concealed: 0,
        duplicated: 0,
        reordered: 0,
        late: 0,
        invalid: 0,
        ignored: 0,
        overlapped: 0,
        afterStop: 0,
      },
      reanchors: { start: 0, drift: 0, jump: 0 },
      intervals: { present: [], muted: [], paused: [] },
      speech: repairedSpeech(running.levels.get(j.file), res.durationMs),
    };
    inputs.push(
      fileInput(
        {
          fileName: j.file,
          layer: j.layer,
          participantId: j.participant_id,
          customParticipantId: j.custom_participant_id,
          peerIds: j.peer_ids,
        },
        r,
      ),
    );
  }
  if (inputs.length === 0) return undefined;
  const stopMs = Math.max(...inputs.map((f) => t0Ms + f.durationMs));
  // The allowlist the server passes is the one at the crash: every id that was on it at some point
  // (initial, added, removed) is requested, as in a manifest written at stop.
  const changes = running.allowlistChanges;
  const userIds = o.userIds
    ? everRequested(o.userIds, [
        ...changes.map((c) => c.removed_user_ids),
        ...changes.map((c) => c.added_user_ids),
      ])
    : null;
  return writeManifest({ ...o, userIds }, t0Ms, stopMs, inputs, {
    repaired: true,
    allowlistChanges: running.allowlistChanges,
  });
}
