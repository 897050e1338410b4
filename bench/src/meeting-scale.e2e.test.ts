/**
 * Smoke test of the large-meeting harness (meeting-scale.ts) at a tiny size, clients in two
 * processes: it runs end to end, everyone hears everyone, and the counts it reports add up. It
 * asserts nothing about speed.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { MeetingScaleResult } from './meeting-scale.js';

const root = new URL('../../', import.meta.url).pathname;

test('the large-meeting harness runs a meeting of 3 with its clients in 2 processes', () => {
  const out = mkdtempSync(join(tmpdir(), 'bench-meetings-'));
  const res = spawnSync(
    process.execPath,
    [
      '--conditions=source',
      '--import',
      'tsx',
      'bench/src/main.ts',
      '--meetings',
      '3',
      '--seconds',
      '2',
      '--client-processes',
      '2',
      '--out',
      out,
    ],
    { cwd: root, encoding: 'utf8', timeout: 180_000 },
  );
  assert.equal(res.status, 0, `bench failed:\n${res.stderr}`);
  const files = readdirSync(out).filter((f) => f.startsWith('meetings-') && f.endsWith('.json'));
  assert.equal(files.length, 1);
  const { results } = JSON.parse(readFileSync(join(out, files[0]!), 'utf8')) as {
    results: MeetingScaleResult[];
  };
  assert.equal(results.length, 1);
  const r = results[0]!;
  assert.equal(r.n, 3);
  assert.equal(r.clientProcesses, 2);
  assert.equal(r.forwardingLoss, 0, 'every packet of every pair arrived');
  assert.equal(r.serverForwardRatio, 1, 'the server forwarded each packet to the 2 others');
  assert.equal(r.clientPcs, 2, 'publish + one subscribing connection');
  assert.equal(r.serverPcsPerParticipant, 2);
  assert.equal(r.subscribeErrors, 0);
  assert.ok(r.sentPerSec > 0 && r.forwardedPerSec >= 2 * r.sentPerSec * 0.9, JSON.stringify(r));
  assert.ok(r.clientsCpuPct > 0, 'the client processes were measured');
  for (const v of [r.joinMs.p95, r.allHearAllMs, r.lateHearsAllMs, r.lateSpreadMs, r.everyoneHearsLateMs])
    assert.ok(Number.isFinite(v) && v >= 0, JSON.stringify(r));
});
