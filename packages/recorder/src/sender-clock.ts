/**
 * The sender's RTP clock rate, measured against the sender's own wall clock with its RTCP sender
 * reports (NTP <-> RTP pairs). This is free of network and server processing delay: the pairs are
 * stamped by the sender. Only the rate is used, never the sender's absolute time, so a sender whose
 * wall clock is set wrong still works; its wall clock is assumed to tick at real speed (NTP-disciplined
 * clocks differ by parts per million, audio clocks by up to parts per thousand).
 *
 * Reports are trusted only when they agree with each other: at least `minReports` spanning
 * `minSpanMs`, every one within `maxResidualMs` of the line through the first and the last, and a
 * rate within `maxSkew` of nominal. Senders with a broken NTP field (werift 0.25 writes the decimal
 * digits of the fraction, so its reports have whole-second resolution) fail the residual check and
 * the timeline keeps measuring drift on arrival times instead.
 */
import type { SenderReport } from './rtcp-parser.js';

export interface SenderClockOptions {
  /** Nominal RTP clock rate (Hz). Default 48000. */
  clockRate?: number;
  /** Reports needed before the rate is used. Default 3. */
  minReports?: number;
  /** Sender time the reports must span before the rate is used (ms). Default 4000. */
  minSpanMs?: number;
  /** Largest distance of any report from the fitted line (ms). Default 5. */
  maxResidualMs?: number;
  /** Largest plausible |rate / nominal - 1|. Default 0.01 (1 %). */
  maxSkew?: number;
  /** Reports kept (the oldest go first). Default 32. */
  maxReports?: number;
}

export interface SenderClockStats {
  ssrc: number | undefined;
  /** Reports received for the current SSRC. */
  reports: number;
  /** Reports that contradicted the earlier ones (the history restarted from them). */
  rejected: number;
  /** Measured rate / nominal rate, once the reports are trusted. */
  skew: number | undefined;
}

interface Point {
  extTs: number;
  ntpMs: number;
}

const TWO_32 = 0x1_0000_0000;

export class SenderClock {
  private unitsPerMs: number;
  private readonly minReports: number;
  private readonly minSpanMs: number;
  private readonly maxResidualMs: number;
  private readonly maxSkew: number;
  private readonly maxReports: number;
  private ssrc: number | undefined;
  private points: Point[] = [];
  private reports = 0;
  private rejected = 0;
  private ratio: number | undefined;

  constructor(options: SenderClockOptions = {}) {
    this.unitsPerMs = (options.clockRate ?? 48_000) / 1000;
    this.minReports = options.minReports ?? 3;
    this.minSpanMs = options.minSpanMs ?? 4000;
    this.maxResidualMs = options.maxResidualMs ?? 5;
    this.maxSkew = options.maxSkew ?? 0.01;
    this.maxReports = options.maxReports ?? 32;
  }

  /** Forgets everything: a new stream (SSRC) or a new clock rate. */
  reset(ssrc: number | undefined, clockRate?: number): void {
    this.ssrc = ssrc;
    this.points = [];
    this.reports = 0;
    this.ratio = undefined;
    if (clockRate !== undefined) this.unitsPerMs = clockRate / 1000;
  }

  add(sr: SenderReport): void {
    if (sr.ssrc !== this.ssrc) this.reset(sr.ssrc);
    this.reports++;
    const last = this.points.at(-1);
    // Unwrap the 32-bit timestamp against the previous report (reports are seconds apart).
    const extTs = last ? last.extTs + ((sr.rtpTimestamp - last.extTs) | 0) : TWO_32 + sr.rtpTimestamp;
    if (last && (sr.ntpMs <= last.ntpMs || extTs < last.extTs)) {
      // Time went backwards on one of the two clocks: the history no longer describes this sender.
      this.restartFrom({ extTs, ntpMs: sr.ntpMs });
      return;
    }
    this.points.push({ extTs, ntpMs: sr.ntpMs });
    if (this.points.length > this.maxReports) this.points.shift();
    this.fit();
  }

  /** Measured rate / nominal rate of the SSRC's RTP clock, or undefined while not trusted. */
  skewOf(ssrc: number): number | undefined {
    return ssrc === this.ssrc ? this.ratio : undefined;
  }

  stats(): SenderClockStats {
    return { ssrc: this.ssrc, reports: this.reports, rejected: this.rejected, skew: this.ratio };
  }

  private fit(): void {
    this.ratio = undefined;
    const first = this.points[0] as Point;
    const last = this.points.at(-1) as Point;
    const spanMs = last.ntpMs - first.ntpMs;
    if (this.points.length < 2 || spanMs <= 0) return;
    const ratio = (last.extTs - first.extTs) / (spanMs * this.unitsPerMs);
    for (const p of this.points) {
      const expectedMs = first.ntpMs + (p.extTs - first.extTs) / (ratio * this.unitsPerMs);
      if (Math.abs(p.ntpMs - expectedMs) > this.maxResidualMs) {
        this.restartFrom(last);
        return;
      }
    }
    if (Math.abs(ratio - 1) > this.maxSkew) {
      this.restartFrom(last);
      return;
    }
    if (this.points.length >= this.minReports && spanMs >= this.minSpanMs) this.ratio = ratio;
  }

  private restartFrom(p: Point): void {
    this.rejected++;
    this.points = [p];
    this.ratio = undefined;
  }
}
