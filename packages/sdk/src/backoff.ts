/** Reconnect delays: exponential growth with a cap and proportional jitter. Pure; no timers. */
export interface BackoffOptions {
  /** Delay before the first retry. Default 500 ms. */
  initialMs?: number;
  /** Largest delay. Default 10 000 ms. */
  maxMs?: number;
  /** Growth per attempt. Default 2. */
  factor?: number;
  /** Fraction of the delay drawn at random either side, 0..1. Default 0.2. */
  jitter?: number;
  /** Attempts before giving up; `Infinity` never gives up. Default 10. */
  maxAttempts?: number;
  /** Source of randomness in [0, 1); injectable for tests. */
  random?: () => number;
}

/** The delay before retry number `attempt` (0-based), jitter excluded. */
export function backoffBaseDelay(attempt: number, opts: BackoffOptions = {}): number {
  const initial = opts.initialMs ?? 500;
  const max = opts.maxMs ?? 10_000;
  const factor = opts.factor ?? 2;
  return Math.min(max, initial * Math.pow(factor, Math.max(0, attempt)));
}

export class Backoff {
  readonly #opts: BackoffOptions;
  #attempt = 0;

  constructor(opts: BackoffOptions = {}) {
    this.#opts = opts;
  }

  /** Retries handed out since the last {@link reset}. */
  get attempt(): number {
    return this.#attempt;
  }

  /** The delay before the next retry, or `undefined` when the attempts are used up. */
  next(): number | undefined {
    if (this.#attempt >= (this.#opts.maxAttempts ?? 10)) return undefined;
    const base = backoffBaseDelay(this.#attempt, this.#opts);
    this.#attempt++;
    const jitter = Math.min(1, Math.max(0, this.#opts.jitter ?? 0.2));
    const r = (this.#opts.random ?? Math.random)();
    return Math.max(0, Math.round(base * (1 + jitter * (2 * r - 1))));
  }

  reset(): void {
    this.#attempt = 0;
  }
}
