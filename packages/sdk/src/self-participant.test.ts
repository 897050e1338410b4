import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SelfParticipant, permissionOfError } from './self-participant.js';
import type { MediaPermission } from './self-participant.js';

function domError(name: string, message = ''): Error {
  const e = new Error(message);
  e.name = name;
  return e;
}

test('getUserMedia failures map to RealtimeKit permission states', () => {
  assert.equal(permissionOfError(domError('NotAllowedError', 'Permission denied')), 'DENIED');
  assert.equal(
    permissionOfError(domError('NotAllowedError', 'Permission denied by system')),
    'SYSTEM_DENIED',
  );
  assert.equal(permissionOfError(domError('NotFoundError', 'Requested device not found')), 'COULD_NOT_START');
  assert.equal(
    permissionOfError(domError('NotReadableError', 'Could not start audio source')),
    'COULD_NOT_START',
  );
  assert.equal(permissionOfError('weird'), 'COULD_NOT_START');
});

test('a denied microphone joins disabled and says DENIED; a later grant says ACCEPTED', async () => {
  let allow = false;
  const track = {
    kind: 'audio',
    enabled: false,
    readyState: 'live',
    stop() {},
  } as unknown as MediaStreamTrack;
  const self = new SelfParticipant({
    getUserMedia: () =>
      allow
        ? Promise.resolve({
            getAudioTracks: () => [track],
            getVideoTracks: () => [],
          } as unknown as MediaStream)
        : Promise.reject(domError('NotAllowedError', 'Permission denied')),
  });
  const updates: { kind: string; message: MediaPermission }[] = [];
  self.on('mediaPermissionUpdate', (e) => updates.push(e));
  assert.deepEqual(self.mediaPermissions, { audio: 'NOT_REQUESTED', video: 'NOT_REQUESTED' });
  await self.prepare(true, false);
  assert.equal(self.audioEnabled, false);
  assert.equal(self.mediaPermissions.audio, 'DENIED');
  await assert.rejects(self.enableAudio(), /Permission denied/);
  assert.deepEqual(updates, [{ kind: 'audio', message: 'DENIED' }]);
  allow = true;
  await self.enableAudio();
  assert.equal(self.audioEnabled, true);
  assert.deepEqual(updates.at(-1), { kind: 'audio', message: 'ACCEPTED' });
});

test('without navigator.mediaDevices (an insecure origin) the microphone is UNAVAILABLE', async () => {
  // Node has no navigator.mediaDevices, like a browser page on plain http from another host.
  assert.equal((globalThis as { navigator?: { mediaDevices?: unknown } }).navigator?.mediaDevices, undefined);
  const self = new SelfParticipant();
  await self.prepare(true, false);
  assert.equal(self.audioEnabled, false);
  assert.equal(self.mediaPermissions.audio, 'UNAVAILABLE');
  await assert.rejects(self.enableAudio(), /navigator\.mediaDevices is missing.*https/);
});

test('isBeingRecorded emits on change only and is false after leaving', () => {
  const self = new SelfParticipant();
  const seen: boolean[] = [];
  self.on('beingRecordedUpdate', (e) => seen.push(e.isBeingRecorded));
  self.setBeingRecorded(true);
  self.setBeingRecorded(true);
  assert.equal(self.isBeingRecorded, true);
  self.setLeft('kicked');
  assert.equal(self.isBeingRecorded, false);
  assert.deepEqual(seen, [true, false]);
});
