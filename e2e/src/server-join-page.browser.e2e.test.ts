/**
 * The join page as the real server serves it (`GET /join`): two Chromium pages join a meeting made
 * through the REST API with participant tokens, hear each other's tone, and show the recording badge
 * when a track recording starts.
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import type { Browser } from 'playwright-core';
import type { ParticipantAnalysis } from '@trackroom/web';
import { closeBrowser, launchChromium, openPage, waitInPage, writeSineWav } from './browser.js';
import { api, startServer } from './support/server-process.js';
import type { ServerProcess } from './support/server-process.js';

let server: ServerProcess | undefined;
const browsers: Browser[] = [];
after(async () => {
  for (const b of browsers) await closeBrowser(b);
  await server?.stop();
});

test('the server-mounted join page joins, carries audio and shows recording state', async (t) => {
  server = await startServer();
  const call = api(server);
  const meeting = (await call<{ data: { id: string } }>('POST', '/meetings', { title: 'join page' })).json
    .data;
  const add = async (cid: string) =>
    (
      await call<{ data: { id: string; token: string } }>('POST', `/meetings/${meeting.id}/participants`, {
        custom_participant_id: cid,
        preset_name: 'group_call_host',
        name: cid.toUpperCase(),
      })
    ).json.data;
  const [ann, ben] = [await add('ann'), await add('ben')];
  const wavDir = mkdtempSync(join(tmpdir(), 'trackroom-join-'));

  const open = async (token: string, hz: number) => {
    const browser = await launchChromium({ audioWav: writeSineWav(hz, { dir: wavDir, seconds: 20 }) });
    browsers.push(browser);
    const { page, logs } = await openPage(browser, `${server!.baseUrl}/join?authToken=${token}&processing=0`);
    const joinMs = await waitInPage(
      page,
      () => (window.__trackroom?.state === 'joined' ? window.__trackroom.joinMs : undefined),
      undefined,
      { what: 'joined', logs },
    );
    return { page, logs, joinMs };
  };
  const a = await open(ann.token, 440);
  const b = await open(ben.token, 660);
  t.diagnostic(`join time: ann ${a.joinMs} ms, ben ${b.joinMs} ms`);

  const hears = (c: typeof a, uid: string, hz: number) =>
    waitInPage(
      c.page,
      ([u, f]) =>
        Object.values(window.__trackroom.analysis()).find(
          (x: ParticipantAnalysis) => x.userId === u && x.rms > 0.01 && Math.abs(x.dominantHz - f) <= 15,
        ),
      [uid, hz] as const,
      { what: `hearing ${uid} at ${hz} Hz`, logs: c.logs },
    );
  const [ab, ba] = await Promise.all([hears(a, ben.id, 660), hears(b, ann.id, 440)]);
  t.diagnostic(
    `ann hears ben at ${ab.dominantHz.toFixed(1)} Hz, ben hears ann at ${ba.dominantHz.toFixed(1)} Hz`,
  );
  assert.equal(ab.name, 'BEN');

  const started = await call('POST', '/recordings/track', { meeting_id: meeting.id });
  assert.equal(started.status, 200, JSON.stringify(started.json));
  const badge = await waitInPage(
    a.page,
    () => {
      const el = document.getElementById('recording');
      return el && !el.hidden && el.textContent?.includes('Recording (') ? el.textContent : undefined;
    },
    undefined,
    { what: 'recording badge', logs: a.logs },
  );
  assert.equal(badge.trim(), 'Recording (track)');

  await b.page.click('#leave');
  await waitInPage(
    a.page,
    (u) => !Object.values(window.__trackroom.analysis()).some((x) => x.userId === u),
    ben.id,
    {
      what: 'ben gone',
      logs: a.logs,
    },
  );
});
