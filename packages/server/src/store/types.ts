import type { RecordingAllowlistChange } from '@trackroom/protocol';

/** Rows the control plane keeps. Field names are the API's snake_case; times are ISO 8601 strings. */
export interface AppRow {
  id: string;
  account_id: string;
  name: string;
  created_at: string;
  updated_at: string;
}

export interface PresetRow {
  id: string;
  app_id: string;
  name: string;
  config: Record<string, unknown>;
  permissions: Record<string, unknown>;
  ui: Record<string, unknown>;
  created_at: string;
  updated_at: string;
}

export type MeetingStatus = 'ACTIVE' | 'INACTIVE';

export interface MeetingRow {
  id: string;
  app_id: string;
  title: string | null;
  status: MeetingStatus;
  record_on_start: boolean;
  live_stream_on_start: boolean;
  persist_chat: boolean;
  summarize_on_end: boolean;
  transcribe_on_end: boolean;
  session_keep_alive_time_in_secs: number;
  recording_config: Record<string, unknown> | null;
  ai_config: Record<string, unknown> | null;
  created_at: string;
  updated_at: string;
}

export interface ParticipantRow {
  id: string;
  app_id: string;
  meeting_id: string;
  custom_participant_id: string;
  preset_name: string;
  name: string | null;
  picture: string | null;
  created_at: string;
  updated_at: string;
}

export interface WebhookRow {
  id: string;
  app_id: string;
  name: string;
  url: string;
  events: string[];
  enabled: boolean;
  created_at: string;
  updated_at: string;
}

export type DeliveryStatus = 'PENDING' | 'DELIVERED' | 'FAILED';

export interface WebhookDeliveryRow {
  id: string;
  app_id: string;
  webhook_id: string;
  url: string;
  event: string;
  body: string;
  status: DeliveryStatus;
  attempts: number;
  next_attempt_at: string;
  last_error: string | null;
  created_at: string;
  updated_at: string;
}

export type SessionStatus = 'LIVE' | 'ENDED';

export interface SessionRow {
  id: string;
  app_id: string;
  meeting_id: string;
  status: SessionStatus;
  meeting_display_name: string;
  started_at: string;
  ended_at: string | null;
  live_participants: number;
  max_concurrent_participants: number;
  /** The server (NODE_ID) hosting it, and that server's PUBLIC_URL. Absent on rows from before. */
  node_id?: string;
  node_url?: string;
  created_at: string;
  updated_at: string;
}

export interface SessionPeerRow {
  /** The peer id: one per connection; a participant that reconnects gets a new one. */
  id: string;
  app_id: string;
  session_id: string;
  meeting_id: string;
  participant_id: string;
  custom_participant_id: string;
  display_name: string;
  preset_name: string;
  joined_at: string;
  left_at: string | null;
  created_at: string;
  updated_at: string;
}

export type RecordingStatus = 'INVOKED' | 'RECORDING' | 'PAUSED' | 'UPLOADING' | 'UPLOADED' | 'ERRORED';
export type RecordingType = 'TRACK' | 'COMPOSITE';

export interface RecordingFileRow {
  layer_name: string;
  file_name: string;
  participant_id: string;
  custom_participant_id: string;
  peer_id: string | null;
  size_bytes: number;
  duration_ms: number;
  sha256: string;
}

/**
 * Where a recording's files go, fixed when it starts. `local`: DATA_DIR (no upload). `s3`: a bucket;
 * `source: 'server'` takes the credentials from the environment at upload time (none stored),
 * `recording`/`meeting` come from a `storage_config` and keep its keys encrypted (`*_enc`, see
 * storage/secret-box.ts). `path` is the key prefix; objects are `<path>/<recording id>/<file name>`.
 */
export interface RecordingStorageRow {
  backend: 'local' | 's3';
  source: 'server' | 'recording' | 'meeting';
  /** The RealtimeKit `storage_config.type` given (absent for the server default). */
  type?: 'aws' | 'digitalocean' | 'cloudflare' | 'gcs';
  bucket?: string;
  region?: string;
  path?: string;
  endpoint?: string;
  force_path_style?: boolean;
  access_key_enc?: string;
  secret_enc?: string;
}

export interface RecordingRow {
  id: string;
  /** The server (NODE_ID) that records it (its files are on that server's disk). Absent on rows from before. */
  node_id?: string;
  app_id: string;
  meeting_id: string;
  session_id: string | null;
  type: RecordingType;
  status: RecordingStatus;
  invoked_time: string;
  started_time: string | null;
  stopped_time: string | null;
  output_file_name: string;
  user_ids: string[] | null;
  /** Live changes of user_ids (PATCH, an extension), oldest first. Absent until the first. */
  allowlist_changes?: RecordingAllowlistChange[];
  layers: Record<string, { file_name_prefix: string; media_kind: 'audio' }>;
  group_by: 'peer' | 'user';
  align: 'recording_start' | 'first_packet';
  max_seconds: number;
  start_reason: { reason: 'API_CALL' | 'RECORD_ON_START'; caller?: Record<string, unknown> };
  stop_reason: {
    reason:
      'API_CALL' | 'INTERNAL_ERROR' | 'ALL_PEERS_LEFT' | 'MAX_SECONDS' | 'STORAGE_FULL' | 'SERVER_SHUTDOWN';
    caller?: Record<string, unknown>;
  } | null;
  error_reason: string | null;
  files: RecordingFileRow[];
  file_size: number;
  recording_duration: number;
  /** Absent on rows from before storage backends: local. */
  storage?: RecordingStorageRow;
  /** When its files and objects were deleted (DELETE or retention); links are no longer given. */
  deleted_at?: string | null;
  created_at: string;
  updated_at: string;
}

export type UploadStatus = 'PENDING' | 'DONE' | 'FAILED';

/**
 * The upload of a stopped recording's files to its bucket: one row per recording, written before
 * the first attempt so that a restart resumes it. `done` lists the files already confirmed in the
 * bucket (their local copies are gone); the rest are uploaded again from the local files.
 */
export interface RecordingUploadRow {
  /** The recording id. */
  id: string;
  /** The server whose disk holds the files; only it uploads them. Absent on rows from before. */
  node_id?: string;
  status: UploadStatus;
  attempts: number;
  next_attempt_at: string;
  last_error: string | null;
  done: string[];
  /** The error_reason the recording gets when it is UPLOADED (a capture failure noted at stop). */
  uploaded_note: string | null;
  created_at: string;
  updated_at: string;
}
