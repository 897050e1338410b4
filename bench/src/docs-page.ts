/**
 * docs/BENCHMARKS.md is written by several commands, each owning one region of it: `npm run bench`
 * the main report, `--peers trackroom,janus` the Janus comparison, `--media-workers` its table,
 * `npm run soak` the Soak section. A region sits between `<!-- bench:<key>:begin -->` and
 * `<!-- bench:<key>:end -->`; rewriting one leaves every other region and every hand-written
 * section as it is.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { SOAK_BEGIN } from './soak-report.js';

export type DocRegion = 'main' | 'janus' | 'media-workers';

const begin = (k: DocRegion) => `<!-- bench:${k}:begin -->`;
const end = (k: DocRegion) => `<!-- bench:${k}:end -->`;

/** Where region `key` is in `doc` ([from, to) including its markers), if it is there. */
function find(doc: string, key: DocRegion): [number, number] | undefined {
  const a = doc.indexOf(begin(key));
  const b = doc.indexOf(end(key));
  if (a >= 0 && b > a) return [a, b + end(key).length];
  if (key !== 'main' || !doc.startsWith('# Benchmarks')) return undefined;
  // A page from before the markers: the main report runs from the top to the first section after
  // its Method section (hand-written sections such as Logging follow it), or to the Soak section.
  const method = doc.indexOf('\n## Method');
  const soak = doc.indexOf(SOAK_BEGIN);
  const next = method >= 0 ? doc.indexOf('\n## ', method + 1) : -1;
  // Another command's region, placed after the unmarked main report.
  const region = doc.indexOf('<!-- bench:');
  const stop = [next >= 0 ? next + 1 : -1, soak, region].filter((i) => i >= 0);
  return [0, stop.length ? Math.min(...stop) : doc.length];
}

/** `doc` with region `key` replaced by `body` (or inserted: main at the top, others after main). */
export function replaceRegion(doc: string, key: DocRegion, body: string): string {
  const block = `${begin(key)}\n${body.trim()}\n${end(key)}\n`;
  const at = find(doc, key);
  if (at) return `${doc.slice(0, at[0])}${block}${tail(doc.slice(at[1]))}`;
  if (key === 'main') return `${block}\n${doc.trimStart()}`;
  // After the last bench-written region that precedes this one in page order, else before Soak.
  const order: DocRegion[] = ['main', 'janus', 'media-workers'];
  const before = order.slice(0, order.indexOf(key)).map((k) => find(doc, k));
  const after = before.filter((r) => r !== undefined).pop();
  const soak = doc.indexOf(SOAK_BEGIN);
  const i = after ? after[1] : soak >= 0 ? soak : doc.length;
  return `${doc.slice(0, i).trimEnd()}\n\n${block}${tail(doc.slice(i))}`;
}

/** Keeps one blank line between a region and what follows. */
const tail = (rest: string) => (rest.trim() ? `\n${rest.replace(/^\n+/, '')}` : '');

/** Rewrites one region of the page at `path` (made if missing). */
export function writeRegion(path: string, key: DocRegion, body: string): void {
  const doc = existsSync(path) ? readFileSync(path, 'utf8') : '';
  writeFileSync(path, replaceRegion(doc, key, body));
}
