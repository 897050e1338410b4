import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { RecordingRow } from '../store/types.js';
import { recordingInfo } from './media-plane.js';

const rec = (over: Partial<RecordingRow>): RecordingRow =>
  ({ id: 'r1', type: 'TRACK', status: 'RECORDING', user_ids: null, ...over }) as RecordingRow;
const peer = (participantId: string, customParticipantId: string, hidden = false) => ({
  participantId,
  customParticipantId,
  hidden,
});
const present = [
  peer('p-ann', 'ann'),
  peer('p-ben', 'ben'),
  peer('p-rec', 'recorder', true),
  peer('p-ann', 'ann'),
];

test('a recording lists whom it captures by the track engine rule', () => {
  // user_ids null: every visible participant, once each (two tabs of ann), never the hidden recorder.
  assert.deepEqual(recordingInfo(rec({}), present), {
    id: 'r1',
    type: 'TRACK',
    status: 'RECORDING',
    recordedParticipantIds: ['p-ann', 'p-ben'],
  });
  // By participant id or by custom id.
  assert.deepEqual(recordingInfo(rec({ user_ids: ['p-ben'] }), present).recordedParticipantIds, ['p-ben']);
  assert.deepEqual(recordingInfo(rec({ user_ids: ['ann'] }), present).recordedParticipantIds, ['p-ann']);
  assert.deepEqual(
    recordingInfo(rec({ user_ids: ['recorder', 'nobody'] }), present).recordedParticipantIds,
    [],
  );
  // Paused still selects them (the SDK decides that paused is not "recording now"); ended captures nobody.
  assert.deepEqual(recordingInfo(rec({ status: 'PAUSED' }), present).recordedParticipantIds, [
    'p-ann',
    'p-ben',
  ]);
  assert.deepEqual(recordingInfo(rec({ status: 'UPLOADING' }), present).recordedParticipantIds, []);
});
