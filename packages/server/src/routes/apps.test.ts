import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ISO_RE, PREFIX, UUID_RE, startHarness, type Harness } from '../http/test-harness.js';

describe('apps routes', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness();
  });
  after(() => h.destroy());

  it('creates a default app on the first start, listed by GET .../apps', async () => {
    const r = await h.req('GET', `${PREFIX}/apps`);
    assert.equal(r.status, 200);
    assert.equal(r.body.success, true);
    assert.equal(r.body.data.length, 1);
    const app = r.body.data[0];
    assert.equal(app.id, h.appId);
    assert.match(app.id, UUID_RE);
    assert.equal(app.name, 'default');
    assert.match(app.created_at, ISO_RE);
    assert.deepEqual(r.body.paging, { total_count: 1, start_offset: 1, end_offset: 1 });
  });

  it('gives every app the presets group_call_host and group_call_participant', async () => {
    const created = await h.req('POST', `${PREFIX}/apps`, { name: 'second' });
    for (const appId of [h.appId, created.body.data.app.id as string]) {
      const r = await h.req('GET', `${PREFIX}/${appId}/presets`);
      assert.equal(r.status, 200);
      const names = (r.body.data as { name: string }[]).map((p) => p.name).sort();
      assert.deepEqual(names, ['group_call_host', 'group_call_participant']);
    }
  });

  it('POST .../apps answers 200 with data.app, as the contract says, and the app is usable', async () => {
    const r = await h.req('POST', `${PREFIX}/apps`, { name: 'third app' });
    assert.equal(r.status, 200);
    assert.equal(r.body.success, true);
    const app = r.body.data.app;
    assert.match(app.id, UUID_RE);
    assert.equal(app.name, 'third app');
    assert.match(app.created_at, ISO_RE);
    const got = await h.req('GET', `${PREFIX}/apps/${app.id}`);
    assert.equal(got.status, 200);
    assert.deepEqual(got.body, { success: true, data: app });
    const meeting = await h.req('POST', `${PREFIX}/${app.id}/meetings`, { title: 'in third' });
    assert.equal(meeting.status, 201);
    // Apps are separate: a meeting of one app is not found through another.
    const cross = await h.req('GET', `${h.appBase}/meetings/${meeting.body.data.id}`);
    assert.equal(cross.status, 404);
  });

  it('lists apps with paging, sort order and search', async () => {
    for (const n of ['alpha-1', 'alpha-2', 'beta-1']) await h.req('POST', `${PREFIX}/apps`, { name: n });
    const all = await h.req('GET', `${PREFIX}/apps?per_page=100`);
    const total = all.body.paging.total_count as number;
    assert.equal(all.body.data.length, total);
    const desc = (all.body.data as { created_at: string }[]).map((a) => a.created_at);
    assert.deepEqual(desc, [...desc].sort().reverse(), 'newest first by default');

    const asc = await h.req('GET', `${PREFIX}/apps?per_page=100&sort_order=ASC`);
    assert.equal(asc.body.data[0].id, h.appId, 'the default app is the oldest');

    const page2 = await h.req('GET', `${PREFIX}/apps?per_page=2&page_no=2&sort_order=ASC`);
    assert.deepEqual(page2.body.paging, { total_count: total, start_offset: 3, end_offset: 4 });
    assert.deepEqual(page2.body.data, asc.body.data.slice(2, 4));

    const search = await h.req('GET', `${PREFIX}/apps?search=ALPHA`);
    assert.deepEqual((search.body.data as { name: string }[]).map((a) => a.name).sort(), [
      'alpha-1',
      'alpha-2',
    ]);
    assert.equal(search.body.paging.total_count, 2);
  });

  it('rejects a bad create without writing', async () => {
    const before = await h.snapshot();
    for (const [body, re] of [
      [{}, /body\.name is required/],
      [{ name: '' }, /body\.name/],
      [{ name: 42 }, /body\.name must be string/],
      [{ name: 'x'.repeat(256) }, /body\.name/],
    ] as const) {
      const r = await h.req('POST', `${PREFIX}/apps`, body);
      assert.equal(r.status, 400, JSON.stringify(body));
      assert.equal(r.body.error.code, 400);
      assert.match(r.body.error.message, re);
    }
    assert.equal(await h.snapshot(), before);
  });
});
