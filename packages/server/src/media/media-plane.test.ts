import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadConfig } from '../config.js';
import type { RecordingRow } from '../store/types.js';
import { recordingInfo, workerConfig } from './media-plane.js';

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

test("every media worker's config carries the TURN relays, and survives the JSON of a child's environment", () => {
  const config = loadConfig({
    DATA_DIR: mkdtempSync(join(tmpdir(), 'mp-')),
    RTK_API_TOKEN: 'media-plane-test-token-0123',
    MEDIA_WORKERS: '2',
    TURN_URLS: 'turn:turn.example.com:3478?transport=udp',
    TURN_SECRET: 'north-wind-secret',
  });
  for (const id of [0, 1]) {
    const w = JSON.parse(JSON.stringify(workerConfig(config, id, 'info'))) as ReturnType<typeof workerConfig>;
    assert.deepEqual(w.ice.turn, config.turn);
    assert.equal(w.ice.udpMuxPort, 8787 + id);
  }
  const off = loadConfig({
    DATA_DIR: mkdtempSync(join(tmpdir(), 'mp-')),
    RTK_API_TOKEN: 'media-plane-test-token-0123',
  });
  assert.equal('turn' in workerConfig(off, 0, 'info').ice, false);
});
