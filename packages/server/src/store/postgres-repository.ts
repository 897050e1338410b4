import { AsyncLocalStorage } from 'node:async_hooks';
import pg from 'pg';
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
 * The PostgreSQL store: the same collections as the SQLite one (a table of JSON documents per
 * collection, `jsonb` here, with expression indexes on the fields filtered on), chosen by
 * `DATABASE_URL`. Several nodes may share one database: migrations take an advisory lock, so two
 * nodes starting at once apply each migration exactly once; unique indexes decide concurrent
 * inserts (one wins, the other gets DuplicateKeyError); updates are single statements.
 *
 * Append only: never edit a migration that has shipped. Version n here is version n of SQLite's.
 */
const MIGRATIONS: string[] = [
  `CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
   CREATE TABLE apps (id TEXT PRIMARY KEY, doc JSONB NOT NULL, seq BIGSERIAL);
   CREATE TABLE presets (id TEXT PRIMARY KEY, doc JSONB NOT NULL, seq BIGSERIAL);
   CREATE INDEX presets_app ON presets ((doc->>'app_id'), (doc->>'name'));
   CREATE TABLE meetings (id TEXT PRIMARY KEY, doc JSONB NOT NULL, seq BIGSERIAL);
   CREATE INDEX meetings_app ON meetings ((doc->>'app_id'), (doc->>'created_at'));
   CREATE TABLE participants (id TEXT PRIMARY KEY, doc JSONB NOT NULL, seq BIGSERIAL);
   CREATE INDEX participants_meeting ON participants ((doc->>'meeting_id'));
   CREATE UNIQUE INDEX participants_custom ON participants
     ((doc->>'meeting_id'), (doc->>'custom_participant_id'));
   CREATE TABLE webhooks (id TEXT PRIMARY KEY, doc JSONB NOT NULL, seq BIGSERIAL);
   CREATE INDEX webhooks_app ON webhooks ((doc->>'app_id'));
   CREATE TABLE webhook_deliveries (id TEXT PRIMARY KEY, doc JSONB NOT NULL, seq BIGSERIAL);
   CREATE INDEX webhook_deliveries_status ON webhook_deliveries ((doc->>'status'));
   CREATE TABLE sessions (id TEXT PRIMARY KEY, doc JSONB NOT NULL, seq BIGSERIAL);
   CREATE INDEX sessions_meeting ON sessions ((doc->>'meeting_id'), (doc->>'status'));
   CREATE TABLE session_peers (id TEXT PRIMARY KEY, doc JSONB NOT NULL, seq BIGSERIAL);
   CREATE INDEX session_peers_session ON session_peers ((doc->>'session_id'));
   CREATE TABLE recordings (id TEXT PRIMARY KEY, doc JSONB NOT NULL, seq BIGSERIAL);
   CREATE INDEX recordings_meeting ON recordings ((doc->>'meeting_id'), (doc->>'status'));`,
  `CREATE TABLE recording_uploads (id TEXT PRIMARY KEY, doc JSONB NOT NULL, seq BIGSERIAL);
   CREATE INDEX recording_uploads_status ON recording_uploads ((doc->>'status'));
   CREATE INDEX recordings_stopped ON recordings ((doc->>'stopped_time'));`,
  // Version 3 as in SQLite: one LIVE session per meeting, older duplicates ended first.
  `UPDATE sessions s SET doc = jsonb_set(jsonb_set(doc, '{status}', '"ENDED"'), '{ended_at}', doc->'updated_at')
     WHERE doc->>'status' = 'LIVE' AND EXISTS (
       SELECT 1 FROM sessions o WHERE o.doc->>'status' = 'LIVE'
         AND o.doc->>'meeting_id' = s.doc->>'meeting_id' AND o.id > s.id);
   CREATE UNIQUE INDEX sessions_live ON sessions ((doc->>'meeting_id')) WHERE doc->>'status' = 'LIVE';`,
];

/** Any constant: the advisory lock that serialises migrations between nodes. */
const MIGRATION_LOCK = 0x7472_6b72;
const STARTUP_LOCK = 0x7472_6b73;
const FIELD_RE = /^[a-z_][a-z0-9_]*$/;
const SCHEMA_RE = /^[a-z_][a-z0-9_]{0,62}$/;

function fieldExpr(field: string): string {
  // Field names come from code, never from user input; the check keeps it that way.
  if (!FIELD_RE.test(field)) throw new Error(`invalid field name ${field}`);
  return `(doc->>'${field}')`;
}

/** `doc->>'f'` is text: values compare as the text JSON gives them (true, 42, an ISO time). */
function toText(v: Exclude<Scalar, null>): string {
  return typeof v === 'string' ? v : JSON.stringify(v);
}

type Queryable = Pick<pg.PoolClient, 'query'>;

class PgCollection<T extends { id: string }> implements Collection<T> {
  readonly #db: () => Queryable;
  readonly #table: string;

  constructor(db: () => Queryable, table: string) {
    this.#db = db;
    this.#table = table;
  }

  async insert(row: T): Promise<T> {
    try {
      await this.#db().query(`INSERT INTO ${this.#table} (id, doc) VALUES ($1, $2)`, [
        row.id,
        JSON.stringify(row),
      ]);
    } catch (e) {
      const err = e as { code?: string; constraint?: string };
      if (err.code === '23505') throw new DuplicateKeyError(err.constraint ?? this.#table, e);
      throw e;
    }
    return row;
  }

  async get(id: string): Promise<T | undefined> {
    const r = await this.#db().query<{ doc: T }>(`SELECT doc FROM ${this.#table} WHERE id = $1`, [id]);
    return r.rows[0]?.doc;
  }

  async update(id: string, patch: Partial<T>): Promise<T | undefined> {
    // One statement, so concurrent updates of different fields of a row both land. A field set to
    // undefined is removed, as JSON.stringify of the merged row does in the SQLite store.
    const removed = Object.entries(patch)
      .filter(([, v]) => v === undefined)
      .map(([k]) => k);
    const r = await this.#db().query<{ doc: T }>(
      `UPDATE ${this.#table} SET doc = (doc - $2::text[]) || $3::jsonb WHERE id = $1 RETURNING doc`,
      [id, removed, JSON.stringify({ ...patch, id })],
    );
    return r.rows[0]?.doc;
  }

  async updateIf(
    id: string,
    expected: { [K in keyof T]?: Scalar },
    patch: Partial<T>,
  ): Promise<T | undefined> {
    const removed = Object.entries(patch)
      .filter(([, v]) => v === undefined)
      .map(([k]) => k);
    const params: unknown[] = [id, removed, JSON.stringify({ ...patch, id })];
    const conds = Object.entries(expected as Record<string, Scalar | undefined>)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => {
        if (v === null) return `${fieldExpr(k)} IS NULL`;
        params.push(toText(v as Exclude<Scalar, null>));
        return `${fieldExpr(k)} = $${params.length}`;
      });
    // The WHERE is evaluated on the row as locked by the UPDATE: a concurrent claim sees the winner's write.
    const r = await this.#db().query<{ doc: T }>(
      `UPDATE ${this.#table} SET doc = (doc - $2::text[]) || $3::jsonb WHERE id = $1${conds.map((c) => ` AND ${c}`).join('')} RETURNING doc`,
      params,
    );
    return r.rows[0]?.doc;
  }

  async delete(id: string): Promise<boolean> {
    const r = await this.#db().query(`DELETE FROM ${this.#table} WHERE id = $1`, [id]);
    return (r.rowCount ?? 0) > 0;
  }

  async findOne(where: { [K in keyof T]?: Scalar }): Promise<T | undefined> {
    const { rows } = await this.list({ where, limit: 1 });
    return rows[0];
  }

  async list(q: ListQuery<T> = {}): Promise<ListResult<T>> {
    const clauses: string[] = [];
    const params: string[] = [];
    const param = (v: string) => {
      params.push(v);
      return `$${params.length}`;
    };
    for (const [field, value] of Object.entries(q.where ?? {}) as [string, Scalar | undefined][]) {
      if (value === undefined) continue;
      if (value === null) clauses.push(`${fieldExpr(field)} IS NULL`);
      else clauses.push(`${fieldExpr(field)} = ${param(toText(value))}`);
    }
    if (q.whereIn) {
      if (q.whereIn.values.length === 0) return { rows: [], total: 0 };
      const present = q.whereIn.values.filter((v): v is Exclude<Scalar, null> => v !== null);
      const ors = present.length
        ? [`${fieldExpr(q.whereIn.field)} IN (${present.map((v) => param(toText(v))).join(',')})`]
        : [];
      if (present.length < q.whereIn.values.length) ors.push(`${fieldExpr(q.whereIn.field)} IS NULL`);
      clauses.push(`(${ors.join(' OR ')})`);
    }
    for (const f of q.notNull ?? []) clauses.push(`${fieldExpr(f)} IS NOT NULL`);
    if (q.search && q.search.text) {
      const like = param(`%${q.search.text.toLowerCase().replace(/[\\%_]/g, (c) => '\\' + c)}%`);
      clauses.push(
        '(' +
          q.search.fields
            .map((f) => `lower(COALESCE(${fieldExpr(f)}, '')) LIKE ${like} ESCAPE '\\'`)
            .join(' OR ') +
          ')',
      );
    }
    if (q.range) {
      if (q.range.from) clauses.push(`${fieldExpr(q.range.field)} >= ${param(q.range.from)}`);
      if (q.range.to) clauses.push(`${fieldExpr(q.range.field)} <= ${param(q.range.to)}`);
    }
    const where = clauses.length ? `WHERE ${clauses.join(' AND ')}` : '';
    const dir = q.orderBy?.dir === 'ASC' ? 'ASC' : 'DESC';
    // COLLATE "C": byte order, as SQLite compares text (ISO times sort the same either way).
    const order = q.orderBy ? `ORDER BY ${fieldExpr(q.orderBy.field)} COLLATE "C" ${dir}, seq ${dir}` : '';
    const limit = q.limit !== undefined ? `LIMIT ${Math.max(0, Math.floor(q.limit))}` : '';
    const offset = q.offset !== undefined ? `OFFSET ${Math.max(0, Math.floor(q.offset))}` : '';
    const db = this.#db();
    const total = await db.query<{ n: string }>(`SELECT count(*) AS n FROM ${this.#table} ${where}`, params);
    const rows = await db.query<{ doc: T }>(
      `SELECT doc FROM ${this.#table} ${where} ${order} ${limit} ${offset}`,
      params,
    );
    return { rows: rows.rows.map((r) => r.doc), total: Number(total.rows[0]?.n ?? 0) };
  }
}

export interface PostgresRepositoryOptions {
  /** A schema of its own (created when missing): tests give each server a fresh one. Default: the URL's search_path. */
  schema?: string;
  /** Connections in the pool (default 10). */
  max?: number;
}

/** A shared store for one node or several. `PostgresRepository.open()` connects and migrates. */
export class PostgresRepository extends StoreCollections implements Repository {
  readonly #pool: pg.Pool;
  readonly #tx: AsyncLocalStorage<pg.PoolClient>;
  #closed = false;
  #version = 0;

  private constructor(pool: pg.Pool, tx: AsyncLocalStorage<pg.PoolClient>) {
    // Inside transaction(): that transaction's connection; elsewhere the pool.
    super((table) => new PgCollection(() => tx.getStore() ?? pool, table));
    this.#pool = pool;
    this.#tx = tx;
  }

  static async open(url: string, options: PostgresRepositoryOptions = {}): Promise<PostgresRepository> {
    const schema = options.schema;
    if (schema !== undefined && !SCHEMA_RE.test(schema)) throw new Error(`invalid schema name ${schema}`);
    const pool = new pg.Pool({
      connectionString: url,
      max: options.max ?? 10,
      ...(schema ? { options: `-c search_path=${schema}` } : {}),
    });
    // An idle connection that breaks (the database restarted) is dropped, not a crash.
    pool.on('error', () => undefined);
    const repo = new PostgresRepository(pool, new AsyncLocalStorage<pg.PoolClient>());
    try {
      await repo.#migrate(schema);
    } catch (e) {
      await pool.end().catch(() => undefined);
      throw e;
    }
    return repo;
  }

  /** The schema version this database is at (number of migrations applied). */
  get schemaVersion(): number {
    return this.#version;
  }

  async #migrate(schema: string | undefined): Promise<void> {
    const c = await this.#pool.connect();
    try {
      await c.query('BEGIN');
      // Two nodes starting at once: the second waits here, then finds the work done.
      await c.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
      if (schema) await c.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
      await c.query('CREATE TABLE IF NOT EXISTS trackroom_schema (version INTEGER NOT NULL)');
      const r = await c.query<{ version: number }>('SELECT version FROM trackroom_schema');
      let v = r.rows[0]?.version ?? 0;
      if (r.rows.length === 0) await c.query('INSERT INTO trackroom_schema (version) VALUES (0)');
      if (v > MIGRATIONS.length) {
        throw new Error(
          `the database is at schema version ${v}, newer than this server knows (${MIGRATIONS.length}): upgrade the server`,
        );
      }
      for (; v < MIGRATIONS.length; v++) await c.query(MIGRATIONS[v] as string);
      await c.query('UPDATE trackroom_schema SET version = $1', [v]);
      await c.query('COMMIT');
      this.#version = v;
    } catch (e) {
      await c.query('ROLLBACK').catch(() => undefined);
      throw e;
    } finally {
      c.release();
    }
  }

  async transaction<R>(fn: () => Promise<R>): Promise<R> {
    const inner = this.#tx.getStore();
    if (inner) return fn(); // nested: part of the outer transaction
    const c = await this.#pool.connect();
    try {
      await c.query('BEGIN');
      const r = await this.#tx.run(c, fn);
      await c.query('COMMIT');
      return r;
    } catch (e) {
      await c.query('ROLLBACK').catch(() => undefined);
      throw e;
    } finally {
      c.release();
    }
  }

  async withStartupLock<R>(fn: () => Promise<R>): Promise<R> {
    // A session-level lock on a connection of its own; fn's queries use the pool meanwhile.
    const c = await this.#pool.connect();
    try {
      await c.query('SELECT pg_advisory_lock($1)', [STARTUP_LOCK]);
      try {
        return await fn();
      } finally {
        await c.query('SELECT pg_advisory_unlock($1)', [STARTUP_LOCK]);
      }
    } finally {
      c.release();
    }
  }

  async getSetting(key: string): Promise<string | undefined> {
    const db = this.#tx.getStore() ?? this.#pool;
    const r = await db.query<{ value: string }>('SELECT value FROM settings WHERE key = $1', [key]);
    return r.rows[0]?.value;
  }

  async setSetting(key: string, value: string): Promise<void> {
    const db = this.#tx.getStore() ?? this.#pool;
    await db.query(
      'INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
      [key, value],
    );
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#pool.end();
  }
}
