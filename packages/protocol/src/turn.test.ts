import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseTurnUrl } from './turn.js';

test('TURN URLs: transport and default port per scheme, IPv6 literals', () => {
  const cases = [
    ['turn:turn.example.com', 'turn.example.com', 3478, 'udp'],
    ['turn:turn.example.com:3478?transport=udp', 'turn.example.com', 3478, 'udp'],
    ['turn:10.0.0.1:3479?transport=tcp', '10.0.0.1', 3479, 'tcp'],
    ['turns:turn.example.com:443?transport=tcp', 'turn.example.com', 443, 'tls'],
    ['turns:turn.example.com', 'turn.example.com', 5349, 'tls'],
    ['turn:[2001:db8::1]:3478', '2001:db8::1', 3478, 'udp'],
  ] as const;
  for (const [url, host, port, transport] of cases) {
    assert.deepEqual(parseTurnUrl(url), { url, host, port, transport }, url);
  }
});

test('TURN URLs that are not: each refusal says what is wrong', () => {
  const cases = [
    ['turn:user:pass@turn.example.com', /not in the URL/],
    ['stun:stun.example.com:3478', /only turn: and turns:/],
    ['https://turn.example.com', /not a TURN URL/],
    ['turn:turn.example.com:99999', /port must be 1\.\.65535/],
    ['turns:turn.example.com?transport=udp', /TLS on TCP, not UDP/],
    ['turn:turn.example.com?transport=sctp', /not a TURN URL/],
    ['turn:', /not a TURN URL/],
  ] as const;
  for (const [url, re] of cases) assert.throws(() => parseTurnUrl(url), re, url);
});
