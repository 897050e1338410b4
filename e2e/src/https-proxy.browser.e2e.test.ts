/**
 * HTTPS through the shipped reverse proxy: Debian's nginx runs deploy/nginx/trackroom.conf (names,
 * certificate, ports replaced) with a certificate for a test host name from a throwaway CA, in front
 * of the real server started with PUBLIC_URL on https. Two Chromium pages open the join page on the
 * https origin (a secure context), get their fake microphones, join over wss through the proxy and
 * hear each other; the API, used through the proxy too, hands out https download links that work.
 *
 * Chromium resolves the test host name to 127.0.0.1 (`--host-resolver-rules`) and accepts chains
 * holding the test CA's key (`--ignore-certificate-errors-spki-list`); Node verifies the chain
 * against the CA itself. Everything stays on loopback.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { Agent, request as httpsRequest } from 'node:https';
import type { LookupFunction } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { decodeMono, ffprobe } from '@trackroom/recorder/testing';
import type { ParticipantAnalysis } from '@trackroom/web';
import { closeBrowser, launchChromium, waitInPage, writeSineWav } from './browser.js';
import { startNginxProxy, type NginxProxy } from './support/nginx-proxy.js';
import { freePort, startServer, type ServerProcess } from './support/server-process.js';
import { makeTestCertificates } from './support/test-certificates.js';
import { strongest } from './support/tone.js';

const HOST_NAME = 'meet.trackroom.test';
const TONES = { ann: 440, ben: 660 } as const;
type Name = keyof typeof TONES;

let server: ServerProcess | undefined;
let proxy: NginxProxy | undefined;
const browsers: Browser[] = [];
after(async () => {
  for (const b of browsers) await closeBrowser(b);
  await proxy?.stop();
  await server?.stop();
});

/** Re-checks `cond` every 100 ms until it holds; fails naming `what` after `timeoutMs`. */
async function until(
  cond: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 20_000,
): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** The test host name, for Node: always 127.0.0.1 (the name exists nowhere else). */
const lookupTestHost: LookupFunction = (hostname, options, cb) => {
  if (hostname !== HOST_NAME) return cb(new Error(`unexpected lookup of ${hostname}`), '', 4);
  if (options.all) return cb(null, [{ address: '127.0.0.1', family: 4 }]);
  cb(null, '127.0.0.1', 4);
};

test('through nginx with TLS: secure-context join page, wss, two pages hear each other, https links', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'trackroom-https-'));
  const cert = makeTestCertificates(dir, HOST_NAME);
  const httpsPort = await freePort();
  const origin = `https://${HOST_NAME}:${httpsPort}`;
  server = await startServer({ env: { PUBLIC_URL: origin, LOG_LEVEL: 'warn' } });
  proxy = await startNginxProxy({
    dir,
    hostName: HOST_NAME,
    fullchainFile: cert.fullchainFile,
    keyFile: cert.keyFile,
    upstreamPort: server.port,
    httpsPort,
  });
  assert.equal(proxy.origin, origin);
  // Media is offered on 127.0.0.1 while PUBLIC_URL names another host: the server says so at start.
  assert.match(server.output(), /"code":"MEDIA_LOOPBACK_ONLY"/);

  // Node: the chain verifies against the test CA, for the test name (no "ignore errors" anywhere).
  const agent = new Agent({ ca: cert.caPem, lookup: lookupTestHost, keepAlive: false });
  const fetchTls = (url: string, init: { method?: string; body?: unknown; admin?: boolean } = {}) =>
    new Promise<Answer>((resolve, reject) => {
      const u = new URL(url);
      assert.equal(u.origin, origin, `${url} is on the proxy's origin`);
      const body = init.body === undefined ? undefined : JSON.stringify(init.body);
      const req = httpsRequest(
        u,
        {
          agent,
          method: init.method ?? 'GET',
          headers: {
            ...(init.admin ? { authorization: `Bearer ${server!.token}` } : {}),
            ...(body ? { 'content-type': 'application/json' } : {}),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () =>
            resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
          );
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  const apiBase = `${origin}/client/v4/accounts/local/realtime/kit/${server.appId}`;
  const call = async <T>(method: string, path: string, body?: unknown) => {
    const res = await fetchTls(`${apiBase}${path}`, { method, body, admin: true });
    return { status: res.status, json: JSON.parse(res.body.toString('utf8')) as T };
  };

  // Plain http on the proxy redirects to https (the certificate-challenge path aside).
  const redirect = await new Promise<{ status: number; location: string | undefined }>((resolve, reject) => {
    const req = httpRequest(
      { host: '127.0.0.1', port: proxy!.httpPort, path: '/join?x=1', headers: { host: HOST_NAME } },
      (res) => {
        res.resume();
        resolve({ status: res.statusCode ?? 0, location: res.headers.location });
      },
    );
    req.on('error', reject);
    req.end();
  });
  assert.deepEqual(redirect, { status: 301, location: `https://${HOST_NAME}/join?x=1` });

  const meeting = (await call<{ data: { id: string } }>('POST', '/meetings', { title: 'over https' })).json
    .data;
  const people = {} as Record<Name, { id: string; token: string }>;
  for (const n of Object.keys(TONES) as Name[]) {
    const added = await call<{ data: { id: string; token: string } }>(
      'POST',
      `/meetings/${meeting.id}/participants`,
      {
        custom_participant_id: n,
        preset_name: 'group_call_host',
        name: n.toUpperCase(),
      },
    );
    assert.equal(added.status, 201, JSON.stringify(added.json));
    people[n] = added.json.data;
  }

  const open = async (n: Name) => {
    const browser = await launchChromium({
      audioWav: writeSineWav(TONES[n], { dir, seconds: 60 }),
      extraArgs: [
        `--host-resolver-rules=MAP ${HOST_NAME} 127.0.0.1`,
        `--ignore-certificate-errors-spki-list=${cert.caSpkiSha256}`,
      ],
    });
    browsers.push(browser);
    const page = await browser.newPage();
    const logs: string[] = [];
    const sockets: string[] = [];
    page.on('console', (m) => logs.push(`[${m.type()}] ${m.text()}`));
    page.on('pageerror', (e) => logs.push(`[pageerror] ${e.message}`));
    page.on('websocket', (ws) => sockets.push(ws.url()));
    await page.goto(`${origin}/join?authToken=${people[n].token}&processing=0`);
    const secure = await page.evaluate(() => ({
      isSecureContext: window.isSecureContext,
      origin: location.origin,
    }));
    assert.deepEqual(
      secure,
      { isSecureContext: true, origin },
      `${n}'s page is a secure context on the https origin`,
    );
    await waitInPage(page, () => window.__trackroom?.state === 'joined', undefined, {
      what: `${n} joined`,
      logs,
    });
    // The fake microphone was granted and is sending (a page on an insecure origin gets none).
    const mic = await page.evaluate(() => ({
      permission: window.__trackroom.meeting!.self.mediaPermissions.audio,
      audioEnabled: window.__trackroom.meeting!.self.audioEnabled,
      problemShown: !document.getElementById('mic-problem')!.hidden,
    }));
    assert.deepEqual(
      mic,
      { permission: 'ACCEPTED', audioEnabled: true, problemShown: false },
      `${n}'s microphone`,
    );
    return { page, logs, sockets };
  };
  const pages = {} as Record<Name, { page: Page; logs: string[]; sockets: string[] }>;
  for (const n of Object.keys(TONES) as Name[]) pages[n] = await open(n);

  // Signalling went over wss to the proxy's origin, with the token in the query (never logged).
  for (const n of Object.keys(TONES) as Name[]) {
    assert.ok(pages[n].sockets.length >= 1, `${n} opened a WebSocket`);
    for (const url of pages[n].sockets) assert.ok(url.startsWith(`wss://${HOST_NAME}:${httpsPort}/ws?`), url);
  }

  const hears = (n: Name, other: Name) =>
    waitInPage(
      pages[n].page,
      ([u, f]) =>
        Object.values(window.__trackroom.analysis()).find(
          (x: ParticipantAnalysis) => x.userId === u && x.rms > 0.01 && Math.abs(x.dominantHz - f) <= 15,
        ),
      [people[other].id, TONES[other]] as const,
      { what: `${n} hearing ${other} at ${TONES[other]} Hz`, logs: pages[n].logs },
    );
  const [annHears, benHears] = await Promise.all([hears('ann', 'ben'), hears('ben', 'ann')]);
  t.diagnostic(
    `ann hears ben at ${annHears.dominantHz.toFixed(1)} Hz, ben hears ann at ${benHears.dominantHz.toFixed(1)} Hz`,
  );

  // A track recording of ann, started, stopped and read through the proxy.
  const started = await call<{ data: { recording: { id: string } } }>('POST', '/recordings/track', {
    meeting_id: meeting.id,
    user_ids: ['ann'],
  });
  assert.equal(started.status, 200, JSON.stringify(started.json));
  const id = started.json.data.recording.id;
  await waitInPage(
    pages.ben.page,
    (rid) =>
      window.__trackroom.meeting?.recording.recordings.some((r) => r.id === rid && r.status === 'RECORDING'),
    id,
    { what: 'recording running on the page', logs: pages.ben.logs },
  );
  // Until a second of ann's audio reached the recorder (50 packets of 20 ms), read from /metrics.
  const recordedPackets = async () => {
    const text = (await fetchTls(`${origin}/metrics`, { admin: true })).body.toString('utf8');
    return [...text.matchAll(/^trackroom_recorder_packets_received\{[^}]*\} (\d+)/gm)].reduce(
      (sum, m) => sum + Number(m[1]),
      0,
    );
  };
  await until(async () => (await recordedPackets()) >= 50, 'a second of audio at the recorder');
  const stopped = await call<{ data: { status: string } }>('PUT', `/recordings/${id}`, { action: 'stop' });
  assert.equal(stopped.status, 200, JSON.stringify(stopped.json));
  const rec = (await call<{ data: Record<string, unknown> }>('GET', `/recordings/${id}`)).json.data;
  assert.equal(rec.status, 'UPLOADED');

  // Every link in the recording is on the https origin.
  const links: string[] = [];
  const collect = (v: unknown): void => {
    if (typeof v === 'string' && /^[a-z][a-z0-9+.-]*:\/\//i.test(v)) links.push(v);
    else if (Array.isArray(v)) v.forEach(collect);
    else if (v && typeof v === 'object') Object.values(v).forEach(collect);
  };
  collect(rec);
  const urls = (rec.download_url as { download_urls: Record<string, { download_url: string }> }[])[0]!
    .download_urls;
  const names = Object.keys(urls).sort();
  assert.ok(names.includes('manifest.json') && names.some((f) => f.endsWith('.webm')), names.join(' '));
  assert.ok(links.length >= names.length, `links found: ${links.join(' ')}`);
  for (const l of links) assert.ok(l.startsWith(`${origin}/`), `${l} is an https link on ${origin}`);
  t.diagnostic(`${links.length} links, e.g. ${links[0]!.replace(/\?.*/, '?…')}`);

  // The links work through the proxy: the manifest, and ann's file carries her tone.
  const manifestRes = await fetchTls(urls['manifest.json']!.download_url);
  assert.equal(manifestRes.status, 200);
  const manifest = JSON.parse(manifestRes.body.toString('utf8')) as {
    files: { file_name: string; custom_participant_id: string; size_bytes: number }[];
  };
  assert.deepEqual(
    manifest.files.map((f) => f.custom_participant_id),
    ['ann'],
  );
  const annFile = manifest.files[0]!;
  const webm = await fetchTls(urls[annFile.file_name]!.download_url);
  assert.equal(webm.status, 200);
  assert.equal(webm.body.length, annFile.size_bytes);
  const path = join(dir, annFile.file_name);
  writeFileSync(path, webm.body);
  assert.equal(ffprobe(path).codecName, 'opus');
  const { samples, status, stderr } = decodeMono(path);
  assert.equal(status, 0, stderr);
  assert.equal(strongest(samples, 0.2, samples.length / 48_000 - 0.1, [440, 660]), TONES.ann);
  // And in the browser, same origin: a partial GET (Range) through the proxy.
  const inPage = await pages.ben.page.evaluate(async (u) => {
    const res = await fetch(u, { headers: { range: 'bytes=0-3' } });
    return { status: res.status, bytes: [...new Uint8Array(await res.arrayBuffer())] };
  }, urls[annFile.file_name]!.download_url);
  assert.deepEqual(
    inPage,
    { status: 206, bytes: [0x1a, 0x45, 0xdf, 0xa3] },
    'the page reads the WebM header',
  );

  // The proxy carried both signalling sockets (101) and logged no secret. nginx logs a WebSocket
  // when it ends: the pages leave first.
  for (const n of Object.keys(TONES) as Name[]) await pages[n].page.close();
  const upgradeLines = () =>
    proxy!
      .accessLog()
      .split('\n')
      .filter((l) => /"GET \/ws[ ?][^"]*" 101 /.test(l));
  await until(() => upgradeLines().length >= 2, 'two WebSocket upgrades in the access log');
  const log = proxy.accessLog();
  const upgrades = upgradeLines();
  assert.ok(
    upgrades.every((l) => l.includes('"GET /ws HTTP/1.1" 101 ')),
    // (query strings cut: a failing run must not print the tokens either)
    upgrades.map((l) => l.replace(/\?[^\s"]*/g, '?…')).join('\n'),
  );
  for (const secret of [people.ann.token, people.ben.token, server.token, 'authToken=', 'sig='])
    assert.ok(!log.includes(secret), `the access log holds no "${secret.slice(0, 12)}…"`);
  t.diagnostic(`access log: ${log.split('\n').length - 1} lines, ${upgrades.length} upgrades`);
});
