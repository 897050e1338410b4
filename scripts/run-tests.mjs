#!/usr/bin/env node
// Finds test files by layer and runs them with Node's own test runner through tsx.
// Layers (by file name): unit/HTTP `*.test.ts`, end-to-end and media `*.e2e.test.ts`.
// Usage: node scripts/run-tests.mjs [--layer unit|e2e] [file filter substring]
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const args = process.argv.slice(2);
const layerIdx = args.indexOf('--layer');
const layer = layerIdx >= 0 ? args[layerIdx + 1] : 'all';
if (!['all', 'unit', 'e2e'].includes(layer)) {
  console.error(`unknown layer "${layer}": use unit or e2e`);
  process.exit(2);
}
const filters = args.filter((_, i) => layerIdx < 0 || (i !== layerIdx && i !== layerIdx + 1));

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
    ...files,
  ],
  { cwd: root, stdio: 'inherit' },
);
process.exit(res.status ?? 1);
