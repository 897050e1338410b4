import assert from 'node:assert/strict';
import { pbkdf2 } from 'node:crypto';
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { TypedEmitter, silentLogger } from '@trackroom/protocol';
import type { RecordingRow } from '../store/types.js';
import { TrackEngine, type MediaPeer, type MediaSource, type MediaSourceEvents } from './track-engine.js';

class FakeSource extends TypedEmitter<MediaSourceEvents> implements MediaSource {
  constructor(readonly list: MediaPeer[]) {
    super();
  }
  peers(meetingId: string): MediaPeer[] {
    return this.list.filter((p) => p.meetingId === meetingId);
  }
  tapAudio(_meetingId: string, peerId: string): () => void {
    // As the SFU does: a peer that is not there any more cannot be tapped.
    if (!this.list.some((p) => p.peerId === peerId)) throw new Error(`peer ${peerId} is not in meeting`);
    return () => undefined;
  }
}

const peer = (i: number): MediaPeer => ({
  meetingId: 'm1',
  peerId: `peer-${i}`,
  participantId: `part-${i}`,
  customParticipantId: `c-${i}`,
  hidden: false,
  audio: { payloadType: 111, clockRate: 48000, channels: 2 },
  audioEnabled: true,
});

const rec = (id: string) =>
  ({
    id,
    meeting_id: 'm1',
    user_ids: null,
    layers: { default: { file_name_prefix: 'default', media_kind: 'audio' } },
    group_by: 'peer',
    align: 'recording_start',
  }) as unknown as RecordingRow;

/** Occupies every libuv threadpool thread for a while, so file opens queue behind it. */
function busyThreadpool(ms: number): Promise<unknown> {
  const size = Number(process.env.UV_THREADPOOL_SIZE ?? 4);
  const t = performance.now();
  return Promise.all(
    Array.from(
      { length: size },
      () =>
        new Promise((resolve) => {
          const spin = () =>
            pbkdf2('x', 'y', 20_000, 32, 'sha256', () =>
              performance.now() - t < ms ? spin() : resolve(undefined),
            );
          spin();
        }),
    ),
  );
}

describe('TrackEngine', () => {
  it('does not touch writers that are still opening (tick, pause, mute, leave), then records them', async () => {
    const peers = Array.from({ length: 5 }, (_, i) => peer(i));
    const source = new FakeSource(peers.slice(0, 3));
    const engine = new TrackEngine({ source, logger: silentLogger, tickMs: 1 });
    const dir = mkdtempSync(join(tmpdir(), 'track-engine-'));
    const uncaught: unknown[] = [];
    const onUncaught = (err: unknown) => uncaught.push(err);
    process.on('uncaughtException', onUncaught);
    try {
      const busy = busyThreadpool(150);
      const started = engine.start(rec('r1'), dir);
      // Late joiners, a mute, a leave and a pause while the first files are still being created.
      source.emit('peerJoined', peers[3]!);
      source.emit('peerJoined', peers[4]!);
      source.emit('audioEnabled', { meetingId: 'm1', peerId: 'peer-3', enabled: false, at: Date.now() });
      engine.pause('r1', Date.now());
      source.emit('peerLeft', { meetingId: 'm1', peerId: 'peer-4', at: Date.now() });
      await new Promise((r) => setTimeout(r, 50));
      engine.resume('r1', Date.now());
      await busy;
      await started;
      await new Promise((r) => setTimeout(r, 50));
      const rows = await engine.stop('r1', Date.now());
      assert.deepEqual(uncaught, []);
      const webm = readdirSync(dir).filter((f) => f.endsWith('.webm'));
      // peer-4 left while its file was opening: no row for it, but no crash either.
      assert.ok(webm.length >= 4, `files: ${webm.join(', ')}`);
      assert.ok(rows.filter((r) => r.file_name.endsWith('.webm')).length >= 4);
      assert.equal(engine.activeCount, 0);
    } finally {
      process.off('uncaughtException', onUncaught);
    }
  });

  it('a peer that leaves while start() is creating the files does not fail the recording', async () => {
    const source = new FakeSource([peer(0), peer(1), peer(2)]);
    const engine = new TrackEngine({ source, logger: silentLogger, tickMs: 1 });
    const dir = mkdtempSync(join(tmpdir(), 'track-engine-'));
    const busy = busyThreadpool(100);
    const started = engine.start(rec('r3'), dir);
    source.list.splice(2, 1);
    source.emit('peerLeft', { meetingId: 'm1', peerId: 'peer-2', at: Date.now() });
    await busy;
    await started;
    const rows = await engine.stop('r3', Date.now());
    assert.ok(rows.filter((r) => r.file_name.endsWith('.webm')).length >= 2);
  });

  it('a stop while files are still opening finalises them', async () => {
    const source = new FakeSource([peer(0), peer(1)]);
    const engine = new TrackEngine({ source, logger: silentLogger, tickMs: 1 });
    const dir = mkdtempSync(join(tmpdir(), 'track-engine-'));
    const busy = busyThreadpool(100);
    const started = engine.start(rec('r2'), dir);
    source.emit('peerJoined', peer(2));
    await new Promise((r) => setTimeout(r, 20));
    const stopped = engine.stop('r2', Date.now());
    await busy;
    await started;
    const rows = await stopped;
    assert.ok(rows.some((r) => r.file_name === 'manifest.json'));
    await new Promise((r) => setTimeout(r, 20));
  });
});
