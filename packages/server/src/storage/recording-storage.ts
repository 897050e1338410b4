import type { ReadStream } from 'node:fs';

/**
 * Where recording files are written while recording: local disk under DATA_DIR/recordings. Names
 * are never taken from user input: recording ids are UUIDs made here and file names are made by the
 * recorder and checked against SAFE_NAME.
 */
export interface RecordingStorage {
  /** A local directory the recorder writes a recording's files into. */
  workDir(recordingId: string): Promise<string>;
  /** The local path of a file of a recording (it may not exist). */
  localPath(recordingId: string, fileName: string): string;
  size(recordingId: string, fileName: string): Promise<number | undefined>;
  read(recordingId: string, fileName: string, range?: { start: number; end: number }): ReadStream;
  /** Deletes one local file (after its object is confirmed in a bucket); a missing file is fine. */
  removeFile(recordingId: string, fileName: string): Promise<void>;
  /** Deletes the recording's local directory and everything in it. */
  removeAll(recordingId: string): Promise<void>;
}

/** A finalised file of a recording, as its row and the manifest describe it. */
export interface StoredFile {
  fileName: string;
  sizeBytes: number;
  sha256: string;
}

/**
 * Where a recording's files end up: `local` (they stay in DATA_DIR, links are our signed ones) or a
 * bucket (`s3`, presigned links). One implementation per backend: local-storage.ts, s3-storage.ts.
 */
export interface RecordingDestination {
  readonly backend: 'local' | 's3';
  /** Stores one finalised local file and confirms it (size and sha256); throws a StorageError. */
  put(recordingId: string, file: StoredFile): Promise<void>;
  /**
   * A download link valid until `expiresAtMs` (Range requests work on it). `baseUrl` (local files
   * only): the server whose disk holds them, when that is another node of a cluster.
   */
  downloadUrl(recordingId: string, fileName: string, expiresAtMs: number, baseUrl?: string): Promise<string>;
  /** Deletes exactly these files of the recording (and nothing else); missing ones are fine. */
  delete(recordingId: string, fileNames: string[]): Promise<void>;
  /** Releases connections; idempotent. */
  close(): void;
}

/** A storage operation failed; `message` names the object and the storage error, never a secret or a local path. */
export class StorageError extends Error {
  override readonly name = 'StorageError';
  readonly objectKey: string;
  constructor(objectKey: string, message: string) {
    super(message);
    this.objectKey = objectKey;
  }
}

export function contentTypeOf(fileName: string): string {
  return fileName.endsWith('.json') ? 'application/json' : 'audio/webm';
}

const SAFE_ID = /^[0-9a-f-]{36}$/;
export const SAFE_NAME = /^[-\w.]{1,255}$/;

export function assertSafe(recordingId: string, fileName?: string): void {
  if (!SAFE_ID.test(recordingId)) throw new Error(`unsafe recording id ${recordingId}`);
  if (fileName !== undefined && (!SAFE_NAME.test(fileName) || fileName.startsWith('.'))) {
    throw new Error(`unsafe file name ${fileName}`);
  }
}
