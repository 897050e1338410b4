#!/usr/bin/env node
// Starts the server (`npm start`, `bash scripts/start.sh`, a service manager): installs the
// dependencies only when node_modules is missing or package-lock.json (or the Node ABI) changed
// since the last install, builds only what is older than its sources, then runs
// packages/server/dist/main.js in this same process, so signals reach the server directly.
// `--no-install` fails instead of installing (a machine without registry access).
// Node built-ins only: it runs before anything is installed.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const root = new URL('..', import.meta.url).pathname;
/** Written after a successful install; inside node_modules, so deleting node_modules removes it. */
const stamp = join(root, 'node_modules', '.trackroom-installed');

function say(line) {
  process.stdout.write(`trackroom: ${line}\n`);
}

function run(cmd, args, what) {
  const res = spawnSync(cmd, args, { cwd: root, stdio: 'inherit' });
  if (res.error) fail(`${what} could not run: ${res.error.message}`);
  if (res.status !== 0) fail(`${what} failed (exit ${res.status ?? res.signal})`);
}

function fail(message) {
  process.stderr.write(`trackroom: ${message}\n`);
  process.exit(1);
}

function mtime(path) {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return -1;
  }
}

/** The newest modification time of the files under `dir` (recursively), test files left out. */
function newest(dir) {
  let max = -1;
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return max;
  }
  for (const e of entries) {
    const p = join(dir, e.name);
    if (e.isDirectory()) max = Math.max(max, newest(p));
    else if (!/\.test\.ts$/.test(e.name)) max = Math.max(max, mtime(p));
  }
  return max;
}

// 1. Install when needed: node_modules missing, or the stamp of our last install names another
// package-lock.json or Node ABI (native modules). Without a stamp, an install made by hand
// (`npm ci`, as scripts/test.sh does) counts when npm's own record of it,
// node_modules/.package-lock.json, is newer than package-lock.json.
const lockFile = join(root, 'package-lock.json');
const want = `${createHash('sha256').update(readFileSync(lockFile)).digest('hex')} node-abi-${process.versions.modules}\n`;
const have = existsSync(stamp) ? readFileSync(stamp, 'utf8') : undefined;
const hiddenLock = mtime(join(root, 'node_modules', '.package-lock.json'));
let why;
if (!existsSync(join(root, 'node_modules'))) why = 'first start: no node_modules';
else if (have !== undefined && have !== want) why = 'package-lock.json or the Node version changed';
else if (have === undefined && hiddenLock < mtime(lockFile))
  why = 'package-lock.json is newer than node_modules';
const install = why !== undefined;
if (install) {
  if (process.argv.includes('--no-install')) fail(`dependencies need installing (${why}); run npm ci`);
  say(`installing dependencies (${why})`);
  run('npm', ['ci', '--no-fund', '--no-audit'], 'npm ci');
}
if (have !== want) writeFileSync(stamp, want);

// 2. Build what is stale (everything after an install): the workspace packages of tsconfig.json,
// each against its sources, its tsconfig and the shared tsconfig.base.json.
const packages = JSON.parse(readFileSync(join(root, 'tsconfig.json'), 'utf8')).references.map((r) => r.path);
const pkgJson = (dir) => JSON.parse(readFileSync(join(root, dir, 'package.json'), 'utf8'));
const dirByName = new Map(packages.map((dir) => [pkgJson(dir).name, dir]));
const common = mtime(join(root, 'tsconfig.base.json'));
const ownInputs = (dir) =>
  Math.max(
    newest(join(root, dir, 'src')),
    mtime(join(root, dir, 'tsconfig.json')),
    mtime(join(root, dir, 'package.json')),
  );

const staleTs = packages.filter(
  (dir) =>
    install ||
    !existsSync(join(root, dir, 'dist')) ||
    Math.max(ownInputs(dir), common) > mtime(join(root, dir, 'tsconfig.tsbuildinfo')),
);
if (staleTs.length > 0) {
  say(install ? 'compiling' : `compiling (${staleTs.join(', ')} changed)`);
  run(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-b'], 'tsc -b');
}

// The browser bundles (esbuild, from sources of the package and of the workspace packages it
// depends on): rebuilt when any of those is newer than the oldest bundle file.
function sourceDirs(dir, seen = new Set()) {
  if (seen.has(dir)) return seen;
  seen.add(dir);
  for (const dep of Object.keys(pkgJson(dir).dependencies ?? {})) {
    const d = dirByName.get(dep);
    if (d) sourceDirs(d, seen);
  }
  return seen;
}
for (const dir of packages) {
  const script = join(root, dir, 'build.mjs');
  if (!existsSync(script)) continue;
  const outDir = join(root, dir, 'dist', 'browser');
  const outputs = existsSync(outDir) ? readdirSync(outDir).map((f) => mtime(join(outDir, f))) : [];
  const oldest = outputs.length > 0 ? Math.min(...outputs) : -1;
  const inputs = Math.max(common, mtime(script), ...[...sourceDirs(dir)].map(ownInputs));
  if (install || inputs > oldest) {
    say(`bundling ${dir}`);
    run(process.execPath, [script], `${dir}/build.mjs`);
  }
}

// 3. Run.
await import(pathToFileURL(join(root, 'packages/server/dist/main.js')).href);
