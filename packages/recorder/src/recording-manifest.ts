/**
 * The whole manifest of a track recording (`manifest.json`, version 1), in one casing: every key is
 * snake_case, every time is ms, either wall-clock (`t0_ms`, `stop_ms`) or on the recording timeline
 * (from t0). Documented field by field in docs/track-recording.md.
 */
import type { RecordedTrackFile, RecordingAllowlistChange } from '@trackroom/protocol';
import { SPEECH_DEFAULTS } from './speech-activity.js';
import type { TrackFileLevelsMissing, TrackFileResult } from './track-file-writer.js';

export const MANIFEST_FILE = 'manifest.json';

/** True for the system error codes of a full disk (`ENOSPC`, or `EDQUOT` for a quota). */
export function isStorageFullCode(code: string): boolean {
  return code === 'ENOSPC' || code === 'EDQUOT';
}
export const MANIFEST_VERSION = 1;

export interface ManifestInterval {
  from_ms: number;
  to_ms: number;
}

export interface ManifestFile {
  file_name: string;
  layer: string;
  participant_id: string;
  custom_participant_id: string;
  peer_id: string | null;
  peer_ids: string[];
  container: 'webm';
  codec: 'opus';
  sample_rate: 48000;
  channels: 1 | 2;
  start_offset_ms: number | null;
  file_start_ms: number;
  duration_ms: number;
  file_end_ms: number;
  size_bytes: number;
  sha256: string;
  intervals: {
    present: (ManifestInterval & { source_id: string })[];
    muted: ManifestInterval[];
    paused: ManifestInterval[];
  };
  packets: {
    received: number;
    lost: number;
    concealed: number;
    duplicated: number;
    reordered: number;
    late: number;
    invalid: number;
    ignored: number;
    overlapped: number;
    after_stop: number;
  };
  frames_written: number;
  frames_filled: number;
  concealed_ms: number;
  write_failure?: { code: string; message: string; ends_at_ms: number };
  /** Where the speaking intervals come from: the RFC 6464 header extension, or nowhere. */
  levels_source: 'rtp_header_extension' | 'none';
  /** Why there are no levels (with `levels_source: none`). */
  levels_missing_reason?: TrackFileLevelsMissing;
  /** Speaking intervals on the recording timeline; null when there are no levels (never guessed). */
  speaking: (ManifestInterval & { vad: boolean })[] | null;
  /** One loudest level per `interval_ms` bin from `from_ms`, integer dBov (-127..0; -127: none). */
  level_envelope: { interval_ms: number; from_ms: 0; unit: 'dBov'; values: number[] } | null;
  levels: {
    threshold_dbov: number;
    hangover_ms: number;
    frames_with_level: number;
    frames_without_level: number;
    /** Crash repair only: levels are known up to here (ms on the timeline), from the running journal. */
    recovered_to_ms?: number;
  };
}

/** The recording's merged "who spoke when": every participant's speaking intervals, by start time. */
export interface ManifestWhoSpokeWhen {
  threshold_dbov: number;
  hangover_ms: number;
  intervals: (ManifestInterval & { participant_id: string; custom_participant_id: string })[];
  /** Participants none of whose files has levels: their absence here says nothing about speech. */
  participants_without_levels: {
    participant_id: string;
    custom_participant_id: string;
    reasons: TrackFileLevelsMissing[];
  }[];
}

export interface RecordingManifest {
  version: typeof MANIFEST_VERSION;
  recording_id: string;
  meeting_id: string;
  session_id: string | null;
  type: 'TRACK';
  t0_ms: number;
  t0: string;
  stop_ms: number;
  stopped_at: string;
  align: 'recording_start' | 'first_packet';
  group_by: 'peer' | 'user';
  repaired_after_crash: boolean;
  write_failure?: { code: string; storage_full: boolean; first_file: string };
  requested_user_ids: (
    | { user_id: string; status: 'recorded'; participant_id: string; files: string[] }
    | { user_id: string; status: 'never_present'; participant_id: null; files: [] }
  )[];
  unusable_files?: { file_name: string; participant_id: string; reason: string }[];
  files: ManifestFile[];
  who_spoke_when: ManifestWhoSpokeWhen;
  /** Live changes of `user_ids` while it ran (PATCH), oldest first; empty when there were none. */
  allowlist_changes: RecordingAllowlistChange[];
}

/** A finished file of a recording: the worker interface's type, defined once in protocol. */
export type TrackRecordingFile = RecordedTrackFile;

/** One finished file with what is known of it. */
export interface ManifestFileInput extends TrackRecordingFile {
  result: TrackFileResult;
}

export interface RecordingManifestInput {
  recordingId: string;
  meetingId: string;
  sessionId: string | null;
  t0Ms: number;
  stopMs: number;
  align: 'recording_start' | 'first_packet';
  groupBy: 'peer' | 'user';
  userIds: readonly string[] | null;
  files: ManifestFileInput[];
  repaired: boolean;
  unusable: { file_name: string; participant_id: string; reason: string }[];
  failure?: { fileName: string; code: string };
  allowlistChanges?: readonly RecordingAllowlistChange[];
}

/** Rounds to 0.001 ms so that the JSON stays readable and stable. */
const ms = (v: number) => Math.round(v * 1000) / 1000;
const iv = (i: { fromMs: number; toMs: number }): ManifestInterval => ({
  from_ms: ms(i.fromMs),
  to_ms: ms(i.toMs),
});

export function manifestFile(f: ManifestFileInput): ManifestFile {
  const r = f.result;
  const p = r.packets;
  return {
    file_name: f.fileName,
    layer: f.layer,
    participant_id: f.participantId,
    custom_participant_id: f.customParticipantId,
    peer_id: f.peerId,
    peer_ids: [...f.peerIds],
    container: 'webm',
    codec: 'opus',
    sample_rate: 48000,
    channels: r.channels,
    start_offset_ms: r.startOffsetMs === null ? null : ms(r.startOffsetMs),
    file_start_ms: ms(r.fileStartMs),
    duration_ms: ms(r.durationMs),
    file_end_ms: ms(r.fileStartMs + r.durationMs),
    size_bytes: f.sizeBytes,
    sha256: f.sha256,
    intervals: {
      present: r.intervals.present.map((i) => ({ source_id: i.sourceId, ...iv(i) })),
      muted: r.intervals.muted.map(iv),
      paused: r.intervals.paused.map(iv),
    },
    packets: {
      received: p.received,
      lost: p.lost,
      concealed: p.concealed,
      duplicated: p.duplicated,
      reordered: p.reordered,
      late: p.late,
      invalid: p.invalid,
      ignored: p.ignored,
      overlapped: p.overlapped,
      after_stop: p.afterStop,
    },
    frames_written: r.framesWritten,
    frames_filled: r.framesFilled,
    concealed_ms: ms(r.concealedMs),
    ...(r.writeFailure
      ? {
          write_failure: {
            code: r.writeFailure.code,
            message: r.writeFailure.message,
            ends_at_ms: Math.round(r.writeFailure.endsAtMs),
          },
        }
      : {}),
    levels_source: r.speech.levelsSource,
    ...(r.speech.missingReason ? { levels_missing_reason: r.speech.missingReason } : {}),
    speaking: r.speech.intervals?.map((i) => ({ ...iv(i), vad: i.vad })) ?? null,
    level_envelope: r.speech.envelope
      ? {
          interval_ms: r.speech.envelope.intervalMs,
          from_ms: 0,
          unit: 'dBov',
          values: r.speech.envelope.values,
        }
      : null,
    levels: {
      threshold_dbov: r.speech.thresholdDbov,
      hangover_ms: r.speech.hangoverMs,
      frames_with_level: r.speech.framesWithLevel,
      frames_without_level: r.speech.framesWithoutLevel,
      ...(r.speech.recoveredToMs !== undefined ? { recovered_to_ms: ms(r.speech.recoveredToMs) } : {}),
    },
  };
}

/**
 * Merges the files' speaking intervals per participant (a participant's files, of every layer and
 * every peer, are one voice: overlapping or touching intervals become one), sorted by start.
 */
export function whoSpokeWhen(files: readonly ManifestFile[]): ManifestWhoSpokeWhen {
  const byParticipant = new Map<
    string,
    { custom: string; spans: ManifestInterval[]; reasons: Set<TrackFileLevelsMissing>; withLevels: boolean }
  >();
  for (const f of files) {
    let p = byParticipant.get(f.participant_id);
    if (!p) {
      p = { custom: f.custom_participant_id, spans: [], reasons: new Set(), withLevels: false };
      byParticipant.set(f.participant_id, p);
    }
    if (f.speaking) {
      p.withLevels = true;
      for (const s of f.speaking) p.spans.push({ from_ms: s.from_ms, to_ms: s.to_ms });
    } else if (f.levels_missing_reason) p.reasons.add(f.levels_missing_reason);
  }
  const intervals: ManifestWhoSpokeWhen['intervals'] = [];
  const without: ManifestWhoSpokeWhen['participants_without_levels'] = [];
  for (const [participantId, p] of byParticipant) {
    if (!p.withLevels) {
      without.push({
        participant_id: participantId,
        custom_participant_id: p.custom,
        reasons: [...p.reasons],
      });
      continue;
    }
    p.spans.sort((a, b) => a.from_ms - b.from_ms);
    let cur: ManifestInterval | undefined;
    for (const s of p.spans) {
      if (cur && s.from_ms <= cur.to_ms) cur.to_ms = Math.max(cur.to_ms, s.to_ms);
      else {
        if (cur) intervals.push({ participant_id: participantId, custom_participant_id: p.custom, ...cur });
        cur = { ...s };
      }
    }
    if (cur) intervals.push({ participant_id: participantId, custom_participant_id: p.custom, ...cur });
  }
  intervals.sort((a, b) => a.from_ms - b.from_ms || a.participant_id.localeCompare(b.participant_id));
  const first = files[0]?.levels;
  return {
    threshold_dbov: first?.threshold_dbov ?? SPEECH_DEFAULTS.thresholdDbov,
    hangover_ms: first?.hangover_ms ?? SPEECH_DEFAULTS.hangoverMs,
    intervals,
    participants_without_levels: without,
  };
}

/**
 * Each id of `user_ids` with what it matched: the files recorded for it, or "never present" (a typo,
 * or someone who never joined): for compliance, the proof that someone was not recorded.
 */
function requestedUsers(userIds: readonly string[] | null, files: ManifestFileInput[]) {
  return (userIds ?? []).map((id): RecordingManifest['requested_user_ids'][number] => {
    const mine = files.filter((f) => f.participantId === id || f.customParticipantId === id);
    return mine.length > 0
      ? {
          user_id: id,
          status: 'recorded',
          participant_id: mine[0]!.participantId,
          files: mine.map((f) => f.fileName),
        }
      : { user_id: id, status: 'never_present', participant_id: null, files: [] };
  });
}

export function buildRecordingManifest(i: RecordingManifestInput): RecordingManifest {
  const files = i.files.map(manifestFile);
  return {
    version: MANIFEST_VERSION,
    recording_id: i.recordingId,
    meeting_id: i.meetingId,
    session_id: i.sessionId,
    type: 'TRACK',
    t0_ms: i.t0Ms,
    t0: new Date(i.t0Ms).toISOString(),
    stop_ms: i.stopMs,
    stopped_at: new Date(i.stopMs).toISOString(),
    align: i.align,
    group_by: i.groupBy,
    repaired_after_crash: i.repaired,
    ...(i.failure
      ? {
          write_failure: {
            code: i.failure.code,
            storage_full: isStorageFullCode(i.failure.code),
            first_file: i.failure.fileName,
          },
        }
      : {}),
    requested_user_ids: requestedUsers(i.userIds, i.files),
    ...(i.unusable.length > 0 ? { unusable_files: i.unusable } : {}),
    files,
    who_spoke_when: whoSpokeWhen(files),
    allowlist_changes: (i.allowlistChanges ?? []).map((c) => ({ ...c })),
  };
}
