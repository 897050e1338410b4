import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { TypedEmitter, type MediaPeer, type MediaSourceEvents } from '@trackroom/protocol';
import { applyAllowlistChange, everRequested } from './recording-allowlist.js';
import type { RecordingManifest } from './recording-manifest.js';
import { buildRtp } from './rtp-parser.js';
import { inspectWebm } from './testing/webm-inspect.js';
import {
  TrackRecording,
  type Clock,
  type MediaSource,
  type TrackRecordingOptions,
} from './track-recording.js';

type OnRtp = (rtp: Uint8Array, arrivalMs: number) => void;

/** A media source the test drives: taps are callbacks the test feeds. */
class FakeSource extends TypedEmitter<MediaSourceEvents> implements MediaSource {
  readonly taps = new Map<string, OnRtp>();
  constructor(readonly list: MediaPeer[]) {
    super();
  }
  peers(meetingId: string): MediaPeer[] {
    return this.list.filter((p) => p.meetingId === meetingId);
  }
  tap(_m: string, peerId: string, _k: 'audio' | 'video', onRtp: OnRtp): () => void {
    this.taps.set(peerId, onRtp);
    return () => this.taps.delete(peerId);
  }
}

const T0 = 1_800_000_000_000;
const peer = (peerId: string, participantId: string): MediaPeer => ({
  meetingId: 'm1',
  peerId,
  participantId,
  customParticipantId: `c-${participantId}`,
  name: participantId,
  presetName: 'group_call_participant',
  hidden: false,
  joinedAt: T0,
  tracks: { audio: { kind: 'audio', codec: 'opus', payloadType: 111, clockRate: 48000, channels: 2 } },
  enabled: { audio: true, video: false },
});

class ManualClock implements Clock {
  t = T0;
  now(): number {
    return this.t;
  }
}

function setup(o: Partial<TrackRecordingOptions> = {}) {
  const clock = new ManualClock();
  const source = new FakeSource([peer('pa', 'alice'), peer('pb', 'bob'), peer('pc', 'carol')]);
  const opts: TrackRecordingOptions = {
    id: 'rec-1',
    meetingId: 'm1',
    sessionId: 's1',
    dir: mkdtempSync(join(tmpdir(), 'track-allowlist-')),
    userIds: ['alice', 'bob'],
    layers: { default: { filePrefix: 'default' } },
    groupBy: 'peer',
    align: 'recording_start',
    source,
    clock,
    tickMs: 0,
    clusterMs: 1000,
    ...o,
  };
  const rec = new TrackRecording(opts);
  let seq = 0;
  /** `ms` of 20 ms packets from every peer that is tapped, on time. */
  const talk = (ms: number) => {
    for (let i = 0; i < ms / 20; i++) {
      const n = seq++;
      for (const [peerId, onRtp] of source.taps) {
        onRtp(
          buildRtp({
            payloadType: 111,
            sequenceNumber: n & 0xffff,
            timestamp: n * 960,
            ssrc: peerId.charCodeAt(1),
            payload: Uint8Array.of(0xfc, 1, 2),
          }),
          clock.t,
        );
      }
      clock.t += 20;
      rec.tick();
    }
  };
  return { clock, source, opts, rec, talk };
}

const by = { type: 'api_token' } as const;
const lastBlockMs = (dir: string, file: string) => {
  const w = inspectWebm(readFileSync(join(dir, file)));
  return Math.max(...w.clusters.flatMap((c) => c.blocks.map((b) => b.timeMs)));
};

void describe('applyAllowlistChange', () => {
  void it('keeps order, drops no-ops, refuses an id both added and removed', () => {
    assert.deepEqual(applyAllowlistChange(['a', 'b'], ['c', 'a'], ['b', 'x']), {
      userIds: ['a', 'c'],
      added: ['c'],
      removed: ['b'],
    });
    assert.deepEqual(applyAllowlistChange(['a'], [], ['a']).userIds, []);
    assert.throws(() => applyAllowlistChange(['a'], ['b'], ['b']), /both added and removed/);
    assert.deepEqual(everRequested(['a', 'b'], [['c'], ['b', 'd']]), ['a', 'b', 'c', 'd']);
  });
});

void describe('TrackRecording.updateUsers', () => {
  void it('closes removed users’ files at the instant and opens added users’ files there, on one timeline', async () => {
    const { clock, source, opts, rec, talk } = setup();
    await rec.start();
    assert.deepEqual([...source.taps.keys()].sort(), ['pa', 'pb']);
    talk(1000);
    const change = await rec.updateUsers({ add: ['carol'], remove: ['bob'], by });
    assert.equal(change.at_ms, 1000);
    assert.equal(change.at, new Date(T0 + 1000).toISOString());
    assert.deepEqual(change.added_user_ids, ['carol']);
    assert.deepEqual(change.removed_user_ids, ['bob']);
    assert.deepEqual(change.user_ids, ['alice', 'carol']);
    assert.deepEqual(change.by, by);
    assert.deepEqual([...source.taps.keys()].sort(), ['pa', 'pc'], 'bob is no longer tapped, carol is');
    assert.deepEqual(rec.userIds, ['alice', 'carol']);
    talk(1000);
    const { manifest: m } = await rec.stop(clock.t);
    const disk = JSON.parse(readFileSync(join(opts.dir, 'manifest.json'), 'utf8')) as RecordingManifest;
    assert.deepEqual(disk.allowlist_changes, [change]);
    const file = (who: string) => m.files.find((f) => f.participant_id === who)!;
    const [alice, bob, carol] = [file('alice'), file('bob'), file('carol')];
    assert.deepEqual(change.files_closed, [bob.file_name]);
    assert.deepEqual(change.files_opened, [carol.file_name]);
    // Bob: nothing after the change.
    assert.equal(bob.file_end_ms, 1000);
    assert.equal(bob.packets.received, 50);
    assert.ok(lastBlockMs(opts.dir, bob.file_name) < 1000, 'no audio of bob after the change');
    assert.equal(bob.intervals.present.at(-1)?.to_ms, 1000);
    // Carol: from the change on, silence from t0 before (like a late joiner).
    assert.equal(carol.file_start_ms, 0);
    assert.equal(carol.intervals.present[0]?.from_ms, 1000);
    assert.equal(carol.packets.received, 50);
    assert.equal(carol.file_end_ms, 2000);
    assert.equal(alice.file_end_ms, 2000);
    assert.equal(alice.packets.received, 100);
    assert.deepEqual(
      m.requested_user_ids.map((u) => [u.user_id, u.status]),
      [
        ['alice', 'recorded'],
        ['bob', 'recorded'],
        ['carol', 'recorded'],
      ],
    );
  });

  void it('removing everyone leaves it running; a user added back gets a new file (group_by user), also while paused', async () => {
    const { clock, source, opts, rec, talk } = setup({ groupBy: 'user', userIds: ['alice'] });
    await rec.start();
    talk(400);
    const c1 = await rec.updateUsers({ add: [], remove: ['alice'], by });
    assert.deepEqual(c1.user_ids, []);
    assert.equal(rec.state, 'recording');
    assert.equal(source.taps.size, 0);
    talk(400);
    rec.pause();
    const c2 = await rec.updateUsers({ add: ['alice'], remove: [], by });
    assert.equal(c2.at_ms, 800);
    assert.equal(c2.files_opened.length, 1);
    assert.notEqual(c2.files_opened[0], c1.files_closed[0]);
    talk(200);
    rec.resume();
    talk(400);
    const { manifest: m } = await rec.stop(clock.t);
    assert.equal(m.allowlist_changes.length, 2);
    const [first, second] = m.files;
    assert.equal(first?.file_end_ms, 400);
    assert.equal(first?.packets.received, 20);
    assert.equal(second?.file_name, c2.files_opened[0]);
    assert.equal(second?.intervals.present[0]?.from_ms, 800);
    assert.deepEqual(
      second?.intervals.paused.map((p) => [p.from_ms, p.to_ms]),
      [[800, 1000]],
    );
    assert.ok(lastBlockMs(opts.dir, first!.file_name) < 400);
  });

  void it('refuses on a recording of everyone and on a stopped one', async () => {
    const all = setup({ userIds: null });
    await all.rec.start();
    await assert.rejects(all.rec.updateUsers({ add: ['x'], remove: [], by }), /records everyone/);
    await all.rec.stop();
    const some = setup();
    await some.rec.start();
    await assert.rejects(some.rec.updateUsers({ add: ['x'], remove: ['x'], by }), /both added and removed/);
    await some.rec.stop();
    await assert.rejects(some.rec.updateUsers({ add: ['carol'], remove: [], by }), /stopped/);
  });
});
