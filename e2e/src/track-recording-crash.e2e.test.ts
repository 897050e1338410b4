/**
 * Crash safety: the server is killed with SIGKILL in the middle of a track recording. On restart the
 * interrupted recording is repaired and finalised: UPLOADED with stop_reason INTERNAL_ERROR, files
 * decodable and seekable (a duration is written), a manifest marked as repaired.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { decodeMono, ffprobe, sineOpusPackets } from '@trackroom/recorder/testing';
import { OpusPublisher } from './support/opus-publisher.js';
import { api, startServer } from './support/server-process.js';
import { strongest } from './support/tone.js';

const CLUSTER_MS = 2000;

/** A server with one publishing participant whose track recording has just started. */
async function recordOnePublisher(title: string, customId: string) {
  const work = mkdtempSync(join(tmpdir(), `${title}-`));
  const server = await startServer();
  const call = api(server);
  const meeting = (await call<{ data: { id: string } }>('POST', '/meetings', { title })).json.data;
  const p = (
    await call<{ data: { token: string } }>('POST', `/meetings/${meeting.id}/participants`, {
      custom_participant_id: customId,
      preset_name: 'group_call_host',
    })
  ).json.data;
  const pub = await OpusPublisher.connect(`${server.wsUrl}?authToken=${p.token}`);
  await pub.join();
  await pub.publish();
  pub.play(sineOpusPackets({ dir: work, frequency: 523, seconds: 3, channels: 1 }));
  const started = await call<{ data: { recording: { id: string } } }>('POST', '/recordings/track', {
    meeting_id: meeting.id,
  });
  assert.equal(started.status, 200);
  return { work, server, pub, id: started.json.data.recording.id };
}

test('a SIGKILLed recording is finalised on restart with its audio', async () => {
  const { work, server, pub, id } = await recordOnePublisher('crash', 'dora');
  const dir = join(server.dataDir, 'recordings', id);

  // Wait until at least two clusters are on disk, then kill without warning.
  const webm = () => readdirSync(dir).find((n) => n.endsWith('.webm'));
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    const f = webm();
    if (f && statSync(join(dir, f)).size > 8_000) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const sizeBeforeKill = statSync(join(dir, webm()!)).size;
  await server.stop('SIGKILL');
  await pub.leave();

  const again = await startServer({ dataDir: server.dataDir });
  try {
    const rec = (await api(again)<{ data: Record<string, unknown> }>('GET', `/recordings/${id}`)).json.data;
    assert.equal(rec.status, 'UPLOADED', JSON.stringify(rec));
    assert.deepEqual((rec.stop_reason as { reason: string }).reason, 'INTERNAL_ERROR');
    const layer = (rec.download_url as { download_urls: Record<string, { download_url: string }> }[])[0]!;
    const files = Object.entries(layer.download_urls);
    const media = files.filter(([n]) => n.endsWith('.webm'));
    assert.equal(media.length, 1);
    const manifest = (await (await fetch(layer.download_urls['manifest.json']!.download_url)).json()) as {
      repaired_after_crash: boolean;
      files: { custom_participant_id: string; duration_ms: number }[];
    };
    assert.equal(manifest.repaired_after_crash, true);
    assert.equal(manifest.files[0]!.custom_participant_id, 'dora');

    const path = join(work, media[0]![0]);
    writeFileSync(path, Buffer.from(await (await fetch(media[0]![1].download_url)).arrayBuffer()));
    const probe = ffprobe(path);
    assert.equal(probe.codecName, 'opus');
    assert.ok(Number.isFinite(probe.durationSec), 'the repaired file has a duration');
    assert.ok(
      probe.durationSec * 1000 >= CLUSTER_MS,
      `at least one cluster survived (${probe.durationSec}s)`,
    );
    assert.ok(Math.abs(probe.durationSec * 1000 - manifest.files[0]!.duration_ms) <= 40);
    const { samples, status, stderr } = decodeMono(path);
    assert.equal(status, 0, stderr);
    assert.equal(strongest(samples, 0.5, Math.min(samples.length / 48000, 1.5), [440, 523, 660]), 523);
    assert.ok(statSync(path).size >= sizeBeforeKill * 0.5, 'the repair kept the audio that was on disk');
  } finally {
    await again.stop();
  }
});

test('a graceful shutdown (SIGTERM) finalises active recordings without a repair', async () => {
  const { server, pub, id } = await recordOnePublisher('term', 'tess');
  await new Promise((r) => setTimeout(r, 1500));
  await server.stop('SIGTERM');
  await pub.leave();

  const again = await startServer({ dataDir: server.dataDir });
  try {
    const rec = (await api(again)<{ data: Record<string, unknown> }>('GET', `/recordings/${id}`)).json.data;
    assert.equal(rec.status, 'UPLOADED');
    assert.equal((rec.stop_reason as { reason: string }).reason, 'SERVER_SHUTDOWN');
    const layer = (rec.download_url as { download_urls: Record<string, { download_url: string }> }[])[0]!;
    const manifest = (await (await fetch(layer.download_urls['manifest.json']!.download_url)).json()) as {
      repaired_after_crash: boolean;
      files: { duration_ms: number; packets: { received: number } }[];
    };
    assert.equal(manifest.repaired_after_crash, false, 'finalised at shutdown, not repaired');
    assert.ok(
      manifest.files[0]!.packets.received > 40,
      'packet counts survive (a repair would not know them)',
    );
    assert.ok(manifest.files[0]!.duration_ms >= 1400);
  } finally {
    await again.stop();
  }
});
