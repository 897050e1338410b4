import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { addressWarnings, isLoopbackHost, type AddressWarningsConfig } from './address-warnings.js';
import { loadConfig } from './config.js';

const cfg = (
  host: string,
  opts: { publicUrl?: string; bind?: string; announced?: string } = {},
): AddressWarningsConfig => ({
  host,
  publicUrl: opts.publicUrl ?? `http://${host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host}:8787`,
  publicUrlExplicit: opts.publicUrl !== undefined,
  ice: {
    bindAddress: opts.bind ?? (host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host),
    ...(opts.announced ? { announcedAddress: opts.announced } : {}),
  },
});
const codes = (c: AddressWarningsConfig) => addressWarnings(c).map((w) => w.code);

test('loopback in every spelling, and nothing else', () => {
  for (const h of [
    'localhost',
    'LOCALHOST',
    'meet.localhost',
    '127.0.0.1',
    '127.9.8.7',
    '::1',
    '[::1]',
    '0:0:0:0:0:0:0:1',
    '::ffff:127.0.0.1',
  ])
    assert.equal(isLoopbackHost(h), true, h);
  for (const h of [
    '0.0.0.0',
    '::',
    '10.0.0.5',
    '203.0.113.7',
    'meet.example.org',
    '::ffff:10.0.0.1',
    'localhost.example.org',
    '128.0.0.1',
  ])
    assert.equal(isLoopbackHost(h), false, h);
});

test('a local-only setup earns no warning', () => {
  assert.deepEqual(codes(cfg('127.0.0.1')), []);
  assert.deepEqual(codes(cfg('::1')), []);
  assert.deepEqual(codes(cfg('127.0.0.1', { publicUrl: 'http://localhost:8787' })), []);
});

test('a wildcard HOST without RTC_ANNOUNCED_ADDRESS warns and names the variable', () => {
  const w = addressWarnings(cfg('0.0.0.0', { publicUrl: 'https://meet.example.org' }));
  assert.deepEqual(
    w.map((x) => x.code),
    ['MEDIA_WILDCARD_UNANNOUNCED'],
  );
  assert.match(w[0]!.message, /HOST is 0\.0\.0\.0 but RTC_ANNOUNCED_ADDRESS is unset/);
  assert.deepEqual(codes(cfg('::', { publicUrl: 'https://meet.example.org' })), [
    'MEDIA_WILDCARD_UNANNOUNCED',
  ]);
  // A wildcard ICE bind is no better than loopback without an announced address.
  assert.deepEqual(codes(cfg('0.0.0.0', { publicUrl: 'https://meet.example.org', bind: '0.0.0.0' })), [
    'MEDIA_WILDCARD_UNANNOUNCED',
  ]);
  // Told the public address, or binding a real interface: fine.
  assert.deepEqual(
    codes(cfg('0.0.0.0', { publicUrl: 'https://meet.example.org', announced: '203.0.113.7' })),
    [],
  );
  assert.deepEqual(codes(cfg('0.0.0.0', { publicUrl: 'https://meet.example.org', bind: '10.0.0.5' })), []);
});

test('a loopback bind behind a public PUBLIC_URL (the reverse-proxy setup) warns that media stays local', () => {
  const w = addressWarnings(cfg('127.0.0.1', { publicUrl: 'https://meet.example.org' }));
  assert.deepEqual(
    w.map((x) => x.code),
    ['MEDIA_LOOPBACK_ONLY'],
  );
  assert.match(
    w[0]!.message,
    /PUBLIC_URL names meet\.example\.org but media is offered only on 127\.0\.0\.1/,
  );
  assert.match(w[0]!.message, /RTC_BIND_ADDRESS/);
  // An announced loopback address is just as local, and the message says which variable holds it.
  const announced = addressWarnings(
    cfg('127.0.0.1', { publicUrl: 'https://meet.example.org', bind: '10.0.0.5', announced: '127.0.0.1' }),
  );
  assert.deepEqual(
    announced.map((x) => x.code),
    ['MEDIA_LOOPBACK_ONLY'],
  );
  assert.match(announced[0]!.message, /\(RTC_ANNOUNCED_ADDRESS\)/);
  // The fixes the message names silence it.
  assert.deepEqual(codes(cfg('127.0.0.1', { publicUrl: 'https://meet.example.org', bind: '10.0.0.5' })), []);
  assert.deepEqual(
    codes(cfg('127.0.0.1', { publicUrl: 'https://meet.example.org', announced: '203.0.113.7' })),
    [],
  );
  // PUBLIC_URL on loopback: a local test setup, nothing to say.
  assert.deepEqual(codes(cfg('127.0.0.1', { publicUrl: 'https://localhost:8443' })), []);
});

test('links: a wildcard HOST without PUBLIC_URL, and an http PUBLIC_URL off loopback, warn', () => {
  const unset = addressWarnings(cfg('0.0.0.0', { announced: '203.0.113.7' }));
  assert.deepEqual(
    unset.map((x) => x.code),
    ['PUBLIC_URL_UNSET'],
  );
  assert.match(unset[0]!.message, /point at http:\/\/127\.0\.0\.1:8787/);
  // HOST on a LAN address: the default PUBLIC_URL is http there, no microphone for remote pages.
  const insecure = addressWarnings(cfg('10.0.0.5'));
  assert.deepEqual(
    insecure.map((x) => x.code),
    ['PUBLIC_URL_INSECURE'],
  );
  assert.match(
    insecure[0]!.message,
    /PUBLIC_URL is http:\/\/10\.0\.0\.5:8787: browsers give the microphone only to https/,
  );
  assert.deepEqual(codes(cfg('127.0.0.1', { publicUrl: 'http://meet.example.org', bind: '10.0.0.5' })), [
    'PUBLIC_URL_INSECURE',
  ]);
  // Both at once: a wildcard HOST with nothing else set.
  assert.deepEqual(codes(cfg('0.0.0.0')), ['MEDIA_WILDCARD_UNANNOUNCED', 'PUBLIC_URL_UNSET']);
});

test('loadConfig output feeds it as the server does (defaults: no warning; the proxy setup: one)', (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'trackroom-addr-'));
  t.after(() => rmSync(dataDir, { recursive: true, force: true }));
  const base = { DATA_DIR: dataDir, RTK_API_TOKEN: 'unit-admin-token-0123456789', MEDIA_WORKERS: '1' };
  assert.deepEqual(codes(loadConfig(base)), []);
  assert.deepEqual(codes(loadConfig({ ...base, PUBLIC_URL: 'https://meet.example.org/' })), [
    'MEDIA_LOOPBACK_ONLY',
  ]);
  assert.deepEqual(
    codes(
      loadConfig({
        ...base,
        PUBLIC_URL: 'https://meet.example.org',
        RTC_BIND_ADDRESS: '0.0.0.0',
        RTC_ANNOUNCED_ADDRESS: '203.0.113.7',
      }),
    ),
    [],
  );
});
