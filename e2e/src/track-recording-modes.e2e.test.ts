/**
 * Track recording extensions over real WebRTC: `group_by: "user"` (one continuous file across a
 * leave and a rejoin, silent while absent), pause/resume (silent while paused), `align:
 * "first_packet"`, several layers, the recording.statusUpdate webhooks, and input validation.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { decodeMono, ffprobe, sineOpusPackets } from '@trackroom/recorder/testing';
import { OpusPublisher } from './support/opus-publisher.js';
import { api, startServer, type ServerProcess } from './support/server-process.js';
import { rms } from './support/tone.js';
import { startWebhookReceiver, type WebhookReceiver } from './support/webhook-receiver.js';

const EDGE_MS = 150;
let server: ServerProcess;
let hooks: WebhookReceiver;
const work = mkdtempSync(join(tmpdir(), 'modes-'));
const tone = () => sineOpusPackets({ dir: work, frequency: 440, seconds: 4, channels: 1 });
const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

before(async () => {
  server = await startServer({ env: { WEBHOOK_RETRY_BASE_MS: '50' } });
  hooks = await startWebhookReceiver();
});
after(async () => {
  await server?.stop();
  await hooks?.close();
});

interface Manifest {
  t0_ms: number;
  files: {
    file_name: string;
    layer: string;
    custom_participant_id: string;
    peer_ids: string[];
    start_offset_ms: number | null;
    file_start_ms: number;
    duration_ms: number;
    intervals: {
      present: { from_ms: number; to_ms: number }[];
      paused: { from_ms: number; to_ms: number }[];
    };
  }[];
}

async function setup(cids: string[]) {
  const call = api(server);
  const meeting = (await call<{ data: { id: string } }>('POST', '/meetings', { title: 'modes' })).json.data;
  const tokens: Record<string, string> = {};
  for (const cid of cids) {
    tokens[cid] = (
      await call<{ data: { token: string } }>('POST', `/meetings/${meeting.id}/participants`, {
        custom_participant_id: cid,
        preset_name: 'group_call_host',
      })
    ).json.data.token;
  }
  const enter = async (cid: string) => {
    const p = await OpusPublisher.connect(`${server.wsUrl}?authToken=${tokens[cid]}`);
    await p.join();
    await p.publish();
    p.play(tone());
    return p;
  };
  return { call, meetingId: meeting.id, enter };
}

async function finish(call: ReturnType<typeof api>, id: string) {
  assert.equal((await call('PUT', `/recordings/${id}`, { action: 'stop' })).status, 200);
  let rec: Record<string, unknown> = {};
  const end = Date.now() + 15_000;
  while (Date.now() < end) {
    rec = (await call<{ data: Record<string, unknown> }>('GET', `/recordings/${id}`)).json.data;
    if (rec.status === 'UPLOADED') break;
    await wait(50);
  }
  assert.equal(rec.status, 'UPLOADED');
  const layers = rec.download_url as {
    layer_name: string;
    download_urls: Record<string, { download_url: string }>;
  }[];
  const all = Object.fromEntries(layers.flatMap((l) => Object.entries(l.download_urls)));
  const manifest = (await (await fetch(all['manifest.json']!.download_url)).json()) as Manifest;
  const local = async (name: string) => {
    const path = join(work, name);
    writeFileSync(path, Buffer.from(await (await fetch(all[name]!.download_url)).arrayBuffer()));
    return path;
  };
  return { rec, layers, manifest, local };
}

test('group_by user keeps one continuous file across leave and rejoin, silent while absent', async () => {
  const { call, meetingId, enter } = await setup(['gus', 'host']);
  const host = await enter('host');
  const g1 = await enter('gus');
  const start = await call<{ data: { recording: { id: string; output_file_name: string } } }>(
    'POST',
    '/recordings/track',
    {
      meeting_id: meetingId,
      user_ids: ['gus'],
      group_by: 'user',
    },
  );
  assert.equal(start.status, 200);
  const t0 = Date.now();
  await wait(1200);
  await g1.leave();
  const leftAt = Date.now() - t0;
  await wait(1500);
  const g2 = await enter('gus');
  const backAt = Date.now() - t0;
  await wait(1200);
  const { manifest, local } = await finish(call, start.json.data.recording.id);
  await Promise.all([g2.leave(), host.leave()]);

  assert.equal(manifest.files.length, 1, 'one file for gus');
  const f = manifest.files[0]!;
  assert.equal(f.peer_ids.length, 2, 'both of his peers fed it');
  assert.equal(f.intervals.present.length, 2);
  assert.match(f.file_name, /^default_[0-9a-f-]{36}_user_audio_\d{13}\.webm$/);
  const path = await local(f.file_name);
  const probe = ffprobe(path);
  assert.ok(Math.abs(probe.durationSec * 1000 - f.duration_ms) <= 40);
  const { samples } = decodeMono(path);
  assert.ok(rms(samples, 0.3, (leftAt - EDGE_MS) / 1000) > 1000, 'heard before leaving');
  assert.ok(rms(samples, (leftAt + EDGE_MS) / 1000, (backAt - EDGE_MS) / 1000) < 50, 'silent while absent');
  assert.ok(rms(samples, (backAt + 500) / 1000, (backAt + 1000) / 1000) > 1000, 'heard after rejoining');
});

test('pause and resume write silence in between; status webhooks follow every transition', async () => {
  const wh = await api(server)('POST', '/webhooks', {
    name: 'rec',
    url: hooks.url,
    events: ['recording.statusUpdate'],
  });
  assert.equal(wh.status, 201);
  const { call, meetingId, enter } = await setup(['pam']);
  const pam = await enter('pam');
  const start = await call<{ data: { recording: { id: string } } }>('POST', '/recordings/track', {
    meeting_id: meetingId,
  });
  const id = start.json.data.recording.id;
  const t0 = Date.now();
  await wait(1000);
  assert.equal(
    (await call<{ data: { status: string } }>('PUT', `/recordings/${id}`, { action: 'pause' })).json.data
      .status,
    'PAUSED',
  );
  const pausedAt = Date.now() - t0;
  const twice = await call('PUT', `/recordings/${id}`, { action: 'pause' });
  assert.equal(twice.status, 409, 'pausing a paused recording is refused');
  await wait(1200);
  assert.equal(
    (await call<{ data: { status: string } }>('PUT', `/recordings/${id}`, { action: 'resume' })).json.data
      .status,
    'RECORDING',
  );
  const resumedAt = Date.now() - t0;
  await wait(1000);
  const { manifest, local } = await finish(call, id);
  await pam.leave();

  const f = manifest.files[0]!;
  assert.equal(f.intervals.paused.length, 1);
  assert.ok(Math.abs(f.intervals.paused[0]!.from_ms - pausedAt) < 150);
  const { samples } = decodeMono(await local(f.file_name));
  assert.ok(
    rms(samples, (pausedAt + EDGE_MS) / 1000, (resumedAt - EDGE_MS) / 1000) < 50,
    'silent while paused',
  );
  assert.ok(rms(samples, (resumedAt + 300) / 1000, (resumedAt + 800) / 1000) > 1000, 'heard after resume');

  await hooks.waitFor(
    (d) =>
      d.body.event === 'recording.statusUpdate' &&
      (d.body.recording as { status: string; id: string }).status === 'UPLOADED' &&
      (d.body.recording as { id: string }).id === id,
  );
  const all = hooks.deliveries
    .filter(
      (d) => d.body.event === 'recording.statusUpdate' && (d.body.recording as { id: string }).id === id,
    )
    .map((d) => (d.body.recording as { status: string }).status);
  assert.deepEqual(all, ['INVOKED', 'RECORDING', 'PAUSED', 'RECORDING', 'UPLOADING', 'UPLOADED']);
});

test('align first_packet drops leading silence; layers give one file each; bad input is refused', async () => {
  const { call, meetingId, enter } = await setup(['amy', 'host']);
  const host = await enter('host');
  const bad = [
    [{ meeting_id: meetingId, layers: { main: { file_name_prefix: '../x' } } }, 'file_name_prefix'],
    [{ meeting_id: meetingId, user_ids: Array.from({ length: 101 }, (_, i) => `u${i}`) }, 'user_ids'],
    [{ meeting_id: meetingId, group_by: 'room' }, 'group_by'],
    [{ meeting_id: 'not-a-uuid' }, 'meeting_id'],
    [{}, 'meeting_id'],
  ] as const;
  for (const [body, field] of bad) {
    const r = await call<{ success: boolean; error: { code: number; message: string } }>(
      'POST',
      '/recordings/track',
      body,
    );
    assert.equal(r.status, 400, JSON.stringify(body));
    assert.match(r.json.error.message, new RegExp(field));
  }
  const start = await call<{ data: { recording: { id: string } } }>('POST', '/recordings/track', {
    meeting_id: meetingId,
    user_ids: ['amy'],
    align: 'first_packet',
    layers: { main: { file_name_prefix: 'main' }, backup: { file_name_prefix: 'bk' } },
  });
  assert.equal(start.status, 200, JSON.stringify(start.json));
  await wait(1000);
  const amy = await enter('amy');
  await wait(1500);
  const { manifest, layers, local } = await finish(call, start.json.data.recording.id);
  await Promise.all([amy.leave(), host.leave()]);

  assert.deepEqual(layers.map((l) => l.layer_name).sort(), ['backup', 'main']);
  assert.equal(manifest.files.length, 2);
  for (const f of manifest.files) {
    assert.match(f.file_name, f.layer === 'main' ? /^main_/ : /^bk_/);
    assert.ok(
      f.start_offset_ms !== null && f.start_offset_ms >= 800,
      `amy joined about 1 s in: ${f.start_offset_ms}`,
    );
    assert.equal(f.file_start_ms, f.start_offset_ms, 'the file starts at the first packet');
    const { samples } = decodeMono(await local(f.file_name));
    assert.ok(rms(samples, 0.05, 0.5) > 1000, 'no leading silence');
  }
});

test('hidden and recorder participants are never recorded, even when everyone is', async () => {
  const call = api(server);
  const preset = await call('POST', '/presets', {
    name: 'recorder_bot',
    config: { view_type: 'GROUP_CALL' },
    ui: {},
    permissions: {
      hidden_participant: true,
      is_recorder: true,
      media: { audio: { can_produce: 'ALLOWED' } },
    },
  });
  assert.equal(preset.status, 201);
  const meeting = (await call<{ data: { id: string } }>('POST', '/meetings', { title: 'hidden' })).json.data;
  const add = async (cid: string, preset_name: string) =>
    (
      await call<{ data: { token: string } }>('POST', `/meetings/${meeting.id}/participants`, {
        custom_participant_id: cid,
        preset_name,
      })
    ).json.data.token;
  const enter = async (token: string) => {
    const p = await OpusPublisher.connect(`${server.wsUrl}?authToken=${token}`);
    await p.join();
    await p.publish();
    p.play(tone());
    return p;
  };
  const visible = await enter(await add('vic', 'group_call_host'));
  const bot = await enter(await add('bot', 'recorder_bot'));
  const start = await call<{ data: { recording: { id: string } } }>('POST', '/recordings/track', {
    meeting_id: meeting.id,
  });
  assert.equal(start.status, 200);
  await wait(800);
  const { manifest } = await finish(call, start.json.data.recording.id);
  await Promise.all([visible.leave(), bot.leave()]);
  assert.deepEqual(
    manifest.files.map((f) => f.custom_participant_id),
    ['vic'],
  );
});

test('max_seconds stops the recording by itself with stop_reason MAX_SECONDS', async () => {
  const { call, meetingId, enter } = await setup(['max']);
  const max = await enter('max');
  const start = await call<{ data: { recording: { id: string } } }>('POST', '/recordings/track', {
    meeting_id: meetingId,
    max_seconds: 2,
  });
  assert.equal(start.status, 200);
  const id = start.json.data.recording.id;
  let rec: Record<string, unknown> = {};
  const end = Date.now() + 15_000;
  while (Date.now() < end) {
    rec = (await call<{ data: Record<string, unknown> }>('GET', `/recordings/${id}`)).json.data;
    if (rec.status === 'UPLOADED') break;
    await wait(100);
  }
  await max.leave();
  assert.equal(rec.status, 'UPLOADED');
  assert.equal((rec.stop_reason as { reason: string }).reason, 'MAX_SECONDS');
  const duration = Date.parse(rec.stopped_time as string) - Date.parse(rec.started_time as string);
  assert.ok(Math.abs(duration - 2000) < 300, `stopped after about 2 s (${duration} ms)`);
});
