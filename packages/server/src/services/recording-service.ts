import { type Logger, RtkError, TypedEmitter } from '@trackroom/protocol';
import type { UrlSigner } from '../auth/signed-urls.js';
import type { ServerConfig } from '../config.js';
import type { ListQuery, Repository } from '../store/repository.js';
import type { RecordingFileRow, RecordingRow, RecordingStatus, SessionRow } from '../store/types.js';
import type { WebhookDispatcher } from '../webhooks/dispatcher.js';
import { newId, nowIso } from './clock.js';
import { ACTIVE_STATUSES, canTransition, isFinal } from './recording-status.js';
import type { DiskGuard } from './disk-space.js';
import type { RecordingStorage } from './storage.js';
import type { SessionService } from './session-service.js';

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
export interface TrackRecordingEngine {
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
}

export interface RecordingServiceEvents {
  [k: string]: unknown;
  statusChanged: { recording: RecordingRow; from: RecordingStatus | null };
}

export interface RecordingServiceOptions {
  config: ServerConfig;
  repo: Repository;
  logger: Logger;
  webhooks: WebhookDispatcher;
  sessions: SessionService;
  storage: RecordingStorage;
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
  engine: TrackRecordingEngine | undefined;

  constructor(options: RecordingServiceOptions) {
    super();
    this.#o = options;
    this.engine = options.engine;
    options.sessions.on('sessionEnded', ({ session }) => {
      void this.#stopAllForSession(session).catch((err: unknown) =>
        this.#o.logger.error({ err, sessionId: session.id }, 'stopping recordings at session end failed'),
      );
    });
  }

  async #stopAllForSession(session: SessionRow): Promise<void> {
    const { rows } = await this.#o.repo.recordings.list({ where: { meeting_id: session.meeting_id } });
    for (const r of rows.filter((x) => ACTIVE_STATUSES.includes(x.status))) {
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
    const session = await this.#o.sessions.requireActiveSession(meeting.id);
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
      created_at: now,
      updated_at: now,
    };
    if (rec.group_by === 'user')
      rec.output_file_name = '{file_name_prefix}_{user_id}_{stream_kind}_{media_kind}_{date_time}.webm';
    await this.#o.repo.recordings.insert(rec);
    this.#o.logger.info({ recordingId: rec.id, meetingId: meeting.id }, 'track recording invoked');
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
    const userMatches = await this.#matchUsers(rec, (await engine.participantsCaptured?.(rec.id)) ?? []);
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

  async action(appId: string, id: string, action: 'stop' | 'pause' | 'resume'): Promise<RecordingRow> {
    const rec = await this.get(appId, id);
    const engine = this.engine;
    if (action === 'stop') {
      if (isFinal(rec.status) || rec.status === 'UPLOADING') {
        throw new RtkError('CONFLICT', `Recording ${id} is already ${rec.status}`);
      }
      return this.stop(rec, 'API_CALL');
    }
    if (action === 'pause') {
      if (rec.status !== 'RECORDING')
        throw new RtkError('CONFLICT', `Recording ${id} is ${rec.status}, not RECORDING`);
      await engine?.pause(id, Date.now());
      return (await this.transition(id, 'PAUSED'))!;
    }
    if (rec.status !== 'PAUSED')
      throw new RtkError('CONFLICT', `Recording ${id} is ${rec.status}, not PAUSED`);
    await engine?.resume(id, Date.now());
    return (await this.transition(id, 'RECORDING'))!;
  }

  /** Stops once: concurrent stops share one finalisation. */
  stop(rec: RecordingRow, reason: StopReason): Promise<RecordingRow> {
    const running = this.#stopping.get(rec.id);
    if (running) return running;
    const p = this.#doStop(rec, reason).finally(() => this.#stopping.delete(rec.id));
    this.#stopping.set(rec.id, p);
    return p;
  }

  async #doStop(rec: RecordingRow, reason: StopReason): Promise<RecordingRow> {
    const timer = this.#maxTimers.get(rec.id);
    if (timer) clearTimeout(timer);
    this.#maxTimers.delete(rec.id);
    const stoppedAt = Date.now();
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
    return this.transition(id, 'UPLOADED', {
      ...(failed ? { error_reason: `${failed}; the files end there (see the manifest)` } : {}),
      files,
      file_size: media.reduce((a, f) => a + f.size_bytes, 0),
      recording_duration: Math.round(media.reduce((a, f) => Math.max(a, f.duration_ms), 0) / 1000),
    });
  }

  /**
   * Recordings a killed process left unfinished: their files are repaired and they end UPLOADED with
   * stop_reason INTERNAL_ERROR, or ERRORED when nothing is usable. None stays RECORDING.
   */
  async recoverAfterRestart(): Promise<number> {
    const { rows } = await this.#o.repo.recordings.list({
      whereIn: { field: 'status', values: ['INVOKED', 'RECORDING', 'PAUSED', 'UPLOADING'] },
    });
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

  /** The API shape of a recording, with signed download links for its files. */
  toApi(rec: RecordingRow) {
    const expiresAt = Date.now() + this.#o.config.downloadUrlTtlSeconds * 1000;
    const base = this.#o.publicUrl();
    const ready = rec.status === 'UPLOADED';
    const layers = Object.keys(rec.layers);
    const downloadUrl = ready
      ? [
          ...layers.map((layer) => ({
            layer_name: layer,
            download_urls: Object.fromEntries(
              rec.files
                .filter((f) => f.layer_name === layer)
                .map((f) => [
                  f.file_name,
                  { download_url: this.#o.signer.sign(base, rec.id, f.file_name, expiresAt) },
                ]),
            ),
          })),
        ]
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
      manifest_url: ready && manifest ? this.#o.signer.sign(base, rec.id, MANIFEST_FILE, expiresAt) : null,
      file_size: rec.file_size,
      recording_duration: rec.recording_duration,
      user_ids: rec.user_ids,
      layers: rec.layers,
      group_by: rec.group_by,
      align: rec.align,
      start_reason: rec.start_reason,
      // The contract's stop_reason is an object, not nullable: left out until the recording stops.
      // error_reason (an extension) likewise appears only once there is one.
      ...(rec.stop_reason ? { stop_reason: rec.stop_reason } : {}),
      ...(rec.error_reason ? { error_reason: rec.error_reason } : {}),
      storage_config: null,
    };
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
