/**
 * Track recording end to end over real WebRTC (werift publishers through the server's signalling):
 * three participants with different tones; two recorded (one by custom_participant_id, one by
 * participant id); one mutes, one leaves and rejoins. Files are checked with ffprobe and decoded
 * with ffmpeg; API, webhooks-free manifest and files must agree.
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

const TONES = { alice: 440, bob: 660, carol: 880 } as const;
const DURATION_TOLERANCE_MS = 40;
const ALIGN_TOLERANCE_MS = 60;

let server: ServerProcess;
const work = mkdtempSync(join(tmpdir(), 'track-rec-'));

before(async () => {
  server = await startServer();
});
after(async () => {
  await server?.stop();
});

const until = async (what: string, fn: () => Promise<boolean>, timeoutMs = 15_000) => {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await fn()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
};
const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('records the selected participants into aligned, seekable per-peer WebM files', async () => {
  const call = api(server);
  const meeting = await call<{ data: { id: string } }>('POST', '/meetings', { title: 'track e2e' });
  assert.equal(meeting.status, 201);
  const mid = meeting.json.data.id;
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
  const packets = Object.fromEntries(
    Object.entries(TONES).map(([n, f]) => [
      n,
      sineOpusPackets({ dir: work, frequency: f, seconds: 4, channels: 1 }),
    ]),
  );

  // No live session yet: a clear 4xx.
  const early = await call('POST', '/recordings/track', { meeting_id: mid });
  assert.equal(early.status, 404);

  const enter = async (name: keyof typeof TONES) => {
    const p = await OpusPublisher.connect(`${server.wsUrl}?authToken=${people[name]!.token}`);
    await p.join();
    await p.publish();
    p.play(packets[name] as Uint8Array[]);
    return p;
  };
  const alice = await enter('alice');
  const bob = await enter('bob');
  const carol = await enter('carol');
  await wait(500);

  const started = await call<{
    data: {
      recording: {
        id: string;
        status: string;
        type: string;
        user_matches: { user_id: string; matched: string; participant_id: string | null }[];
      };
    };
  }>('POST', '/recordings/track', {
    meeting_id: mid,
    user_ids: ['alice', people.bob!.id, 'zed-typo'],
  });
  assert.equal(started.status, 200, JSON.stringify(started.json));
  const rec = started.json.data.recording;
  assert.deepEqual(
    rec.user_matches,
    [
      { user_id: 'alice', matched: 'present', participant_id: people.alice!.id },
      { user_id: people.bob!.id, matched: 'present', participant_id: people.bob!.id },
      { user_id: 'zed-typo', matched: 'unknown', participant_id: null },
    ],
    'the answer says what each requested id matched',
  );
  assert.equal(rec.status, 'INVOKED');
  assert.equal(rec.type, 'TRACK');
  const t0 = Date.now();

  const second = await call('POST', '/recordings/track', { meeting_id: mid });
  assert.equal(second.status, 409, 'a second track recording on the same meeting is refused');

  await wait(1500);
  bob.setAudioEnabled(false);
  const muteAt = Date.now() - t0;
  await wait(1500);
  bob.setAudioEnabled(true);
  const unmuteAt = Date.now() - t0;
  await alice.leave();
  const aliceLeftAt = Date.now() - t0;
  await wait(700);
  const alice2 = await enter('alice');
  await wait(1500);

  const stop = await call<{ data: { status: string } }>('PUT', `/recordings/${rec.id}`, { action: 'stop' });
  assert.equal(stop.status, 200);
  const stopAt = Date.now() - t0;
  let final: Record<string, unknown> = {};
  await until('UPLOADED', async () => {
    final = (await call<{ data: Record<string, unknown> }>('GET', `/recordings/${rec.id}`)).json.data;
    return final.status === 'UPLOADED';
  });
  await Promise.all([alice2.leave(), bob.leave(), carol.leave()]);

  const layers = final.download_url as {
    layer_name: string;
    download_urls: Record<string, { download_url: string }>;
  }[];
  assert.equal(layers.length, 1);
  assert.equal(layers[0]!.layer_name, 'default');
  const files = Object.entries(layers[0]!.download_urls);
  const webms = files.filter(([n]) => n.endsWith('.webm'));
  assert.equal(
    webms.length,
    3,
    `alice twice (rejoin = new peer), bob once, carol never: ${files.map(([n]) => n).join(', ')}`,
  );
  assert.ok(!webms.some(([n]) => n.includes(people.carol!.id)), 'carol is not recorded');
  for (const [n] of webms) assert.match(n, /^default_[0-9a-f-]{36}_[0-9a-f-]{36}_peer_audio_\d{13}\.webm$/);

  // Manifest, fetched with its signed link and no admin token.
  const manifestUrl = layers[0]!.download_urls['manifest.json']!.download_url;
  const manifest = (await (await fetch(manifestUrl)).json()) as {
    requested_user_ids: { user_id: string; status: string; files: string[] }[];
    t0_ms: number;
    files: {
      file_name: string;
      participant_id: string;
      custom_participant_id: string;
      duration_ms: number;
      sha256: string;
      intervals: { muted: { from_ms: number; to_ms: number }[] };
    }[];
  };
  assert.equal(manifest.files.length, 3);
  assert.ok(Math.abs(manifest.t0_ms - t0) < 500, 't0 is the instant the recording started');
  assert.deepEqual(
    manifest.requested_user_ids.map((u) => [u.user_id, u.status, u.files.length]),
    [
      ['alice', 'recorded', 2],
      [people.bob!.id, 'recorded', 1],
      ['zed-typo', 'never_present', 0],
    ],
    'the manifest proves who was not recorded',
  );

  for (const [name, { download_url }] of webms) {
    const res = await fetch(download_url);
    assert.equal(res.status, 200);
    const buf = Buffer.from(await res.arrayBuffer());
    const path = join(work, name);
    writeFileSync(path, buf);
    const ranged = await fetch(download_url, { headers: { range: 'bytes=0-99' } });
    assert.equal(ranged.status, 206);
    assert.equal((await ranged.arrayBuffer()).byteLength, 100);

    const entry = manifest.files.find((f) => f.file_name === name)!;
    assert.ok(entry, `${name} is in the manifest`);
    const probe = ffprobe(path);
    assert.equal(probe.codecName, 'opus');
    assert.equal(probe.sampleRate, 48000);
    assert.ok(Number.isFinite(probe.durationSec), 'duration is written');
    assert.ok(
      Math.abs(probe.durationSec * 1000 - entry.duration_ms) <= DURATION_TOLERANCE_MS,
      `${name}: ffprobe ${probe.durationSec}s vs manifest ${entry.duration_ms}ms`,
    );
    const { samples, stderr, status } = decodeMono(path);
    assert.equal(status, 0, stderr);
    const tone = TONES[entry.custom_participant_id as keyof typeof TONES];
    assert.ok(tone, `file belongs to a recorded participant: ${entry.custom_participant_id}`);
    assert.notEqual(entry.custom_participant_id, 'carol');
    const secs = samples.length / 48000;
    // Every file starts at t0; the tone is the participant's own, never anyone else's.
    const heard = strongest(samples, 0.3, Math.min(secs, 1.3), [440, 660, 880]);
    if (entry.custom_participant_id === 'bob') {
      assert.equal(heard, 660);
      assert.ok(
        Math.abs(entry.duration_ms - stopAt) <= 250,
        `bob's file spans t0..stop: ${entry.duration_ms} vs ${stopAt}`,
      );
      // Silent while muted (with the alignment tolerance at both edges), sounding after.
      const mutedRms = rms(
        samples,
        (muteAt + ALIGN_TOLERANCE_MS + 100) / 1000,
        (unmuteAt - ALIGN_TOLERANCE_MS) / 1000,
      );
      const loudRms = rms(samples, (unmuteAt + 300) / 1000, (unmuteAt + 900) / 1000);
      assert.ok(mutedRms < 50, `bob is silent while muted (rms ${mutedRms.toFixed(1)})`);
      assert.ok(loudRms > 1000, `bob is heard after unmuting (rms ${loudRms.toFixed(1)})`);
      assert.equal(entry.intervals.muted.length, 1);
      assert.ok(
        Math.abs(entry.intervals.muted[0]!.from_ms - muteAt) < 150,
        'mute interval in the manifest matches',
      );
    } else {
      const whole = rms(samples, 0, secs);
      if (whole > 100)
        assert.equal(heard === 440 || strongest(samples, 0, secs, [440, 660, 880]) === 440, true);
    }
  }
  const aliceFiles = manifest.files.filter((f) => f.custom_participant_id === 'alice');
  assert.equal(aliceFiles.length, 2);
  const first = aliceFiles.reduce((a, b) => (a.duration_ms < b.duration_ms ? a : b));
  assert.ok(
    Math.abs(first.duration_ms - aliceLeftAt) <= 250,
    `alice's first file ends when she left: ${first.duration_ms} vs ${aliceLeftAt}`,
  );
});
