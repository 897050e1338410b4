import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { parseRtcp, parseRtp } from '@trackroom/recorder';
import { OpusRtpStream } from './opus-rtp-stream.js';

test('packets parse as RTP with consecutive sequence numbers and 960-tick timestamps, wrapping', () => {
  const s = new OpusRtpStream({
    payloadType: 111,
    ssrc: 0xdeadbeef,
    sequenceNumber: 65534,
    timestamp: 2 ** 32 - 960,
  });
  const payload = Uint8Array.of(0xfc, 1, 2, 3);
  const got = [0, 1, 2].map(() => {
    const r = parseRtp(s.packet(s.frame(0), payload));
    assert.ok(r.ok);
    return r.packet;
  });
  assert.deepEqual(
    got.map((p) => p.sequenceNumber),
    [65534, 65535, 0],
  );
  assert.deepEqual(
    got.map((p) => p.timestamp),
    [2 ** 32 - 960, 0, 960],
  );
  for (const p of got) {
    assert.equal(p.payloadType, 111);
    assert.equal(p.ssrc, 0xdeadbeef);
    assert.equal(p.marker, false);
    assert.deepEqual([...p.payload], [...payload]);
  }
});

test('a frame used and not sent leaves a gap (loss), not a reused sequence number', () => {
  const s = new OpusRtpStream({ payloadType: 111, sequenceNumber: 10 });
  const a = parseRtp(s.packet(s.frame(0), Uint8Array.of(1)));
  s.frame(20); // dropped
  const b = parseRtp(s.packet(s.frame(40), Uint8Array.of(1)));
  assert.ok(a.ok && b.ok);
  assert.equal(b.packet.sequenceNumber - a.packet.sequenceNumber, 2);
  assert.equal(s.packets, 2);
});

test('sender reports parse back: wall clock, RTP clock from the last frame, counts', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 2 ** 32 - 1 }),
      fc.integer({ min: 1, max: 500 }),
      fc.integer({ min: 0, max: 19 }),
      // Before NTP era 1 (2036), which the parser does not model.
      fc.double({ min: 1.6e12, max: 2.08e12, noNaN: true }),
      (ts0, frames, afterMs, unixMs) => {
        const s = new OpusRtpStream({ payloadType: 111, ssrc: 42, timestamp: ts0 });
        assert.equal(s.senderReport(unixMs), undefined, 'no report before the first frame');
        let due = unixMs - frames * 20;
        for (let i = 0; i < frames; i++, due += 20) s.packet(s.frame(due), Uint8Array.of(1, 2, 3));
        const last = due - 20;
        const r = parseRtcp(s.senderReport(last + afterMs)!);
        assert.ok(r.ok);
        const [sr] = r.senderReports;
        assert.ok(sr);
        assert.equal(sr.ssrc, 42);
        assert.ok(Math.abs(sr.ntpMs - (last + afterMs)) < 0.001, `ntp ${sr.ntpMs} vs ${last + afterMs}`);
        assert.equal(sr.rtpTimestamp, (ts0 + (frames - 1) * 960 + afterMs * 48) >>> 0);
        assert.equal(sr.packetCount, frames);
        assert.equal(sr.octetCount, frames * 3);
      },
    ),
  );
});
