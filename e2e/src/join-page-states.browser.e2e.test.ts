/**
 * The join page explains itself, in real Chromium against the real server: a bad link, a blocked
 * microphone, an insecure origin (no `navigator.mediaDevices`), being removed by a host, leaving and
 * rejoining, and "your audio is being recorded" shown on exactly the pages of the participants a track
 * recording selects. Each state is saved as a screenshot under e2e/artifacts/join-page/ (gitignored).
 */
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { closeBrowser, launchChromium, openPage, waitInPage } from './browser.js';
import { api, startServer } from './support/server-process.js';
import type { ServerProcess } from './support/server-process.js';

const ARTIFACTS = new URL('../artifacts/join-page/', import.meta.url).pathname;
/** A host name Chromium resolves to 127.0.0.1 but, not being localhost, does not treat as secure. */
const INSECURE_HOST = 'insecure.test';
const TITLE = 'Design review';

let server: ServerProcess;
let call: ReturnType<typeof api>;
let meetingId: string;
let browser: Browser;
let denying: Browser;

before(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  server = await startServer();
  call = api(server);
  const created = await call<{ data: { id: string } }>('POST', '/meetings', { title: TITLE });
  assert.equal(created.status, 201, JSON.stringify(created.json));
  meetingId = created.json.data.id;
  browser = await launchChromium({ extraArgs: [`--host-resolver-rules=MAP ${INSECURE_HOST} 127.0.0.1`] });
  denying = await launchChromium({ mediaPrompts: 'deny' });
});
after(async () => {
  for (const b of [browser, denying]) await closeBrowser(b);
  await server?.stop();
});

async function addParticipant(cid: string): Promise<{ id: string; token: string }> {
  const res = await call<{ data: { id: string; token: string } }>(
    'POST',
    `/meetings/${meetingId}/participants`,
    {
      custom_participant_id: cid,
      preset_name: 'group_call_host',
      name: cid[0]!.toUpperCase() + cid.slice(1),
    },
  );
  assert.equal(res.status, 201, JSON.stringify(res.json));
  return res.json.data;
}

interface Opened {
  page: Page;
  logs: string[];
}

async function open(b: Browser, path: string, origin = server.baseUrl): Promise<Opened> {
  return openPage(b, `${origin}${path}`);
}

function waitState(o: Opened, state: string, what = state): Promise<unknown> {
  return waitInPage(o.page, (s) => window.__trackroom?.state === s, state, { what, logs: o.logs });
}

async function shot(o: Opened, name: string): Promise<void> {
  await o.page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
}

const text = async (o: Opened, selector: string): Promise<string> =>
  ((await o.page.textContent(selector)) ?? '').trim();
const visible = (o: Opened, selector: string): Promise<boolean> => o.page.isVisible(selector);

/** What the person sees: the page's text, with hidden parts left out. */
const seen = (o: Opened): Promise<string> => o.page.evaluate(() => document.body.innerText);

test('a bad token says the link is not valid and offers no rejoin', async () => {
  const o = await open(browser, '/join?authToken=not-a-token');
  await waitState(o, 'rejected');
  assert.equal(await text(o, '#outside-title'), 'This join link is not valid');
  assert.match(await text(o, '#outside-text'), /ask the meeting organiser for a new one/);
  assert.equal(await visible(o, '#rejoin'), false);
  const all = await seen(o);
  assert.doesNotMatch(all, /In the meeting|Muted|Microphone on/);
  await shot(o, 'bad-token');

  const none = await open(browser, '/join');
  await waitState(none, 'error', 'no-token page');
  assert.equal(await text(none, '#outside-title'), 'This address has no join token');
  await none.page.context().close();
  await o.page.context().close();
});

test('a blocked microphone: in the meeting, listening only, told how to allow it', async () => {
  const dora = await addParticipant('dora');
  const o = await open(denying, `/join?authToken=${dora.token}`);
  await waitState(o, 'joined');
  await waitInPage(o.page, () => !document.getElementById('mic-problem')?.hidden, undefined, {
    what: 'microphone problem panel',
    logs: o.logs,
  });
  assert.equal(
    await o.page.evaluate(() => window.__trackroom.meeting?.self.mediaPermissions.audio),
    'DENIED',
  );
  assert.equal(await text(o, '#mic-problem-title'), 'Your browser blocked the microphone');
  assert.match(await text(o, '#mic-problem-text'), /Allow the microphone for this site/);
  assert.equal(await text(o, '#status'), 'In the meeting, listening only');
  assert.equal(await text(o, '#self-mic'), 'No microphone');
  assert.equal(await text(o, '#mute'), 'Try the microphone again');
  assert.equal(await text(o, '#self-name'), 'Dora (you)');
  assert.doesNotMatch(await seen(o), /\bMuted\b|Microphone on/);
  await shot(o, 'microphone-denied');
  // Trying again is refused again: the page keeps explaining instead of claiming anything.
  await o.page.click('#mute');
  await waitInPage(
    o.page,
    () => document.getElementById('notice')?.textContent?.includes('did not start'),
    undefined,
    {
      what: 'retry refused',
      logs: o.logs,
    },
  );
  assert.equal(await visible(o, '#mic-problem'), true);
  await o.page.context().close();
});

test('an insecure origin: the microphone cannot work, the page says why and still lets you listen', async () => {
  const eve = await addParticipant('eve');
  const o = await open(browser, `/join?authToken=${eve.token}`, `http://${INSECURE_HOST}:${server.port}`);
  await waitState(o, 'joined');
  const ctx = await o.page.evaluate(() => ({
    secure: window.isSecureContext,
    mediaDevices: typeof navigator.mediaDevices,
    permission: window.__trackroom.meeting?.self.mediaPermissions.audio,
  }));
  assert.deepEqual(ctx, { secure: false, mediaDevices: 'undefined', permission: 'UNAVAILABLE' });
  assert.equal(await text(o, '#mic-problem-title'), 'Your microphone cannot work on this page');
  assert.match(await text(o, '#mic-problem-text'), /https:\/\/.*localhost/);
  assert.equal(await text(o, '#status'), 'In the meeting, listening only');
  assert.equal(await o.page.isDisabled('#mute'), true);
  assert.equal(await text(o, '#mute'), 'Microphone unavailable');
  assert.doesNotMatch(await seen(o), /\bMuted\b|Microphone on/);
  await shot(o, 'insecure-origin');
  await o.page.context().close();
});

test('recording consent, removal by a host, leaving and rejoining', async (t) => {
  const ann = await addParticipant('ann');
  const ben = await addParticipant('ben');
  const cy = await addParticipant('cy');
  const a = await open(browser, `/join?authToken=${ann.token}`);
  const b = await open(browser, `/join?authToken=${ben.token}`);
  await Promise.all([waitState(a, 'joined', 'ann joined'), waitState(b, 'joined', 'ben joined')]);
  const rowOf = (o: Opened, userId: string) =>
    waitInPage(
      o.page,
      (u) => document.querySelector(`#participants li[data-user-id="${u}"]`) !== null,
      userId,
      {
        what: `row of ${userId}`,
        logs: o.logs,
      },
    );
  await Promise.all([rowOf(a, ben.id), rowOf(b, ann.id)]);
  assert.equal(await text(a, '#title'), TITLE);
  assert.equal(await a.page.title(), TITLE);
  assert.equal(await text(a, '#self-name'), 'Ann (you)');
  assert.equal(await text(a, '#self-mic'), 'Microphone on');
  assert.equal(await text(a, '#consent'), 'Nobody is being recorded.');
  // No emoji: state icons are inline SVG.
  assert.doesNotMatch(await seen(a), /\p{Extended_Pictographic}/u);
  assert.ok((await a.page.locator('#self-mic svg').count()) === 1);

  /** Waits until a page's own consent line and its row of `other` show the expected recorded state. */
  const consent = (o: Opened, self: boolean, otherId: string, other: boolean, what: string) =>
    waitInPage(
      o.page,
      ([s, id, r]) => {
        const line = document.getElementById('consent');
        const row = document.querySelector<HTMLElement>(`#participants li[data-user-id="${id}"]`);
        return line?.dataset.recorded === String(s) && row?.dataset.recorded === String(r)
          ? line.textContent
          : undefined;
      },
      [self, otherId, other] as const,
      { what, logs: o.logs },
    );

  await t.test('a track recording selecting ann shows on ann as recorded and on ben as not', async () => {
    const started = await call<{ data: { recording: { id: string } } }>('POST', '/recordings/track', {
      meeting_id: meetingId,
      // cy (by custom id) is selected but not there yet.
      user_ids: [ann.id, 'cy'],
    });
    assert.equal(started.status, 200, JSON.stringify(started.json));
    const recId = started.json.data.recording.id;
    const [aLine, bLine] = await Promise.all([
      consent(a, true, ben.id, false, 'ann recorded, ben not (on ann)'),
      consent(b, false, ann.id, true, 'ben not recorded, ann recorded (on ben)'),
    ]);
    assert.equal(aLine?.trim(), 'Your audio is being recorded.');
    assert.match(bLine ?? '', /Your audio is not being recorded/);
    assert.match(await text(b, `#participants li[data-user-id="${ann.id}"] .rec`), /being recorded/);
    assert.equal(await visible(a, `#participants li[data-user-id="${ben.id}"] .rec`), false);
    await shot(a, 'recording-selected');
    await shot(b, 'recording-not-selected');

    // A selected participant joining during the recording sees it at once, and the others see it too.
    const c = await open(browser, `/join?authToken=${cy.token}`);
    await waitState(c, 'joined', 'cy joined');
    await consent(c, true, ann.id, true, 'cy recorded on joining (on cy)');
    await consent(b, false, cy.id, true, 'cy recorded (on ben)');
    await consent(a, true, cy.id, true, 'cy recorded (on ann)');
    await c.page.context().close();
    await waitInPage(
      b.page,
      (u) => document.querySelector(`#participants li[data-user-id="${u}"]`) === null,
      cy.id,
      {
        what: 'cy gone from ben',
        logs: b.logs,
      },
    );

    const put = async (action: string) => {
      const res = await call('PUT', `/recordings/${recId}`, { action });
      assert.equal(res.status, 200, `${action}: ${JSON.stringify(res.json)}`);
    };
    await put('pause');
    const paused = await consent(a, false, ben.id, false, 'paused: ann not recorded right now');
    assert.match(paused ?? '', /paused/);
    await consent(b, false, ann.id, false, 'paused: ben sees ann not recorded');
    await shot(a, 'recording-paused');
    await put('resume');
    await consent(a, true, ben.id, false, 'resumed');

    // A live allowlist change (PATCH, an extension): ann removed, ben added; both pages follow.
    const patched = await call('PATCH', `/recordings/${recId}`, {
      add_user_ids: [ben.id],
      remove_user_ids: [ann.id],
    });
    assert.equal(patched.status, 200, JSON.stringify(patched.json));
    const [aOut, bIn] = await Promise.all([
      consent(a, false, ben.id, true, 'after PATCH: ann no longer recorded, ben recorded (on ann)'),
      consent(b, true, ann.id, false, 'after PATCH: ben recorded, ann no longer (on ben)'),
    ]);
    assert.match(aOut ?? '', /Your audio is not being recorded/);
    assert.equal(bIn?.trim(), 'Your audio is being recorded.');
    await shot(a, 'recording-allowlist-removed');
    await shot(b, 'recording-allowlist-added');
    await put('stop');
    const [aStop, bStop] = await Promise.all([
      consent(a, false, ben.id, false, 'stopped (ann)'),
      consent(b, false, ann.id, false, 'stopped (ben)'),
    ]);
    assert.match(aStop ?? '', /Nobody is being recorded|not being recorded/);
    assert.match(bStop ?? '', /Nobody is being recorded|not being recorded/);
  });

  await t.test('kicked through the REST API: the page says so and Rejoin works', async () => {
    const kick = await call('POST', `/meetings/${meetingId}/active-session/kick`, {
      participant_ids: [ben.id],
    });
    assert.equal(kick.status, 200, JSON.stringify(kick.json));
    await waitState(b, 'kicked');
    assert.equal(await text(b, '#outside-title'), 'A host removed you from the meeting');
    assert.equal(await visible(b, '#rejoin'), true);
    assert.equal(await visible(b, '#room'), false);
    assert.doesNotMatch(await seen(b), /In the meeting/);
    await shot(b, 'kicked');
    await b.page.click('#rejoin');
    await waitInPage(
      b.page,
      () => window.__trackroom.state === 'joined' && window.__trackroom.joins === 2,
      undefined,
      {
        what: 'ben rejoined after the kick',
        logs: b.logs,
      },
    );
    await rowOf(a, ben.id);
    assert.equal(await visible(b, '#outside'), false);
  });

  await t.test('leave, then Rejoin', async () => {
    await a.page.click('#leave');
    await waitState(a, 'left');
    assert.equal(await text(a, '#outside-title'), 'You left the meeting');
    assert.equal(await visible(a, '#rejoin'), true);
    await waitInPage(
      b.page,
      (u) => document.querySelector(`#participants li[data-user-id="${u}"]`) === null,
      ann.id,
      { what: 'ann gone from ben', logs: b.logs },
    );
    await shot(a, 'left');
    await a.page.click('#rejoin');
    await waitInPage(
      a.page,
      () => window.__trackroom.state === 'joined' && window.__trackroom.joins === 2,
      undefined,
      {
        what: 'ann rejoined',
        logs: a.logs,
      },
    );
    await rowOf(b, ann.id);
    assert.equal(await text(a, '#self-mic'), 'Microphone on');
    await shot(a, 'rejoined');
  });
});
