/**
 * Smoke test of the benchmark harness at a tiny size: it runs end to end and produces a result with
 * every scenario, numeric fields and no invalid files. It asserts nothing about speed.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runBench } from './support/run-bench.js';
import type { BenchResult } from './report.js';

test('bench harness runs at a tiny size and reports every scenario', () => {
  const { stdout, results: files } = runBench<BenchResult>([
    '--n',
    '2',
    '--seconds',
    '3',
    '--cycles',
    '2',
    '--quick',
    '--no-docs',
  ]);
  assert.equal(files.length, 1);
  const r = files[0]!;

  assert.equal(r.load.length, 1);
  const l = r.load[0]!;
  assert.equal(l.n, 2);
  assert.equal(l.connect.connected, 2);
  for (const w of [l.forward, l.record]) {
    for (const k of [
      'serverCpuPct',
      'generatorCpuPct',
      'eventLoopP99Ms',
      'rssMb',
      'sent',
      'rtpReceived',
    ] as const)
      assert.ok(Number.isFinite(w[k]), `${k} is a number`);
  }
  // --quick: one record window between two forward windows (ABA).
  assert.deepEqual(
    l.windows?.map((w) => w.scenario),
    ['forward', 'record', 'forward'],
  );
  assert.ok(l.overheadSpreadPct && Number.isFinite(l.overheadSpreadPct.min));
  assert.equal(l.forward.activeTrackRecordings, 0);
  assert.equal(l.record.activeTrackRecordings, 1, 'one track recording of the one meeting');
  assert.ok(Number.isFinite(l.totalLossPct));
  // Fan-out is the default: the two publishers of the one meeting subscribe to each other.
  assert.equal(l.fanout, true);
  assert.deepEqual(l.subscriptions && [l.subscriptions.expected, l.subscriptions.up], [2, 2]);
  assert.ok(Number.isFinite(l.forwardLossPct) && (l.totalRtpForwarded ?? 0) > 0, 'packets were forwarded');
  assert.ok(Number.isFinite(l.stopLatencyMs.p95));
  assert.equal(l.correctness.files, 2);
  assert.equal(l.correctness.invalid, 0, l.correctness.problems.join('\n'));

  const s = r.startStop;
  assert.ok(s, 'start/stop scenario ran');
  for (const v of [s.startHttpMs, s.startFileMs, s.firstClusterMs, s.stopUploadedMs]) {
    assert.equal(v.count, 2);
    assert.ok(Number.isFinite(v.p50) && Number.isFinite(v.p95));
  }
  assert.ok(s.correctness.files > 0);
  assert.equal(s.correctness.invalid, 0, s.correctness.problems.join('\n'));

  assert.ok(r.targets.length >= 4, 'every target is reported');
  for (const t of r.targets) assert.ok(['met', 'missed', 'not reached', 'inconclusive'].includes(t.status));
  assert.match(stdout, /# Benchmarks/);
});
