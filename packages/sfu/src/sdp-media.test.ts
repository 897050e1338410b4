import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { MediaKind } from '@trackroom/protocol';
import { parseSdp } from './sdp.js';
import { pickPublishMedia, pickSubscribeMedia } from './sdp-media.js';

/** An offer with one m-line per entry: kind, direction, rtpmaps, and whether it has a mid. */
function offer(
  lines: { kind: string; dir: string; maps: string[]; mid?: boolean; port?: number; ext?: string[] }[],
): ReturnType<typeof parseSdp> {
  const out = ['v=0', 'o=- 1 2 IN IP4 127.0.0.1', 's=-', 't=0 0'];
  lines.forEach((l, i) => {
    const pts = l.maps.map((m) => m.split(' ')[0]).join(' ') || '0';
    out.push(`m=${l.kind} ${l.port ?? 9} UDP/TLS/RTP/SAVPF ${pts}`);
    if (l.mid !== false) out.push(`a=mid:${i}`);
    out.push(`a=${l.dir}`);
    for (const m of l.maps) out.push(`a=rtpmap:${m}`);
    for (const e of l.ext ?? []) out.push(`a=extmap:${e}`);
  });
  return parseSdp(out.join('\r\n') + '\r\n');
}

const OPUS = '111 opus/48000/2';
const VP8 = '96 VP8/90000';

function refusal(message: string) {
  return { code: 'VALIDATION_FAILED', message, details: { field: 'sdp' } };
}

describe('sdp media selection', () => {
  it('picks the sending audio and video m-lines of a publish offer with their codecs', () => {
    const picked = pickPublishMedia(
      offer([
        { kind: 'audio', dir: 'sendonly', maps: ['9 G722/8000', OPUS] },
        { kind: 'video', dir: 'sendrecv', maps: [VP8] },
        { kind: 'audio', dir: 'inactive', maps: [OPUS] },
        { kind: 'application', dir: 'sendrecv', maps: [], port: 0 },
      ]),
    );
    assert.deepEqual(
      [
        picked.audio?.media.mid,
        picked.audio?.codec.payloadType,
        picked.video?.media.mid,
        picked.video?.codec.codec,
      ],
      ['0', 111, '1', 'VP8'],
    );
    assert.equal(pickPublishMedia(offer([{ kind: 'video', dir: 'sendonly', maps: [VP8] }])).audio, undefined);
  });

  it("takes the offer's id of the audio-level extension (one-byte ids only), for audio only", () => {
    const LEVEL = 'urn:ietf:params:rtp-hdrext:ssrc-audio-level';
    const picked = pickPublishMedia(
      offer([
        {
          kind: 'audio',
          dir: 'sendonly',
          maps: [OPUS],
          ext: ['4 urn:ietf:params:rtp-hdrext:sdes:mid', `1/sendonly ${LEVEL} vad=on`],
        },
        { kind: 'video', dir: 'sendonly', maps: [VP8], ext: [`1 ${LEVEL}`] },
      ]),
    );
    assert.equal(picked.audio?.audioLevelExtId, 1);
    assert.equal(picked.video?.audioLevelExtId, undefined);
    assert.deepEqual(picked.audio?.media.extMaps[0], { id: 4, uri: 'urn:ietf:params:rtp-hdrext:sdes:mid' });
    const without = pickPublishMedia(offer([{ kind: 'audio', dir: 'sendonly', maps: [OPUS] }]));
    assert.equal(without.audio?.audioLevelExtId, undefined);
    // Two-byte-only ids (15..255) are not read by the recorder: not negotiated.
    const twoByte = pickPublishMedia(
      offer([{ kind: 'audio', dir: 'sendonly', maps: [OPUS], ext: [`20 ${LEVEL}`] }]),
    );
    assert.equal(twoByte.audio?.audioLevelExtId, undefined);
  });

  it('refuses publish offers it cannot answer, naming what is wrong', () => {
    const cases: [Parameters<typeof offer>[0], string][] = [
      [
        [{ kind: 'application', dir: 'sendrecv', maps: [] }],
        'sdp: a publish offer may hold audio and video only, not application',
      ],
      [
        [
          { kind: 'audio', dir: 'sendonly', maps: [OPUS] },
          { kind: 'audio', dir: 'sendonly', maps: [OPUS] },
        ],
        'sdp: more than one sending audio m-line',
      ],
      [[{ kind: 'audio', dir: 'sendonly', maps: [OPUS], mid: false }], 'sdp: audio m-line has no a=mid'],
      [[{ kind: 'video', dir: 'sendonly', maps: ['98 H264/90000'] }], 'sdp: video m-line offers no VP8'],
      [
        [{ kind: 'audio', dir: 'recvonly', maps: [OPUS] }],
        'sdp: a publish offer needs a sendonly audio or video m-line',
      ],
    ];
    for (const [lines, message] of cases)
      assert.throws(() => pickPublishMedia(offer(lines)), refusal(message));
  });

  it('picks one receiving m-line per subscribed kind, in the order offered', () => {
    const picked = pickSubscribeMedia(
      offer([
        { kind: 'video', dir: 'recvonly', maps: ['100 VP8/90000'] },
        { kind: 'audio', dir: 'sendrecv', maps: ['109 opus/48000/2'] },
      ]),
      ['audio', 'video'],
    );
    assert.deepEqual(
      picked.map((p) => [p.kind, p.media.mid, p.payloadType]),
      [
        ['video', '0', 100],
        ['audio', '1', 109],
      ],
    );
  });

  it('refuses subscribe offers that do not match the subscription', () => {
    const cases: [Parameters<typeof offer>[0], MediaKind[], string][] = [
      [
        [{ kind: 'video', dir: 'recvonly', maps: [VP8] }],
        ['audio'],
        'sdp: unexpected video m-line in a subscribe offer',
      ],
      [
        [{ kind: 'audio', dir: 'sendonly', maps: [OPUS] }],
        ['audio'],
        'sdp: the audio m-line must be recvonly',
      ],
      [
        [{ kind: 'audio', dir: 'recvonly', maps: [OPUS], mid: false }],
        ['audio'],
        'sdp: audio m-line has no a=mid',
      ],
      [
        [{ kind: 'audio', dir: 'recvonly', maps: ['0 PCMU/8000'] }],
        ['audio'],
        'sdp: audio m-line offers no opus',
      ],
      [
        [{ kind: 'audio', dir: 'recvonly', maps: [OPUS] }],
        ['audio', 'video'],
        'sdp: the subscribe offer lacks a recvonly video m-line',
      ],
      [
        [
          { kind: 'audio', dir: 'recvonly', maps: [OPUS] },
          { kind: 'audio', dir: 'recvonly', maps: [OPUS] },
        ],
        ['audio'],
        'sdp: unexpected audio m-line in a subscribe offer',
      ],
    ];
    for (const [lines, kinds, message] of cases)
      assert.throws(() => pickSubscribeMedia(offer(lines), kinds), refusal(message));
  });
});
