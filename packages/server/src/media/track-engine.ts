import type {
  Logger,
  MediaPeer,
  RecordedTrackResult,
  RecordingAllowlistActor,
  RecordingAllowlistChange,
  TrackRecordingSpec,
} from '@trackroom/protocol';
import { repairTrackRecording, selectsPeer } from '@trackroom/recorder';
import { MANIFEST_FILE, type TrackRecordingEngine } from '../services/recording-service.js';
import type { RecordingFileRow, RecordingRow } from '../store/types.js';
import type { WorkerPool } from './worker-pool.js';

export interface TrackEngineOptions {
  /** The media workers: each recording runs on its meeting's worker. */
  pool: WorkerPool;
  logger: Logger;
}

/** Whether a track recording captures a peer (the recorder's rule: never hidden peers; `user_ids` null = everyone). */
export function selects(
  rec: Pick<RecordingRow, 'user_ids'>,
  p: Pick<MediaPeer, 'hidden' | 'participantId' | 'customParticipantId'>,
): boolean {
  return selectsPeer(rec.user_ids, p);
}

/** What a worker records for a recording row: what, where, how. */
function recordingSpec(rec: RecordingRow, dir: string): TrackRecordingSpec {
  return {
    id: rec.id,
    meetingId: rec.meeting_id,
    sessionId: rec.session_id,
    dir,
    userIds: rec.user_ids,
    layers: Object.fromEntries(
      Object.entries(rec.layers).map(([name, l]) => [name, { filePrefix: l.file_name_prefix ?? name }]),
    ),
    groupBy: rec.group_by,
    align: rec.align,
  };
}

/** The store rows of a finished recording: its files, then its manifest. */
function fileRows(rec: RecordingRow, res: RecordedTrackResult): RecordingFileRow[] {
  return [
    ...res.files.map((f) => ({
      layer_name: f.layer,
      file_name: f.fileName,
      participant_id: f.participantId,
      custom_participant_id: f.customParticipantId,
      peer_id: f.peerId,
      size_bytes: f.sizeBytes,
      duration_ms: f.durationMs,
      sha256: f.sha256,
    })),
    {
      layer_name: Object.keys(rec.layers)[0] ?? 'default',
      file_name: MANIFEST_FILE,
      participant_id: '',
      custom_participant_id: '',
      peer_id: null,
      size_bytes: res.manifestFile.sizeBytes,
      duration_ms: 0,
      sha256: res.manifestFile.sha256,
    },
  ];
}

/**
 * The control plane's side of track recording: each recording row runs as a recorder
 * `TrackRecording` on its meeting's media worker, whose results become store rows here. Repair of
 * what a killed process (or worker) left runs here, in the control plane. Everything about files,
 * rejoins, journal, manifest and repair is the recorder's.
 */
export class TrackEngine implements TrackRecordingEngine {
  readonly #o: TrackEngineOptions;
  /** Rows of the recordings started here and not stopped yet (their results need them). */
  readonly #active = new Map<string, { rec: RecordingRow; dir: string }>();

  constructor(options: TrackEngineOptions) {
    this.#o = options;
  }

  get activeCount(): number {
    return this.#active.size;
  }

  async start(rec: RecordingRow, dir: string): Promise<void> {
    await this.#o.pool.startRecording(recordingSpec(rec, dir));
    this.#active.set(rec.id, { rec, dir });
  }

  async pause(recordingId: string, atMs: number): Promise<void> {
    await this.#o.pool.forRecording(recordingId, 'pauseRecording', { recordingId, atMs });
  }

  async resume(recordingId: string, atMs: number): Promise<void> {
    await this.#o.pool.forRecording(recordingId, 'resumeRecording', { recordingId, atMs });
  }

  /**
   * Finalises on the worker. A worker that dies while finalising leaves files that are repaired
   * here instead, as after a crash.
   */
  async stop(recordingId: string, atMs: number): Promise<RecordingFileRow[]> {
    const a = this.#active.get(recordingId);
    if (!a) return [];
    this.#active.delete(recordingId);
    let res: RecordedTrackResult | null | undefined;
    try {
      res = await this.#o.pool.forRecording(recordingId, 'stopRecording', { recordingId, atMs });
    } catch (err) {
      if (this.#o.pool.hasRecording(recordingId)) throw err;
      this.#o.logger.warn(
        { err, recordingId },
        'the media worker died while finalising: repairing the files',
      );
      return this.repair(a.rec, a.dir);
    }
    return res ? fileRows(a.rec, res) : [];
  }

  /** Forgets recordings whose worker died (they are repaired by the recording service). */
  forget(recordingIds: readonly string[]): void {
    for (const id of recordingIds) this.#active.delete(id);
  }

  async repair(rec: RecordingRow, dir: string): Promise<RecordingFileRow[]> {
    const res = await repairTrackRecording({
      ...recordingSpec(rec, dir),
      logger: this.#o.logger,
      fallbackT0Ms: Date.parse(rec.started_time ?? rec.invoked_time),
    });
    return res ? fileRows(rec, res) : [];
  }

  async updateUsers(
    recordingId: string,
    change: { atMs: number; add: string[]; remove: string[]; by: RecordingAllowlistActor },
  ): Promise<RecordingAllowlistChange | null | undefined> {
    return this.#o.pool.forRecording(recordingId, 'updateRecordingUsers', { recordingId, ...change });
  }

  async participantsCaptured(recordingId: string): Promise<string[]> {
    return (await this.#o.pool.forRecording(recordingId, 'participantsCaptured', { recordingId })) ?? [];
  }
}
