import { buildRtp } from './rtp-parser.js';
import { TrackPipeline } from './track-pipeline.js';
const T0 = 1e12;
const p = new TrackPipeline({ t0Ms: T0, channels: 1 });
p.process({ kind: 'attach', payloadType: 111 });
let tick = T0;
for (let i = 0; i < 1500; i++) {
  const at = T0 + 1000 + i * 20 + (i % 7);
  while (tick < at) {
    p.process({ kind: 'tick', nowMs: tick });
    tick += 200;
  }
  if (i % 60 >= 40) continue;
  const payload = Uint8Array.of(0xf8, 1, 2, 3);
  p.process({
    kind: 'rtp',
    data: buildRtp({ payloadType: 111, sequenceNumber: i & 0xffff, timestamp: i * 960, ssrc: 5, payload }),
    arrivalMs: at,
  });
}
p.process({ kind: 'end', atMs: T0 + 32000 });
const t = p.stats().timeline;
console.log(
  t.overlaps,
  t.shifted,
  JSON.stringify(t.reanchors),
  t.driftHeld,
  JSON.stringify(p.stats().reorder),
);
