import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { MISSING_UUID, startHarness, type Harness } from '../http/test-harness.js';

describe('sessions and active-session routes', () => {
  let h: Harness;
  let meetingId: string;
  let participant: { id: string; custom_participant_id: string };
  before(async () => {
    h = await startHarness();
    meetingId = (await h.req('POST', `${h.appBase}/meetings`, { title: 'Live one' })).body.data.id;
    participant = (
      await h.req('POST', `${h.appBase}/meetings/${meetingId}/participants`, {
        custom_participant_id: 'live-1',
        preset_name: 'group_call_host',
        name: 'Liv',
      })
    ).body.data;
  });
  after(() => h.destroy());

  it('answers "no active session" (404) while nobody has joined', async () => {
    const base = `${h.appBase}/meetings/${meetingId}/active-session`;
    const r = await h.req('GET', base);
    assert.equal(r.status, 404);
    assert.deepEqual(r.body, {
      success: false,
      error: { code: 404, message: `Meeting ${meetingId} has no active session` },
    });
    for (const [path, body] of [
      ['/kick', { participant_ids: [participant.id] }],
      ['/kick-all', undefined],
      ['/mute', { participant_ids: [participant.id] }],
      ['/mute-all', { allow_unmute: true }],
    ] as const) {
      const k = await h.req('POST', `${base}${path}`, body);
      assert.equal(k.status, 404, path);
      assert.equal(k.body.success, false);
    }
    assert.equal((await h.req('GET', `${h.appBase}/meetings/${MISSING_UUID}/active-session`)).status, 404);
    const bad = await h.req('POST', `${base}/mute-all`, {});
    assert.equal(bad.status, 400, 'the body is checked first');
    assert.match(bad.body.error.message, /body\.allow_unmute is required/);
  });

  it('lists no sessions at first', async () => {
    const r = await h.req('GET', `${h.appBase}/sessions`);
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, {
      success: true,
      data: { sessions: [] },
      paging: { total_count: 0, start_offset: 1, end_offset: 0 },
    });
  });

  it('shows a session fed by the media plane: active session, list, details, participants, peer report', async () => {
    const peerId = randomUUID();
    await h.server.deps.sessions.peerJoined({
      meetingId,
      peerId,
      participantId: participant.id,
      customParticipantId: participant.custom_participant_id,
      name: 'Liv',
      presetName: 'group_call_host',
      joinedAt: new Date(),
    });
    const active = await h.req('GET', `${h.appBase}/meetings/${meetingId}/active-session`);
    assert.equal(active.status, 200);
    const s = active.body.data;
    assert.equal(s.associated_id, meetingId);
    assert.equal(s.meeting_display_name, 'Live one');
    assert.equal(s.status, 'LIVE');
    assert.equal(s.type, 'meeting');
    assert.equal(s.live_participants, 1);
    assert.equal(s.max_concurrent_participants, 1);
    assert.equal(s.organization_id, h.appId);
    assert.equal(typeof s.minutes_consumed, 'number');

    const list = await h.req('GET', `${h.appBase}/sessions?status=LIVE&associated_id=${meetingId}`);
    assert.equal(list.body.data.sessions.length, 1);
    assert.deepEqual(list.body.paging, { total_count: 1, start_offset: 1, end_offset: 1 });
    assert.equal((await h.req('GET', `${h.appBase}/sessions?status=ENDED`)).body.data.sessions.length, 0);
    assert.equal(
      (await h.req('GET', `${h.appBase}/sessions?search=live%20ONE`)).body.data.sessions.length,
      1,
    );

    const details = await h.req('GET', `${h.appBase}/sessions/${s.id}`);
    assert.equal(details.status, 200);
    assert.equal(details.body.data.id, s.id);

    const parts = await h.req('GET', `${h.appBase}/sessions/${s.id}/participants`);
    assert.equal(parts.status, 200);
    const sp = parts.body.data.participants[0];
    assert.equal(sp.id, peerId);
    assert.equal(sp.user_id, participant.id);
    assert.equal(sp.custom_participant_id, 'live-1');
    assert.equal(sp.display_name, 'Liv');
    assert.deepEqual(parts.body.paging, { total_count: 1, start_offset: 1, end_offset: 1 });

    const byUser = await h.req('GET', `${h.appBase}/sessions/${s.id}/participants/${participant.id}`);
    assert.equal(byUser.body.data.participant.id, peerId);
    const byPeer = await h.req('GET', `${h.appBase}/sessions/${s.id}/participants/${peerId}`);
    assert.equal(byPeer.body.data.participant.user_id, participant.id);
    assert.equal((await h.req('GET', `${h.appBase}/sessions/${s.id}/participants/nobody`)).status, 404);

    const report = await h.req('GET', `${h.appBase}/sessions/peer-report/${peerId}`);
    assert.equal(report.status, 200);
    assert.equal(report.body.data.participant.session_id, s.id);
    assert.equal((await h.req('GET', `${h.appBase}/sessions/peer-report/nobody`)).status, 404);

    // The media plane is not running in this test: kick answers NO_ACTIVE_SESSION honestly.
    const kick = await h.req('POST', `${h.appBase}/meetings/${meetingId}/active-session/kick-all`);
    assert.equal(kick.status, 404);
    assert.match(kick.body.error.message, /media plane is not running/);

    await h.server.deps.sessions.peerLeft({ meetingId, peerId, leftAt: new Date() });
    const left = await h.req('GET', `${h.appBase}/sessions/${s.id}/participants`);
    assert.equal(typeof left.body.data.participants[0].left_at, 'string');
  });

  it('rejects bad session queries and ids', async () => {
    assert.equal((await h.req('GET', `${h.appBase}/sessions/${MISSING_UUID}`)).status, 404);
    assert.equal((await h.req('GET', `${h.appBase}/sessions/abc`)).status, 400);
    for (const q of ['status=OPEN', 'associated_id=abc', 'per_page=500', 'sort_order=UP', 'start_time=now']) {
      const r = await h.req('GET', `${h.appBase}/sessions?${q}`);
      assert.equal(r.status, 400, q);
      assert.equal(r.body.success, false);
    }
  });
});
