import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { ParticipantClaims } from '../auth/jwt.js';
import { ISO_RE, MISSING_UUID, UUID_RE, startHarness, type Harness } from '../http/test-harness.js';

describe('participants routes', () => {
  let h: Harness;
  let meetingId: string;
  let base: string;
  before(async () => {
    h = await startHarness();
    meetingId = (await h.req('POST', `${h.appBase}/meetings`, { title: 'p' })).body.data.id;
    base = `${h.appBase}/meetings/${meetingId}/participants`;
  });
  after(() => h.destroy());

  const add = (body: Record<string, unknown>) => h.req('POST', base, body);

  it('adds with 201, custom_participant_id, preset_name and a token scoped to that participant', async () => {
    const r = await add({
      custom_participant_id: 'alice@example.com',
      preset_name: 'group_call_host',
      name: 'Alice',
      picture: 'https://example.com/a.png',
    });
    assert.equal(r.status, 201);
    assert.equal(r.body.success, true);
    const p = r.body.data;
    assert.match(p.id, UUID_RE);
    assert.equal(p.custom_participant_id, 'alice@example.com');
    assert.equal(p.preset_name, 'group_call_host');
    assert.equal(p.name, 'Alice');
    assert.equal(p.picture, 'https://example.com/a.png');
    assert.match(p.created_at, ISO_RE);
    assert.equal(typeof p.token, 'string');
    const claims = await h.server.deps.tokens.verify(p.token);
    assert.equal(claims.pid, p.id);
    assert.equal(claims.mid, meetingId);
    assert.equal(claims.aid, h.appId);
    assert.equal(claims.typ, 'participant');
    assert.equal(claims.exp - claims.iat, h.server.config.participantTokenTtlSeconds);
  });

  it('gets, lists with paging, and never returns the token from reads', async () => {
    const m = (await h.req('POST', `${h.appBase}/meetings`, {})).body.data.id as string;
    const b = `${h.appBase}/meetings/${m}/participants`;
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const r = await h.req('POST', b, {
        custom_participant_id: `u${i}`,
        preset_name: 'group_call_participant',
      });
      ids.push(r.body.data.id);
    }
    const one = await h.req('GET', `${b}/${ids[2]}`);
    assert.equal(one.status, 200);
    assert.equal(one.body.data.custom_participant_id, 'u2');
    assert.equal(one.body.data.token, undefined);
    const p2 = await h.req('GET', `${b}?per_page=2&page_no=2`);
    assert.equal(p2.status, 200);
    assert.deepEqual(p2.body.paging, { total_count: 5, start_offset: 3, end_offset: 4 });
    assert.deepEqual(
      p2.body.data.map((p: { id: string }) => p.id),
      ids.slice(2, 4),
      'oldest first',
    );
    for (const p of p2.body.data) assert.equal(p.token, undefined);
    // Participants of another meeting are not listed here, nor reachable through it.
    const other = await h.req('GET', `${base}/${ids[0]}`);
    assert.equal(other.status, 404);
  });

  it('refreshing a token invalidates nothing else', async () => {
    const a = (await add({ custom_participant_id: 'refresh-a', preset_name: 'group_call_host' })).body.data;
    const b = (await add({ custom_participant_id: 'refresh-b', preset_name: 'group_call_host' })).body.data;
    const r = await h.req('POST', `${base}/${a.id}/token`);
    assert.equal(r.status, 200);
    assert.deepEqual(Object.keys(r.body.data), ['token']);
    const fresh = r.body.data.token as string;
    assert.equal((await h.server.deps.tokens.verify(fresh)).pid, a.id);
    assert.equal(
      (await h.server.deps.tokens.verify(a.token)).pid,
      a.id,
      'the old token of the same participant still works',
    );
    assert.equal((await h.server.deps.tokens.verify(b.token)).pid, b.id, 'other participants are untouched');
  });

  it('two refreshes in the same second give two different tokens, and both work', async () => {
    const a = (await add({ custom_participant_id: 'refresh-twice', preset_name: 'group_call_host' })).body
      .data;
    const refresh = async () => {
      const r = await h.req('POST', `${base}/${a.id}/token`);
      assert.equal(r.status, 200);
      return r.body.data.token as string;
    };
    // Two refreshes at once land in the same second unless they straddle a second boundary; a
    // second pair cannot straddle one too.
    let pair: (ParticipantClaims & { token: string })[] = [];
    for (let attempt = 0; attempt < 3; attempt++) {
      const tokens = await Promise.all([refresh(), refresh()]);
      pair = await Promise.all(
        tokens.map(async (token) => ({ token, ...(await h.server.deps.tokens.verify(token)) })),
      );
      if (pair[0]!.iat === pair[1]!.iat) break;
    }
    const [one, two] = pair as [(typeof pair)[0], (typeof pair)[0]];
    assert.equal(one.iat, two.iat, 'the two refreshes were issued in the same second');
    assert.notEqual(one.token, two.token);
    assert.notEqual(one.jti, two.jti);
    for (const t of [one, two]) {
      assert.equal(t.pid, a.id);
      assert.equal(t.mid, meetingId);
    }
  });

  it('PATCH edits only given fields; PUT replaces; preset must exist', async () => {
    const p = (
      await add({ custom_participant_id: 'edit', preset_name: 'group_call_participant', name: 'Ed' })
    ).body.data;
    const e = await h.req('PATCH', `${base}/${p.id}`, { preset_name: 'group_call_host' });
    assert.equal(e.status, 200);
    assert.equal(e.body.data.preset_name, 'group_call_host');
    assert.equal(e.body.data.name, 'Ed');
    assert.equal(e.body.data.custom_participant_id, 'edit');
    const n = await h.req('PATCH', `${base}/${p.id}`, { name: 'Edward', preset_name: null });
    assert.equal(n.body.data.name, 'Edward');
    assert.equal(n.body.data.preset_name, 'group_call_host', 'null preset_name leaves it');

    const before = await h.snapshot();
    const bad = await h.req('PATCH', `${base}/${p.id}`, { preset_name: 'no_such_preset' });
    assert.equal(bad.status, 400);
    assert.match(bad.body.error.message, /preset_name/);
    assert.equal(await h.snapshot(), before);

    const put = await h.req('PUT', `${base}/${p.id}`, { preset_name: 'group_call_participant' });
    assert.equal(put.status, 200);
    assert.equal(put.body.data.preset_name, 'group_call_participant');
    assert.equal(put.body.data.name, undefined, 'PUT clears what it does not give');
    const putBad = await h.req('PUT', `${base}/${p.id}`, { name: 'x' });
    assert.equal(putBad.status, 400);
    assert.match(putBad.body.error.message, /body\.preset_name is required/);
    assert.deepEqual((await h.req('GET', `${base}/${p.id}`)).body.data, put.body.data);
  });

  it('DELETE answers the contract shape and removes the participant', async () => {
    const p = (await add({ custom_participant_id: 'gone', preset_name: 'group_call_participant' })).body.data;
    const preset = (await h.req('GET', `${h.appBase}/presets`)).body.data.find(
      (x: { name: string }) => x.name === 'group_call_participant',
    );
    const d = await h.req('DELETE', `${base}/${p.id}`);
    assert.equal(d.status, 200);
    assert.deepEqual(d.body, {
      success: true,
      data: {
        custom_participant_id: 'gone',
        preset_id: preset.id,
        created_at: p.created_at,
        updated_at: p.updated_at,
      },
    });
    assert.equal((await h.req('GET', `${base}/${p.id}`)).status, 404);
    assert.equal((await h.req('DELETE', `${base}/${p.id}`)).status, 404);
    assert.equal((await h.req('POST', `${base}/${p.id}/token`)).status, 404);
    // The custom id is free again.
    assert.equal((await add({ custom_participant_id: 'gone', preset_name: 'group_call_host' })).status, 201);
  });

  it('rejects a duplicate custom_participant_id with 409, also when both arrive at once', async () => {
    assert.equal((await add({ custom_participant_id: 'dup', preset_name: 'group_call_host' })).status, 201);
    const again = await add({ custom_participant_id: 'dup', preset_name: 'group_call_host' });
    assert.equal(again.status, 409);
    assert.match(again.body.error.message, /custom_participant_id "dup"/);

    const results = await Promise.all(
      Array.from({ length: 6 }, () => add({ custom_participant_id: 'race', preset_name: 'group_call_host' })),
    );
    const statuses = results.map((r) => r.status).sort();
    assert.deepEqual(statuses, [201, 409, 409, 409, 409, 409]);
    for (const r of results) assert.equal(typeof r.body.success, 'boolean');
    // When the look-up misses the other add (they interleave), the store's unique index still
    // decides: simulate that interleaving deterministically by hiding the existing row from findOne.
    const coll = h.server.repo.participants;
    const realFindOne = coll.findOne.bind(coll);
    coll.findOne = async () => undefined;
    let raced;
    try {
      raced = await add({ custom_participant_id: 'race', preset_name: 'group_call_host' });
    } finally {
      coll.findOne = realFindOne;
    }
    assert.equal(raced.status, 409);
    assert.match(raced.body.error.message, /custom_participant_id "race"/);
    const list = await h.req('GET', `${base}?per_page=100`);
    assert.equal(
      list.body.data.filter((p: { custom_participant_id: string }) => p.custom_participant_id === 'race')
        .length,
      1,
    );
  });

  it('rejects bad adds with 4xx naming the field, writing nothing', async () => {
    const cases: [unknown, number, RegExp][] = [
      [{ preset_name: 'group_call_host' }, 400, /body\.custom_participant_id is required/],
      [{ custom_participant_id: 'x' }, 400, /body\.preset_name is required/],
      [{ custom_participant_id: '', preset_name: 'group_call_host' }, 400, /custom_participant_id/],
      [
        { custom_participant_id: 5, preset_name: 'group_call_host' },
        400,
        /custom_participant_id must be string/,
      ],
      [{ custom_participant_id: 'x', preset_name: 'nope' }, 400, /no preset named "nope"/],
      [{ custom_participant_id: 'x', preset_name: 'group_call_host', picture: 'not a url' }, 400, /picture/],
      [{ custom_participant_id: 'x', preset_name: 'group_call_host', name: 7 }, 400, /name/],
    ];
    const before = await h.snapshot();
    for (const [body, status, re] of cases) {
      const r = await add(body as Record<string, unknown>);
      assert.equal(r.status, status, JSON.stringify(body));
      assert.match(r.body.error.message, re);
    }
    const missingMeeting = await h.req('POST', `${h.appBase}/meetings/${MISSING_UUID}/participants`, {
      custom_participant_id: 'x',
      preset_name: 'group_call_host',
    });
    assert.equal(missingMeeting.status, 404);
    const badId = await h.req('GET', `${base}/not-a-uuid`);
    assert.equal(badId.status, 400);
    assert.match(badId.body.error.message, /participant_id/);
    assert.equal((await h.req('GET', `${base}/${MISSING_UUID}`)).status, 404);
    assert.equal(await h.snapshot(), before);
  });
});
