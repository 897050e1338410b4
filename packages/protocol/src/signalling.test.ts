import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { RtkError } from './errors.js';
import {
  MAX_SIGNALLING_MESSAGE_BYTES,
  errorMessage,
  parseClientMessage,
  parseServerMessage,
} from './signalling.js';

function fails(raw: string, code: string, field?: string): void {
  assert.throws(
    () => parseClientMessage(raw),
    (e: unknown) =>
      e instanceof RtkError && e.code === code && (field === undefined || e.details?.field === field),
    raw.slice(0, 80),
  );
}

describe('parseClientMessage', () => {
  it('accepts every valid message and drops unknown fields', () => {
    assert.deepEqual(parseClientMessage('{"type":"join","audio":true,"video":false,"x":1}'), {
      type: 'join',
      audio: true,
      video: false,
    });
    assert.deepEqual(parseClientMessage('{"type":"join","audio":true,"video":true,"name":"Ann"}'), {
      type: 'join',
      audio: true,
      video: true,
      name: 'Ann',
    });
    assert.deepEqual(parseClientMessage('{"type":"publishOffer","sdp":"v=0\\r\\n"}'), {
      type: 'publishOffer',
      sdp: 'v=0\r\n',
    });
    assert.deepEqual(parseClientMessage('{"type":"subscribeOffer","subscriptionId":"sub-1","sdp":"v=0"}'), {
      type: 'subscribeOffer',
      subscriptionId: 'sub-1',
      sdp: 'v=0',
    });
    assert.deepEqual(parseClientMessage('{"type":"join","audio":true,"video":false,"subscriber":"single"}'), {
      type: 'join',
      audio: true,
      video: false,
      subscriber: 'single',
    });
    assert.deepEqual(
      parseClientMessage('{"type":"subscriberOffer","connectionId":"pc-1","version":3,"sdp":"v=0"}'),
      { type: 'subscriberOffer', connectionId: 'pc-1', version: 3, sdp: 'v=0' },
    );
    assert.deepEqual(
      parseClientMessage('{"type":"candidate","pcId":"publish","candidate":"candidate:1","sdpMid":"0"}'),
      {
        type: 'candidate',
        pcId: 'publish',
        candidate: 'candidate:1',
        sdpMid: '0',
      },
    );
    assert.deepEqual(parseClientMessage('{"type":"mediaState","kind":"video","enabled":false}'), {
      type: 'mediaState',
      kind: 'video',
      enabled: false,
    });
    assert.deepEqual(parseClientMessage('{"type":"leave"}'), { type: 'leave' });
    assert.deepEqual(parseClientMessage('{"type":"ping","ts":5}'), { type: 'ping', ts: 5 });
    assert.deepEqual(parseClientMessage('{"type":"ping"}'), { type: 'ping' });
  });

  it('names the field and the problem for each invalid kind', () => {
    fails('nope', 'SIGNALLING_INVALID_MESSAGE', 'message');
    fails('null', 'SIGNALLING_INVALID_MESSAGE', 'message');
    fails('[]', 'SIGNALLING_INVALID_MESSAGE', 'message');
    fails('{"type":1}', 'SIGNALLING_INVALID_MESSAGE', 'type');
    fails('{"type":"hello"}', 'SIGNALLING_INVALID_MESSAGE', 'type');
    fails('{"type":"join","audio":1,"video":true}', 'SIGNALLING_INVALID_MESSAGE', 'audio');
    fails(
      '{"type":"join","audio":true,"video":true,"name":"' + 'n'.repeat(101) + '"}',
      'SIGNALLING_INVALID_MESSAGE',
      'name',
    );
    fails('{"type":"publishOffer","sdp":""}', 'SIGNALLING_INVALID_MESSAGE', 'sdp');
    fails('{"type":"publishOffer","sdp":"hello"}', 'SIGNALLING_INVALID_MESSAGE', 'sdp');
    fails('{"type":"subscribeOffer","sdp":"v=0"}', 'SIGNALLING_INVALID_MESSAGE', 'subscriptionId');
    fails(
      '{"type":"join","audio":true,"video":true,"subscriber":"one"}',
      'SIGNALLING_INVALID_MESSAGE',
      'subscriber',
    );
    fails(
      '{"type":"subscriberOffer","connectionId":"c","version":0,"sdp":"v=0"}',
      'SIGNALLING_INVALID_MESSAGE',
      'version',
    );
    fails(
      '{"type":"subscriberOffer","connectionId":"c","version":1.5,"sdp":"v=0"}',
      'SIGNALLING_INVALID_MESSAGE',
      'version',
    );
    fails('{"type":"subscriberOffer","version":1,"sdp":"v=0"}', 'SIGNALLING_INVALID_MESSAGE', 'connectionId');
    fails('{"type":"candidate","pcId":"","candidate":"x"}', 'SIGNALLING_INVALID_MESSAGE', 'pcId');
    fails('{"type":"candidate","pcId":"p","candidate":null}', 'SIGNALLING_INVALID_MESSAGE', 'candidate');
    fails('{"type":"mediaState","kind":"screen","enabled":true}', 'SIGNALLING_INVALID_MESSAGE', 'kind');
    fails('{"type":"mediaState","kind":"audio"}', 'SIGNALLING_INVALID_MESSAGE', 'enabled');
    fails('{"type":"ping","ts":"now"}', 'SIGNALLING_INVALID_MESSAGE', 'ts');
    try {
      parseClientMessage('{"type":"join","audio":"yes","video":true}');
    } catch (e) {
      assert.match((e as Error).message, /audio must be a boolean/);
    }
  });

  it('refuses oversized messages, counting UTF-8 bytes', () => {
    const pad = 'x'.repeat(MAX_SIGNALLING_MESSAGE_BYTES);
    fails(`{"type":"ping","p":"${pad}"}`, 'SIGNALLING_MESSAGE_TOO_LARGE');
    const multiByte = 'é'.repeat(MAX_SIGNALLING_MESSAGE_BYTES / 2 - 10); // under the limit in chars, over in bytes
    fails(`{"type":"ping","p":"${multiByte}"}`, 'SIGNALLING_MESSAGE_TOO_LARGE');
    assert.deepEqual(parseClientMessage('{"type":"ping"}', 20), { type: 'ping' });
    assert.throws(() => parseClientMessage('{"type":"ping","ts":1234567}', 20), {
      code: 'SIGNALLING_MESSAGE_TOO_LARGE',
    });
  });

  it('never throws anything but RtkError on arbitrary input (property)', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.json()), (raw) => {
        try {
          const m = parseClientMessage(raw);
          assert.equal(typeof m.type, 'string');
        } catch (e) {
          assert.ok(e instanceof RtkError);
          assert.ok(e.code === 'SIGNALLING_INVALID_MESSAGE' || e.code === 'SIGNALLING_MESSAGE_TOO_LARGE');
        }
      }),
      { numRuns: 500 },
    );
  });
});

describe('parseServerMessage and errorMessage', () => {
  it('accepts known types only', () => {
    assert.equal(parseServerMessage('{"type":"pong"}').type, 'pong');
    const redirect = parseServerMessage('{"type":"redirect","nodeUrl":"https://b.example.com","nodeId":"b"}');
    assert.deepEqual(redirect, { type: 'redirect', nodeUrl: 'https://b.example.com', nodeId: 'b' });
    assert.throws(() => parseServerMessage('{"type":"nope"}'), RtkError);
    assert.throws(() => parseServerMessage('{'), RtkError);
  });
  it('turns errors into error messages without leaking internals', () => {
    assert.deepEqual(errorMessage(new RtkError('FORBIDDEN', 'no'), 'join'), {
      type: 'error',
      code: 'FORBIDDEN',
      message: 'no',
      details: { type: 'join' },
    });
    assert.deepEqual(errorMessage(new Error('secret stack')), {
      type: 'error',
      code: 'INTERNAL',
      message: 'Internal server error',
    });
  });
});
