/**
 * Test support: a child process that records real Opus packets and then waits to be SIGKILLed.
 * argv: <out.webm> <work dir> <seconds of audio to push>. Prints "READY <flushedMs> <bytes>" once
 * every completed cluster is on disk.
 */
import { buildRtp } from '../rtp-parser.js';
import { TrackFileWriter } from '../track-file-writer.js';
import { sineOpusPackets } from './ogg-opus.js';

const [path, dir, secondsArg] = process.argv.slice(2);
if (!path || !dir || !secondsArg) throw new Error('usage: kill-child <out.webm> <dir> <seconds>');
const seconds = Number(secondsArg);
const packets = sineOpusPackets({ dir, frequency: 440, seconds, channels: 2 });
const t0 = 1_700_000_000_000;
const writer = new TrackFileWriter({ path, t0Ms: t0, clusterMs: 2000 });
await writer.open();
writer.attach({ sourceId: 'child', payloadType: 111 });
const expectFlushedMs = Math.floor((packets.length * 20) / 2000) * 2000;
writer.on('flushed', (info) => {
  if (info.durationMs >= expectFlushedMs && writer.stats().pendingWrites === 0) {
    process.stdout.write(`READY ${info.durationMs} ${info.bytesOnDisk}\n`);
  }
});
packets.forEach((payload, i) => {
  const at = t0 + i * 20;
  writer.push(buildRtp({ payloadType: 111, sequenceNumber: i, timestamp: i * 960, ssrc: 9, payload }), at);
  writer.tick(at);
});
// Stay alive, never closing the writer: the parent kills us.
setInterval(() => undefined, 60_000);
