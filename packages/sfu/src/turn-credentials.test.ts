import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ownRelayPlan } from './node-datachannel-transport.js';
import { TurnCredentials, turnRestCredential } from './turn-credentials.js';

const URLS = [
  'turn:turn.example.com:3478?transport=udp',
  'turn:turn.example.com:3478?transport=tcp',
  'turns:turn.example.com:443?transport=tcp',
];

test("the TURN REST API credential is coturn's: base64(HMAC-SHA1(secret, username))", () => {
  // Computed independently: printf '%s' '1700000000:peer-1' | openssl dgst -sha1 -hmac north-wind-secret -binary | base64
  assert.equal(turnRestCredential('north-wind-secret', '1700000000:peer-1'), 'WH2ijbkfvDkhZPKBX5p8oErl35Q=');
});

test('each peer gets its own credential, expiring TTL seconds from now', () => {
  let now = 1_699_990_000_000;
  const turn = new TurnCredentials(
    { urls: URLS, auth: { type: 'secret', secret: 'north-wind-secret', ttlSeconds: 10_000 } },
    { now: () => now },
  );
  assert.deepEqual(turn.forPeer('peer-1'), [
    { urls: URLS, username: '1700000000:peer-1', credential: 'WH2ijbkfvDkhZPKBX5p8oErl35Q=' },
  ]);
  now += 5_000;
  const later = turn.forPeer('peer-1')[0]!;
  assert.equal(later.username, '1700000005:peer-1');
  assert.notEqual(later.credential, 'WH2ijbkfvDkhZPKBX5p8oErl35Q=');
  assert.notEqual(turn.forPeer('peer-2')[0]!.credential, later.credential);
  assert.ok(!JSON.stringify(turn.forPeer('peer-1')).includes('north-wind-secret'));
});

test('static credentials are handed out as configured; without TURN there are no ICE servers', () => {
  const turn = new TurnCredentials({
    urls: URLS.slice(0, 1),
    auth: { type: 'static', username: 'a:b', credential: 'pw' },
  });
  assert.deepEqual(turn.forPeer('p'), [{ urls: URLS.slice(0, 1), username: 'a:b', credential: 'pw' }]);
  assert.deepEqual(turn.relays('p/publish')[0], {
    url: URLS[0],
    host: 'turn.example.com',
    port: 3478,
    transport: 'udp',
    username: 'a:b',
    credential: 'pw',
  });
  assert.deepEqual(new TurnCredentials(undefined).forPeer('p'), []);
  assert.equal(new TurnCredentials(undefined).configured, false);
});

test("the SFU's own side uses UDP relays only, two at most, and none with the UDP mux", () => {
  const turn = {
    urls: [...URLS, 'turn:b.example.com', 'turn:c.example.com'],
    auth: { type: 'static', username: 'u', credential: 'c' },
  } as const;
  const plan = ownRelayPlan({ bindAddress: '127.0.0.1', turn });
  assert.deepEqual(plan.usable, [URLS[0], 'turn:b.example.com']);
  assert.deepEqual(
    plan.skipped.map((s) => s.why),
    ['libjuice has no TURN over tcp', 'libjuice has no TURN over tls', 'libjuice uses two at most'],
  );
  const mux = ownRelayPlan({ bindAddress: '127.0.0.1', udpMuxPort: 40000, turn });
  assert.deepEqual(mux.usable, []);
  assert.match(mux.skipped[0]!.why, /UDP mux/);
});
