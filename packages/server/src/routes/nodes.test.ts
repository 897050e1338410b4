/**
 * Two servers (NODE_ID node-a and node-b) on one PostgreSQL database: each owns the live sessions it
 * hosts. The other one's start leaves them alone; its API refuses to act on their media with 409
 * HOSTED_ELSEWHERE naming the hosting server; the owner's own restart ends them as before.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { startHarness, type Harness } from '../http/test-harness.js';
import { dropPgTestSchemas, pgTestSchema } from '../testing/postgres-test.js';

describe('servers sharing one database own their live sessions', () => {
  const open: Harness[] = [];
  after(async () => {
    for (const h of open) await h.destroy();
    await dropPgTestSchemas();
  });

  it('the other server keeps out of a session it does not host; the owner ends it at its restart', async () => {
    const pgSchema = pgTestSchema();
    const a = await startHarness({
      pgSchema,
      env: { NODE_ID: 'node-a', PUBLIC_URL: 'https://a.example.com' },
    });
    open.push(a);
    const meetingId = (await a.req('POST', `${a.appBase}/meetings`, { title: 'on a' })).body.data.id;
    const participant = (
      await a.req('POST', `${a.appBase}/meetings/${meetingId}/participants`, {
        custom_participant_id: 'liv',
        preset_name: 'group_call_host',
      })
    ).body.data;
    await a.server.deps.sessions.peerJoined({
      meetingId,
      peerId: randomUUID(),
      participantId: participant.id,
      customParticipantId: 'liv',
      name: 'Liv',
      presetName: 'group_call_host',
      joinedAt: new Date(),
    });

    // node-b starts on the same database: node-a's live session goes on.
    const b = await startHarness({
      pgSchema,
      env: { NODE_ID: 'node-b', PUBLIC_URL: 'https://b.example.com' },
    });
    open.push(b);
    assert.equal(b.appId, a.appId, 'one default app for both');
    const seen = await b.req('GET', `${b.appBase}/meetings/${meetingId}/active-session`);
    assert.equal(seen.status, 200, seen.raw);
    assert.equal(seen.body.data.status, 'LIVE', 'node-b read it and left it live');

    // Acting on its media from node-b: 409 naming where it lives.
    for (const [path, body] of [
      ['/recordings/track', { meeting_id: meetingId }],
      [`/meetings/${meetingId}/active-session/kick-all`, {}],
      [`/meetings/${meetingId}/active-session/mute-all`, { allow_unmute: true }],
    ] as const) {
      const r = await b.req('POST', `${b.appBase}${path}`, body);
      assert.equal(r.status, 409, `${path}: ${r.raw}`);
      assert.equal(r.body.success, false);
      assert.match(
        r.body.error.message,
        /live on another server \(node-a\): join at https:\/\/a\.example\.com/,
      );
    }
    await assert.rejects(b.server.deps.sessions.assertHostedHere(meetingId), /node-a/);
    await a.server.deps.sessions.assertHostedHere(meetingId);
    const fromA = await a.req('POST', `${a.appBase}/meetings/${meetingId}/active-session/kick-all`, {});
    assert.notEqual(fromA.status, 409, 'its own server is not refused');

    // node-b restarts: still not its session. node-a restarts: it ends its own.
    const b2 = await b.restart();
    open.push(b2);
    assert.equal(
      (await b2.req('GET', `${b2.appBase}/meetings/${meetingId}/active-session`)).body.data.status,
      'LIVE',
    );
    const a2 = await a.restart();
    open.push(a2);
    const after = await a2.req('GET', `${a2.appBase}/meetings/${meetingId}/active-session`);
    assert.equal(after.status, 404, 'node-a ended it at its restart');
    const list = await a2.req('GET', `${a2.appBase}/sessions?associated_id=${meetingId}`);
    assert.equal(list.body.data.sessions[0].status, 'ENDED');
  });
});
