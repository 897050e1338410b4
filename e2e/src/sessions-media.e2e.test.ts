/**
 * The sessions API and webhooks reflect what happens on the media plane (real WebRTC through the
 * server's signalling): joins, leaves, a reconnect with the same token, host mute and kick, the
 * session's end after the keep-alive time.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { OpusPublisher } from './support/opus-publisher.js';
import { api, startServer, type ServerProcess } from './support/server-process.js';
import { startWebhookReceiver, type WebhookReceiver } from './support/webhook-receiver.js';
import { until } from './support/until.js';

let server: ServerProcess;
let hooks: WebhookReceiver;
before(async () => {
  server = await startServer({ env: { WEBHOOK_RETRY_BASE_MS: '50' } });
  hooks = await startWebhookReceiver();
});
after(async () => {
  await server?.stop();
  await hooks?.close();
});

test('sessions, peers, kick and mute follow the media plane', async () => {
  const call = api(server);
  const wh = await call('POST', '/webhooks', {
    name: 'all',
    url: hooks.url,
    events: ['meeting.started', 'meeting.ended', 'meeting.participantJoined', 'meeting.participantLeft'],
  });
  assert.equal(wh.status, 201);
  const meeting = (
    await call<{ data: { id: string } }>('POST', '/meetings', {
      title: 'sessions',
      session_keep_alive_time_in_secs: 1,
    })
  ).json.data;
  const add = async (cid: string) =>
    (
      await call<{ data: { id: string; token: string } }>('POST', `/meetings/${meeting.id}/participants`, {
        custom_participant_id: cid,
        preset_name: 'group_call_participant',
        name: cid.toUpperCase(),
      })
    ).json.data;
  const ann = await add('ann');
  const ben = await add('ben');

  const noSession = await call('GET', `/meetings/${meeting.id}/active-session`);
  assert.equal(noSession.status, 404);

  const connect = async (token: string) => {
    const p = await OpusPublisher.connect(`${server.wsUrl}?authToken=${token}`);
    await p.join();
    return p;
  };
  const a1 = await connect(ann.token);
  const b1 = await connect(ben.token);
  await hooks.waitFor((d) => d.body.event === 'meeting.started');
  type Active = { data: { id: string; status: string; live_participants: number; associated_id: string } };
  // The session starts with the first join; the second join reaches the store a moment after its
  // client has `joined` (the worker's event crosses to the control plane): wait for it.
  let active = await call<Active>('GET', `/meetings/${meeting.id}/active-session`);
  await until(
    'both participants live',
    async () =>
      (active = await call<Active>('GET', `/meetings/${meeting.id}/active-session`)).json.data
        .live_participants >= 2,
    10_000,
  );
  assert.equal(active.status, 200);
  assert.equal(active.json.data.status, 'LIVE');
  assert.equal(active.json.data.associated_id, meeting.id);
  assert.equal(active.json.data.live_participants, 2);
  const sessionId = active.json.data.id;

  // Ann drops and reconnects with the same token: same participant, new peer id.
  const firstPeer = a1.peerId;
  await a1.leave();
  await hooks.waitFor(
    (d) =>
      d.body.event === 'meeting.participantLeft' &&
      (d.body.participant as { peerId: string }).peerId === firstPeer,
  );
  const a2 = await connect(ann.token);
  assert.notEqual(a2.peerId, firstPeer);

  type PeerRow = {
    peer_id: string;
    user_id: string;
    custom_participant_id: string;
    joined_at: string;
    left_at?: string;
    duration: number;
  };
  const listPeers = async () =>
    (await call<{ data: { participants: PeerRow[] } }>('GET', `/sessions/${sessionId}/participants`)).json
      .data.participants;
  // The client has its `joined` before the control plane has stored the new peer (the worker's event
  // crosses a process boundary with MEDIA_WORKERS > 1): wait for the row, then check it.
  let peers: PeerRow[] = [];
  await until('the rejoined peer is listed', async () => (peers = await listPeers()).length >= 3, 10_000);
  assert.equal(peers.length, 3, 'two peers for ann, one for ben');
  const annPeers = peers.filter((p) => p.user_id === ann.id);
  assert.equal(annPeers.length, 2);
  assert.ok(annPeers.find((p) => p.peer_id === firstPeer)?.left_at, 'the dropped peer has left_at');
  assert.equal(annPeers.find((p) => p.peer_id === a2.peerId)?.left_at, undefined);
  assert.ok(peers.every((p) => p.custom_participant_id && p.joined_at && typeof p.duration === 'number'));

  // Host mute reaches ben's client; kick by custom id closes his socket.
  const mute = await call('POST', `/meetings/${meeting.id}/active-session/mute`, {
    custom_participant_ids: ['ben'],
  });
  assert.equal(mute.status, 200);
  await b1.waitFor('muted');
  const kick = await call<{ data: { participants: { peer_id: string }[] } }>(
    'POST',
    `/meetings/${meeting.id}/active-session/kick`,
    {
      participant_ids: [ben.id],
    },
  );
  assert.equal(kick.status, 200);
  assert.deepEqual(
    kick.json.data.participants.map((p) => p.peer_id),
    [b1.peerId],
  );
  await b1.waitFor('kicked');
  await hooks.waitFor(
    (d) =>
      d.body.event === 'meeting.participantLeft' &&
      (d.body.participant as { peerId: string }).peerId === b1.peerId,
  );

  // Everyone gone: the session ends after the 1 s keep-alive.
  await a2.leave();
  const ended = await hooks.waitFor((d) => d.body.event === 'meeting.ended');
  assert.equal((ended.body.meeting as { sessionId: string }).sessionId, sessionId);
  const after = await call<{ data: { status: string; ended_at?: string } }>('GET', `/sessions/${sessionId}`);
  assert.equal(after.json.data.status, 'ENDED');
  assert.ok(after.json.data.ended_at);
  const joined = hooks.deliveries.filter((d) => d.body.event === 'meeting.participantJoined');
  assert.equal(joined.length, 3);
  for (const d of hooks.deliveries) {
    assert.ok(d.headers['rtk-signature'] && d.headers['rtk-uuid'] && d.headers['rtk-webhook-id']);
  }
});
