/**
 * sineOpusPackets from several processes at once, all given the same folder (as the bench's load
 * generator processes do): every call must get the whole tone. With one fixed file name per tone,
 * callers read each other's half-written file and fail with "no OggS" / "no OpusHead".
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { sineOpusPackets } from './ogg-opus.js';

const here = new URL('./ogg-opus.ts', import.meta.url).pathname;

/** One child process calling sineOpusPackets `calls` times into `dir`; resolves with its output. */
function child(dir: string, calls: number): Promise<{ code: number | null; out: string }> {
  const script =
    `const { sineOpusPackets } = await import(${JSON.stringify(here)});` +
    `for (let i = 0; i < ${calls}; i++) {` +
    `  const p = sineOpusPackets({ dir: ${JSON.stringify(dir)}, frequency: 440, seconds: 1, channels: 1 });` +
    `  process.stdout.write(p.length + '\\n');` +
    `}`;
  return new Promise((resolve, reject) => {
    const proc = spawn(
      process.execPath,
      ['--conditions=source', '--import', 'tsx', '--input-type=module', '-e', script],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    proc.stdout.on('data', (d: Buffer) => (out += String(d)));
    proc.stderr.on('data', (d: Buffer) => (out += String(d)));
    proc.once('error', reject);
    proc.once('exit', (code) => resolve({ code, out }));
  });
}

test('sineOpusPackets: one folder shared by concurrent processes, every call gets the whole tone', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ogg-opus-shared-'));
  const expected = sineOpusPackets({ dir, frequency: 440, seconds: 1, channels: 1 }).length;
  assert.ok(expected >= 50, `1 s of 20 ms frames, got ${expected}`);
  const runs = await Promise.all(Array.from({ length: 6 }, () => child(dir, 8)));
  for (const r of runs) {
    assert.equal(r.code, 0, r.out);
    assert.deepEqual(
      r.out.trim().split('\n').map(Number),
      Array.from({ length: 8 }, () => expected),
    );
  }
  assert.deepEqual(readdirSync(dir), [], 'each call removes its own file');
});
