import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { RtkError } from '@trackroom/protocol';
import {
  hasKeyframeRequest,
  isRtcp,
  isRtp,
  rewriteRtp,
  rtpPayloadType,
  rtpSequence,
  rtpSsrc,
  rtpTimestamp,
  writeSeqTs,
} from './rtp.js';
import type { RtpRebase } from './sfu-types.js';
import { announceAddress, findPayloadType, inactivateMids, parseSdp, preferRemoteDtlsClient } from './sdp.js';

const CHROME_LIKE = [
  'v=0',
  'o=- 1 2 IN IP4 127.0.0.1',
  's=-',
  't=0 0',
  'a=group:BUNDLE 0 1',
  'm=audio 9 UDP/TLS/RTP/SAVPF 111 63 9',
  'c=IN IP4 0.0.0.0',
  'a=setup:actpass',
  'a=mid:0',
  'a=sendonly',
  'a=rtpmap:111 opus/48000/2',
  'a=rtpmap:63 red/48000/2',
  'a=rtpmap:9 G722/8000',
  'm=video 9 UDP/TLS/RTP/SAVPF 96 97',
  'a=setup:actpass',
  'a=mid:1',
  'a=sendonly',
  'a=rtpmap:96 VP8/90000',
  'a=rtpmap:97 rtx/90000',
  'm=application 0 UDP/DTLS/SCTP webrtc-datachannel',
  '',
].join('\r\n');

describe('sdp', () => {
  it('reads m-lines, mids, directions and payload types', () => {
    const s = parseSdp(CHROME_LIKE);
    assert.deepEqual(
      s.media.map((m) => [m.kind, m.port, m.mid, m.direction]),
      [
        ['audio', 9, '0', 'sendonly'],
        ['video', 9, '1', 'sendonly'],
        ['application', 0, undefined, 'sendrecv'],
      ],
    );
    assert.deepEqual(findPayloadType(s.media[0]!, 'opus'), {
      payloadType: 111,
      codec: 'opus',
      clockRate: 48000,
      channels: 2,
    });
    assert.equal(findPayloadType(s.media[1]!, 'VP8')?.payloadType, 96);
    assert.equal(findPayloadType(s.media[0]!, 'VP8'), undefined);
  });
  it('rejects what is not SDP', () => {
    for (const bad of ['', 'hello', 'v=0\r\nnot a line', 'v=0\r\nm=audio\r\n', 'v=0\r\ns=-\r\n']) {
      assert.throws(
        () => parseSdp(bad),
        (e: unknown) => e instanceof RtkError && e.code === 'VALIDATION_FAILED',
      );
    }
  });
  it('never throws anything but RtkError (property)', () => {
    fc.assert(
      fc.property(fc.string(), (tail) => {
        try {
          parseSdp(`v=0\r\n${tail}`);
        } catch (e) {
          assert.ok(e instanceof RtkError);
        }
      }),
    );
  });
  it('makes the offerer the DTLS client and announces another address', () => {
    assert.equal((preferRemoteDtlsClient(CHROME_LIKE).match(/a=setup:active/g) ?? []).length, 2);
    assert.ok(!preferRemoteDtlsClient(CHROME_LIKE).includes('actpass'));
    const answer =
      'v=0\r\nc=IN IP4 10.0.0.5\r\na=candidate:1 1 UDP 2114977791 10.0.0.5 40000 typ host\r\na=candidate:2 1 UDP 2114977791 10.0.0.6 40000 typ host\r\n';
    const out = announceAddress(answer, '203.0.113.7');
    assert.equal(
      out,
      'v=0\r\nc=IN IP4 203.0.113.7\r\na=candidate:1 1 UDP 2114977791 203.0.113.7 40000 typ host\r\na=candidate:2 1 UDP 2114977791 203.0.113.7 40000 typ host\r\n',
    );
  });
});

describe('rtp', () => {
  const rtp = Uint8Array.from([0x80, 0x80 | 111, 0, 1, 0, 0, 0, 2, 0xde, 0xad, 0xbe, 0xef, 1, 2, 3]);
  it('tells RTP from RTCP and rewrites payload type and SSRC, keeping the marker', () => {
    assert.ok(isRtp(rtp));
    assert.ok(!isRtcp(rtp));
    const copy = Uint8Array.from(rtp);
    rewriteRtp(copy, 0x01020304, 96);
    assert.equal(rtpPayloadType(copy), 96);
    assert.equal(copy[1]! & 0x80, 0x80);
    assert.equal(rtpSsrc(copy), 0x01020304);
    assert.deepEqual(copy.subarray(12), rtp.subarray(12));
    assert.ok(!isRtp(Uint8Array.from([0x80, 200, 0, 6])));
    assert.ok(!isRtp(Uint8Array.from([0x80, 111])));
  });
  it('finds PLI and FIR inside compound RTCP', () => {
    const rr = [0x80, 201, 0, 1, 0, 0, 0, 1];
    const pli = [0x81, 206, 0, 2, 0, 0, 0, 1, 0, 0, 0, 2];
    const fir = [0x84, 206, 0, 4, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0];
    const nack = [0x81, 205, 0, 3, 0, 0, 0, 1, 0, 0, 0, 2, 0, 5, 0, 0];
    assert.ok(hasKeyframeRequest(Uint8Array.from([...rr, ...pli])));
    assert.ok(hasKeyframeRequest(Uint8Array.from([...rr, ...fir])));
    assert.ok(!hasKeyframeRequest(Uint8Array.from([...rr, ...nack])));
    assert.ok(!hasKeyframeRequest(Uint8Array.from([0x80, 201, 0xff, 0xff])));
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (b) => typeof hasKeyframeRequest(b) === 'boolean'),
    );
  });
});

describe('inactivateMids', () => {
  it('marks only the named m-sections inactive, keeping the rest', () => {
    const answer = CHROME_LIKE.replace(/a=sendonly/g, 'a=sendonly');
    const out = inactivateMids(answer, new Set(['1']));
    const media = parseSdp(out).media;
    assert.equal(media[0]!.direction, parseSdp(answer).media[0]!.direction);
    assert.equal(media[1]!.direction, 'inactive');
    assert.equal(out.match(/a=inactive/g)?.length, 1);
    assert.equal(inactivateMids(answer, new Set()), answer);
  });
});

describe('writeSeqTs', () => {
  const packet = (seq: number, ts: number) => {
    const p = new Uint8Array(12);
    p[0] = 0x80;
    p[2] = seq >>> 8;
    p[3] = seq & 0xff;
    new DataView(p.buffer).setUint32(4, ts);
    return p;
  };
  const fresh = (): RtpRebase => ({
    pending: true,
    seqDelta: 0,
    tsDelta: 0,
    lastSeq: 0,
    lastTs: 0,
    lastMs: -1,
    clockRate: 48000,
  });

  it('without rebase writes the original values back', () => {
    const p = packet(1, 2);
    p[2] = 9;
    writeSeqTs(p, 1, 2, undefined, 0);
    assert.equal(rtpSequence(p), 1);
    assert.equal(rtpTimestamp(p), 2);
  });

  it('continues one stream across a change of source, wrapping around', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 0xffff }),
        fc.integer({ min: 0, max: 0xffffffff }),
        fc.integer({ min: 0, max: 0xffff }),
        fc.integer({ min: 0, max: 0xffffffff }),
        fc.integer({ min: 1, max: 5000 }),
        (seqA, tsA, seqB, tsB, gapMs) => {
          const r = fresh();
          const p = packet(seqA, tsA);
          writeSeqTs(p, seqA, tsA, r, 1000);
          assert.equal(rtpSequence(p), seqA, 'the first source passes unchanged');
          const next = (seqA + 1) & 0xffff;
          writeSeqTs(p, next, (tsA + 960) >>> 0, r, 1020);
          r.pending = true; // a new publisher takes the slot
          writeSeqTs(p, seqB, tsB, r, 1020 + gapMs);
          assert.equal(rtpSequence(p), (next + 1) & 0xffff);
          assert.equal(rtpTimestamp(p), (tsA + 960 + gapMs * 48) >>> 0);
          writeSeqTs(p, (seqB + 1) & 0xffff, (tsB + 960) >>> 0, r, 1040 + gapMs);
          assert.equal(rtpSequence(p), (next + 2) & 0xffff);
          assert.equal(rtpTimestamp(p), (tsA + 1920 + gapMs * 48) >>> 0);
        },
      ),
    );
  });
});
