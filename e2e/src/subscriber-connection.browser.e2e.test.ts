/**
 * One subscribing connection in Chromium (issue 14, item 5): three pages join a meeting through the
 * server's join page, each with its own tone; every page hears the two others and has exactly two
 * RTCPeerConnections (publish + subscribe). Then one leaves and a fourth joins: the pages already
 * there renegotiate their one subscribing connection (the freed m-line goes inactive, then carries
 * the newcomer), hear the newcomer, and still have two connections open.
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import type { ParticipantAnalysis } from '@trackroom/web';
import { closeBrowser, launchChromium, openPage, waitInPage, writeSineWav } from './browser.js';
import { api, startServer } from './support/server-process.js';
import type { ServerProcess } from './support/server-process.js';

/** Records every RTCPeerConnection the page makes. A string: it runs in the page as written. */
const RECORD_PCS = `(() => {
  const Native = window.RTCPeerConnection;
  const all = [];
  window.__pcs = all;
  function Recording(config) {
    const pc = new Native(config);
    all.push(pc);
    return pc;
  }
  Recording.prototype = Native.prototype;
  window.RTCPeerConnection = Recording;
})();`;

interface Opened {
  name: string;
  browser: Browser;
  page: Page;
  logs: string[];
}

let server: ServerProcess | undefined;
const browsers: Browser[] = [];
after(async () => {
  for (const b of browsers) await closeBrowser(b);
  await server?.stop();
});

/** The page's peer connections: how many it created, and how many are not closed. */
function pcCounts(o: Opened): Promise<{
  created: number;
  open: number;
  transceivers: number[];
  sdpBytes: number[];
  sentBytes: number[];
}> {
  return o.page.evaluate(() => {
    const pcs = (window as unknown as { __pcs: RTCPeerConnection[] }).__pcs;
    return {
      created: pcs.length,
      open: pcs.filter((pc) => pc.connectionState !== 'closed').length,
      transceivers: pcs.map((pc) => pc.getTransceivers().length),
      sdpBytes: pcs.map((pc) => pc.localDescription?.sdp.length ?? 0),
      // What the SDK sends of it (compactSubscriberOffer: no header extensions).
      sentBytes: pcs.map(
        (pc) =>
          (pc.localDescription?.sdp ?? '')
            .split('\r\n')
            .filter((l) => !l.startsWith('a=extmap:') && l !== 'a=extmap-allow-mixed')
            .join('\r\n').length,
      ),
    };
  });
}

test('a page has two peer connections and hears everyone; a leave and a join renegotiate the one subscriber', async (t) => {
  server = await startServer();
  const call = api(server);
  const meeting = (await call<{ data: { id: string } }>('POST', '/meetings', { title: 'one pc' })).json.data;
  const add = async (cid: string) =>
    (
      await call<{ data: { id: string; token: string } }>('POST', `/meetings/${meeting.id}/participants`, {
        custom_participant_id: cid,
        preset_name: 'group_call_host',
        name: cid,
      })
    ).json.data;
  const wavDir = mkdtempSync(join(tmpdir(), 'trackroom-onepc-'));
  const open = async (name: string, token: string, hz: number): Promise<Opened> => {
    const browser = await launchChromium({ audioWav: writeSineWav(hz, { dir: wavDir, seconds: 30 }) });
    browsers.push(browser);
    const { page, logs } = await openPage(
      browser,
      `${server!.baseUrl}/join?authToken=${token}&processing=0`,
      RECORD_PCS,
    );
    await waitInPage(page, () => window.__trackroom?.state === 'joined', undefined, {
      what: `${name} joined`,
      logs,
    });
    return { name, browser, page, logs };
  };
  const hears = (c: Opened, uid: string, hz: number) =>
    waitInPage(
      c.page,
      ([u, f]) =>
        Object.values(window.__trackroom.analysis()).find(
          (x: ParticipantAnalysis) => x.userId === u && x.rms > 0.01 && Math.abs(x.dominantHz - f) <= 15,
        ),
      [uid, hz] as const,
      { what: `${c.name} hearing ${uid} at ${hz} Hz`, logs: c.logs, timeoutMs: 30_000 },
    );

  const people = [
    { ...(await add('ann')), hz: 440 },
    { ...(await add('ben')), hz: 660 },
    { ...(await add('cat')), hz: 880 },
  ];
  const pages: Opened[] = [];
  for (const [i, p] of people.entries()) pages.push(await open(['ann', 'ben', 'cat'][i]!, p.token, p.hz));
  for (const [i, page] of pages.entries()) {
    for (const [j, other] of people.entries()) {
      if (i === j) continue;
      const heard = await hears(page, other.id, other.hz);
      t.diagnostic(`${page.name} hears ${other.id} at ${heard.dominantHz.toFixed(1)} Hz`);
    }
    const n = await pcCounts(page);
    assert.equal(n.created, 2, `${page.name} created two peer connections (publish + subscribe)`);
    t.diagnostic(
      `${page.name}: subscribing connection's local offer ${n.sdpBytes[1]} bytes (${n.sentBytes[1]} sent) for ${n.transceivers[1]} m-lines`,
    );
    assert.equal(n.open, 2);
    // The join page publishes an audio and a (trackless until the camera is on) video m-line.
    assert.equal(
      n.transceivers[1],
      4,
      'the subscribing connection holds audio + video per other participant',
    );
  }

  // cat leaves, dan joins: ann and ben reuse cat's m-line for dan.
  await pages[2]!.page.click('#leave');
  for (const page of pages.slice(0, 2))
    await waitInPage(
      page.page,
      (u) => !Object.values(window.__trackroom.analysis()).some((x) => x.userId === u),
      people[2]!.id,
      { what: `${page.name}: cat gone`, logs: page.logs },
    );
  const dan = { ...(await add('dan')), hz: 550 };
  const danPage = await open('dan', dan.token, dan.hz);
  for (const page of pages.slice(0, 2)) {
    const heard = await hears(page, dan.id, dan.hz);
    t.diagnostic(`${page.name} hears dan at ${heard.dominantHz.toFixed(1)} Hz (reused m-line)`);
    const n = await pcCounts(page);
    assert.equal(n.created, 2, `${page.name} still made only two peer connections`);
    assert.equal(n.open, 2);
    assert.equal(n.transceivers[1], 4, 'the freed m-lines were reused, none added');
  }
  await hears(danPage, people[0]!.id, people[0]!.hz);
  await hears(danPage, people[1]!.id, people[1]!.hz);
  assert.equal((await pcCounts(danPage)).created, 2);
});
