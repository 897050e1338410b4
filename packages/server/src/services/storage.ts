import { createReadStream, type ReadStream } from 'node:fs';
import { mkdir, stat } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * Where recording files live. Local disk under DATA_DIR/recordings now; S3 can implement the same
 * interface. Names are never taken from user input: recording ids are UUIDs made here and file
 * names are made by the recorder and checked against SAFE_NAME.
 */
export interface RecordingStorage {
  /** A local directory the recorder writes a recording's files into. */
  workDir(recordingId: string): Promise<string>;
  size(recordingId: string, fileName: string): Promise<number | undefined>;
  read(recordingId: string, fileName: string, range?: { start: number; end: number }): ReadStream;
}

const SAFE_ID = /^[0-9a-f-]{36}$/;
export const SAFE_NAME = /^[-\w.]{1,255}$/;

export function assertSafe(recordingId: string, fileName?: string): void {
  if (!SAFE_ID.test(recordingId)) throw new Error(`unsafe recording id ${recordingId}`);
  if (fileName !== undefined && (!SAFE_NAME.test(fileName) || fileName.startsWith('.'))) {
    throw new Error(`unsafe file name ${fileName}`);
  }
}

export class LocalRecordingStorage implements RecordingStorage {
  readonly #root: string;
  constructor(root: string) {
    this.#root = root;
  }

  async workDir(recordingId: string): Promise<string> {
    assertSafe(recordingId);
    const dir = join(this.#root, recordingId);
    await mkdir(dir, { recursive: true });
    return dir;
  }

  async size(recordingId: string, fileName: string): Promise<number | undefined> {
    assertSafe(recordingId, fileName);
    try {
      return (await stat(join(this.#root, recordingId, fileName))).size;
    } catch {
      return undefined;
    }
  }

  read(recordingId: string, fileName: string, range?: { start: number; end: number }): ReadStream {
    assertSafe(recordingId, fileName);
    return createReadStream(join(this.#root, recordingId, fileName), range ?? {});
  }
}
