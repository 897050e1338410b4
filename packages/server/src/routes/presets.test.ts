import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ISO_RE, MISSING_UUID, UUID_RE, startHarness, type Harness } from '../http/test-harness.js';

describe('presets routes', () => {
  let h: Harness;
  let base: string;
  before(async () => {
    h = await startHarness();
    base = `${h.appBase}/presets`;
  });
  after(() => h.destroy());

  const body = (name: string) => ({
    name,
    config: { view_type: 'GROUP_CALL' },
    ui: { design_tokens: { theme: 'light' } },
    permissions: { media: { video: { can_produce: 'NOT_ALLOWED' } } },
  });

  it('default presets carry the permission fields the server acts on', async () => {
    const list = await h.req('GET', base);
    for (const item of list.body.data) {
      assert.deepEqual(Object.keys(item).sort(), ['created_at', 'id', 'name', 'updated_at']);
      const full = await h.req('GET', `${base}/${item.id}`);
      const perms = full.body.data.permissions;
      assert.equal(perms.media.audio.can_produce, 'ALLOWED');
      assert.equal(perms.can_record, item.name === 'group_call_host');
      assert.equal(perms.hidden_participant, false);
      assert.equal(perms.is_recorder, false);
    }
  });

  it('creates with 201, gets, patches, replaces and deletes', async () => {
    const c = await h.req('POST', base, body('webinar_viewer'));
    assert.equal(c.status, 201);
    const p = c.body.data;
    assert.match(p.id, UUID_RE);
    assert.match(p.created_at, ISO_RE);
    assert.deepEqual(p.config, { view_type: 'GROUP_CALL' });
    assert.deepEqual(p.permissions, { media: { video: { can_produce: 'NOT_ALLOWED' } } });
    assert.deepEqual((await h.req('GET', `${base}/${p.id}`)).body, { success: true, data: p });

    const patched = await h.req('PATCH', `${base}/${p.id}`, { ui: { x: 1 } });
    assert.equal(patched.status, 200);
    assert.deepEqual(patched.body.data.ui, { x: 1 });
    assert.deepEqual(patched.body.data.config, p.config);

    const replaced = await h.req('PUT', `${base}/${p.id}`, { name: 'webinar_viewer', config: {}, ui: {} });
    assert.equal(replaced.status, 200);
    assert.deepEqual(replaced.body.data.permissions, {}, 'PUT clears permissions it does not give');

    const del = await h.req('DELETE', `${base}/${p.id}`);
    assert.equal(del.status, 200);
    assert.equal(del.body.data.id, p.id);
    assert.equal((await h.req('GET', `${base}/${p.id}`)).status, 404);
    assert.equal((await h.req('DELETE', `${base}/${p.id}`)).status, 404);
  });

  it('lists with paging and search', async () => {
    for (const n of ['find-me-1', 'find-me-2', 'other']) await h.req('POST', base, body(n));
    const s = await h.req('GET', `${base}?search=FIND-me`);
    assert.deepEqual(s.body.data.map((p: { name: string }) => p.name).sort(), ['find-me-1', 'find-me-2']);
    const all = await h.req('GET', base);
    const total = all.body.paging.total_count as number;
    const last = await h.req('GET', `${base}?per_page=2&page_no=${Math.ceil(total / 2)}`);
    assert.equal(last.body.paging.end_offset, total);
    assert.equal(last.body.paging.end_offset - last.body.paging.start_offset + 1, last.body.data.length);
  });

  it('keeps names unique (409) and rejects bad bodies (400), writing nothing', async () => {
    const other = (await h.req('POST', base, body('unique-b'))).body.data;
    const before = await h.snapshot();
    const dup = await h.req('POST', base, body('group_call_host'));
    assert.equal(dup.status, 409);
    assert.match(dup.body.error.message, /group_call_host/);
    const rename = await h.req('PATCH', `${base}/${other.id}`, { name: 'group_call_host' });
    assert.equal(rename.status, 409);
    for (const [b, re] of [
      [{ config: {}, ui: {} }, /body\.name is required/],
      [{ name: 'x', ui: {} }, /body\.config is required/],
      [{ name: 'x', config: {} }, /body\.ui is required/],
      [{ name: 'x', config: [], ui: {} }, /body\.config must be object/],
      [{ name: 'bad/name', config: {}, ui: {} }, /body\.name/],
      [{ name: 'x', config: {}, ui: {}, permissions: 'all' }, /permissions/],
    ] as const) {
      const r = await h.req('POST', base, b);
      assert.equal(r.status, 400, JSON.stringify(b));
      assert.match(r.body.error.message, re);
    }
    assert.equal((await h.req('GET', `${base}/${MISSING_UUID}`)).status, 404);
    assert.equal((await h.req('GET', `${base}/nope`)).status, 400);
    assert.equal(await h.snapshot(), before);
  });

  it('refuses to delete a preset in use; a rename carries its participants along', async () => {
    const preset = (await h.req('POST', base, body('in-use'))).body.data;
    const meeting = (await h.req('POST', `${h.appBase}/meetings`, {})).body.data.id;
    const pBase = `${h.appBase}/meetings/${meeting}/participants`;
    const part = (await h.req('POST', pBase, { custom_participant_id: 'u', preset_name: 'in-use' })).body
      .data;

    const before = await h.snapshot();
    const del = await h.req('DELETE', `${base}/${preset.id}`);
    assert.equal(del.status, 409);
    assert.equal(await h.snapshot(), before);

    const renamed = await h.req('PATCH', `${base}/${preset.id}`, { name: 'renamed' });
    assert.equal(renamed.status, 200);
    const got = await h.req('GET', `${pBase}/${part.id}`);
    assert.equal(got.body.data.preset_name, 'renamed', 'the participant follows its preset');
    // A new participant can use the new name, and the old one is gone.
    assert.equal(
      (await h.req('POST', pBase, { custom_participant_id: 'v', preset_name: 'renamed' })).status,
      201,
    );
    assert.equal(
      (await h.req('POST', pBase, { custom_participant_id: 'w', preset_name: 'in-use' })).status,
      400,
    );
  });
});
