/**
 * Test support: real Opus packets. Encodes a tone with ffmpeg/libopus into Ogg and pulls the packets
 * out with a tiny Ogg page parser (RFC 3533: pages, segment table, lacing).
 */
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';

/** Splits an Ogg stream into packets (single logical stream assumed). */
export function oggPackets(data: Uint8Array): Uint8Array[] {
  const packets: Uint8Array[] = [];
  let pending: Uint8Array[] = [];
  let o = 0;
  while (o + 27 <= data.length) {
    if (data[o] !== 0x4f || data[o + 1] !== 0x67 || data[o + 2] !== 0x67 || data[o + 3] !== 0x53) {
      throw new Error(`no OggS capture pattern at ${o}`);
    }
    const segments = data[o + 26] as number;
    const table = data.subarray(o + 27, o + 27 + segments);
    let body = o + 27 + segments;
    let start = body;
    for (const lace of table) {
      body += lace;
      if (lace < 255) {
        pending.push(data.subarray(start, body));
        const size = pending.reduce((n, p) => n + p.length, 0);
        const packet = new Uint8Array(size);
        let w = 0;
        for (const p of pending) {
          packet.set(p, w);
          w += p.length;
        }
        packets.push(packet);
        pending = [];
        start = body;
      }
    }
    if (start < body) pending.push(data.subarray(start, body));
    o = body;
  }
  return packets;
}

export interface SineOpusOptions {
  /**
   * A folder for the intermediate Ogg file. Each call writes (and then removes) a file of its own,
   * so any number of processes may share the folder.
   */
  dir: string;
  frequency: number;
  seconds: number;
  channels: 1 | 2;
  frameMs?: 10 | 20 | 40 | 60;
}

/** Opus packets of a sine tone (audio packets only: OpusHead and OpusTags are skipped). */
export function sineOpusPackets(o: SineOpusOptions): Uint8Array[] {
  // A name of its own per call: with one fixed name per tone, concurrent callers sharing `dir` (the
  // bench's generator processes) read each other's half-written file ("no OpusHead").
  const file = join(
    o.dir,
    `sine-${o.frequency}-${o.seconds}-${o.channels}-${o.frameMs ?? 20}-${process.pid}-${randomUUID()}.ogg`,
  );
  const res = spawnSync(
    'ffmpeg',
    [
      '-v',
      'error',
      '-y',
      '-f',
      'lavfi',
      '-i',
      `sine=frequency=${o.frequency}:duration=${o.seconds}:sample_rate=48000`,
      '-ac',
      String(o.channels),
      '-c:a',
      'libopus',
      '-frame_duration',
      String(o.frameMs ?? 20),
      '-b:a',
      '48k',
      '-vbr',
      'off',
      file,
    ],
    { encoding: 'utf8' },
  );
  if (res.error) throw new Error(`ffmpeg is required for this test and could not run: ${res.error.message}`);
  if (res.status !== 0) throw new Error(`ffmpeg failed: ${res.stderr}`);
  let data: Uint8Array;
  try {
    data = readFileSync(file);
  } finally {
    rmSync(file, { force: true });
  }
  const packets = oggPackets(data);
  const head = packets[0];
  if (!head || new TextDecoder().decode(head.subarray(0, 8)) !== 'OpusHead') throw new Error('no OpusHead');
  return packets.slice(2);
}
