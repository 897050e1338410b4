import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Manifest } from './manifest-types.js';
import {
  envelopeFromSamples,
  envelopePath,
  formatMs,
  layoutTimeline,
  recordingDurationMs,
  rulerTicks,
  seekTargets,
  timeAtFraction,
} from './timeline-layout.js';

const manifest: Manifest = {
  t0_ms: 1_000_000,
  stop_ms: 1_010_000,
  files: [
    {
      file_name: 'a.webm',
      participant_id: 'p-a',
      custom_participant_id: 'alice',
      file_start_ms: 0,
      file_end_ms: 10_000,
      intervals: {
        present: [{ from_ms: 0, to_ms: 10_000 }],
        muted: [{ from_ms: 6000, to_ms: 7000 }],
        paused: [],
      },
      speaking: [
        { from_ms: 1000, to_ms: 2500 },
        { from_ms: 4000, to_ms: 4500 },
      ],
      level_envelope: { interval_ms: 100, from_ms: 0, values: [-127, -12, -30, -127] },
    },
    {
      file_name: 'b.webm',
      participant_id: 'p-b',
      file_start_ms: 2500,
      file_end_ms: 8000,
      intervals: { present: [{ from_ms: 2500, to_ms: 8000 }], paused: [{ from_ms: 5000, to_ms: 5500 }] },
      levels_source: 'none',
      levels_missing_reason: 'not_negotiated',
      speaking: null,
      level_envelope: null,
    },
  ],
  allowlist_changes: [{ at_ms: 2500, added_user_ids: ['bob', 'p-a'], removed_user_ids: ['carol'] }],
};

test('every row maps its intervals onto one shared axis (percent of the recording length)', () => {
  const l = layoutTimeline(manifest);
  assert.equal(l.durationMs, 10_000);
  assert.equal(l.rows.length, 2);
  const [a, b] = l.rows;
  assert.ok(a && b);
  assert.equal(a.label, 'alice');
  assert.equal(b.label, 'p-b', 'no custom id: the participant id');
  assert.deepEqual(
    a.speaking.map((s) => [s.leftPct, s.widthPct]),
    [
      [10, 15],
      [40, 5],
    ],
  );
  assert.deepEqual(
    a.muted.map((s) => [s.leftPct, s.widthPct]),
    [[60, 10]],
  );
  // A late file starts later on the same axis.
  assert.equal(b.file.leftPct, 25);
  assert.equal(b.file.widthPct, 55);
  assert.deepEqual(
    b.paused.map((s) => [s.leftPct, s.widthPct]),
    [[50, 5]],
  );
  assert.equal(b.envelopePath, '');
  assert.equal(b.noLevelsReason, 'not_negotiated');
  assert.deepEqual(l.marks, [{ atMs: 2500, leftPct: 25, label: '+bob +alice −carol' }]);
});

test('intervals past the end are clipped to the axis; the duration falls back to the longest file', () => {
  const m: Manifest = {
    files: [
      {
        file_name: 'x.webm',
        file_start_ms: 0,
        file_end_ms: 4000,
        speaking: [{ from_ms: 3000, to_ms: 9000 }],
      },
    ],
  };
  assert.equal(recordingDurationMs(m), 4000);
  const s = layoutTimeline(m).rows[0]!.speaking[0]!;
  assert.equal(s.leftPct, 75);
  assert.equal(s.widthPct, 25);
  assert.equal(s.toMs, 9000, 'the manifest value is kept for labels');
});

test('the envelope is a closed step area in a 0..duration × 0..127 box, merged to at most maxPoints bins', () => {
  const p = envelopePath({ interval_ms: 100, from_ms: 0, values: [-127, -12, -30, -127] }, 400, 100);
  assert.equal(p, 'M0,127L0,127L100,127L100,12L200,12L200,30L300,30L300,127L400,127L400,127Z');
  // 4 bins into 2 points: the loudest of each pair.
  const merged = envelopePath({ interval_ms: 100, from_ms: 0, values: [-127, -12, -30, -60] }, 400, 2);
  assert.equal(merged, 'M0,127L0,12L200,12L200,30L400,30L400,127Z');
  assert.equal(envelopePath({ interval_ms: 100, from_ms: 0, values: [] }, 400, 10), '');
});

test('ruler ticks use a round step and at most about maxTicks', () => {
  const t = rulerTicks(10_000, 8);
  assert.deepEqual(
    t.map((x) => x.atMs),
    [0, 2000, 4000, 6000, 8000, 10_000],
  );
  assert.equal(t[1]!.label, '0:02');
  assert.ok(rulerTicks(3_600_000 * 5, 8).length <= 9);
  assert.equal(formatMs(3_725_000), '1:02:05');
  assert.equal(formatMs(1500, true), '0:01.5');
});

test('a click maps to one instant; each file seeks to it minus its own start', () => {
  const l = layoutTimeline(manifest);
  assert.equal(timeAtFraction(0.5, l.durationMs), 5000);
  assert.equal(timeAtFraction(-1, l.durationMs), 0);
  assert.deepEqual(seekTargets(l.rows, 5000), [
    { fileName: 'a.webm', currentTimeS: 5, startInMs: 0, ended: false },
    { fileName: 'b.webm', currentTimeS: 2.5, startInMs: 0, ended: false },
  ]);
  // Before the late file starts: it waits at 0 and starts when the others reach its start.
  assert.deepEqual(seekTargets(l.rows, 1000)[1], {
    fileName: 'b.webm',
    currentTimeS: 0,
    startInMs: 1500,
    ended: false,
  });
  assert.equal(seekTargets(l.rows, 9000)[1]!.ended, true);
});

test('envelopeFromSamples: RMS per 100 ms bin in dB (a full-scale sine reads -3), digital silence -127, from the file start', () => {
  const rate = 48_000;
  const n = rate * 0.5;
  const sine = new Float32Array(n);
  // 0-200 ms a 440 Hz sine of amplitude 0.5 (RMS -9 dB), 200-300 ms silence, 300-500 ms full scale.
  for (let i = 0; i < n; i++) {
    const t = i / rate;
    const a = t < 0.2 ? 0.5 : t < 0.3 ? 0 : 1;
    sine[i] = a * Math.sin(2 * Math.PI * 440 * t);
  }
  const env = envelopeFromSamples([sine, sine], rate, 1280);
  assert.equal(env.from_ms, 1280);
  assert.equal(env.interval_ms, 100);
  assert.deepEqual(env.values, [-9, -9, -127, -3, -3]);
});
