/**
 * The one interface between the control plane and a media worker (the SFU plus the recordings of
 * the meetings it hosts), whether the worker runs in the same process or in a child process.
 * Everything here is serialisable: commands go down as requests and come back as replies (errors as
 * `{ code, message, details }`, rebuilt with `RtkError.fromPayload`), and the worker's events come up
 * unchanged. A signalling socket is handed to the worker with {@link WorkerAdmission}: over a child
 * process the socket travels as the IPC message's handle.
 */
import type { ErrorPayload } from './errors.js';
import type { MediaEvents, PeerIdentity } from './media.js';
import type { RecordingInfo, ServerMessage } from './signalling.js';

/** What a track recording records: plain options, the same for every worker. */
export interface TrackRecordingSpec {
  id: string;
  meetingId: string;
  sessionId: string | null;
  /** The directory the files go into (it exists). */
  dir: string;
  /** Participant ids or custom ids to record; null records everyone but hidden peers. */
  userIds: readonly string[] | null;
  /** Layer name → safe file name prefix (`^[-\w]+$`). */
  layers: Readonly<Record<string, { filePrefix: string }>>;
  /** `peer`: one file per peer (a reconnect starts a new one); `user`: one per participant. */
  groupBy: 'peer' | 'user';
  align: 'recording_start' | 'first_packet';
}

/** Who changed a running recording's allowlist: the admin API, or (room left for) a participant. */
export type RecordingAllowlistActor = { type: 'api_token' } | { type: 'participant'; participant_id: string };

/** A live change of a track recording's `user_ids` (PATCH .../recordings/{id}), as asked. */
export interface RecordingAllowlistUpdate {
  recordingId: string;
  /** Wall-clock ms of the change: removed users' files close here, added users' files open here. */
  atMs: number;
  add: string[];
  remove: string[];
  by: RecordingAllowlistActor;
}

/**
 * A change as recorded in the manifest (`allowlist_changes`) and the store row: snake_case like the
 * manifest. `at_ms` is on the recording timeline (ms from t0), `at` the wall-clock ISO time.
 */
export interface RecordingAllowlistChange {
  at_ms: number;
  at: string;
  added_user_ids: string[];
  removed_user_ids: string[];
  /** The allowlist after the change. */
  user_ids: string[];
  by: RecordingAllowlistActor;
  /** Files closed (their last audio is at `at_ms`) and opened by the change. */
  files_closed: string[];
  files_opened: string[];
}

/** One finished track file. */
export interface RecordedTrackFile {
  fileName: string;
  layer: string;
  participantId: string;
  customParticipantId: string;
  /** The one peer that fed it, or null when several did (group_by user). */
  peerId: string | null;
  peerIds: string[];
  sizeBytes: number;
  durationMs: number;
  sha256: string;
  /** Set when writing stopped early (a full disk): the file holds what was written before. */
  writeFailure?: {
    /** The system error code (`ENOSPC` for a full disk, `EIO`, ...), or `UNKNOWN`. */
    code: string;
    message: string;
    /** Timeline position (ms from t0) where the file's audio ends. */
    endsAtMs: number;
  };
}

/** What a stopped (or repaired) track recording left: its files and its manifest file. */
export interface RecordedTrackResult {
  t0Ms: number;
  stopMs: number;
  files: RecordedTrackFile[];
  manifestFile: { fileName: string; sizeBytes: number; sha256: string };
}

/** A first write failure of a recording's file; the owner then stops the recording. */
export interface TrackRecordingFailure {
  fileName: string;
  /** System error code: `ENOSPC` for a full disk. */
  code: string;
  message: string;
}

/** How loaded a worker is: placement picks the worker with the fewest live tracks. */
export interface WorkerLoad {
  meetings: number;
  peers: number;
  /** Published tracks whose transport is open. */
  liveTracks: number;
  activeRecordings: number;
  /** Event-loop delay p99 over the last report period (ms). */
  eventLoopP99Ms: number;
}

/** A worker's figures for `/v1/stats` and benchmarks: sum CPU over the processes by `pid`. */
export interface WorkerStats {
  workerId: number;
  pid: number;
  load: WorkerLoad;
  /** `process.cpuUsage()` of the worker's process (the control plane's own when in-process). */
  cpuUs: { user: number; system: number };
  rssBytes: number;
  /** The SFU's counters (`SfuStats`: peers, subscriptions, rtpReceived, ...). */
  sfu: Record<string, number>;
  /** Track files of the worker's active recordings (open, and closed ones kept for the manifest). */
  trackFiles: number;
  /**
   * What the worker's active recordings have written: bytes on disk and RTP packets received and
   * declared lost by their reorder buffers (a recording leaves these sums when it finishes).
   */
  recorder: { bytesWritten: number; packetsReceived: number; packetsLost: number };
}

/** A signalling socket handed to the worker, with the identity the control plane admitted. */
export interface WorkerAdmission {
  identity: PeerIdentity;
  /** The meeting's recordings as the control plane knows them at admission, for `joined`. */
  recordings: RecordingInfo[];
  /** The upgrade request as received (the worker completes the WebSocket handshake). */
  request: { method: string; url: string; headers: Record<string, string | string[] | undefined> };
  /** Bytes read past the request head (`head` of Node's `upgrade` event), base64. */
  headBase64: string;
}

/** Command name → its parameters and its result. */
export type WorkerCommands = {
  kick: { params: { meetingId: string; peerIds?: string[] }; result: string[] };
  muteAudio: { params: { meetingId: string; peerIds?: string[] }; result: string[] };
  broadcast: { params: { meetingId: string; message: ServerMessage }; result: null };
  startRecording: { params: TrackRecordingSpec; result: null };
  pauseRecording: { params: { recordingId: string; atMs: number }; result: null };
  resumeRecording: { params: { recordingId: string; atMs: number }; result: null };
  /** Null when the worker has no such recording. */
  stopRecording: { params: { recordingId: string; atMs: number }; result: RecordedTrackResult | null };
  participantsCaptured: { params: { recordingId: string }; result: string[] };
  /** Null when the worker has no such recording. */
  updateRecordingUsers: { params: RecordingAllowlistUpdate; result: RecordingAllowlistChange | null };
  stats: { params: Record<string, never>; result: WorkerStats };
  /** Closes every peer; recordings are abandoned unfinalised (repair finishes them, as after a crash). */
  shutdown: { params: Record<string, never>; result: null };
};

export type WorkerCommand = keyof WorkerCommands;

/** Events a worker reports: the media plane's, plus its own lifecycle. */
export type WorkerEvents = MediaEvents & {
  ready: { workerId: number; pid: number };
  load: WorkerLoad & { workerId: number };
  recordingFailed: { recordingId: string; failure: TrackRecordingFailure };
};

export type WorkerEvent = keyof WorkerEvents;

/** Messages from the control plane to a worker process. */
export type ToWorkerMessage =
  | { kind: 'request'; id: number; command: WorkerCommand; params: unknown }
  /** Sent with the socket as the IPC handle; answered by no reply (refusals go over the socket). */
  | { kind: 'admit'; admission: WorkerAdmission };

/** Messages from a worker process to the control plane. */
export type FromWorkerMessage =
  | { kind: 'reply'; id: number; ok: true; result: unknown }
  | { kind: 'reply'; id: number; ok: false; error: ErrorPayload }
  | { kind: 'event'; event: WorkerEvent; data: unknown }
  /** One structured log line of the worker, forwarded to the control plane's logger. */
  | { kind: 'log'; level: 'debug' | 'info' | 'warn' | 'error'; obj: Record<string, unknown>; msg: string };
