import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { RtpParser, buildRtp, parseRtp, type RtpParseErrorCode } from './rtp-parser.js';

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));

void describe('parseRtp golden fixtures', () => {
  void it('parses a minimal Opus packet', () => {
    // V=2, no P/X/CC; M=1, PT=111; seq 0x1234; ts 0xdeadbeef; ssrc 0x01020304; payload F8 FF FE
    const res = parseRtp(hex('80 ef 1234 deadbeef 01020304 f8fffe'));
    assert.ok(res.ok);
    const p = res.packet;
    assert.equal(p.marker, true);
    assert.equal(p.payloadType, 111);
    assert.equal(p.sequenceNumber, 0x1234);
    assert.equal(p.timestamp, 0xdeadbeef);
    assert.equal(p.ssrc, 0x01020304);
    assert.deepEqual([...p.payload], [0xf8, 0xff, 0xfe]);
    assert.equal(p.extension, undefined);
  });

  void it('parses CSRCs, a one-byte header extension and padding', () => {
    // V=2 P=1 X=1 CC=2; PT=111; seq 0xffff; ts 0xffffffff; ssrc 0xcafebabe
    // CSRC 0x11111111 0x22222222; ext profile BEDE length 1 word: 10 ab 00 00; payload 01 02 03; padding 3
    const res = parseRtp(
      hex('b2 6f ffff ffffffff cafebabe 11111111 22222222 bede 0001 10ab0000 010203 000003'),
    );
    assert.ok(res.ok);
    const p = res.packet;
    assert.equal(p.marker, false);
    assert.deepEqual(p.csrcs, [0x11111111, 0x22222222]);
    assert.equal(p.extension?.profile, 0xbede);
    assert.deepEqual([...(p.extension?.data ?? [])], [0x10, 0xab, 0, 0]);
    assert.deepEqual([...p.payload], [1, 2, 3]);
    assert.equal(p.sequenceNumber, 0xffff);
    assert.equal(p.timestamp, 0xffffffff);
  });

  const invalid: [string, string, RtpParseErrorCode][] = [
    ['empty buffer', '', 'RTP_TOO_SHORT'],
    ['truncated header (11 bytes)', '80 6f 0001 00000001 000000', 'RTP_TOO_SHORT'],
    ['version 1', '40 6f 0001 00000001 00000001 f8', 'RTP_BAD_VERSION'],
    ['version 0 (STUN-like)', '00 01 0050 2112a442 00000001 f8', 'RTP_BAD_VERSION'],
    ['CSRC count past the end', '83 6f 0001 00000001 00000001 11111111', 'RTP_CSRC_PAST_END'],
    ['extension header past the end', '90 6f 0001 00000001 00000001 bede', 'RTP_EXTENSION_PAST_END'],
    [
      'extension length past the end',
      '90 6f 0001 00000001 00000001 bede 0004 10ab0000',
      'RTP_EXTENSION_PAST_END',
    ],
    ['padding longer than the packet', 'a0 6f 0001 00000001 00000001 f8 ff 20', 'RTP_BAD_PADDING'],
    ['padding count zero', 'a0 6f 0001 00000001 00000001 f8 ff 00', 'RTP_BAD_PADDING'],
    ['padding eats the whole payload', 'a0 6f 0001 00000001 00000001 00 00 03', 'RTP_EMPTY_PAYLOAD'],
    ['header only, no payload', '80 6f 0001 00000001 00000001', 'RTP_EMPTY_PAYLOAD'],
  ];
  for (const [name, bytes, code] of invalid) {
    void it(`rejects ${name} with ${code}`, () => {
      assert.deepEqual(parseRtp(hex(bytes)), { ok: false, error: code });
    });
  }
});

void describe('parseRtp properties', () => {
  const packetArb = fc.record({
    payloadType: fc.integer({ min: 0, max: 127 }),
    sequenceNumber: fc.integer({ min: 0, max: 0xffff }),
    timestamp: fc.integer({ min: 0, max: 0xffffffff }),
    ssrc: fc.integer({ min: 0, max: 0xffffffff }),
    marker: fc.boolean(),
    csrcs: fc.array(fc.integer({ min: 0, max: 0xffffffff }), { maxLength: 15 }),
    extension: fc.option(
      fc.record({ profile: fc.integer({ min: 0, max: 0xffff }), data: fc.uint8Array({ maxLength: 40 }) }),
      { nil: undefined },
    ),
    payload: fc.uint8Array({ minLength: 1, maxLength: 300 }),
    paddingBytes: fc.integer({ min: 0, max: 255 }),
  });

  void it('round-trips every packet buildRtp makes', () => {
    fc.assert(
      fc.property(packetArb, (o) => {
        const res = parseRtp(buildRtp(o));
        assert.ok(res.ok);
        const p = res.packet;
        assert.equal(p.payloadType, o.payloadType);
        assert.equal(p.sequenceNumber, o.sequenceNumber);
        assert.equal(p.timestamp, o.timestamp);
        assert.equal(p.ssrc, o.ssrc);
        assert.equal(p.marker, o.marker);
        assert.deepEqual(p.csrcs, o.csrcs);
        assert.deepEqual([...p.payload], [...o.payload]);
        if (o.extension) {
          assert.equal(p.extension?.profile, o.extension.profile);
          assert.deepEqual(
            [...(p.extension?.data ?? []).subarray(0, o.extension.data.length)],
            [...o.extension.data],
          );
        } else assert.equal(p.extension, undefined);
      }),
    );
  });

  void it('never throws on arbitrary bytes, and truncations of valid packets', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        const res = parseRtp(bytes);
        if (res.ok) assert.ok(res.packet.payload.length > 0);
      }),
    );
    fc.assert(
      fc.property(packetArb, fc.nat(), (o, cut) => {
        const bytes = buildRtp(o);
        const res = parseRtp(bytes.subarray(0, cut % (bytes.length + 1)));
        if (res.ok) assert.ok(res.packet.payload.length > 0);
      }),
    );
  });
});

void describe('RtpParser stage', () => {
  void it('counts drops by reason and filters the payload type', () => {
    const parser = new RtpParser({ payloadType: 111 });
    const good = buildRtp({
      payloadType: 111,
      sequenceNumber: 1,
      timestamp: 960,
      ssrc: 7,
      payload: Uint8Array.of(0xf8),
    });
    const other = buildRtp({
      payloadType: 0,
      sequenceNumber: 2,
      timestamp: 960,
      ssrc: 7,
      payload: Uint8Array.of(0),
    });
    assert.equal(parser.process({ data: good, arrivalMs: 5 }).length, 1);
    assert.equal(parser.process({ data: other, arrivalMs: 6 }).length, 0);
    assert.equal(parser.process({ data: hex('4000'), arrivalMs: 7 }).length, 0);
    assert.equal(parser.process({ data: hex('40 6f 0001 00000001 00000001 f8'), arrivalMs: 7 }).length, 0);
    assert.deepEqual(parser.stats(), {
      parsed: 1,
      wrongPayloadType: 1,
      invalid: 2,
      invalidByReason: { RTP_TOO_SHORT: 1, RTP_BAD_VERSION: 1 },
    });
  });
});
