// Component tests of the facade's control-plane seams and its media events: admissions (a socket the
// control plane authenticated, handed over as plain request data), refuseUpgrade, and the payloads of
// peerJoined / peerLeft / trackStarted / mediaEnabled over real WebRTC (werift peers, 127.0.0.1).
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { RtkError } from '@trackroom/protocol';
import type { MediaEvents, PeerIdentity, RecordingInfo } from '@trackroom/protocol';
import type { Sfu } from './sfu.js';
import { startTestSfu } from './testing/harness.js';
import type { TestSfu } from './testing/harness.js';
import { WeriftClient } from './testing/werift-client.js';

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

function identity(meetingId: string, n: string, extra: Partial<PeerIdentity> = {}): PeerIdentity {
  return {
    meetingId,
    participantId: `p-${n}`,
    customParticipantId: `custom-${n}`,
    name: `Name ${n}`,
    presetName: 'group_call_host',
    canProduceAudio: true,
    canProduceVideo: true,
    hidden: false,
    meetingTitle: `Title of ${meetingId}`,
    ...extra,
  };
}

const REC_A: RecordingInfo = {
  id: 'rec-a',
  type: 'TRACK',
  status: 'RECORDING',
  recordedParticipantIds: ['x'],
};
const REC_B: RecordingInfo = { id: 'rec-b', type: 'TRACK', status: 'STOPPED', recordedParticipantIds: [] };

describe('Sfu admissions', () => {
  const stops: (() => Promise<void>)[] = [];
  after(async () => {
    for (const s of stops.reverse()) await s();
  });
  async function sfu(opts: Parameters<typeof startTestSfu>[0] = {}): Promise<TestSfu> {
    const t = await startTestSfu(opts);
    stops.push(() => t.close());
    return t;
  }
  async function client(url: string): Promise<WeriftClient> {
    const c = await WeriftClient.connect(url);
    stops.push(() => c.close());
    return c;
  }

  it('an admitted upgrade (a plain request object) joins without authenticate, with the admission recordings', async () => {
    const t = await sfu({ recordings: [REC_B] });
    t.admitToken('adm', { identity: identity('ma', 'one'), recordings: [REC_A] });
    const c = await client(t.url('adm'));
    const joined = await c.join();
    assert.equal(t.authCalls, 0, 'no authenticate call for an admitted socket');
    assert.equal(joined.meetingId, 'ma');
    assert.equal(joined.meetingTitle, 'Title of ma');
    assert.equal(joined.self.participantId, 'p-one');
    assert.equal(joined.self.name, 'Name one');
    assert.deepEqual(joined.recordings, [REC_A], 'the admission recordings, not initialState');
    assert.deepEqual(
      t.sfu.listPeers('ma').map((p) => p.peerId),
      [joined.self.peerId],
    );
    // A token the harness does not admit still goes through authenticate.
    t.addToken('plain', { meetingId: 'ma', participantId: 'p-two' });
    const d = await client(t.url('plain'));
    const jd = await d.join();
    assert.equal(t.authCalls, 1);
    assert.deepEqual(jd.recordings, [REC_B]);
  });

  it("joined carries a recordingUpdate broadcast newer than the admission's recordings", async () => {
    const t = await sfu();
    t.admitToken('adm', { identity: identity('mb', 'one'), recordings: [REC_A] });
    const c = await client(t.url('adm'));
    // The socket is open (admitted, not joined) before this broadcast: `joined` must carry it.
    t.sfu.broadcast('mb', { type: 'recordingUpdate', recordings: [REC_B] });
    t.sfu.broadcast('other-meeting', { type: 'recordingUpdate', recordings: [] });
    const joined = await c.join();
    assert.deepEqual(joined.recordings, [REC_B]);
    assert.equal(t.authCalls, 0);
  });

  it('refuseUpgrade answers with the same error and close code as a failed authentication', async () => {
    const refusals = {
      invalid: new RtkError('TOKEN_INVALID'),
      expired: new RtkError('TOKEN_EXPIRED'),
      forbidden: new RtkError('FORBIDDEN', 'This meeting is INACTIVE'),
    };
    let calls = 0;
    const t = await sfu({
      sfu: {
        authenticate: async (token: string) => {
          calls++;
          throw refusals[token as keyof typeof refusals];
        },
      },
    });
    for (const [token, err] of Object.entries(refusals)) {
      t.admitToken(`refused-${token}`, err);
      const viaAuth = await client(t.url(token));
      const viaRefuse = await client(t.url(`refused-${token}`));
      const [e1, e2] = await Promise.all([viaAuth.waitFor('error'), viaRefuse.waitFor('error')]);
      assert.equal(e2.code, err.code);
      assert.deepEqual(e2, e1, `${token}: the same error message`);
      const [c1, c2] = await Promise.all([viaAuth.waitClosed(), viaRefuse.waitClosed()]);
      assert.equal(c1, 4001);
      assert.equal(c2, c1, `${token}: the same close code`);
    }
    assert.equal(calls, 3, 'refused upgrades never reach authenticate');
    assert.equal(t.sfu.stats().peers, 0);
  });

  it('without authenticate, an upgrade that carries no admission is refused with TOKEN_INVALID', async () => {
    // A control plane that admits every socket itself passes no authenticate.
    const t = await sfu({ sfu: { authenticate: undefined } });
    t.addToken('tok', { meetingId: 'm', participantId: 'p' });
    const c = await client(t.url('tok'));
    c.send({ type: 'join', audio: true, video: false });
    assert.equal((await c.waitFor('error')).code, 'TOKEN_INVALID');
    assert.equal(await c.waitClosed(), 4001);
    assert.equal(t.authCalls, 0);
    assert.ok(!c.messages.some((m) => m.type === 'joined'));
  });
});

describe('Sfu media events', () => {
  let t: TestSfu;
  const clients: WeriftClient[] = [];
  after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await t.close();
  });

  it('peerJoined, trackStarted, mediaEnabled and peerLeft say what consumers need', async () => {
    t = await startTestSfu();
    t.admitToken('vis', { identity: identity('me', 'vis'), recordings: [] });
    t.admitToken('hid', {
      identity: identity('me', 'hid', { hidden: true, name: 'Recorder' }),
      recordings: [],
    });
    const connect = async (token: string) => {
      const c = await WeriftClient.connect(t.url(token));
      clients.push(c);
      return c;
    };

    const visJoined = nextEvent(t.sfu, 'peerJoined', (e) => e.participantId === 'p-vis');
    const before = Date.now();
    const vis = await connect('vis');
    const jv = await vis.join({ name: 'Visible Vera', audio: true, video: false });
    const pj = await visJoined;
    assert.ok(pj.joinedAt >= before && pj.joinedAt <= Date.now(), 'joinedAt is ms since the epoch');
    assert.deepEqual(pj, {
      meetingId: 'me',
      peerId: jv.self.peerId,
      participantId: 'p-vis',
      customParticipantId: 'custom-vis',
      name: 'Visible Vera',
      presetName: 'group_call_host',
      hidden: false,
      joinedAt: pj.joinedAt,
      tracks: {},
      enabled: { audio: true, video: false },
    });

    const hidJoined = nextEvent(t.sfu, 'peerJoined', (e) => e.participantId === 'p-hid');
    const hid = await connect('hid');
    const jh = await hid.join({ audio: false, video: false });
    const hj = await hidJoined;
    assert.equal(hj.hidden, true);
    assert.deepEqual(hj.enabled, { audio: false, video: false });
    // A hidden peer is a media peer (peers()) but is not listed to signalling (listPeers()).
    assert.deepEqual(
      t.sfu
        .peers('me')
        .map((p) => p.peerId)
        .sort(),
      [jv.self.peerId, jh.self.peerId].sort(),
    );
    assert.deepEqual(
      t.sfu.listPeers('me').map((p) => p.peerId),
      [jv.self.peerId],
    );
    assert.equal(t.sfu.stats().joinedPeers, 2);

    const started = nextEvent(t.sfu, 'trackStarted', (e) => e.peerId === jv.self.peerId);
    await vis.publish(['audio']);
    assert.deepEqual(await started, {
      meetingId: 'me',
      peerId: jv.self.peerId,
      track: { kind: 'audio', codec: 'opus', payloadType: 111, clockRate: 48000, channels: 2 },
    });

    const selfMute = nextEvent(t.sfu, 'mediaEnabled', (e) => e.peerId === jv.self.peerId);
    vis.send({ type: 'mediaState', kind: 'audio', enabled: false });
    const m1 = await selfMute;
    assert.deepEqual(
      { ...m1, at: 0 },
      {
        meetingId: 'me',
        peerId: jv.self.peerId,
        kind: 'audio',
        enabled: false,
        byHost: false,
        at: 0,
      },
    );
    assert.equal(typeof m1.at, 'number');
    assert.deepEqual(t.sfu.peers('me').find((p) => p.peerId === jv.self.peerId)?.enabled, {
      audio: false,
      video: false,
    });
    const unmute = nextEvent(t.sfu, 'mediaEnabled', (e) => e.peerId === jv.self.peerId);
    vis.send({ type: 'mediaState', kind: 'audio', enabled: true });
    assert.equal((await unmute).enabled, true);
    const hostMute = nextEvent(t.sfu, 'mediaEnabled', (e) => e.peerId === jv.self.peerId);
    t.sfu.muteAudio('me', [jv.self.peerId]);
    const m2 = await hostMute;
    assert.deepEqual([m2.kind, m2.enabled, m2.byHost], ['audio', false, true]);

    const hidLeft = nextEvent(t.sfu, 'peerLeft', (e) => e.peerId === jh.self.peerId);
    assert.deepEqual(t.sfu.kick('me', [jh.self.peerId]), [jh.self.peerId]);
    const hl = await hidLeft;
    assert.deepEqual(
      { ...hl, at: 0 },
      {
        meetingId: 'me',
        peerId: jh.self.peerId,
        participantId: 'p-hid',
        customParticipantId: 'custom-hid',
        hidden: true,
        at: 0,
        reason: 'kicked',
      },
    );
    assert.ok(hl.at >= pj.joinedAt);

    await vis.settled();
    const visLeft = nextEvent(t.sfu, 'peerLeft', (e) => e.peerId === jv.self.peerId);
    vis.send({ type: 'leave' });
    const vl = await visLeft;
    assert.deepEqual([vl.reason, vl.hidden, vl.customParticipantId], ['left', false, 'custom-vis']);
    assert.deepEqual(t.sfu.peers('me'), []);
    assert.equal(t.sfu.stats().joinedPeers, 0);
  });
});
