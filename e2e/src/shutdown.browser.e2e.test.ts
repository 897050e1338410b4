/**
 * A graceful shutdown ends even while people are connected: a Chromium page in a meeting and a
 * client holding an HTTP request half-sent. SIGTERM finalises the recording (stop_reason
 * SERVER_SHUTDOWN), closes the page's signalling socket with 1001 (going away), force-closes the
 * lingering HTTP connection after SHUTDOWN_DRAIN_SECONDS, and exits with 0. A second SIGTERM during
 * a long drain exits at once.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { after, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { closeBrowser, launchChromium, waitInPage } from './browser.js';
import { api, startServer, type ServerProcess } from './support/server-process.js';

const browsers: Browser[] = [];
const servers: ServerProcess[] = [];
const sockets: Socket[] = [];
after(async () => {
  for (const s of sockets) s.destroy();
  for (const b of browsers) await closeBrowser(b);
  for (const s of servers) await s.stop('SIGKILL');
});

/** A TCP connection with a request whose headers never finish: busy, never idle, for the server. */
async function halfSentRequest(port: number): Promise<Socket> {
  const s = connect(port, '127.0.0.1');
  sockets.push(s);
  await once(s, 'connect');
  s.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n');
  s.on('error', () => undefined);
  return s;
}

function exited(s: ServerProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (s.proc.exitCode !== null || s.proc.signalCode !== null)
    return Promise.resolve({ code: s.proc.exitCode, signal: s.proc.signalCode });
  return new Promise((resolve) => s.proc.once('exit', (code, signal) => resolve({ code, signal })));
}

test('SIGTERM with a browser connected: recordings finalised, sockets closed with 1001, the process exits', async (t) => {
  const server = await startServer({ env: { SHUTDOWN_DRAIN_SECONDS: '2', LOG_LEVEL: 'info' } });
  servers.push(server);
  const call = api(server);
  const meeting = (await call<{ data: { id: string } }>('POST', '/meetings', { title: 'shutdown' })).json
    .data;
  const p = (
    await call<{ data: { token: string } }>('POST', `/meetings/${meeting.id}/participants`, {
      custom_participant_id: 'sam',
      preset_name: 'group_call_host',
      name: 'Sam',
    })
  ).json.data;
  const browser = await launchChromium();
  browsers.push(browser);
  const page = await browser.newPage();
  const logs: string[] = [];
  page.on('console', (m) => logs.push(`[${m.type()}] ${m.text()}`));
  // Record the close code of every WebSocket the page opens (the SDK's signalling socket).
  await page.addInitScript(() => {
    const codes: number[] = [];
    (window as unknown as { __closeCodes: number[] }).__closeCodes = codes;
    const Native = window.WebSocket;
    window.WebSocket = class extends Native {
      constructor(url: string | URL, protocols?: string | string[]) {
        super(url, protocols);
        this.addEventListener('close', (e) => codes.push(e.code));
      }
    };
  });
  await page.goto(`${server.baseUrl}/join?authToken=${p.token}&processing=0`);
  await waitInPage(page, () => window.__trackroom?.state === 'joined', undefined, { what: 'joined', logs });
  const started = await call<{ data: { recording: { id: string } } }>('POST', '/recordings/track', {
    meeting_id: meeting.id,
  });
  assert.equal(started.status, 200, JSON.stringify(started.json));
  const id = started.json.data.recording.id;
  await halfSentRequest(server.port);

  const signalledAt = Date.now();
  const exit = exited(server);
  server.proc.kill('SIGTERM');
  const code = await waitInPage(
    page,
    () => (window as unknown as { __closeCodes: number[] }).__closeCodes[0],
    undefined,
    { what: 'the signalling socket closed', logs },
  );
  assert.equal(code, 1001, 'closed with going away');
  const result = await exit;
  t.diagnostic(`exited ${Date.now() - signalledAt} ms after SIGTERM (drain time 2 s)`);
  assert.deepEqual(result, { code: 0, signal: null }, server.output());
  assert.match(server.output(), /connections still open after the drain time/);

  // The recording was finalised at shutdown, not left for a repair.
  const again = await startServer({ dataDir: server.dataDir });
  servers.push(again);
  const rec = (
    await api(again)<{ data: { status: string; stop_reason?: { reason: string } } }>(
      'GET',
      `/recordings/${id}`,
    )
  ).json.data;
  assert.equal(rec.status, 'UPLOADED');
  assert.equal(rec.stop_reason?.reason, 'SERVER_SHUTDOWN');
});

test('a second SIGTERM during a long drain exits at once', async () => {
  const server = await startServer({ env: { SHUTDOWN_DRAIN_SECONDS: '600', LOG_LEVEL: 'info' } });
  servers.push(server);
  await halfSentRequest(server.port);
  const exit = exited(server);
  server.proc.kill('SIGTERM');
  // Wait until the shutdown is under way: the server stops accepting connections (http.close())
  // while it waits for the half-sent request.
  const refused = () =>
    new Promise<boolean>((resolve) => {
      const c = connect(server.port, '127.0.0.1');
      c.once('connect', () => {
        c.destroy();
        resolve(false);
      });
      c.once('error', () => resolve(true));
    });
  const deadline = Date.now() + 60_000;
  while (!(await refused()) && Date.now() < deadline && server.proc.exitCode === null)
    await new Promise((r) => setTimeout(r, 100));
  assert.equal(
    server.proc.exitCode,
    null,
    `still running after the first SIGTERM (signal ${server.proc.signalCode}): ${server.output()}`,
  );
  assert.ok(await refused(), `the listener closed: ${server.output()}`);
  const raced = await Promise.race([exit, new Promise<'alive'>((r) => setTimeout(() => r('alive'), 1000))]);
  assert.equal(raced, 'alive', 'the first SIGTERM waits for the half-sent request');
  server.proc.kill('SIGTERM');
  const result = await exit;
  assert.deepEqual(result, { code: 1, signal: null });
  assert.match(server.output(), /second signal during shutdown: exiting now/);
});
