/**
 * Media workers for real (MEDIA_WORKERS=2, a real server process and its two worker processes):
 * two meetings land on different workers and are recorded at once; a meeting's participants that
 * connect at different moments all land on its worker; kick, mute, pause and stop reach it; a
 * worker SIGKILLed mid-recording leaves the other worker's meeting and recording untouched, its
 * own recording is repaired and ends as after a crash, webhooks say so, and the worker restarts.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { decodeMono, ffprobe, sineOpusPackets } from '@trackroom/recorder/testing';
import { OpusPublisher } from './support/opus-publisher.js';
import { api, startServer, type ServerProcess } from './support/server-process.js';
import { strongest } from './support/tone.js';
import { startWebhookReceiver, type WebhookReceiver } from './support/webhook-receiver.js';

interface WorkerEntry {
  id: number;
  pid: number;
  in_process: boolean;
  meeting_ids: string[];
  load: { peers: number; liveTracks: number; activeRecordings: number };
  cpu_us: { user: number; system: number };
  sfu: { peers: number; rtpReceived: number };
}
interface Stats {
  media: { sfu: { peers: number }; media_peers: number; workers: WorkerEntry[] };
}

let server: ServerProcess;
let hooks: WebhookReceiver;
const work = mkdtempSync(join(tmpdir(), 'workers-e2e-'));

before(async () => {
  hooks = await startWebhookReceiver();
  server = await startServer({ env: { MEDIA_WORKERS: '2' } });
  const wh = await api(server)('POST', '/webhooks', {
    name: 'all',
    url: hooks.url,
    events: ['recording.statusUpdate', 'meeting.participantLeft', 'meeting.participantJoined'],
  });
  assert.equal(wh.status, 201);
});
after(async () => {
  await server?.stop();
  await hooks?.close();
});

async function stats(): Promise<Stats['media']> {
  const r = await fetch(`${server.baseUrl}/v1/stats`, {
    headers: { authorization: `Bearer ${server.token}` },
  });
  return ((await r.json()) as { data: Stats }).data.media;
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const workerOf = (s: Stats['media'], meetingId: string) =>
  s.workers.find((w) => w.meeting_ids.includes(meetingId));

/** A meeting with a publisher playing a tone of `frequency`. */
async function meetingWithPublisher(title: string, customId: string, frequency: number, seconds = 8) {
  const call = api(server);
  const meeting = (await call<{ data: { id: string } }>('POST', '/meetings', { title })).json.data;
  const pub = await joinMeeting(meeting.id, customId);
  await pub.publish();
  pub.play(sineOpusPackets({ dir: work, frequency, seconds, channels: 1 }));
  return { meetingId: meeting.id, pub };
}

async function joinMeeting(meetingId: string, customId: string): Promise<OpusPublisher> {
  const p = (
    await api(server)<{ data: { token: string } }>('POST', `/meetings/${meetingId}/participants`, {
      custom_participant_id: customId,
      preset_name: 'group_call_host',
    })
  ).json.data;
  const pub = await OpusPublisher.connect(`${server.wsUrl}?authToken=${p.token}`);
  await pub.join();
  return pub;
}

async function startRecording(meetingId: string, userIds?: string[]): Promise<string> {
  const r = await api(server)<{ data: { recording: { id: string } } }>('POST', '/recordings/track', {
    meeting_id: meetingId,
    ...(userIds ? { user_ids: userIds } : {}),
  });
  assert.equal(r.status, 200, JSON.stringify(r.json));
  return r.json.data.recording.id;
}

async function recording(id: string) {
  return (await api(server)<{ data: Record<string, unknown> }>('GET', `/recordings/${id}`)).json.data;
}

async function finished(id: string) {
  return until(`recording ${id} to end`, async () => {
    const r = await recording(id);
    return r.status === 'UPLOADED' || r.status === 'ERRORED' ? r : undefined;
  });
}

/** The recording's one audio file, downloaded, its manifest, and the tone that dominates it. */
async function fileOf(rec: Record<string, unknown>) {
  const layer = (rec.download_url as { download_urls: Record<string, { download_url: string }> }[])[0]!;
  const media = Object.entries(layer.download_urls).filter(([n]) => n.endsWith('.webm'));
  assert.equal(media.length, 1, JSON.stringify(Object.keys(layer.download_urls)));
  const manifest = (await (await fetch(layer.download_urls['manifest.json']!.download_url)).json()) as {
    repaired_after_crash: boolean;
  };
  const path = join(work, media[0]![0]);
  writeFileSync(path, Buffer.from(await (await fetch(media[0]![1].download_url)).arrayBuffer()));
  const probe = ffprobe(path);
  const { samples, status, stderr } = decodeMono(path);
  assert.equal(status, 0, stderr);
  const seconds = samples.length / 48000;
  return { probe, manifest, tone: strongest(samples, 0.3, Math.min(seconds - 0.3, 1.5), [440, 523, 660]) };
}

test('two worker processes, each its own pid, both counted in /v1/stats', async () => {
  const s = await stats();
  assert.equal(s.workers.length, 2);
  const pids = s.workers.map((w) => w.pid);
  assert.equal(new Set(pids).size, 2);
  assert.ok(!pids.includes(server.proc.pid!), 'workers are not the server process');
  assert.ok(s.workers.every((w) => !w.in_process && w.cpu_us.user > 0));
});

test('two meetings on two workers, recorded at once; late joiners, kick, mute, pause and stop reach the right worker', async () => {
  const a = await meetingWithPublisher('workers-a', 'ann', 440);
  const b = await meetingWithPublisher('workers-b', 'bob', 660);
  const s1 = await stats();
  const wa = workerOf(s1, a.meetingId);
  const wb = workerOf(s1, b.meetingId);
  assert.ok(wa && wb, JSON.stringify(s1.workers));
  assert.notEqual(wa.id, wb.id, 'the two meetings are on different workers');

  // A records ann only: the late joiners below come and go without files of their own.
  const [ra, rb] = await Promise.all([startRecording(a.meetingId, ['ann']), startRecording(b.meetingId)]);

  // Participants of A that connect later all land on A's worker.
  const late1 = await joinMeeting(a.meetingId, 'ada');
  const late2 = await joinMeeting(a.meetingId, 'abe');
  await until('the late joiners on A’s worker', async () => {
    const s = await stats();
    const w = s.workers.find((x) => x.id === wa.id)!;
    const other = s.workers.find((x) => x.id === wb.id)!;
    return w.sfu.peers === 3 && other.sfu.peers === 1 ? true : undefined;
  });

  // Host mute and kick of A's late joiners reach them through A's worker.
  const call = api(server);
  const mute = await call('POST', `/meetings/${a.meetingId}/active-session/mute`, {
    custom_participant_ids: ['ada'],
  });
  assert.equal(mute.status, 200);
  await late1.waitFor('muted');
  const kick = await call('POST', `/meetings/${a.meetingId}/active-session/kick`, {
    custom_participant_ids: ['abe'],
  });
  assert.equal(kick.status, 200);
  await late2.waitFor('kicked');

  // Pause and resume A; B records on meanwhile.
  assert.equal((await call('PUT', `/recordings/${ra}`, { action: 'pause' })).status, 200);
  assert.equal((await recording(ra)).status, 'PAUSED');
  assert.equal((await call('PUT', `/recordings/${ra}`, { action: 'resume' })).status, 200);
  await new Promise((r) => setTimeout(r, 1500));

  const [stopA, stopB] = await Promise.all([
    call('PUT', `/recordings/${ra}`, { action: 'stop' }),
    call('PUT', `/recordings/${rb}`, { action: 'stop' }),
  ]);
  assert.equal(stopA.status, 200);
  assert.equal(stopB.status, 200);
  const [recA, recB] = await Promise.all([finished(ra), finished(rb)]);
  assert.equal(recA.status, 'UPLOADED', JSON.stringify(recA));
  assert.equal(recB.status, 'UPLOADED', JSON.stringify(recB));
  const fa = await fileOf(recA);
  const fb = await fileOf(recB);
  assert.equal(fa.probe.codecName, 'opus');
  assert.equal(fb.probe.codecName, 'opus');
  assert.equal(fa.tone, 440, "A's file holds ann's tone");
  assert.equal(fb.tone, 660, "B's file holds bob's tone");
  assert.equal(fa.manifest.repaired_after_crash, false);
  for (const p of [a.pub, b.pub, late1]) await p.leave();
});

test('a SIGKILLed worker: the other worker records on, its own recording is repaired, webhooks tell it, it restarts', async () => {
  const a = await meetingWithPublisher('kill-a', 'kai', 440, 20);
  const b = await meetingWithPublisher('kill-b', 'kim', 660, 20);
  const s1 = await stats();
  const wa = workerOf(s1, a.meetingId)!;
  const wb = workerOf(s1, b.meetingId)!;
  assert.notEqual(wa.id, wb.id);
  const [ra, rb] = await Promise.all([startRecording(a.meetingId), startRecording(b.meetingId)]);
  // Wait until both have written some audio (the recorders count what they received).
  await until('audio on both workers', async () => {
    const s = await stats();
    return s.workers.every((w) => w.sfu.rtpReceived > 150) ? true : undefined;
  });
  await new Promise((r) => setTimeout(r, 2500));

  const bReceived = (await stats()).workers.find((w) => w.id === wb.id)!.sfu.rtpReceived;
  process.kill(wa.pid, 'SIGKILL');

  // A's recording ends as after a crash: repaired, UPLOADED, stop_reason INTERNAL_ERROR.
  const recA = await finished(ra);
  assert.equal(recA.status, 'UPLOADED', JSON.stringify(recA));
  assert.equal((recA.stop_reason as { reason: string }).reason, 'INTERNAL_ERROR');
  const fa = await fileOf(recA);
  assert.equal(fa.manifest.repaired_after_crash, true);
  assert.ok(Number.isFinite(fa.probe.durationSec) && fa.probe.durationSec >= 2, `${fa.probe.durationSec}s`);
  assert.equal(fa.tone, 440);
  await hooks.waitFor(
    (d) =>
      d.body.event === 'recording.statusUpdate' &&
      (d.body.recording as { id: string; status: string; stopReason?: string }).id === ra &&
      (d.body.recording as { status: string }).status === 'UPLOADED' &&
      (d.body.recording as { stopReason?: string }).stopReason === 'INTERNAL_ERROR',
  );
  // kai's session peer left with the worker.
  await hooks.waitFor(
    (d) =>
      d.body.event === 'meeting.participantLeft' &&
      (d.body.participant as { customParticipantId: string }).customParticipantId === 'kai',
  );

  // B is untouched: its worker keeps receiving, its recording is still on.
  await until('B to keep receiving', async () => {
    const w = (await stats()).workers.find((x) => x.id === wb.id);
    return w && w.pid === wb.pid && w.sfu.rtpReceived > bReceived + 50 ? true : undefined;
  });
  assert.equal((await recording(rb)).status, 'RECORDING');

  // The dead worker comes back with a new pid.
  const restarted = await until('the worker to restart', async () => {
    const w = (await stats()).workers.find((x) => x.id === wa.id);
    return w && w.pid !== wa.pid ? w : undefined;
  });
  assert.ok(restarted.pid > 0);

  const call = api(server);
  assert.equal((await call('PUT', `/recordings/${rb}`, { action: 'stop' })).status, 200);
  const recB = await finished(rb);
  assert.equal(recB.status, 'UPLOADED');
  assert.equal((recB.stop_reason as { reason: string }).reason, 'API_CALL');
  const fb = await fileOf(recB);
  assert.equal(fb.manifest.repaired_after_crash, false);
  assert.equal(fb.tone, 660);
  assert.ok(fb.probe.durationSec >= 4, `${fb.probe.durationSec}s`);

  // A new participant of A lands on a running worker and is served.
  const again = await joinMeeting(a.meetingId, 'kai2');
  await again.leave();
  await a.pub.leave().catch(() => undefined);
  await b.pub.leave();
});
