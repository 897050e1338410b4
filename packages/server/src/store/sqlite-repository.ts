import Database from 'better-sqlite3';
import {
  DuplicateKeyError,
  StoreCollections,
  type Collection,
  type ListQuery,
  type ListResult,
  type Repository,
  type Scalar,
} from './repository.js';

/**
 * Migrations run in order, once each, inside a transaction; `user_version` records how far a
 * database file has come. Append only: never edit a migration that has shipped.
 * Each collection is a table of JSON documents keyed by id, with expression indexes on the fields
 * that are filtered on, so a PostgreSQL implementation can mirror it with jsonb.
 */
const MIGRATIONS: string[] = [
  `CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
   CREATE TABLE apps (id TEXT PRIMARY KEY, doc TEXT NOT NULL);
   CREATE TABLE presets (id TEXT PRIMARY KEY, doc TEXT NOT NULL);
   CREATE INDEX presets_app ON presets (json_extract(doc, '$.app_id'), json_extract(doc, '$.name'));
   CREATE TABLE meetings (id TEXT PRIMARY KEY, doc TEXT NOT NULL);
   CREATE INDEX meetings_app ON meetings (json_extract(doc, '$.app_id'), json_extract(doc, '$.created_at'));
   CREATE TABLE participants (id TEXT PRIMARY KEY, doc TEXT NOT NULL);
   CREATE INDEX participants_meeting ON participants (json_extract(doc, '$.meeting_id'));
   CREATE UNIQUE INDEX participants_custom ON participants
     (json_extract(doc, '$.meeting_id'), json_extract(doc, '$.custom_participant_id'));
   CREATE TABLE webhooks (id TEXT PRIMARY KEY, doc TEXT NOT NULL);
   CREATE INDEX webhooks_app ON webhooks (json_extract(doc, '$.app_id'));
   CREATE TABLE webhook_deliveries (id TEXT PRIMARY KEY, doc TEXT NOT NULL);
   CREATE INDEX webhook_deliveries_status ON webhook_deliveries (json_extract(doc, '$.status'));
   CREATE TABLE sessions (id TEXT PRIMARY KEY, doc TEXT NOT NULL);
   CREATE INDEX sessions_meeting ON sessions (json_extract(doc, '$.meeting_id'), json_extract(doc, '$.status'));
   CREATE TABLE session_peers (id TEXT PRIMARY KEY, doc TEXT NOT NULL);
   CREATE INDEX session_peers_session ON session_peers (json_extract(doc, '$.session_id'));
   CREATE TABLE recordings (id TEXT PRIMARY KEY, doc TEXT NOT NULL);
   CREATE INDEX recordings_meeting ON recordings (json_extract(doc, '$.meeting_id'), json_extract(doc, '$.status'));`,
  // 2: uploads of stopped recordings to their bucket (survive a restart); retention scans by time.
  `CREATE TABLE recording_uploads (id TEXT PRIMARY KEY, doc TEXT NOT NULL);
   CREATE INDEX recording_uploads_status ON recording_uploads (json_extract(doc, '$.status'));
   CREATE INDEX recordings_stopped ON recordings (json_extract(doc, '$.stopped_time'));`,
  // One LIVE session per meeting (the cluster's placement decides which node; this is the second
  // guard). Older duplicates, if any, are ended first: the one with the greatest id stays live.
  `UPDATE sessions SET doc = json_set(doc, '$.status', 'ENDED', '$.ended_at', json_extract(doc, '$.updated_at'))
     WHERE json_extract(doc, '$.status') = 'LIVE' AND EXISTS (
       SELECT 1 FROM sessions o WHERE json_extract(o.doc, '$.status') = 'LIVE'
         AND json_extract(o.doc, '$.meeting_id') = json_extract(sessions.doc, '$.meeting_id') AND o.id > sessions.id);
   CREATE UNIQUE INDEX sessions_live ON sessions (json_extract(doc, '$.meeting_id'))
     WHERE json_extract(doc, '$.status') = 'LIVE';`,
];

const FIELD_RE = /^[a-z_][a-z0-9_]*$/;

function fieldExpr(field: string): string {
  // Field names come from code, never from user input; the check keeps it that way.
  if (!FIELD_RE.test(field)) throw new Error(`invalid field name ${field}`);
  return `json_extract(doc, '$.${field}')`;
}

function toSql(v: Scalar): string | number | null {
  return typeof v === 'boolean' ? (v ? 1 : 0) : v;
}

class SqliteCollection<T extends { id: string }> implements Collection<T> {
  readonly #db: Database.Database;
  readonly #table: string;
  readonly #insert: Database.Statement;
  readonly #get: Database.Statement;
  readonly #put: Database.Statement;
  readonly #del: Database.Statement;
  /**
   * List queries by SQL text: their shape comes from code (fields, clause kinds, limit), never from
   * values, so a few dozen shapes cover every route. Preparing each time cost ~0.2 ms a query.
   */
  readonly #statements = new Map<string, Database.Statement>();

  constructor(db: Database.Database, table: string) {
    this.#db = db;
    this.#table = table;
    this.#insert = db.prepare(`INSERT INTO ${table} (id, doc) VALUES (?, ?)`);
    this.#get = db.prepare(`SELECT doc FROM ${table} WHERE id = ?`);
    this.#put = db.prepare(`UPDATE ${table} SET doc = ? WHERE id = ?`);
    this.#del = db.prepare(`DELETE FROM ${table} WHERE id = ?`);
  }

  async insert(row: T): Promise<T> {
    try {
      this.#insert.run(row.id, JSON.stringify(row));
    } catch (e) {
      const code = (e as { code?: unknown }).code;
      if (code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY') {
        throw new DuplicateKeyError((e as Error).message.replace(/^UNIQUE constraint failed: /, ''), e);
      }
      throw e;
    }
    return row;
  }

  async get(id: string): Promise<T | undefined> {
    const r = this.#get.get(id) as { doc: string } | undefined;
    return r ? (JSON.parse(r.doc) as T) : undefined;
  }

  async update(id: string, patch: Partial<T>): Promise<T | undefined> {
    const run = this.#db.transaction(() => {
      const r = this.#get.get(id) as { doc: string } | undefined;
      if (!r) return undefined;
      // The row as stored: a field patched to undefined is gone, as in every later read.
      const doc = JSON.stringify({ ...(JSON.parse(r.doc) as T), ...patch, id });
      this.#put.run(doc, id);
      return JSON.parse(doc) as T;
    });
    return run();
  }

  async updateIf(
    id: string,
    expected: { [K in keyof T]?: Scalar },
    patch: Partial<T>,
  ): Promise<T | undefined> {
    // One synchronous transaction: nothing else runs between the check and the write.
    const run = this.#db.transaction(() => {
      const r = this.#get.get(id) as { doc: string } | undefined;
      if (!r) return undefined;
      const cur = JSON.parse(r.doc) as Record<string, unknown>;
      for (const [k, v] of Object.entries(expected)) if ((cur[k] ?? null) !== v) return undefined;
      const doc = JSON.stringify({ ...cur, ...patch, id });
      this.#put.run(doc, id);
      return JSON.parse(doc) as T;
    });
    return run();
  }

  async delete(id: string): Promise<boolean> {
    return this.#del.run(id).changes > 0;
  }

  async findOne(where: { [K in keyof T]?: Scalar }): Promise<T | undefined> {
    const { rows } = await this.list({ where, limit: 1 });
    return rows[0];
  }

  async list(q: ListQuery<T> = {}): Promise<ListResult<T>> {
    const clauses: string[] = [];
    const params: (string | number | null)[] = [];
    for (const [field, value] of Object.entries(q.where ?? {}) as [string, Scalar | undefined][]) {
      if (value === undefined) continue;
      if (value === null) clauses.push(`${fieldExpr(field)} IS NULL`);
      else {
        clauses.push(`${fieldExpr(field)} = ?`);
        params.push(toSql(value));
      }
    }
    if (q.whereIn) {
      if (q.whereIn.values.length === 0) return { rows: [], total: 0 };
      clauses.push(`${fieldExpr(q.whereIn.field)} IN (${q.whereIn.values.map(() => '?').join(',')})`);
      params.push(...q.whereIn.values.map(toSql));
    }
    for (const f of q.notNull ?? []) clauses.push(`${fieldExpr(f)} IS NOT NULL`);
    if (q.search && q.search.text) {
      const like = `%${q.search.text.toLowerCase().replace(/[\\%_]/g, (c) => '\\' + c)}%`;
      clauses.push(
        '(' +
          q.search.fields.map((f) => `lower(COALESCE(${fieldExpr(f)}, '')) LIKE ? ESCAPE '\\'`).join(' OR ') +
          ')',
      );
      params.push(...q.search.fields.map(() => like));
    }
    if (q.range) {
      if (q.range.from) {
        clauses.push(`${fieldExpr(q.range.field)} >= ?`);
        params.push(q.range.from);
      }
      if (q.range.to) {
        clauses.push(`${fieldExpr(q.range.field)} <= ?`);
        params.push(q.range.to);
      }
    }
    const where = clauses.length ? `WHERE ${clauses.join(' AND ')}` : '';
    const order = q.orderBy
      ? `ORDER BY ${fieldExpr(q.orderBy.field)} ${q.orderBy.dir === 'ASC' ? 'ASC' : 'DESC'}, rowid ${q.orderBy.dir === 'ASC' ? 'ASC' : 'DESC'}`
      : '';
    const limit = q.limit !== undefined ? `LIMIT ${Math.max(0, Math.floor(q.limit))}` : 'LIMIT -1';
    const offset = q.offset !== undefined ? `OFFSET ${Math.max(0, Math.floor(q.offset))}` : '';
    const rows = this.#statement(`SELECT doc FROM ${this.#table} ${where} ${order} ${limit} ${offset}`).all(
      ...params,
    ) as { doc: string }[];
    // The count is only needed when the page may not hold everything: a page shorter than its
    // limit (from a row that exists) ends the result.
    const skipped = Math.max(0, Math.floor(q.offset ?? 0));
    const short = q.limit === undefined || rows.length < Math.max(0, Math.floor(q.limit));
    const total =
      short && (rows.length > 0 || skipped === 0)
        ? skipped + rows.length
        : (
            this.#statement(`SELECT count(*) AS n FROM ${this.#table} ${where}`).get(...params) as {
              n: number;
            }
          ).n;
    return { rows: rows.map((r) => JSON.parse(r.doc) as T), total };
  }

  #statement(sql: string): Database.Statement {
    let st = this.#statements.get(sql);
    if (!st) {
      st = this.#db.prepare(sql);
      // Bounded: IN lists of many lengths could otherwise grow it without end.
      if (this.#statements.size >= 256) this.#statements.clear();
      this.#statements.set(sql, st);
    }
    return st;
  }
}

function migrate(db: Database.Database): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  for (let v = current; v < MIGRATIONS.length; v++) {
    const sql = MIGRATIONS[v] as string;
    db.transaction(() => {
      db.exec(sql);
      db.pragma(`user_version = ${v + 1}`);
    })();
  }
}

/** The embedded default store: one SQLite file (WAL mode) in DATA_DIR. */
export class SqliteRepository extends StoreCollections implements Repository {
  readonly #db: Database.Database;
  #closed = false;
  #txChain: Promise<unknown> = Promise.resolve();

  constructor(file: string) {
    const db = new Database(file);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.pragma('busy_timeout = 5000');
    migrate(db); // before the collections prepare their statements
    super((table) => new SqliteCollection(db, table));
    this.#db = db;
  }

  /** The schema version this file is at (number of migrations applied). */
  get schemaVersion(): number {
    return this.#db.pragma('user_version', { simple: true }) as number;
  }

  /**
   * Serialises transactions. The callback must only await this repository's own calls (which
   * complete synchronously underneath), so no other request's write can land inside it.
   */
  async transaction<R>(fn: () => Promise<R>): Promise<R> {
    const run = async (): Promise<R> => {
      this.#db.exec('BEGIN IMMEDIATE');
      try {
        const r = await fn();
        this.#db.exec('COMMIT');
        return r;
      } catch (e) {
        this.#db.exec('ROLLBACK');
        throw e;
      }
    };
    const p = this.#txChain.then(run, run);
    this.#txChain = p.catch(() => undefined);
    return p;
  }

  /** One process owns the file: nothing to coordinate with. */
  async withStartupLock<R>(fn: () => Promise<R>): Promise<R> {
    return fn();
  }

  async getSetting(key: string): Promise<string | undefined> {
    const r = this.#db.prepare('SELECT value FROM settings WHERE key = ?').get(key) as
      { value: string } | undefined;
    return r?.value;
  }

  async setSetting(key: string, value: string): Promise<void> {
    this.#db
      .prepare(
        'INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value',
      )
      .run(key, value);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#db.close();
  }
}
