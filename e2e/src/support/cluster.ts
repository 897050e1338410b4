/** Two or more real server processes on one PostgreSQL schema and one redis-server of the test's own. */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  dropPgTestSchema,
  pgTestDatabase,
  startRedisServer,
  type RedisTestServer,
} from '@trackroom/server/testing';
import { startServer, type ServerProcess } from './server-process.js';

export interface TestCluster {
  readonly redis: RedisTestServer;
  readonly nodes: Map<string, ServerProcess>;
  /** Starts (or restarts, same DATA_DIR) the node `id`. */
  startNode(id: string): Promise<ServerProcess>;
  node(id: string): ServerProcess;
  /** The id of the node whose base URL has the host of `url` (a ws:// or http:// URL). */
  idOf(url: string): string;
  /** Kills every node, then Redis, then drops the schema. */
  stop(): Promise<void>;
}

export async function startTestCluster(
  opts: { heartbeatMs?: number; deadAfterMs?: number; env?: Record<string, string> } = {},
): Promise<TestCluster> {
  const redis = await startRedisServer();
  const db = await pgTestDatabase();
  const nodes = new Map<string, ServerProcess>();
  const dirs = new Map<string, string>();
  const c: TestCluster = {
    redis,
    nodes,
    async startNode(id) {
      const dataDir = dirs.get(id) ?? mkdtempSync(join(tmpdir(), `cluster-${id}-`));
      dirs.set(id, dataDir);
      const s = await startServer({
        dataDir,
        env: {
          DATABASE_URL: db.url,
          REDIS_URL: redis.url,
          NODE_ID: id,
          NODE_HEARTBEAT_MS: String(opts.heartbeatMs ?? 300),
          NODE_DEAD_AFTER_MS: String(opts.deadAfterMs ?? 1500),
          MEDIA_WORKERS: '1',
          WEBHOOK_RETRY_BASE_MS: '50',
          ...opts.env,
        },
      });
      nodes.set(id, s);
      return s;
    },
    node(id) {
      const s = nodes.get(id);
      if (!s) throw new Error(`no node ${id}`);
      return s;
    },
    idOf(url) {
      const host = new URL(url).host;
      const hit = [...nodes].find(([, s]) => new URL(s.baseUrl).host === host);
      if (!hit) throw new Error(`no node at ${url}`);
      return hit[0];
    },
    async stop() {
      for (const s of nodes.values()) await s.stop('SIGKILL');
      await redis.stop();
      await dropPgTestSchema(db.schema);
    },
  };
  return c;
}
