/**
 * Media checks on real output: real Opus packets (ffmpeg/libopus), wrapped in RTP with loss, jitter,
 * sequence and timestamp wraparound, a muted gap with a frozen RTP clock, and a DTX jump; the file is
 * checked with ffprobe/ffmpeg against named tolerances. Fails loudly if ffmpeg is missing.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { buildRtp } from './rtp-parser.js';
import { decodeMono, ffprobe, probePacketTimes } from './testing/media-tools.js';
import { sineOpusPackets } from './testing/ogg-opus.js';
import { inspectWebm } from './testing/webm-inspect.js';
import { TrackFileWriter, type TrackFileResult } from './track-file-writer.js';
import { repairWebmFile } from './webm-repair.js';

/** Container duration vs the covered span. */
const DURATION_TOLERANCE_MS = 40;
/** Where a silence edge is vs where the timeline says it is. */
const EDGE_TOLERANCE_MS = 20;
/** Tone frequency from zero crossings. */
const FREQ_TOLERANCE_HZ = 5;
/**
 * |sample| above this is not silence. Silence frames decode to exact zeros; real packets spliced in
 * after silence ramp up over ~100 ms (CELT predicts band energies from the previous frame), so edges
 * are found with a low threshold rather than at full tone level.
 */
const AUDIBLE = 50;
/** Skip the encoder's first packets (pre-skip, start-up ramp): WebRTC streams are joined mid-stream. */
const FIRST_PACKET = 10;

const dir = mkdtempSync(join(tmpdir(), 'recorder-e2e-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const T0 = 1_700_000_000_000;
const STOP_MS = 7000;
const TONE_FROM_MS = 300;
const MUTE = { from: 2000, to: 3500 }; // no packets, RTP clock frozen (worst case)
const DTX = { from: 5000, to: 5600 }; // no packets, RTP clock running
const LOST_AT_MS = [1000, 1020, 4200];

function jitter(i: number): number {
  return (i * 7919) % 11; // 0..10 ms, deterministic
}

function zeroCrossingHz(s: Int16Array, fromMs: number, toMs: number): number {
  let crossings = 0;
  const a = Math.round(fromMs * 48);
  const b = Math.round(toMs * 48);
  for (let i = a + 1; i < b; i++) if ((s[i - 1] as number) < 0 !== (s[i] as number) < 0) crossings++;
  return crossings / 2 / ((toMs - fromMs) / 1000);
}

function rms(s: Int16Array, fromMs: number, toMs: number): number {
  let sum = 0;
  const a = Math.round(fromMs * 48);
  const b = Math.round(toMs * 48);
  for (let i = a; i < b; i++) sum += (s[i] as number) ** 2;
  return Math.sqrt(sum / Math.max(1, b - a));
}

/** First loud sample at or after `fromMs`, in ms. */
function firstAudible(s: Int16Array, fromMs: number): number {
  for (let i = Math.round(fromMs * 48); i < s.length; i++)
    if (Math.abs(s[i] as number) > AUDIBLE) return i / 48;
  return Infinity;
}

/** Last loud sample before `toMs`, in ms (end of that sample). */
function lastAudible(s: Int16Array, toMs: number): number {
  for (let i = Math.round(toMs * 48) - 1; i >= 0; i--)
    if (Math.abs(s[i] as number) > AUDIBLE) return (i + 1) / 48;
  return -Infinity;
}

let result: TrackFileResult;
let samples: Int16Array;

void describe('track recording media checks (ffmpeg)', () => {
  before(async () => {
    const packets = sineOpusPackets({ dir, frequency: 440, seconds: 8, channels: 2 });
    const path = join(dir, 'track.webm');
    const w = new TrackFileWriter({ path, t0Ms: T0, channels: 2 });
    await w.open();
    w.attach({ sourceId: 'peer-1', payloadType: 111 });
    let seq = 65_500;
    let ts = 0xffffffff - 100_000;
    let k = FIRST_PACKET;
    for (let senderMs = TONE_FROM_MS; senderMs < STOP_MS; senderMs += 20) {
      const inMute = senderMs >= MUTE.from && senderMs < MUTE.to;
      const inDtx = senderMs >= DTX.from && senderMs < DTX.to;
      if (senderMs === MUTE.from) w.setMuted(true, T0 + senderMs);
      if (senderMs === MUTE.to) w.setMuted(false, T0 + senderMs);
      w.tick(T0 + senderMs);
      if (inMute) continue; // RTP clock frozen: neither seq nor ts advance
      if (!inDtx) {
        const payload = packets[k++ % packets.length] as Uint8Array;
        const data = buildRtp({
          payloadType: 111,
          sequenceNumber: seq & 0xffff,
          timestamp: ts >>> 0,
          ssrc: 0xabc,
          payload,
        });
        const arrival =
          T0 +
          senderMs +
          (senderMs === MUTE.to || senderMs === DTX.to || senderMs === TONE_FROM_MS ? 0 : jitter(k));
        if (!LOST_AT_MS.includes(senderMs)) w.push(data, arrival);
        seq++;
      }
      ts += 960;
    }
    result = await w.close(T0 + STOP_MS);
    const decoded = decodeMono(path);
    assert.equal(decoded.status, 0, `ffmpeg failed: ${decoded.stderr}`);
    assert.equal(decoded.stderr, '', 'the decoder reports no errors');
    samples = decoded.samples;
  });

  void it('ffprobe sees Opus, 48 kHz, stereo, and the covered duration', () => {
    const p = ffprobe(result.path);
    assert.equal(p.codecName, 'opus');
    assert.equal(p.sampleRate, 48000);
    assert.equal(p.channels, 2);
    assert.ok(Math.abs(p.durationSec * 1000 - STOP_MS) <= DURATION_TOLERANCE_MS, `duration ${p.durationSec}`);
    assert.ok(
      Math.abs(samples.length / 48 - STOP_MS) <= DURATION_TOLERANCE_MS,
      `decoded ${samples.length / 48} ms`,
    );
    assert.equal(result.durationMs, STOP_MS);
    assert.equal(result.startOffsetMs, TONE_FROM_MS);
    assert.equal(result.packets.lost, LOST_AT_MS.length);
    assert.equal(result.reanchors.jump, 1, 'the frozen clock after the mute re-anchors once');
    assert.deepEqual(result.intervals.muted, [{ fromMs: MUTE.from, toMs: MUTE.to }]);
  });

  void it('the tone is 440 Hz where audio was sent', () => {
    for (const [a, b] of [
      [400, 900],
      [3700, 4100],
      [5800, 6800],
    ] as const) {
      const hz = zeroCrossingHz(samples, a, b);
      assert.ok(Math.abs(hz - 440) <= FREQ_TOLERANCE_HZ, `${hz} Hz in ${a}..${b} ms`);
    }
  });

  void it('silence sits exactly where the timeline has no audio', () => {
    const edges: [string, number, number][] = [
      ['tone start', firstAudible(samples, 0), TONE_FROM_MS],
      ['mute start', lastAudible(samples, (MUTE.from + MUTE.to) / 2), MUTE.from],
      ['mute end', firstAudible(samples, (MUTE.from + MUTE.to) / 2), MUTE.to],
      ['DTX start', lastAudible(samples, (DTX.from + DTX.to) / 2), DTX.from],
      ['DTX end', firstAudible(samples, (DTX.from + DTX.to) / 2), DTX.to],
    ];
    for (const [name, got, want] of edges) {
      assert.ok(Math.abs(got - want) <= EDGE_TOLERANCE_MS, `${name} at ${got} ms, expected ${want} ms`);
    }
    const tone = rms(samples, 400, 900);
    assert.ok(rms(samples, 5, TONE_FROM_MS - 5) < 1, 'lead-in is digital silence');
    assert.ok(rms(samples, MUTE.from + 10, MUTE.to - 10) < 1, 'the mute gap is digital silence');
    // The two lost packets at 1000 and 1020 ms leave a dip (CELT overlap smears ~2.5 ms at each end).
    assert.ok(rms(samples, 1005, 1035) < tone * 0.1, 'lost packets are concealed with silence');
  });

  void it('seeks: ffmpeg -ss lands at the right place, and ffprobe -read_intervals jumps via the cues', () => {
    const webm = inspectWebm(new Uint8Array(readFileSync(result.path)));
    assert.equal(webm.cues.length, Math.ceil(STOP_MS / 2000));
    const seeked = decodeMono(result.path, ['-ss', '3.0'], ['-t', '1.0']);
    assert.equal(seeked.status, 0, seeked.stderr);
    const edge = firstAudible(seeked.samples, 0);
    assert.ok(
      Math.abs(edge - (MUTE.to - 3000)) <= EDGE_TOLERANCE_MS,
      `after -ss 3 the tone starts at ${edge} ms`,
    );
    // ffprobe seeks to the cluster holding 5.2 s (via the cues) and reads 0.5 s from there.
    const times = probePacketTimes(result.path, '5.2%+0.5');
    const first = times[0];
    assert.ok(first !== undefined, 'packets were read after the seek');
    assert.ok(
      webm.cues.some((c) => c.timeMs === Math.round(first * 1000)),
      `${first} s is a cluster start`,
    );
    assert.ok(first <= 5.2 && first > 5.2 - 2.0, `first packet read at ${first} s`);
    assert.ok((times.at(-1) ?? 0) >= first + 0.45, 'reads on from the seek point');
  });
});

void describe('silence frames', () => {
  void it('every silence frame size (2.5/5/10/20 ms), mono and stereo, decodes to exact zeros', async () => {
    for (const channels of [1, 2] as const) {
      const path = join(dir, `silence-${channels}.webm`);
      const w = new TrackFileWriter({ path, t0Ms: T0, channels });
      await w.open();
      // Ticks at odd instants force 2.5, 5, 10 and 20 ms silence frames (a tick writes silence up to
      // now - 100 ms playout delay - 1 s stall guard).
      for (const t of [12.5, 117.5, 305, 1002.5]) w.tick(T0 + 1100 + t);
      const res = await w.close(T0 + 1002.5);
      assert.equal(res.durationMs, 1002.5);
      const d = decodeMono(path);
      assert.equal(d.status, 0, d.stderr);
      assert.equal(d.stderr, '');
      assert.ok(Math.abs(d.samples.length / 48 - 1002.5) <= 2.5, `decoded ${d.samples.length / 48} ms`);
      assert.ok(
        d.samples.every((x) => x === 0),
        'all zeros',
      );
      const sizes = new Set(
        inspectWebm(new Uint8Array(readFileSync(path)))
          .clusters.flatMap((c) => c.blocks)
          .map((b) => (b.payload[0] as number) >> 3),
      );
      assert.deepEqual([...sizes].sort(), [28, 29, 30, 31], 'CELT configs for 2.5, 5, 10 and 20 ms');
    }
  });
});

void describe('crash safety', () => {
  void it('a SIGKILLed writer leaves a decodable file that repairWebmFile finalizes', async () => {
    const path = join(dir, 'killed.webm');
    const child = spawn(
      process.execPath,
      [
        '--conditions=source',
        '--import',
        'tsx',
        fileURLToPath(new URL('./testing/kill-child.ts', import.meta.url)),
        path,
        dir,
        '5',
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const lines = createInterface({ input: child.stdout });
    let ready: string | undefined;
    for await (const line of lines) {
      if (line.startsWith('READY ')) {
        ready = line;
        break;
      }
    }
    assert.ok(ready, 'the child reported its flushed clusters');
    const flushedMs = Number(ready.split(' ')[1]);
    const exited = once(child, 'exit');
    child.kill('SIGKILL');
    const [, signal] = (await exited) as [number | null, string | null];
    assert.equal(signal, 'SIGKILL');
    assert.equal(flushedMs, 4000, '5 s pushed with 2 s clusters: two clusters on disk');

    const live = decodeMono(path);
    assert.equal(live.status, 0, live.stderr);
    assert.equal(live.stderr, '', 'the unfinalized file decodes without errors');
    assert.ok(Math.abs(live.samples.length / 48 - flushedMs) <= DURATION_TOLERANCE_MS);
    assert.ok(Number.isNaN(ffprobe(path).durationSec) || ffprobe(path).durationSec > 0);

    const repaired = await repairWebmFile(path);
    assert.equal(repaired.ok, true);
    assert.equal(repaired.repaired, true);
    assert.ok(Math.abs(repaired.durationMs - flushedMs) <= 2000, 'within one cluster of what was written');
    const probe = ffprobe(path);
    assert.ok(
      Math.abs(probe.durationSec * 1000 - flushedMs) <= DURATION_TOLERANCE_MS,
      `duration ${probe.durationSec}`,
    );
    const webm = inspectWebm(new Uint8Array(readFileSync(path)));
    assert.equal(webm.segmentSize, repaired.sizeBytes - webm.segmentDataStart);
    assert.equal(webm.cues.length, 2);
    const again = await repairWebmFile(path);
    assert.equal(again.repaired, false);
    assert.equal(again.sha256, repaired.sha256);
  });
});
