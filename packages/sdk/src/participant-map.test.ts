import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { PeerInfo } from '@trackroom/protocol';
import { ParticipantMap } from './participant-map.js';

function peer(id: string, over: Partial<PeerInfo> = {}): PeerInfo {
  return {
    peerId: `peer-${id}`,
    participantId: `user-${id}`,
    customParticipantId: `custom-${id}`,
    name: `Name ${id}`,
    presetName: 'group_call_participant',
    audioEnabled: true,
    videoEnabled: false,
    joinedAt: '2026-01-01T00:00:00.000Z',
    ...over,
  };
}

function record(map: ParticipantMap): string[] {
  const log: string[] = [];
  map.on('participantJoined', (p) => log.push(`joined ${p.id}`));
  map.on('participantLeft', (p) => log.push(`left ${p.id}`));
  map.on('audioUpdate', (p) => log.push(`audio ${p.id} ${p.audioEnabled}`));
  map.on('videoUpdate', (p) => log.push(`video ${p.id} ${p.videoEnabled}`));
  return log;
}

test('joined, peerJoined, media updates and peerLeft keep the map in step', () => {
  const map = new ParticipantMap();
  const log = record(map);
  map.apply({
    type: 'joined',
    protocolVersion: 1,
    meetingId: 'm',
    meetingTitle: '',
    self: {
      peerId: 'me',
      participantId: 'u-me',
      customParticipantId: '',
      name: 'Me',
      presetName: 'p',
      canProduceAudio: true,
      canProduceVideo: true,
    },
    peers: [peer('a')],
    recordings: [],
    iceServers: [],
  });
  map.apply({ type: 'peerJoined', peer: peer('b', { audioEnabled: false }) });
  map.apply({ type: 'peerJoined', peer: peer('b') }); // duplicate: ignored
  map.apply({ type: 'audioUpdate', peerId: 'peer-b', enabled: true, byHost: false });
  map.apply({ type: 'audioUpdate', peerId: 'peer-b', enabled: true, byHost: false }); // no change
  map.apply({ type: 'videoUpdate', peerId: 'peer-a', enabled: true, byHost: false });
  map.apply({ type: 'audioUpdate', peerId: 'nobody', enabled: false, byHost: true }); // unknown: ignored
  map.apply({ type: 'peerLeft', peerId: 'peer-a', participantId: 'user-a', reason: 'left' });
  assert.deepEqual(log, [
    'joined peer-a',
    'joined peer-b',
    'audio peer-b true',
    'video peer-a true',
    'left peer-a',
  ]);
  assert.equal(map.size, 1);
  const b = map.get('peer-b');
  assert.ok(b);
  assert.equal(b.userId, 'user-b');
  assert.equal(b.customParticipantId, 'custom-b');
  assert.equal(b.audioEnabled, true);
  assert.deepEqual([...map.keys()], ['peer-b']);
  assert.deepEqual(map.byUserId('user-b'), [b]);
});

test('participant objects emit their own updates and left', () => {
  const map = new ParticipantMap();
  map.apply({ type: 'peerJoined', peer: peer('a') });
  const a = map.get('peer-a')!;
  const events: string[] = [];
  a.on('audioUpdate', (e) =>
    events.push(`audio ${e.audioEnabled} ${e.audioTrack === undefined ? 'none' : 'track'}`),
  );
  a.on('left', (e) => events.push(`left ${e.reason}`));
  const fakeTrack = { kind: 'audio' } as unknown as MediaStreamTrack;
  map.setTrack('peer-a', 'audio', fakeTrack);
  assert.equal(a.audioTrack, fakeTrack);
  map.apply({ type: 'audioUpdate', peerId: 'peer-a', enabled: false, byHost: true });
  map.apply({ type: 'peerLeft', peerId: 'peer-a', participantId: 'user-a', reason: 'kicked' });
  assert.deepEqual(events, ['audio true track', 'audio false track', 'audio false none', 'left kicked']);
});

test('reset after a reconnect: gone peers leave, new ones join, kept ones keep their object', () => {
  const map = new ParticipantMap();
  map.reset([peer('a'), peer('b')]);
  const a = map.get('peer-a');
  const log = record(map);
  map.reset([peer('a', { audioEnabled: false }), peer('c')]);
  assert.deepEqual(log, ['left peer-b', 'audio peer-a false', 'joined peer-c']);
  assert.equal(map.get('peer-a'), a);
  map.clear();
  assert.equal(map.size, 0);
});

test('a throwing listener neither breaks the map nor the other listeners', () => {
  const map = new ParticipantMap();
  const errors: unknown[] = [];
  map.onListenerError = (err) => errors.push(err);
  const seen: string[] = [];
  map.on('participantJoined', () => {
    throw new Error('boom');
  });
  map.on('participantJoined', (p) => seen.push(p.id));
  map.apply({ type: 'peerJoined', peer: peer('a') });
  map.apply({ type: 'peerJoined', peer: peer('b') });
  assert.deepEqual(seen, ['peer-a', 'peer-b']);
  assert.equal(errors.length, 2);
  assert.equal(map.size, 2);
});
