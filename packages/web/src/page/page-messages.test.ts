import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { RecordingEntry } from '@trackroom/sdk';
import { consentLine, explainMediaConnection, explainMicrophone, explainOutside } from './page-messages.js';

test('each way of not being in the meeting gets its own words and a rejoin only where it helps', () => {
  const cases = [
    [explainOutside('rejected', 'TOKEN_INVALID'), /not valid/, false],
    [explainOutside('rejected', 'TOKEN_EXPIRED'), /expired/, false],
    [explainOutside('failed', 'TOKEN_EXPIRED'), /expired/, false],
    [explainOutside('rejected', 'FORBIDDEN'), /not open/, false],
    [explainOutside('kicked'), /host removed you/, true],
    [explainOutside('left'), /You left/, true],
    [explainOutside('failed'), /connection .* lost/, true],
    [explainOutside('no-token'), /no join token/, false],
  ] as const;
  for (const [msg, title, rejoin] of cases) {
    assert.match(msg.title, title);
    assert.ok(msg.text.length > 20, msg.title);
    assert.equal(msg.rejoin, rejoin, msg.title);
  }
});

test('a microphone that cannot work is explained; one that is merely off is not', () => {
  assert.match(explainMicrophone('UNAVAILABLE', false)?.text ?? '', /https:\/\/.*this page is neither/);
  assert.doesNotMatch(explainMicrophone('UNAVAILABLE', true)?.text ?? '', /neither/);
  assert.match(explainMicrophone('DENIED', true)?.title ?? '', /blocked/);
  assert.match(explainMicrophone('SYSTEM_DENIED', true)?.text ?? '', /system/);
  assert.match(explainMicrophone('COULD_NOT_START', true)?.title ?? '', /No microphone/);
  assert.equal(explainMicrophone('ACCEPTED', true), undefined);
  assert.equal(explainMicrophone('NOT_REQUESTED', true), undefined);
});

test('the consent line says whether my own audio is recorded right now', () => {
  const rec = (status: string, ids: string[]): RecordingEntry => ({
    id: 'r',
    type: 'TRACK',
    status,
    recordedParticipantIds: ids,
  });
  const me = { userId: 'me', isBeingRecorded: false };
  assert.deepEqual(consentLine({ ...me, isBeingRecorded: true }, [rec('RECORDING', ['me'])], 'RECORDING'), {
    recorded: true,
    text: 'Your audio is being recorded.',
  });
  assert.match(
    consentLine(me, [rec('RECORDING', ['other'])], 'RECORDING').text,
    /not being recorded .*does not include you/,
  );
  assert.match(
    consentLine(me, [rec('PAUSED', ['me'])], 'PAUSED').text,
    /paused.*not being recorded right now/,
  );
  assert.match(consentLine(me, [rec('INVOKED', ['me'])], 'STARTING').text, /starting/);
  assert.equal(consentLine(me, [], 'IDLE').text, 'Nobody is being recorded.');
  assert.equal(consentLine(me, [rec('PAUSED', ['me'])], 'PAUSED').recorded, false);
});

test('a failed media connection is explained, with or without a TURN relay on offer', () => {
  assert.equal(explainMediaConnection({ producing: 'connected', consuming: 'connecting' }, false), undefined);
  assert.equal(explainMediaConnection({ producing: 'reconnecting', consuming: 'new' }, true), undefined);
  const noRelay = explainMediaConnection({ producing: 'failed', consuming: 'new' }, false);
  assert.match(noRelay!.title, /No audio connection/);
  assert.match(noRelay!.text, /^Nobody hears you: .*offers no TURN relay.*TURN_URLS/);
  const relay = explainMediaConnection({ producing: 'failed', consuming: 'failed' }, true);
  assert.match(
    relay!.text,
    /^Nobody hears you and you hear nobody: .*neither directly nor through its TURN relay/,
  );
  assert.match(
    explainMediaConnection({ producing: 'connected', consuming: 'failed' }, true)!.text,
    /^You cannot hear/,
  );
});
