import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Recording, recordedNow, recordingStateOf } from './recording.js';
import type { RecordingState } from './recording.js';

test('the most active recording decides the state', () => {
  assert.equal(recordingStateOf([]), 'IDLE');
  assert.equal(
    recordingStateOf([{ id: '1', type: 'TRACK', status: 'INVOKED', recordedParticipantIds: [] }]),
    'STARTING',
  );
  assert.equal(
    recordingStateOf([
      { id: '1', type: 'TRACK', status: 'UPLOADED', recordedParticipantIds: [] },
      { id: '2', type: 'TRACK', status: 'PAUSED', recordedParticipantIds: [] },
    ]),
    'PAUSED',
  );
  assert.equal(
    recordingStateOf([
      { id: '1', type: 'COMPOSITE', status: 'PAUSED', recordedParticipantIds: [] },
      { id: '2', type: 'TRACK', status: 'RECORDING', recordedParticipantIds: [] },
    ]),
    'RECORDING',
  );
  assert.equal(
    recordingStateOf([{ id: '1', type: 'TRACK', status: 'UPLOADING', recordedParticipantIds: [] }]),
    'IDLE',
  );
});

test('update emits once per change, with the state already current', () => {
  const r = new Recording();
  const seen: { state: RecordingState; inListener: RecordingState; count: number }[] = [];
  r.on('recordingUpdate', (state) =>
    seen.push({ state, inListener: r.recordingState, count: r.recordings.length }),
  );
  let lists = 0;
  r.on('recordingsUpdate', () => lists++);
  r.update([{ id: 'a', type: 'TRACK', status: 'RECORDING', recordedParticipantIds: [] }]);
  r.update([{ id: 'a', type: 'TRACK', status: 'RECORDING', recordedParticipantIds: [] }]);
  r.update([{ id: 'a', type: 'TRACK', status: 'UPLOADING', recordedParticipantIds: [] }]);
  assert.deepEqual(seen, [
    { state: 'RECORDING', inListener: 'RECORDING', count: 1 },
    { state: 'IDLE', inListener: 'IDLE', count: 1 },
  ]);
  assert.equal(lists, 2);
  assert.deepEqual(r.recordings, [
    { id: 'a', type: 'TRACK', status: 'UPLOADING', recordedParticipantIds: [] },
  ]);
  assert.deepEqual(r.activeRecordings, []);
});

test('only RECORDING recordings count as recording someone right now', () => {
  assert.deepEqual(
    [
      ...recordedNow([
        { status: 'RECORDING', recordedParticipantIds: ['a', 'b'] },
        { status: 'PAUSED', recordedParticipantIds: ['c'] },
        { status: 'INVOKED', recordedParticipantIds: ['d'] },
        { status: 'UPLOADING', recordedParticipantIds: ['e'] },
        { status: 'RECORDING', recordedParticipantIds: ['b', 'f'] },
      ]),
    ].sort(),
    ['a', 'b', 'f'],
  );
  const r = new Recording();
  let lists = 0;
  r.on('recordingsUpdate', () => lists++);
  assert.equal(
    r.update([{ id: 'a', type: 'TRACK', status: 'RECORDING', recordedParticipantIds: ['u1'] }]),
    true,
  );
  assert.equal(r.isRecording('u1'), true);
  assert.equal(r.isRecording('u2'), false);
  // Someone selected joined: same status, a new list of captured people.
  assert.equal(
    r.update([{ id: 'a', type: 'TRACK', status: 'RECORDING', recordedParticipantIds: ['u1', 'u2'] }]),
    true,
  );
  assert.equal(r.isRecording('u2'), true);
  assert.equal(
    r.update([{ id: 'a', type: 'TRACK', status: 'RECORDING', recordedParticipantIds: ['u1', 'u2'] }]),
    false,
  );
  assert.equal(lists, 2);
  r.update([{ id: 'a', type: 'TRACK', status: 'PAUSED', recordedParticipantIds: ['u1', 'u2'] }]);
  assert.deepEqual([...r.recordedParticipantIds], []);
});
