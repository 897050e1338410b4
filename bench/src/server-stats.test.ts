/**
 * Reading `/v1/stats` across server versions: one process (today), or media workers listed with
 * either field name for their event-loop p99 (MEDIA_WORKERS=N), with SFU counters per worker.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { sfuOf, workerEventLoopP99, type ServerStats } from './scenarios.js';

const base = {
  rss_bytes: 1,
  event_loop_delay_ms: { p50: 1, p99: 2, max: 3 },
};
const sfu = { rtpReceived: 10, rtpForwarded: 4, peers: 2, publishConnections: 2, subscriptions: 1 };

test("a worker's event-loop p99 from any of the field shapes, undefined without one", () => {
  assert.equal(workerEventLoopP99({ event_loop_delay_ms: 7.5 }), 7.5);
  assert.equal(workerEventLoopP99({ event_loop_delay_ms: { p99: 8 } }), 8);
  assert.equal(workerEventLoopP99({ eventLoopP99Ms: 9 }), 9);
  assert.equal(workerEventLoopP99({ load: { eventLoopP99Ms: 11 } }), 11, 'the server reports it in the load');
  assert.equal(workerEventLoopP99({}), undefined);
});

test("SFU counters: the server's own, else summed over its workers", () => {
  const one: ServerStats = { ...base, media: { sfu, active_track_recordings: 0 } };
  assert.deepEqual(sfuOf(one), sfu);
  const split: ServerStats = {
    ...base,
    media: { active_track_recordings: 0 },
    workers: [{ sfu: { rtpReceived: 3, peers: 1 } }, { sfu: { rtpReceived: 4, rtpForwarded: 2 } }, {}],
  };
  assert.deepEqual(sfuOf(split), {
    rtpReceived: 7,
    rtpForwarded: 2,
    peers: 1,
    publishConnections: 0,
    subscriptions: 0,
  });
  const nested: ServerStats = {
    ...base,
    media: { active_track_recordings: 0, workers: [{ sfu: { rtpReceived: 5 } }] },
  };
  assert.equal(sfuOf(nested).rtpReceived, 5);
});
