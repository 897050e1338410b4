/**
 * Where on the recording timeline a packet was sent, from its RTP time and its arrival times.
 *
 * Each packet gives a point: `x` = its RTP time (ms of the sender's media clock since the stream's
 * first packet) and `y` = its arrival (ms from t0) minus `x`. For a sender whose clock runs at rate
 * `r` the points lie on or above the line `y = c + (1/r - 1) * x`: `c` is where the stream started
 * plus the network delay, and everything else that happens on the way (jitter, queueing, the event
 * loop running late) only ever adds. So the send time is read off the LOWER ENVELOPE of the points:
 *
 * - The points are kept as per-bucket minima (`bucketMs` of RTP time) over `historyMs`.
 * - The slope (sender clock drift) is the lower convex hull's slope at the middle of that history
 *   (raised points never touch the hull), over buckets of at least `slopeMinPoints` packets spanning
 *   `slopeMinSpanMs`, clipped to `maxSlope`; or the rate measured by trusted RTCP sender reports,
 *   when the timeline has one (`setSlope`). Until it can be measured it is 0.
 * - The offset at `x` is the smallest upper bound a bucket gives, `y_k + slope * (x - x_k)`, loosened
 *   by the slope's uncertainty times `|x - x_k|` (`maxSlope` while unmeasured, 0.1 % measured from the
 *   envelope, 0.02 % from sender reports), so that the bound holds for any clock in range.
 *   A packet that arrives earlier than that moves it at once (delay cannot make a packet early: the
 *   sender's clock is fast, or the path got shorter). A packet that arrives later moves nothing.
 * - A later offset is followed only when it persists: when every packet for `confirmMs` of arrivals
 *   came more than `stepMs` later than the estimate (a longer network path, a sender clock step), or
 *   when packets more than `jumpMs` late keep coming for `jumpConfirmMs` (a frozen RTP clock). The
 *   history is then restarted from those packets. An event-loop stall delays the packets queued
 *   behind it, but they are all delivered at once when it ends, and the last of them and those after
 *   it are on time again, so a stall never looks like either.
 *
 * Pure and synchronous; time comes only from its inputs.
 */

export interface SendTimeEstimatorOptions {
  /** Width of a minimum bucket, ms of RTP time. Default 500. */
  bucketMs?: number;
  /** RTP time the buckets cover (for the slope), ms. Default 30 000. */
  historyMs?: number;
  /** Largest |slope| believed (1/rate - 1). Default 0.003 (a clock 0.3 % off). */
  maxSlope?: number;
  /** RTP time the buckets must span before a slope is measured, ms. Default 10 000. */
  slopeMinSpanMs?: number;
  /** Packets a bucket needs to count for the slope. Default 5. */
  slopeMinPoints?: number;
  /** A packet is "late" when it arrives more than this after the estimate, ms. Default 20. */
  stepMs?: number;
  /** Arrival time every packet must be late for before a later offset is followed, ms. Default 3000. */
  confirmMs?: number;
  /** Packets the last `confirmMs` must hold for a step to be confirmed. Default 10. */
  minPoints?: number;
  /** Packets later than this (ms) are a jump (frozen RTP clock): confirmed faster. Default 500. */
  jumpMs?: number;
  /** Arrival time three or more jump packets must span to confirm a jump, ms. Default 200. */
  jumpConfirmMs?: number;
}

export interface SendTimeEstimatorStats {
  /** Slope in use (1/rate - 1), and where it came from. */
  slope: number;
  slopeSource: 'none' | 'envelope' | 'senderReports';
  /** Later offsets that persisted and were followed, with the largest. */
  steps: number;
  largestStepMs: number;
}

/** Arrival gaps count towards persistence up to this (ms): longer ones are pauses in the talk. */
const ACTIVE_GAP_MS = 250;

/** A later offset that persisted, as returned by {@link SendTimeEstimator.add}. */
export interface SendTimeStep {
  /** How much later the estimate is now, at the packet that confirmed it (ms). */
  readonly sizeMs: number;
  /** RTP time of the first packet on the new offset: packets before it keep the previous estimate. */
  readonly fromX: number;
  /** The estimate before the step, for those packets. */
  readonly previousOffsetAt: (x: number) => number;
}

interface Bucket {
  key: number;
  x: number;
  y: number;
  count: number;
}

interface Point {
  x: number;
  y: number;
  arrivalMs: number;
}

export class SendTimeEstimator {
  private readonly bucketMs: number;
  private readonly historyMs: number;
  private readonly slopeMinPoints: number;
  private readonly maxSlope: number;
  private readonly slopeMinSpanMs: number;
  private readonly stepMs: number;
  private readonly confirmMs: number;
  private readonly minPoints: number;
  private readonly jumpMs: number;
  private readonly jumpConfirmMs: number;

  private buckets: Bucket[] = [];
  private slope = 0;
  private slopeSource: SendTimeEstimatorStats['slopeSource'] = 'none';
  private fixedSlope: number | undefined;
  /** The current run of late packets (cleared by one on time), to restart the history from. */
  private late: Point[] = [];
  private steps = 0;
  private largestStepMs = 0;
  /**
   * For x at or past every bucket the bound is linear in x: min_k (y_k - c x_k) + c x with
   * c = slope + uncertainty. Cached until a bucket or the slope changes (most packets change
   * neither), so the usual packet costs O(1) instead of a pass over every bucket (measured: 10 % of a
   * recording worker's main thread at 100 tracks).
   */
  private tail: { c: number; minA: number; maxX: number } | undefined;
  /** envelopeSlope's hull: indices into `buckets`. */
  private readonly hull: number[] = [];

  constructor(options: SendTimeEstimatorOptions = {}) {
    this.bucketMs = options.bucketMs ?? 500;
    this.historyMs = options.historyMs ?? 30_000;
    this.slopeMinPoints = options.slopeMinPoints ?? 5;
    this.maxSlope = options.maxSlope ?? 0.003;
    this.slopeMinSpanMs = options.slopeMinSpanMs ?? 10_000;
    this.stepMs = options.stepMs ?? 20;
    this.confirmMs = options.confirmMs ?? 3000;
    this.minPoints = options.minPoints ?? 10;
    this.jumpMs = options.jumpMs ?? 500;
    this.jumpConfirmMs = options.jumpConfirmMs ?? 200;
  }

  /** Packets arrived late and it is not decided yet whether that was delay or a new offset. */
  get pendingLate(): boolean {
    return this.late.length > 0;
  }

  get empty(): boolean {
    return this.buckets.length === 0;
  }

  /**
   * Adds one packet. Returns the later offset it confirmed, if it did. Points are expected in roughly
   * increasing `x` (the reorder buffer's order).
   */
  add(x: number, y: number, arrivalMs: number): SendTimeStep | undefined {
    if (this.empty) {
      this.insert(x, y);
      return undefined;
    }
    const excess = y - this.offsetAt(x);
    if (excess <= this.stepMs) {
      // On time: whatever came late before was delay, not a new offset.
      if (this.late.length > 0) this.late = [];
      this.insert(x, y);
      return undefined;
    }
    let step: SendTimeStep | undefined;
    const lowest = this.late.reduce((m, p) => Math.min(m, p.y), Infinity);
    if (y - lowest > this.jumpMs) {
      // A jump on top of a pending late run: that run lasted until now, so it was real if it was a jump.
      step = this.evaluate(arrivalMs);
    }
    this.late.push({ x, y, arrivalMs });
    const keepFrom = arrivalMs - 2 * this.confirmMs;
    let drop = 0;
    while (drop < this.late.length - 1 && (this.late[drop] as Point).arrivalMs < keepFrom) drop++;
    if (drop > 0) this.late.splice(0, drop);
    this.insert(x, y);
    return this.evaluate(arrivalMs) ?? step;
  }

  /**
   * Decides whether the run of late packets is a new offset. The run may begin with packets that were
   * only delayed (jitter on the old offset): it is split where the total delay it implies is least
   * (the head measured from the old offset, the tail from its own lowest point). The tail is a new
   * offset when it persisted: `confirmMs` of arrivals (pauses in the talk do not count) and
   * `minPoints` packets (a step); or all of it
   * more than `jumpMs` late, three packets over `jumpConfirmMs` (a jump). Fewer packets never confirm
   * anything: a stall at the end of a burst looks the same.
   */
  private evaluate(nowMs: number): SendTimeStep | undefined {
    const run = this.late;
    const head = run[0];
    if (!head || nowMs - head.arrivalMs < Math.min(this.jumpConfirmMs, this.confirmMs)) return undefined;
    const n = run.length;
    const sufMin = new Array<number>(n + 1).fill(Infinity);
    const sufSum = new Array<number>(n + 1).fill(0);
    for (let i = n - 1; i >= 0; i--) {
      const p = run[i] as Point;
      sufMin[i] = Math.min(p.y, sufMin[i + 1] as number);
      sufSum[i] = p.y + (sufSum[i + 1] as number);
    }
    let best = 0;
    let bestCost = Infinity;
    let headCost = 0;
    for (let k = 0; k < n; k++) {
      const cost = headCost + (sufSum[k] as number) - (n - k) * (sufMin[k] as number);
      if (cost < bestCost) {
        bestCost = cost;
        best = k;
      }
      const p = run[k] as Point;
      headCost += p.y - this.offsetAt(p.x);
    }
    const tail = run.slice(best);
    const first = tail[0] as Point;
    const last = tail.at(-1) as Point;
    let jump = true;
    for (const p of tail) if (p.y - this.offsetAt(p.x) <= this.jumpMs) jump = false;
    const span = last.arrivalMs - first.arrivalMs;
    // Persistence counts while packets come: a pause in the talk is no evidence either way.
    let active = 0;
    for (let i = 1; i < tail.length; i++) {
      active += Math.min(ACTIVE_GAP_MS, (tail[i] as Point).arrivalMs - (tail[i - 1] as Point).arrivalMs);
    }
    const confirmed =
      (active >= this.confirmMs && tail.length >= this.minPoints) ||
      (jump && tail.length >= 3 && span >= this.jumpConfirmMs);
    return confirmed ? this.restart(tail, last.x) : undefined;
  }

  /** The offset really moved: restart the history from the packets on the new offset. */
  private restart(tail: Point[], x: number): SendTimeStep {
    const before = this.offsetAt(x);
    const previous = { buckets: this.buckets, slope: this.slope, source: this.slopeSource };
    this.buckets = [];
    this.tail = undefined;
    this.late = [];
    for (const p of tail) this.insert(p.x, p.y);
    const sizeMs = this.offsetAt(x) - before;
    this.steps++;
    this.largestStepMs = Math.max(this.largestStepMs, sizeMs);
    return {
      sizeMs,
      fromX: (tail[0] as Point).x,
      previousOffsetAt: this.frozenOffsetAt(previous.buckets),
    };
  }

  /**
   * Estimated offset (send time on the timeline minus RTP time) at RTP time `x`: the tightest bound
   * any bucket gives, `y_k + slope * (x - x_k)`, loosened by the slope's uncertainty over the distance
   * (a slow clock is followed at once, without widening what a stall can do by more than that).
   */
  offsetAt(x: number): number {
    const u = this.uncertainty();
    const c = this.slope + u;
    let t = this.tail;
    if (!t || t.c !== c) {
      let minA = Infinity;
      let maxX = -Infinity;
      for (const k of this.buckets) {
        minA = Math.min(minA, k.y - c * k.x);
        maxX = Math.max(maxX, k.x);
      }
      t = this.tail = { c, minA, maxX };
    }
    if (x >= t.maxX) return t.minA + c * x;
    let best = Infinity;
    for (const k of this.buckets) best = Math.min(best, k.y + this.slope * (x - k.x) + u * Math.abs(x - k.x));
    return best;
  }

  /** How far the slope in use may be off: the whole range until measured. */
  private uncertainty(): number {
    if (this.slopeSource === 'senderReports') return 0.0002;
    if (this.slopeSource === 'envelope') return 0.001;
    return this.maxSlope;
  }

  /** The estimate as it stood with `buckets` (before a restart), for the frames sent before it. */
  private frozenOffsetAt(buckets: Bucket[]): (x: number) => number {
    const copy = new SendTimeEstimator({ maxSlope: this.maxSlope });
    copy.buckets = buckets;
    copy.tail = undefined;
    copy.slope = this.slope;
    copy.slopeSource = this.slopeSource;
    return (x) => copy.offsetAt(x);
  }

  /** The slope measured by trusted sender reports (1/rate - 1), or undefined to measure it here. */
  setSlope(slope: number | undefined): void {
    this.fixedSlope =
      slope === undefined ? undefined : Math.max(-this.maxSlope, Math.min(this.maxSlope, slope));
    this.updateSlope();
  }

  stats(): SendTimeEstimatorStats {
    return {
      slope: this.slope,
      slopeSource: this.slopeSource,
      steps: this.steps,
      largestStepMs: this.largestStepMs,
    };
  }

  private insert(x: number, y: number): void {
    const key = Math.floor(x / this.bucketMs);
    const before = this.buckets.at(-1);
    const unchanged = before !== undefined && before.key === key && y >= before.y;
    if (!unchanged) this.tail = undefined;
    const last = this.buckets.at(-1);
    let created = false;
    if (last && last.key === key) {
      last.count++;
      if (y < last.y) {
        last.x = x;
        last.y = y;
      }
    } else {
      // Out-of-order x (rare: reordering is done upstream) lands in its own bucket, kept sorted.
      let i = this.buckets.length;
      while (i > 0 && (this.buckets[i - 1] as Bucket).key > key) i--;
      const prev = this.buckets[i - 1];
      if (prev && prev.key === key) {
        prev.count++;
        if (y < prev.y) {
          prev.x = x;
          prev.y = y;
        }
      } else {
        this.buckets.splice(i, 0, { key, x, y, count: 1 });
        created = true;
      }
    }
    if (created) {
      const newest = (this.buckets.at(-1) as Bucket).x;
      let evict = 0;
      while (evict < this.buckets.length && (this.buckets[evict] as Bucket).x < newest - this.historyMs)
        evict++;
      if (evict > 0) this.buckets.splice(0, evict);
      this.updateSlope();
    }
  }

  private updateSlope(): void {
    let slope = 0;
    let source: SendTimeEstimatorStats['slopeSource'] = 'none';
    if (this.fixedSlope !== undefined) {
      slope = this.fixedSlope;
      source = 'senderReports';
    } else {
      const measured = this.envelopeSlope();
      if (measured !== undefined) {
        slope = measured;
        source = 'envelope';
      } else if (this.slopeSource === 'envelope') {
        slope = this.slope; // not measurable now (a restart): the sender's clock did not change
        source = 'envelope';
      }
    }
    this.slope = slope;
    this.slopeSource = source;
  }

  /**
   * Slope of the lower convex hull of the bucket minima at the middle of their span. Runs at every
   * new bucket of every recorded track, so it allocates nothing (the hull is a reused index array).
   */
  private envelopeSlope(): number | undefined {
    const b = this.buckets;
    let first: Bucket | undefined;
    let last: Bucket | undefined;
    for (const k of b) {
      if (k.count < this.slopeMinPoints) continue;
      first ??= k;
      last = k;
    }
    if (!first || !last || last.x - first.x < this.slopeMinSpanMs) return undefined;
    const hull = this.hull;
    let h = 0;
    for (let i = 0; i < b.length; i++) {
      const p = b[i] as Bucket;
      if (p.count < this.slopeMinPoints) continue;
      while (h >= 2) {
        const o = b[hull[h - 2] as number] as Bucket;
        const a = b[hull[h - 1] as number] as Bucket;
        // Keep a only if it lies strictly below the segment o -> p.
        if ((a.x - o.x) * (p.y - o.y) - (a.y - o.y) * (p.x - o.x) <= 0) h--;
        else break;
      }
      hull[h++] = i;
    }
    const mid = (first.x + last.x) / 2;
    for (let i = 1; i < h; i++) {
      const a = b[hull[i - 1] as number] as Bucket;
      const c = b[hull[i] as number] as Bucket;
      if (c.x >= mid) {
        const s = (c.y - a.y) / (c.x - a.x);
        return Math.max(-this.maxSlope, Math.min(this.maxSlope, s));
      }
    }
    return undefined;
  }
}
