/**
 * Starts the real server as a child process on a free port: from its TypeScript source through tsx
 * (`packages/server/src/main.ts`, what tests run), or with `build: 'dist'` (or
 * TRACKROOM_SERVER_BUILD=dist) the compiled `packages/server/dist/main.js` that `npm start` runs,
 * for benchmarks of memory and CPU without the TypeScript loader.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, pgTestDatabase, pgTestStore } from '@trackroom/server/testing';

export interface ServerProcess {
  proc: ChildProcess;
  port: number;
  baseUrl: string;
  wsUrl: string;
  apiBase: string;
  token: string;
  appId: string;
  dataDir: string;
  output: () => string;
  /** Sends `signal` and waits for exit. */
  stop(signal?: NodeJS.Signals): Promise<void>;
}

const root = new URL('../../../', import.meta.url).pathname;

/** One free-port helper for every test: the server package's. */
export { freePort };

const pgDatabases = new Map<string, string>();

export async function startServer(
  opts: {
    dataDir?: string;
    env?: Record<string, string>;
    /** Extra Node options before the script, e.g. `--cpu-prof`. */
    nodeArgs?: string[];
    /** `source` (default, or TRACKROOM_SERVER_BUILD) or `dist` (built: `npx tsc -b`). */
    build?: 'source' | 'dist';
  } = {},
): Promise<ServerProcess> {
  const build = opts.build ?? (process.env.TRACKROOM_SERVER_BUILD === 'dist' ? 'dist' : 'source');
  const distMain = join(root, 'packages/server/dist/main.js');
  if (build === 'dist' && !existsSync(distMain))
    throw new Error(`${distMain} is missing: build it first (npx tsc -b)`);
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'trackroom-e2e-'));
  // TRACKROOM_TEST_STORE=postgres: the server's store is a fresh PostgreSQL schema, the same one
  // again when a test restarts a server on the same DATA_DIR.
  let databaseUrl = pgDatabases.get(dataDir);
  if (!databaseUrl && pgTestStore()) {
    databaseUrl = (await pgTestDatabase()).url;
    pgDatabases.set(dataDir, databaseUrl);
  }
  const port = await freePort();
  const token = 'e2e-admin-token-0123456789abcdef';
  const proc = spawn(
    process.execPath,
    [
      ...(opts.nodeArgs ?? []),
      ...(build === 'dist'
        ? [distMain]
        : ['--conditions=source', '--import', 'tsx', 'packages/server/src/main.ts']),
    ],
    {
      cwd: root,
      env: {
        ...process.env,
        PORT: String(port),
        HOST: '127.0.0.1',
        DATA_DIR: dataDir,
        RTK_API_TOKEN: token,
        RTC_BIND_ADDRESS: '127.0.0.1',
        LOG_LEVEL: process.env.E2E_LOG_LEVEL ?? 'warn',
        ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}),
        ...opts.env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const appId = await new Promise<string>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`server did not start:\n${out}`)), 30_000);
    const check = () => {
      const m = /default app: ([0-9a-f-]{36})/.exec(out);
      if (m && out.includes('listening')) {
        clearTimeout(t);
        resolve(m[1] as string);
      }
    };
    proc.stdout!.on('data', check);
    proc.once('exit', (code) => {
      clearTimeout(t);
      reject(new Error(`server exited with ${code}:\n${out}`));
    });
  });
  const baseUrl = `http://127.0.0.1:${port}`;
  return {
    proc,
    port,
    baseUrl,
    wsUrl: `ws://127.0.0.1:${port}/ws`,
    apiBase: `${baseUrl}/client/v4/accounts/local/realtime/kit/${appId}`,
    token,
    appId,
    dataDir,
    output: () => out,
    stop(signal = 'SIGTERM') {
      return new Promise((resolve) => {
        if (proc.exitCode !== null || proc.signalCode !== null) return resolve();
        proc.once('exit', () => resolve());
        proc.kill(signal);
      });
    },
  };
}

/** A tiny admin API client for tests. */
export function api(s: ServerProcess) {
  return async <T = Record<string, unknown>>(
    method: string,
    path: string,
    body?: unknown,
  ): Promise<{ status: number; json: T }> => {
    const res = await fetch(`${s.apiBase}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${s.token}`,
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    return { status: res.status, json: (await res.json()) as T };
  };
}
