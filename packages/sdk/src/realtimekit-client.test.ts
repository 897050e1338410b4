import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ClientMessage, ServerMessage } from '@trackroom/protocol';
import { RealtimeKitClient, finalStateForClose, signallingUrl } from './realtimekit-client.js';
import type { WebSocketLike } from './signalling-socket.js';

/** A scripted server end: the test opens, answers and drops sockets by hand. */
class FakeWs implements WebSocketLike {
  readyState = 0;
  onopen: ((ev: unknown) => void) | null = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  onclose: ((ev: { code: number; reason: string }) => void) | null = null;
  onerror: ((ev: unknown) => void) | null = null;
  readonly sent: ClientMessage[] = [];
  constructor(readonly url: string) {}
  send(data: string): void {
    this.sent.push(JSON.parse(data) as ClientMessage);
  }
  close(code = 1000, reason = ''): void {
    if (this.readyState === 3) return;
    this.readyState = 3;
    this.onclose?.({ code, reason });
  }
  open(): void {
    this.readyState = 1;
    this.onopen?.({});
  }
  deliver(msg: ServerMessage): void {
    this.onmessage?.({ data: JSON.stringify(msg) });
  }
  serverClose(code: number): void {
    this.readyState = 3;
    this.onclose?.({ code, reason: '' });
  }
}

function joined(peerId: string, peers: string[] = []): ServerMessage {
  return {
    type: 'joined',
    protocolVersion: 1,
    meetingId: 'm1',
    meetingTitle: 'Standup',
    self: {
      peerId,
      participantId: 'user-me',
      customParticipantId: 'c-me',
      name: 'Me',
      presetName: 'p',
      // No publishing: these tests cover signalling without peer connections.
      canProduceAudio: false,
      canProduceVideo: false,
    },
    peers: peers.map((id) => ({
      peerId: id,
      participantId: `user-${id}`,
      customParticipantId: '',
      name: id,
      presetName: 'p',
      audioEnabled: true,
      videoEnabled: false,
      joinedAt: new Date(0).toISOString(),
    })),
    recordings: [{ id: 'r1', type: 'TRACK', status: 'RECORDING', recordedParticipantIds: [] }],
    iceServers: [],
  };
}

/** Resolves when the next socket is created. */
function setup(): {
  meeting: Promise<RealtimeKitClient>;
  sockets: FakeWs[];
  nextSocket(): Promise<FakeWs>;
} {
  const sockets: FakeWs[] = [];
  let waiter: ((ws: FakeWs) => void) | undefined;
  const meeting = RealtimeKitClient.init({
    authToken: 'tok en',
    baseURI: 'https://meet.example.com/some/path',
    defaults: { audio: false, video: false },
    reconnect: { initialMs: 5, maxMs: 20, jitter: 0, maxAttempts: 3 },
    createWebSocket: (url) => {
      const ws = new FakeWs(url);
      sockets.push(ws);
      const w = waiter;
      waiter = undefined;
      // Open on the next tick, as a browser would.
      setTimeout(() => w?.(ws), 0);
      return ws;
    },
  });
  return {
    meeting,
    sockets,
    nextSocket: () => new Promise<FakeWs>((resolve) => (waiter = resolve)),
  };
}

async function joinWith(
  env: ReturnType<typeof setup>,
  peerId: string,
  peers: string[] = [],
): Promise<{ m: RealtimeKitClient; ws: FakeWs }> {
  const m = await env.meeting;
  const next = env.nextSocket();
  const joining = m.join();
  const ws = await next;
  ws.open();
  await Promise.resolve();
  assert.deepEqual(ws.sent[0], { type: 'join', audio: false, video: false, subscriber: 'single' });
  ws.deliver(joined(peerId, peers));
  await joining;
  return { m, ws };
}

test('signalling URL follows the base URI scheme and host', () => {
  assert.equal(
    signallingUrl('https://meet.example.com/x?y=1', 'a b'),
    'wss://meet.example.com/ws?authToken=a+b',
  );
  assert.equal(signallingUrl('http://127.0.0.1:8080', 't'), 'ws://127.0.0.1:8080/ws?authToken=t');
  assert.equal(finalStateForClose(4002, false), 'kicked');
  assert.equal(finalStateForClose(1000, true), 'kicked');
  assert.equal(finalStateForClose(4001, false), 'rejected');
  assert.equal(finalStateForClose(1006, false), undefined);
  assert.equal(finalStateForClose(4004, false), undefined);
});

test('init rejects without a token', async () => {
  await assert.rejects(RealtimeKitClient.init({ authToken: '', baseURI: 'http://x' }), /authToken/);
});

test('join fills self, participants and recording', async () => {
  const env = setup();
  const m0 = await env.meeting;
  const firstJoin = new Promise((resolve) => m0.self.once('roomJoined', resolve));
  const { m, ws } = await joinWith(env, 'peer-me', ['peer-a']);
  assert.deepEqual(await firstJoin, { reconnected: false });
  assert.equal(ws.url, 'wss://meet.example.com/ws?authToken=tok+en');
  assert.equal(m.self.id, 'peer-me');
  assert.equal(m.self.userId, 'user-me');
  assert.equal(m.self.customParticipantId, 'c-me');
  assert.equal(m.self.roomJoined, true);
  assert.equal(m.meta.meetingId, 'm1');
  assert.deepEqual([...m.participants.joined.keys()], ['peer-a']);
  assert.equal(m.recording.recordingState, 'RECORDING');
  ws.deliver({ type: 'recordingUpdate', recordings: [] });
  assert.equal(m.recording.recordingState, 'IDLE');
  await m.leave();
});

test('an unexpected drop rejoins with the same token and a new peer id; leave() ends it', async () => {
  const env = setup();
  const { m, ws } = await joinWith(env, 'peer-1', ['peer-a', 'peer-b']);
  const events: string[] = [];
  m.self.on('roomJoined', (e) => events.push(`roomJoined reconnected=${e.reconnected}`));
  m.self.on('roomLeft', (e) => events.push(`roomLeft ${e.state}`));
  m.participants.joined.on('participantLeft', (p) => events.push(`left ${p.id}`));
  m.participants.joined.on('participantJoined', (p) => events.push(`joined ${p.id}`));

  // Fails once (closes before joined), then succeeds.
  let next = env.nextSocket();
  ws.serverClose(1006);
  assert.equal(m.self.roomState, 'reconnecting');
  const first = await next;
  next = env.nextSocket();
  first.serverClose(1006);
  const second = await next;
  second.open();
  await Promise.resolve();
  assert.equal(second.url, ws.url);
  second.deliver(joined('peer-2', ['peer-a', 'peer-c']));
  await new Promise((r) => setTimeout(r, 0));
  assert.equal(m.self.id, 'peer-2');
  assert.equal(m.self.roomState, 'joined');
  assert.deepEqual(events, ['left peer-b', 'joined peer-c', 'roomJoined reconnected=true']);

  await m.leave();
  assert.deepEqual(second.sent.at(-1), { type: 'leave' });
  assert.equal(second.readyState, 3);
  assert.equal(m.self.roomState, 'left');
  assert.equal(m.participants.joined.size, 0);
  await m.leave(); // idempotent
  assert.equal(events.filter((e) => e.startsWith('roomLeft')).length, 1);
  await assert.rejects(m.join(), /left/);
  // No further sockets: the reconnect loop is stopped.
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(env.sockets.length, 3);
});

test('gives up after the configured attempts with roomLeft failed', async () => {
  const env = setup();
  const { m, ws } = await joinWith(env, 'peer-1');
  const left = new Promise<string>((resolve) => m.self.once('roomLeft', (e) => resolve(e.state)));
  let next = env.nextSocket();
  ws.serverClose(1001);
  for (let i = 0; i < 3; i++) {
    const s = await next;
    next = env.nextSocket();
    s.serverClose(1006);
  }
  assert.equal(await left, 'failed');
  assert.equal(m.meta.socketState, 'failed');
});

test('kicked and refused tokens do not reconnect', async () => {
  const env = setup();
  const { m, ws } = await joinWith(env, 'peer-1', ['peer-a']);
  const states: string[] = [];
  m.self.on('roomLeft', (e) => states.push(e.state));
  ws.deliver({ type: 'kicked', reason: 'removed by host' });
  ws.serverClose(4002);
  assert.deepEqual(states, ['kicked']);
  assert.equal(m.participants.joined.size, 0);

  const env2 = setup();
  const m2 = await env2.meeting;
  const next = env2.nextSocket();
  const joining = m2.join();
  const s = await next;
  s.open();
  s.deliver({ type: 'error', code: 'TOKEN_INVALID', message: 'Participant token is invalid' });
  s.serverClose(4001);
  await assert.rejects(joining, /token is invalid/);
  assert.equal(m2.self.roomState, 'rejected');
  await new Promise((r) => setTimeout(r, 30));
  assert.equal(env2.sockets.length, 1);
});

test('media updates and host mute reach the objects', async () => {
  const env = setup();
  const { m, ws } = await joinWith(env, 'peer-1', ['peer-a']);
  const seen: boolean[] = [];
  m.participants.joined.on('audioUpdate', (p) => seen.push(p.audioEnabled));
  ws.deliver({ type: 'audioUpdate', peerId: 'peer-a', enabled: false, byHost: true });
  ws.deliver({ type: 'audioUpdate', peerId: 'peer-a', enabled: true, byHost: false });
  assert.deepEqual(seen, [false, true]);
  const muted = new Promise((resolve) => m.self.once('mutedByHost', resolve));
  ws.deliver({ type: 'muted', kind: 'audio', reason: 'muted by host' });
  assert.deepEqual(await muted, { kind: 'audio' });
  ws.deliver({ type: 'peerLeft', peerId: 'peer-a', participantId: 'user-peer-a', reason: 'left' });
  assert.equal(m.participants.joined.size, 0);
  await m.leave();
});

test('a refused token ends in rejected even when the close code comes late', async () => {
  const env = setup();
  const m = await env.meeting;
  const next = env.nextSocket();
  const joining = m.join();
  const s = await next;
  s.open();
  s.deliver({ type: 'error', code: 'TOKEN_EXPIRED', message: 'Participant token has expired' });
  const err = await joining.then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.equal((err as { code?: string } | undefined)?.code, 'TOKEN_EXPIRED');
  assert.equal(m.self.roomState, 'rejected');
});

test('the meeting title and who is being recorded come from the server', async () => {
  const env = setup();
  const m0 = await env.meeting;
  // Listeners of roomJoined and participantJoined already see the recorded state.
  let selfAtJoin: boolean | undefined;
  m0.self.once('roomJoined', () => (selfAtJoin = m0.self.isBeingRecorded));
  const atJoin = new Map<string, boolean>();
  m0.participants.joined.on('participantJoined', (p) => atJoin.set(p.id, p.isBeingRecorded));
  const next = env.nextSocket();
  const joining = m0.join();
  const ws = await next;
  ws.open();
  await Promise.resolve();
  const first = joined('peer-me', ['peer-a', 'peer-b']);
  assert.equal(first.type, 'joined');
  ws.deliver({
    ...first,
    recordings: [
      { id: 'r1', type: 'TRACK', status: 'RECORDING', recordedParticipantIds: ['user-me', 'user-peer-a'] },
    ],
  } as ServerMessage);
  await joining;
  const m = m0;
  assert.equal(m.meta.meetingTitle, 'Standup');
  assert.equal(selfAtJoin, true);
  assert.deepEqual(
    [...atJoin],
    [
      ['peer-a', true],
      ['peer-b', false],
    ],
  );

  const events: string[] = [];
  m.self.on('beingRecordedUpdate', (e) => events.push(`self ${e.isBeingRecorded}`));
  m.participants.joined.on('beingRecordedUpdate', (p) => events.push(`${p.id} ${p.isBeingRecorded}`));
  m.participants.joined
    .get('peer-b')!
    .on('beingRecordedUpdate', (e) => events.push(`peer-b own ${e.isBeingRecorded}`));

  // Paused: nobody is being recorded right now, although the recording still selects them.
  ws.deliver({
    type: 'recordingUpdate',
    recordings: [
      { id: 'r1', type: 'TRACK', status: 'PAUSED', recordedParticipantIds: ['user-me', 'user-peer-a'] },
    ],
  });
  assert.equal(m.recording.recordingState, 'PAUSED');
  assert.equal(m.self.isBeingRecorded, false);
  assert.deepEqual(events, ['peer-a false', 'self false']);

  // Resumed, now selecting b instead of me (a new recording).
  events.length = 0;
  ws.deliver({
    type: 'recordingUpdate',
    recordings: [{ id: 'r2', type: 'TRACK', status: 'RECORDING', recordedParticipantIds: ['user-peer-b'] }],
  });
  assert.deepEqual(events, ['peer-b own true', 'peer-b true']);
  assert.equal(m.self.isBeingRecorded, false);
  assert.equal(m.recording.isRecording('user-peer-b'), true);

  // A selected participant joining later arrives already marked.
  ws.deliver({
    type: 'recordingUpdate',
    recordings: [
      {
        id: 'r2',
        type: 'TRACK',
        status: 'RECORDING',
        recordedParticipantIds: ['user-peer-b', 'user-peer-c'],
      },
    ],
  });
  ws.deliver({
    type: 'peerJoined',
    peer: {
      peerId: 'peer-c',
      participantId: 'user-peer-c',
      customParticipantId: '',
      name: 'C',
      presetName: 'p',
      audioEnabled: true,
      videoEnabled: false,
      joinedAt: new Date(0).toISOString(),
    },
  });
  assert.equal(atJoin.get('peer-c'), true);

  // The same list again changes nothing.
  events.length = 0;
  ws.deliver({
    type: 'recordingUpdate',
    recordings: [
      {
        id: 'r2',
        type: 'TRACK',
        status: 'RECORDING',
        recordedParticipantIds: ['user-peer-b', 'user-peer-c'],
      },
    ],
  });
  assert.deepEqual(events, []);

  // Selecting me again, then leaving: not recorded any more.
  ws.deliver({
    type: 'recordingUpdate',
    recordings: [{ id: 'r2', type: 'TRACK', status: 'RECORDING', recordedParticipantIds: ['user-me'] }],
  });
  assert.equal(m.self.isBeingRecorded, true);
  await m.leave();
  assert.equal(m.self.isBeingRecorded, false);
  assert.equal(events.at(-1), 'self false');
});

/** Just enough of RTCPeerConnection for a receive-only connection; the test drives its state. */
class FakePc {
  connectionState: RTCPeerConnectionState = 'new';
  iceGatheringState: RTCIceGatheringState = 'complete';
  localDescription: { type: string; sdp: string } | null = null;
  readonly #listeners = new Map<string, (() => void)[]>();
  constructor(readonly config: RTCConfiguration) {}
  addTransceiver() {
    return { receiver: { track: { kind: 'audio' } }, sender: {} };
  }
  createOffer() {
    return Promise.resolve({ type: 'offer', sdp: 'v=0\r\n' });
  }
  setLocalDescription(d: { type: string; sdp: string }) {
    this.localDescription = d;
    return Promise.resolve();
  }
  setRemoteDescription() {
    return Promise.resolve();
  }
  addEventListener(type: string, fn: () => void) {
    this.#listeners.set(type, [...(this.#listeners.get(type) ?? []), fn]);
  }
  removeEventListener() {}
  close() {
    this.connectionState = 'closed';
  }
  setState(s: RTCPeerConnectionState) {
    this.connectionState = s;
    for (const fn of this.#listeners.get('connectionstatechange') ?? []) fn();
  }
}

test("the joined message's TURN servers go into every peer connection; a failed one is reported", async () => {
  const pcs: FakePc[] = [];
  const sockets: FakeWs[] = [];
  const m = await RealtimeKitClient.init({
    authToken: 't',
    baseURI: 'http://127.0.0.1:1',
    defaults: { audio: false, video: false },
    createWebSocket: (url) => {
      const ws = new FakeWs(url);
      sockets.push(ws);
      setTimeout(() => ws.open(), 0);
      return ws;
    },
    createPeerConnection: (config) => {
      const pc = new FakePc(config);
      pcs.push(pc);
      return pc as unknown as RTCPeerConnection;
    },
  });
  const updates: string[] = [];
  m.meta.on('mediaConnectionUpdate', (e) => updates.push(`${e.transport} ${e.state}`));
  const joining = m.join();
  await new Promise((r) => setTimeout(r, 5));
  const ws = sockets[0]!;
  const iceServers = [
    { urls: ['turn:10.0.0.1:3478?transport=udp'], username: '1700000000:peer-1', credential: 'c2VjcmV0' },
  ];
  ws.deliver({ ...joined('peer-1', ['peer-a']), iceServers } as ServerMessage);
  await joining;
  assert.equal(m.meta.relayOffered, true);
  ws.deliver({ type: 'subscribe', subscriptionId: 's1', peerId: 'peer-a', kinds: ['audio'] });
  await new Promise((r) => setTimeout(r, 5));
  assert.equal(pcs.length, 1);
  assert.deepEqual(pcs[0]!.config.iceServers, iceServers);
  assert.deepEqual(ws.sent.at(-1), { type: 'subscribeOffer', subscriptionId: 's1', sdp: 'v=0\r\n' });
  pcs[0]!.setState('connecting');
  pcs[0]!.setState('failed');
  assert.equal(m.meta.mediaState.consuming, 'failed');
  assert.deepEqual(updates, ['consuming connecting', 'consuming failed']);
  await m.leave();
});

test('a server without iceServers in joined means direct paths only', async () => {
  const env = setup();
  const { m } = await joinWith(env, 'peer-1');
  assert.equal(m.meta.relayOffered, false);
  assert.deepEqual(m.meta.mediaState, { producing: 'new', consuming: 'new' });
  await m.leave();
});

test('a redirect before joined is followed to the hosting server with the same token', async () => {
  const env = setup();
  const m = await env.meeting;
  let next = env.nextSocket();
  const joining = m.join();
  const first = await next;
  assert.equal(first.url, 'wss://meet.example.com/ws?authToken=tok+en');
  first.open();
  await Promise.resolve();
  next = env.nextSocket();
  // The server that does not host the meeting names the one that does, then closes with REDIRECT.
  first.deliver({ type: 'redirect', nodeUrl: 'https://node-b.example.com', nodeId: 'node-b' });
  first.serverClose(4005);
  const second = await next;
  assert.equal(second.url, 'wss://node-b.example.com/ws?authToken=tok+en');
  second.open();
  await Promise.resolve();
  assert.deepEqual(second.sent[0], { type: 'join', audio: false, video: false, subscriber: 'single' });
  second.deliver(joined('peer-b'));
  await joining;
  assert.equal(m.self.roomState, 'joined');
  assert.equal(env.sockets.length, 2);
});

test('redirects are followed a few times at most, then the join fails', async () => {
  const env = setup();
  const m = await env.meeting;
  let next = env.nextSocket();
  const joining = m.join();
  for (let hop = 0; hop < 4; hop++) {
    const ws = await next;
    ws.open();
    await Promise.resolve();
    next = env.nextSocket();
    ws.deliver({ type: 'redirect', nodeUrl: `https://node-${hop}.example.com`, nodeId: `node-${hop}` });
    ws.serverClose(4005);
  }
  await assert.rejects(joining, /signalling socket closed \(4005\)/);
  assert.equal(env.sockets.length, 4, 'the first socket plus three redirects');
  assert.equal(m.self.roomState, 'failed');
});

test('a rejoin after a redirected join starts at the first server again', async () => {
  const env = setup();
  const m = await env.meeting;
  let next = env.nextSocket();
  const joining = m.join();
  const first = await next;
  first.open();
  await Promise.resolve();
  next = env.nextSocket();
  first.deliver({ type: 'redirect', nodeUrl: 'http://10.0.0.2:8787', nodeId: 'node-b' });
  first.serverClose(4005);
  const hosted = await next;
  assert.equal(hosted.url, 'ws://10.0.0.2:8787/ws?authToken=tok+en');
  hosted.open();
  await Promise.resolve();
  hosted.deliver(joined('peer-b'));
  await joining;
  // The hosting server goes away: the rejoin goes to the page's server, which places the meeting anew.
  next = env.nextSocket();
  hosted.serverClose(1006);
  const rejoin = await next;
  assert.equal(rejoin.url, 'wss://meet.example.com/ws?authToken=tok+en');
});

/** A receive-only RTCPeerConnection with transceivers that get mids in order when offered. */
class FakeSubscriberPc extends FakePc {
  readonly transceivers: {
    mid: string | null;
    direction: RTCRtpTransceiverDirection;
    receiver: { track: { kind: string; id: string } };
  }[] = [];
  override addTransceiver(kind?: unknown, init?: { direction?: RTCRtpTransceiverDirection }) {
    const t = {
      mid: null as string | null,
      direction: init?.direction ?? 'sendrecv',
      receiver: { track: { kind: String(kind), id: `track-${this.transceivers.length}` } },
      sender: {},
    };
    this.transceivers.push(t);
    return t as never;
  }
  override createOffer() {
    this.transceivers.forEach((t, i) => (t.mid ??= String(i)));
    const lines = this.transceivers.map((t) => `m=${t.receiver.track.kind} ${t.mid} ${t.direction}`);
    return Promise.resolve({ type: 'offer', sdp: ['v=0', ...lines].join('\r\n') });
  }
}

test('single mode: one receiving connection follows the slots, one offer at a time, tracks by mid', async () => {
  const pcs: FakeSubscriberPc[] = [];
  const sockets: FakeWs[] = [];
  const m = await RealtimeKitClient.init({
    authToken: 't',
    baseURI: 'http://127.0.0.1:1',
    defaults: { audio: false, video: false },
    createWebSocket: (url) => {
      const ws = new FakeWs(url);
      sockets.push(ws);
      setTimeout(() => ws.open(), 0);
      return ws;
    },
    createPeerConnection: (config) => {
      const pc = new FakeSubscriberPc(config);
      pcs.push(pc);
      return pc as unknown as RTCPeerConnection;
    },
  });
  const joining = m.join();
  await new Promise((r) => setTimeout(r, 5));
  const ws = sockets[0]!;
  ws.deliver(joined('peer-1', ['peer-a', 'peer-b', 'peer-c']));
  await joining;
  const tick = () => new Promise((r) => setTimeout(r, 5));
  const offers = () =>
    ws.sent.filter((x): x is Extract<typeof x, { type: 'subscriberOffer' }> => x.type === 'subscriberOffer');

  ws.deliver({
    type: 'subscriberUpdate',
    connectionId: 'c1',
    version: 1,
    slots: [{ kind: 'audio', peerId: 'peer-a' }],
  });
  // A second update while the first offer waits for its answer is offered after that answer.
  ws.deliver({
    type: 'subscriberUpdate',
    connectionId: 'c1',
    version: 2,
    slots: [
      { kind: 'audio', peerId: 'peer-a' },
      { kind: 'audio', peerId: 'peer-b' },
    ],
  });
  await tick();
  assert.equal(pcs.length, 1);
  assert.equal(offers().length, 1);
  assert.deepEqual(offers()[0]!, {
    type: 'subscriberOffer',
    connectionId: 'c1',
    version: 1,
    sdp: 'v=0\r\nm=audio 0 recvonly',
  });
  ws.deliver({
    type: 'subscriberAnswer',
    connectionId: 'c1',
    version: 1,
    sdp: 'v=0',
    tracks: [{ mid: '0', kind: 'audio', peerId: 'peer-a' }],
  });
  await tick();
  const trackOf = (id: string) =>
    m.participants.joined.get(id)?.audioTrack as unknown as { id: string } | undefined;
  assert.equal(trackOf('peer-a')?.id, 'track-0');
  assert.equal(offers().length, 2);
  assert.equal(offers()[1]!.version, 2);
  assert.equal(offers()[1]!.sdp, 'v=0\r\nm=audio 0 recvonly\r\nm=audio 1 recvonly');
  ws.deliver({
    type: 'subscriberAnswer',
    connectionId: 'c1',
    version: 2,
    sdp: 'v=0',
    tracks: [
      { mid: '0', kind: 'audio', peerId: 'peer-a' },
      { mid: '1', kind: 'audio', peerId: 'peer-b' },
    ],
  });
  await tick();
  assert.equal(trackOf('peer-b')?.id, 'track-1');

  // peer-a stops: its slot goes inactive; then peer-c reuses it (same transceiver, same track).
  ws.deliver({
    type: 'subscriberUpdate',
    connectionId: 'c1',
    version: 3,
    slots: [
      { kind: 'audio', peerId: 'peer-c' },
      { kind: 'audio', peerId: 'peer-b' },
    ],
  });
  await tick();
  ws.deliver({
    type: 'subscriberAnswer',
    connectionId: 'c1',
    version: 3,
    sdp: 'v=0',
    tracks: [
      { mid: '0', kind: 'audio', peerId: 'peer-c' },
      { mid: '1', kind: 'audio', peerId: 'peer-b' },
    ],
  });
  await tick();
  assert.equal(trackOf('peer-a'), undefined, 'the slot is no longer peer-a’s');
  assert.equal(trackOf('peer-c')?.id, 'track-0');
  assert.equal(pcs.length, 1, 'still one receiving connection');
  assert.equal(pcs[0]!.transceivers.length, 2);

  // A new connection id replaces the connection.
  ws.deliver({
    type: 'subscriberUpdate',
    connectionId: 'c2',
    version: 1,
    slots: [{ kind: 'audio', peerId: 'peer-b' }],
  });
  await tick();
  assert.equal(pcs.length, 2);
  assert.equal(pcs[0]!.connectionState, 'closed');
  assert.equal(trackOf('peer-b'), undefined, 'tracks of the closed connection are taken back');
  assert.equal(offers().at(-1)!.connectionId, 'c2');
  await m.leave();
  assert.equal(pcs[1]!.connectionState, 'closed');
});
