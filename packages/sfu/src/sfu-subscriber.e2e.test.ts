// Component tests of single-mode subscribing (one renegotiated receive-only connection per
// subscriber): what the SFU refuses in a `subscriberOffer`, and the replacement of a subscribing
// connection that never comes up. A real Sfu on 127.0.0.1, werift peers, the real protocol.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { RTCPeerConnection, RTCRtpCodecParameters } from 'werift';
import { startTestSfu } from './testing/harness.js';
import type { TestSfu } from './testing/harness.js';
import { gathered, loopbackIce, loopbackOnly } from './testing/werift-util.js';
import { WeriftClient } from './testing/werift-client.js';

const VIDEO_ONLY = [
  'v=0',
  'o=- 1 1 IN IP4 127.0.0.1',
  's=-',
  't=0 0',
  'm=video 9 UDP/TLS/RTP/SAVPF 96',
  'c=IN IP4 0.0.0.0',
  'a=mid:0',
  'a=recvonly',
  'a=rtpmap:96 VP8/90000',
  '',
].join('\r\n');

function receiver(): RTCPeerConnection {
  return new RTCPeerConnection({
    codecs: {
      audio: [
        new RTCRtpCodecParameters({
          mimeType: 'audio/opus',
          clockRate: 48000,
          channels: 2,
          payloadType: 111,
        }),
      ],
      video: [],
    },
    ...loopbackIce(),
  });
}

async function offerAudio(pc: RTCPeerConnection, direction: 'recvonly' | 'inactive'): Promise<string> {
  pc.addTransceiver('audio', { direction });
  await pc.setLocalDescription(await pc.createOffer());
  await gathered(pc);
  return loopbackOnly(pc.localDescription!.sdp);
}

describe('single-mode subscribing', () => {
  let t: TestSfu;
  const clients: WeriftClient[] = [];
  const pcs: RTCPeerConnection[] = [];
  const client = async (token: string) => {
    const c = await WeriftClient.connect(t.url(token));
    clients.push(c);
    return c;
  };

  before(async () => {
    t = await startTestSfu({ sfu: { connectTimeoutMs: 1500 } });
    for (const tok of ['pub', 'sub', 'old', 'pub2', 'sub2'])
      t.addToken(tok, { meetingId: tok.endsWith('2') ? 'm2' : 'm1', participantId: `p-${tok}` });
  });
  after(async () => {
    await Promise.all(pcs.map((pc) => pc.close()));
    await Promise.all(clients.map((c) => c.close()));
    await t.close();
  });

  it('refuses offers for the wrong mode, connection, version or kind', async () => {
    const pub = await client('pub');
    await pub.join();
    await pub.publish(['audio']);
    const old = await client('old');
    await old.join();
    old.send({ type: 'subscriberOffer', connectionId: 'x', version: 1, sdp: VIDEO_ONLY });
    const conflict = await old.waitFor('error', (e) => e.details?.type === 'subscriberOffer');
    assert.equal(conflict.code, 'CONFLICT');

    const sub = await client('sub');
    sub.send({ type: 'join', audio: false, video: false, subscriber: 'single' });
    const update = await sub.waitFor('subscriberUpdate');
    assert.equal(update.version, 1);
    assert.deepEqual(update.slots, [
      { kind: 'audio', peerId: pub.messages.find((m) => m.type === 'joined')!.self.peerId },
    ]);
    const refusals: [Record<string, unknown>, string, string][] = [
      [{ connectionId: 'nope', version: 1, sdp: VIDEO_ONLY }, 'NOT_FOUND', 'connectionId'],
      [{ connectionId: update.connectionId, version: 9, sdp: VIDEO_ONLY }, 'VALIDATION_FAILED', 'version'],
      [{ connectionId: update.connectionId, version: 1, sdp: VIDEO_ONLY }, 'VALIDATION_FAILED', 'sdp'],
    ];
    for (const [body, code, field] of refusals) {
      const seen = sub.messages.length;
      sub.send({ type: 'subscriberOffer', ...body });
      const err = await sub.waitFor(
        'error',
        (e) => e.details?.type === 'subscriberOffer' && sub.messages.indexOf(e) >= seen,
      );
      assert.equal(err.code, code, JSON.stringify(err));
      assert.equal(err.details?.field, field);
    }
    // A new m-line must be offered recvonly.
    const pc = receiver();
    pcs.push(pc);
    const seen = sub.messages.length;
    sub.send({
      type: 'subscriberOffer',
      connectionId: update.connectionId,
      version: 1,
      sdp: await offerAudio(pc, 'inactive'),
    });
    const err = await sub.waitFor(
      'error',
      (e) => e.details?.type === 'subscriberOffer' && sub.messages.indexOf(e) >= seen,
    );
    assert.equal(err.code, 'VALIDATION_FAILED');
    assert.match(err.message, /new and must be recvonly/);
    assert.equal(t.sfu.stats().subscriberConnections, 0, 'nothing was created for refused offers');
  });

  it('replaces a subscribing connection that does not connect in time', async () => {
    const pub = await client('pub2');
    const joined = await pub.join();
    await pub.publish(['audio']);
    const sub = await client('sub2');
    sub.send({ type: 'join', audio: false, video: false, subscriber: 'single' });
    const first = await sub.waitFor('subscriberUpdate');
    const pc = receiver();
    pcs.push(pc);
    sub.send({
      type: 'subscriberOffer',
      connectionId: first.connectionId,
      version: 1,
      sdp: await offerAudio(pc, 'recvonly'),
    });
    const answer = await sub.waitFor('subscriberAnswer');
    assert.deepEqual(answer.tracks, [{ mid: '0', kind: 'audio', peerId: joined.self.peerId }]);
    // The answer is never applied: ICE cannot complete, and after the timeout the SFU starts anew.
    const next = await sub.waitFor('subscriberUpdate', (u) => u.connectionId !== first.connectionId, 10_000);
    assert.equal(next.version, 1);
    assert.deepEqual(next.slots, [{ kind: 'audio', peerId: joined.self.peerId }]);
    assert.equal(
      t.sfu.stats().subscriberConnections,
      0,
      'the failed connection is closed, the new one not offered yet',
    );
  });
});
