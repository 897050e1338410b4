import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { MISSING_UUID, startHarness, type Harness } from '../http/test-harness.js';
import type { RecordingRow, RecordingStatus } from '../store/types.js';

function recording(appId: string, meetingId: string, status: RecordingStatus, invoked: string): RecordingRow {
  return {
    id: randomUUID(),
    app_id: appId,
    meeting_id: meetingId,
    session_id: null,
    type: 'TRACK',
    status,
    invoked_time: invoked,
    started_time: status === 'INVOKED' ? null : invoked,
    stopped_time: null,
    output_file_name: 'x.webm',
    user_ids: null,
    layers: { default: { file_name_prefix: 'default', media_kind: 'audio' } },
    group_by: 'peer',
    align: 'recording_start',
    max_seconds: 3600,
    start_reason: { reason: 'API_CALL' },
    stop_reason: null,
    error_reason: null,
    files: [],
    file_size: 0,
    recording_duration: 0,
    created_at: invoked,
    updated_at: invoked,
  };
}

describe('recordings routes', () => {
  let h: Harness;
  let m1: string;
  let m2: string;
  const recs: RecordingRow[] = [];
  before(async () => {
    h = await startHarness();
    m1 = (await h.req('POST', `${h.appBase}/meetings`, { title: 'rec one' })).body.data.id;
    m2 = (await h.req('POST', `${h.appBase}/meetings`, { title: 'rec two' })).body.data.id;
    const statuses: [string, RecordingStatus][] = [
      [m1, 'UPLOADED'],
      [m1, 'ERRORED'],
      [m1, 'UPLOADED'],
      [m2, 'UPLOADED'],
      [m2, 'RECORDING'],
    ];
    for (const [i, [m, st]] of statuses.entries()) {
      const r = recording(h.appId, m, st, new Date(Date.UTC(2025, 0, 1 + i)).toISOString());
      recs.push(r);
      await h.server.repo.recordings.insert(r);
    }
  });
  after(() => h.destroy());

  it('lists newest first with paging and the meeting attached', async () => {
    const r = await h.req('GET', `${h.appBase}/recordings?per_page=2`);
    assert.equal(r.status, 200);
    assert.deepEqual(r.body.paging, { total_count: 5, start_offset: 1, end_offset: 2 });
    assert.deepEqual(
      r.body.data.map((x: { id: string }) => x.id),
      [recs[4]!.id, recs[3]!.id],
    );
    assert.equal(r.body.data[0].meeting.id, m2);
    assert.equal(r.body.data[0].meeting.title, 'rec two');
    assert.equal(r.body.data[0].download_url, null, 'no links before UPLOADED');
    const asc = await h.req('GET', `${h.appBase}/recordings?sort_order=ASC&per_page=1&page_no=2`);
    assert.equal(asc.body.data[0].id, recs[1]!.id);
    assert.deepEqual(asc.body.paging, { total_count: 5, start_offset: 2, end_offset: 2 });
  });

  it('leaves stop_reason and error_reason out until there is one (never null)', async () => {
    const running = await h.req('GET', `${h.appBase}/recordings/${recs[4]!.id}`);
    assert.equal(running.status, 200);
    assert.equal(running.body.data.status, 'RECORDING');
    assert.equal(Object.hasOwn(running.body.data, 'stop_reason'), false);
    assert.equal(Object.hasOwn(running.body.data, 'error_reason'), false);
    const listed = (await h.req('GET', `${h.appBase}/recordings?status=RECORDING`)).body.data[0];
    assert.equal(Object.hasOwn(listed, 'stop_reason'), false);
    const stopped = { ...recording(h.appId, m1, 'ERRORED', new Date().toISOString()) };
    stopped.stop_reason = { reason: 'API_CALL' };
    stopped.error_reason = 'nothing was captured';
    await h.server.repo.recordings.insert(stopped);
    const done = await h.req('GET', `${h.appBase}/recordings/${stopped.id}`);
    assert.deepEqual(done.body.data.stop_reason, { reason: 'API_CALL' });
    assert.equal(done.body.data.error_reason, 'nothing was captured');
    await h.server.repo.recordings.delete(stopped.id);
  });

  it('filters by meeting, status (one or many), time range, search and expired', async () => {
    const ids = async (q: string) =>
      ((await h.req('GET', `${h.appBase}/recordings?${q}`)).body.data as { id: string }[])
        .map((x) => x.id)
        .sort();
    assert.deepEqual(await ids(`meeting_id=${m2}`), [recs[3]!.id, recs[4]!.id].sort());
    assert.deepEqual(await ids('status=ERRORED'), [recs[1]!.id]);
    assert.deepEqual(await ids('status=ERRORED&status=RECORDING'), [recs[1]!.id, recs[4]!.id].sort());
    assert.deepEqual(await ids(`meeting_id=${m1}&status=UPLOADED`), [recs[0]!.id, recs[2]!.id].sort());
    assert.deepEqual(
      await ids(`start_time=${recs[1]!.invoked_time}&end_time=${recs[3]!.invoked_time}`),
      [recs[1]!.id, recs[2]!.id, recs[3]!.id].sort(),
      'inclusive on both ends',
    );
    assert.deepEqual(await ids(`search=${recs[2]!.id.slice(0, 13).toUpperCase()}`), [recs[2]!.id]);
    assert.deepEqual(await ids('expired=true'), []);
    assert.equal((await ids('expired=false')).length, 5);
  });

  it('rejects bad list queries', async () => {
    for (const q of [
      'status=DONE',
      'meeting_id=1',
      'sort_by=size',
      'per_page=0',
      'expired=maybe',
      'end_time=x',
    ]) {
      const r = await h.req('GET', `${h.appBase}/recordings?${q}`);
      assert.equal(r.status, 400, q);
      assert.equal(r.body.success, false);
    }
  });

  it('gets one, 404s an unknown one or one of another app', async () => {
    const r = await h.req('GET', `${h.appBase}/recordings/${recs[0]!.id}`);
    assert.equal(r.status, 200);
    assert.equal(r.body.data.id, recs[0]!.id);
    assert.equal(r.body.data.status, 'UPLOADED');
    assert.equal((await h.req('GET', `${h.appBase}/recordings/${MISSING_UUID}`)).status, 404);
    const other = (await h.req('POST', '/client/v4/accounts/local/realtime/kit/apps', { name: 'o' })).body
      .data.app.id;
    const cross = await h.req(
      'GET',
      `/client/v4/accounts/local/realtime/kit/${other}/recordings/${recs[0]!.id}`,
    );
    assert.equal(cross.status, 404);
  });

  it('active-recording: the running one, or 404', async () => {
    const a = await h.req('GET', `${h.appBase}/recordings/active-recording/${m2}`);
    assert.equal(a.status, 200);
    assert.equal(a.body.data.id, recs[4]!.id);
    const none = await h.req('GET', `${h.appBase}/recordings/active-recording/${m1}`);
    assert.equal(none.status, 404);
    assert.match(none.body.error.message, /no active recording/);
    assert.equal(
      (await h.req('GET', `${h.appBase}/recordings/active-recording/${MISSING_UUID}`)).status,
      404,
    );
  });

  it('a stop forwarded by another node takes effect when that node received it; the header alone is not believed', async () => {
    const stopAt = async (headers: Record<string, string>) => {
      const r = recording(h.appId, m1, 'RECORDING', new Date().toISOString());
      await h.server.repo.recordings.insert(r);
      const before = Date.now();
      const res = await h.req('PUT', `${h.appBase}/recordings/${r.id}`, { action: 'stop' }, headers);
      assert.equal(res.status, 200, res.raw);
      return { before, stopped: Date.parse(res.body.data.stopped_time as string) };
    };
    const asked = Date.now() - 5000;
    const fwd = await stopAt({ 'x-trackroom-forwarded-by': 'node-b', 'x-trackroom-asked-at': String(asked) });
    assert.equal(fwd.stopped, asked);
    // Not forwarded, too old, in the future, or not a number: this node's own arrival time.
    const cases: Record<string, string>[] = [
      { 'x-trackroom-asked-at': String(asked) },
      { 'x-trackroom-forwarded-by': 'node-b', 'x-trackroom-asked-at': String(Date.now() - 120_000) },
      { 'x-trackroom-forwarded-by': 'node-b', 'x-trackroom-asked-at': String(Date.now() + 60_000) },
      { 'x-trackroom-forwarded-by': 'node-b', 'x-trackroom-asked-at': '1e12' },
    ];
    for (const headers of cases) {
      const own = await stopAt(headers);
      assert.ok(own.stopped >= own.before && own.stopped <= Date.now(), JSON.stringify(headers));
    }
  });

  it('PUT {action}: pause, resume, stop move forward only; illegal moves are 409 and write nothing', async () => {
    const url = `${h.appBase}/recordings/${recs[4]!.id}`;
    const p = await h.req('PUT', url, { action: 'pause' });
    assert.equal(p.status, 200);
    assert.equal(p.body.data.status, 'PAUSED');
    const before = await h.snapshot();
    const again = await h.req('PUT', url, { action: 'pause' });
    assert.equal(again.status, 409);
    assert.equal(await h.snapshot(), before);
    assert.equal((await h.req('PUT', url, { action: 'resume' })).body.data.status, 'RECORDING');
    const stop = await h.req('PUT', url, { action: 'stop' });
    assert.equal(stop.status, 200);
    // No media plane runs in this in-process server, so nothing was captured: ERRORED, said why.
    assert.equal(stop.body.data.status, 'ERRORED');
    assert.match(stop.body.data.error_reason, /nothing was captured/);
    assert.equal(stop.body.data.stop_reason.reason, 'API_CALL');
    assert.equal((await h.req('PUT', url, { action: 'stop' })).status, 409);
    assert.equal((await h.req('PUT', url, { action: 'resume' })).status, 409);
    for (const b of [{}, { action: 'restart' }, { action: 1 }]) {
      const r = await h.req('PUT', url, b);
      assert.equal(r.status, 400, JSON.stringify(b));
      assert.match(r.body.error.message, /body\.action/);
    }
    assert.equal(
      (await h.req('PUT', `${h.appBase}/recordings/${MISSING_UUID}`, { action: 'stop' })).status,
      404,
    );
  });

  it('track start needs a live session (404) and validates its body (400)', async () => {
    const before = await h.snapshot();
    const r = await h.req('POST', `${h.appBase}/recordings/track`, { meeting_id: m1 });
    assert.equal(r.status, 404);
    assert.match(r.body.error.message, /no active session/);
    for (const b of [
      {},
      { meeting_id: 'x' },
      { meeting_id: m1, max_seconds: 0 },
      { meeting_id: m1, group_by: 'team' },
    ]) {
      assert.equal((await h.req('POST', `${h.appBase}/recordings/track`, b)).status, 400, JSON.stringify(b));
    }
    assert.equal(
      (await h.req('POST', `${h.appBase}/recordings/track`, { meeting_id: MISSING_UUID })).status,
      404,
    );
    assert.equal(await h.snapshot(), before);
  });
});

describe('signed downloads', () => {
  let h: Harness;
  let rec: RecordingRow;
  const content = Buffer.from(Array.from({ length: 1000 }, (_, i) => i % 251));
  before(async () => {
    h = await startHarness();
    const m = (await h.req('POST', `${h.appBase}/meetings`, {})).body.data.id;
    rec = recording(h.appId, m, 'UPLOADED', new Date().toISOString());
    rec.files = [
      {
        layer_name: 'default',
        file_name: 'default_u_p_audio.webm',
        participant_id: 'u',
        custom_participant_id: 'c',
        peer_id: 'p',
        size_bytes: content.length,
        duration_ms: 1000,
        sha256: '',
      },
      {
        layer_name: 'default',
        file_name: 'manifest.json',
        participant_id: '',
        custom_participant_id: '',
        peer_id: null,
        size_bytes: 2,
        duration_ms: 0,
        sha256: '',
      },
    ];
    await h.server.repo.recordings.insert(rec);
    const dir = join(h.dir, 'recordings', rec.id);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'default_u_p_audio.webm'), content);
    writeFileSync(join(dir, 'manifest.json'), '{}');
  });
  after(() => h.destroy());

  const pathOf = (url: string) => url.slice(h.server.config.publicUrl.length);

  it('mints links on read that download without the admin token, with Range support', async () => {
    const r = await h.req('GET', `${h.appBase}/recordings/${rec.id}`);
    const layer = r.body.data.download_url[0];
    assert.equal(layer.layer_name, 'default');
    const link = layer.download_urls['default_u_p_audio.webm'].download_url as string;
    assert.ok(link.startsWith(`${h.server.config.publicUrl}/v1/downloads/${rec.id}/`));
    assert.ok(Date.parse(r.body.data.download_url_expiry) > Date.now());
    assert.ok(r.body.data.manifest_url);

    const full = await h.server.http.inject({ method: 'GET', url: pathOf(link) });
    assert.equal(full.statusCode, 200);
    assert.deepEqual(full.rawPayload, content);
    assert.equal(full.headers['accept-ranges'], 'bytes');
    assert.equal(full.headers['content-type'], 'audio/webm');
    // Readable by a page of another origin (the dashboard on another node): the link is the key.
    assert.equal(full.headers['access-control-allow-origin'], '*');
    assert.match(String(full.headers['access-control-expose-headers']), /content-range/);

    const part = await h.server.http.inject({
      method: 'GET',
      url: pathOf(link),
      headers: { range: 'bytes=10-19' },
    });
    assert.equal(part.statusCode, 206);
    assert.equal(part.headers['content-range'], `bytes 10-19/${content.length}`);
    assert.deepEqual(part.rawPayload, content.subarray(10, 20));
    const tail = await h.server.http.inject({
      method: 'GET',
      url: pathOf(link),
      headers: { range: 'bytes=-5' },
    });
    assert.deepEqual(tail.rawPayload, content.subarray(995));
    const beyond = await h.server.http.inject({
      method: 'GET',
      url: pathOf(link),
      headers: { range: 'bytes=5000-' },
    });
    assert.equal(beyond.statusCode, 416);
    assert.equal(JSON.parse(beyond.body).error.code, 416);
  });

  it('refuses tampered, incomplete and expired links with 403', async () => {
    const signer = h.server.deps.signer;
    const base = h.server.config.publicUrl;
    const good = pathOf(signer.sign(base, rec.id, 'default_u_p_audio.webm', Date.now() + 60_000));
    const u = new URL(good, 'http://x');
    const sig = u.searchParams.get('sig')!;
    const exp = u.searchParams.get('expires')!;
    const variants = [
      `/v1/downloads/${rec.id}/manifest.json?expires=${exp}&sig=${sig}`,
      `/v1/downloads/${rec.id}/default_u_p_audio.webm?expires=${Number(exp) + 1}&sig=${sig}`,
      `/v1/downloads/${rec.id}/default_u_p_audio.webm?expires=${exp}&sig=${sig.slice(0, -2)}AA`,
      `/v1/downloads/${rec.id}/default_u_p_audio.webm?expires=${exp}`,
      `/v1/downloads/${rec.id}/default_u_p_audio.webm`,
    ];
    for (const v of variants) {
      const r = await h.server.http.inject({ method: 'GET', url: v });
      assert.equal(r.statusCode, 403, v);
      const err = JSON.parse(r.body).error;
      assert.equal(err.code, 403);
      assert.match(err.message, /not valid|missing expires or sig/);
    }
    const expired = pathOf(signer.sign(base, rec.id, 'default_u_p_audio.webm', Date.now() - 2000));
    const e = await h.server.http.inject({ method: 'GET', url: expired });
    assert.equal(e.statusCode, 403);
    assert.equal(JSON.parse(e.body).error.message, 'This download link has expired');
    // A well-signed link for a file the recording does not list is 404, never a path from the URL.
    const other = pathOf(signer.sign(base, rec.id, 'secret.txt', Date.now() + 60_000));
    assert.equal((await h.server.http.inject({ method: 'GET', url: other })).statusCode, 404);
    const traversal = await h.server.http.inject({
      method: 'GET',
      url: `/v1/downloads/${rec.id}/..%2F..%2Ftrackroom.db`,
    });
    assert.ok([400, 403, 404].includes(traversal.statusCode));
  });
});
