#!/usr/bin/env node
// Finds test files by layer and runs them with Node's own test runner through tsx.
// Layers (by file name): unit/HTTP `*.test.ts`, end-to-end and media `*.e2e.test.ts`.
// Usage: node scripts/run-tests.mjs [--layer unit|e2e] [--both-modes] [file filter substring]
// Media workers in both modes: after the run, the track-recording and Chromium end-to-end tests that
// start a real server run once more with the other MEDIA_WORKERS mode (1 = in-process when the run
// used several workers, 2 child processes otherwise). On by default for a whole e2e run (no
// filter); `--both-modes` asks for it with filters too.
// Both stores: the HTTP route tests (and, in the e2e layer, the conformance test) run once more on
// PostgreSQL (TRACKROOM_TEST_STORE=postgres; a real server, TRACKROOM_TEST_DATABASE_URL or the local
// socket). On by default for a whole run; `--postgres` asks for it with filters too. The schemas a
// run made are dropped at its end.
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join, relative } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const args = process.argv.slice(2);
const layerIdx = args.indexOf('--layer');
const layer = layerIdx >= 0 ? args[layerIdx + 1] : 'all';
if (!['all', 'unit', 'e2e'].includes(layer)) {
  console.error(`unknown layer "${layer}": use unit or e2e`);
  process.exit(2);
}
const bothModes = args.includes('--both-modes');
const postgresPass = args.includes('--postgres');
const filters = args.filter(
  (a, i) =>
    a !== '--both-modes' && a !== '--postgres' && (layerIdx < 0 || (i !== layerIdx && i !== layerIdx + 1)),
);
const pgPrefix = `t${process.pid}`;
process.env.TRACKROOM_TEST_PG_PREFIX = pgPrefix;

function walk(dir, out) {
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name === 'dist' || name.startsWith('.')) continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (name.endsWith('.test.ts')) out.push(relative(root, p));
  }
  return out;
}

const all = [
  ...walk(join(root, 'packages'), []),
  ...walk(join(root, 'e2e'), []),
  ...walk(join(root, 'bench'), []),
];
const files = all
  .filter((f) => {
    const isE2e = f.endsWith('.e2e.test.ts');
    if (layer === 'unit') return !isE2e;
    if (layer === 'e2e') return isE2e;
    return true;
  })
  .filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)))
  .sort(
    (a, b) => Number(a.endsWith('.e2e.test.ts')) - Number(b.endsWith('.e2e.test.ts')) || a.localeCompare(b),
  );

if (files.length === 0) {
  console.error(`no test files found (layer ${layer}, filters ${filters.join(' ') || 'none'})`);
  process.exit(1);
}
function run(list, env = process.env) {
  const res = spawnSync(
    process.execPath,
    [
      '--conditions=source',
      '--import',
      'tsx',
      '--test',
      '--test-concurrency=1',
      // A file whose handles outlive its tests (a WebRTC stack's timers) must not hang the suite.
      '--test-force-exit',
      '--test-timeout=300000',
      '--test-reporter=spec',
      ...list,
    ],
    { cwd: root, stdio: 'inherit', env },
  );
  return res.status ?? 1;
}

let status = run(files);
const firstWorkers = Number(process.env.MEDIA_WORKERS || Math.min(availableParallelism(), 64));
const otherWorkers = firstWorkers === 1 ? 2 : 1;
const again = files.filter(
  (f) =>
    f.endsWith('.e2e.test.ts') &&
    /track-recording|\.browser\./.test(f) &&
    readFileSync(join(root, f), 'utf8').includes('startServer('),
);
if ((bothModes || (filters.length === 0 && layer !== 'unit')) && again.length > 0) {
  console.log(
    `\n# again with MEDIA_WORKERS=${otherWorkers} (the first run used ${firstWorkers}): ${again.join(' ')}`,
  );
  status = run(again, { ...process.env, MEDIA_WORKERS: String(otherWorkers) }) || status;
}
const onPostgres = files.filter(
  (f) =>
    /^packages\/server\/src\/(routes|http)\/[^/]+\.test\.ts$/.test(f) ||
    f === 'e2e/src/conformance.e2e.test.ts',
);
if ((postgresPass || filters.length === 0) && onPostgres.length > 0) {
  console.log(`\n# again on PostgreSQL (TRACKROOM_TEST_STORE=postgres): ${onPostgres.join(' ')}`);
  status = run(onPostgres, { ...process.env, TRACKROOM_TEST_STORE: 'postgres' }) || status;
}
status = (await dropRunSchemas()) || status;
process.exit(status);

/** Drops the PostgreSQL schemas this run's tests made (named `<prefix>_...`). */
async function dropRunSchemas() {
  let pg;
  try {
    pg = (await import('pg')).default;
  } catch {
    return 0; // not installed yet: nothing can have been made
  }
  const c = new pg.Client({
    connectionString:
      process.env.TRACKROOM_TEST_DATABASE_URL || 'postgres://postgres@/test?host=/var/run/postgresql',
  });
  try {
    await c.connect();
  } catch {
    return 0; // the tests that needed it failed already, naming it
  }
  try {
    const r = await c.query('SELECT nspname FROM pg_namespace WHERE nspname LIKE $1', [`${pgPrefix}\\_%`]);
    for (const { nspname } of r.rows) await c.query(`DROP SCHEMA "${nspname}" CASCADE`);
    return 0;
  } catch (e) {
    console.error(`could not drop this run's test schemas: ${e.message}`);
    return 1;
  } finally {
    await c.end();
  }
}
