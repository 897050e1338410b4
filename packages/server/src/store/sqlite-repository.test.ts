import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import fc from 'fast-check';
import { SqliteRepository } from './sqlite-repository.js';
import type { MeetingRow, ParticipantRow } from './types.js';

const dirs: string[] = [];
function dbFile(): string {
  const d = mkdtempSync(join(tmpdir(), 'trackroom-store-'));
  dirs.push(d);
  return join(d, 'test.db');
}
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function meeting(appId: string, i: number, extra: Partial<MeetingRow> = {}): MeetingRow {
  const t = new Date(Date.UTC(2025, 0, 1, 0, 0, i)).toISOString();
  return {
    id: randomUUID(),
    app_id: appId,
    title: `Meeting ${i}`,
    status: i % 3 === 0 ? 'INACTIVE' : 'ACTIVE',
    record_on_start: i % 2 === 0,
    live_stream_on_start: false,
    persist_chat: false,
    summarize_on_end: false,
    transcribe_on_end: false,
    session_keep_alive_time_in_secs: 60,
    recording_config: null,
    ai_config: null,
    created_at: t,
    updated_at: t,
    ...extra,
  };
}

describe('SqliteRepository', () => {
  it('runs migrations once: reopening a file keeps the version and the data', async () => {
    const file = dbFile();
    const a = new SqliteRepository(file);
    const version = a.schemaVersion;
    assert.ok(version >= 1);
    const m = meeting('app', 1);
    await a.meetings.insert(m);
    await a.setSetting('k', 'v1');
    await a.close();
    await a.close(); // idempotent
    for (let i = 0; i < 3; i++) {
      const b = new SqliteRepository(file);
      assert.equal(b.schemaVersion, version);
      assert.deepEqual(await b.meetings.get(m.id), m);
      assert.equal(await b.getSetting('k'), 'v1');
      await b.close();
    }
  });

  it('survives close and reopen with every collection and setting', async () => {
    const file = dbFile();
    const a = new SqliteRepository(file);
    const m = meeting('app', 2, { recording_config: { nested: { deep: [1, 2] } } });
    await a.meetings.insert(m);
    const p: ParticipantRow = {
      id: randomUUID(),
      app_id: 'app',
      meeting_id: m.id,
      custom_participant_id: 'c',
      preset_name: 'host',
      name: null,
      picture: null,
      created_at: m.created_at,
      updated_at: m.updated_at,
    };
    await a.participants.insert(p);
    await a.setSetting('k', 'v1');
    await a.setSetting('k', 'v2');
    await a.meetings.update(m.id, { title: 'changed' });
    await a.close();
    const b = new SqliteRepository(file);
    assert.deepEqual(await b.meetings.get(m.id), { ...m, title: 'changed' });
    assert.deepEqual(await b.participants.get(p.id), p);
    assert.equal(await b.getSetting('k'), 'v2');
    assert.equal(await b.getSetting('missing'), undefined);
    await b.close();
  });

  it('get/update/delete answer undefined/false for missing ids; update never changes the id', async () => {
    const r = new SqliteRepository(dbFile());
    assert.equal(await r.meetings.get('nope'), undefined);
    assert.equal(await r.meetings.update('nope', { title: 'x' }), undefined);
    assert.equal(await r.meetings.delete('nope'), false);
    const m = meeting('app', 3);
    await r.meetings.insert(m);
    const u = await r.meetings.update(m.id, { id: 'other', title: 'y' } as Partial<MeetingRow>);
    assert.equal(u?.id, m.id);
    assert.equal(await r.meetings.delete(m.id), true);
    assert.equal(await r.meetings.get(m.id), undefined);
    await r.close();
  });

  it('enforces one custom_participant_id per meeting with SQLITE_CONSTRAINT_UNIQUE', async () => {
    const r = new SqliteRepository(dbFile());
    const p = (id: string, meetingId: string): ParticipantRow => ({
      id,
      app_id: 'a',
      meeting_id: meetingId,
      custom_participant_id: 'same',
      preset_name: 'x',
      name: null,
      picture: null,
      created_at: '',
      updated_at: '',
    });
    await r.participants.insert(p('1', 'm1'));
    await r.participants.insert(p('2', 'm2'));
    await assert.rejects(r.participants.insert(p('3', 'm1')), { code: 'SQLITE_CONSTRAINT_UNIQUE' });
    await r.close();
  });

  it('lists with where, whereIn, search, range, order and paging', async () => {
    const r = new SqliteRepository(dbFile());
    const rows = Array.from({ length: 30 }, (_, i) => meeting(i < 20 ? 'A' : 'B', i));
    rows[5]!.title = 'Special 50% off_sale';
    for (const m of [...rows].reverse()) await r.meetings.insert(m);

    const a = await r.meetings.list({ where: { app_id: 'A' } });
    assert.equal(a.total, 20);
    const inactive = await r.meetings.list({ where: { app_id: 'A', status: 'INACTIVE' } });
    assert.equal(inactive.total, rows.filter((m, i) => i < 20 && m.status === 'INACTIVE').length);
    const bool = await r.meetings.list({ where: { record_on_start: true } });
    assert.equal(bool.total, 15, 'booleans compare as stored');
    const nul = await r.meetings.list({ where: { recording_config: null } });
    assert.equal(nul.total, 30);

    const inList = await r.meetings.list({
      whereIn: { field: 'id', values: [rows[1]!.id, rows[2]!.id, 'x'] },
    });
    assert.equal(inList.total, 2);
    assert.deepEqual(await r.meetings.list({ whereIn: { field: 'id', values: [] } }), { rows: [], total: 0 });

    const pct = await r.meetings.list({ search: { fields: ['title'], text: '50%' } });
    assert.deepEqual(
      pct.rows.map((m) => m.id),
      [rows[5]!.id],
    );
    const underscore = await r.meetings.list({ search: { fields: ['title'], text: 'f_s' } });
    assert.equal(underscore.total, 1, '_ is literal');
    const ci = await r.meetings.list({ search: { fields: ['title', 'id'], text: 'MEETING 1' } });
    assert.equal(ci.total, 11, 'Meeting 1 and Meeting 10-19');
    const wild = await r.meetings.list({ search: { fields: ['title'], text: '%' } });
    assert.equal(wild.total, 1);

    const range = await r.meetings.list({
      range: { field: 'created_at', from: rows[10]!.created_at, to: rows[12]!.created_at },
    });
    assert.equal(range.total, 3, 'range is inclusive');

    const asc = await r.meetings.list({ orderBy: { field: 'created_at', dir: 'ASC' }, limit: 5, offset: 5 });
    assert.equal(asc.total, 30, 'total ignores paging');
    assert.deepEqual(
      asc.rows.map((m) => m.id),
      rows.slice(5, 10).map((m) => m.id),
    );
    const desc = await r.meetings.list({ orderBy: { field: 'created_at', dir: 'DESC' }, limit: 3 });
    assert.deepEqual(
      desc.rows.map((m) => m.id),
      [rows[29]!.id, rows[28]!.id, rows[27]!.id],
    );
    const past = await r.meetings.list({
      orderBy: { field: 'created_at', dir: 'ASC' },
      limit: 5,
      offset: 100,
    });
    assert.deepEqual(past, { rows: [], total: 30 });
    assert.equal((await r.meetings.findOne({ app_id: 'B', title: 'Meeting 25' }))?.id, rows[25]!.id);
    await r.close();
  });

  it('refuses field names that could inject SQL', async () => {
    const r = new SqliteRepository(dbFile());
    await assert.rejects(
      r.meetings.list({ where: { "title') OR 1=1 --": 'x' } as unknown as { title: string } }),
      /invalid field name/,
    );
    await r.close();
  });

  it('paging covers every row exactly once (property)', async () => {
    const r = new SqliteRepository(dbFile());
    const rows = Array.from({ length: 23 }, (_, i) => meeting('P', i % 7, { title: `t${i}` }));
    for (const m of rows) await r.meetings.insert(m);
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 30 }), fc.constantFrom('ASC', 'DESC'), async (per, dir) => {
        const seen: string[] = [];
        for (let off = 0; off < 23; off += per) {
          const page = await r.meetings.list({
            where: { app_id: 'P' },
            orderBy: { field: 'created_at', dir: dir as 'ASC' | 'DESC' },
            limit: per,
            offset: off,
          });
          assert.equal(page.total, 23);
          seen.push(...page.rows.map((m) => m.id));
        }
        assert.equal(seen.length, 23);
        assert.equal(new Set(seen).size, 23, 'ties on created_at are broken by id, so pages never overlap');
      }),
      { numRuns: 40 },
    );
    await r.close();
  });

  it('transactions roll back every write when the callback throws', async () => {
    const r = new SqliteRepository(dbFile());
    const m = meeting('T', 1);
    await assert.rejects(
      r.transaction(async () => {
        await r.meetings.insert(m);
        await r.setSetting('tx', 'yes');
        throw new Error('boom');
      }),
      /boom/,
    );
    assert.equal(await r.meetings.get(m.id), undefined);
    assert.equal(await r.getSetting('tx'), undefined);
    const ok = await r.transaction(async () => {
      await r.meetings.insert(m);
      return 7;
    });
    assert.equal(ok, 7);
    assert.ok(await r.meetings.get(m.id));
    await r.close();
  });
});
