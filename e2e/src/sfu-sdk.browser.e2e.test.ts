/**
 * Real Chromium pages running the join page and the SDK against a real `Sfu` on 127.0.0.1.
 * Each browser's fake microphone plays its own tone, and each page's WebAudio analysis must find
 * the OTHER participants' tones: proof that media crossed the SFU, not just that ICE connected.
 *
 * Until the server mounts the page, a small harness here serves `webRoutes()` and hosts the Sfu.
 * Run: unshare -n bash -c 'ip link set lo up && node --conditions=source --import tsx --test e2e/src/sfu-sdk.browser.e2e.test.ts'
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { RtkError, SIGNALLING_PATH, SIGNALLING_TOKEN_PARAM } from '@trackroom/protocol';
import { Sfu } from '@trackroom/sfu';
import type { PeerIdentity } from '@trackroom/protocol';
import { webRoutes } from '@trackroom/web';
import type { ParticipantAnalysis } from '@trackroom/web';
import { closeBrowser, launchChromium, openPage, waitInPage, writeSineWav } from './browser.js';

const HZ_TOLERANCE = 15;
const MEETING = 'meeting-e2e';
const root = new URL('../../', import.meta.url).pathname;

interface Harness {
  origin: string;
  sfu: Sfu;
  /** Drops the signalling sockets opened with `token` (as a network failure would). */
  dropSockets(token: string): number;
  close(): Promise<void>;
}

async function freeUdpPort(): Promise<number> {
  const sock = createSocket('udp4');
  await new Promise<void>((resolve) => sock.bind(0, '127.0.0.1', resolve));
  const { port } = sock.address();
  await new Promise<void>((resolve) => sock.close(() => resolve()));
  return port;
}

async function startHarness(identities: Record<string, PeerIdentity>): Promise<Harness> {
  const sfu = new Sfu({
    authenticate: (token) => {
      const id = identities[token];
      return id ? Promise.resolve(id) : Promise.reject(new RtkError('TOKEN_INVALID'));
    },
    ice: { bindAddress: '127.0.0.1', udpMuxPort: await freeUdpPort() },
  });
  const routes = new Map(webRoutes().map((r) => [r.path, r]));
  const sockets = new Map<string, Set<Socket>>();
  const server: Server = createServer((req, res) => {
    const route = routes.get(new URL(req.url ?? '/', 'http://x').pathname);
    if (!route || req.method !== 'GET') {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': route.contentType, 'cache-control': 'no-store' }).end(route.body());
  });
  server.on('upgrade', (req, socket, head) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname !== SIGNALLING_PATH) {
      socket.destroy();
      return;
    }
    const token = url.searchParams.get(SIGNALLING_TOKEN_PARAM) ?? '';
    let set = sockets.get(token);
    if (!set) sockets.set(token, (set = new Set()));
    set.add(socket as Socket);
    socket.once('close', () => set.delete(socket as Socket));
    sfu.handleUpgrade(req, socket, head);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    sfu,
    dropSockets: (token) => {
      const set = sockets.get(token) ?? new Set();
      for (const s of set) s.destroy();
      return set.size;
    },
    close: async () => {
      await sfu.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function identity(n: string): PeerIdentity {
  return {
    meetingId: MEETING,
    participantId: `participant-${n}`,
    customParticipantId: `custom-${n}`,
    name: `User ${n.toUpperCase()}`,
    presetName: 'group_call_host',
    canProduceAudio: true,
    canProduceVideo: true,
    hidden: false,
    meetingTitle: '',
  };
}

interface Client {
  name: string;
  browser: Browser;
  page: Page;
  logs: string[];
}

let harness: Harness;
const clients: Client[] = [];
const wavDir = mkdtempSync(join(tmpdir(), 'trackroom-e2e-'));

before(() => {
  // The pages need the browser bundles; build them from source (fast, and never stale).
  for (const pkg of ['sdk', 'web']) {
    const r = spawnSync(process.execPath, [join(root, 'packages', pkg, 'build.mjs')], { encoding: 'utf8' });
    assert.equal(r.status, 0, `building @trackroom/${pkg} failed: ${r.stderr}`);
  }
});

after(async () => {
  for (const c of clients) await closeBrowser(c.browser);
  await harness?.close();
});

async function join_(name: string, toneHz: number, query: string): Promise<Client & { joinMs: number }> {
  const browser = await launchChromium({ audioWav: writeSineWav(toneHz, { dir: wavDir, seconds: 20 }) });
  const { page, logs } = await openPage(browser, `${harness.origin}/join?authToken=token-${name}${query}`);
  const c = { name, browser, page, logs };
  clients.push(c);
  const joinMs = await waitInPage(
    page,
    () => (window.__trackroom?.state === 'joined' ? window.__trackroom.joinMs : undefined),
    undefined,
    {
      what: `${name} joined`,
      logs,
    },
  );
  return { ...c, joinMs };
}

/** Waits until `client` hears participant `userId` at `hz` (± tolerance); returns the analysis. */
function hears(client: Client, userId: string, hz: number): Promise<ParticipantAnalysis> {
  return waitInPage(
    client.page,
    ([uid, f, tol]) =>
      Object.values(window.__trackroom.analysis()).find(
        (a) => a.userId === uid && a.audioEnabled && a.rms > 0.01 && Math.abs(a.dominantHz - f) <= tol,
      ),
    [userId, hz, HZ_TOLERANCE] as const,
    { what: `${client.name} hearing ${userId} at ${hz} Hz`, logs: client.logs, timeoutMs: 20_000 },
  );
}

function seesAudio(client: Client, userId: string, enabled: boolean): Promise<ParticipantAnalysis> {
  return waitInPage(
    client.page,
    ([uid, en]) =>
      Object.values(window.__trackroom.analysis()).find((a) => a.userId === uid && a.audioEnabled === en),
    [userId, enabled] as const,
    { what: `${client.name} seeing ${userId} audioEnabled=${enabled}`, logs: client.logs },
  );
}

function peerCount(client: Client, userId: string, count: number): Promise<boolean> {
  return waitInPage(
    client.page,
    ([uid, n]) => Object.values(window.__trackroom.analysis()).filter((a) => a.userId === uid).length === n,
    [userId, count] as const,
    { what: `${client.name} seeing ${count} peer(s) of ${userId}`, logs: client.logs },
  );
}

test('browsers exchange audio through the SFU and follow the meeting state', async (t) => {
  harness = await startHarness({
    'token-a': identity('a'),
    'token-b': identity('b'),
    'token-c': identity('c'),
    'token-d': identity('d'),
  });

  const a = await join_('a', 440, '&processing=0');
  const b = await join_('b', 660, '&processing=0');
  t.diagnostic(`join time (page start to joined): a ${a.joinMs} ms, b ${b.joinMs} ms`);

  await t.test('each page hears the other tone', async () => {
    const t0 = Date.now();
    const [ab, ba] = await Promise.all([hears(a, 'participant-b', 660), hears(b, 'participant-a', 440)]);
    t.diagnostic(
      `a hears b at ${ab.dominantHz.toFixed(1)} Hz (rms ${ab.rms.toFixed(3)}), b hears a at ${ba.dominantHz.toFixed(1)} Hz (rms ${ba.rms.toFixed(3)}), ${Date.now() - t0} ms after both joined`,
    );
  });

  const c = await join_('c', 880, '&audio=0&processing=0');
  await t.test('a participant joining muted is seen muted, and hears the others', async () => {
    await Promise.all([seesAudio(a, 'participant-c', false), seesAudio(b, 'participant-c', false)]);
    const [ca, cb] = await Promise.all([hears(c, 'participant-a', 440), hears(c, 'participant-b', 660)]);
    t.diagnostic(`c hears a at ${ca.dominantHz.toFixed(1)} Hz and b at ${cb.dominantHz.toFixed(1)} Hz`);
    const selfAudio = await c.page.evaluate(() => window.__trackroom.meeting?.self.audioEnabled);
    assert.equal(selfAudio, false);
  });

  await t.test('mute and unmute propagate (state and media)', async () => {
    await a.page.click('#mute');
    const muted = await seesAudio(b, 'participant-a', false);
    assert.equal(muted.audioEnabled, false);
    // The SFU stops forwarding a muted microphone: the level at b falls to silence.
    await waitInPage(
      b.page,
      () =>
        Object.values(window.__trackroom.analysis()).find(
          (x) => x.userId === 'participant-a' && x.rms < 0.001,
        ),
      undefined,
      { what: 'a silent at b', logs: b.logs },
    );
    await a.page.click('#mute');
    await hears(b, 'participant-a', 440);
    // c joined muted without a microphone: unmuting acquires it and sends through the same transceiver.
    await c.page.click('#mute');
    const heard = await hears(a, 'participant-c', 880);
    t.diagnostic(`a hears c at ${heard.dominantHz.toFixed(1)} Hz after c unmuted`);
  });

  await t.test('recording state reaches the page', async () => {
    harness.sfu.broadcast(MEETING, {
      type: 'recordingUpdate',
      recordings: [{ id: 'rec-1', type: 'TRACK', status: 'RECORDING', recordedParticipantIds: [] }],
    });
    const text = await waitInPage(
      a.page,
      () => {
        const el = document.getElementById('recording');
        return el && !el.hidden ? el.textContent : undefined;
      },
      undefined,
      { what: 'recording badge', logs: a.logs },
    );
    assert.equal(text?.trim(), 'Recording (track)');
    const state = await b.page.evaluate(() => window.__trackroom.meeting?.recording.recordingState);
    assert.equal(state, 'RECORDING');
  });

  await t.test('a host mute reaches the participant', async () => {
    const cPeer = await c.page.evaluate(() => window.__trackroom.meeting?.self.id ?? '');
    harness.sfu.muteAudio(MEETING, [cPeer]);
    await waitInPage(c.page, () => window.__trackroom.meeting?.self.audioEnabled === false, undefined, {
      what: 'c muted by host',
      logs: c.logs,
    });
    await seesAudio(a, 'participant-c', false);
  });

  await t.test('a dropped socket rejoins as a new peer and media resumes', async () => {
    const before = await b.page.evaluate(() => window.__trackroom.meeting?.self.id ?? '');
    assert.ok(harness.dropSockets('token-b') > 0);
    await waitInPage(
      b.page,
      (old) => window.__trackroom.state === 'joined' && window.__trackroom.meeting?.self.id !== old,
      before,
      { what: 'b rejoined', logs: b.logs },
    );
    await peerCount(a, 'participant-b', 1);
    await Promise.all([hears(a, 'participant-b', 660), hears(b, 'participant-a', 440)]);
  });

  await t.test('leave propagates', async () => {
    await b.page.click('#leave');
    await waitInPage(b.page, () => window.__trackroom.state === 'left', undefined, {
      what: 'b left',
      logs: b.logs,
    });
    await Promise.all([peerCount(a, 'participant-b', 0), peerCount(c, 'participant-b', 0)]);
  });

  await t.test('a kicked participant is told so and leaves', async () => {
    const cPeer = await c.page.evaluate(() => window.__trackroom.meeting?.self.id ?? '');
    harness.sfu.kick(MEETING, [cPeer]);
    await waitInPage(c.page, () => window.__trackroom.state === 'kicked', undefined, {
      what: 'c kicked',
      logs: c.logs,
    });
    await peerCount(a, 'participant-c', 0);
    for (const x of [b, c]) await x.browser.close();
  });

  await t.test('video=1 publishes the camera and others receive frames', async () => {
    const d = await join_('d', 550, '&audio=0&video=1&processing=0');
    const dPeer = await d.page.evaluate(() => window.__trackroom.meeting?.self.id ?? '');
    const size = await waitInPage(
      a.page,
      (peerId) => {
        const p = window.__trackroom.meeting?.participants.joined.get(peerId);
        const v = document.querySelector<HTMLVideoElement>(`li[data-peer-id="${peerId}"] video`);
        return p?.videoEnabled && v && v.videoWidth > 0 ? `${v.videoWidth}x${v.videoHeight}` : undefined;
      },
      dPeer,
      { what: 'a receiving d video frames', logs: a.logs },
    );
    t.diagnostic(`a receives d's camera at ${size}`);
    await d.page.click('#camera');
    await waitInPage(
      a.page,
      (peerId) => window.__trackroom.meeting?.participants.joined.get(peerId)?.videoEnabled === false,
      dPeer,
      { what: 'd camera off at a', logs: a.logs },
    );
  });
});
