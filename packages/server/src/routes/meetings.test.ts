import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ISO_RE, MISSING_UUID, UUID_RE, startHarness, type Harness } from '../http/test-harness.js';

describe('meetings routes', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness();
  });
  after(() => h.destroy());

  it('creates with 201 and defaults, gets it back, and stores it', async () => {
    const r = await h.req('POST', `${h.appBase}/meetings`, { title: 'Standup', record_on_start: false });
    assert.equal(r.status, 201);
    assert.equal(r.body.success, true);
    const m = r.body.data;
    assert.match(m.id, UUID_RE);
    assert.equal(m.title, 'Standup');
    assert.equal(m.status, 'ACTIVE');
    assert.equal(m.record_on_start, false);
    assert.equal(m.live_stream_on_start, false);
    assert.equal(m.persist_chat, false);
    assert.equal(m.session_keep_alive_time_in_secs, 60);
    assert.match(m.created_at, ISO_RE);
    assert.equal(m.created_at, m.updated_at);
    assert.equal(m.app_id, undefined, 'internal fields never leave');
    const got = await h.req('GET', `${h.appBase}/meetings/${m.id}`);
    assert.equal(got.status, 200);
    assert.deepEqual(got.body, { success: true, data: m });
  });

  it('leaves title out when the meeting has none; null is "none" as the contract allows', async () => {
    const r = await h.req('POST', `${h.appBase}/meetings`, {});
    assert.equal(r.status, 201);
    assert.equal('title' in r.body.data, false);
    const n = await h.req('POST', `${h.appBase}/meetings`, { title: null, record_on_start: null });
    assert.equal(n.status, 201);
    assert.equal('title' in n.body.data, false);
    assert.equal(n.body.data.record_on_start, false);
    const t = await h.req('PATCH', `${h.appBase}/meetings/${n.body.data.id}`, { title: 'Named' });
    assert.equal(t.body.data.title, 'Named');
    const cleared = await h.req('PATCH', `${h.appBase}/meetings/${n.body.data.id}`, {
      title: null,
      live_stream_on_start: null,
    });
    assert.equal(cleared.status, 200);
    assert.equal('title' in cleared.body.data, false);
    assert.equal(cleared.body.data.live_stream_on_start, false);
  });

  it('PATCH changes only the given fields; PUT replaces all of them', async () => {
    const c = await h.req('POST', `${h.appBase}/meetings`, {
      title: 'Edit me',
      persist_chat: true,
      session_keep_alive_time_in_secs: 120,
    });
    const id = c.body.data.id as string;
    const p = await h.req('PATCH', `${h.appBase}/meetings/${id}`, { status: 'INACTIVE' });
    assert.equal(p.status, 200);
    assert.equal(p.body.data.status, 'INACTIVE');
    assert.equal(p.body.data.title, 'Edit me');
    assert.equal(p.body.data.persist_chat, true);
    assert.equal(p.body.data.session_keep_alive_time_in_secs, 120);
    assert.ok(p.body.data.updated_at >= c.body.data.updated_at);
    assert.equal(p.body.data.created_at, c.body.data.created_at);

    const put = await h.req('PUT', `${h.appBase}/meetings/${id}`, { title: 'Replaced' });
    assert.equal(put.status, 200);
    assert.equal(put.body.data.title, 'Replaced');
    assert.equal(put.body.data.status, 'ACTIVE');
    assert.equal(put.body.data.persist_chat, false);
    assert.equal(put.body.data.session_keep_alive_time_in_secs, 60);
    assert.deepEqual((await h.req('GET', `${h.appBase}/meetings/${id}`)).body.data, put.body.data);
  });

  it('answers 404 for an unknown meeting and 400 naming meeting_id for a non-UUID', async () => {
    for (const method of ['GET', 'PATCH', 'PUT']) {
      const body = method === 'GET' ? undefined : { title: 'x' };
      const r = await h.req(method, `${h.appBase}/meetings/${MISSING_UUID}`, body);
      assert.equal(r.status, 404, method);
      assert.deepEqual(r.body.error, { code: 404, message: `Meeting ${MISSING_UUID} not found` });
      const bad = await h.req(method, `${h.appBase}/meetings/12345`, body);
      assert.equal(bad.status, 400, method);
      assert.match(bad.body.error.message, /meeting_id/);
    }
  });

  describe('list', () => {
    let l: Harness;
    const ids: string[] = [];
    before(async () => {
      l = await startHarness();
      for (let i = 0; i < 7; i++) {
        const r = await l.req('POST', `${l.appBase}/meetings`, {
          title: `Weekly ${i % 2 ? 'Sync' : 'Review'} #${i}`,
        });
        ids.push(r.body.data.id);
      }
      await l.req('PATCH', `${l.appBase}/meetings/${ids[0]}`, { status: 'INACTIVE' });
    });
    after(() => l.destroy());

    it('pages newest first with 1-based inclusive offsets', async () => {
      const p1 = await l.req('GET', `${l.appBase}/meetings?per_page=3`);
      assert.equal(p1.status, 200);
      assert.deepEqual(p1.body.paging, { total_count: 7, start_offset: 1, end_offset: 3 });
      assert.deepEqual(
        p1.body.data.map((m: { id: string }) => m.id),
        [...ids].reverse().slice(0, 3),
      );
      const p3 = await l.req('GET', `${l.appBase}/meetings?per_page=3&page_no=3`);
      assert.deepEqual(p3.body.paging, { total_count: 7, start_offset: 7, end_offset: 7 });
      assert.deepEqual(
        p3.body.data.map((m: { id: string }) => m.id),
        [ids[0]],
      );
      const past = await l.req('GET', `${l.appBase}/meetings?per_page=3&page_no=9`);
      assert.equal(past.status, 200);
      assert.deepEqual(past.body.data, []);
      assert.deepEqual(past.body.paging, { total_count: 7, start_offset: 25, end_offset: 24 });
      const zero = await l.req('GET', `${l.appBase}/meetings?per_page=3&page_no=0`);
      assert.deepEqual(zero.body, p1.body, 'page 0 is the first page');
      const all = await l.req('GET', `${l.appBase}/meetings`);
      assert.equal(all.body.data.length, 7, 'default per_page is 20');
    });

    it('filters by status, search (title or id, case-insensitive) and time range', async () => {
      const inactive = await l.req('GET', `${l.appBase}/meetings?status=INACTIVE`);
      assert.deepEqual(
        inactive.body.data.map((m: { id: string }) => m.id),
        [ids[0]],
      );
      assert.equal(inactive.body.paging.total_count, 1);
      const active = await l.req('GET', `${l.appBase}/meetings?status=ACTIVE`);
      assert.equal(active.body.paging.total_count, 6);

      const sync = await l.req('GET', `${l.appBase}/meetings?search=sYnC`);
      assert.equal(sync.body.paging.total_count, 3);
      for (const m of sync.body.data) assert.match(m.title, /Sync/);
      const byId = await l.req('GET', `${l.appBase}/meetings?search=${ids[4]}`);
      assert.deepEqual(
        byId.body.data.map((m: { id: string }) => m.id),
        [ids[4]],
      );
      const none = await l.req('GET', `${l.appBase}/meetings?search=${encodeURIComponent('%')}`);
      assert.equal(none.body.paging.total_count, 0, '% is matched literally, not as a wildcard');

      const all = (await l.req('GET', `${l.appBase}/meetings`)).body.data as {
        id: string;
        created_at: string;
      }[];
      const third = all.find((m) => m.id === ids[2])!;
      const from = await l.req(
        'GET',
        `${l.appBase}/meetings?start_time=${encodeURIComponent(third.created_at)}`,
      );
      for (const m of from.body.data) assert.ok(m.created_at >= third.created_at);
      assert.ok(
        from.body.data.some((m: { id: string }) => m.id === ids[2]),
        'start_time is inclusive',
      );
      const to = await l.req('GET', `${l.appBase}/meetings?end_time=${encodeURIComponent(third.created_at)}`);
      for (const m of to.body.data) assert.ok(m.created_at <= third.created_at);
      assert.ok(
        to.body.data.some((m: { id: string }) => m.id === ids[2]),
        'end_time is inclusive',
      );
      assert.equal(from.body.paging.total_count + to.body.paging.total_count >= 8, true);
      const future = await l.req('GET', `${l.appBase}/meetings?start_time=2999-01-01T00:00:00Z`);
      assert.equal(future.body.paging.total_count, 0);
    });

    it('rejects bad list queries with 400 naming the parameter', async () => {
      for (const [q, re] of [
        ['per_page=0', /per_page/],
        ['per_page=101', /per_page/],
        ['per_page=abc', /per_page/],
        ['per_page=2.5', /per_page/],
        ['page_no=-1', /page_no/],
        ['page_no=1000001', /page_no/],
        ['status=OPEN', /status/],
        ['start_time=yesterday', /start_time/],
        ['end_time=2024-13-01T00:00:00Z', /end_time/],
      ] as const) {
        const r = await l.req('GET', `${l.appBase}/meetings?${q}`);
        assert.equal(r.status, 400, q);
        assert.equal(r.body.success, false);
        assert.match(r.body.error.message, re, q);
      }
    });
  });

  it('rejects bad bodies with 400 naming the field, writing nothing', async () => {
    const id = (await h.req('POST', `${h.appBase}/meetings`, { title: 'target' })).body.data.id as string;
    const cases: [string, string, unknown, RegExp][] = [
      ['POST', '', { title: 42 }, /body\.title must be string/],
      ['POST', '', { record_on_start: 'true' }, /body\.record_on_start must be boolean/],
      ['POST', '', { session_keep_alive_time_in_secs: 601 }, /session_keep_alive_time_in_secs/],
      ['POST', '', { session_keep_alive_time_in_secs: -1 }, /session_keep_alive_time_in_secs/],
      ['POST', '', { recording_config: 'x' }, /recording_config/],
      ['POST', '', { title: 'x'.repeat(1025) }, /body\.title/],
      ['PATCH', `/${id}`, { status: 'DONE' }, /body\.status must be one of ACTIVE, INACTIVE/],
      ['PATCH', `/${id}`, { persist_chat: 1 }, /persist_chat/],
      ['PUT', `/${id}`, { title: ['x'] }, /title/],
    ];
    const before = await h.snapshot();
    for (const [method, path, body, re] of cases) {
      const r = await h.req(method, `${h.appBase}/meetings${path}`, body);
      assert.equal(r.status, 400, `${method} ${JSON.stringify(body)}`);
      assert.deepEqual(Object.keys(r.body), ['success', 'error']);
      assert.match(r.body.error.message, re);
    }
    assert.equal(await h.snapshot(), before);
  });
});
