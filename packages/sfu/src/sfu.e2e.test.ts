// Component tests: a real Sfu on a real HTTP server on 127.0.0.1, werift peers driven through the
// real signalling protocol. Waits are on events/messages; timeouts only turn a hang into a failure.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { MediaEvents } from '@trackroom/protocol';
import type { Sfu } from './sfu.js';
import { startTestSfu } from './testing/harness.js';
import type { TestSfu } from './testing/harness.js';
import { WeriftClient } from './testing/werift-client.js';
import type { ReceivedRtp } from './testing/werift-client.js';

function nextEvent<K extends keyof MediaEvents>(
  sfu: Sfu,
  event: K,
  pred: (e: MediaEvents[K]) => boolean = () => true,
  timeoutMs = 15_000,
): Promise<MediaEvents[K]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`no ${String(event)} event within ${timeoutMs} ms`));
    }, timeoutMs);
    const off = sfu.on(event, (e) => {
      if (!pred(e)) return;
      clearTimeout(timer);
      off();
      resolve(e);
    });
  });
}

/** Every packet carries its sender's tag and a strictly increasing sequence number. */
function assertStream(packets: ReceivedRtp[], tag: number, payloadType: number): void {
  assert.ok(packets.length > 0);
  const ssrc = packets[0]!.ssrc;
  let last = -1;
  for (const p of packets) {
    assert.equal(p.payloadType, payloadType, 'payload type rewritten for the subscriber');
    assert.equal(p.ssrc, ssrc, 'one SSRC per forwarded track');
    assert.equal(p.payload[0], 0xab);
    assert.equal(p.payload[1], tag, 'payload comes from the expected publisher');
    const seq = p.payload.readUInt16BE(2);
    assert.ok(seq > last, `payload sequence increases (${seq} after ${last})`);
    last = seq;
  }
}

describe('Sfu with werift peers', () => {
  let t: TestSfu;
  const clients: WeriftClient[] = [];
  async function client(token: string, opus = 111): Promise<WeriftClient> {
    const c = await WeriftClient.connect(t.url(token), { opusPayloadType: opus });
    clients.push(c);
    return c;
  }

  before(async () => {
    t = await startTestSfu({
      recordings: [{ id: 'rec-1', type: 'TRACK', status: 'RECORDING', recordedParticipantIds: [] }],
    });
    for (const [tok, m, p] of [
      ['a', 'm1', 'pa'],
      ['b', 'm1', 'pb'],
      ['c', 'm2', 'pc'],
      ['d', 'm3', 'pd'],
      ['e', 'm3', 'pe'],
      ['f', 'm3', 'pf'],
      ['g', 'm4', 'pg'],
      ['h', 'm4', 'ph'],
      ['x', 'm5', 'px'],
      ['y', 'm5', 'py'],
      ['z', 'm5', 'pz'],
    ] as const) {
      t.addToken(tok, { meetingId: m, participantId: p });
    }
  });
  after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await t.close();
  });

  it('forwards Opus between the two peers of a meeting, not to another meeting, and taps it', async () => {
    const joinedEvents: MediaEvents['peerJoined'][] = [];
    t.sfu.on('peerJoined', (e) => joinedEvents.push(e));
    const a = await client('a', 111);
    const ja = await a.join({ name: 'Alice' });
    assert.deepEqual(ja.peers, []);
    assert.equal(ja.self.participantId, 'pa');
    assert.equal(ja.self.name, 'Alice');
    assert.deepEqual(ja.recordings, [
      { id: 'rec-1', type: 'TRACK', status: 'RECORDING', recordedParticipantIds: [] },
    ]);
    const b = await client('b', 109); // a different Opus payload type: the SFU must rewrite it
    const jb = await b.join();
    assert.deepEqual(
      jb.peers.map((p) => p.peerId),
      [ja.self.peerId],
    );
    await a.waitFor('peerJoined', (m) => m.peer.peerId === jb.self.peerId);
    const c = await client('c');
    const jc = await c.join();
    assert.deepEqual(jc.peers, []);

    const startedA = nextEvent(t.sfu, 'trackStarted', (e) => e.peerId === ja.self.peerId);
    const startedB = nextEvent(t.sfu, 'trackStarted', (e) => e.peerId === jb.self.peerId);
    await Promise.all([a.publish(['audio']), b.publish(['audio']), c.publish(['audio'])]);
    const [sa, sb] = await Promise.all([startedA, startedB]);
    assert.equal(sa.meetingId, 'm1');
    assert.deepEqual(sa.track, {
      kind: 'audio',
      codec: 'opus',
      payloadType: 111,
      clockRate: 48000,
      channels: 2,
    });
    assert.equal(sb.track.payloadType, 109);
    // The media source's view carries the open track (the recorder reads it at start).
    assert.deepEqual(t.sfu.peers('m1').find((p) => p.peerId === ja.self.peerId)?.tracks, { audio: sa.track });
    assert.throws(() => t.sfu.tap('m1', ja.self.peerId, 'video', () => {}), { code: 'NOT_IMPLEMENTED' });
    assert.throws(() => t.sfu.tap('m1', 'no-such-peer', 'audio', () => {}), { code: 'NOT_FOUND' });

    const tapped: { pt: number; tag: number; at: number }[] = [];
    const untap = t.sfu.tap('m1', ja.self.peerId, 'audio', (rtp, at) => {
      tapped.push({ pt: rtp[1]! & 0x7f, tag: rtp[12 + 1]!, at });
    });

    const stops = [a.startSending('audio', 1), b.startSending('audio', 2), c.startSending('audio', 3)];
    const [atB, atA] = await Promise.all([
      b.waitForPackets(ja.self.peerId, 50),
      a.waitForPackets(jb.self.peerId, 50),
    ]);
    assertStream(atB, 1, 109);
    assertStream(atA, 2, 111);
    untap();
    for (const s of stops) s();

    assert.ok(tapped.length >= 40, `tap saw ${tapped.length} packets`);
    assert.ok(tapped.every((p) => p.pt === 111 && p.tag === 1));
    assert.ok(tapped.every((p) => Math.abs(p.at - Date.now()) < 60_000));
    // The other meeting: C got no subscription, and nobody in m1 got C's media.
    assert.equal(c.messages.filter((m) => m.type === 'subscribe').length, 0);
    assert.equal(c.received.size, 0);
    assert.equal(a.packets(jc.self.peerId).length + b.packets(jc.self.peerId).length, 0);
    assert.ok(!a.messages.some((m) => m.type === 'subscribe' && m.peerId === jc.self.peerId));
    assert.deepEqual(
      t.sfu
        .listPeers('m1')
        .map((p) => p.participantId)
        .sort(),
      ['pa', 'pb'],
    );
    assert.deepEqual(
      t.sfu.listPeers('m2').map((p) => p.participantId),
      ['pc'],
    );
    assert.deepEqual(
      joinedEvents.map((e) => [e.meetingId, e.participantId, e.name]),
      [
        ['m1', 'pa', 'Alice'],
        ['m1', 'pb', 'name-pb'],
        ['m2', 'pc', 'name-pc'],
      ],
    );

    // Leaving explicitly: the other peer hears peerLeft + unsubscribe, the event says 'left'.
    await Promise.all([a.settled(), b.settled(), c.settled()]);
    const left = nextEvent(t.sfu, 'peerLeft', (e) => e.peerId === jb.self.peerId);
    b.send({ type: 'leave' });
    assert.equal((await left).reason, 'left');
    await a.waitFor('peerLeft', (m) => m.peerId === jb.self.peerId && m.reason === 'left');
    await a.waitFor('unsubscribe', (m) => m.peerId === jb.self.peerId);
    assert.equal(await b.waitClosed(), 1000);
  });

  it('forwards VP8 and asks the publisher for a keyframe when a subscriber attaches', async () => {
    const d = await client('d', 111);
    const jd = await d.join({ video: true });
    // Video only: a werift peer connection that bundled audio and video keeps the test process
    // alive after close (werift's own loops; libdatachannel's cleanup() does not change it).
    await d.publish(['video']);
    const stop = d.startSending('video', 4);
    const e = await client('e');
    await e.join();
    const sub = await e.waitFor('subscribe', (m) => m.peerId === jd.self.peerId);
    assert.deepEqual(sub.kinds, ['video']);
    const video = await e.waitForPackets(jd.self.peerId, 30, 'video');
    await d.waitForPli();
    await e.settled();
    stop();
    assertStream(video, 4, 96);
  });

  it('mutes and kicks the right peers and tells everyone', async () => {
    const x = await client('x');
    const jx = await x.join();
    const y = await client('y');
    const jy = await y.join();
    const z = await client('z');
    const jz = await z.join();
    await Promise.all([x.publish(), y.publish(), z.publish()]);
    const stops = [x.startSending('audio', 7), y.startSending('audio', 8), z.startSending('audio', 9)];
    await Promise.all([x.waitForPackets(jy.self.peerId, 10), z.waitForPackets(jy.self.peerId, 10)]);

    const stateEvent = nextEvent(t.sfu, 'mediaEnabled', (e) => e.peerId === jy.self.peerId);
    assert.deepEqual(t.sfu.muteAudio('m5', [jy.self.peerId, 'no-such-peer']), [jy.self.peerId]);
    const ev = await stateEvent;
    assert.deepEqual([ev.kind, ev.enabled, ev.byHost, ev.meetingId], ['audio', false, true, 'm5']);
    await y.waitFor('muted', (m) => m.kind === 'audio' && m.reason === 'muted by host');
    for (const other of [x, z]) {
      await other.waitFor('audioUpdate', (m) => m.peerId === jy.self.peerId && !m.enabled && m.byHost);
    }
    assert.ok(!x.messages.some((m) => m.type === 'audioUpdate' && m.peerId !== jy.self.peerId));
    // Y's audio stops: while 40 more of Z's packets arrive at X, Y's count grows by in-flight ones at most.
    const fromY = x.packets(jy.self.peerId).length;
    const fromZ = x.packets(jz.self.peerId).length;
    await x.waitForPackets(jz.self.peerId, fromZ + 40);
    assert.ok(x.packets(jy.self.peerId).length - fromY <= 3, 'muted audio is not forwarded');
    // Y unmutes itself: forwarded again.
    y.send({ type: 'mediaState', kind: 'audio', enabled: true });
    await x.waitFor('audioUpdate', (m) => m.peerId === jy.self.peerId && m.enabled && !m.byHost);
    await x.waitForPackets(jy.self.peerId, x.packets(jy.self.peerId).length + 20);

    await Promise.all([x.settled(), y.settled(), z.settled()]);
    assert.deepEqual(
      [x, y, z].flatMap((c) => c.subscribeErrors),
      [],
    );
    const kickedEvent = nextEvent(t.sfu, 'peerLeft', (e) => e.peerId === jz.self.peerId);
    assert.deepEqual(t.sfu.kick('m5', [jz.self.peerId]), [jz.self.peerId]);
    assert.equal((await kickedEvent).reason, 'kicked');
    await z.waitFor('kicked');
    assert.equal(await z.waitClosed(), 4002);
    await x.waitFor('peerLeft', (m) => m.peerId === jz.self.peerId && m.reason === 'kicked');
    await x.waitFor('unsubscribe', (m) => m.peerId === jz.self.peerId);
    assert.deepEqual(
      t.sfu
        .listPeers('m5')
        .map((p) => p.peerId)
        .sort(),
      [jx.self.peerId, jy.self.peerId].sort(),
    );
    for (const s of stops) s();
    assert.deepEqual(t.sfu.kick('m5').sort(), [jx.self.peerId, jy.self.peerId].sort());
    assert.deepEqual(await Promise.all([x.waitClosed(), y.waitClosed()]), [4002, 4002]);
    assert.deepEqual(t.sfu.listPeers('m5'), []);
  });

  it('lets the same token reconnect as a new peer, and join twice at once', async () => {
    const g1 = await client('g');
    const j1 = await g1.join();
    const h = await client('h');
    await h.join();
    const gone = nextEvent(t.sfu, 'peerLeft', (e) => e.peerId === j1.self.peerId);
    g1.ws.terminate(); // network drop: no leave message
    assert.equal((await gone).reason, 'disconnected');
    await h.waitFor('peerLeft', (m) => m.peerId === j1.self.peerId && m.reason === 'disconnected');
    const g2 = await client('g');
    const j2 = await g2.join();
    assert.equal(j2.self.participantId, j1.self.participantId);
    assert.notEqual(j2.self.peerId, j1.self.peerId);
    const g3 = await client('g'); // a second tab
    const j3 = await g3.join();
    assert.notEqual(j3.self.peerId, j2.self.peerId);
    assert.deepEqual(
      t.sfu
        .listPeers('m4')
        .map((p) => p.participantId)
        .sort(),
      ['pg', 'pg', 'ph'],
    );
  });
});

describe('Sfu lifecycle', () => {
  it('a leave releases the peer connections, tracks, subscriptions and taps it held', async () => {
    const t = await startTestSfu();
    t.addToken('a', { meetingId: 'mr', participantId: 'pa' });
    t.addToken('b', { meetingId: 'mr', participantId: 'pb' });
    const a = await WeriftClient.connect(t.url('a'), { autoSubscribe: true });
    const ja = await a.join();
    await a.publish();
    const b = await WeriftClient.connect(t.url('b'), { autoSubscribe: true });
    await b.join();
    await b.publish();
    await Promise.all([a.waitFor('subscribeAnswer'), b.waitFor('subscribeAnswer')]);
    await Promise.all([a.settled(), b.settled()]);
    t.sfu.tap('mr', ja.self.peerId, 'audio', () => {});
    const counts = () => {
      const s = t.sfu.stats();
      return {
        peers: s.peers,
        publishConnections: s.publishConnections,
        subscriptions: s.subscriptions,
        pendingSubscriptions: s.pendingSubscriptions,
        audioTaps: s.audioTaps,
        transportPeerConnections: s.transportPeerConnections,
        transportTracks: s.transportTracks,
      };
    };
    // Two publications, each subscribed by the other: 4 peer connections with one track each.
    assert.deepEqual(counts(), {
      peers: 2,
      publishConnections: 2,
      subscriptions: 2,
      pendingSubscriptions: 0,
      audioTaps: 1,
      transportPeerConnections: 4,
      transportTracks: 4,
    });
    const aLeft = nextEvent(t.sfu, 'peerLeft', (e) => e.peerId === ja.self.peerId);
    a.send({ type: 'leave' });
    await aLeft;
    assert.deepEqual(counts(), {
      peers: 1,
      publishConnections: 1,
      subscriptions: 0,
      pendingSubscriptions: 0,
      audioTaps: 0,
      transportPeerConnections: 1,
      transportTracks: 1,
    });
    const bLeft = nextEvent(t.sfu, 'peerLeft');
    b.send({ type: 'leave' });
    await bLeft;
    assert.deepEqual(counts(), {
      peers: 0,
      publishConnections: 0,
      subscriptions: 0,
      pendingSubscriptions: 0,
      audioTaps: 0,
      transportPeerConnections: 0,
      transportTracks: 0,
    });
    await a.close();
    await b.close();
    await t.close();
  });

  it('close() is idempotent, closes sockets with 1001 and refuses work afterwards', async () => {
    const t = await startTestSfu();
    t.addToken('a', { meetingId: 'm', participantId: 'p' });
    const a = await WeriftClient.connect(t.url('a'));
    await a.join();
    await a.publish();
    const left = nextEvent(t.sfu, 'peerLeft');
    const p1 = t.sfu.close();
    const p2 = t.sfu.close();
    assert.equal(p1, p2);
    await p1;
    assert.equal((await left).reason, 'disconnected');
    assert.equal(await a.waitClosed(), 1001);
    assert.equal(t.sfu.stats().peers, 0);
    assert.throws(() => t.sfu.kick('m'), { code: 'CONFLICT' });
    await a.close();
    await t.close();
  });
});
