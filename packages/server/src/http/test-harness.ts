import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Logger, silentLogger } from '@trackroom/protocol';
import { loadConfig } from '../config.js';
import { createServer, type TrackroomServer } from '../server.js';
import {
  dropPgTestSchema,
  pgSchemaText,
  pgTestSchema,
  pgTestStore,
  pgTestUrl,
} from '../testing/postgres-test.js';

/**
 * Test support for the HTTP layer (not a test itself): a server on a fresh DATA_DIR driven through
 * `inject`, plus a snapshot of every stored row so a test can prove a rejected request wrote nothing.
 * With TRACKROOM_TEST_STORE=postgres the store is PostgreSQL (a fresh schema per harness, kept
 * across `restart()`), so the same tests prove both stores.
 */
export const TEST_TOKEN = 'test-admin-token-0123456789';
export const ACCOUNT = 'local';
export const PREFIX = `/client/v4/accounts/${ACCOUNT}/realtime/kit`;

export interface Reply {
  status: number;
  headers: Record<string, unknown>;
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any -- tests read arbitrary JSON
  raw: string;
}

export interface Harness {
  readonly server: TrackroomServer;
  readonly dir: string;
  /** With TRACKROOM_TEST_STORE=postgres: the schema holding this server's database. */
  readonly pgSchema: string | undefined;
  readonly appId: string;
  /** `${PREFIX}/${appId}` */
  readonly appBase: string;
  /** A request with the admin token; pass `headers.authorization: null` to send none. */
  req(method: string, url: string, body?: unknown, headers?: Record<string, string | null>): Promise<Reply>;
  /** Every stored row of every collection plus settings-independent counts, for before/after checks. */
  snapshot(): Promise<string>;
  /** Every byte the store keeps, as text (the SQLite file, or every PostgreSQL table): for "never stored in clear" checks. */
  rawStore(): Promise<string>;
  /** Closes the server; `restart()` opens a new one on the same DATA_DIR. */
  close(): Promise<void>;
  restart(): Promise<Harness>;
  /** Closes and removes the DATA_DIR. */
  destroy(): Promise<void>;
}

export function freshDataDir(): string {
  return mkdtempSync(join(tmpdir(), 'trackroom-test-'));
}

export async function startHarness(
  opts: { dir?: string; env?: Record<string, string>; logger?: Logger; pgSchema?: string } = {},
): Promise<Harness> {
  const dir = opts.dir ?? freshDataDir();
  const pgSchema = opts.pgSchema ?? (pgTestStore() ? pgTestSchema() : undefined);
  const config = loadConfig({
    DATA_DIR: dir,
    RTK_API_TOKEN: TEST_TOKEN,
    PORT: '0',
    ...(pgSchema ? { DATABASE_URL: pgTestUrl() } : {}),
    ...opts.env,
  });
  const server = await createServer(config, {
    logger: opts.logger ?? silentLogger,
    ...(pgSchema ? { postgres: { schema: pgSchema, max: 4 } } : {}),
  });
  const appId = server.defaultAppId;
  let closed = false;
  const h: Harness = {
    server,
    dir,
    pgSchema,
    appId,
    appBase: `${PREFIX}/${appId}`,
    async req(method, url, body, headers = {}) {
      const hdrs: Record<string, string> = { authorization: `Bearer ${TEST_TOKEN}` };
      for (const [k, v] of Object.entries(headers)) {
        if (v === null) delete hdrs[k.toLowerCase()];
        else hdrs[k.toLowerCase()] = v;
      }
      let payload: string | undefined;
      if (body !== undefined) {
        payload = typeof body === 'string' ? body : JSON.stringify(body);
        hdrs['content-type'] ??= 'application/json';
      }
      const res = await server.http.inject({
        method: method as 'GET',
        url,
        headers: hdrs,
        ...(payload !== undefined ? { payload } : {}),
      });
      let parsed: unknown = undefined;
      try {
        parsed = res.body ? JSON.parse(res.body) : undefined;
      } catch {
        parsed = undefined;
      }
      return { status: res.statusCode, headers: res.headers, body: parsed, raw: res.body };
    },
    async snapshot() {
      const r = server.repo;
      const all = {
        apps: await r.apps.list(),
        presets: await r.presets.list(),
        meetings: await r.meetings.list(),
        participants: await r.participants.list(),
        webhooks: await r.webhooks.list(),
        webhookDeliveries: await r.webhookDeliveries.list(),
        sessions: await r.sessions.list(),
        sessionPeers: await r.sessionPeers.list(),
        recordings: await r.recordings.list(),
      };
      const sorted = Object.fromEntries(
        Object.entries(all).map(([k, v]) => [
          k,
          { total: v.total, rows: [...v.rows].sort((a, b) => a.id.localeCompare(b.id)) },
        ]),
      );
      return JSON.stringify(sorted);
    },
    async rawStore() {
      if (pgSchema) return pgSchemaText(pgSchema);
      const file = join(dir, 'trackroom.db');
      return ['', '-wal']
        .map((x) => (existsSync(file + x) ? readFileSync(file + x).toString('latin1') : ''))
        .join('\n');
    },
    async close() {
      if (closed) return;
      closed = true;
      await server.close();
    },
    async restart() {
      await h.close();
      return startHarness({ ...opts, dir, ...(pgSchema ? { pgSchema } : {}) });
    },
    async destroy() {
      await h.close();
      rmSync(dir, { recursive: true, force: true });
      if (pgSchema) await dropPgTestSchema(pgSchema);
    },
  };
  return h;
}

export const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[1-8][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/i;
export const ISO_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;
export const MISSING_UUID = '00000000-0000-4000-8000-000000000000';
