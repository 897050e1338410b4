/**
 * The shipped systemd unit (deploy/trackroom.service) is one systemd accepts without a warning:
 * `systemd-analyze verify` exits 0 and prints nothing (it exits 0 on an unparsable value, but says so).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

const root = new URL('../..', import.meta.url).pathname;
const unit = join(root, 'deploy/trackroom.service');

function verify(path: string): { status: number | null; out: string } {
  const r = spawnSync('systemd-analyze', ['verify', path], { encoding: 'utf8' });
  if (r.error) throw new Error(`systemd-analyze is needed (Debian package systemd): ${r.error.message}`);
  return { status: r.status, out: `${r.stdout}${r.stderr}`.trim() };
}

test('deploy/trackroom.service passes systemd-analyze verify with no warning', () => {
  const r = verify(unit);
  assert.equal(r.status, 0, r.out);
  assert.equal(r.out, '', 'no warning');
});

test('the check can fail: a broken copy of the unit is reported', () => {
  const dir = mkdtempSync(join(tmpdir(), 'unit-'));
  const broken = join(dir, 'trackroom.service');
  copyFileSync(unit, broken);
  writeFileSync(broken, readFileSync(broken, 'utf8').replace(/^Restart=.*$/m, 'Restart=sometimes'));
  const r = verify(broken);
  assert.match(r.out, /restart specifier/);
});
