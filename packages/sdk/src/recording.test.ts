import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Recording, recordingStateOf } from './recording.js';
import type { RecordingState } from './recording.js';

test('the most active recording decides the state', () => {
  assert.equal(recordingStateOf([]), 'IDLE');
  assert.equal(recordingStateOf([{ id: '1', type: 'TRACK', status: 'INVOKED' }]), 'STARTING');
  assert.equal(
    recordingStateOf([
      { id: '1', type: 'TRACK', status: 'UPLOADED' },
      { id: '2', type: 'TRACK', status: 'PAUSED' },
    ]),
    'PAUSED',
  );
  assert.equal(
    recordingStateOf([
      { id: '1', type: 'COMPOSITE', status: 'PAUSED' },
      { id: '2', type: 'TRACK', status: 'RECORDING' },
    ]),
    'RECORDING',
  );
  assert.equal(recordingStateOf([{ id: '1', type: 'TRACK', status: 'UPLOADING' }]), 'IDLE');
});

test('update emits once per change, with the state already current', () => {
  const r = new Recording();
  const seen: { state: RecordingState; inListener: RecordingState; count: number }[] = [];
  r.on('recordingUpdate', (state) =>
    seen.push({ state, inListener: r.recordingState, count: r.recordings.length }),
  );
  let lists = 0;
  r.on('recordingsUpdate', () => lists++);
  r.update([{ id: 'a', type: 'TRACK', status: 'RECORDING' }]);
  r.update([{ id: 'a', type: 'TRACK', status: 'RECORDING' }]);
  r.update([{ id: 'a', type: 'TRACK', status: 'UPLOADING' }]);
  assert.deepEqual(seen, [
    { state: 'RECORDING', inListener: 'RECORDING', count: 1 },
    { state: 'IDLE', inListener: 'IDLE', count: 1 },
  ]);
  assert.equal(lists, 2);
  assert.deepEqual(r.recordings, [{ id: 'a', type: 'TRACK', status: 'UPLOADING' }]);
  assert.deepEqual(r.activeRecordings, []);
});
