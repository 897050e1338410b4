/**
 * A full disk loses nothing that was written and freezes nothing: the server's DATA_DIR is a small
 * tmpfs (mounted here, in the test's own mount namespace: scripts/test.sh runs the suite under
 * `unshare -nm`), two participants are recorded, and the disk is filled to ENOSPC. The recording ends
 * by itself (UPLOADED with what fit, stop_reason STORAGE_FULL), its files decode and end where the disk
 * ran out, the API keeps answering (a new recording: 507 in the envelope), and once space is freed a
 * new recording works without a restart.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { decodeMono, ffprobe, sineOpusPackets } from '@trackroom/recorder/testing';
import { OpusPublisher } from './support/opus-publisher.js';
import { api, startServer, type ServerProcess } from './support/server-process.js';
import { strongest } from './support/tone.js';

const mountDir = mkdtempSync(join(tmpdir(), 'trackroom-tmpfs-'));
let mounted = false;
let server: ServerProcess | undefined;
const pubs: OpusPublisher[] = [];
after(async () => {
  for (const p of pubs) await p.leave().catch(() => undefined);
  await server?.stop();
  if (mounted) spawnSync('umount', ['-l', mountDir]);
});

function mountTmpfs(sizeMb: number): void {
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeMb}m`, 'tmpfs', mountDir]);
  if (r.status !== 0) {
    throw new Error(
      `mounting a tmpfs failed (this test needs root in its own mount namespace: unshare -m): ${r.stderr.toString()}`,
    );
  }
  mounted = true;
}

/** Writes zeros into `path` until the file system is full; returns the bytes written. */
function fillDisk(path: string): number {
  const fd = openSync(path, 'w');
  const chunk = Buffer.alloc(64 * 1024);
  let total = 0;
  try {
    for (;;) total += writeSync(fd, chunk);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOSPC') throw e;
  } finally {
    closeSync(fd);
  }
  return total;
}

type Rec = {
  id: string;
  status: string;
  stop_reason?: { reason: string } | null;
  error_reason?: string | null;
  download_url?: { download_urls: Record<string, { download_url: string }> }[] | null;
};

async function waitStatus(call: ReturnType<typeof api>, id: string, statuses: string[]): Promise<Rec> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const r = (await call<{ data: Rec }>('GET', `/recordings/${id}`)).json.data;
    if (statuses.includes(r.status)) return r;
    if (Date.now() > deadline) throw new Error(`recording ${id} stayed ${r.status}`);
    await new Promise((res) => setTimeout(res, 200));
  }
}

test('a full disk ends the recording with what fit; the server keeps working and recovers when space is freed', async (t) => {
  mountTmpfs(6);
  server = await startServer({
    dataDir: join(mountDir, 'data'),
    env: { DISK_MIN_FREE_MB: '0.5', DISK_RESERVE_MB: '1' },
  });
  const call = api(server);
  const meeting = (await call<{ data: { id: string } }>('POST', '/meetings', { title: 'full disk' })).json
    .data;
  const work = mkdtempSync(join(tmpdir(), 'trackroom-full-'));
  const tones = { ann: 440, bob: 660 } as const;
  for (const [cid, hz] of Object.entries(tones)) {
    const p = (
      await call<{ data: { token: string } }>('POST', `/meetings/${meeting.id}/participants`, {
        custom_participant_id: cid,
        preset_name: 'group_call_host',
      })
    ).json.data;
    const pub = await OpusPublisher.connect(`${server.wsUrl}?authToken=${p.token}`);
    pubs.push(pub);
    await pub.join();
    await pub.publish();
    pub.play(sineOpusPackets({ dir: work, frequency: hz, seconds: 4, channels: 1 }));
  }
  const started = await call<{ data: { recording: { id: string } } }>('POST', '/recordings/track', {
    meeting_id: meeting.id,
    user_ids: ['ann', 'bob'],
  });
  assert.equal(started.status, 200, JSON.stringify(started.json));
  const id = started.json.data.recording.id;
  await waitStatus(call, id, ['RECORDING']);

  // Let two clusters (2 s each) reach the disk, then fill it.
  await new Promise((r) => setTimeout(r, 4500));
  const filler = join(mountDir, 'filler.bin');
  const filled = fillDisk(filler);
  const filledAt = Date.now();
  t.diagnostic(`filled the tmpfs with ${(filled / 1024).toFixed(0)} KiB`);

  // The next cluster write fails; the recording ends by itself.
  const rec = await waitStatus(call, id, ['UPLOADED', 'ERRORED']);
  t.diagnostic(`recording ended ${Date.now() - filledAt} ms after the disk filled: ${rec.error_reason}`);
  assert.equal(rec.status, 'UPLOADED', JSON.stringify(rec));
  assert.equal(rec.stop_reason?.reason, 'STORAGE_FULL');
  assert.match(rec.error_reason ?? '', /disk full \(ENOSPC\)/);

  // Its files are valid WebM that end where the disk ran out, with the right voice in each.
  const urls = rec.download_url![0]!.download_urls;
  const manifest = (await (await fetch(urls['manifest.json']!.download_url)).json()) as {
    write_failure?: { code: string; storage_full: boolean };
    files: {
      file_name: string;
      custom_participant_id: string;
      duration_ms: number;
      write_failure?: { code: string; ends_at_ms: number };
    }[];
    requested_user_ids: { user_id: string; status: string }[];
  };
  assert.equal(manifest.write_failure?.code, 'ENOSPC');
  assert.equal(manifest.write_failure?.storage_full, true);
  assert.deepEqual(
    manifest.requested_user_ids.map((u) => [u.user_id, u.status]),
    [
      ['ann', 'recorded'],
      ['bob', 'recorded'],
    ],
  );
  assert.equal(manifest.files.length, 2);
  for (const f of manifest.files) {
    const res = await fetch(urls[f.file_name]!.download_url);
    assert.equal(res.status, 200);
    const path = join(work, f.file_name);
    const { writeFile } = await import('node:fs/promises');
    await writeFile(path, Buffer.from(await res.arrayBuffer()));
    const probe = ffprobe(path);
    assert.equal(probe.codecName, 'opus');
    assert.ok(probe.durationSec >= 1.9, `${f.file_name} keeps what was written (${probe.durationSec} s)`);
    assert.ok(Math.abs(probe.durationSec * 1000 - f.duration_ms) < 25, 'duration matches the manifest');
    const dec = decodeMono(path);
    assert.equal(dec.status, 0, dec.stderr);
    const hz = tones[f.custom_participant_id as keyof typeof tones];
    assert.equal(strongest(dec.samples, 1.0, 1.5, [440, 660]), hz, `${f.custom_participant_id}'s own tone`);
  }
  const ended = manifest.files.filter((f) => f.write_failure?.code === 'ENOSPC');
  assert.ok(ended.length >= 1, 'the file that hit the full disk says so');
  for (const f of ended) assert.equal(f.write_failure!.ends_at_ms, f.duration_ms);

  // The server still answers; a new recording is refused with 507 in the envelope while the disk is full.
  const list = await call('GET', '/meetings');
  assert.equal(list.status, 200);
  const refused = await call<{ success: boolean; error: { code: number; message: string } }>(
    'POST',
    '/recordings/track',
    { meeting_id: meeting.id },
  );
  assert.equal(refused.status, 507, JSON.stringify(refused.json));
  assert.equal(refused.json.success, false);
  assert.equal(refused.json.error.code, 507);
  assert.match(refused.json.error.message, /Insufficient storage/);
  const stats = await fetch(`${server.baseUrl}/v1/stats`, {
    headers: { authorization: `Bearer ${server.token}` },
  });
  const disk = ((await stats.json()) as { data: { disk: { level: string } } }).data.disk;
  assert.equal(disk.level, 'below_floor');

  // Space freed: everything works again without a restart.
  rmSync(filler);
  const again = await call<{ data: { recording: { id: string } } }>('POST', '/recordings/track', {
    meeting_id: meeting.id,
  });
  assert.equal(again.status, 200, JSON.stringify(again.json));
  const id2 = again.json.data.recording.id;
  await waitStatus(call, id2, ['RECORDING']);
  await new Promise((r) => setTimeout(r, 1500));
  const stopped = await call<{ data: Rec }>('PUT', `/recordings/${id2}`, { action: 'stop' });
  assert.equal(stopped.status, 200, JSON.stringify(stopped.json));
  const rec2 = await waitStatus(call, id2, ['UPLOADED', 'ERRORED']);
  assert.equal(rec2.status, 'UPLOADED', JSON.stringify(rec2));
  assert.equal(rec2.stop_reason?.reason, 'API_CALL');
  assert.ok(!rec2.error_reason, 'no failure this time');
});
