// Abuse against a live Sfu while two peers' audio keeps flowing: malformed JSON, wrong types,
// oversized messages, bad tokens, garbage SDP, vanishing mid-negotiation. Media must keep arriving.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { startTestSfu } from './testing/harness.js';
import type { TestSfu } from './testing/harness.js';
import { WeriftClient } from './testing/werift-client.js';

describe('Sfu under abuse', () => {
  let t: TestSfu;
  let a: WeriftClient;
  let b: WeriftClient;
  let aId = '';
  let bId = '';
  const stops: (() => void)[] = [];
  const others: WeriftClient[] = [];

  async function mediaStillFlows(): Promise<void> {
    const na = b.packets(aId).length;
    const nb = a.packets(bId).length;
    await Promise.all([b.waitForPackets(aId, na + 20), a.waitForPackets(bId, nb + 20)]);
  }

  before(async () => {
    t = await startTestSfu();
    t.addToken('a', { meetingId: 'm', participantId: 'pa' });
    t.addToken('b', { meetingId: 'm', participantId: 'pb' });
    t.addToken('evil', { meetingId: 'm', participantId: 'pe' });
    a = await WeriftClient.connect(t.url('a'));
    aId = (await a.join()).self.peerId;
    b = await WeriftClient.connect(t.url('b'));
    bId = (await b.join()).self.peerId;
    await Promise.all([a.publish(), b.publish()]);
    stops.push(a.startSending('audio', 1), b.startSending('audio', 2));
    await Promise.all([b.waitForPackets(aId, 20), a.waitForPackets(bId, 20), a.settled(), b.settled()]);
  });
  after(async () => {
    for (const s of stops) s();
    await Promise.all([a.close(), b.close(), ...others.map((c) => c.close())]);
    await t.close();
  });

  async function evil(): Promise<WeriftClient> {
    const c = await WeriftClient.connect(t.url('evil'), { autoSubscribe: false });
    others.push(c);
    return c;
  }

  it('answers malformed and ill-typed messages with errors naming the field', async () => {
    const e = await evil();
    const cases: [string, string][] = [
      ['{not json', 'message'],
      ['[1,2]', 'message'],
      ['"join"', 'message'],
      ['{}', 'type'],
      ['{"type":"dance"}', 'type'],
      ['{"type":"join","audio":"yes","video":false}', 'audio'],
      ['{"type":"join","audio":true}', 'video'],
      ['{"type":"join","audio":true,"video":true,"name":42}', 'name'],
      ['{"type":"mediaState","kind":"smell","enabled":true}', 'kind'],
      ['{"type":"publishOffer","sdp":17}', 'sdp'],
    ];
    for (const [raw, field] of cases) {
      const before = e.messages.length;
      e.sendRaw(raw);
      const err = await e.waitFor('error', () => e.messages.length > before);
      assert.equal(err.code, 'SIGNALLING_INVALID_MESSAGE', raw);
      assert.equal(err.details?.field, field, raw);
    }
    // Not joined yet: a well-formed offer is refused, not processed.
    const n = e.messages.length;
    e.send({ type: 'publishOffer', sdp: 'v=0\r\n' });
    assert.equal((await e.waitFor('error', () => e.messages.length > n)).code, 'CONFLICT');
    await mediaStillFlows();
  });

  it('refuses garbage SDP with an error and keeps the socket', async () => {
    const e = await evil();
    await e.join();
    const realOffer = await e.createPublishOffer(['audio']);
    const garbage = [
      'v=0\r\nthis is not sdp',
      'v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\na=sendonly\r\na=rtpmap:111 opus/48000/2\r\n',
      realOffer.replace(/a=rtpmap:111 opus/, 'a=rtpmap:111 speex'),
      realOffer.slice(0, Math.floor(realOffer.length / 2)),
      realOffer.replace(/a=fingerprint:.*\r\n/, '').replace(/a=ice-ufrag:.*\r\n/, ''),
      realOffer.replace('m=audio', 'm=application'),
    ];
    for (const sdp of garbage) {
      const n = e.messages.length;
      e.send({ type: 'publishOffer', sdp });
      const err = await e.waitFor('error', () => e.messages.length > n);
      assert.ok(
        ['VALIDATION_FAILED', 'SIGNALLING_INVALID_MESSAGE'].includes(err.code),
        `${err.code}: ${err.message}`,
      );
      assert.equal(err.details?.type, 'publishOffer');
    }
    const n = e.messages.length;
    e.send({ type: 'subscribeOffer', subscriptionId: 'sub-nope', sdp: realOffer });
    assert.equal((await e.waitFor('error', () => e.messages.length > n)).code, 'NOT_FOUND');
    e.send({ type: 'ping', ts: 42 });
    assert.equal((await e.waitFor('pong')).ts, 42);
    assert.equal(t.sfu.stats().publishConnections, 2, 'no publish connection left behind');
    await mediaStillFlows();
  });

  it('survives random messages (fast-check)', async () => {
    const e = await evil();
    await e.join();
    let sent = 0;
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ maxLength: 200 }),
          fc.json({ maxDepth: 3 }),
          fc
            .record({
              type: fc.constantFrom(
                'join',
                'publishOffer',
                'subscribeOffer',
                'candidate',
                'mediaState',
                'ping',
              ),
              sdp: fc.oneof(fc.string(), fc.constant('v=0\r\nm=audio 9 RTP 0\r\n')),
              subscriptionId: fc.string({ maxLength: 80 }),
              pcId: fc.string({ maxLength: 10 }),
              candidate: fc.string({ maxLength: 100 }),
              kind: fc.constantFrom('audio', 'video', 'x'),
              enabled: fc.boolean(),
            })
            .map((o) => JSON.stringify(o)),
        ),
        (raw) => {
          e.sendRaw(raw);
          sent++;
        },
      ),
      { numRuns: 60 },
    );
    assert.ok(sent >= 60);
    // The socket is either still answering or closed for abuse; the meeting is unaffected.
    if (e.closeCode === undefined) {
      e.send({ type: 'ping', ts: 7 });
      await Promise.race([e.waitFor('pong', (m) => m.ts === 7), e.waitClosed()]);
    }
    await mediaStillFlows();
  });

  it('closes a socket after repeated abuse, and after one oversized message', async () => {
    const e = await evil();
    for (let i = 0; i < 12; i++) e.sendRaw('{');
    assert.equal(await e.waitClosed(), 4003);
    const big = await evil();
    big.send({ type: 'ping', pad: 'x'.repeat(100 * 1024) });
    const err = await big.waitFor('error');
    assert.equal(err.code, 'SIGNALLING_MESSAGE_TOO_LARGE');
    assert.equal(await big.waitClosed(), 1009);
    await mediaStillFlows();
  });

  it('refuses bad and expired tokens with an error and close code 4001', async () => {
    for (const [token, code] of [
      ['nope', 'TOKEN_INVALID'],
      ['expired', 'TOKEN_EXPIRED'],
      ['', 'TOKEN_INVALID'],
    ] as const) {
      const c = await WeriftClient.connect(t.url(token));
      others.push(c);
      c.send({ type: 'join', audio: true, video: false });
      assert.equal((await c.waitFor('error')).code, code);
      assert.equal(await c.waitClosed(), 4001);
      assert.ok(!c.messages.some((m) => m.type === 'joined'));
    }
    assert.equal(t.sfu.listPeers('m').length >= 2, true);
    await mediaStillFlows();
  });

  it('cleans up a peer that vanishes mid-negotiation', async () => {
    const e = await evil();
    const je = await e.join();
    const offer = await e.createPublishOffer(['audio']);
    const left = new Promise<string>((resolve) => {
      const off = t.sfu.on('peerLeft', (ev) => {
        if (ev.peerId !== je.self.peerId) return;
        off();
        resolve(ev.reason);
      });
    });
    e.send({ type: 'publishOffer', sdp: offer });
    e.ws.terminate();
    assert.equal(await left, 'disconnected');
    assert.equal(t.sfu.stats().publishConnections, 2);
    assert.ok(!t.sfu.listPeers('m').some((p) => p.peerId === je.self.peerId));
    await mediaStillFlows();
  });
});
