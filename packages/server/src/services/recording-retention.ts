import type { Logger } from '@trackroom/protocol';
import type { RecordingService } from './recording-service.js';

export interface RecordingRetentionOptions {
  recordings: Pick<RecordingService, 'deleteStoppedBefore'>;
  /** RECORDINGS_RETENTION_DAYS. */
  days: number;
  logger: Logger;
  /** Time between sweeps (default one hour). */
  intervalMs?: number;
  /** Injectable clock (ms). */
  now?: () => number;
}

/** Deletes recordings that stopped more than `days` ago: at start, then every interval. Logged. */
export class RecordingRetention {
  readonly #o: RecordingRetentionOptions;
  readonly #now: () => number;
  #timer: NodeJS.Timeout | undefined;
  #sweeping: Promise<number> | undefined;
  #closed = false;

  constructor(options: RecordingRetentionOptions) {
    this.#o = options;
    this.#now = options.now ?? Date.now;
  }

  start(): void {
    const run = () => {
      void this.sweep().catch((err: unknown) => this.#o.logger.error({ err }, 'retention sweep failed'));
    };
    run();
    this.#timer = setInterval(run, this.#o.intervalMs ?? 3600_000);
    this.#timer.unref();
  }

  /** One sweep; concurrent calls share it. Answers how many recordings were deleted. */
  sweep(): Promise<number> {
    if (this.#closed) return Promise.resolve(0);
    this.#sweeping ??= (async () => {
      const cutoff = new Date(this.#now() - this.#o.days * 86_400_000).toISOString();
      const n = await this.#o.recordings.deleteStoppedBefore(cutoff);
      if (n > 0)
        this.#o.logger.info({ deleted: n, cutoff, days: this.#o.days }, 'retention: deleted old recordings');
      return n;
    })().finally(() => (this.#sweeping = undefined));
    return this.#sweeping;
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer) clearInterval(this.#timer);
    await this.#sweeping?.catch(() => undefined);
  }
}
