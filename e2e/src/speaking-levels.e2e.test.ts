/**
 * Who spoke when, without decoding, end to end over real WebRTC: a werift publisher that offers the
 * RFC 6464 audio-level header extension speaks (tone bursts, level -12 dBov, V set) at known times
 * with silence packets (level -127) in between; another publisher offers no extension and sends a
 * tone all the time. The manifest's speaking intervals must match the schedule within 100 ms, and
 * the publisher without the extension must be marked so, with no intervals invented.
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { sineOpusPackets } from '@trackroom/recorder/testing';
import { OpusPublisher } from './support/opus-publisher.js';
import { api, startServer, type ServerProcess } from './support/server-process.js';
import { until } from './support/until.js';

/** How far a speaking interval's edges may be from the schedule (issue 15). */
const SPEAKING_TOLERANCE_MS = 100;
const LEVEL_ID = 1;
/** Opus CELT 20 ms silence frame (TOC + the silence flag): what a sender sends between bursts. */
const SILENCE = Uint8Array.of(0xf8, 0xff, 0xfe);
/** Bursts, ms after the speaker's first packet: [from, to). */
const BURSTS: [number, number][] = [
  [1000, 2500],
  [3500, 4300],
  [5000, 5400],
];
const PLAY_MS = 6400;

let server: ServerProcess;
const work = mkdtempSync(join(tmpdir(), 'speaking-'));

before(async () => {
  server = await startServer();
});
after(async () => {
  await server?.stop();
});

interface ManifestFile {
  file_name: string;
  custom_participant_id: string;
  participant_id: string;
  levels_source: string;
  levels_missing_reason?: string;
  speaking: { from_ms: number; to_ms: number; vad: boolean }[] | null;
  level_envelope: { interval_ms: number; from_ms: number; unit: string; values: number[] } | null;
  levels: { frames_with_level: number; frames_without_level: number };
}
interface Manifest {
  t0_ms: number;
  files: ManifestFile[];
  who_spoke_when: {
    threshold_dbov: number;
    hangover_ms: number;
    intervals: { participant_id: string; custom_participant_id: string; from_ms: number; to_ms: number }[];
    participants_without_levels: { custom_participant_id: string; reasons: string[] }[];
  };
}

test('speaking intervals from RTP audio levels match when each participant spoke; no levels, no intervals', async () => {
  const call = api(server);
  const meeting = await call<{ data: { id: string } }>('POST', '/meetings', { title: 'levels e2e' });
  assert.equal(meeting.status, 201);
  const mid = meeting.json.data.id;
  const token = async (name: string) => {
    const r = await call<{ data: { token: string } }>('POST', `/meetings/${mid}/participants`, {
      custom_participant_id: name,
      preset_name: 'group_call_host',
      name,
    });
    assert.equal(r.status, 201);
    return r.json.data.token;
  };
  const tone = sineOpusPackets({ dir: work, frequency: 440, seconds: 2, channels: 1 });

  const ann = await OpusPublisher.connect(`${server.wsUrl}?authToken=${await token('ann')}`, {
    audioLevelExtId: LEVEL_ID,
  });
  const ben = await OpusPublisher.connect(`${server.wsUrl}?authToken=${await token('ben')}`);
  for (const p of [ann, ben]) {
    await p.join();
    await p.publish();
  }

  const started = await call<{ data: { recording: { id: string } } }>('POST', '/recordings/track', {
    meeting_id: mid,
  });
  assert.equal(started.status, 200, JSON.stringify(started.json));
  const recId = started.json.data.recording.id;

  // Wall-clock ms at which each of ann's packets really went out: the schedule to compare with.
  const sentAt = new Map<number, number>();
  const loud = (i: number) => BURSTS.some(([a, b]) => i * 20 >= a && i * 20 < b);
  const packets = PLAY_MS / 20;
  let annDone!: () => void;
  const annFinished = new Promise<void>((r) => (annDone = r));
  ann.play(tone, (i) => i >= packets, {
    audioLevel: (i) => (loud(i) ? 0x80 | 12 : 127),
    payload: (i) => (loud(i) ? undefined : SILENCE),
    onSent: (i, _due, sent) => {
      sentAt.set(i, sent);
      if (i === packets - 1) annDone();
    },
  });
  ben.play(tone);
  await annFinished;
  ann.stopPlaying();
  ben.stopPlaying();

  const stop = await call('PUT', `/recordings/${recId}`, { action: 'stop' });
  assert.equal(stop.status, 200);
  let final: Record<string, unknown> = {};
  await until('UPLOADED', async () => {
    final = (await call<{ data: Record<string, unknown> }>('GET', `/recordings/${recId}`)).json.data;
    return final.status === 'UPLOADED';
  });
  await Promise.all([ann.leave(), ben.leave()]);

  const layers = final.download_url as { download_urls: Record<string, { download_url: string }> }[];
  const manifestUrl = layers[0]!.download_urls['manifest.json']!.download_url;
  const manifest = (await (await fetch(manifestUrl)).json()) as Manifest;
  const annFile = manifest.files.find((f) => f.custom_participant_id === 'ann');
  const benFile = manifest.files.find((f) => f.custom_participant_id === 'ben');
  assert.ok(annFile && benFile, JSON.stringify(manifest.files.map((f) => f.custom_participant_id)));

  // The schedule on the recording timeline: first loud packet sent .. last loud packet sent + 20 ms.
  const expected = BURSTS.map(([a, b]) => {
    const first = sentAt.get(a / 20);
    const last = sentAt.get(b / 20 - 1);
    assert.ok(first !== undefined && last !== undefined, 'every burst was sent');
    return { from_ms: first - manifest.t0_ms, to_ms: last + 20 - manifest.t0_ms };
  });
  assert.equal(annFile.levels_source, 'rtp_header_extension');
  assert.ok(annFile.speaking, 'ann has speaking intervals');
  const report = JSON.stringify({ expected, got: annFile.speaking });
  assert.equal(annFile.speaking.length, BURSTS.length, report);
  annFile.speaking.forEach((got, k) => {
    const want = expected[k]!;
    assert.ok(Math.abs(got.from_ms - want.from_ms) <= SPEAKING_TOLERANCE_MS, `burst ${k} start: ${report}`);
    assert.ok(Math.abs(got.to_ms - want.to_ms) <= SPEAKING_TOLERANCE_MS, `burst ${k} end: ${report}`);
    assert.equal(got.vad, true, 'the V bit was set on every loud packet');
  });
  console.log(
    `speaking edges vs schedule (ms): ${annFile.speaking
      .flatMap((g, k) => [g.from_ms - expected[k]!.from_ms, g.to_ms - expected[k]!.to_ms])
      .map((d) => d.toFixed(1))
      .join(', ')}`,
  );

  // The envelope: one value per 100 ms, -12 dBov inside the bursts, -127 in the silence between.
  const env = annFile.level_envelope;
  assert.ok(env);
  assert.equal(env.interval_ms, 100);
  assert.equal(env.unit, 'dBov');
  for (const w of expected) {
    const mid = Math.floor((w.from_ms + w.to_ms) / 2 / 100);
    assert.equal(env.values[mid], -12, `bin ${mid} inside a burst`);
  }
  const gap = Math.floor((expected[0]!.to_ms + expected[1]!.from_ms) / 2 / 100);
  assert.equal(env.values[gap], -127, `bin ${gap} between bursts`);

  // Ben offered no extension: said so, and nothing invented for him.
  assert.equal(benFile.levels_source, 'none');
  assert.equal(benFile.levels_missing_reason, 'not_negotiated');
  assert.equal(benFile.speaking, null);
  assert.equal(benFile.level_envelope, null);
  assert.ok(benFile.levels.frames_without_level > 100, 'ben did send audio');

  // Who spoke when: ann's intervals only, ben listed as having no levels.
  assert.deepEqual(
    manifest.who_spoke_when.intervals.map((i) => [i.custom_participant_id, i.from_ms, i.to_ms]),
    annFile.speaking.map((s) => ['ann', s.from_ms, s.to_ms]),
  );
  assert.deepEqual(manifest.who_spoke_when.participants_without_levels, [
    { participant_id: benFile.participant_id, custom_participant_id: 'ben', reasons: ['not_negotiated'] },
  ]);
  assert.equal(manifest.who_spoke_when.threshold_dbov, -50);
  assert.equal(manifest.who_spoke_when.hangover_ms, 300);
});
