import assert from 'node:assert/strict';
import type { Duplex } from 'node:stream';
import { test } from 'node:test';
import {
  TypedEmitter,
  silentLogger,
  type MediaPeer,
  type WorkerAdmission,
  type WorkerCommand,
  type WorkerCommands,
} from '@trackroom/protocol';
import type { MediaWorkerHandle, MediaWorkerHandleEvents } from '@trackroom/media-worker';
import { WorkerPool } from './worker-pool.js';

/** A worker handle that records the commands it gets and dies on request. */
class FakeHandle extends TypedEmitter<MediaWorkerHandleEvents> implements MediaWorkerHandle {
  readonly calls: { command: WorkerCommand; params: unknown }[] = [];
  readonly admitted: WorkerAdmission[] = [];
  closed = false;
  constructor(
    readonly id: number,
    readonly pid: number,
  ) {
    super();
  }
  async start(): Promise<void> {
    this.emit('ready', { workerId: this.id, pid: this.pid });
  }
  async call<C extends WorkerCommand>(command: C, params: WorkerCommands[C]['params']) {
    this.calls.push({ command, params });
    if (command === 'kick') return ['peer'] as WorkerCommands[C]['result'];
    if (command === 'stopRecording')
      return {
        t0Ms: 0,
        stopMs: 1,
        files: [],
        manifestFile: { fileName: 'm', sizeBytes: 1, sha256: '' },
      } as never;
    return null as never;
  }
  admit(admission: WorkerAdmission, _socket: Duplex): void {
    this.admitted.push(admission);
  }
  async close(): Promise<void> {
    this.closed = true;
  }
  die(): void {
    this.emit('exit', { workerId: this.id, pid: this.pid, code: null, signal: 'SIGKILL' });
  }
  join(meetingId: string, peerId: string, tracks = 0): MediaPeer {
    const p: MediaPeer = {
      meetingId,
      peerId,
      participantId: `p-${peerId}`,
      customParticipantId: `c-${peerId}`,
      name: peerId,
      presetName: 'host',
      hidden: false,
      joinedAt: 0,
      tracks: {},
      enabled: { audio: true, video: false },
    };
    this.emit('peerJoined', p);
    for (let i = 0; i < tracks; i++)
      this.emit('trackStarted', {
        meetingId,
        peerId,
        track: {
          kind: i === 0 ? 'audio' : 'video',
          codec: 'opus',
          payloadType: 111,
          clockRate: 48000,
          channels: 2,
        },
      });
    return p;
  }
}

function pool(count: number, opts: { now?: () => number } = {}) {
  const made: FakeHandle[] = [];
  let pid = 100;
  const p = new WorkerPool({
    count,
    create: (id) => {
      const h = new FakeHandle(id, pid++);
      made.push(h);
      return h;
    },
    logger: silentLogger,
    restartBackoff: { initialMs: 1, maxMs: 4 },
    sweepIntervalMs: 0,
    ...(opts.now ? { now: opts.now } : {}),
  });
  const current = (id: number) => made.filter((h) => h.id === id).at(-1)!;
  return { p, made, current };
}

test('meetings go to the worker with the fewest live tracks, then the fewest meetings', async () => {
  const { p, current } = pool(3);
  await p.start();
  assert.equal(p.place('m1').id, 0);
  assert.equal(p.place('m2').id, 1, 'a tie on tracks goes to the worker with fewer meetings');
  assert.equal(p.place('m3').id, 2);
  current(0).join('m1', 'a', 2);
  current(1).join('m2', 'b', 1);
  current(2).join('m3', 'c', 1);
  assert.equal(p.place('m4').id, 1, 'fewest live tracks first; then fewer meetings, then the lower id');
  await p.close();
});

test('every later admission of a meeting lands on its worker, whatever the load', async () => {
  const { p, current } = pool(2);
  await p.start();
  const w = p.place('m1');
  current(w.id).join('m1', 'a', 2);
  current(w.id).join('m1', 'b', 2);
  for (let i = 0; i < 5; i++) assert.equal(p.place('m1').id, w.id);
  assert.equal(p.place('m2').id, 1 - w.id);
  assert.deepEqual(
    p.peers('m1').map((x) => x.peerId),
    ['a', 'b'],
  );
  await p.close();
});

test('commands for a meeting and a recording reach its worker only', async () => {
  const { p, current } = pool(2);
  await p.start();
  p.place('m1');
  p.place('m2');
  assert.deepEqual(await p.forMeeting('m2', 'kick', { meetingId: 'm2' }), ['peer']);
  assert.equal(await p.forMeeting('nowhere', 'kick', { meetingId: 'nowhere' }), undefined);
  const spec = {
    id: 'r2',
    meetingId: 'm2',
    sessionId: null,
    dir: '/tmp',
    userIds: null,
    layers: { default: { filePrefix: 'default' } },
    groupBy: 'peer' as const,
    align: 'recording_start' as const,
  };
  await p.startRecording(spec);
  await p.forRecording('r2', 'pauseRecording', { recordingId: 'r2', atMs: 5 });
  await p.forRecording('r2', 'resumeRecording', { recordingId: 'r2', atMs: 6 });
  const res = await p.forRecording('r2', 'stopRecording', { recordingId: 'r2', atMs: 7 });
  assert.equal(res?.stopMs, 1);
  assert.equal(p.hasRecording('r2'), false);
  assert.deepEqual(
    current(1).calls.map((c) => c.command),
    ['kick', 'startRecording', 'pauseRecording', 'resumeRecording', 'stopRecording'],
  );
  assert.deepEqual(current(0).calls, [], 'the other worker got nothing');
  await p.close();
});

test('a worker that dies: its peers and recordings are reported, its meetings move, it restarts', async () => {
  const { p, made, current } = pool(2);
  await p.start();
  const lost: { workerId: number; peers: string[]; recordingIds: string[] }[] = [];
  p.on('workerLost', (e) =>
    lost.push({ workerId: e.workerId, peers: e.peers.map((x) => x.peerId), recordingIds: e.recordingIds }),
  );
  const ready = new Promise<{ workerId: number; restarts: number }>((r) => p.once('workerReady', r));
  p.place('m1');
  p.place('m2');
  current(0).join('m1', 'a', 1);
  current(1).join('m2', 'b', 1);
  await p.startRecording({
    id: 'r1',
    meetingId: 'm1',
    sessionId: null,
    dir: '/tmp',
    userIds: null,
    layers: { default: { filePrefix: 'default' } },
    groupBy: 'peer',
    align: 'recording_start',
  });
  current(0).die();
  assert.deepEqual(lost, [{ workerId: 0, peers: ['a'], recordingIds: ['r1'] }]);
  assert.equal(p.workerOf('m1'), undefined);
  assert.equal(p.workerOf('m2')?.id, 1, 'the other worker keeps its meeting');
  assert.deepEqual(p.peers('m1'), []);
  assert.equal(await p.forRecording('r1', 'stopRecording', { recordingId: 'r1', atMs: 1 }), undefined);
  // While worker 0 restarts, a new admission of m1 goes to the worker that runs.
  assert.equal(p.place('m1').id, 1);
  assert.deepEqual(await ready, { workerId: 0, pid: 102, restarts: 1 });
  assert.equal(made.length, 3, 'a new handle for worker 0');
  // Events of the dead handle are ignored.
  made[0]!.join('m9', 'ghost');
  assert.deepEqual(p.peers('m9'), []);
  await p.close();
  assert.ok(current(0).closed && current(1).closed);
});

test('placements of idle meetings are dropped after the admission grace time', async () => {
  let now = 0;
  const { p, current } = pool(2, { now: () => now });
  await p.start();
  p.place('m1');
  p.place('m2');
  current(1).join('m2', 'b');
  now = 29_000;
  assert.equal(p.sweep(), 0, 'an admission in flight keeps its meeting');
  now = 31_000;
  assert.equal(p.sweep(), 1, 'm1 had no peer join');
  assert.equal(p.workerOf('m1'), undefined);
  assert.equal(p.workerOf('m2')?.id, 1, 'm2 has a peer');
  await p.close();
});
