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
import { spawn } from 'node:child_process';
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
const failedFiles = [];

/**
 * Runs test files with Node's runner: the unit layer in one runner process, each end-to-end file in
 * a runner of its own. Every process a runner starts carries a marker in its environment; when the
 * runner ends, whatever still carries that marker (a server, media workers or Chromium left behind by
 * a file that timed out or crashed) is killed, so it cannot load the tests that follow.
 */
async function run(list, env = process.env) {
  const unit = list.filter((f) => !f.endsWith('.e2e.test.ts'));
  const e2e = list.filter((f) => f.endsWith('.e2e.test.ts'));
  let status = 0;
  if (unit.length > 0) status = (await runOne(unit, env)) || status;
  for (const f of e2e) status = (await runOne([f], env)) || status;
  return status;
}

let runSeq = 0;
async function runOne(list, env) {
  const marker = `${process.pid}-${++runSeq}`;
  const child = spawn(
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
    { cwd: root, stdio: 'inherit', env: { ...env, TRACKROOM_TEST_RUN: marker } },
  );
  const code = await new Promise((resolve) => {
    child.on('error', () => resolve(1));
    child.on('exit', (c, signal) => resolve(signal ? 1 : (c ?? 1)));
  });
  const left = await killMarked(marker);
  if (left > 0)
    console.log(
      `# killed ${left} process(es) left behind by ${list.length === 1 ? list[0] : 'the unit layer'}`,
    );
  if (code !== 0) failedFiles.push(...(list.length === 1 ? list : ['(unit layer)']));
  return code;
}

/** SIGKILLs every process whose environment holds this run's marker; returns how many. */
async function killMarked(marker) {
  const needle = `\0TRACKROOM_TEST_RUN=${marker}\0`;
  let killed = 0;
  for (let round = 0; round < 20; round++) {
    const found = [];
    for (const name of readdirSync('/proc')) {
      if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
      try {
        if (`\0${readFileSync(`/proc/${name}/environ`, 'latin1')}`.includes(needle)) found.push(Number(name));
      } catch {
        // gone already, or not ours to read
      }
    }
    if (found.length === 0) break;
    for (const pid of found) {
      try {
        process.kill(pid, 'SIGKILL');
        killed++;
      } catch {
        // exited between the scan and the kill
      }
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return killed;
}

let status = await run(files);
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
  status = (await run(again, { ...process.env, MEDIA_WORKERS: String(otherWorkers) })) || status;
}
const onPostgres = files.filter(
  (f) =>
    /^packages\/server\/src\/(routes|http)\/[^/]+\.test\.ts$/.test(f) ||
    f === 'e2e/src/conformance.e2e.test.ts',
);
if ((postgresPass || filters.length === 0) && onPostgres.length > 0) {
  console.log(`\n# again on PostgreSQL (TRACKROOM_TEST_STORE=postgres): ${onPostgres.join(' ')}`);
  status = (await run(onPostgres, { ...process.env, TRACKROOM_TEST_STORE: 'postgres' })) || status;
}
status = (await dropRunSchemas()) || status;
if (failedFiles.length > 0) console.log(`\n# failed: ${failedFiles.join(' ')}`);
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
