import { createReadStream, type ReadStream } from 'node:fs';
import { mkdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { UrlSigner } from '../auth/signed-urls.js';
import { assertSafe, type RecordingDestination, type RecordingStorage } from './recording-storage.js';

/** Recording files on local disk, one directory per recording under `root` (DATA_DIR/recordings). */
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

  localPath(recordingId: string, fileName: string): string {
    assertSafe(recordingId, fileName);
    return join(this.#root, recordingId, fileName);
  }

  async size(recordingId: string, fileName: string): Promise<number | undefined> {
    try {
      return (await stat(this.localPath(recordingId, fileName))).size;
    } catch {
      return undefined;
    }
  }

  read(recordingId: string, fileName: string, range?: { start: number; end: number }): ReadStream {
    return createReadStream(this.localPath(recordingId, fileName), range ?? {});
  }

  async removeFile(recordingId: string, fileName: string): Promise<void> {
    await rm(this.localPath(recordingId, fileName), { force: true });
  }

  async removeAll(recordingId: string): Promise<void> {
    assertSafe(recordingId);
    await rm(join(this.#root, recordingId), { recursive: true, force: true });
  }
}

/** The `local` backend: files stay where they were written; links are our signed download links. */
export class LocalDestination implements RecordingDestination {
  readonly backend = 'local' as const;
  readonly #files: RecordingStorage;
  readonly #signer: UrlSigner;
  readonly #publicUrl: () => string;

  constructor(files: RecordingStorage, signer: UrlSigner, publicUrl: () => string) {
    this.#files = files;
    this.#signer = signer;
    this.#publicUrl = publicUrl;
  }

  async put(): Promise<void> {
    // Nothing to move: the recorder wrote the file where downloads read it.
  }

  /** `baseUrl`: the node whose disk holds the files (in a cluster); by default this server. */
  async downloadUrl(
    recordingId: string,
    fileName: string,
    expiresAtMs: number,
    baseUrl: string = this.#publicUrl(),
  ): Promise<string> {
    return this.#signer.sign(baseUrl, recordingId, fileName, expiresAtMs);
  }

  async delete(recordingId: string, fileNames: string[]): Promise<void> {
    for (const f of fileNames) await this.#files.removeFile(recordingId, f);
  }

  close(): void {}
}
