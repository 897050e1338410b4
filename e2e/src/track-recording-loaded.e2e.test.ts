/**
 * Track recording on a loaded server: two CPU burners run beside the server, and a preloaded test
 * hook blocks the server's event loop in episodes (100 ms busy, 5 ms free, for 1.5 s of every 3 s).
 * Four werift publishers with known clocks (perfect, 0.2 % slow, 0.3 % slow with exact sender
 * reports, perfect with exact sender reports) send tone bursts (800 ms of tone, 400 ms of nothing with
 * the RTP clock running). The files are decoded with ffmpeg and every burst's onset is compared with
 * the instant its first packet was due on its sender's clock: each lands within the tolerance, and
 * no frame is dropped as `overlapped`.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { setPriority, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { decodeMono, sineOpusPackets } from '@trackroom/recorder/testing';
import { OpusPublisher, type OpusPlayOptions } from './support/opus-publisher.js';
import { api, startServer, type ServerProcess } from './support/server-process.js';
import { rms } from './support/tone.js';

/**
 * Where a burst belongs: the instant its first packet was due on its sender's clock, plus the one-way
 * latency every track shares (werift's send queue, loopback, the server's receive path; 22-27 ms on
 * these machines at idle). That latency is the median error over all bursts of all files; the timeline
 * keeps it on purpose (all tracks carry the same latency, which keeps them aligned to each other).
 */
const PERFECT_CLOCK_TOLERANCE_MS = 20;
/** A drifting clock is corrected in steps: the 20 ms threshold, one 2.5 ms step, 2.5 ms of onset block. */
const DRIFTING_CLOCK_TOLERANCE_MS = 25;
const BURST_ON = 40; // packets of tone (800 ms)
const BURST_CYCLE = 60; // then 20 packets (400 ms) not sent
const RECORD_MS = 24_000;

const PUBLISHERS: { name: string; hz: number; play: OpusPlayOptions }[] = [
  { name: 'perfect', hz: 440, play: {} },
  { name: 'slow', hz: 550, play: { clockSpeed: 0.998 } },
  { name: 'slow_sr', hz: 660, play: { clockSpeed: 0.997, senderReports: 'exact', srEveryMs: 1000 } },
  { name: 'perfect_sr', hz: 770, play: { senderReports: 'exact', srEveryMs: 1000 } },
];

/** Stall episodes inside the server (see support/event-loop-stall.mjs); E2E_STALL= turns them off. */
const STALL = process.env.E2E_STALL ?? '3000:1500:100:5';
let server: ServerProcess;
const burners: ChildProcess[] = [];
const work = mkdtempSync(join(tmpdir(), 'track-loaded-'));
const stallHook = new URL('./support/event-loop-stall.mjs', import.meta.url).pathname;

before(async () => {
  // The publishers run in this process and stand for senders with known clocks: they get a higher
  // priority than the burners and the server, so that the load lands on the server, not on them.
  setPriority(0, -10);
  server = await startServer({
    nodeArgs: ['--import', stallHook],
    env: { TRACKROOM_E2E_STALL: STALL },
  });
});
after(async () => {
  for (const b of burners) b.kill('SIGKILL');
  await server?.stop();
});

const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Onset (ms in the file) of a tone burst in [fromMs, toMs): the first 1 ms block louder than `level`,
 * provided the 100 ms before it are silent (the tone's rms is about 2900; silence decodes to 0).
 */
function onsetNear(samples: Int16Array, fromMs: number, toMs: number, level = 300): number | undefined {
  for (let t = Math.max(100, Math.floor(fromMs)); t < toMs; t += 1) {
    if (rms(samples, t / 1000, (t + 1) / 1000) > level) {
      return rms(samples, (t - 100) / 1000, (t - 1) / 1000) < 100 ? t : undefined;
    }
  }
  return undefined;
}

test('a loaded server records bursts where they belong and drops no frame', async () => {
  const call = api(server);
  const meeting = await call<{ data: { id: string } }>('POST', '/meetings', { title: 'loaded' });
  assert.equal(meeting.status, 201);
  const mid = meeting.json.data.id;
  const pubs = new Map<string, OpusPublisher>();
  for (const p of PUBLISHERS) {
    const r = await call<{ data: { token: string } }>('POST', `/meetings/${mid}/participants`, {
      custom_participant_id: p.name,
      preset_name: 'group_call_host',
      name: p.name,
    });
    assert.equal(r.status, 201);
    const pub = await OpusPublisher.connect(`${server.wsUrl}?authToken=${r.json.data.token}`);
    await pub.join();
    await pub.publish();
    pubs.set(p.name, pub);
  }
  const started = await call<{ data: { recording: { id: string } } }>('POST', '/recordings/track', {
    meeting_id: mid,
  });
  assert.equal(started.status, 200, JSON.stringify(started.json));
  const recId = started.json.data.recording.id;
  // The load starts now: the burners beside the server, and the stall episodes inside it.
  for (let i = 0; i < Number(process.env.E2E_BURNERS ?? 2); i++) {
    burners.push(spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' }));
  }
  if (STALL) server.proc.kill('SIGUSR2');
  await wait(300);
  // Encoded before anyone plays: ffmpeg runs synchronously and would stall the senders' pacing.
  const packets = PUBLISHERS.map((p) =>
    sineOpusPackets({ dir: work, frequency: p.hz, seconds: 4, channels: 1 }),
  );
  PUBLISHERS.forEach((p, i) =>
    pubs.get(p.name)!.play(packets[i]!, (n) => n % BURST_CYCLE >= BURST_ON, p.play),
  );
  await wait(RECORD_MS);
  const stop = await call('PUT', `/recordings/${recId}`, { action: 'stop' });
  assert.equal(stop.status, 200);
  let final: Record<string, unknown> = {};
  for (let i = 0; i < 300 && final.status !== 'UPLOADED'; i++) {
    final = (await call<{ data: Record<string, unknown> }>('GET', `/recordings/${recId}`)).json.data;
    if (final.status !== 'UPLOADED') await wait(50);
  }
  assert.equal(final.status, 'UPLOADED');
  await Promise.all([...pubs.values()].map((p) => p.leave()));
  for (const b of burners) b.kill('SIGKILL');

  const layers = final.download_url as { download_urls: Record<string, { download_url: string }> }[];
  const urls = layers[0]!.download_urls;
  const manifest = (await (await fetch(urls['manifest.json']!.download_url)).json()) as {
    t0_ms: number;
    files: {
      file_name: string;
      custom_participant_id: string;
      duration_ms: number;
      packets: { overlapped: number; received: number };
      reanchors?: unknown;
    }[];
  };
  assert.equal(manifest.files.length, PUBLISHERS.length);

  const report: string[] = [];
  const results: {
    name: string;
    speed: number;
    errors: number[];
    missing: number[];
    worst: number;
    entry: (typeof manifest.files)[number];
  }[] = [];
  for (const p of PUBLISHERS) {
    const entry = manifest.files.find((f) => f.custom_participant_id === p.name);
    assert.ok(entry, `${p.name} has a file`);
    const buf = Buffer.from(await (await fetch(urls[entry.file_name]!.download_url)).arrayBuffer());
    const path = join(work, entry.file_name);
    writeFileSync(path, buf);
    const { samples, stderr, status } = decodeMono(path);
    assert.equal(status, 0, stderr);
    const pub = pubs.get(p.name)!;
    const speed = p.play.clockSpeed ?? 1;
    const errors: number[] = [];
    const missing: number[] = [];
    for (let k = 0; ; k++) {
      const dueMs = pub.playStartMs + (k * BURST_CYCLE * 20) / speed - manifest.t0_ms;
      if (dueMs > entry.duration_ms - 1000) break;
      const at = onsetNear(samples, dueMs - 150, dueMs + 150);
      if (at === undefined) missing.push(Math.round(dueMs));
      else errors.push(at - dueMs);
    }
    results.push({ name: p.name, speed, errors, missing, worst: 0, entry });
  }
  const all = results.flatMap((r) => r.errors).sort((a, b) => a - b);
  const latency = all[Math.floor(all.length / 2)] ?? 0;
  for (const r of results) {
    const off = r.errors.map((e) => e - latency);
    r.worst = Math.max(...off.map(Math.abs));
    report.push(
      `${r.name}: ${r.errors.length} bursts, worst ${r.worst.toFixed(1)} ms from the shared latency, ` +
        `range ${Math.min(...off).toFixed(1)}..${Math.max(...off).toFixed(1)} ms, missing ${r.missing.length} ${r.missing.slice(0, 5).join(' ')}, ` +
        `packets ${JSON.stringify(r.entry.packets)}\n  ${off.map((e) => e.toFixed(0)).join(' ')}`,
    );
  }
  const pacing = [...pubs.values()].map((p) => p.maxPacingGapMs.toFixed(0)).join(', ');
  console.log(
    `shared latency ${latency.toFixed(1)} ms; senders' longest pacing gaps ${pacing} ms\n${report.join('\n')}`,
  );
  assert.ok(latency >= 0 && latency < 100, `shared latency ${latency} ms`);
  console.log(
    server
      .output()
      .split('\n')
      .filter((l) => /stall|warn|error/i.test(l))
      .slice(0, 20)
      .join('\n'),
  );
  for (const r of results) {
    assert.deepEqual(r.missing, [], `${r.name}: every burst is found near where it was due`);
    assert.ok(r.errors.length >= 15, `${r.name}: ${r.errors.length} bursts checked`);
    assert.equal(r.entry.packets.overlapped, 0, `${r.name}: no frame dropped as overlapped`);
    const tol = r.speed === 1 ? PERFECT_CLOCK_TOLERANCE_MS : DRIFTING_CLOCK_TOLERANCE_MS;
    assert.ok(
      r.worst <= tol,
      `${r.name}: worst burst ${r.worst.toFixed(1)} ms off (tolerance ${tol}): ${r.errors.map((e) => (e - latency).toFixed(0)).join(' ')}`,
    );
  }
});
