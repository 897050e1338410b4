import { randomBytes } from 'node:crypto';
import pg from 'pg';

/**
 * The PostgreSQL server tests use: TRACKROOM_TEST_DATABASE_URL, by default the local server's unix
 * socket (reachable from the tests' own network namespace, where 127.0.0.1 is not the host's).
 * There is no fallback: a test that needs it fails when the server is not there.
 */
export function pgTestUrl(): string {
  return process.env.TRACKROOM_TEST_DATABASE_URL || 'postgres://postgres@/test?host=/var/run/postgresql';
}

const made = new Set<string>();

/** A fresh schema name for one test's database (created by the repository when it opens). */
export function pgTestSchema(): string {
  // run-tests.mjs names its run (TRACKROOM_TEST_PG_PREFIX) and drops that run's schemas at its end.
  const prefix = /^[a-z0-9_]{1,20}$/.test(process.env.TRACKROOM_TEST_PG_PREFIX ?? '')
    ? process.env.TRACKROOM_TEST_PG_PREFIX
    : 't';
  const name = `${prefix}_${randomBytes(6).toString('hex')}`;
  made.add(name);
  return name;
}

/** True when the tests of this run go to PostgreSQL (TRACKROOM_TEST_STORE=postgres; run-tests.mjs sets it). */
export function pgTestStore(): boolean {
  return process.env.TRACKROOM_TEST_STORE === 'postgres';
}

/**
 * A fresh schema, created now, and the DATABASE_URL that puts a server process in it (libpq's
 * `options=-c search_path=...`). Drop it with dropPgTestSchema.
 */
export async function pgTestDatabase(): Promise<{ schema: string; url: string }> {
  const schema = pgTestSchema();
  const c = new pg.Client({ connectionString: pgTestUrl() });
  await c.connect();
  try {
    await c.query(`CREATE SCHEMA ${schema}`);
  } finally {
    await c.end();
  }
  const base = pgTestUrl();
  const url = `${base}${base.includes('?') ? '&' : '?'}options=${encodeURIComponent(`-c search_path=${schema}`)}`;
  return { schema, url };
}

/** Drops one schema handed out by pgTestSchema. */
export async function dropPgTestSchema(name: string): Promise<void> {
  const c = new pg.Client({ connectionString: pgTestUrl() });
  await c.connect();
  try {
    await c.query(`DROP SCHEMA IF EXISTS ${name} CASCADE`);
    made.delete(name);
  } finally {
    await c.end();
  }
}

/** Every row of every table of a schema, as text. */
export async function pgSchemaText(name: string): Promise<string> {
  const c = new pg.Client({ connectionString: pgTestUrl() });
  await c.connect();
  try {
    const tables = await c.query<{ table_name: string }>(
      'SELECT table_name FROM information_schema.tables WHERE table_schema = $1',
      [name],
    );
    const out: string[] = [];
    for (const { table_name } of tables.rows) {
      const r = await c.query(`SELECT t::text AS row FROM ${name}."${table_name}" t`);
      out.push(...r.rows.map((x: { row: string }) => x.row));
    }
    return out.join('\n');
  } finally {
    await c.end();
  }
}

/** Drops every schema this process handed out. */
export async function dropPgTestSchemas(): Promise<void> {
  if (made.size === 0) return;
  const c = new pg.Client({ connectionString: pgTestUrl() });
  await c.connect();
  try {
    for (const s of made) await c.query(`DROP SCHEMA IF EXISTS ${s} CASCADE`);
    made.clear();
  } finally {
    await c.end();
  }
}
