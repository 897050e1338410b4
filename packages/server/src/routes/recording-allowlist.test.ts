import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { RecordingAllowlistChange } from '@trackroom/protocol';
import { MISSING_UUID, startHarness, type Harness } from '../http/test-harness.js';
import type { TrackRecordingEngine } from '../services/recording-service.js';
import type { RecordingRow, RecordingStatus } from '../store/types.js';

function row(
  h: Harness,
  meetingId: string,
  status: RecordingStatus,
  o: Partial<RecordingRow> = {},
): RecordingRow {
  const now = new Date().toISOString();
  return {
    id: randomUUID(),
    app_id: h.appId,
    meeting_id: meetingId,
    session_id: null,
    type: 'TRACK',
    status,
    invoked_time: now,
    started_time: now,
    stopped_time: null,
    output_file_name: 'x.webm',
    user_ids: ['alice', 'bob'],
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
    created_at: now,
    updated_at: now,
    ...o,
  };
}

/** A media side that answers as the recorder does (the list arithmetic is the recorder's, tested there). */
function fakeEngine(calls: unknown[]): TrackRecordingEngine {
  return {
    start: async () => undefined,
    pause: () => undefined,
    resume: () => undefined,
    stop: async () => [],
    repair: async () => [],
    updateUsers: async (recordingId, c): Promise<RecordingAllowlistChange> => {
      calls.push({ recordingId, ...c });
      return {
        at_ms: 1234,
        at: new Date(c.atMs).toISOString(),
        added_user_ids: c.add,
        removed_user_ids: c.remove,
        user_ids: ['alice', ...c.add],
        by: c.by,
        files_closed: ['b.webm'],
        files_opened: ['c.webm'],
      };
    },
  };
}

describe('PATCH recordings/:id (live allowlist changes, extension)', () => {
  let h: Harness;
  let meeting: string;
  const calls: unknown[] = [];
  before(async () => {
    h = await startHarness({ env: { NODE_ID: 'node-a' } });
    meeting = (await h.req('POST', `${h.appBase}/meetings`, { title: 'allowlist' })).body.data.id;
    h.server.deps.recordings.engine = fakeEngine(calls);
    await h.req('POST', `${h.appBase}/webhooks`, {
      name: 'rec',
      url: 'http://127.0.0.1:9/',
      events: ['recording.statusUpdate'],
    });
  });
  after(() => h.destroy());

  // Only the recordings: the webhook deliveries of earlier tests are being retried meanwhile.
  const recordingRows = async () => JSON.stringify((await h.server.repo.recordings.list({})).rows);
  const patch = (id: string, body: unknown) => h.req('PATCH', `${h.appBase}/recordings/${id}`, body);

  it('applies a change: answers and stores the new user_ids, the change, and sends it in a webhook', async () => {
    const r = row(h, meeting, 'RECORDING', { node_id: 'node-a' });
    await h.server.repo.recordings.insert(r);
    const res = await patch(r.id, { add_user_ids: ['carol'], remove_user_ids: ['bob'] });
    assert.equal(res.status, 200, res.raw);
    assert.deepEqual(res.body.data.user_ids, ['alice', 'carol']);
    assert.equal(res.body.data.status, 'RECORDING');
    assert.equal(res.body.data.allowlist_changes.length, 1);
    assert.deepEqual(res.body.data.allowlist_changes[0].by, { type: 'api_token' });
    assert.deepEqual(calls.at(-1), {
      recordingId: r.id,
      atMs: (calls.at(-1) as { atMs: number }).atMs,
      add: ['carol'],
      remove: ['bob'],
      by: { type: 'api_token' },
    });
    const got = await h.req('GET', `${h.appBase}/recordings/${r.id}`);
    assert.deepEqual(got.body.data.user_ids, ['alice', 'carol']);
    assert.deepEqual(got.body.data.allowlist_changes, res.body.data.allowlist_changes);
    const { rows } = await h.server.repo.webhookDeliveries.list({
      where: { event: 'recording.statusUpdate' },
    });
    const sent = rows.map((d) => JSON.parse(d.body)).find((b) => b.recording?.id === r.id);
    assert.ok(sent, 'a recording.statusUpdate carries the change');
    assert.deepEqual(sent.allowlistChange, res.body.data.allowlist_changes[0]);
    assert.deepEqual(sent.recording.userIds, ['alice', 'carol']);
    assert.equal(sent.recording.status, 'RECORDING');
  });

  it('keeps every one of concurrent changes (they run one after the other)', async () => {
    const r = row(h, meeting, 'RECORDING', { user_ids: ['alice'] });
    await h.server.repo.recordings.insert(r);
    const answers = await Promise.all([
      patch(r.id, { add_user_ids: ['x1'] }),
      patch(r.id, { add_user_ids: ['x2'] }),
      patch(r.id, { add_user_ids: ['x3'] }),
    ]);
    for (const a of answers) assert.equal(a.status, 200, a.raw);
    const got = await h.req('GET', `${h.appBase}/recordings/${r.id}`);
    assert.deepEqual(
      got.body.data.allowlist_changes.map((c: { added_user_ids: string[] }) => c.added_user_ids[0]).sort(),
      ['x1', 'x2', 'x3'],
      'none lost (their order is the order they reached the service)',
    );
  });

  it('works on a PAUSED recording and allows removing everyone', async () => {
    const r = row(h, meeting, 'PAUSED', { user_ids: ['alice'] });
    await h.server.repo.recordings.insert(r);
    const res = await patch(r.id, { remove_user_ids: ['alice'] });
    assert.equal(res.status, 200, res.raw);
    assert.equal(res.body.data.status, 'PAUSED');
  });

  it('refuses bad bodies with a 400 naming the field, and writes nothing', async () => {
    const r = row(h, meeting, 'RECORDING');
    await h.server.repo.recordings.insert(r);
    const before = await recordingRows();
    const n = calls.length;
    const cases: [unknown, RegExp][] = [
      [{}, /add_user_ids or remove_user_ids/],
      [{ add_user_ids: [], remove_user_ids: [] }, /add_user_ids or remove_user_ids/],
      [{ add_user_ids: ['x'], user_ids: ['y'] }, /user_ids/],
      [{ add_user_ids: 'carol' }, /add_user_ids/],
      [{ remove_user_ids: [7] }, /remove_user_ids/],
      [{ add_user_ids: [''] }, /add_user_ids/],
      [{ add_user_ids: ['x'.repeat(256)] }, /add_user_ids/],
      [{ add_user_ids: ['a', 'a'] }, /add_user_ids/],
      [{ add_user_ids: Array.from({ length: 101 }, (_, i) => `u${i}`) }, /add_user_ids/],
      [{ add_user_ids: ['carol'], remove_user_ids: ['carol'] }, /both name user id "carol"/],
    ];
    for (const [body, msg] of cases) {
      const res = await patch(r.id, body);
      assert.equal(res.status, 400, JSON.stringify(body));
      assert.equal(res.body.success, false);
      assert.match(res.body.error.message, msg, JSON.stringify(body));
    }
    assert.equal(calls.length, n, 'the media side was never asked');
    assert.equal(await recordingRows(), before, 'no recording row changed');
  });

  it('answers 404, 409 and HOSTED_ELSEWHERE as the state says', async () => {
    assert.equal((await patch(MISSING_UUID, { add_user_ids: ['a'] })).status, 404);
    const stopped = row(h, meeting, 'UPLOADED');
    const errored = row(h, meeting, 'ERRORED');
    const everyone = row(h, meeting, 'RECORDING', { user_ids: null });
    const composite = row(h, meeting, 'RECORDING', { type: 'COMPOSITE' });
    const elsewhere = row(h, meeting, 'RECORDING', { node_id: 'node-b' });
    for (const r of [stopped, errored, everyone, composite, elsewhere])
      await h.server.repo.recordings.insert(r);
    const before = await recordingRows();
    for (const [r, msg] of [
      [stopped, /UPLOADED/],
      [errored, /ERRORED/],
      [everyone, /records everyone/],
      [composite, /COMPOSITE/],
      [elsewhere, /another server/],
    ] as const) {
      const res = await patch(r.id, { add_user_ids: ['carol'] });
      assert.equal(res.status, 409, res.raw);
      assert.match(res.body.error.message, msg);
    }
    assert.equal(await recordingRows(), before, 'no recording row changed');
  });

  it('is listed in the API reference as an extension', async () => {
    const doc = await h.req('GET', '/openapi.json');
    const path = Object.keys(doc.body.paths).find((p) => p.endsWith('/recordings/{recording_id}'));
    assert.ok(path && doc.body.paths[path].patch, 'PATCH documented');
  });
});
