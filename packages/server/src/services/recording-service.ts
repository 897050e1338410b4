import { type Logger, type RecordingAllowlistChange, RtkError, TypedEmitter } from '@trackroom/protocol';
import type { UrlSigner } from '../auth/signed-urls.js';
import type { ServerConfig } from '../config.js';
import type { ListQuery, Repository } from '../store/repository.js';
import type { RecordingFileRow, RecordingRow, RecordingStatus, SessionRow } from '../store/types.js';
import type { WebhookDispatcher } from '../webhooks/dispatcher.js';
import { newId, nowIso } from './clock.js';
import { ACTIVE_STATUSES, canTransition, isFinal } from './recording-status.js';
import type { DiskGuard } from './disk-space.js';
import type { RecordingDestination, RecordingStorage } from '../storage/recording-storage.js';
import type { RecordingDestinations } from '../storage/destinations.js';
import type { OutboundPolicy } from './outbound-url.js';
import { MAX_PRESIGN_SECONDS } from '../storage/s3-storage.js';
import type { SecretBox } from '../storage/secret-box.js';
import { meetingStorage, publicStorageConfig, sealStorageConfig } from '../storage/storage-config.js';
import type { UploadOutcome, UploadQueue } from '../storage/upload-queue.js';
import type { SessionService } from './session-service.js';
import { type AllowlistEngine, type AllowlistPatchBody, updateAllowlist } from './recording-allowlist.js';

export { MANIFEST_FILE } from '@trackroom/recorder';
import { MANIFEST_FILE, isStorageFullCode } from '@trackroom/recorder';

/** A file of a recording could not be written (a full disk, an I/O error). */
export interface CaptureFailureInfo {
  fileName: string;
  code: string;
  message: string;
}

/** What one `user_ids` entry matched when the recording started. */
export interface UserMatch {
  user_id: string;
  /** `present`: a live, recordable peer of that participant; `not_present`: a participant of the
   * meeting who is not connected now (recorded when they join); `unknown`: nobody of the meeting. */
  matched: 'present' | 'not_present' | 'unknown';
  participant_id: string | null;
}

type StopReason = NonNullable<RecordingRow['stop_reason']>['reason'];

/** What the media side of track recording must do; implemented over the SFU and the recorder. */
export interface TrackRecordingEngine extends AllowlistEngine {
  /** Starts capturing; resolves once capture is set up (peers already publishing are attached). */
  start(rec: RecordingRow, dir: string): Promise<void>;
  pause(recordingId: string, atMs: number): void | Promise<void>;
  resume(recordingId: string, atMs: number): void | Promise<void>;
  /** Finalises every file and writes the manifest; returns the files (manifest included). */
  stop(recordingId: string, atMs: number): Promise<RecordingFileRow[]>;
  /** Finalises files left by a killed process; returns the usable ones (manifest included). */
  repair(rec: RecordingRow, dir: string): Promise<RecordingFileRow[]>;
  /** Participant ids that an active recording has files for. */
  participantsCaptured?(recordingId: string): string[] | Promise<string[]>;
}

export interface StartTrackBody {
  meeting_id: string;
  user_ids?: string[];
  layers?: Record<string, { file_name_prefix?: string; media_kind?: 'audio' }>;
  group_by?: 'peer' | 'user';
  align?: 'recording_start' | 'first_packet';
  max_seconds?: number;
  /** RealtimeKit's storage_config (secrets in clear, sealed before they are stored). */
  storage_config?: Record<string, unknown> | null;
}

export interface RecordingServiceEvents {
  [k: string]: unknown;
  statusChanged: { recording: RecordingRow; from: RecordingStatus | null };
  /** A running recording's user_ids changed (PATCH): whom it captures changed. */
  allowlistChanged: { recording: RecordingRow; change: RecordingAllowlistChange };
}

export interface RecordingServiceOptions {
  config: ServerConfig;
  repo: Repository;
  logger: Logger;
  webhooks: WebhookDispatcher;
  sessions: SessionService;
  storage: RecordingStorage;
  /** The backend of each recording (local, the server's bucket, its own bucket). */
  destinations: RecordingDestinations;
  /** Uploads of stopped recordings to buckets; set by the server once built (it calls settleUpload). */
  uploads?: UploadQueue;
  /** Seals storage_config keys before they are stored. */
  secrets: SecretBox;
  /** The outbound rules: a storage_config endpoint given on the start call obeys them. */
  outbound?: OutboundPolicy;
  signer: UrlSigner;
  engine?: TrackRecordingEngine;
  /** Free-space guard of DATA_DIR: new recordings are refused below its floor. */
  disk?: DiskGuard;
  /** Base URL for download links; read on every answer so a port bound at listen is honoured. */
  publicUrl: () => string;
}

export const DEFAULT_MAX_SECONDS = 24 * 3600;

function describeFailure(f: CaptureFailureInfo): string {
  return isStorageFullCode(f.code)
    ? `disk full (${f.code}) while writing ${f.fileName}`
    : `write failed (${f.code}) on ${f.fileName}`;
}

/** Recording lifecycle: INVOKED -> RECORDING (<-> PAUSED) -> UPLOADING -> UPLOADED, or ERRORED. */
export class RecordingService extends TypedEmitter<RecordingServiceEvents> {
  readonly #o: RecordingServiceOptions;
  readonly #maxTimers = new Map<string, NodeJS.Timeout>();
  readonly #stopping = new Map<string, Promise<RecordingRow>>();
  readonly #failures = new Map<string, CaptureFailureInfo>();
  readonly #allowlistQueues = new Map<string, Promise<unknown>>();
  engine: TrackRecordingEngine | undefined;
  uploads: UploadQueue | undefined;
  /** In a cluster: another node's public URL (its links for the files on its disk). */
  nodeUrl: ((nodeId: string) => Promise<string | undefined>) | undefined;

  constructor(options: RecordingServiceOptions) {
    super();
    this.#o = options;
    this.engine = options.engine;
    this.uploads = options.uploads;
    options.sessions.on('sessionEnded', ({ session }) => {
      void this.#stopAllForSession(session).catch((err: unknown) =>
        this.#o.logger.error({ err, sessionId: session.id }, 'stopping recordings at session end failed'),
      );
    });
  }

  async #stopAllForSession(session: SessionRow): Promise<void> {
    const { rows } = await this.#o.repo.recordings.list({ where: { meeting_id: session.meeting_id } });
    // Only what this node captures: a dead node's recordings wait for its restart's repair.
    const me = this.#o.config.nodeId;
    const mine = (x: RecordingRow) => x.node_id === undefined || x.node_id === me;
    for (const r of rows.filter((x) => ACTIVE_STATUSES.includes(x.status) && mine(x))) {
      await this.stop(r, 'ALL_PEERS_LEFT');
    }
  }

  /**
   * Starts a track recording. Answers the recording as invoked and, when `user_ids` was given, what
   * each id matched: a typo is visible at once instead of recording nobody in silence.
   */
  async startTrack(
    appId: string,
    body: StartTrackBody,
  ): Promise<{ recording: RecordingRow; userMatches?: UserMatch[] }> {
    const meeting = await this.#o.repo.meetings.get(body.meeting_id);
    if (!meeting || meeting.app_id !== appId)
      throw new RtkError('NOT_FOUND', `Meeting ${body.meeting_id} not found`);
    // RealtimeKit's precedence: the start call's storage_config, then the meeting's, then the server's.
    const storage =
      body.storage_config !== undefined && body.storage_config !== null
        ? sealStorageConfig(
            body.storage_config,
            this.#o.secrets,
            'recording',
            'body.storage_config',
            this.#o.outbound,
          )
        : (meetingStorage(meeting.recording_config) ?? this.#o.destinations.serverDefault());
    const session = await this.#o.sessions.requireActiveSession(meeting.id);
    // Recorded where it is hosted: another server sharing the store answers it.
    this.#o.sessions.assertSessionHostedHere(session);
    const running = await this.activeFor(meeting.id);
    if (running) {
      throw new RtkError('CONFLICT', `Meeting ${meeting.id} already has an active recording ${running.id}`);
    }
    const engine = this.engine;
    if (!engine)
      throw new RtkError('NOT_IMPLEMENTED', 'Track recording needs the media plane, which is not running');
    await this.#o.disk?.assertRoomForRecording();
    const layers: RecordingRow['layers'] = {};
    for (const [name, l] of Object.entries(body.layers ?? { default: { file_name_prefix: 'default' } })) {
      layers[name] = { file_name_prefix: l.file_name_prefix ?? name, media_kind: 'audio' };
    }
    const now = nowIso();
    const rec: RecordingRow = {
      id: newId(),
      app_id: appId,
      meeting_id: meeting.id,
      session_id: session.id,
      type: 'TRACK',
      status: 'INVOKED',
      invoked_time: now,
      started_time: null,
      stopped_time: null,
      output_file_name: '{file_name_prefix}_{user_id}_{peer_id}_{stream_kind}_{media_kind}_{date_time}.webm',
      user_ids: body.user_ids ?? null,
      layers,
      group_by: body.group_by ?? 'peer',
      align: body.align ?? 'recording_start',
      max_seconds: body.max_seconds ?? DEFAULT_MAX_SECONDS,
      start_reason: { reason: 'API_CALL', caller: { type: 'ORGANIZATION', name: 'api' } },
      stop_reason: null,
      error_reason: null,
      files: [],
      file_size: 0,
      recording_duration: 0,
      storage,
      deleted_at: null,
      node_id: this.#o.config.nodeId,
      created_at: now,
      updated_at: now,
    };
    if (rec.group_by === 'user')
      rec.output_file_name = '{file_name_prefix}_{user_id}_{stream_kind}_{media_kind}_{date_time}.webm';
    await this.#o.repo.recordings.insert(rec);
    this.#o.logger.info(
      { recordingId: rec.id, meetingId: meeting.id, storage: storage.backend, storageSource: storage.source },
      'track recording invoked',
    );
    await this.#announce(rec, null);
    const dir = await this.#o.storage.workDir(rec.id);
    try {
      await engine.start(rec, dir);
    } catch (err) {
      this.#o.logger.error({ err, recordingId: rec.id }, 'track recording failed to start');
      return {
        recording: (await this.transition(rec.id, 'ERRORED', {
          error_reason: `start failed: ${(err as Error).message}`,
        }))!,
      };
    }
    await this.transition(rec.id, 'RECORDING', { started_time: nowIso() });
    const timer = setTimeout(() => {
      void this.#byId(rec.id).then((r) =>
        r && !isFinal(r.status) ? this.stop(r, 'MAX_SECONDS') : undefined,
      );
    }, rec.max_seconds * 1000);
    timer.unref();
    this.#maxTimers.set(rec.id, timer);
    // The answer is the recording as it was invoked, as RealtimeKit answers (status INVOKED).
    // Only a list of user ids is matched (one more round trip to the worker, whose loop is busy
    // with media when many start at once: a recording of everyone skips it).
    const userMatches = rec.user_ids
      ? await this.#matchUsers(rec, (await engine.participantsCaptured?.(rec.id)) ?? [])
      : undefined;
    return { recording: rec, ...(userMatches ? { userMatches } : {}) };
  }

  async #byId(id: string): Promise<RecordingRow | undefined> {
    return this.#o.repo.recordings.get(id);
  }

  async get(appId: string, id: string): Promise<RecordingRow> {
    const r = await this.#o.repo.recordings.get(id);
    if (!r || r.app_id !== appId) throw new RtkError('NOT_FOUND', `Recording ${id} not found`);
    return r;
  }

  async activeFor(meetingId: string): Promise<RecordingRow | undefined> {
    const { rows } = await this.#o.repo.recordings.list({
      where: { meeting_id: meetingId },
      whereIn: { field: 'status', values: [...ACTIVE_STATUSES] },
      orderBy: { field: 'invoked_time', dir: 'DESC' },
      limit: 1,
    });
    return rows[0];
  }

  list(query: ListQuery<RecordingRow>) {
    return this.#o.repo.recordings.list(query);
  }

  /** Moves a recording along the status machine; refuses a move it does not allow. */
  async transition(
    id: string,
    to: RecordingStatus,
    patch: Partial<RecordingRow> = {},
  ): Promise<RecordingRow | undefined> {
    const cur = await this.#o.repo.recordings.get(id);
    if (!cur) return undefined;
    if (!canTransition(cur.status, to)) {
      throw new RtkError('CONFLICT', `Recording ${id} is ${cur.status} and cannot become ${to}`);
    }
    const next = await this.#o.repo.recordings.update(id, { ...patch, status: to, updated_at: nowIso() });
    if (!next) return undefined;
    this.#o.logger.info({ recordingId: id, from: cur.status, to }, 'recording status');
    await this.#announce(next, cur.status);
    return next;
  }

  async #announce(rec: RecordingRow, from: RecordingStatus | null): Promise<void> {
    await this.#o.webhooks.enqueue(rec.app_id, 'recording.statusUpdate', {
      meeting: { id: rec.meeting_id, sessionId: rec.session_id },
      recording: {
        id: rec.id,
        recordingId: rec.id,
        type: rec.type,
        status: rec.status,
        invokedTime: rec.invoked_time,
        startedTime: rec.started_time,
        stoppedTime: rec.stopped_time,
        outputFileName: rec.output_file_name,
        ...(rec.stop_reason ? { stopReason: rec.stop_reason.reason } : {}),
        ...(rec.error_reason ? { errorReason: rec.error_reason } : {}),
      },
    });
    this.emit('statusChanged', { recording: rec, from });
  }

  /** `atMs`: the instant asked for (the request's arrival, or the first node's for a forwarded one). */
  async action(
    appId: string,
    id: string,
    action: 'stop' | 'pause' | 'resume',
    atMs: number = Date.now(),
  ): Promise<RecordingRow> {
    const rec = await this.get(appId, id);
    // Captured by another server sharing the store: it acts on it (forwarded there with REDIS_URL).
    if (rec.node_id !== undefined && rec.node_id !== this.#o.config.nodeId && !isFinal(rec.status))
      throw new RtkError(
        'HOSTED_ELSEWHERE',
        `Recording ${id} is captured by another server (${rec.node_id})`,
        {
          node_id: rec.node_id,
        },
      );
    const engine = this.engine;
    if (action === 'stop') {
      if (isFinal(rec.status) || rec.status === 'UPLOADING') {
        throw new RtkError('CONFLICT', `Recording ${id} is already ${rec.status}`);
      }
      return this.stop(rec, 'API_CALL', atMs);
    }
    if (action === 'pause') {
      if (rec.status !== 'RECORDING')
        throw new RtkError('CONFLICT', `Recording ${id} is ${rec.status}, not RECORDING`);
      await engine?.pause(id, atMs);
      return (await this.transition(id, 'PAUSED'))!;
    }
    if (rec.status !== 'PAUSED')
      throw new RtkError('CONFLICT', `Recording ${id} is ${rec.status}, not PAUSED`);
    await engine?.resume(id, atMs);
    return (await this.transition(id, 'RECORDING'))!;
  }

  /** Adds and removes users of a running track recording (PATCH; recording-allowlist.ts). */
  async updateAllowlist(
    appId: string,
    id: string,
    body: AllowlistPatchBody,
    atMs: number = Date.now(),
  ): Promise<RecordingRow> {
    const rec = await this.get(appId, id);
    return updateAllowlist(
      {
        config: this.#o.config,
        repo: this.#o.repo,
        webhooks: this.#o.webhooks,
        engine: this.engine,
        changed: (recording, change) => this.emit('allowlistChanged', { recording, change }),
        queues: this.#allowlistQueues,
      },
      rec,
      body,
      { type: 'api_token' },
      atMs,
    );
  }

  /** Stops once: concurrent stops share one finalisation. */
  stop(rec: RecordingRow, reason: StopReason, atMs: number = Date.now()): Promise<RecordingRow> {
    const running = this.#stopping.get(rec.id);
    if (running) return running;
    const p = this.#doStop(rec, reason, atMs).finally(() => this.#stopping.delete(rec.id));
    this.#stopping.set(rec.id, p);
    return p;
  }

  async #doStop(rec: RecordingRow, reason: StopReason, stoppedAt: number): Promise<RecordingRow> {
    const timer = this.#maxTimers.get(rec.id);
    if (timer) clearTimeout(timer);
    this.#maxTimers.delete(rec.id);
    const uploading = await this.transition(rec.id, 'UPLOADING', {
      stopped_time: new Date(stoppedAt).toISOString(),
      stop_reason: {
        reason,
        caller: { type: 'ORGANIZATION', name: reason === 'API_CALL' ? 'api' : 'system' },
      },
    });
    try {
      const files = this.engine ? await this.engine.stop(rec.id, stoppedAt) : [];
      return (await this.#finish(rec.id, files, this.#failures.get(rec.id)))!;
    } catch (err) {
      this.#o.logger.error({ err, recordingId: rec.id }, 'finalising recording failed');
      return (
        (await this.transition(rec.id, 'ERRORED', {
          error_reason: `finalize failed: ${(err as Error).message}`,
        })) ?? uploading!
      );
    }
  }

  async #finish(
    id: string,
    files: RecordingFileRow[],
    failure?: CaptureFailureInfo,
  ): Promise<RecordingRow | undefined> {
    this.#failures.delete(id);
    const media = files.filter((f) => f.file_name !== MANIFEST_FILE);
    const failed = failure ? describeFailure(failure) : undefined;
    if (failed && media.length === 0) {
      return this.transition(id, 'ERRORED', { error_reason: `${failed}; no audio could be kept` });
    }
    if (files.length === 0) {
      // Not even a manifest: nothing was captured (no media plane was attached to this recording).
      return this.transition(id, 'ERRORED', {
        error_reason: 'nothing was captured: no media plane was recording',
      });
    }
    const note = failed ? `${failed}; the files end there (see the manifest)` : null;
    const result = {
      files,
      file_size: media.reduce((a, f) => a + f.size_bytes, 0),
      recording_duration: Math.round(media.reduce((a, f) => Math.max(a, f.duration_ms), 0) / 1000),
    };
    const rec = await this.#o.repo.recordings.get(id);
    if (rec && this.#o.destinations.for(rec).backend !== 'local') {
      // A bucket: UPLOADING until every object is confirmed there (settleUpload).
      const uploads = this.uploads;
      if (!uploads) return this.transition(id, 'ERRORED', { error_reason: 'no upload queue is running' });
      const next = await this.#o.repo.recordings.update(id, { ...result, updated_at: nowIso() });
      await uploads.enqueue(id, note);
      return next;
    }
    return this.transition(id, 'UPLOADED', { ...(note ? { error_reason: note } : {}), ...result });
  }

  /** The end of a recording's upload: UPLOADED once every object is confirmed, or ERRORED with the storage error. */
  async settleUpload(id: string, outcome: UploadOutcome): Promise<void> {
    const rec = await this.#o.repo.recordings.get(id);
    if (!rec || rec.status !== 'UPLOADING') return;
    if (outcome.ok) {
      await this.transition(id, 'UPLOADED', outcome.note ? { error_reason: outcome.note } : {});
    } else {
      this.#o.logger.error({ recordingId: id, reason: outcome.reason }, 'recording upload failed');
      await this.transition(id, 'ERRORED', { error_reason: outcome.reason });
    }
  }

  /**
   * Recordings a killed process left unfinished: their files are repaired and they end UPLOADED with
   * stop_reason INTERNAL_ERROR, or ERRORED when nothing is usable. None stays RECORDING.
   */
  async recoverAfterRestart(): Promise<number> {
    const { rows: open } = await this.#o.repo.recordings.list({
      whereIn: { field: 'status', values: ['INVOKED', 'RECORDING', 'PAUSED', 'UPLOADING'] },
    });
    // Only this node's: another server's recordings are on its disk, recorded by it.
    const me = this.#o.config.nodeId;
    const rows = open.filter((r) => r.node_id === undefined || r.node_id === me);
    for (const rec of rows) await this.#recover(rec, 'server stopped');
    return rows.length;
  }

  /**
   * Recordings whose media worker died: repaired and ended exactly as after a crash of the whole
   * server (UPLOADED with stop_reason INTERNAL_ERROR, or ERRORED), with their webhooks. A recording
   * whose stop is in flight is left to that stop (it repairs what the worker left).
   */
  async recoverInterrupted(recordingIds: readonly string[]): Promise<number> {
    let n = 0;
    for (const id of recordingIds) {
      if (this.#stopping.has(id)) continue;
      const rec = await this.#o.repo.recordings.get(id);
      // INVOKED: the start itself failed with the worker and marks it ERRORED.
      if (!rec || isFinal(rec.status) || rec.status === 'INVOKED') continue;
      const timer = this.#maxTimers.get(id);
      if (timer) clearTimeout(timer);
      this.#maxTimers.delete(id);
      await this.#recover(rec, 'the media worker stopped');
      n++;
    }
    return n;
  }

  async #recover(rec: RecordingRow, what: string): Promise<void> {
    // Finalised and queued for upload before: the upload queue resumes it, nothing to repair.
    if (rec.status === 'UPLOADING' && (await this.#o.repo.recordingUploads.get(rec.id))) return;
    let files: RecordingFileRow[] = [];
    try {
      const dir = await this.#o.storage.workDir(rec.id);
      files = this.engine ? await this.engine.repair(rec, dir) : [];
    } catch (err) {
      this.#o.logger.error({ err, recordingId: rec.id }, 'repair failed');
    }
    const stopped = {
      stopped_time: rec.stopped_time ?? nowIso(),
      stop_reason: { reason: 'INTERNAL_ERROR' as const },
    };
    const usable = files.some((f) => f.file_name !== MANIFEST_FILE);
    if (rec.status !== 'UPLOADING') {
      await this.transition(rec.id, usable ? 'UPLOADING' : 'ERRORED', {
        ...stopped,
        ...(usable ? {} : { error_reason: `${what} while recording and no audio was recoverable` }),
      });
    }
    if (usable) await this.#finish(rec.id, files);
    else if (rec.status === 'UPLOADING') {
      await this.transition(rec.id, 'ERRORED', {
        error_reason: `${what} while finalising; nothing recoverable`,
      });
    }
    this.#o.logger.warn({ recordingId: rec.id, files: files.length }, 'recovered interrupted recording');
  }

  /**
   * The API shape of a recording, with download links for its files: our signed links for `local`,
   * presigned URLs of the bucket otherwise (at most 7 days, SigV4's limit). storage_config shows
   * the recording's own bucket without its keys (null for the server default).
   */
  async toApi(rec: RecordingRow) {
    let dest: RecordingDestination | undefined;
    try {
      dest = this.#o.destinations.for(rec);
    } catch (err) {
      // Its keys cannot be decrypted (the key file was replaced): the record is shown without links.
      this.#o.logger.error({ recordingId: rec.id, error: (err as Error).message }, 'no links for recording');
    }
    const ttl = this.#o.config.downloadUrlTtlSeconds;
    const expiresAt = Date.now() + (dest?.backend === 's3' ? Math.min(ttl, MAX_PRESIGN_SECONDS) : ttl) * 1000;
    const ready = rec.status === 'UPLOADED' && !rec.deleted_at && dest !== undefined;
    // Files kept on another node's disk (local storage in a cluster) are served by that node.
    const base =
      ready && dest?.backend === 'local' && rec.node_id && rec.node_id !== this.#o.config.nodeId
        ? await this.nodeUrl?.(rec.node_id)
        : undefined;
    const link = (fileName: string) => dest!.downloadUrl(rec.id, fileName, expiresAt, base);
    const downloadUrl = ready
      ? await Promise.all(
          Object.keys(rec.layers).map(async (layer) => ({
            layer_name: layer,
            download_urls: Object.fromEntries(
              await Promise.all(
                rec.files
                  .filter((f) => f.layer_name === layer)
                  .map(async (f) => [f.file_name, { download_url: await link(f.file_name) }] as const),
              ),
            ),
          })),
        )
      : null;
    const manifest = rec.files.find((f) => f.file_name === MANIFEST_FILE);
    return {
      id: rec.id,
      meeting_id: rec.meeting_id,
      session_id: rec.session_id,
      type: rec.type,
      status: rec.status,
      invoked_time: rec.invoked_time,
      started_time: rec.started_time,
      stopped_time: rec.stopped_time,
      output_file_name: rec.output_file_name,
      download_url: downloadUrl,
      download_url_expiry: ready ? new Date(expiresAt).toISOString() : null,
      audio_download_url: null,
      manifest_url: ready && manifest ? await link(MANIFEST_FILE) : null,
      file_size: rec.file_size,
      recording_duration: rec.recording_duration,
      user_ids: rec.user_ids,
      // Extension: live changes of user_ids (PATCH), once there is one.
      ...(rec.allowlist_changes?.length ? { allowlist_changes: rec.allowlist_changes } : {}),
      layers: rec.layers,
      group_by: rec.group_by,
      align: rec.align,
      start_reason: rec.start_reason,
      // The contract's stop_reason is an object, not nullable: left out until the recording stops.
      // error_reason (an extension) likewise appears only once there is one.
      ...(rec.stop_reason ? { stop_reason: rec.stop_reason } : {}),
      ...(rec.error_reason ? { error_reason: rec.error_reason } : {}),
      // Extension: when the files were deleted (DELETE or RECORDINGS_RETENTION_DAYS).
      ...(rec.deleted_at ? { deleted_at: rec.deleted_at } : {}),
      storage_config: publicStorageConfig(rec.storage),
    };
  }

  /**
   * Deletes a stopped recording's objects (its bucket) and local files, exactly those it lists, and
   * marks it `deleted_at`. A recording still recording or uploading is refused (409).
   */
  async delete(appId: string, id: string, why: 'API_CALL' | 'RETENTION' = 'API_CALL'): Promise<RecordingRow> {
    const rec = await this.get(appId, id);
    if (!isFinal(rec.status)) {
      throw new RtkError('CONFLICT', `Recording ${id} is ${rec.status}: stop it and let it finish first`);
    }
    if (rec.deleted_at) return rec;
    const names = rec.files.map((f) => f.file_name);
    let backend = rec.storage?.backend ?? 'local';
    // In the bucket: every file of an UPLOADED recording; of an ERRORED one, those its upload confirmed.
    const inBucket =
      backend === 'local'
        ? []
        : rec.status === 'UPLOADED'
          ? names
          : ((await this.#o.repo.recordingUploads.get(rec.id))?.done ?? []);
    if (inBucket.length > 0) {
      try {
        const dest = this.#o.destinations.for(rec);
        backend = dest.backend;
        await dest.delete(rec.id, inBucket);
      } catch (err) {
        this.#o.logger.warn(
          { recordingId: id, error: (err as Error).message },
          'deleting recording objects failed',
        );
        throw new RtkError(
          'STORAGE_UNAVAILABLE',
          `Recording ${id} could not be deleted: ${(err as Error).message}`,
        );
      }
    }
    // Local files: all a local recording has, or what an upload that failed left behind.
    await this.#o.storage.removeAll(rec.id);
    const next = (await this.#o.repo.recordings.update(id, { deleted_at: nowIso(), updated_at: nowIso() }))!;
    this.#o.logger.info({ recordingId: id, why, files: names.length, backend }, 'recording deleted');
    return next;
  }

  /** Deletes every stopped recording that stopped before `cutoffIso` (retention); answers how many. */
  async deleteStoppedBefore(cutoffIso: string): Promise<number> {
    const { rows } = await this.#o.repo.recordings.list({
      where: { deleted_at: null },
      whereIn: { field: 'status', values: ['UPLOADED', 'ERRORED'] },
      range: { field: 'stopped_time', to: cutoffIso },
    });
    let n = 0;
    for (const r of rows) {
      if (!r.stopped_time) continue;
      try {
        await this.delete(r.app_id, r.id, 'RETENTION');
        n++;
      } catch (err) {
        this.#o.logger.warn(
          { recordingId: r.id, error: (err as Error).message },
          'retention: delete failed; retried at the next sweep',
        );
      }
    }
    return n;
  }

  /**
   * A file of an active recording failed to write. A full disk: the space reserve is given back so
   * that finalisation has room, and the recording stops with STORAGE_FULL (UPLOADED with what fit,
   * or ERRORED when nothing could be kept). Any other I/O error stops it with INTERNAL_ERROR.
   */
  async captureFailed(recordingId: string, failure: CaptureFailureInfo): Promise<void> {
    const full = isStorageFullCode(failure.code);
    if (full) await this.#o.disk?.releaseReserve();
    const rec = await this.#o.repo.recordings.get(recordingId);
    if (!rec || !ACTIVE_STATUSES.includes(rec.status)) return;
    this.#failures.set(recordingId, failure);
    this.#o.logger.error({ recordingId, ...failure }, 'recording stops: a file failed to write');
    await this.stop(rec, full ? 'STORAGE_FULL' : 'INTERNAL_ERROR');
  }

  /** What each requested user id matches in the meeting right now (for the start answer). */
  async #matchUsers(rec: RecordingRow, captured: string[]): Promise<UserMatch[] | undefined> {
    if (!rec.user_ids) return undefined;
    const { rows } = await this.#o.repo.participants.list({ where: { meeting_id: rec.meeting_id } });
    const live = new Set(captured);
    return rec.user_ids.map((uid) => {
      const p = rows.find((r) => r.id === uid || r.custom_participant_id === uid);
      if (!p) return { user_id: uid, matched: 'unknown', participant_id: null };
      return { user_id: uid, matched: live.has(p.id) ? 'present' : 'not_present', participant_id: p.id };
    });
  }

  /** Stops and finalises every active recording (graceful shutdown). */
  async stopAllActive(reason: StopReason): Promise<number> {
    const { rows } = await this.#o.repo.recordings.list({
      whereIn: { field: 'status', values: [...ACTIVE_STATUSES] },
    });
    await Promise.all(
      rows.map((r) =>
        this.stop(r, reason).catch((err: unknown) =>
          this.#o.logger.error({ err, recordingId: r.id }, 'stop at shutdown failed'),
        ),
      ),
    );
    return rows.length;
  }

  close(): void {
    for (const t of this.#maxTimers.values()) clearTimeout(t);
    this.#maxTimers.clear();
  }
}
