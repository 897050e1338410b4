import { open, stat, statfs, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { RtkError, TypedEmitter, type Logger } from '@trackroom/protocol';
import { isStorageFullCode } from '@trackroom/recorder';

/** Name of the reserve file in DATA_DIR. */
export const RESERVE_FILE = '.space-reserve';

export interface DiskGuardOptions {
  /** The directory whose file system is watched (DATA_DIR). */
  dir: string;
  /** Below this much free space no new recording starts (bytes). */
  minFreeBytes: number;
  /**
   * Space held in a reserve file and released when a write fails for lack of space, so that the
   * recordings hit by it can still be finalised (Cues, manifest, status rows). 0 disables it.
   */
  reserveBytes: number;
  logger: Logger;
  /** How often free space is checked (ms). Default 5000. */
  intervalMs?: number;
  /** Free bytes of the file system holding `dir`; injectable for tests. */
  freeBytes?: (dir: string) => Promise<number>;
}

export type DiskLevel = 'ok' | 'low' | 'below_floor';

export interface DiskGuardEvents {
  [k: string]: unknown;
  levelChanged: { level: DiskLevel; freeBytes: number };
}

export interface DiskGuardStats {
  /** Free bytes for recordings: the file system's free space less the part of the reserve it lacks. */
  free_bytes: number | null;
  min_free_bytes: number;
  level: DiskLevel;
  reserve_bytes_held: number;
}

const MB = 1024 * 1024;
const mb = (b: number) => `${(b / MB).toFixed(1)} MB`;

async function statfsFree(dir: string): Promise<number> {
  const s = await statfs(dir);
  return s.bavail * s.bsize;
}

/** True for the errors of a full disk: ENOSPC, EDQUOT, SQLite's SQLITE_FULL. */
export function isStorageFull(err: unknown): boolean {
  let e: unknown = err;
  for (let i = 0; i < 6 && e; i++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && (isStorageFullCode(code) || code === 'SQLITE_FULL')) return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}

/**
 * Watches free space in DATA_DIR: warns once when it runs low (under twice the floor), refuses new
 * recordings below the floor, and keeps a reserve file that is given back the moment a write fails
 * for lack of space. When space comes back, the reserve is taken again and recordings may start.
 */
export class DiskGuard extends TypedEmitter<DiskGuardEvents> {
  readonly #o: DiskGuardOptions;
  readonly #free: (dir: string) => Promise<number>;
  readonly #reservePath: string;
  #timer: NodeJS.Timeout | undefined;
  #lastFree: number | null = null;
  #level: DiskLevel = 'ok';
  #reserveHeld = 0;
  #checking: Promise<void> | undefined;
  #closed = false;

  constructor(options: DiskGuardOptions) {
    super();
    this.#o = options;
    this.#free = options.freeBytes ?? statfsFree;
    this.#reservePath = join(options.dir, RESERVE_FILE);
  }

  get level(): DiskLevel {
    return this.#level;
  }

  async start(): Promise<void> {
    // A reserve left by the previous run still holds its blocks.
    const left = await stat(this.#reservePath).catch(() => undefined);
    if (left && left.size >= this.#o.reserveBytes) this.#reserveHeld = left.size;
    await this.check();
    this.#timer = setInterval(() => {
      this.check().catch((err: unknown) => this.#o.logger.warn({ err }, 'checking free disk space failed'));
    }, this.#o.intervalMs ?? 5000);
    this.#timer.unref();
  }

  /** Reads free space now, updates the level and takes the reserve back when there is room. */
  check(): Promise<void> {
    this.#checking ??= this.#check().finally(() => (this.#checking = undefined));
    return this.#checking;
  }

  async #check(): Promise<void> {
    if (this.#closed) return;
    let free = await this.#free(this.#o.dir);
    const want = this.#o.reserveBytes;
    if (this.#reserveHeld < want && free >= this.#o.minFreeBytes + want) {
      await this.#takeReserve(want);
      free = await this.#free(this.#o.dir);
    }
    // Space the reserve should hold but does not (given back on a full disk) is earmarked for
    // finalising recordings, not free for new ones.
    free = Math.max(0, free - Math.max(0, want - this.#reserveHeld));
    this.#lastFree = free;
    const level: DiskLevel =
      free < this.#o.minFreeBytes ? 'below_floor' : free < 2 * this.#o.minFreeBytes ? 'low' : 'ok';
    if (level === this.#level) return;
    const from = this.#level;
    this.#level = level;
    const ctx = { dir: this.#o.dir, freeBytes: free, minFreeBytes: this.#o.minFreeBytes, from };
    if (level === 'below_floor')
      this.#o.logger.error(ctx, `only ${mb(free)} free in DATA_DIR: new recordings are refused`);
    else if (level === 'low')
      this.#o.logger.warn(
        ctx,
        `free space in DATA_DIR is low: ${mb(free)} (floor ${mb(this.#o.minFreeBytes)})`,
      );
    else this.#o.logger.info(ctx, `free space in DATA_DIR is back to ${mb(free)}`);
    this.emit('levelChanged', { level, freeBytes: free });
  }

  async #takeReserve(bytes: number): Promise<void> {
    // Written, not truncated to size: a sparse file would hold no blocks.
    const fh = await open(this.#reservePath, 'w');
    try {
      const chunk = Buffer.alloc(Math.min(bytes, MB));
      let done = 0;
      while (done < bytes) {
        const n = Math.min(chunk.length, bytes - done);
        await fh.write(chunk, 0, n, done);
        done += n;
      }
      await fh.sync();
      this.#reserveHeld = bytes;
      this.#o.logger.debug({ bytes }, 'disk space reserve taken');
    } catch (err) {
      this.#reserveHeld = 0;
      await fh.close().catch(() => undefined);
      await unlink(this.#reservePath).catch(() => undefined);
      this.#o.logger.warn({ err }, 'could not take the disk space reserve');
      return;
    }
    await fh.close();
  }

  /** A write failed for lack of space: give the reserve back so finalisation has room. */
  async releaseReserve(): Promise<void> {
    if (this.#reserveHeld === 0) return;
    const bytes = this.#reserveHeld;
    this.#reserveHeld = 0;
    await unlink(this.#reservePath).catch((err: unknown) =>
      this.#o.logger.warn({ err }, 'removing the disk space reserve failed'),
    );
    this.#o.logger.warn({ bytes }, 'disk full: released the space reserve to finalise recordings');
  }

  /** Throws 507 INSUFFICIENT_STORAGE when free space is below the floor. */
  async assertRoomForRecording(): Promise<void> {
    await this.check();
    const free = this.#lastFree;
    if (free !== null && free < this.#o.minFreeBytes) {
      throw new RtkError(
        'INSUFFICIENT_STORAGE',
        `Insufficient storage: ${mb(free)} free in DATA_DIR, a recording needs at least ${mb(this.#o.minFreeBytes)} (DISK_MIN_FREE_MB)`,
      );
    }
  }

  stats(): DiskGuardStats {
    return {
      free_bytes: this.#lastFree,
      min_free_bytes: this.#o.minFreeBytes,
      level: this.#level,
      reserve_bytes_held: this.#reserveHeld,
    };
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer) clearInterval(this.#timer);
    await this.#checking;
  }
}
