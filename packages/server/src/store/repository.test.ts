import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import fc from 'fast-check';
import { pgTestSchema, pgTestUrl, dropPgTestSchemas } from '../testing/postgres-test.js';
import { PostgresRepository } from './postgres-repository.js';
import { DuplicateKeyError, type Repository } from './repository.js';
import { SqliteRepository } from './sqlite-repository.js';
import type { MeetingRow, ParticipantRow, SessionRow } from './types.js';

/**
 * The repository contract, run on both stores: SQLite (the embedded default) and PostgreSQL (a real
 * server: TRACKROOM_TEST_DATABASE_URL, default the local socket; the test fails when it is not there).
 */
type Repo = Repository & { readonly schemaVersion: number };
interface Store {
  name: string;
  /** A new empty database; `open()` opens (or reopens) that same database. */
  fresh(): { open(): Promise<Repo> };
}
const STORES: Store[] = [
  {
    name: 'SqliteRepository',
    fresh() {
      const file = dbFile();
      return { open: async () => new SqliteRepository(file) };
    },
  },
  {
    name: 'PostgresRepository',
    fresh() {
      const schema = pgTestSchema();
      return { open: () => PostgresRepository.open(pgTestUrl(), { schema }) };
    },
  },
];
const open = (s: Store) => s.fresh().open();

const dirs: string[] = [];
function dbFile(): string {
  const d = mkdtempSync(join(tmpdir(), 'trackroom-store-'));
  dirs.push(d);
  return join(d, 'test.db');
}
after(async () => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  await dropPgTestSchemas();
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

for (const store of STORES)
  describe(store.name, () => {
    it('runs migrations once: reopening a file keeps the version and the data', async () => {
      const db = store.fresh();
      const a = await db.open();
      const version = a.schemaVersion;
      assert.ok(version >= 1);
      const m = meeting('app', 1);
      await a.meetings.insert(m);
      await a.setSetting('k', 'v1');
      await a.close();
      await a.close(); // idempotent
      for (let i = 0; i < 3; i++) {
        const b = await db.open();
        assert.equal(b.schemaVersion, version);
        assert.deepEqual(await b.meetings.get(m.id), m);
        assert.equal(await b.getSetting('k'), 'v1');
        await b.close();
      }
    });

    it('survives close and reopen with every collection and setting', async () => {
      const db = store.fresh();
      const a = await db.open();
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
      const b = await db.open();
      assert.deepEqual(await b.meetings.get(m.id), { ...m, title: 'changed' });
      assert.deepEqual(await b.participants.get(p.id), p);
      assert.equal(await b.getSetting('k'), 'v2');
      assert.equal(await b.getSetting('missing'), undefined);
      await b.close();
    });

    it('get/update/delete answer undefined/false for missing ids; update never changes the id', async () => {
      const r = await open(store);
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

    it('enforces one custom_participant_id per meeting with DuplicateKeyError', async () => {
      const r = await open(store);
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
      await assert.rejects(r.participants.insert(p('3', 'm1')), DuplicateKeyError);
      await assert.rejects(r.participants.insert(p('1', 'm3')), DuplicateKeyError, 'a taken id too');
      // Twenty inserts of the same custom id at once: exactly one lands.
      const racing = await Promise.allSettled(
        Array.from({ length: 20 }, (_, i) => r.participants.insert(p(`r${i}`, 'm9'))),
      );
      assert.equal(racing.filter((x) => x.status === 'fulfilled').length, 1);
      for (const x of racing) if (x.status === 'rejected') assert.ok(x.reason instanceof DuplicateKeyError);
      await r.close();
    });

    it('keeps one LIVE session per meeting (DuplicateKeyError); ended ones do not count', async () => {
      const r = await open(store);
      const s = (id: string, meetingId: string, status: 'LIVE' | 'ENDED'): SessionRow => ({
        id,
        app_id: 'a',
        meeting_id: meetingId,
        status,
        meeting_display_name: '',
        started_at: '',
        ended_at: null,
        live_participants: 0,
        max_concurrent_participants: 0,
        created_at: '',
        updated_at: '',
      });
      await r.sessions.insert(s('e1', 'm1', 'ENDED'));
      await r.sessions.insert(s('e2', 'm1', 'ENDED'));
      await r.sessions.insert(s('l1', 'm1', 'LIVE'));
      await r.sessions.insert(s('l2', 'm2', 'LIVE'));
      await assert.rejects(r.sessions.insert(s('l3', 'm1', 'LIVE')), DuplicateKeyError);
      await r.sessions.update('l1', { status: 'ENDED' });
      await r.sessions.insert(s('l4', 'm1', 'LIVE'));
      const racing = await Promise.allSettled(
        Array.from({ length: 10 }, (_, i) => r.sessions.insert(s(`x${i}`, 'm5', 'LIVE'))),
      );
      assert.equal(racing.filter((x) => x.status === 'fulfilled').length, 1);
      await r.close();
    });

    it('lists with where, whereIn, search, range, order and paging', async () => {
      const r = await open(store);
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
      assert.deepEqual(await r.meetings.list({ whereIn: { field: 'id', values: [] } }), {
        rows: [],
        total: 0,
      });

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

      const asc = await r.meetings.list({
        orderBy: { field: 'created_at', dir: 'ASC' },
        limit: 5,
        offset: 5,
      });
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
      // The last, short page (SQLite counts nothing then), a page that is exactly full, and one
      // from a non-zero offset that ends the result: the same total each time.
      const lastPage = await r.meetings.list({
        orderBy: { field: 'created_at', dir: 'ASC' },
        limit: 7,
        offset: 28,
      });
      assert.deepEqual([lastPage.rows.length, lastPage.total], [2, 30]);
      const full = await r.meetings.list({ where: { app_id: 'B' }, limit: 10 });
      assert.deepEqual([full.rows.length, full.total], [10, 10]);
      const fewer = await r.meetings.list({ where: { app_id: 'B' }, limit: 10, offset: 4 });
      assert.deepEqual([fewer.rows.length, fewer.total], [6, 10]);
      const unlimited = await r.meetings.list({ where: { app_id: 'B' }, offset: 3 });
      assert.deepEqual([unlimited.rows.length, unlimited.total], [7, 10]);
      assert.equal((await r.meetings.findOne({ app_id: 'B', title: 'Meeting 25' }))?.id, rows[25]!.id);
      await r.close();
    });

    it('refuses field names that could inject SQL', async () => {
      const r = await open(store);
      await assert.rejects(
        r.meetings.list({ where: { "title') OR 1=1 --": 'x' } as unknown as { title: string } }),
        /invalid field name/,
      );
      await r.close();
    });

    it('paging covers every row exactly once (property)', async () => {
      const r = await open(store);
      const rows = Array.from({ length: 23 }, (_, i) => meeting('P', i % 7, { title: `t${i}` }));
      for (const m of rows) await r.meetings.insert(m);
      await fc.assert(
        fc.asyncProperty(
          fc.integer({ min: 1, max: 30 }),
          fc.constantFrom('ASC', 'DESC'),
          async (per, dir) => {
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
            assert.equal(
              new Set(seen).size,
              23,
              'ties on created_at are broken by id, so pages never overlap',
            );
          },
        ),
        { numRuns: 40 },
      );
      await r.close();
    });

    it('transactions roll back every write when the callback throws', async () => {
      const r = await open(store);
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
    it('update removes a field patched to undefined, keeps the others, and answers the new row', async () => {
      const r = await open(store);
      const m = meeting('U', 1, { recording_config: { a: 1 } });
      await r.meetings.insert(m);
      const next = await r.meetings.update(m.id, {
        recording_config: undefined,
        title: 'x',
      } as Partial<MeetingRow>);
      const { recording_config: _gone, ...rest } = m;
      assert.deepEqual(next, { ...rest, title: 'x' });
      assert.deepEqual(await r.meetings.get(m.id), next);
      // Two updates of different fields at once both land.
      await Promise.all([
        r.meetings.update(m.id, { title: 'y' }),
        r.meetings.update(m.id, { status: 'INACTIVE' }),
      ]);
      const both = await r.meetings.get(m.id);
      assert.equal(both?.title, 'y');
      assert.equal(both?.status, 'INACTIVE');
      await r.close();
    });
    it('updateIf applies a patch only while the expected fields hold; racing claims: one wins', async () => {
      const r = await open(store);
      const m = meeting('C', 1);
      await r.meetings.insert(m);
      assert.equal(await r.meetings.updateIf(m.id, { status: 'INACTIVE' }, { title: 'no' }), undefined);
      assert.equal((await r.meetings.get(m.id))?.title, m.title, 'unchanged');
      assert.equal(await r.meetings.updateIf('missing', {}, { title: 'no' }), undefined);
      const yes = await r.meetings.updateIf(
        m.id,
        { status: 'ACTIVE', record_on_start: false, recording_config: null },
        { title: 'yes' },
      );
      assert.equal(yes?.title, 'yes');
      const claims = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          r.meetings.updateIf(m.id, { title: 'yes' }, { title: `claimed by ${i}` }),
        ),
      );
      const won = claims.filter((c) => c !== undefined);
      assert.equal(won.length, 1, 'exactly one claim wins');
      assert.equal((await r.meetings.get(m.id))?.title, won[0]!.title);
      await r.close();
    });
  });

describe('PostgresRepository with several nodes', () => {
  it('two nodes opening a fresh database at once apply each migration once', async () => {
    const db = STORES[1]!.fresh();
    const [a, b, c] = await Promise.all([db.open(), db.open(), db.open()]);
    assert.ok(a.schemaVersion >= 2);
    assert.equal(b.schemaVersion, a.schemaVersion);
    assert.equal(c.schemaVersion, a.schemaVersion);
    await a.meetings.insert(meeting('N', 1));
    assert.equal((await b.meetings.list()).total, 1, 'one database');
    await Promise.all([a.close(), b.close(), c.close()]);
  });

  it('withStartupLock runs one node at a time: a generated secret is generated once', async () => {
    const db = STORES[1]!.fresh();
    const nodes = await Promise.all([db.open(), db.open(), db.open()]);
    let inside = 0;
    let most = 0;
    const secrets = await Promise.all(
      nodes.map((n, i) =>
        n.withStartupLock(async () => {
          inside++;
          most = Math.max(most, inside);
          let v = await n.getSetting('s');
          if (!v) {
            await new Promise((r) => setImmediate(r));
            v = `from-node-${i}`;
            await n.setSetting('s', v);
          }
          inside--;
          return v;
        }),
      ),
    );
    assert.equal(most, 1, 'never two at once');
    assert.equal(new Set(secrets).size, 1, `every node got the same secret: ${secrets.join(', ')}`);
    await Promise.all(nodes.map((n) => n.close()));
  });

  it('answers every query as the SQLite store does (property, same rows, random queries)', async () => {
    const sqlite = await open(STORES[0]!);
    const pgr = await open(STORES[1]!);
    const rows = Array.from({ length: 40 }, (_, i) =>
      meeting(['A', 'B', 'C'][i % 3]!, i % 13, { title: i % 5 === 0 ? `Big_${i}%` : `Meeting ${i}` }),
    );
    for (const m of rows) {
      await sqlite.meetings.insert(m);
      await pgr.meetings.insert(m);
    }
    const times = rows.map((m) => m.created_at);
    await fc.assert(
      fc.asyncProperty(
        fc.record(
          {
            where: fc.record(
              {
                app_id: fc.constantFrom('A', 'B', 'C', 'Z'),
                status: fc.constantFrom('ACTIVE', 'INACTIVE'),
                record_on_start: fc.boolean(),
              },
              { requiredKeys: [] },
            ),
            search: fc.record({
              fields: fc.constant(['title'] as 'title'[]),
              text: fc.constantFrom('big', '_', '%', 'meeting 1', ''),
            }),
            range: fc.record(
              {
                field: fc.constant('created_at' as const),
                from: fc.constantFrom(...times),
                to: fc.constantFrom(...times),
              },
              { requiredKeys: ['field'] },
            ),
            orderBy: fc.record({
              field: fc.constant('created_at' as const),
              dir: fc.constantFrom('ASC' as const, 'DESC' as const),
            }),
            limit: fc.integer({ min: 0, max: 45 }),
            offset: fc.integer({ min: 0, max: 45 }),
          },
          { requiredKeys: ['orderBy'] },
        ),
        async (q) => {
          const x = await sqlite.meetings.list(q);
          const y = await pgr.meetings.list(q);
          assert.equal(y.total, x.total, JSON.stringify(q));
          assert.deepEqual(
            y.rows.map((m) => m.id),
            x.rows.map((m) => m.id),
            JSON.stringify(q),
          );
        },
      ),
      { numRuns: 150 },
    );
    await sqlite.close();
    await pgr.close();
  });
});
