/**
 * Who spoke when with a real browser: Chromium publishes through /join with a microphone that plays
 * 1.2 s tone bursts and 1.2 s of digital silence. The SFU's answer must keep the RFC 6464 audio-level
 * extension Chromium offers, and the manifest's speaking intervals (from Chromium's own per-packet
 * levels, nothing decoded) must show the bursts: their lengths and the gaps between them.
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { closeBrowser, launchChromium, waitInPage, writeSineWav } from './browser.js';
import { api, startServer, type ServerProcess } from './support/server-process.js';

const ON_MS = 1200;
const OFF_MS = 1200;
/** Burst and gap lengths may differ from the WAV's by this much (20 ms packets, Chromium's capture). */
const LENGTH_TOLERANCE_MS = 100;
const LEVEL_URI = 'urn:ietf:params:rtp-hdrext:ssrc-audio-level';

let server: ServerProcess | undefined;
let browser: Browser | undefined;
after(async () => {
  await closeBrowser(browser);
  await server?.stop();
});

declare global {
  interface Window {
    __answers?: string[];
  }
}

test('Chromium: the answer keeps the audio-level extension and the manifest shows its tone bursts', async () => {
  server = await startServer();
  const call = api(server);
  const meeting = (await call<{ data: { id: string } }>('POST', '/meetings', { title: 'levels' })).json.data;
  const ann = (
    await call<{ data: { id: string; token: string } }>('POST', `/meetings/${meeting.id}/participants`, {
      custom_participant_id: 'ann',
      preset_name: 'group_call_host',
      name: 'ann',
    })
  ).json.data;
  const wav = writeSineWav(440, {
    dir: mkdtempSync(join(tmpdir(), 'levels-browser-')),
    seconds: 60,
    gate: { onMs: ON_MS, offMs: OFF_MS },
  });
  browser = await launchChromium({ audioWav: wav });
  const page = await browser.newPage();
  const logs: string[] = [];
  page.on('console', (m) => logs.push(`[${m.type()}] ${m.text()}`));
  // Keep every remote description the page applies: the SFU's answers.
  await page.addInitScript(() => {
    const orig = RTCPeerConnection.prototype.setRemoteDescription;
    window.__answers = [];
    RTCPeerConnection.prototype.setRemoteDescription = function (
      this: RTCPeerConnection,
      d: RTCSessionDescriptionInit,
    ): Promise<void> {
      if (d?.type === 'answer' && d.sdp) window.__answers!.push(d.sdp);
      return Reflect.apply(orig, this, [d]) as Promise<void>;
    } as typeof orig;
  });
  await page.goto(`${server.baseUrl}/join?authToken=${ann.token}&processing=0`);
  await waitInPage(page, () => window.__trackroom?.state === 'joined', undefined, { what: 'joined', logs });
  const answers = await waitInPage(
    page,
    () => (window.__answers?.length ? window.__answers : null),
    undefined,
    {
      what: 'the publish answer',
      logs,
    },
  );
  const audioSection = answers[0]!
    .split(/\r?\nm=/)
    .find((s) => s.startsWith('audio') || s.includes('m=audio'));
  assert.ok(audioSection, answers[0]);
  assert.match(audioSection, new RegExp(`a=extmap:\\d+ ${LEVEL_URI}`), 'the answer keeps the extension');

  const started = await call<{ data: { recording: { id: string } } }>('POST', '/recordings/track', {
    meeting_id: meeting.id,
  });
  assert.equal(started.status, 200, JSON.stringify(started.json));
  const id = started.json.data.recording.id;
  // About 4 periods of tone and silence.
  await new Promise((r) => setTimeout(r, 4 * (ON_MS + OFF_MS) + 500));
  assert.equal((await call('PUT', `/recordings/${id}`, { action: 'stop' })).status, 200);
  let rec: Record<string, unknown> = {};
  const end = Date.now() + 20_000;
  while (rec.status !== 'UPLOADED') {
    if (Date.now() > end) throw new Error(`recording not uploaded: ${JSON.stringify(rec)}`);
    await new Promise((r) => setTimeout(r, 100));
    rec = (await call<{ data: Record<string, unknown> }>('GET', `/recordings/${id}`)).json.data;
  }
  const urls = (rec.download_url as { download_urls: Record<string, { download_url: string }> }[])[0]!
    .download_urls;
  const manifest = (await (await fetch(urls['manifest.json']!.download_url)).json()) as {
    files: {
      custom_participant_id: string;
      levels_source: string;
      speaking: { from_ms: number; to_ms: number }[] | null;
      level_envelope: { values: number[] } | null;
      levels: { frames_with_level: number; frames_without_level: number };
    }[];
  };
  const f = manifest.files.find((x) => x.custom_participant_id === 'ann');
  assert.ok(f);
  assert.equal(f.levels_source, 'rtp_header_extension');
  assert.ok(f.levels.frames_with_level > 200, JSON.stringify(f.levels));
  assert.ok(f.speaking && f.level_envelope);
  const report = JSON.stringify(f.speaking);
  console.log(`chromium speaking intervals: ${report}`);
  // The first and last bursts may be cut by start and stop; the ones between are whole.
  const inner = f.speaking.slice(1, -1);
  assert.ok(inner.length >= 2, report);
  for (const s of inner)
    assert.ok(Math.abs(s.to_ms - s.from_ms - ON_MS) <= LENGTH_TOLERANCE_MS, `burst length: ${report}`);
  for (let k = 1; k < f.speaking.length; k++) {
    const gap = f.speaking[k]!.from_ms - f.speaking[k - 1]!.to_ms;
    assert.ok(Math.abs(gap - OFF_MS) <= LENGTH_TOLERANCE_MS, `gap ${k}: ${report}`);
  }
  // Envelope: loud inside a burst (a 0.5 sine is about -9 dBov), -127 in the digital silence.
  const s = inner[0]!;
  const inBurst = f.level_envelope.values[Math.floor((s.from_ms + s.to_ms) / 200)]!;
  const inGap = f.level_envelope.values[Math.floor((s.to_ms + OFF_MS / 2) / 100)]!;
  console.log(`chromium envelope: burst ${inBurst} dBov, gap ${inGap} dBov`);
  assert.ok(inBurst >= -20 && inBurst <= 0, `burst level ${inBurst}`);
  assert.ok(inGap <= -70, `gap level ${inGap}`);
});
