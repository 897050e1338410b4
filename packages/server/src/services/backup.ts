import { cpSync, copyFileSync, existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import Database from 'better-sqlite3';

export interface BackupResult {
  dest: string;
  /** Bytes of the database copy. */
  databaseBytes: number;
  /** Schema version (`user_version`) of the copy. */
  schemaVersion: number;
  /** Files copied besides the database (`api-token`, recordings when asked). */
  copied: string[];
}

export class BackupError extends Error {
  override readonly name = 'BackupError';
}

/**
 * Backs up DATA_DIR while the server runs: the SQLite database through SQLite's online backup API
 * (a consistent snapshot, WAL included; a file copy of a WAL database is not one), then checked
 * with `PRAGMA integrity_check`; the generated `api-token` file when there is one; and with
 * `recordings: true` the recordings directory (finished recordings are immutable files; the
 * files of a recording still running are copied as they are at that moment).
 * `dest` must not exist or be an empty directory.
 */
export async function backupDataDir(
  dataDir: string,
  dest: string,
  opts: { recordings?: boolean } = {},
): Promise<BackupResult> {
  const src = join(resolve(dataDir), 'trackroom.db');
  if (!existsSync(src)) throw new BackupError(`no database at ${src}: is DATA_DIR right?`);
  const out = resolve(dest);
  if (existsSync(out) && readdirSync(out).length > 0) {
    throw new BackupError(`${out} exists and is not empty: give a new directory`);
  }
  mkdirSync(out, { recursive: true, mode: 0o700 });
  const db = new Database(src, { fileMustExist: true });
  try {
    db.pragma('busy_timeout = 5000');
    await db.backup(join(out, 'trackroom.db'));
  } finally {
    db.close();
  }
  const copy = new Database(join(out, 'trackroom.db'), { fileMustExist: true });
  let schemaVersion: number;
  let databaseBytes: number;
  try {
    const check = copy.pragma('integrity_check', { simple: true });
    if (check !== 'ok') throw new BackupError(`the copy fails SQLite's integrity check: ${String(check)}`);
    schemaVersion = copy.pragma('user_version', { simple: true }) as number;
    databaseBytes =
      (copy.pragma('page_count', { simple: true }) as number) *
      (copy.pragma('page_size', { simple: true }) as number);
    // The copy stands alone: one file, no -wal/-shm beside it.
    copy.pragma('journal_mode = DELETE');
  } finally {
    copy.close();
  }
  const copied: string[] = [];
  const token = join(dataDir, 'api-token');
  if (existsSync(token)) {
    copyFileSync(token, join(out, 'api-token'));
    copied.push('api-token');
  }
  if (opts.recordings && existsSync(join(dataDir, 'recordings'))) {
    cpSync(join(dataDir, 'recordings'), join(out, 'recordings'), { recursive: true });
    copied.push('recordings/');
  }
  return { dest: out, databaseBytes, schemaVersion, copied };
}
