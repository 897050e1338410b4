/** Test support: ffprobe/ffmpeg wrappers that fail loudly when the tools are missing. */
import { spawnSync } from 'node:child_process';

function run(cmd: string, args: string[]): { stdout: Buffer; stderr: string; status: number } {
  const res = spawnSync(cmd, args, { maxBuffer: 512 * 1024 * 1024 });
  if (res.error) throw new Error(`${cmd} is required for this test and could not run: ${res.error.message}`);
  return { stdout: res.stdout, stderr: res.stderr.toString('utf8'), status: res.status ?? -1 };
}

export interface ProbeResult {
  codecName: string;
  sampleRate: number;
  channels: number;
  /** Container duration in seconds, or NaN if absent. */
  durationSec: number;
  formatName: string;
}

export function ffprobe(file: string): ProbeResult {
  const res = run('ffprobe', ['-v', 'error', '-print_format', 'json', '-show_format', '-show_streams', file]);
  if (res.status !== 0) throw new Error(`ffprobe failed: ${res.stderr}`);
  const j = JSON.parse(res.stdout.toString('utf8')) as {
    streams: { codec_name: string; sample_rate: string; channels: number }[];
    format: { duration?: string; format_name: string };
  };
  const s = j.streams[0];
  if (!s) throw new Error('ffprobe found no stream');
  return {
    codecName: s.codec_name,
    sampleRate: Number(s.sample_rate),
    channels: s.channels,
    durationSec: j.format.duration === undefined ? NaN : Number(j.format.duration),
    formatName: j.format.format_name,
  };
}

/** Decodes to mono 48 kHz s16 samples. `stderr` holds every decoder complaint (-v error). */
export function decodeMono(
  file: string,
  extraInputArgs: string[] = [],
  extraOutputArgs: string[] = [],
): {
  samples: Int16Array;
  stderr: string;
  status: number;
} {
  const res = run('ffmpeg', [
    '-v',
    'error',
    '-nostdin',
    ...extraInputArgs,
    '-i',
    file,
    ...extraOutputArgs,
    '-ac',
    '1',
    '-ar',
    '48000',
    '-f',
    's16le',
    '-',
  ]);
  const b = res.stdout;
  const samples = new Int16Array(b.buffer.slice(b.byteOffset, b.byteOffset + (b.length & ~1)));
  return { samples, stderr: res.stderr, status: res.status };
}

/** Packet timestamps (seconds) ffprobe reads for an interval like "3%+0.5". */
export function probePacketTimes(file: string, interval: string): number[] {
  const res = run('ffprobe', [
    '-v',
    'error',
    '-read_intervals',
    interval,
    '-select_streams',
    'a:0',
    '-show_entries',
    'packet=pts_time',
    '-of',
    'csv=p=0',
    file,
  ]);
  if (res.status !== 0) throw new Error(`ffprobe failed: ${res.stderr}`);
  return res.stdout
    .toString('utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map(Number);
}
