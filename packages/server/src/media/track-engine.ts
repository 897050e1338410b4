import type { Logger, MediaPeer } from '@trackroom/protocol';
import {
  TrackRecording,
  repairTrackRecording,
  selectsPeer,
  type MediaSource,
  type TrackRecordingFailure,
  type TrackRecordingResult,
} from '@trackroom/recorder';
import { MANIFEST_FILE, type TrackRecordingEngine } from '../services/recording-service.js';
import type { RecordingFileRow, RecordingRow } from '../store/types.js';

export type { MediaSource };
export type CaptureFailure = TrackRecordingFailure;

export interface TrackEngineOptions {
  source: MediaSource;
  logger: Logger;
  /** How often silence is written for quiet or muted tracks (ms). Default 200. */
  tickMs?: number;
  clusterMs?: number;
  /**
   * A file of a recording failed to write (a full disk, an I/O error). Called once per recording,
   * at the first failure; the owner then stops the recording, which finalises what each file holds.
   */
  onCaptureFailed?: (recordingId: string, failure: CaptureFailure) => void;
}

/** Whether a track recording captures a peer (the recorder's rule: never hidden peers; `user_ids` null = everyone). */
export function selects(
  rec: Pick<RecordingRow, 'user_ids'>,
  p: Pick<MediaPeer, 'hidden' | 'participantId' | 'customParticipantId'>,
): boolean {
  return selectsPeer(rec.user_ids, p);
}

/** The recorder's options for a recording row: what to record, where, how. */
function recordingOptions(rec: RecordingRow, dir: string) {
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
function fileRows(rec: RecordingRow, res: TrackRecordingResult): RecordingFileRow[] {
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
 * The control plane's side of track recording: one recorder `TrackRecording` per recording row,
 * whose results become store rows. Everything about files, rejoins, journal, manifest and repair is
 * the recorder's.
 */
export class TrackEngine implements TrackRecordingEngine {
  readonly #o: TrackEngineOptions;
  readonly #active = new Map<string, { r: TrackRecording; rec: RecordingRow }>();

  constructor(options: TrackEngineOptions) {
    this.#o = options;
  }

  get activeCount(): number {
    return this.#active.size;
  }

  /** Track files of the active recordings (open, and closed ones kept for the manifest). */
  get fileCount(): number {
    let n = 0;
    for (const { r } of this.#active.values()) n += r.fileCount;
    return n;
  }

  async start(rec: RecordingRow, dir: string): Promise<void> {
    const r = new TrackRecording({
      ...recordingOptions(rec, dir),
      source: this.#o.source,
      logger: this.#o.logger,
      ...(this.#o.tickMs ? { tickMs: this.#o.tickMs } : {}),
      ...(this.#o.clusterMs ? { clusterMs: this.#o.clusterMs } : {}),
    });
    r.on('failed', (f) => this.#o.onCaptureFailed?.(rec.id, f));
    this.#active.set(rec.id, { r, rec });
    try {
      await r.start();
    } catch (err) {
      this.#active.delete(rec.id);
      r.abandon();
      throw err;
    }
  }

  pause(recordingId: string, atMs: number): void {
    this.#active.get(recordingId)?.r.pause(atMs);
  }

  resume(recordingId: string, atMs: number): void {
    this.#active.get(recordingId)?.r.resume(atMs);
  }

  async stop(recordingId: string, atMs: number): Promise<RecordingFileRow[]> {
    const a = this.#active.get(recordingId);
    if (!a) return [];
    this.#active.delete(recordingId);
    return fileRows(a.rec, await a.r.stop(atMs));
  }

  async repair(rec: RecordingRow, dir: string): Promise<RecordingFileRow[]> {
    const res = await repairTrackRecording({
      ...recordingOptions(rec, dir),
      logger: this.#o.logger,
      fallbackT0Ms: Date.parse(rec.started_time ?? rec.invoked_time),
    });
    return res ? fileRows(rec, res) : [];
  }

  participantsCaptured(recordingId: string): string[] {
    return this.#active.get(recordingId)?.r.participantsCaptured() ?? [];
  }

  /** Stops capture without finalising (server shutdown): files stay crash-consistent for repair. */
  async abandonAll(): Promise<void> {
    for (const { r } of this.#active.values()) r.abandon();
    this.#active.clear();
  }
}
