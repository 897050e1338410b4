import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { buildSenderReport, isRtcpPacket, parseRtcp, type RtcpParseErrorCode } from './rtcp-parser.js';
import { SenderClock } from './sender-clock.js';

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));

/** A compound packet werift 0.25 sent (SR + SDES), captured on a node-datachannel track. */
const WERIFT_SR_SDES =
  '80c80006 6865f09b eeb9b603 000426e3 00009da8 00000029 000000a4' +
  '81ca000b 6865f09b 0124 64613032353131312d393536622d343930352d623061302d306231376662653833396330 0000';

void describe('parseRtcp', () => {
  void it('reads the sender report of a werift compound packet and skips its SDES', () => {
    const buf = hex(WERIFT_SR_SDES);
    assert.ok(isRtcpPacket(buf));
    const res = parseRtcp(buf);
    assert.ok(res.ok);
    assert.equal(res.packets, 2);
    const [sr] = res.senderReports;
    assert.ok(sr);
    assert.equal(sr.ssrc, 0x6865f09b);
    assert.equal(sr.rtpTimestamp, 40360);
    assert.equal(sr.packetCount, 41);
    // werift writes the decimal digits of the fraction (272099) where 2^-32 s units belong: 0.06 ms.
    assert.ok(sr.ntpMs % 1000 < 1, `fraction ${sr.ntpMs % 1000} ms`);
  });

  const invalid: [string, string, RtcpParseErrorCode][] = [
    ['too short', '80c8', 'RTCP_TOO_SHORT'],
    ['bad version', '40c80006' + '00'.repeat(24), 'RTCP_BAD_VERSION'],
    ['length past the end', '80c80006' + '00'.repeat(20), 'RTCP_LENGTH_PAST_END'],
    ['sender report shorter than its info', '80c80001 00000001', 'RTCP_TOO_SHORT'],
    ['second header cut', '80c90001 00000001 81', 'RTCP_LENGTH_PAST_END'],
  ];
  for (const [name, bytes, code] of invalid) {
    void it(`refuses ${name}`, () => assert.deepEqual(parseRtcp(hex(bytes)), { ok: false, error: code }));
  }

  void it('property: build and parse are inverse (ssrc, RTP time, NTP time to 1 us)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 0xffffffff }),
        fc.integer({ min: 0, max: 0xffffffff }),
        // Up to 2033: NTP era 0 ends in 2036.
        fc.double({ min: 0, max: 2_000_000_000_000, noNaN: true }),
        (ssrc, rtpTimestamp, ntpMs) => {
          const res = parseRtcp(buildSenderReport({ ssrc, rtpTimestamp, ntpMs }));
          assert.ok(res.ok);
          const sr = res.senderReports[0];
          assert.ok(sr);
          assert.equal(sr.ssrc, ssrc);
          assert.equal(sr.rtpTimestamp, rtpTimestamp);
          assert.ok(Math.abs(sr.ntpMs - ntpMs) < 0.001);
        },
      ),
    );
  });
});

void describe('SenderClock', () => {
  const report = (ssrc: number, ntpMs: number, rtp: number) =>
    ({ kind: 'senderReport', ssrc, ntpMs, rtpTimestamp: rtp >>> 0, packetCount: 0, octetCount: 0 }) as const;

  void it('measures a clock 0.3 % slow from exact reports, across the 32-bit wrap', () => {
    const c = new SenderClock();
    for (let i = 0; i < 6; i++) c.add(report(9, 1e12 + i * 1000, 0xffff0000 + i * 48 * 997));
    assert.ok(Math.abs((c.skewOf(9) as number) - 0.997) < 1e-9);
    assert.equal(c.skewOf(8), undefined, 'only for its own SSRC');
  });

  void it('does not trust reports before 3 of them span 4 s', () => {
    const c = new SenderClock();
    c.add(report(9, 0, 0));
    c.add(report(9, 5000, 240_000));
    assert.equal(c.skewOf(9), undefined);
    c.add(report(9, 6000, 288_000));
    assert.equal(c.skewOf(9), 1);
  });

  void it('never trusts reports with whole-second NTP times (werift 0.25)', () => {
    const c = new SenderClock();
    let t = 0;
    let seed = 3;
    for (let i = 0; i < 40; i++) {
      t += 500 + ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 1000;
      c.add(report(9, Math.floor(t / 1000) * 1000, Math.round(t * 48)));
      assert.equal(c.skewOf(9), undefined, `trusted after ${i + 1} reports`);
    }
    assert.ok(c.stats().rejected > 0);
  });

  void it('starts over when the sender clock steps or the RTP clock freezes', () => {
    const c = new SenderClock();
    for (let i = 0; i < 5; i++) c.add(report(9, i * 1000, i * 48_000));
    assert.equal(c.skewOf(9), 1);
    c.add(report(9, 5000, 4.9 * 48_000)); // 100 ms of RTP clock missing
    assert.equal(c.skewOf(9), undefined);
  });
});
