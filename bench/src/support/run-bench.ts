/** Runs `npm run bench -- <args>` the way the bench's smoke tests do, results into a fresh folder. */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = new URL('../../../', import.meta.url).pathname;

/**
 * Runs bench/src/main.ts with `args` and `--out <fresh dir>`; throws with its stderr unless it exits 0.
 * Answers what it printed and the result JSON files it wrote whose names start with `prefix`, parsed.
 */
export function runBench<T>(
  args: string[],
  prefix = '',
  timeoutMs = 180_000,
): { stdout: string; results: T[] } {
  const out = mkdtempSync(join(tmpdir(), 'bench-smoke-'));
  const res = spawnSync(
    process.execPath,
    ['--conditions=source', '--import', 'tsx', 'bench/src/main.ts', ...args, '--out', out],
    { cwd: root, encoding: 'utf8', timeout: timeoutMs },
  );
  if (res.status !== 0) throw new Error(`bench failed (${res.status ?? res.signal}):\n${res.stderr}`);
  const results = readdirSync(out)
    .filter((f) => f.startsWith(prefix) && f.endsWith('.json'))
    .map((f) => JSON.parse(readFileSync(join(out, f), 'utf8')) as T);
  return { stdout: res.stdout, results };
}
