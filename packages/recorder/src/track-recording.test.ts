import assert from 'node:assert/strict';
import { pbkdf2 } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { TypedEmitter, type MediaPeer, type MediaSourceEvents } from '@trackroom/protocol';
import { whoSpokeWhen, type ManifestFile, type RecordingManifest } from './recording-manifest.js';
import { buildRtp } from './rtp-parser.js';
import { inspectWebm } from './testing/webm-inspect.js';
import {
  TrackRecording,
  repairTrackRecording,
  type Clock,
  type MediaSource,
  type TrackRecordingOptions,
} from './track-recording.js';

type OnRtp = (rtp: Uint8Array, arrivalMs: number) => void;

/** A media source the test drives: peers come and go, taps are callbacks the test feeds. */
class FakeSource extends TypedEmitter<MediaSourceEvents> implements MediaSource {
  readonly taps = new Map<string, OnRtp>();
  constructor(readonly list: MediaPeer[]) {
    super();
  }
  peers(meetingId: string): MediaPeer[] {
    return this.list.filter((p) => p.meetingId === meetingId);
  }
  tap(_meetingId: string, peerId: string, _kind: 'audio' | 'video', onRtp: OnRtp): () => void {
    // As the SFU does: a peer that is not there any more cannot be tapped.
    if (!this.list.some((p) => p.peerId === peerId)) throw new Error(`peer ${peerId} is not in meeting`);
    this.taps.set(peerId, onRtp);
    return () => this.taps.delete(peerId);
  }
  join(p: MediaPeer): void {
    this.list.push(p);
    this.emit('peerJoined', p);
  }
  leave(peerId: string, at: number): void {
    const [p] = this.list.splice(
      this.list.findIndex((x) => x.peerId === peerId),
      1,
    );
    if (!p) throw new Error(`peer ${peerId} is not in meeting`);
    this.emit('peerLeft', { ...p, at, reason: 'left' });
  }
}

const peer = (peerId: string, participantId: string, extra: Partial<MediaPeer> = {}): MediaPeer => ({
  meetingId: 'm1',
  peerId,
  participantId,
  customParticipantId: `c-${participantId}`,
  name: participantId,
  presetName: 'group_call_participant',
  hidden: false,
  joinedAt: 1_800_000_000_000,
  tracks: { audio: { kind: 'audio', codec: 'opus', payloadType: 111, clockRate: 48000, channels: 2 } },
  enabled: { audio: true, video: false },
  ...extra,
});

const T0 = 1_800_000_000_000;

/** A clock the test moves by hand. */
class ManualClock implements Clock {
  t = T0;
  now(): number {
    return this.t;
  }
}

function options(
  source: MediaSource,
  clock: Clock,
  o: Partial<TrackRecordingOptions> = {},
): TrackRecordingOptions {
  return {
    id: 'rec-1',
    meetingId: 'm1',
    sessionId: 's1',
    dir: mkdtempSync(join(tmpdir(), 'track-recording-')),
    userIds: null,
    layers: { default: { filePrefix: 'default' } },
    groupBy: 'peer',
    align: 'recording_start',
    source,
    clock,
    tickMs: 0,
    clusterMs: 1000,
    ...o,
  };
}

/** `ms` of 20 ms Opus packets from `peerId`, arriving on time; the clock advances, the recording ticks. */
function talk(
  source: FakeSource,
  rec: TrackRecording,
  clock: ManualClock,
  peerId: string,
  ms: number,
  seq: { n: number },
): void {
  for (let i = 0; i < ms / 20; i++) {
    const onRtp = source.taps.get(peerId);
    const n = seq.n++;
    onRtp?.(
      buildRtp({
        payloadType: 111,
        sequenceNumber: n & 0xffff,
        timestamp: n * 960,
        ssrc: 7,
        payload: Uint8Array.of(0xfc, 1, 2),
      }),
      clock.t,
    );
    clock.t += 20;
    rec.tick();
  }
}

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

/** Packet `n` (20 ms Opus) of `ssrc`, with an RFC 6464 level (extension id 1) unless undefined. */
const levelPacket = (n: number, ssrc: number, level: number | undefined) =>
  buildRtp({
    payloadType: 111,
    sequenceNumber: n,
    timestamp: n * 960,
    ssrc,
    payload: Uint8Array.of(0xfc, 1, 2),
    ...(level !== undefined && { extension: { profile: 0xbede, data: Uint8Array.of(0x10, level, 0, 0) } }),
  });

const readManifest = (dir: string) =>
  JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as RecordingManifest;

void describe('TrackRecording', () => {
  void it('writes speaking intervals per file and a merged who-spoke-when; a peer without levels is marked', async () => {
    const clock = new ManualClock();
    const withExt = peer('pa', 'alice', {
      tracks: {
        audio: {
          kind: 'audio',
          codec: 'opus',
          payloadType: 111,
          clockRate: 48000,
          channels: 2,
          audioLevelExtId: 1,
        },
      },
    });
    const source = new FakeSource([withExt, peer('pb', 'bob')]);
    const o = options(source, clock);
    const rec = new TrackRecording(o);
    await rec.start();
    const aliceLoud = [
      [200, 800],
      [1400, 1800],
    ];
    for (let n = 0; n < 100; n++) {
      const t = n * 20;
      const loud = aliceLoud.some(([a, b]) => t >= a! && t < b!);
      const pkt = (ssrc: number, ext: boolean) => levelPacket(n, ssrc, ext ? (loud ? 15 : 127) : undefined);
      source.taps.get('pa')?.(pkt(7, true), clock.t);
      source.taps.get('pb')?.(pkt(8, false), clock.t); // bob's sender adds nothing
      clock.t += 20;
      rec.tick();
    }
    const { manifest: m } = await rec.stop(clock.t);
    assert.deepEqual(readManifest(o.dir), m);
    const alice = m.files.find((f) => f.participant_id === 'alice')!;
    const bob = m.files.find((f) => f.participant_id === 'bob')!;
    assert.equal(alice.levels_source, 'rtp_header_extension');
    assert.deepEqual(
      alice.speaking?.map((i) => [i.from_ms, i.to_ms]),
      aliceLoud,
      'on time: the first packet arrives at t0, each 20 ms after',
    );
    assert.equal(alice.level_envelope?.values.length, 20);
    assert.equal(alice.level_envelope?.values[3], -15);
    assert.equal(alice.level_envelope?.values[10], -127);
    assert.equal(bob.levels_source, 'none');
    assert.equal(bob.levels_missing_reason, 'not_negotiated');
    assert.equal(bob.speaking, null, 'never invented');
    assert.equal(bob.level_envelope, null);
    assert.deepEqual(m.who_spoke_when, {
      threshold_dbov: -50,
      hangover_ms: 300,
      intervals: aliceLoud.map(([a, b]) => ({
        participant_id: 'alice',
        custom_participant_id: 'c-alice',
        from_ms: a,
        to_ms: b,
      })),
      participants_without_levels: [
        { participant_id: 'bob', custom_participant_id: 'c-bob', reasons: ['not_negotiated'] },
      ],
    });
  });

  void it("who spoke when merges a participant's files (layers, reconnects) and sorts by start", () => {
    const f = (participant: string, speaking: [number, number][] | null): ManifestFile =>
      ({
        participant_id: participant,
        custom_participant_id: `c-${participant}`,
        speaking: speaking?.map(([a, b]) => ({ from_ms: a, to_ms: b, vad: false })) ?? null,
        levels_source: speaking ? 'rtp_header_extension' : 'none',
        ...(speaking ? {} : { levels_missing_reason: 'not_sent' }),
        levels: { threshold_dbov: -50, hangover_ms: 300, frames_with_level: 1, frames_without_level: 0 },
      }) as ManifestFile;
    const w = whoSpokeWhen([
      f('bob', [[500, 900]]),
      f('alice', [
        [0, 400],
        [1000, 1200],
      ]),
      f('alice', [[300, 700]]), // a second layer or a reconnect: overlaps the first
      f('alice', null), // a file of alice without levels: alice still has levels
      f('carol', null),
    ]);
    assert.deepEqual(
      w.intervals.map((i) => [i.participant_id, i.from_ms, i.to_ms]),
      [
        ['alice', 0, 700],
        ['bob', 500, 900],
        ['alice', 1000, 1200],
      ],
    );
    assert.deepEqual(w.participants_without_levels, [
      { participant_id: 'carol', custom_participant_id: 'c-carol', reasons: ['not_sent'] },
    ]);
  });

  void it('records the selected peers only, on one timeline, with a manifest in one casing', async () => {
    const clock = new ManualClock();
    const source = new FakeSource([
      peer('pa', 'alice'),
      peer('pb', 'bob'),
      peer('pc', 'carol'),
      peer('ph', 'hal', { hidden: true }),
    ]);
    const o = options(source, clock, { userIds: ['alice', 'c-bob', 'hal', 'zed'] });
    const rec = new TrackRecording(o);
    await rec.start();
    assert.equal(rec.t0Ms, T0);
    assert.deepEqual(rec.participantsCaptured().sort(), ['alice', 'bob'], 'carol not selected, hal hidden');
    const seqA = { n: 0 };
    talk(source, rec, clock, 'pa', 1000, seqA);
    source.emit('mediaEnabled', {
      meetingId: 'm1',
      peerId: 'pa',
      kind: 'audio',
      enabled: false,
      byHost: false,
      at: clock.t,
    });
    for (let i = 0; i < 25; i++) {
      clock.t += 20;
      rec.tick();
    }
    source.emit('mediaEnabled', {
      meetingId: 'm1',
      peerId: 'pa',
      kind: 'audio',
      enabled: true,
      byHost: false,
      at: clock.t,
    });
    talk(source, rec, clock, 'pa', 500, seqA);
    const res = await rec.stop(clock.t);
    assert.equal(rec.state, 'stopped');
    assert.equal(res.t0Ms, T0);
    assert.equal(res.stopMs, T0 + 2000);
    assert.equal(res.files.length, 2);
    for (const f of res.files) assert.equal(f.durationMs, 2000, `${f.fileName} covers the whole span`);

    const m = readManifest(o.dir);
    assert.deepEqual(m, res.manifest);
    assert.equal(m.version, 1);
    assert.deepEqual(
      m.requested_user_ids.map((u) => [u.user_id, u.status]),
      [
        ['alice', 'recorded'],
        ['c-bob', 'recorded'],
        ['hal', 'never_present'],
        ['zed', 'never_present'],
      ],
    );
    const alice = m.files.find((f) => f.participant_id === 'alice')!;
    assert.deepEqual(alice.intervals.muted, [{ from_ms: 1000, to_ms: 1500 }]);
    assert.deepEqual(alice.intervals.present, [{ source_id: 'pa', from_ms: 0, to_ms: 2000 }]);
    assert.equal(alice.packets.received, 75);
    assert.equal(alice.packets.after_stop, 0);
    // One casing: no camelCase key anywhere in the manifest.
    const keys: string[] = [];
    const walk = (v: unknown) => {
      if (Array.isArray(v)) v.forEach(walk);
      else if (v && typeof v === 'object')
        for (const [k, x] of Object.entries(v)) {
          keys.push(k);
          walk(x);
        }
    };
    walk(m);
    assert.deepEqual(
      keys.filter((k) => /[A-Z]/.test(k)),
      [],
    );
  });

  void it('group_by user: one continuous file across a leave and a rejoin', async () => {
    const clock = new ManualClock();
    const source = new FakeSource([peer('p1', 'dan')]);
    const o = options(source, clock, { groupBy: 'user' });
    const rec = new TrackRecording(o);
    await rec.start();
    const seq = { n: 0 };
    talk(source, rec, clock, 'p1', 1000, seq);
    source.leave('p1', clock.t);
    for (let i = 0; i < 25; i++) {
      clock.t += 20;
      rec.tick();
    }
    let opened = 0;
    rec.on('fileOpened', () => opened++);
    const attached = new Promise((r) => rec.once('sourceAttached', r));
    source.join(peer('p2', 'dan'));
    await attached;
    talk(source, rec, clock, 'p2', 1000, seq);
    const res = await rec.stop(clock.t);
    assert.equal(res.files.length, 1);
    const f = res.files[0]!;
    assert.deepEqual(f.peerIds, ['p1', 'p2']);
    assert.equal(f.peerId, null);
    assert.equal(f.durationMs, 2500);
    assert.deepEqual(
      res.manifest.files[0]!.intervals.present.map((i) => [i.source_id, i.from_ms, i.to_ms]),
      [
        ['p1', 0, 1000],
        ['p2', 1500, 2500],
      ],
    );
    assert.equal(opened, 0, 'the rejoin reused the file');
  });

  void it('pause and resume: the paused span is silence, marked in the manifest', async () => {
    const clock = new ManualClock();
    const source = new FakeSource([peer('p1', 'eve')]);
    const o = options(source, clock);
    const rec = new TrackRecording(o);
    await rec.start();
    const seq = { n: 0 };
    talk(source, rec, clock, 'p1', 500, seq);
    rec.pause();
    talk(source, rec, clock, 'p1', 500, seq); // dropped: paused
    rec.resume();
    talk(source, rec, clock, 'p1', 500, seq);
    const res = await rec.stop();
    const f = res.manifest.files[0]!;
    assert.deepEqual(f.intervals.paused, [{ from_ms: 500, to_ms: 1000 }]);
    assert.equal(f.duration_ms, 1500);
    assert.equal(f.packets.ignored, 25, 'the packets sent while paused');
    assert.equal(f.frames_written - f.frames_filled, 50, 'real audio before and after the pause');
  });

  void it('a killed recording is repaired from its journal, files and who they belong to kept', async () => {
    const clock = new ManualClock();
    const source = new FakeSource([peer('p1', 'fay'), peer('p2', 'gus')]);
    const o = options(source, clock, { userIds: ['fay', 'gus', 'nobody'] });
    const rec = new TrackRecording(o);
    await rec.start();
    const seq1 = { n: 0 };
    talk(source, rec, clock, 'p1', 2100, seq1); // two 1 s clusters complete
    await new Promise((r) => setTimeout(r, 50)); // let the appends reach the disk
    rec.abandon(); // the process dies: no finalisation
    const webms = readdirSync(o.dir).filter((n) => n.endsWith('.webm'));
    assert.equal(webms.length, 2);
    assert.equal(inspectWebm(new Uint8Array(readFileSync(join(o.dir, webms[0]!)))).segmentSize, undefined);

    const res = await repairTrackRecording({ ...o, fallbackT0Ms: 0 });
    assert.ok(res);
    assert.equal(res.t0Ms, T0, 't0 from the journal');
    assert.equal(res.manifest.repaired_after_crash, true);
    const fay = res.files.find((f) => f.participantId === 'fay')!;
    assert.ok(fay.durationMs >= 2000, `fay keeps her complete clusters (${fay.durationMs} ms)`);
    assert.equal(fay.customParticipantId, 'c-fay');
    assert.deepEqual(
      res.manifest.requested_user_ids.map((u) => u.status),
      ['recorded', 'recorded', 'never_present'],
    );
    for (const f of res.files) {
      const w = inspectWebm(new Uint8Array(readFileSync(join(o.dir, f.fileName))));
      assert.notEqual(w.segmentSize, undefined, 'finalised');
      assert.ok(w.cues.length >= 1);
    }
  });

  void it('a killed recording keeps its levels up to the last cluster and its allowlist changes (running journal)', async () => {
    const clock = new ManualClock();
    const ext = { kind: 'audio', codec: 'opus', payloadType: 111, clockRate: 48000, channels: 2 } as const;
    const alice = peer('pa', 'alice', { tracks: { audio: { ...ext, audioLevelExtId: 1 } } });
    const source = new FakeSource([alice, peer('pb', 'bob')]);
    const o = options(source, clock, { userIds: ['alice', 'bob'] });
    const rec = new TrackRecording(o);
    await rec.start();
    const loud = [
      [200, 800],
      [1400, 1800],
      [2600, 3300],
    ];
    for (let n = 0; n < 165; n++) {
      const t = n * 20;
      if (t === 1000) await rec.updateUsers({ add: ['carol'], remove: [], by: { type: 'api_token' } });
      if (t === 1500) await rec.updateUsers({ add: [], remove: ['bob'], by: { type: 'api_token' } });
      const on = loud.some(([a, b]) => t >= a! && t < b!);
      const pkt = (ssrc: number, withLevel: boolean) =>
        levelPacket(n, ssrc, withLevel ? (on ? 15 : 127) : undefined);
      source.taps.get('pa')?.(pkt(7, true), clock.t);
      source.taps.get('pb')?.(pkt(8, false), clock.t);
      clock.t += 20;
      rec.tick();
    }
    await rec.settled(); // three 1 s clusters of alice's on disk, and their levels journalled
    const changes = rec.allowlistChanges.map((c) => ({ ...c }));
    rec.abandon(); // the process dies: the 300 ms after the last cluster are lost

    const res = await repairTrackRecording({ ...o, userIds: ['alice', 'carol'], fallbackT0Ms: 0 });
    assert.ok(res);
    const m = res.manifest;
    const a = m.files.find((f) => f.participant_id === 'alice')!;
    assert.equal(a.duration_ms, 3000, 'the complete clusters');
    assert.equal(a.levels_source, 'rtp_header_extension');
    assert.deepEqual(
      a.speaking?.map((i) => [i.from_ms, i.to_ms]),
      [
        [200, 800],
        [1400, 1800],
        [2600, 3000],
      ],
      'as journalled, the open interval cut at the end of the repaired file',
    );
    assert.equal(a.levels.recovered_to_ms, 3000);
    assert.equal(a.level_envelope?.values.length, 30);
    assert.equal(a.level_envelope?.values[3], -15);
    assert.equal(a.level_envelope?.values[10], -127);
    assert.deepEqual(
      m.who_spoke_when.intervals.map((i) => [i.custom_participant_id, i.from_ms]),
      [
        ['c-alice', 200],
        ['c-alice', 1400],
        ['c-alice', 2600],
      ],
    );
    const b = m.files.find((f) => f.participant_id === 'bob')!;
    assert.equal(b.levels_missing_reason, 'not_negotiated', "bob's sender never offered levels");
    assert.deepEqual(m.allowlist_changes, changes, 'the changes, as the running recording had them');
    assert.deepEqual(
      m.requested_user_ids.map((u) => [u.user_id, u.status]),
      [
        ['alice', 'recorded'],
        ['carol', 'never_present'],
        ['bob', 'recorded'],
      ],
    );
  });

  void it('does not touch files still opening (tick, pause, mute, leave), then records them', async () => {
    const peers = Array.from({ length: 5 }, (_, i) => peer(`peer-${i}`, `part-${i}`));
    const source = new FakeSource(peers.slice(0, 3));
    const rec = new TrackRecording(options(source, { now: () => Date.now() }, { tickMs: 1 }));
    const busy = busyThreadpool(150);
    const started = rec.start();
    // Late joiners, a mute, a leave and a pause while the first files are still being created.
    source.join(peers[3]!);
    source.join(peers[4]!);
    source.emit('mediaEnabled', {
      meetingId: 'm1',
      peerId: 'peer-3',
      kind: 'audio',
      enabled: false,
      byHost: false,
      at: Date.now(),
    });
    rec.pause();
    source.leave('peer-4', Date.now());
    rec.resume();
    await busy;
    await started;
    const res = await rec.stop();
    // peer-4 left while its file was opening: whether or not it got a file, nothing crashed.
    assert.ok(res.files.length >= 4, `files: ${res.files.map((f) => f.fileName).join(', ')}`);
  });

  void it('a stop while files are still opening finalises them', async () => {
    const source = new FakeSource([peer('p0', 'a0'), peer('p1', 'a1')]);
    const o = options(source, { now: () => Date.now() }, { tickMs: 1 });
    const rec = new TrackRecording(o);
    const busy = busyThreadpool(100);
    const started = rec.start();
    source.join(peer('p2', 'a2'));
    const stopped = rec.stop();
    await busy;
    await started;
    const res = await stopped;
    assert.equal(res.manifest.files.length, res.files.length);
    assert.equal(readManifest(o.dir).recording_id, 'rec-1');
  });

  void it('a throwing listener goes to the logger and breaks nothing', async () => {
    const errors: string[] = [];
    const logger = { debug() {}, info() {}, warn() {}, error: (_c: unknown, m: string) => errors.push(m) };
    const source = new FakeSource([peer('p1', 'ivy')]);
    const rec = new TrackRecording({ ...options(source, new ManualClock()), logger });
    rec.on('fileOpened', () => {
      throw new Error('listener bug');
    });
    await rec.start();
    assert.deepEqual(errors, ['a track recording listener threw']);
    assert.equal((await rec.stop()).files.length, 1);
  });
});
