/**
 * Smoke test of the large-meeting harness (meeting-scale.ts) at a tiny size, clients in two
 * processes: it runs end to end, everyone hears everyone, and the counts it reports add up. It
 * asserts nothing about speed.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runBench } from './support/run-bench.js';
import type { MeetingScaleResult } from './meeting-scale.js';

test('the large-meeting harness runs a meeting of 3 with its clients in 2 processes', () => {
  const { results: files } = runBench<{ results: MeetingScaleResult[] }>(
    ['--meetings', '3', '--seconds', '2', '--client-processes', '2'],
    'meetings-',
  );
  assert.equal(files.length, 1);
  const { results } = files[0]!;
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
