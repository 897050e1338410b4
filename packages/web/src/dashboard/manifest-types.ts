/**
 * The parts of a track recording's `manifest.json` (docs/track-recording.md) the dashboard reads.
 * Only what is drawn or played is typed; everything else is shown as JSON.
 */
export interface ManifestInterval {
  from_ms: number;
  to_ms: number;
}

export interface ManifestFile {
  file_name: string;
  layer?: string;
  participant_id?: string;
  custom_participant_id?: string;
  peer_id?: string;
  start_offset_ms?: number;
  file_start_ms?: number;
  file_end_ms?: number;
  duration_ms?: number;
  size_bytes?: number;
  intervals?: {
    present?: ManifestInterval[];
    muted?: ManifestInterval[];
    paused?: ManifestInterval[];
  };
  levels_source?: string;
  levels_missing_reason?: string;
  speaking?: ManifestInterval[] | null;
  level_envelope?: { interval_ms: number; from_ms: number; unit?: string; values: number[] } | null;
}

export interface ManifestAllowlistChange {
  at_ms: number;
  added_user_ids?: string[];
  removed_user_ids?: string[];
  user_ids?: string[];
}

export interface Manifest {
  version?: number;
  recording_id?: string;
  t0_ms?: number;
  stop_ms?: number;
  files: ManifestFile[];
  allowlist_changes?: ManifestAllowlistChange[];
}
