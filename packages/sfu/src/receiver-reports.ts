/**
 * Receiver reports (RFC 3550 section 6.4.2) for a receiving track whose RTCP is handled in JS: counts
 * the RTP it sees and answers each sender report with one report block, as libdatachannel's
 * RtcpReceivingSession does (which cannot be used where the sender reports must reach JS: it consumes
 * them). No allocation per RTP packet.
 */
import { randomInt } from 'node:crypto';
import { isRtcp } from './rtp.js';

const RTCP_SR = 200;
const RTCP_RR = 201;

export class ReceiverReports {
  readonly #ssrc = randomInt(1, 0xffffffff);
  #base: number | undefined;
  #maxSeq = 0;
  #cycles = 0;
  #received = 0;
  #expectedPrior = 0;
  #receivedPrior = 0;

  /** Looks at one incoming packet; returns the receiver report to send back, if it is a sender report. */
  observe(packet: Uint8Array): Uint8Array | undefined {
    if (packet.length < 12) return undefined;
    if (!isRtcp(packet)) {
      this.#onRtp(((packet[2] as number) << 8) | (packet[3] as number));
      return undefined;
    }
    if (packet[1] !== RTCP_SR || packet.length < 28) return undefined;
    return this.#report(packet);
  }

  #onRtp(seq: number): void {
    this.#received++;
    if (this.#base === undefined) {
      this.#base = seq;
      this.#maxSeq = seq;
      return;
    }
    const delta = (seq - this.#maxSeq) & 0xffff;
    if (delta > 0 && delta < 0x8000) {
      if (seq < this.#maxSeq) this.#cycles += 0x10000;
      this.#maxSeq = seq;
    }
  }

  #report(sr: Uint8Array): Uint8Array {
    const view = new DataView(sr.buffer, sr.byteOffset, sr.byteLength);
    const out = new Uint8Array(32);
    const o = new DataView(out.buffer);
    out[0] = 0x81; // V=2, one report block
    out[1] = RTCP_RR;
    o.setUint16(2, 7);
    o.setUint32(4, this.#ssrc);
    o.setUint32(8, view.getUint32(4)); // the sender's SSRC
    const extMax = this.#cycles + this.#maxSeq;
    const expected = this.#base === undefined ? 0 : extMax - this.#base + 1;
    const lost = Math.max(0, expected - this.#received);
    const expectedInterval = expected - this.#expectedPrior;
    const lostInterval = expectedInterval - (this.#received - this.#receivedPrior);
    this.#expectedPrior = expected;
    this.#receivedPrior = this.#received;
    const fraction =
      expectedInterval > 0 && lostInterval > 0 ? Math.floor((lostInterval * 256) / expectedInterval) : 0;
    o.setUint32(12, ((Math.min(fraction, 255) << 24) | Math.min(lost, 0x7fffff)) >>> 0);
    o.setUint32(16, extMax >>> 0);
    o.setUint32(20, 0); // interarrival jitter: not measured
    o.setUint32(24, ((view.getUint16(10) << 16) | view.getUint16(12)) >>> 0); // LSR: middle of the NTP
    o.setUint32(28, 0); // DLSR: answered at once
    return out;
  }
}
