/**
 * Two in-process servers on one PostgreSQL schema and one real redis-server: an API call on the node
 * that does not host a live session is forwarded to the host and answered by it; a host that does
 * not answer gives 504 NODE_UNREACHABLE; a host that stops heartbeating is declared dead by the
 * other node, which ends its session with the participant-left and meeting-ended webhooks.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { startHarness, type Harness } from '../http/test-harness.js';
import { dropPgTestSchemas, pgTestSchema } from '../testing/postgres-test.js';
import { startRedisServer, type RedisTestServer } from '../testing/redis-test.js';

describe('servers coordinated by Redis', () => {
  let redis: RedisTestServer;
  const open: Harness[] = [];
  before(async () => {
    redis = await startRedisServer();
  });
  after(async () => {
    // Every server closes before any schema is dropped (a closing node ends its sessions).
    for (const h of open) await h.close();
    for (const h of open) await h.destroy();
    await dropPgTestSchemas();
    await redis.stop();
  });

  let db = 0;
  async function pair() {
    const pgSchema = pgTestSchema();
    // A Redis database per pair: the registries of different tests never meet.
    const redisUrl = `${redis.url}/${++db}`;
    const env = (id: string) => ({
      NODE_ID: id,
      PUBLIC_URL: `https://${id}.example.com`,
      REDIS_URL: redisUrl,
      NODE_HEARTBEAT_MS: '200',
      NODE_DEAD_AFTER_MS: '2000',
    });
    const a = await startHarness({ pgSchema, env: env(`a-${pgSchema}`) });
    open.push(a);
    const b = await startHarness({ pgSchema, env: env(`b-${pgSchema}`) });
    open.push(b);
    const meetingId = (await a.req('POST', `${a.appBase}/meetings`, { title: 'm' })).body.data.id as string;
    const hook = await a.req('POST', `${a.appBase}/webhooks`, {
      name: 'h',
      url: 'https://hooks.example.com/in',
      events: ['meeting.participantLeft', 'meeting.ended'],
    });
    assert.equal(hook.status, 201, hook.raw);
    const participant = (
      await a.req('POST', `${a.appBase}/meetings/${meetingId}/participants`, {
        custom_participant_id: 'liv',
        preset_name: 'group_call_host',
      })
    ).body.data;
    const peerId = randomUUID();
    await a.server.deps.sessions.peerJoined({
      meetingId,
      peerId,
      participantId: participant.id,
      customParticipantId: 'liv',
      name: 'Liv',
      presetName: 'group_call_host',
      joinedAt: new Date(),
    });
    return { a, b, meetingId, peerId };
  }

  it("forwards a call to the hosting node and answers with the host's answer, or 504 when it is silent", async () => {
    const { a, b, meetingId } = await pair();
    const nodes = await b.req('GET', '/v1/nodes');
    assert.equal(nodes.status, 200, nodes.raw);
    assert.deepEqual(
      nodes.body.data.nodes.map((n: { node_id: string }) => n.node_id).sort(),
      [a.server.config.nodeId, b.server.config.nodeId].sort(),
    );
    const path = `${b.appBase}/meetings/${meetingId}/active-session/kick-all`;
    // These servers run no media plane: the host's own answer says so (not b's 409).
    const direct = await a.req('POST', `${a.appBase}/meetings/${meetingId}/active-session/kick-all`, {});
    const forwarded = await b.req('POST', path, {});
    assert.notEqual(forwarded.status, 409, forwarded.raw);
    assert.equal(forwarded.status, direct.status);
    assert.deepEqual(forwarded.body, direct.body);
    // A request already forwarded once is not forwarded again (no loops): b's own 409.
    const again = await b.req('POST', path, {}, { 'x-trackroom-forwarded-by': 'someone' });
    assert.equal(again.status, 409, again.raw);
    // The host stops answering its bus: the caller gets a clear 504 in the envelope.
    await a.server.cluster?.bus.close();
    const silent = await b.req('POST', path, {});
    assert.equal(silent.status, 504, silent.raw);
    assert.equal(silent.body.success, false);
    assert.match(silent.body.error.message, /hosting this live session is not connected/);
  });

  it('a node silent beyond NODE_DEAD_AFTER_MS is declared dead: its session ends with webhooks', async () => {
    const { a, b, meetingId, peerId } = await pair();
    const declared = new Promise<{ nodeId: string; sessions: number }>((resolve) =>
      b.server.cluster?.sweeper.on('nodeDeclaredDead', resolve),
    );
    // node-a goes silent (as if killed): no more heartbeats, its entry stays until it is declared dead.
    await a.server.cluster?.registry.close(false);
    const dead = await declared;
    assert.equal(dead.nodeId, a.server.config.nodeId);
    assert.equal(dead.sessions, 1);
    const active = await b.req('GET', `${b.appBase}/meetings/${meetingId}/active-session`);
    assert.equal(active.status, 404, active.raw);
    const peer = await b.server.repo.sessionPeers.get(peerId);
    assert.ok(peer?.left_at, 'the peer left');
    const { rows } = await b.server.repo.webhookDeliveries.list();
    const events = rows
      .filter((d) => JSON.stringify(d).includes(meetingId))
      .map((d) => d.event)
      .sort();
    assert.deepEqual(events, ['meeting.ended', 'meeting.participantLeft']);
    const ended = rows.find((d) => d.event === 'meeting.ended' && JSON.stringify(d).includes(meetingId));
    assert.match(JSON.stringify(ended), /NODE_LOST/);
    const nodes = await b.req('GET', '/v1/nodes');
    assert.deepEqual(
      nodes.body.data.nodes.map((n: { node_id: string }) => n.node_id),
      [b.server.config.nodeId],
    );
  });

  it('a draining node gets no new meeting; closing it ends its sessions and leaves the registry', async () => {
    const { a, b, meetingId } = await pair();
    const fresh = async () =>
      (await b.req('POST', `${b.appBase}/meetings`, { title: 'n' })).body.data.id as string;
    // The meeting live on a stays there whoever asks.
    assert.deepEqual(await b.server.cluster?.hostFor(meetingId), {
      here: false,
      nodeId: a.server.config.nodeId,
      nodeUrl: a.server.config.publicUrl,
    });
    await a.server.cluster?.drain();
    const nodes = await b.req('GET', '/v1/nodes');
    const entry = nodes.body.data.nodes.find(
      (n: { node_id: string }) => n.node_id === a.server.config.nodeId,
    );
    assert.equal(entry.draining, true);
    // New meetings go to b, whichever node the first join reaches.
    for (const m of [await fresh(), await fresh()]) {
      assert.deepEqual(await a.server.cluster?.hostFor(m), {
        here: false,
        nodeId: b.server.config.nodeId,
        nodeUrl: b.server.config.publicUrl,
      });
      assert.deepEqual(await b.server.cluster?.hostFor(m), { here: true });
    }
    await a.close();
    const active = await b.req('GET', `${b.appBase}/meetings/${meetingId}/active-session`);
    assert.equal(active.status, 404, 'a ended its session as it closed');
    const { rows } = await b.server.repo.webhookDeliveries.list();
    const ended = rows.find((d) => d.event === 'meeting.ended' && d.body.includes(meetingId));
    assert.match(ended?.body ?? '', /SERVER_SHUTDOWN/);
    const after = await b.req('GET', '/v1/nodes');
    assert.deepEqual(
      after.body.data.nodes.map((n: { node_id: string }) => n.node_id),
      [b.server.config.nodeId],
    );
  });
});
