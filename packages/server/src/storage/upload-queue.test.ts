/**
 * The upload queue around a scripted destination (the real s3 backend has its own tests): retries
 * with backoff, a restart that resumes from the stored row without re-sending confirmed objects,
 * local copies deleted only after confirmation, and the reason after the last attempt.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { silentLogger } from '@trackroom/protocol';
import { SqliteRepository } from '../store/sqlite-repository.js';
import type { RecordingRow } from '../store/types.js';
import { LocalRecordingStorage } from './local-storage.js';
import { StorageError, type RecordingDestination, type StoredFile } from './recording-storage.js';
import { UploadQueue, type UploadOutcome } from './upload-queue.js';

/** A destination that fails the first `failures` puts, then stores; records every put. */
class ScriptedDestination implements RecordingDestination {
  readonly backend = 's3' as const;
  readonly puts: string[] = [];
  failures: number;
  /** Puts that hang until released (a restart in the middle of an upload). */
  hang = false;
  constructor(failures = 0) {
    this.failures = failures;
  }
  async put(_id: string, f: StoredFile): Promise<void> {
    if (this.hang) return new Promise(() => {});
    if (this.failures > 0) {
      this.failures--;
      throw new StorageError(`p/${f.fileName}`, `upload of p/${f.fileName} failed: ECONNREFUSED`);
    }
    this.puts.push(f.fileName);
  }
  async downloadUrl(): Promise<string> {
    return 'http://example.invalid/';
  }
  async delete(): Promise<void> {}
  close(): void {}
}

async function setup() {
  const dir = mkdtempSync(join(tmpdir(), 'upload-queue-'));
  const repo = new SqliteRepository(join(dir, 'db.sqlite'));
  const files = new LocalRecordingStorage(join(dir, 'recordings'));
  const id = randomUUID();
  const work = await files.workDir(id);
  const names = ['a.webm', 'b.webm', 'manifest.json'];
  for (const n of names) writeFileSync(join(work, n), n);
  const now = new Date().toISOString();
  const rec: RecordingRow = {
    id,
    app_id: randomUUID(),
    meeting_id: randomUUID(),
    session_id: null,
    type: 'TRACK',
    status: 'UPLOADING',
    invoked_time: now,
    started_time: now,
    stopped_time: now,
    output_file_name: 'x',
    user_ids: null,
    layers: { default: { file_name_prefix: 'default', media_kind: 'audio' } },
    group_by: 'peer',
    align: 'recording_start',
    max_seconds: 60,
    start_reason: { reason: 'API_CALL' },
    stop_reason: null,
    error_reason: null,
    // The manifest first here: the queue must still send it last.
    files: ['manifest.json', 'a.webm', 'b.webm'].map((n) => ({
      layer_name: 'default',
      file_name: n,
      participant_id: 'p',
      custom_participant_id: 'c',
      peer_id: null,
      size_bytes: n.length,
      duration_ms: 0,
      sha256: 'x',
    })),
    file_size: 0,
    recording_duration: 0,
    storage: { backend: 's3', source: 'server', bucket: 'b' },
    created_at: now,
    updated_at: now,
  };
  await repo.recordings.insert(rec);
  return { dir, repo, files, id, work };
}

function queue(
  s: Awaited<ReturnType<typeof setup>>,
  dest: RecordingDestination,
  maxAttempts = 5,
): { q: UploadQueue; settled: Promise<UploadOutcome> } {
  let resolve!: (o: UploadOutcome) => void;
  const settledWith: UploadOutcome[] = [];
  const settled = new Promise<UploadOutcome>((r) => (resolve = r));
  const q = new UploadQueue({
    repo: s.repo,
    logger: silentLogger,
    files: s.files,
    destinationFor: () => dest,
    settle: async (_id, o) => {
      settledWith.push(o);
    },
    maxAttempts,
    baseDelayMs: 5,
    concurrency: 2,
  });
  // The event comes after the upload row is final; settle was called once before it.
  q.events.on('settled', ({ outcome }) => {
    assert.deepEqual(settledWith, [outcome]);
    resolve(outcome);
  });
  return { q, settled };
}

describe('upload queue', () => {
  it('retries with doubling delays, then uploads media before the manifest and removes the local copies', async () => {
    const s = await setup();
    const dest = new ScriptedDestination(2);
    const { q, settled } = queue(s, dest);
    const retries: { attempts: number; delayMs: number }[] = [];
    q.events.on('retryScheduled', (e) => retries.push(e));
    await q.enqueue(s.id, null);
    assert.deepEqual(await settled, { ok: true, note: null });
    assert.deepEqual(dest.puts, ['a.webm', 'b.webm', 'manifest.json']);
    assert.deepEqual(
      retries.map((r) => [r.attempts, r.delayMs]),
      [
        [1, 5],
        [2, 10],
      ],
    );
    const job = await s.repo.recordingUploads.get(s.id);
    assert.equal(job?.status, 'DONE');
    assert.equal(job?.attempts, 3);
    assert.ok(!existsSync(s.work), 'the local directory is gone once every object is confirmed');
    await q.close();
    await s.repo.close();
  });

  it('after the last attempt: failed with the storage error, local files kept', async () => {
    const s = await setup();
    const { q, settled } = queue(s, new ScriptedDestination(100), 3);
    await q.enqueue(s.id, null);
    const out = await settled;
    assert.equal(out.ok, false);
    assert.match(
      (out as { reason: string }).reason,
      /^upload failed after 3 attempts: upload of p\/a\.webm failed: ECONNREFUSED$/,
    );
    assert.equal((await s.repo.recordingUploads.get(s.id))?.status, 'FAILED');
    assert.ok(existsSync(join(s.work, 'a.webm')), 'nothing is lost: the local files stay');
    await q.close();
    await s.repo.close();
  });

  it('a restart in the middle resumes: confirmed objects are not sent again, the rest are', async () => {
    const s = await setup();
    const first = new ScriptedDestination();
    const run1 = queue(s, first);
    // The first object is confirmed, then the process "dies" while the second is in flight.
    let stored = 0;
    run1.q.events.on('objectStored', () => {
      stored++;
      first.hang = true;
    });
    await run1.q.enqueue(s.id, 'a note');
    while (stored === 0) await new Promise((r) => setImmediate(r));
    await run1.q.close(10);
    assert.deepEqual(first.puts, ['a.webm']);
    assert.ok(!existsSync(join(s.work, 'a.webm')), 'the confirmed object has no local copy any more');
    assert.ok(existsSync(join(s.work, 'b.webm')), 'the unconfirmed one keeps it');

    const second = new ScriptedDestination();
    const run2 = queue(s, second);
    run2.q.start();
    assert.deepEqual(await run2.settled, { ok: true, note: 'a note' });
    assert.deepEqual(second.puts, ['b.webm', 'manifest.json'], 'a.webm is not uploaded twice');
    await run2.q.close();
    await s.repo.close();
  });
});
