/**
 * Churn releases everything (issue 9, defect 6): werift publishers join a recorded meeting, publish,
 * subscribe to each other and leave, several rounds. While they are there, the server's live
 * counts in `/v1/stats` match them; once everyone has left and the recording is stopped, every count
 * of peers, subscriptions, taps, transport peer connections and tracks, engine files and session
 * work is back to 0, and a heap snapshot of the server (through its inspector) holds no peer
 * connection, track or track-file writer object.
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import WebSocket from 'ws';
import { sineOpusPackets } from '@trackroom/recorder/testing';
import { OpusPublisher } from './support/opus-publisher.js';
import { api, startServer, type ServerProcess } from './support/server-process.js';
import { until as untilPolled } from './support/until.js';

const ROUNDS = 3;
const PEOPLE = 4;

interface Stats {
  heap: { used_bytes: number; total_bytes: number; external_bytes: number; array_buffers_bytes: number };
  sessions: { pendingEnds: number; busyMeetings: number };
  media: {
    sfu: Record<string, number>;
    media_peers: number;
    active_track_recordings: number;
    track_files: number;
  };
}

let server: ServerProcess;
const work = mkdtempSync(join(tmpdir(), 'churn-release-'));

before(async () => {
  server = await startServer({ nodeArgs: ['--inspect=127.0.0.1:0'] });
});
after(async () => {
  await server?.stop();
});

const until = (what: string, fn: () => Promise<boolean> | boolean, timeoutMs = 20_000) =>
  untilPolled(what, fn, timeoutMs);

async function stats(): Promise<Stats> {
  const res = await fetch(`${server.baseUrl}/v1/stats`, {
    headers: { authorization: `Bearer ${server.token}` },
  });
  assert.equal(res.status, 200);
  return ((await res.json()) as { data: Stats }).data;
}

/** Counts the server's heap objects by constructor name, from a snapshot taken over its inspector. */
async function heapObjectCounts(names: string[]): Promise<Record<string, number>> {
  const url = /Debugger listening on (ws:\/\/\S+)/.exec(server.output())?.[1];
  assert.ok(url, 'the server prints its inspector address');
  const ws = new WebSocket(url);
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  const chunks: string[] = [];
  const done = new Promise<void>((resolve) => {
    ws.on('message', (data) => {
      const m = JSON.parse(String(data)) as { id?: number; method?: string; params?: { chunk: string } };
      if (m.method === 'HeapProfiler.addHeapSnapshotChunk') chunks.push(m.params!.chunk);
      if (m.id === 2) resolve();
    });
  });
  ws.send(JSON.stringify({ id: 1, method: 'HeapProfiler.enable' }));
  ws.send(
    JSON.stringify({ id: 2, method: 'HeapProfiler.takeHeapSnapshot', params: { reportProgress: false } }),
  );
  await done;
  ws.close();
  const snap = JSON.parse(chunks.join('')) as {
    snapshot: { meta: { node_fields: string[]; node_types: [string[]] } };
    nodes: number[];
    strings: string[];
  };
  const fields = snap.snapshot.meta.node_fields;
  const width = fields.length;
  const typeAt = fields.indexOf('type');
  const nameAt = fields.indexOf('name');
  const objectType = snap.snapshot.meta.node_types[0].indexOf('object');
  const wanted = new Set(names);
  const counts = Object.fromEntries(names.map((n) => [n, 0]));
  for (let i = 0; i < snap.nodes.length; i += width) {
    if (snap.nodes[i + typeAt] !== objectType) continue;
    const name = snap.strings[snap.nodes[i + nameAt]!]!;
    if (wanted.has(name)) counts[name]!++;
  }
  return counts;
}

test('after rounds of joins and leaves every live count is back to 0 and nothing is retained', async () => {
  const call = api(server);
  const meeting = await call<{ data: { id: string } }>('POST', '/meetings', { title: 'churn' });
  assert.equal(meeting.status, 201);
  const mid = meeting.json.data.id;
  const tokens: string[] = [];
  for (let j = 0; j < PEOPLE; j++) {
    const r = await call<{ data: { token: string } }>('POST', `/meetings/${mid}/participants`, {
      custom_participant_id: `churn-${j}`,
      preset_name: 'group_call_host',
      name: `churn-${j}`,
    });
    assert.equal(r.status, 201);
    tokens.push(r.json.data.token);
  }
  const selected = ['churn-0', 'churn-2'];
  const packets = sineOpusPackets({ dir: work, frequency: 440, seconds: 2, channels: 1 });
  let recordingId: string | undefined;

  for (let round = 0; round < ROUNDS; round++) {
    const peers: OpusPublisher[] = [];
    for (const token of tokens) {
      const p = await OpusPublisher.connect(`${server.wsUrl}?authToken=${token}`, { subscribe: true });
      await p.join();
      await p.publish();
      p.play(packets);
      peers.push(p);
      if (!recordingId) {
        const r = await call<{ data: { recording: { id: string } } }>('POST', '/recordings/track', {
          meeting_id: mid,
          user_ids: selected,
        });
        assert.equal(r.status, 200, JSON.stringify(r.json));
        recordingId = r.json.data.recording.id;
      }
    }
    // Everyone subscribed to everyone else: the counts must see them (a counter stuck at 0 fails here).
    await until('every subscription up', () => peers.every((p) => p.subscribed === PEOPLE - 1));
    await until('the recording taps the selected peers', async () => {
      const s = await stats();
      return (
        s.media.sfu.audioTaps === selected.length && s.media.track_files === selected.length * (round + 1)
      );
    });
    const live = await stats();
    assert.equal(live.media.sfu.peers, PEOPLE);
    assert.equal(live.media.sfu.publishConnections, PEOPLE);
    assert.equal(live.media.sfu.subscriptions, PEOPLE * (PEOPLE - 1));
    assert.equal(live.media.sfu.transportPeerConnections, PEOPLE + PEOPLE * (PEOPLE - 1));
    assert.equal(live.media.sfu.transportTracks, PEOPLE + PEOPLE * (PEOPLE - 1));
    assert.equal(live.media.media_peers, PEOPLE);
    assert.equal(live.media.active_track_recordings, 1);
    assert.ok(live.heap.used_bytes > 0 && live.heap.total_bytes >= live.heap.used_bytes);

    for (const p of peers) await p.leave();
    await until('everyone gone', async () => {
      const s = await stats();
      return s.media.sfu.peers === 0 && s.media.sfu.transportPeerConnections === 0;
    });
  }

  const stop = await call('PUT', `/recordings/${recordingId}`, { action: 'stop' });
  assert.equal(stop.status, 200, JSON.stringify(stop.json));
  await until('UPLOADED', async () => {
    const r = await call<{ data: { status: string } }>('GET', `/recordings/${recordingId}`);
    return r.json.data.status === 'UPLOADED';
  });

  const s = await stats();
  assert.deepEqual(
    {
      meetings: s.media.sfu.meetings,
      peers: s.media.sfu.peers,
      publishConnections: s.media.sfu.publishConnections,
      subscriptions: s.media.sfu.subscriptions,
      pendingSubscriptions: s.media.sfu.pendingSubscriptions,
      audioTaps: s.media.sfu.audioTaps,
      transportPeerConnections: s.media.sfu.transportPeerConnections,
      transportTracks: s.media.sfu.transportTracks,
      mediaPeers: s.media.media_peers,
      activeRecordings: s.media.active_track_recordings,
      trackFiles: s.media.track_files,
      busyMeetings: s.sessions.busyMeetings,
    },
    {
      meetings: 0,
      peers: 0,
      publishConnections: 0,
      subscriptions: 0,
      pendingSubscriptions: 0,
      audioTaps: 0,
      transportPeerConnections: 0,
      transportTracks: 0,
      mediaPeers: 0,
      activeRecordings: 0,
      trackFiles: 0,
      busyMeetings: 0,
    },
  );
  // The meeting's session waits out its keep-alive; nothing else is pending.
  assert.ok(s.sessions.pendingEnds <= 1);

  // The snapshot runs a full GC first: what is left is retained (e.g. by a native callback).
  const counts = await heapObjectCounts(['NdPeerConnection', 'NdTrack', 'TrackFileWriter', 'TrackPipeline']);
  assert.deepEqual(counts, { NdPeerConnection: 0, NdTrack: 0, TrackFileWriter: 0, TrackPipeline: 0 });
});
