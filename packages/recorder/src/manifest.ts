/**
 * Stage 7: the manifest entry of one track file, computed from the close (or repair) result.
 * Plain JSON: every time is ms, either wall-clock (`t0Ms`) or on the recording timeline (from t0).
 */
import { basename } from 'node:path';
import type { TrackFileIntervals, TrackFilePacketStats, TrackFileResult } from './track-file-writer.js';

export interface TrackManifestEntry {
  /** File name relative to the manifest's directory. */
  file: string;
  container: 'webm';
  codec: 'opus';
  sampleRate: 48000;
  channels: 1 | 2;
  sizeBytes: number;
  sha256: string;
  /** Wall-clock instant of timeline position 0 (ms since the Unix epoch, and ISO 8601). */
  t0Ms: number;
  t0Iso: string;
  /** Where the file's first sample sits on the timeline (ms): 0 unless aligned on the first packet. */
  fileStartMs: number;
  durationMs: number;
  /** Where the file ends on the timeline (ms). */
  fileEndMs: number;
  /** First real audio on the timeline (ms), or null if the file is all silence. */
  startOffsetMs: number | null;
  framesWritten: number;
  framesFilled: number;
  concealedMs: number;
  packets: TrackFilePacketStats;
  intervals: TrackFileIntervals;
  /** Caller-supplied identifiers (participant, track, session ...). */
  labels: Record<string, string>;
}

/** Rounds to 0.001 ms so that the JSON stays readable and stable. */
function ms(v: number): number {
  return Math.round(v * 1000) / 1000;
}

export function trackManifestEntry(
  result: TrackFileResult,
  labels: Record<string, string> = {},
): TrackManifestEntry {
  return {
    file: basename(result.path),
    container: 'webm',
    codec: 'opus',
    sampleRate: 48000,
    channels: result.channels,
    sizeBytes: result.sizeBytes,
    sha256: result.sha256,
    t0Ms: result.t0Ms,
    t0Iso: new Date(result.t0Ms).toISOString(),
    fileStartMs: ms(result.fileStartMs),
    durationMs: ms(result.durationMs),
    fileEndMs: ms(result.fileStartMs + result.durationMs),
    startOffsetMs: result.startOffsetMs === null ? null : ms(result.startOffsetMs),
    framesWritten: result.framesWritten,
    framesFilled: result.framesFilled,
    concealedMs: ms(result.concealedMs),
    packets: { ...result.packets },
    intervals: {
      present: result.intervals.present.map((i) => ({
        sourceId: i.sourceId,
        fromMs: ms(i.fromMs),
        toMs: ms(i.toMs),
      })),
      muted: result.intervals.muted.map((i) => ({ fromMs: ms(i.fromMs), toMs: ms(i.toMs) })),
      paused: result.intervals.paused.map((i) => ({ fromMs: ms(i.fromMs), toMs: ms(i.toMs) })),
    },
    labels: { ...labels },
  };
}
