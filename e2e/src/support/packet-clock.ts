/**
 * One pacing timer for many senders: each registered sender is told to send frame i when
 * `i * frameMs` has passed since it started (against the clock, so it does not drift; after a late
 * tick it catches up at once, as a real sender's buffer would). A load generator holding hundreds of
 * publishers runs one interval timer instead of one each. Time and timers are injectable so tests
 * drive the clock with {@link PacketClock.tick}.
 */

export interface PacketClockTimers {
  setInterval(fn: () => void, ms: number): unknown;
  clearInterval(handle: unknown): void;
}

export interface PacketClockOptions {
  /** Frame length (ms). Default 20 (Opus at 50 packets/s). */
  frameMs?: number;
  /** Timer period (ms); every tick sends what is due. Default 5. */
  tickMs?: number;
  /** Monotonic milliseconds. Default `performance.now()`. */
  now?: () => number;
  /** Default: Node's setInterval / clearInterval (unref'd: the clock never keeps a process alive). */
  timers?: PacketClockTimers;
  /** A sender that threw (the others carry on). Default: ignored after counting in `errors`. */
  onError?: (err: unknown) => void;
}

export interface PacedSenderOptions {
  /** The sender's clock against real time (0.998: frame i is due at i * frameMs / 0.998). Default 1. */
  clockSpeed?: number;
}

/** Sends frame `i` (0, 1, 2, ... since the sender was added); `dueMs` is when it was due (clock ms). */
export type PacedSend = (i: number, dueMs: number) => void;

interface Entry {
  readonly send: PacedSend;
  readonly start: number;
  readonly speed: number;
  next: number;
}

const nodeTimers: PacketClockTimers = {
  setInterval: (fn, ms) => setInterval(fn, ms).unref(),
  clearInterval: (h) => clearInterval(h as NodeJS.Timeout),
};

export class PacketClock {
  readonly #frameMs: number;
  readonly #tickMs: number;
  readonly #now: () => number;
  readonly #timers: PacketClockTimers;
  readonly #onError: ((err: unknown) => void) | undefined;
  readonly #entries = new Set<Entry>();
  #handle: unknown;
  /** Sender calls that threw. */
  errors = 0;

  constructor(o: PacketClockOptions = {}) {
    this.#frameMs = o.frameMs ?? 20;
    this.#tickMs = o.tickMs ?? 5;
    this.#now = o.now ?? (() => performance.now());
    this.#timers = o.timers ?? nodeTimers;
    this.#onError = o.onError;
  }

  /** Senders registered now. */
  get size(): number {
    return this.#entries.size;
  }

  /**
   * Registers a sender; frame 0 is due at once. Returns its removal (idempotent). The timer runs
   * while at least one sender is registered.
   */
  add(send: PacedSend, o: PacedSenderOptions = {}): () => void {
    const entry: Entry = { send, start: this.#now(), speed: o.clockSpeed ?? 1, next: 0 };
    this.#entries.add(entry);
    if (this.#handle === undefined) this.#handle = this.#timers.setInterval(() => this.tick(), this.#tickMs);
    this.#sendDue(entry, entry.start);
    return () => {
      if (!this.#entries.delete(entry)) return;
      if (this.#entries.size === 0) this.#stopTimer();
    };
  }

  /** Sends every frame that is due (the timer calls it; tests may too). */
  tick(): void {
    const now = this.#now();
    for (const e of this.#entries) this.#sendDue(e, now);
  }

  /** Removes every sender and stops the timer. */
  close(): void {
    this.#entries.clear();
    this.#stopTimer();
  }

  #sendDue(e: Entry, now: number): void {
    const due = Math.floor(((now - e.start) * e.speed) / this.#frameMs);
    // A sender removed by its own callback (or by another's) stops at once.
    while (e.next <= due && this.#entries.has(e)) {
      const i = e.next++;
      try {
        e.send(i, e.start + (i * this.#frameMs) / e.speed);
      } catch (err) {
        this.errors++;
        this.#onError?.(err);
      }
    }
  }

  #stopTimer(): void {
    if (this.#handle === undefined) return;
    this.#timers.clearInterval(this.#handle);
    this.#handle = undefined;
  }
}

let shared: PacketClock | undefined;

/** The process's one clock at 20 ms frames (what the load generator's publishers share). */
export function sharedPacketClock(): PacketClock {
  shared ??= new PacketClock();
  return shared;
}
