/**
 * Live allowlist changes end to end over real WebRTC (werift publishers through the server's
 * signalling): three participants with distinct tones, a track recording of alice and bob, then
 * PATCH removes bob and adds carol mid-recording. Bob's file ends at the PATCH instant with his tone
 * up to it; carol's file is silence from t0 and her tone from the PATCH instant; manifest, webhook,
 * the PATCH answer and the participants' `recordingUpdate` agree. Runs with MEDIA_WORKERS=1 or =2
 * (the environment's; scripts/run-tests.mjs --both-modes runs both).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { decodeMono, ffprobe, sineOpusPackets } from '@trackroom/recorder/testing';
import { OpusPublisher } from './support/opus-publisher.js';
import { api, startServer, type ServerProcess } from './support/server-process.js';
import { rms, strongest } from './support/tone.js';
import { until } from './support/until.js';
import { startWebhookReceiver, type WebhookReceiver } from './support/webhook-receiver.js';

const TONES = { alice: 440, bob: 660, carol: 880 } as const;
/** The suite's tolerances (track-recording.e2e.test.ts). */
const DURATION_TOLERANCE_MS = 40;
const ALIGN_TOLERANCE_MS = 60;
/** 20 ms windows louder than this hold tone; silence decodes to ~0. */
const TONE_RMS = 300;

let server: ServerProcess;
let hooks: WebhookReceiver;
const work = mkdtempSync(join(tmpdir(), 'track-allowlist-'));

before(async () => {
  hooks = await startWebhookReceiver();
  server = await startServer();
  const wh = await api(server)('POST', '/webhooks', {
    name: 'rec',
    url: hooks.url,
    events: ['recording.statusUpdate'],
  });
  assert.equal(wh.status, 201);
});
after(async () => {
  await server?.stop();
  await hooks?.close();
});

const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** First and last 20 ms window (ms from the file start) that holds tone. */
function toneSpan(samples: Int16Array): { from: number; to: number } | undefined {
  let from: number | undefined;
  let to: number | undefined;
  for (let ms = 0; ms + 20 <= (samples.length / 48000) * 1000; ms += 10) {
    if (rms(samples, ms / 1000, (ms + 20) / 1000) > TONE_RMS) {
      from ??= ms;
      to = ms + 20;
    }
  }
  return from === undefined || to === undefined ? undefined : { from, to };
}

interface Change {
  at_ms: number;
  at: string;
  added_user_ids: string[];
  removed_user_ids: string[];
  user_ids: string[];
  by: { type: string };
  files_closed: string[];
  files_opened: string[];
}

test('PATCH mid-recording: bob’s file ends at the instant, carol’s starts there; all sides agree', async () => {
  const call = api(server);
  const mid = (await call<{ data: { id: string } }>('POST', '/meetings', { title: 'allowlist e2e' })).json
    .data.id;
  const people: Record<string, { id: string; token: string }> = {};
  for (const name of Object.keys(TONES)) {
    const r = await call<{ data: { id: string; token: string } }>('POST', `/meetings/${mid}/participants`, {
      custom_participant_id: name,
      preset_name: 'group_call_host',
      name,
    });
    assert.equal(r.status, 201);
    people[name] = r.json.data;
  }
  const enter = async (name: keyof typeof TONES) => {
    const p = await OpusPublisher.connect(`${server.wsUrl}?authToken=${people[name]!.token}`);
    await p.join();
    await p.publish();
    p.play(sineOpusPackets({ dir: work, frequency: TONES[name], seconds: 8, channels: 1 }));
    return p;
  };
  const alice = await enter('alice');
  const bob = await enter('bob');
  const carol = await enter('carol');

  const started = await call<{ data: { recording: { id: string } } }>('POST', '/recordings/track', {
    meeting_id: mid,
    user_ids: ['alice', 'bob'],
  });
  assert.equal(started.status, 200, JSON.stringify(started.json));
  const recId = started.json.data.recording.id;
  const capturedBy = (p: OpusPublisher, who: string, want: boolean, from: number) =>
    p.waitFor(
      'recordingUpdate',
      (m) =>
        p.messages.indexOf(m) >= from &&
        m.recordings.some(
          (r) =>
            r.id === recId && r.status === 'RECORDING' && r.recordedParticipantIds.includes(who) === want,
        ),
    );
  await capturedBy(bob, people.bob!.id, true, 0);
  await wait(2000);

  const markBob = bob.messages.length;
  const markCarol = carol.messages.length;
  const bad = await call('PATCH', `/recordings/${recId}`, {
    add_user_ids: ['carol'],
    remove_user_ids: ['carol'],
  });
  assert.equal(bad.status, 400);
  const patched = await call<{ data: { user_ids: string[]; status: string; allowlist_changes: Change[] } }>(
    'PATCH',
    `/recordings/${recId}`,
    { add_user_ids: ['carol'], remove_user_ids: ['bob'] },
  );
  assert.equal(patched.status, 200, JSON.stringify(patched.json));
  assert.deepEqual(patched.json.data.user_ids, ['alice', 'carol']);
  assert.equal(patched.json.data.status, 'RECORDING');
  const change = patched.json.data.allowlist_changes[0]!;
  assert.deepEqual(change.by, { type: 'api_token' });
  assert.deepEqual(change.removed_user_ids, ['bob']);
  assert.deepEqual(change.added_user_ids, ['carol']);
  assert.equal(change.files_closed.length, 1);
  assert.equal(change.files_opened.length, 1);

  // The participants are told: bob is no longer recorded, carol is.
  await capturedBy(bob, people.bob!.id, false, markBob);
  await capturedBy(carol, people.carol!.id, true, markCarol);
  const hook = await hooks.waitFor((d) => (d.body.allowlistChange as Change | undefined)?.at === change.at);
  assert.deepEqual(hook.body.allowlistChange, change, 'the webhook carries the change');

  await wait(2000);
  const stop = await call('PUT', `/recordings/${recId}`, { action: 'stop' });
  assert.equal(stop.status, 200);
  let final: Record<string, unknown> = {};
  await until('UPLOADED', async () => {
    final = (await call<{ data: Record<string, unknown> }>('GET', `/recordings/${recId}`)).json.data;
    return final.status === 'UPLOADED';
  });
  await Promise.all([alice.leave(), bob.leave(), carol.leave()]);
  assert.deepEqual(final.user_ids, ['alice', 'carol'], 'GET shows the allowlist now');
  assert.deepEqual(final.allowlist_changes, [change]);

  const urls = (final.download_url as { download_urls: Record<string, { download_url: string }> }[])[0]!
    .download_urls;
  const manifest = (await (await fetch(urls['manifest.json']!.download_url)).json()) as {
    allowlist_changes: Change[];
    requested_user_ids: { user_id: string; status: string }[];
    files: { file_name: string; custom_participant_id: string; duration_ms: number; file_end_ms: number }[];
  };
  assert.deepEqual(manifest.allowlist_changes, [change], 'manifest and API agree');
  assert.deepEqual(
    manifest.requested_user_ids.map((u) => [u.user_id, u.status]),
    [
      ['alice', 'recorded'],
      ['bob', 'recorded'],
      ['carol', 'recorded'],
    ],
  );
  assert.equal(manifest.files.length, 3);
  const at = change.at_ms;
  const decoded: Record<string, { samples: Int16Array; entry: (typeof manifest.files)[number] }> = {};
  for (const entry of manifest.files) {
    const path = join(work, entry.file_name);
    writeFileSync(path, Buffer.from(await (await fetch(urls[entry.file_name]!.download_url)).arrayBuffer()));
    const probe = ffprobe(path);
    assert.equal(probe.codecName, 'opus');
    assert.ok(
      Math.abs(probe.durationSec * 1000 - entry.duration_ms) <= DURATION_TOLERANCE_MS,
      `${entry.file_name}: ffprobe ${probe.durationSec}s vs manifest ${entry.duration_ms}ms`,
    );
    const { samples, status, stderr } = decodeMono(path);
    assert.equal(status, 0, stderr);
    decoded[entry.custom_participant_id] = { samples, entry };
  }

  // Bob: his tone up to the PATCH instant, and the file ends there: nothing follows.
  const b = decoded.bob!;
  assert.deepEqual(change.files_closed, [b.entry.file_name]);
  assert.ok(
    Math.abs(b.entry.file_end_ms - at) <= DURATION_TOLERANCE_MS,
    `bob ends ${b.entry.file_end_ms} vs ${at}`,
  );
  assert.ok(b.samples.length / 48 <= at + DURATION_TOLERANCE_MS, 'no decoded audio of bob past the change');
  const bSpan = toneSpan(b.samples)!;
  assert.equal(strongest(b.samples, (at - 1000) / 1000, (at - 200) / 1000, [440, 660, 880]), 660);
  assert.ok(Math.abs(bSpan.to - at) <= ALIGN_TOLERANCE_MS, `bob's tone stops at ${bSpan.to} vs PATCH ${at}`);

  // Carol: silence from t0, her tone from the PATCH instant.
  const c = decoded.carol!;
  assert.deepEqual(change.files_opened, [c.entry.file_name]);
  const cSpan = toneSpan(c.samples)!;
  assert.ok(
    Math.abs(cSpan.from - at) <= ALIGN_TOLERANCE_MS,
    `carol's tone starts at ${cSpan.from} vs PATCH ${at}`,
  );
  assert.ok(rms(c.samples, 0, (at - ALIGN_TOLERANCE_MS) / 1000) < 50, 'carol is silence before the change');
  assert.equal(strongest(c.samples, (at + 300) / 1000, (at + 1500) / 1000, [440, 660, 880]), 880);

  // Alice: recorded throughout, her own tone on both sides of the change.
  const a = decoded.alice!;
  assert.equal(strongest(a.samples, (at - 1000) / 1000, (at - 200) / 1000, [440, 660, 880]), 440);
  assert.equal(strongest(a.samples, (at + 300) / 1000, (at + 1500) / 1000, [440, 660, 880]), 440);
  console.log(
    `# allowlist e2e: PATCH at ${at} ms; bob tone ends ${bSpan.to} ms (file ${b.entry.file_end_ms}); ` +
      `carol tone starts ${cSpan.from} ms; MEDIA_WORKERS=${process.env.MEDIA_WORKERS ?? '(default)'}`,
  );
});
