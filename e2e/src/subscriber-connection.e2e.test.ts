/**
 * One subscribing connection per participant (issue 14, item 5): ten werift participants join one
 * meeting with `subscriber: 'single'`, publish Opus, and each hears the nine others through ONE
 * receive-only peer connection, renegotiated as publishers arrive. The server's transport holds
 * 2 peer connections per participant (publish + subscribe), not N². Then one leaves (the others
 * renegotiate its slot to `inactive` and stop hearing it) and a late joiner arrives (it takes the
 * freed slot in everyone's connection, which keeps its m-line count, and hears everyone itself).
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { sineOpusPackets } from '@trackroom/recorder/testing';
import { OpusPublisher } from './support/opus-publisher.js';
import { api, startServer, type ServerProcess } from './support/server-process.js';
import { until } from './support/until.js';

const PEOPLE = 10;

let server: ServerProcess;
const work = mkdtempSync(join(tmpdir(), 'subscriber-connection-'));

before(async () => {
  server = await startServer();
});
after(async () => {
  await server?.stop();
});

async function sfuStats(): Promise<Record<string, number>> {
  const res = await fetch(`${server.baseUrl}/v1/stats`, {
    headers: { authorization: `Bearer ${server.token}` },
  });
  assert.equal(res.status, 200);
  return ((await res.json()) as { data: { media: { sfu: Record<string, number> } } }).data.media.sfu;
}

/** Resolves once `p` received at least `n` more packets from each of `from` than in `base`. */
function hearsAll(p: OpusPublisher, from: OpusPublisher[], base: Map<string, number>, n = 10): () => boolean {
  return () =>
    from.every((o) => (p.single!.receivedByPeer.get(o.peerId) ?? 0) - (base.get(o.peerId) ?? 0) >= n);
}

test('ten participants hear each other through one subscribing connection each, across a leave and a late join', async () => {
  const call = api(server);
  const meeting = await call<{ data: { id: string } }>('POST', '/meetings', { title: 'one pc' });
  assert.equal(meeting.status, 201);
  const mid = meeting.json.data.id;
  async function token(j: number): Promise<string> {
    const r = await call<{ data: { token: string } }>('POST', `/meetings/${mid}/participants`, {
      custom_participant_id: `onepc-${j}`,
      preset_name: 'group_call_host',
      name: `onepc-${j}`,
    });
    assert.equal(r.status, 201);
    return r.json.data.token;
  }
  const packets = sineOpusPackets({ dir: work, frequency: 440, seconds: 2, channels: 1 });
  const peers: OpusPublisher[] = [];
  for (let j = 0; j < PEOPLE; j++) {
    const p = await OpusPublisher.connect(`${server.wsUrl}?authToken=${await token(j)}`, {
      subscribe: 'single',
    });
    await p.join();
    await p.publish();
    p.play(packets);
    peers.push(p);
  }
  const empty = new Map<string, number>();
  for (const p of peers) {
    await until(
      `${p.peerId} hears the nine others`,
      hearsAll(
        p,
        peers.filter((o) => o !== p),
        empty,
      ),
      30_000,
    );
  }
  for (const p of peers) {
    assert.equal(p.single!.connectionsCreated, 1, 'one subscribing connection was ever created');
    assert.equal(p.single!.openConnections, 1);
    assert.deepEqual(p.single!.errors, []);
    const last = p.messages.filter((m) => m.type === 'subscriberUpdate').at(-1);
    assert.ok(last && last.type === 'subscriberUpdate');
    assert.equal(last.slots.length, PEOPLE - 1, 'one audio slot per other participant');
  }
  let s = await sfuStats();
  assert.equal(s.transportPeerConnections, 2 * PEOPLE, 'publish + subscribe per participant on the server');
  assert.equal(s.subscriberConnections, PEOPLE);
  assert.equal(s.subscriberSlots, PEOPLE * (PEOPLE - 1));
  assert.equal(s.subscriptions, 0, 'no per-publisher connection');

  // A publisher leaves: everyone renegotiates its slot to inactive and stops hearing it.
  const gone = peers.pop()!;
  await gone.leave();
  for (const p of peers) {
    await until(`${p.peerId} freed the slot of the one who left`, async () => {
      await p.single!.settled();
      return !p.single!.mappedPublishers.includes(gone.peerId);
    });
  }
  await until(
    'the server dropped the leaver',
    async () => (await sfuStats()).transportPeerConnections === 2 * (PEOPLE - 1),
  );
  s = await sfuStats();
  assert.equal(s.subscriberSlots, (PEOPLE - 1) * (PEOPLE - 2));
  const afterLeave = peers.map((p) => p.single!.receivedByPeer.get(gone.peerId) ?? 0);

  // A late joiner: it reuses the freed slot everywhere and hears the nine present.
  const late = await OpusPublisher.connect(`${server.wsUrl}?authToken=${await token(PEOPLE)}`, {
    subscribe: 'single',
  });
  await late.join();
  await late.publish();
  late.play(packets);
  const bases = peers.map((p) => new Map(p.single!.receivedByPeer));
  await until('the late joiner hears everyone', hearsAll(late, peers, empty), 30_000);
  for (const [i, p] of peers.entries()) {
    await until(`${p.peerId} hears the late joiner`, hearsAll(p, [late], bases[i]!), 30_000);
    const last = p.messages.filter((m) => m.type === 'subscriberUpdate').at(-1);
    assert.ok(last && last.type === 'subscriberUpdate');
    assert.equal(last.slots.length, PEOPLE - 1, 'the freed slot was reused, no m-line added');
    assert.ok(last.slots.some((x) => x.peerId === late.peerId));
    assert.equal(
      p.single!.receivedByPeer.get(gone.peerId) ?? 0,
      afterLeave[i],
      'nothing more from the leaver',
    );
    assert.equal(p.single!.connectionsCreated, 1, 'still the one subscribing connection');
    assert.ok(p.single!.negotiations >= 3, 'renegotiated for the leave and the join');
  }
  s = await sfuStats();
  assert.equal(s.transportPeerConnections, 2 * PEOPLE);
  assert.equal(s.subscriberSlots, PEOPLE * (PEOPLE - 1));

  await Promise.all([...peers, late].map((p) => p.leave()));
  await until('everything released', async () => {
    const x = await sfuStats();
    return x.transportPeerConnections === 0 && x.transportTracks === 0 && x.subscriberSlots === 0;
  });
});
