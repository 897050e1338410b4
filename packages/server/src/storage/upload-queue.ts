import { type Logger, TypedEmitter } from '@trackroom/protocol';
import { MANIFEST_FILE } from '@trackroom/recorder';
import type { Repository } from '../store/repository.js';
import type { RecordingRow, RecordingUploadRow } from '../store/types.js';
import type { RecordingDestination, RecordingStorage } from './recording-storage.js';
import { StorageError } from './recording-storage.js';
import { SecretBoxError } from './secret-box.js';

/** How an upload ended; the recording service turns it into UPLOADED or ERRORED. */
export type UploadOutcome = { ok: true; note: string | null } | { ok: false; reason: string };

export interface UploadQueueOptions {
  repo: Repository;
  logger: Logger;
  files: RecordingStorage;
  destinationFor: (rec: RecordingRow) => RecordingDestination;
  /** Called once per upload when it ends, before the upload row is marked final (a crash in between re-settles it). */
  settle: (recordingId: string, outcome: UploadOutcome) => Promise<void>;
  maxAttempts: number;
  baseDelayMs: number;
  /** Recordings uploaded at once. */
  concurrency: number;
  /** Injectable clock (ms). */
  now?: () => number;
  /** This server (NODE_ID): it uploads only the jobs of files on its own disk. Default `local`. */
  nodeId?: string;
}

export interface UploadQueueEvents {
  [k: string]: unknown;
  objectStored: { recordingId: string; fileName: string; bytes: number };
  retryScheduled: {
    recordingId: string;
    attempts: number;
    delayMs: number;
    nextAttemptAt: string;
    error: string;
  };
  settled: { recordingId: string; outcome: UploadOutcome; attempts: number };
}

const MAX_BACKOFF_MS = 10 * 60 * 1000;

/** Media first, the manifest last: a manifest in the bucket means every file listed in it is there. */
function uploadOrder(rec: RecordingRow): RecordingRow['files'] {
  return [...rec.files].sort(
    (a, b) => Number(a.file_name === MANIFEST_FILE) - Number(b.file_name === MANIFEST_FILE),
  );
}

/**
 * Uploads stopped recordings to their bucket. Every upload is a row in the store before its first
 * attempt, so a restart resumes it: files already confirmed are skipped (their row lists them), the
 * others are uploaded again from the local copy, which is deleted only once its object is confirmed.
 * A failed attempt is retried with exponential backoff; after the last one the recording is settled
 * as failed with the storage error (its local files are kept).
 */
export class UploadQueue {
  readonly events = new TypedEmitter<UploadQueueEvents>();
  readonly #o: UploadQueueOptions;
  readonly #now: () => number;
  readonly #running = new Map<string, Promise<void>>();
  #timer: NodeJS.Timeout | undefined;
  #pumping = false;
  #again = false;
  #closed = false;

  constructor(options: UploadQueueOptions) {
    this.#o = options;
    this.#now = options.now ?? Date.now;
    this.events.onListenerError = (err, event) =>
      options.logger.error({ err, event }, 'upload queue listener threw');
  }

  /** Resumes uploads left pending by an earlier run. */
  start(): void {
    this.#kick();
  }

  /** Queues the upload of a stopped recording (its files are on the row). Idempotent. */
  async enqueue(recordingId: string, note: string | null): Promise<void> {
    if (this.#closed) throw new Error('upload queue is closed');
    const existing = await this.#o.repo.recordingUploads.get(recordingId);
    if (!existing) {
      const now = new Date(this.#now()).toISOString();
      await this.#o.repo.recordingUploads.insert({
        id: recordingId,
        node_id: this.#o.nodeId ?? 'local',
        status: 'PENDING',
        attempts: 0,
        next_attempt_at: now,
        last_error: null,
        done: [],
        uploaded_note: note,
        created_at: now,
        updated_at: now,
      });
    }
    this.#kick();
  }

  /** True while the recording has an upload that has not settled. */
  async pending(recordingId: string): Promise<boolean> {
    const row = await this.#o.repo.recordingUploads.get(recordingId);
    return row?.status === 'PENDING';
  }

  stats(): { running: number } {
    return { running: this.#running.size };
  }

  #kick(delayMs = 0): void {
    if (this.#closed) return;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.#pump().catch((err: unknown) => this.#o.logger.error({ err }, 'upload queue pump failed'));
    }, delayMs);
  }

  async #pump(): Promise<void> {
    if (this.#pumping) {
      this.#again = true;
      return;
    }
    this.#pumping = true;
    try {
      do {
        this.#again = false;
        const { rows } = await this.#o.repo.recordingUploads.list({
          where: { status: 'PENDING' },
          orderBy: { field: 'next_attempt_at', dir: 'ASC' },
        });
        const now = this.#now();
        let nextDue: number | undefined;
        for (const job of rows) {
          if (this.#closed) return;
          if (this.#running.has(job.id)) continue;
          // Another server's files are on its disk: it uploads them.
          if (job.node_id !== undefined && job.node_id !== (this.#o.nodeId ?? 'local')) continue;
          const due = Date.parse(job.next_attempt_at);
          if (due > now) {
            nextDue = Math.min(nextDue ?? due, due);
            continue;
          }
          if (this.#running.size >= this.#o.concurrency) break;
          const p = this.#attempt(job)
            .catch((err: unknown) =>
              this.#o.logger.error({ err, recordingId: job.id }, 'upload attempt crashed'),
            )
            .finally(() => {
              this.#running.delete(job.id);
              this.#kick();
            });
          this.#running.set(job.id, p);
        }
        if (nextDue !== undefined && !this.#again) this.#kick(Math.max(0, nextDue - this.#now()));
      } while (this.#again && !this.#closed);
    } finally {
      this.#pumping = false;
    }
  }

  async #attempt(job: RecordingUploadRow): Promise<void> {
    const repo = this.#o.repo;
    const rec = await repo.recordings.get(job.id);
    if (!rec || rec.status !== 'UPLOADING') {
      // Settled before a crash, or deleted: nothing left to send.
      const uploaded = rec?.status === 'UPLOADED';
      await repo.recordingUploads.update(job.id, { status: uploaded ? 'DONE' : 'FAILED' });
      if (uploaded) await this.#o.files.removeAll(job.id);
      return;
    }
    const attempts = job.attempts + 1;
    const done = new Set(job.done);
    try {
      const dest = this.#o.destinationFor(rec);
      for (const f of uploadOrder(rec)) {
        if (done.has(f.file_name)) continue;
        await dest.put(rec.id, { fileName: f.file_name, sizeBytes: f.size_bytes, sha256: f.sha256 });
        done.add(f.file_name);
        // Recorded before the local copy goes: a crash here re-uploads nothing and loses nothing.
        await repo.recordingUploads.update(job.id, {
          done: [...done],
          updated_at: new Date(this.#now()).toISOString(),
        });
        if (dest.backend !== 'local') await this.#o.files.removeFile(rec.id, f.file_name);
        this.events.emit('objectStored', { recordingId: rec.id, fileName: f.file_name, bytes: f.size_bytes });
      }
    } catch (e) {
      const known = e instanceof StorageError || e instanceof SecretBoxError;
      const error = known ? e.message : `upload failed: ${(e as Error).name}`;
      if (!known) this.#o.logger.error({ err: e, recordingId: rec.id }, 'upload failed unexpectedly');
      if (attempts >= this.#o.maxAttempts) {
        const outcome: UploadOutcome = {
          ok: false,
          reason: `upload failed after ${attempts} attempts: ${error}`,
        };
        await this.#o.settle(rec.id, outcome);
        await repo.recordingUploads.update(job.id, { status: 'FAILED', attempts, last_error: error });
        this.events.emit('settled', { recordingId: rec.id, outcome, attempts });
        return;
      }
      const delay = Math.min(MAX_BACKOFF_MS, this.#o.baseDelayMs * 2 ** (attempts - 1));
      const nextAttemptAt = new Date(this.#now() + delay).toISOString();
      await repo.recordingUploads.update(job.id, {
        attempts,
        last_error: error,
        next_attempt_at: nextAttemptAt,
        updated_at: new Date(this.#now()).toISOString(),
      });
      this.#o.logger.warn(
        { recordingId: rec.id, attempts, nextAttemptAt, error },
        'upload failed; will retry',
      );
      this.events.emit('retryScheduled', {
        recordingId: rec.id,
        attempts,
        delayMs: delay,
        nextAttemptAt,
        error,
      });
      return;
    }
    const outcome: UploadOutcome = { ok: true, note: job.uploaded_note };
    await this.#o.settle(rec.id, outcome);
    await repo.recordingUploads.update(job.id, { status: 'DONE', attempts, last_error: null });
    await this.#o.files.removeAll(rec.id);
    this.events.emit('settled', { recordingId: rec.id, outcome, attempts });
  }

  /** Stops scheduling; waits up to `graceMs` for running attempts (an interrupted one resumes at the next start). */
  async close(graceMs = 5000): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    let t: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled([...this.#running.values()]),
      new Promise((r) => (t = setTimeout(r, graceMs))),
    ]);
    clearTimeout(t);
  }
}
