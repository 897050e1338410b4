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
import {
  MANIFEST_FILE,
  buildRecordingManifest,
  type ManifestFileInput,
  type TrackRecordingFile,
} from './recording-manifest.js';
import { SPEECH_DEFAULTS } from './speech-activity.js';
import type { TrackFileResult } from './track-file-writer.js';
import type { TrackRecordingOptions, TrackRecordingResult } from './track-recording.js';
import { repairWebmFile } from './webm-repair.js';

/** Written beside the files as they are created. */
export interface JournalEntry {
  file: string;
  layer: string;
  participant_id: string;
  custom_participant_id: string;
  peer_ids: string[];
  t0_ms: number;
}

export const JOURNAL_FILE = 'journal.json';
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
  let journal: JournalEntry[] = [];
  try {
    journal = JSON.parse(await readFile(join(o.dir, JOURNAL_FILE), 'utf8')) as JournalEntry[];
  } catch (err) {
    log.warn({ err }, 'no readable journal: nothing to repair');
    journal = [];
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
      speech: {
        levelsSource: 'none',
        missingReason: 'repaired_after_crash',
        intervals: null,
        envelope: null,
        thresholdDbov: SPEECH_DEFAULTS.thresholdDbov,
        hangoverMs: SPEECH_DEFAULTS.hangoverMs,
        framesWithLevel: 0,
        framesWithoutLevel: 0,
      },
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
  return writeManifest(o, t0Ms, stopMs, inputs, { repaired: true });
}
