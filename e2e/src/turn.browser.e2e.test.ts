/**
 * TURN, with a real coturn from Debian and network namespaces made by the test (see
 * support/turn-topology.ts): participants reach only the TURN host, the server reaches only the TURN
 * host, and IP forwarding is off there, so media can flow only through coturn's relay. HTTP and the
 * signalling WebSocket go through a TCP forwarder on the TURN host (as a reverse proxy would).
 *
 * - Shared secret (coturn's TURN REST API): two Chromium participants
 *   hear each other and are recorded; every connected peer connection's selected pair is local
 *   `relay`, coturn logged allocations for the per-peer usernames the server made, the files are
 *   Opus with each one's own tone.
 * - TURN off, same network: the join page says there is no audio connection and why.
 * - Static credentials and the UDP mux off, with the server's own address announced wrong: audio
 *   still flows, through the SFU's own relay candidate: the pages are kept from relaying themselves,
 *   so every selected pair is the browser's host candidate to the SFU's relay address.
 *
 * MEDIA_WORKERS comes from the environment: scripts/run-tests.mjs runs this file in both modes (the
 * TURN configuration reaches child worker processes, and the in-process worker).
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { decodeMono, ffprobe } from '@trackroom/recorder/testing';
import { CHROMIUM_PATH, closeBrowser, launchChromium, waitInPage, writeSineWav } from './browser.js';
import { api, startServer, type ServerProcess } from './support/server-process.js';
import { rms, strongest } from './support/tone.js';
import { buildTurnTopology, type TurnTopology } from './support/turn-topology.js';

const TURNSERVER = '/usr/bin/turnserver';
const TONES = { ann: 440, ben: 660 } as const;
type Name = keyof typeof TONES;
/** The TURN host's ports: coturn with the shared secret, coturn with a static user, the HTTP forwarder. */
const SECRET_PORT = 3478;
const STATIC_PORT = 3479;
const HTTP_PORT = 8080;
const SECRET = randomBytes(18).toString('base64url');
const STATIC_USER = 'trackroom';
const STATIC_PASSWORD = randomBytes(12).toString('base64url');

const work = mkdtempSync(join(tmpdir(), 'trackroom-turn-'));
let net: TurnTopology | undefined;
const children: ChildProcess[] = [];
const browsers: Browser[] = [];
let servers: ServerProcess[] = [];
let coturnSecret: { output: () => string } | undefined;
let coturnStatic: { output: () => string } | undefined;

/** Starts a child and resolves once `ready` shows in its output; rejects if it exits first. */
function startChild(
  cmd: string,
  args: string[],
  ready: RegExp,
  what: string,
): Promise<{ proc: ChildProcess; output: () => string }> {
  const proc = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(proc);
  let out = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} did not start:\n${out}`)), 15_000);
    const onData = (d: Buffer) => {
      out += d.toString();
      if (ready.test(out)) {
        clearTimeout(timer);
        resolve({ proc, output: () => out });
      }
    };
    proc.stdout!.on('data', onData);
    proc.stderr!.on('data', onData);
    proc.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${what} exited with ${code}:\n${out}`));
    });
  });
}

function stopChild(proc: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (proc.exitCode !== null || proc.signalCode !== null) return resolve();
    proc.once('exit', () => resolve());
    proc.kill('SIGTERM');
  });
}

/** A coturn in the TURN host's namespace, relaying from the TURN host's address. */
async function startCoturn(
  name: string,
  port: number,
  auth: string[],
  relayPorts: [number, number],
): Promise<{ output: () => string }> {
  const dir = mkdtempSync(join(work, `${name}-`));
  const conf = join(dir, 'turnserver.conf');
  writeFileSync(
    conf,
    [
      `listening-ip=${net!.turnAddress}`,
      `relay-ip=${net!.turnAddress}`,
      `listening-port=${port}`,
      `min-port=${relayPorts[0]}`,
      `max-port=${relayPorts[1]}`,
      'realm=trackroom.test',
      ...auth,
      'fingerprint',
      'no-tls',
      'no-dtls',
      'no-cli',
      'log-file=stdout',
      'simple-log',
      'verbose',
      `pidfile=${join(dir, 'turnserver.pid')}`,
      `userdb=${join(dir, 'turndb')}`,
      '',
    ].join('\n'),
  );
  const c = await startChild(
    'ip',
    ['netns', 'exec', net!.turnNs, TURNSERVER, '-c', conf],
    new RegExp(`UDP listener opened on: ${net!.turnAddress.replace(/\./g, '\\.')}:${port}`),
    `coturn (${name})`,
  );
  return { output: c.output };
}

before(async () => {
  for (const [file, pkg] of [
    [TURNSERVER, 'coturn'],
    ['/usr/sbin/ip', 'iproute2'],
    [CHROMIUM_PATH, 'chromium'],
  ] as const) {
    if (!existsSync(file))
      throw new Error(`${file} is missing: apt-get install ${pkg} (scripts/test.sh does)`);
  }
  net = buildTurnTopology();
  // The network is what it should be: each side reaches the TURN host and nothing else.
  assert.equal(net.routes(net.participantNs, net.turnAddress), true);
  assert.equal(net.routes('', net.turnAddress), true);
  assert.equal(net.routes(net.participantNs, net.serverAddress), false, 'participant reaches the server');
  assert.equal(net.routes('', net.participantAddress), false, 'server reaches the participant');
  assert.equal(net.exec(net.turnNs, 'sysctl', '-n', 'net.ipv4.ip_forward').trim(), '0');
  coturnSecret = await startCoturn(
    'secret',
    SECRET_PORT,
    ['use-auth-secret', `static-auth-secret=${SECRET}`],
    [49152, 49251],
  );
  coturnStatic = await startCoturn(
    'static',
    STATIC_PORT,
    ['lt-cred-mech', `user=${STATIC_USER}:${STATIC_PASSWORD}`],
    [49252, 49351],
  );
});

after(async () => {
  for (const b of browsers) await closeBrowser(b);
  for (const s of servers) await s.stop();
  for (const c of children) await stopChild(c);
  net?.close();
});

/** A server in this namespace on the server address, and the forwarder that makes it reachable. */
async function startTrackroom(env: Record<string, string>): Promise<ServerProcess> {
  for (const s of servers) await s.stop();
  servers = [];
  for (const c of children.splice(0)) {
    if (c.spawnargs.some((a) => a.endsWith('tcp-forward.mjs'))) await stopChild(c);
    else children.push(c);
  }
  const server = await startServer({
    env: {
      HOST: '0.0.0.0',
      RTC_BIND_ADDRESS: net!.serverAddress,
      PUBLIC_URL: `http://${net!.turnAddress}:${HTTP_PORT}`,
      LOG_LEVEL: 'info',
      ...env,
    },
  });
  servers.push(server);
  await startChild(
    'ip',
    [
      'netns',
      'exec',
      net!.turnNs,
      process.execPath,
      new URL('./support/tcp-forward.mjs', import.meta.url).pathname,
      net!.turnAddress,
      String(HTTP_PORT),
      net!.serverAddress,
      String(server.port),
    ],
    /forwarding/,
    'the signalling forwarder',
  );
  return server;
}

/** Chromium inside the participant's namespace, treating the TURN host's http origin as secure. */
async function participantBrowser(tone: number): Promise<Browser> {
  const wrapper = join(work, 'chromium-in-participant-netns.sh');
  writeFileSync(wrapper, `#!/bin/sh\nexec ip netns exec ${net!.participantNs} ${CHROMIUM_PATH} "$@"\n`);
  chmodSync(wrapper, 0o755);
  const b = await launchChromium({
    executablePath: wrapper,
    audioWav: writeSineWav(tone, { dir: work, seconds: 120 }),
    extraArgs: [`--unsafely-treat-insecure-origin-as-secure=http://${net!.turnAddress}:${HTTP_PORT}`],
  });
  browsers.push(b);
  return b;
}

async function addPeople(server: ServerProcess): Promise<Record<Name, { id: string; token: string }>> {
  const call = api(server);
  const meeting = (await call<{ data: { id: string } }>('POST', '/meetings', { title: 'behind a firewall' }))
    .json.data;
  const people = {} as Record<Name, { id: string; token: string }>;
  for (const n of Object.keys(TONES) as Name[]) {
    const res = await call<{ data: { id: string; token: string } }>(
      'POST',
      `/meetings/${meeting.id}/participants`,
      {
        custom_participant_id: n,
        preset_name: 'group_call_host',
        name: n,
      },
    );
    assert.equal(res.status, 201, JSON.stringify(res.json));
    people[n] = res.json.data;
  }
  return Object.assign(people, { meetingId: meeting.id });
}

interface Opened {
  page: Page;
  logs: string[];
}

/**
 * Records every RTCPeerConnection the page makes, for getStats. A string: tsx's compiled functions
 * may call helpers that do not exist in the page.
 */
const recordPcs = (dropIceServers: boolean) => `(() => {
  const Native = window.RTCPeerConnection;
  const all = [];
  window.__pcs = all;
  function Recording(config) {
    const pc = new Native(${dropIceServers ? '{ ...config, iceServers: [] }' : 'config'});
    all.push(pc);
    return pc;
  }
  Recording.prototype = Native.prototype;
  window.RTCPeerConnection = Recording;
})();`;

/** `browserRelay: false` keeps the page from using the TURN servers it is given (only the SFU relays). */
async function joinMeeting(b: Browser, token: string, browserRelay = true): Promise<Opened> {
  const page = await b.newPage();
  const logs: string[] = [];
  page.on('console', (m) => logs.push(`[${m.type()}] ${m.text()}`));
  page.on('pageerror', (e) => logs.push(`[pageerror] ${e.message}`));
  await page.addInitScript({ content: recordPcs(!browserRelay) });
  await page.goto(`http://${net!.turnAddress}:${HTTP_PORT}/join?authToken=${token}&processing=0&debug=1`);
  await waitInPage(page, () => window.__trackroom?.state === 'joined', undefined, { what: 'joined', logs });
  return { page, logs };
}

interface PairInfo {
  local: string;
  remote: string;
  remoteAddress: string;
  iceServers: number;
}

/** The selected candidate pair of every connected peer connection of the page. */
function selectedPairs(o: Opened): Promise<PairInfo[]> {
  return o.page.evaluate(async () => {
    const pcs = (window as unknown as { __pcs: RTCPeerConnection[] }).__pcs;
    const out: PairInfo[] = [];
    for (const pc of pcs) {
      if (pc.connectionState !== 'connected') continue;
      const stats = await pc.getStats();
      let pairId: string | undefined;
      stats.forEach((r: { type: string; selectedCandidatePairId?: string }) => {
        if (r.type === 'transport' && r.selectedCandidatePairId) pairId = r.selectedCandidatePairId;
      });
      const pair = pairId ? stats.get(pairId) : undefined;
      const local = pair ? stats.get(pair.localCandidateId) : undefined;
      const remote = pair ? stats.get(pair.remoteCandidateId) : undefined;
      out.push({
        local: local?.candidateType ?? 'none',
        remote: remote?.candidateType ?? 'none',
        remoteAddress: remote?.address ?? '',
        iceServers: pc.getConfiguration().iceServers?.length ?? 0,
      });
    }
    return out;
  });
}

/** Waits until the page hears the other participant's tone. */
async function hears(o: Opened, what: string): Promise<void> {
  await waitInPage(
    o.page,
    () => Object.values(window.__trackroom.analysis()).some((a) => a.rms > 0.01),
    undefined,
    { what, logs: o.logs, timeoutMs: 30_000 },
  );
}

/** Every participant opens the join page with its tone; each must hear the other. */
async function joinAllAndHear(
  people: Record<Name, { token: string }>,
  browserRelay = true,
): Promise<Record<Name, Opened>> {
  const pages = {} as Record<Name, Opened>;
  for (const n of Object.keys(TONES) as Name[])
    pages[n] = await joinMeeting(await participantBrowser(TONES[n]), people[n].token, browserRelay);
  await hears(pages.ann, 'ann hears ben');
  await hears(pages.ben, 'ben hears ann');
  return pages;
}

test('only through TURN (shared secret): both hear each other, are recorded, via relay', async (t) => {
  const server = await startTrackroom({
    TURN_URLS: `turn:${net!.turnAddress}:${SECRET_PORT}?transport=udp,turn:${net!.turnAddress}:${SECRET_PORT}?transport=tcp`,
    TURN_SECRET: SECRET,
    TURN_TTL_SECONDS: '3600',
  });
  const people = (await addPeople(server)) as Record<Name, { id: string; token: string }> & {
    meetingId: string;
  };
  const pages = await joinAllAndHear(people);

  // Media went through the relay: every connected peer connection's local side is a relay candidate.
  for (const n of Object.keys(TONES) as Name[]) {
    const pairs = await selectedPairs(pages[n]);
    t.diagnostic(`${n}: ${JSON.stringify(pairs)}`);
    assert.ok(pairs.length >= 2, `${n} has a publish and a subscribe connection up`);
    for (const p of pairs) {
      assert.equal(p.local, 'relay', `${n}'s media leaves through the TURN relay`);
      assert.equal(p.remoteAddress, net!.serverAddress, 'to the SFU (its own address; the UDP mux is on)');
      assert.equal(p.iceServers, 1);
    }
  }
  // coturn accepted the per-peer credentials the server made (username <expiry>:<peer id>).
  const peerIds = await Promise.all(
    (Object.keys(TONES) as Name[]).map((n) =>
      pages[n].page.evaluate(() => window.__trackroom.meeting!.self.id),
    ),
  );
  const log = coturnSecret!.output();
  for (const id of peerIds) {
    assert.match(log, new RegExp(`user <\\d{10}:${id}>: incoming packet ALLOCATE processed, success`), id);
  }
  // The secret is in no answer the pages saw and in no log line of the server.
  assert.ok(!server.output().includes(SECRET), 'the server never logs the TURN secret');
  const joinedJson = await pages.ann.page.evaluate(() => JSON.stringify(window.__trackroom.meeting!.meta));
  assert.ok(!joinedJson.includes(SECRET));

  // Track recording through the REST API.
  const call = api(server);
  const started = await call<{ data: { recording: { id: string } } }>('POST', '/recordings/track', {
    meeting_id: people.meetingId,
    user_ids: ['ann', 'ben'],
  });
  assert.equal(started.status, 200, JSON.stringify(started.json));
  const id = started.json.data.recording.id;
  await new Promise((r) => setTimeout(r, 3000));
  assert.equal((await call('PUT', `/recordings/${id}`, { action: 'stop' })).status, 200);
  const rec = (await call<{ data: Record<string, unknown> }>('GET', `/recordings/${id}`)).json.data;
  assert.equal(rec.status, 'UPLOADED');
  const urls = (rec.download_url as { download_urls: Record<string, { download_url: string }> }[])[0]!
    .download_urls;
  const files = Object.keys(urls).filter((f) => f.endsWith('.webm'));
  assert.equal(files.length, 2, JSON.stringify(Object.keys(urls)));
  const manifest = (await (await fetch(urls['manifest.json']!.download_url)).json()) as {
    files: { file_name: string; custom_participant_id: string; duration_ms: number }[];
  };
  for (const f of manifest.files) {
    // The link is on PUBLIC_URL, the TURN host's forwarder: the test downloads through it too.
    assert.ok(urls[f.file_name]!.download_url.startsWith(`http://${net!.turnAddress}:${HTTP_PORT}/`));
    const path = join(work, f.file_name);
    writeFileSync(path, Buffer.from(await (await fetch(urls[f.file_name]!.download_url)).arrayBuffer()));
    const probe = ffprobe(path);
    assert.equal(probe.codecName, 'opus');
    assert.ok(
      Math.abs(probe.durationSec * 1000 - f.duration_ms) <= 40,
      `${probe.durationSec} s vs ${f.duration_ms} ms`,
    );
    assert.ok(f.duration_ms >= 2500, `${f.file_name} covers the recording (${f.duration_ms} ms)`);
    const { samples, status, stderr } = decodeMono(path);
    assert.equal(status, 0, stderr);
    const end = samples.length / 48_000;
    const level = rms(samples, 0.5, end - 0.2);
    t.diagnostic(`${f.custom_participant_id}: ${f.duration_ms} ms, rms ${level.toFixed(0)}`);
    assert.ok(level > 1000, `${f.file_name} is not silent (rms ${level.toFixed(0)})`);
    assert.equal(
      strongest(samples, 0.5, end - 0.2, [440, 660]),
      TONES[f.custom_participant_id as Name],
      `${f.file_name} carries its own tone`,
    );
  }
});

test('without TURN, in the same network: the join page says there is no audio connection', async (t) => {
  const server = await startTrackroom({});
  const people = await addPeople(server);
  const ann = await joinMeeting(await participantBrowser(TONES.ann), people.ann.token);
  const joinedAt = Date.now();
  await waitInPage(ann.page, () => !document.getElementById('media-problem')!.hidden, undefined, {
    what: 'the media problem shown',
    logs: ann.logs,
    timeoutMs: 90_000,
  });
  t.diagnostic(`the page showed the media problem ${Date.now() - joinedAt} ms after joining`);
  const title = (await ann.page.textContent('#media-problem-title'))!.trim();
  const text = (await ann.page.textContent('#media-problem-text'))!.trim();
  assert.equal(title, 'No audio connection to the meeting server');
  assert.match(text, /^Nobody hears you: .*offers no TURN relay/);
  assert.equal((await ann.page.textContent('#status'))!.trim(), 'In the meeting, but without audio');
  const state = await ann.page.evaluate(() => window.__trackroom.mediaState.producing);
  assert.equal(state, 'failed');
  assert.equal(await ann.page.evaluate(() => window.__trackroom.meeting!.meta.relayOffered), false);
  await ann.page.screenshot({ path: join(work, 'no-turn.png') });
});

test("the SFU's own relay (static credentials, UDP mux off, its own address unreachable): audio flows", async (t) => {
  const server = await startTrackroom({
    RTC_UDP_MUX_PORT: 'off',
    // The address the SFU announces leads nowhere: only its relay candidate can work.
    RTC_ANNOUNCED_ADDRESS: net!.unusedAddress,
    TURN_URLS: `turn:${net!.turnAddress}:${STATIC_PORT}`,
    TURN_USERNAME: STATIC_USER,
    TURN_CREDENTIAL: STATIC_PASSWORD,
  });
  assert.match(server.output(), /TURN: browsers and the SFU relay through the TURN servers/);
  const people = await addPeople(server);
  // The pages do not relay themselves: with both sides relaying, ICE may pick the browser's relay
  // and the SFU's server-reflexive address for every connection, and the SFU's relay would go
  // unproven. Without the browser's relay, only the SFU's relay candidate leads anywhere.
  const pages = await joinAllAndHear(people, false);
  for (const n of Object.keys(TONES) as Name[]) {
    const pairs = await selectedPairs(pages[n]);
    t.diagnostic(`${n}: ${JSON.stringify(pairs)}`);
    assert.ok(
      pairs.length >= 2,
      `${n} has a publish and a subscribe connection up: ${JSON.stringify(pairs)}`,
    );
    for (const p of pairs) {
      assert.equal(p.iceServers, 0, `${n}'s page was kept from relaying`);
      assert.ok(
        p.local === 'host' && p.remote === 'relay' && p.remoteAddress === net!.turnAddress,
        `${n} reaches the SFU at its relay address: ${JSON.stringify(p)}`,
      );
    }
  }
  assert.match(
    coturnStatic!.output(),
    new RegExp(`user <${STATIC_USER}>: incoming packet ALLOCATE processed, success`),
  );
  assert.ok(!server.output().includes(STATIC_PASSWORD), 'the server never logs the TURN credential');
});
