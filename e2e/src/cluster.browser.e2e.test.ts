/**
 * Two nodes sharing PostgreSQL and Redis, two Chromium participants of one meeting opening the join
 * page on different nodes: the SDK follows the redirect, both meet on the hosting node and hear
 * each other's tone.
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import type { Browser } from 'playwright-core';
import type { ParticipantAnalysis } from '@trackroom/web';
import { closeBrowser, launchChromium, openPage, waitInPage, writeSineWav } from './browser.js';
import { startTestCluster, type TestCluster } from './support/cluster.js';
import { api } from './support/server-process.js';

let cluster: TestCluster | undefined;
const browsers: Browser[] = [];
after(async () => {
  for (const b of browsers) await closeBrowser(b);
  await cluster?.stop();
});

test('join pages opened on different nodes meet on one node and hear each other', async (t) => {
  cluster = await startTestCluster({ heartbeatMs: 500, deadAfterMs: 5000 });
  const a = await cluster.startNode('node-a');
  const b = await cluster.startNode('node-b');
  const meeting = (await api(a)<{ data: { id: string } }>('POST', '/meetings', { title: 'two nodes' })).json
    .data;
  const add = async (via: typeof a, cid: string) =>
    (
      await api(via)<{ data: { id: string; token: string } }>(
        'POST',
        `/meetings/${meeting.id}/participants`,
        {
          custom_participant_id: cid,
          preset_name: 'group_call_host',
          name: cid.toUpperCase(),
        },
      )
    ).json.data;
  const ann = await add(a, 'ann');
  const ben = await add(b, 'ben');
  const wavDir = mkdtempSync(join(tmpdir(), 'trackroom-cluster-join-'));

  const open = async (baseUrl: string, token: string, hz: number) => {
    const browser = await launchChromium({ audioWav: writeSineWav(hz, { dir: wavDir, seconds: 20 }) });
    browsers.push(browser);
    const { page, logs } = await openPage(browser, `${baseUrl}/join?authToken=${token}&processing=0`);
    const joinMs = await waitInPage(
      page,
      () => (window.__trackroom?.state === 'joined' ? window.__trackroom.joinMs : undefined),
      undefined,
      { what: 'joined', logs },
    );
    return { page, logs, joinMs };
  };
  const pa = await open(a.baseUrl, ann.token, 440);
  const pb = await open(b.baseUrl, ben.token, 660);
  t.diagnostic(`join time: ann on node-a ${pa.joinMs} ms, ben on node-b ${pb.joinMs} ms`);

  const hears = (c: typeof pa, uid: string, hz: number) =>
    waitInPage(
      c.page,
      ([u, f]) =>
        Object.values(window.__trackroom.analysis()).find(
          (x: ParticipantAnalysis) => x.userId === u && x.rms > 0.01 && Math.abs(x.dominantHz - f) <= 15,
        ),
      [uid, hz] as const,
      { what: `hearing ${uid} at ${hz} Hz`, logs: c.logs },
    );
  const [ab, ba] = await Promise.all([hears(pa, ben.id, 660), hears(pb, ann.id, 440)]);
  t.diagnostic(
    `ann hears ben at ${ab.dominantHz.toFixed(1)} Hz, ben hears ann at ${ba.dominantHz.toFixed(1)} Hz`,
  );
  assert.equal(ab.name, 'BEN');
  assert.equal(ba.name, 'ANN');

  // Both peers are on one node's media plane; the other node hosts nobody.
  const peers = async (s: typeof a) => {
    const r = await fetch(`${s.baseUrl}/v1/stats`, { headers: { authorization: `Bearer ${s.token}` } });
    return ((await r.json()) as { data: { media: { media_peers: number } } }).data.media.media_peers;
  };
  const counts = [await peers(a), await peers(b)].sort();
  assert.deepEqual(counts, [0, 2], 'one node hosts both participants');
});
