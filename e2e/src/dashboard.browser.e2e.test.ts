/**
 * The recordings dashboard in real Chromium against a real server. Three werift publishers that send
 * the RFC 6464 audio-level extension speak at known times (each starts later than the one before,
 * and the recording uses `align: first_packet`, so their files start at different points of the
 * timeline); the recording is stopped and UPLOADED. Then the dashboard: a wrong token shows the
 * envelope's message, the right one is kept in sessionStorage only; the recording page's rows line
 * up (every speaking-interval element sits where the manifest's from_ms/to_ms fall on the shared
 * axis, within 1.5 px, at desktop and phone widths); a click on the axis seeks every `<audio>` to the
 * clicked instant minus its file's own start and plays them all; and from the live meeting the
 * participant picker starts a track recording of the ticked people, changes it (PATCH) and stops it.
 * Screenshots go to e2e/artifacts/dashboard/.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { sineOpusPackets } from '@trackroom/recorder/testing';
import { closeBrowser, launchChromium, waitInPage } from './browser.js';
import { OpusPublisher } from './support/opus-publisher.js';
import { api, startServer, type ServerProcess } from './support/server-process.js';
import { until } from './support/until.js';

/** How far (px) an interval's element may be from where the manifest puts it on the axis. */
const ALIGN_TOLERANCE_PX = 1.5;
/** How far (s) each element's currentTime may be from the clicked instant minus its file's start. */
const SEEK_TOLERANCE_S = 0.3;
const LEVEL_ID = 1;
const SILENCE = Uint8Array.of(0xf8, 0xff, 0xfe);
const ARTIFACTS = new URL('../artifacts/dashboard/', import.meta.url).pathname;
const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };

/** Who speaks when, ms after their own first packet, and how long after the first speaker they start. */
const SPEAKERS = [
  {
    name: 'ann',
    delayMs: 0,
    bursts: [
      [500, 2000],
      [4000, 4800],
    ],
  },
  { name: 'ben', delayMs: 1000, bursts: [[1500, 2500]] },
  {
    name: 'cat',
    delayMs: 2000,
    bursts: [
      [800, 1400],
      [2600, 3600],
    ],
  },
] as const;
const PLAY_MS = 5400;

let server: ServerProcess;
let browser: Browser | undefined;
const work = mkdtempSync(join(tmpdir(), 'dashboard-'));

before(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  server = await startServer();
});
after(async () => {
  await closeBrowser(browser);
  await server?.stop();
});

interface ManifestFile {
  file_name: string;
  custom_participant_id: string;
  participant_id: string;
  file_start_ms: number;
  file_end_ms: number;
  speaking: { from_ms: number; to_ms: number }[] | null;
}
interface Manifest {
  t0_ms: number;
  stop_ms: number;
  files: ManifestFile[];
}

async function shot(page: Page, name: string): Promise<void> {
  const path = join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  console.log(`screenshot: ${path}`);
}

/** Waits until the dashboard has drawn `route` (read in one go: the meeting page may redraw itself). */
async function ready(page: Page, route: string, logs: string[]): Promise<void> {
  const got = (await waitInPage(
    page,
    (r): { state: string; error: string } | false => {
      const d = (window as unknown as { __dashboard?: { state: string; route: string; error?: string } })
        .__dashboard;
      return d?.route === r && (d.state === 'ready' || d.state === 'error')
        ? { state: d.state, error: d.error ?? '' }
        : false;
    },
    route,
    { what: `dashboard route ${route}`, logs },
  )) as { state: string; error: string };
  assert.equal(got.state, 'ready', `route ${route}: ${got.error}\n${logs.slice(-20).join('\n')}`);
}

/** The axis: t0 to the stop, or to the end of a file that ends later (a file's last frame may). */
function axisMs(m: Manifest): number {
  return Math.max(m.stop_ms - m.t0_ms, ...m.files.map((f) => f.file_end_ms));
}

/** Every speaking element of every row against the manifest, mapped onto that row's axis. */

async function assertRowsLineUp(page: Page, manifest: Manifest, what: string): Promise<number> {
  const duration = axisMs(manifest);
  // No named functions inside: the test runner's transform would wrap them in a helper the page lacks.
  const got = await page.evaluate(() => ({
    durationMs: Number(document.getElementById('timeline')!.dataset.durationMs),
    ruler: document.querySelector('.tl-ruler-track')!.getBoundingClientRect().toJSON() as DOMRect,
    rows: [...document.querySelectorAll<HTMLElement>('.tl-track[data-file]')].map((t) => ({
      file: t.dataset.file!,
      axis: t.getBoundingClientRect().toJSON() as DOMRect,
      speaking: [...t.querySelectorAll<HTMLElement>('.tl-speaking')].map((s) => ({
        left: s.getBoundingClientRect().left,
        width: s.getBoundingClientRect().width,
        from: Number(s.dataset.fromMs),
        to: Number(s.dataset.toMs),
      })),
    })),
  }));
  assert.equal(got.durationMs, duration, 'the axis spans the recording');
  assert.equal(got.rows.length, manifest.files.length, 'one row per file');
  let checked = 0;
  let worst = 0;
  for (const f of manifest.files) {
    const row = got.rows.find((r) => r.file === f.file_name);
    assert.ok(row, `a row for ${f.file_name}`);
    // Every row's axis is the ruler's: same x, same width.
    assert.ok(
      Math.abs(row.axis.left - got.ruler.left) < 0.5,
      `${what}: ${f.custom_participant_id} axis starts with the ruler`,
    );
    assert.ok(
      Math.abs(row.axis.width - got.ruler.width) < 0.5,
      `${what}: ${f.custom_participant_id} axis as wide as the ruler`,
    );
    const want = f.speaking ?? [];
    assert.equal(row.speaking.length, want.length, `${what}: ${f.custom_participant_id} speaking elements`);
    want.forEach((s, k) => {
      const el = row.speaking[k]!;
      const x = (ms: number) =>
        row.axis.left + (Math.min(Math.max(ms, 0), duration) / duration) * row.axis.width;
      const dl = Math.abs(el.left - x(s.from_ms));
      const dr = Math.abs(el.left + el.width - x(s.to_ms));
      worst = Math.max(worst, dl, dr);
      assert.ok(
        dl <= ALIGN_TOLERANCE_PX && dr <= ALIGN_TOLERANCE_PX,
        `${what}: ${f.custom_participant_id} interval ${k} [${s.from_ms}, ${s.to_ms}] at ${el.left}..${el.left + el.width}, want ${x(s.from_ms)}..${x(s.to_ms)}`,
      );
      checked++;
    });
  }
  console.log(
    `${what}: ${checked} speaking intervals line up, worst edge ${worst.toFixed(2)} px (axis ${got.ruler.width.toFixed(0)} px)`,
  );
  return checked;
}

test('dashboard: sign in, a three-person recording on one axis, click-to-play in sync, recording from the picker', async () => {
  const call = api(server);
  const meeting = await call<{ data: { id: string } }>('POST', '/meetings', { title: 'dashboard e2e' });
  assert.equal(meeting.status, 201);
  const mid = meeting.json.data.id;
  const userIdOf = new Map<string, string>();
  const pubs = new Map<string, OpusPublisher>();
  for (const s of SPEAKERS) {
    const r = await call<{ data: { id: string; token: string } }>('POST', `/meetings/${mid}/participants`, {
      custom_participant_id: s.name,
      preset_name: 'group_call_host',
      name: s.name.toUpperCase(),
    });
    assert.equal(r.status, 201);
    userIdOf.set(s.name, r.json.data.id);
    const p = await OpusPublisher.connect(`${server.wsUrl}?authToken=${r.json.data.token}`, {
      audioLevelExtId: LEVEL_ID,
    });
    await p.join();
    await p.publish();
    pubs.set(s.name, p);
  }
  try {
    const started = await call<{ data: { recording: { id: string } } }>('POST', '/recordings/track', {
      meeting_id: mid,
      user_ids: SPEAKERS.map((s) => s.name),
      align: 'first_packet',
    });
    assert.equal(started.status, 200, JSON.stringify(started.json));
    const recId = started.json.data.recording.id;
    await until(
      'RECORDING',
      async () =>
        (await call<{ data: { status: string } }>('GET', `/recordings/${recId}`)).json.data.status ===
        'RECORDING',
    );

    const tone = sineOpusPackets({ dir: work, frequency: 440, seconds: 2, channels: 1 });
    const packets = PLAY_MS / 20;
    await Promise.all(
      SPEAKERS.map(async (s) => {
        await new Promise((r) => setTimeout(r, s.delayMs));
        const loud = (i: number) => s.bursts.some(([a, b]) => i * 20 >= a && i * 20 < b);
        await new Promise<void>((done) =>
          pubs.get(s.name)!.play(tone, (i) => i >= packets, {
            audioLevel: (i) => (loud(i) ? 0x80 | 12 : 127),
            payload: (i) => (loud(i) ? undefined : SILENCE),
            onSent: (i) => i === packets - 1 && done(),
          }),
        );
        pubs.get(s.name)!.stopPlaying();
      }),
    );
    assert.equal((await call('PUT', `/recordings/${recId}`, { action: 'stop' })).status, 200);
    let final: { status: string; manifest_url?: string } = { status: '' };
    await until(
      'UPLOADED',
      async () => {
        final = (await call<{ data: typeof final }>('GET', `/recordings/${recId}`)).json.data;
        return final.status === 'UPLOADED';
      },
      30_000,
    );
    const manifest = (await (await fetch(final.manifest_url!)).json()) as Manifest;
    assert.equal(manifest.files.length, 3);
    for (const s of SPEAKERS) {
      const f = manifest.files.find((x) => x.custom_participant_id === s.name);
      assert.ok(f, s.name);
      assert.equal(f.speaking?.length, s.bursts.length, `${s.name}: ${JSON.stringify(f.speaking)}`);
    }
    const starts = manifest.files.map((f) => f.file_start_ms);
    console.log(
      `file_start_ms: ${manifest.files.map((f) => `${f.custom_participant_id} ${f.file_start_ms}`).join(', ')}`,
    );
    assert.ok(Math.max(...starts) - Math.min(...starts) > 1500, "late joiners' files start later");

    // ---- the browser
    browser = await launchChromium();
    const page = await browser.newPage({ viewport: DESKTOP });
    const logs: string[] = [];
    page.on('console', (m) => logs.push(`[${m.type()}] ${m.text()}`));
    page.on('pageerror', (e) => logs.push(`[pageerror] ${e.message}`));
    const res = await page.goto(`${server.baseUrl}/dashboard`);
    assert.equal(res?.status(), 200);
    assert.equal(res?.headers()['cache-control'], 'no-store');
    assert.match(res?.headers()['content-security-policy'] ?? '', /script-src 'self'/);
    assert.ok(!(await res!.text()).includes(server.token), 'the page carries no secret');

    // A wrong token: the envelope's message, nothing kept.
    const wrong = await fetch(`${server.apiBase.replace(/\/[^/]+$/, '')}/apps`, {
      headers: { authorization: 'Bearer nope' },
    });
    const wrongMessage = ((await wrong.json()) as { error: { message: string } }).error.message;
    await page.fill('#token', 'not-the-token');
    await page.click('#login button[type=submit]');
    await page.waitForSelector('#login-error');
    assert.equal(await page.textContent('#login-error'), wrongMessage);
    assert.equal(await page.evaluate(() => sessionStorage.length), 0);
    await shot(page, 'login-error-desktop');

    await page.fill('#token', server.token);
    await page.click('#login button[type=submit]');
    await ready(page, '/', logs);
    const stored = await page.evaluate(() => ({
      session: Object.keys(sessionStorage).map((k) => sessionStorage.getItem(k)),
      local: localStorage.length,
      url: location.href,
    }));
    assert.deepEqual(stored.session, [server.token], 'the token is in sessionStorage');
    assert.equal(stored.local, 0, 'nothing in localStorage');
    assert.ok(!stored.url.includes(server.token), 'the token is never in the URL');
    await page.waitForSelector(`#apps a[href="#/apps/${server.appId}"]`);
    await shot(page, 'apps-desktop');

    // The app's meetings: this one is live with three people.
    await page.click(`#apps a[href="#/apps/${server.appId}"]`);
    await ready(page, `/apps/${server.appId}`, logs);
    assert.equal(
      await page.textContent(`#meetings li[data-meeting-id="${mid}"][data-live] .badge`),
      'LIVE · 3',
    );
    await shot(page, 'meetings-desktop');

    // Recordings list with the status filter, then the recording.
    await page.click(`a[href="#/apps/${server.appId}/recordings"]`);
    await ready(page, `/apps/${server.appId}/recordings`, logs);
    await page.click('#status-filter input[value=UPLOADED]');
    await ready(page, `/apps/${server.appId}/recordings?status=UPLOADED`, logs);
    assert.deepEqual(
      await page.$$eval('#recordings li', (lis) => lis.map((l) => (l as HTMLElement).dataset.status)),
      ['UPLOADED'],
    );
    await shot(page, 'recordings-desktop');
    await page.click(`#recordings li[data-recording-id="${recId}"] a`);
    await ready(page, `/apps/${server.appId}/recordings/${recId}`, logs);
    await page.waitForSelector('.tl-speaking');
    assert.ok((await page.textContent('#manifest'))!.includes(recId), 'the manifest is shown');
    assert.equal(await page.locator('.downloads a').count(), 4, 'three files and the manifest');

    const checked = await assertRowsLineUp(page, manifest, 'desktop 1280');
    assert.equal(checked, 5);
    await shot(page, 'recording-desktop');

    // Click the axis at an instant after every file has started: each element at that instant minus its start.
    const clickMs = Math.max(...starts) + 1200;
    const duration = axisMs(manifest);
    const axis = (await page.locator('.tl-ruler-track').boundingBox())!;
    await page.mouse.click(axis.x + (clickMs / duration) * axis.width, axis.y + axis.height / 2);
    type Played = { atMs: number; els: { file: string; t: number }[] };
    const played = (await waitInPage(
      page,
      (): Played | false => {
        const d = (window as unknown as { __dashboard: { player?: { last?: { atMs: number } } } })
          .__dashboard;
        const els = [...document.querySelectorAll<HTMLAudioElement>('.tl-label audio')];
        if (!d.player?.last || els.length === 0 || els.some((e) => e.paused || e.readyState < 3))
          return false;
        return {
          atMs: d.player.last.atMs,
          els: els.map((e) => ({ file: e.dataset.file!, t: e.currentTime })),
        };
      },
      undefined,
      { what: 'every file playing', logs },
    )) as Played;
    const pxMs = duration / axis.width;
    assert.ok(Math.abs(played.atMs - clickMs) <= 2 * pxMs, `clicked ${played.atMs} ms, aimed at ${clickMs}`);
    const report = played.els.map((e) => {
      const f = manifest.files.find((x) => x.file_name === e.file)!;
      const want = (played.atMs - f.file_start_ms) / 1000;
      return { who: f.custom_participant_id, currentTime: e.t, want, diff: e.t - want };
    });
    console.log(
      `click at ${played.atMs.toFixed(0)} ms: ${report.map((r) => `${r.who} ${r.currentTime.toFixed(3)} s (want ${r.want.toFixed(3)}, ${r.diff >= 0 ? '+' : ''}${r.diff.toFixed(3)})`).join(', ')}`,
    );
    assert.equal(report.length, 3);
    for (const r of report) assert.ok(Math.abs(r.diff) <= SEEK_TOLERANCE_S, JSON.stringify(report));
    await shot(page, 'recording-playing-desktop');

    // A click before the later files start: those wait at 0, then start when the timeline reaches
    // them, so once all play they agree on the timeline position (currentTime + file start).
    const earlyMs = Math.min(...starts) + 300;
    assert.ok(earlyMs < Math.max(...starts) - 1000);
    await page.mouse.click(axis.x + (earlyMs / duration) * axis.width, axis.y + axis.height / 2);
    const lastFile = manifest.files.find((f) => f.file_start_ms === Math.max(...starts))!.file_name;
    const firstFile = manifest.files.find((f) => f.file_start_ms === Math.min(...starts))!.file_name;
    const lastWhileFirstPlays = await waitInPage(
      page,
      ([first, last]) => {
        const a = document.querySelector<HTMLAudioElement>(`audio[data-file="${first}"]`)!;
        const z = document.querySelector<HTMLAudioElement>(`audio[data-file="${last}"]`)!;
        return a.paused ? false : { lastPaused: z.paused, lastAt: z.currentTime };
      },
      [firstFile, lastFile] as const,
      { what: 'the first file playing', logs },
    );
    assert.deepEqual(
      lastWhileFirstPlays,
      { lastPaused: true, lastAt: 0 },
      'the latest file waits at 0 for its start',
    );
    const together = await waitInPage(
      page,
      () => {
        const els = [...document.querySelectorAll<HTMLAudioElement>('.tl-label audio')];
        return els.every((e) => !e.paused && e.readyState >= 3)
          ? els.map((e) => ({ file: e.dataset.file!, t: e.currentTime }))
          : false;
      },
      undefined,
      { what: 'the later files starting on time', logs, timeoutMs: 10_000 },
    );
    const onTimeline = (together as { file: string; t: number }[]).map(
      (e) => e.t * 1000 + manifest.files.find((f) => f.file_name === e.file)!.file_start_ms,
    );
    const spreadMs = Math.max(...onTimeline) - Math.min(...onTimeline);
    console.log(
      `late starts: timeline positions ${onTimeline.map((x) => x.toFixed(0)).join(', ')} ms (spread ${spreadMs.toFixed(0)} ms)`,
    );
    assert.ok(spreadMs <= SEEK_TOLERANCE_S * 1000, `files out of step by ${spreadMs} ms`);

    // Solo: only that file plays.
    await page.click(`button.solo[data-file="${manifest.files[1]!.file_name}"]`);
    await waitInPage(
      page,
      (file) => {
        const els = [...document.querySelectorAll<HTMLAudioElement>('.tl-label audio')];
        return els.every((e) => (e.dataset.file === file) === !e.paused);
      },
      manifest.files[1]!.file_name,
      { what: 'only the solo file playing', logs },
    );
    await page.click('#pause');

    // The keyboard: the axis is a slider; an arrow moves 1 s from the paused position and plays.
    const lastAt = () =>
      page.evaluate(
        () =>
          (window as unknown as { __dashboard: { player: { last?: { atMs: number } } } }).__dashboard.player
            .last?.atMs,
      );
    const pausedAt = (await lastAt())!;
    await page.focus('.tl-ruler-track');
    await page.keyboard.press('ArrowRight');
    assert.equal(await lastAt(), Math.min(pausedAt + 1000, duration));
    await page.click('#pause');

    // The phone: the same rows, stacked, still on one axis.
    await page.setViewportSize(PHONE);
    await assertRowsLineUp(page, manifest, 'phone 390');
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 1, `no horizontal scrolling on a phone (${overflow} px too wide)`);
    await shot(page, 'recording-phone');
    await page.setViewportSize(DESKTOP);

    // ---- the live meeting: start a track recording of two people with the picker.
    await page.evaluate((h) => (location.hash = h), `/apps/${server.appId}/meetings/${mid}`);
    await ready(page, `/apps/${server.appId}/meetings/${mid}`, logs);
    assert.equal(
      await page.locator('#picker input[type=checkbox]').count(),
      3,
      'three connected participants',
    );
    await shot(page, 'meeting-live-desktop');
    await page.check(`#picker input[data-custom-id=ann]`);
    await page.check(`#picker input[data-custom-id=cat]`);
    await page.click('#start-recording');
    // Drawn once at INVOKED, then again by itself at RECORDING: go on from there.
    await page.waitForSelector('#running:has-text("RECORDING")', { timeout: 15_000 });
    await ready(page, `/apps/${server.appId}/meetings/${mid}`, logs);
    const liveId = await page.getAttribute('#running', 'data-recording-id');
    assert.ok(liveId);
    const live = await call<{ data: { id: string; user_ids: string[]; status: string } }>(
      'GET',
      `/recordings/active-recording/${mid}`,
    );
    assert.equal(live.status, 200);
    assert.equal(live.json.data.id, liveId);
    assert.deepEqual([...live.json.data.user_ids].sort(), [userIdOf.get('ann'), userIdOf.get('cat')].sort());
    await shot(page, 'meeting-recording-desktop');

    // Change it while it runs: cat out, ben in.
    await page.uncheck(`#picker input[data-custom-id=cat]`);
    await page.check(`#picker input[data-custom-id=ben]`);
    await page.click('#apply-allowlist');
    await until('the allowlist change', async () => {
      const r = await call<{ data: { user_ids: string[] } }>('GET', `/recordings/${liveId}`);
      return (
        [...r.json.data.user_ids].sort().join() === [userIdOf.get('ann'), userIdOf.get('ben')].sort().join()
      );
    });
    // The page redrawn from the server's answer: ben is now shown as being recorded.
    await page.waitForSelector('#picker li:has(input[data-custom-id=ben]) .rec');
    await ready(page, `/apps/${server.appId}/meetings/${mid}`, logs);
    assert.equal(await page.isChecked('#picker input[data-custom-id=ben]'), true, 'ben shown as recorded');
    assert.equal(
      await page.isChecked('#picker input[data-custom-id=cat]'),
      false,
      'cat shown as not recorded',
    );
    await page.setViewportSize(PHONE);
    await shot(page, 'meeting-recording-phone');
    await page.setViewportSize(DESKTOP);

    // Someone leaves: the page follows by itself (no tick was changed since it was drawn).
    await pubs.get('cat')!.leave();
    pubs.delete('cat');
    await page.waitForSelector('#live h3:has-text("2 connected")', { timeout: 15_000 });
    assert.equal(await page.locator('#picker input[type=checkbox]').count(), 2);

    await page.click('#stop-recording');
    let second: { status: string; manifest_url?: string } = { status: '' };
    await until(
      'the second recording UPLOADED',
      async () => {
        second = (await call<{ data: typeof second }>('GET', `/recordings/${liveId}`)).json.data;
        return second.status === 'UPLOADED';
      },
      30_000,
    );
    await page.waitForSelector('#start-recording');

    // Its page: the allowlist change is a mark on the ruler at its at_ms; the rows line up too.
    const m2 = (await (await fetch(second.manifest_url!)).json()) as Manifest & {
      allowlist_changes: { at_ms: number; added_user_ids: string[]; removed_user_ids: string[] }[];
    };
    assert.equal(m2.allowlist_changes.length, 1);
    await page.evaluate((h) => (location.hash = h), `/apps/${server.appId}/recordings/${liveId}`);
    await ready(page, `/apps/${server.appId}/recordings/${liveId}`, logs);
    await assertRowsLineUp(page, m2, 'allowlist recording');
    const ruler = (await page.locator('.tl-ruler-track').boundingBox())!;
    const markBox = (await page.locator('.tl-ruler-track .tl-mark').boundingBox())!;
    const wantX = ruler.x + (m2.allowlist_changes[0]!.at_ms / axisMs(m2)) * ruler.width;
    assert.ok(Math.abs(markBox.x - wantX) <= ALIGN_TOLERANCE_PX, `mark at ${markBox.x}, want ${wantX}`);
    assert.match((await page.textContent('.tl-ruler-track .tl-mark'))!, /\+ben/);
    assert.equal(
      await page.locator('.tl-track[data-file] .tl-mark').count(),
      m2.files.length,
      'the mark crosses every row',
    );
    await shot(page, 'recording-allowlist-desktop');
  } finally {
    await Promise.all([...pubs.values()].map((p) => p.leave()));
  }
});

test('dashboard: a file whose sender sent no RTP levels gets an envelope decoded in the browser', async () => {
  const call = api(server);
  const mid = (await call<{ data: { id: string } }>('POST', '/meetings', { title: 'no levels' })).json.data
    .id;
  const tok = (
    await call<{ data: { token: string } }>('POST', `/meetings/${mid}/participants`, {
      custom_participant_id: 'dan',
      preset_name: 'group_call_host',
    })
  ).json.data.token;
  // No audio-level extension offered: the recorder has nothing to make an envelope from.
  const pub = await OpusPublisher.connect(`${server.wsUrl}?authToken=${tok}`);
  try {
    await pub.join();
    await pub.publish();
    const recId = (
      await call<{ data: { recording: { id: string } } }>('POST', '/recordings/track', { meeting_id: mid })
    ).json.data.recording.id;
    // 2 s: 500 ms silence, 1000 ms of a 440 Hz tone, 500 ms silence (digital silence frames).
    const tone = sineOpusPackets({ dir: work, frequency: 440, seconds: 2, channels: 1 });
    await new Promise<void>((done) =>
      pub.play(tone, (i) => i >= 100, {
        payload: (i) => (i >= 25 && i < 75 ? undefined : SILENCE),
        onSent: (i) => i === 99 && done(),
      }),
    );
    pub.stopPlaying();
    assert.equal((await call('PUT', `/recordings/${recId}`, { action: 'stop' })).status, 200);
    let rec: { status: string; manifest_url?: string } = { status: '' };
    await until('UPLOADED', async () => {
      rec = (await call<{ data: typeof rec }>('GET', `/recordings/${recId}`)).json.data;
      return rec.status === 'UPLOADED';
    });
    const m = (await (await fetch(rec.manifest_url!)).json()) as {
      files: { level_envelope: unknown; levels_missing_reason: string; start_offset_ms: number }[];
    };
    assert.equal(m.files[0]?.level_envelope, null);
    assert.equal(m.files[0]?.levels_missing_reason, 'not_negotiated');
    const firstAudioMs = m.files[0]!.start_offset_ms;

    browser ??= await launchChromium();
    const page = await browser.newPage({ viewport: DESKTOP });
    const logs: string[] = [];
    page.on('pageerror', (e) => logs.push(`[pageerror] ${e.message}`));
    await page.goto(`${server.baseUrl}/dashboard`);
    await page.fill('#token', server.token);
    await page.click('#login button[type=submit]');
    await ready(page, '/', logs);
    await page.evaluate((h) => (location.hash = h), `/apps/${server.appId}/recordings/${recId}`);
    await ready(page, `/apps/${server.appId}/recordings/${recId}`, logs);
    await page.waitForSelector('.tl-envelope-decoded', { timeout: 15_000 });
    assert.match((await page.textContent('.tl-nolevels'))!, /envelope decoded from the audio/);
    const values = (await page.getAttribute('.tl-envelope-decoded', 'data-values'))!.split(',').map(Number);
    // The tone's bins: loud, about 1000 ms of them, 500 ms after the first audio; quiet around it.
    const loud = values.flatMap((v, i) => (v > -30 ? [i] : []));
    const startMs = (loud[0] ?? NaN) * 100;
    console.log(
      `decoded envelope: ${values.length} bins, loud ${loud.length} from ${startMs} ms (first audio at ${firstAudioMs} ms), peak ${Math.max(...values)} dB`,
    );
    assert.ok(loud.length >= 9 && loud.length <= 11, `loud bins ${loud.length}: ${values.join(' ')}`);
    assert.ok(Math.abs(startMs - (firstAudioMs + 500)) <= 150, `tone at ${startMs} ms`);
    assert.equal(loud.at(-1)! - loud[0]! + 1, loud.length, 'one loud stretch');
    for (const [i, v] of values.entries())
      if (i < loud[0]! - 1 || i > loud.at(-1)! + 1) assert.ok(v < -50, `bin ${i}: ${v} dB outside the tone`);
    assert.equal(await page.locator('.tl-speaking').count(), 0, 'no speaking interval is invented');
    await shot(page, 'recording-decoded-levels-desktop');
    assert.deepEqual(logs, []);
  } finally {
    await pub.leave();
  }
});
