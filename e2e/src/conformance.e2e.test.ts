/**
 * RealtimeKit conformance: a real server process driven only through the official `cloudflare`
 * client, every answer checked against the contract's response schemas and status codes. Every
 * request goes through `contractFetch`, so every answer the suite gets is validated against the
 * contract (`nullable` honoured), including the ones a test does not look at.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import Cloudflare, { APIError } from 'cloudflare';
import { sineOpusPackets } from '@trackroom/recorder/testing';
import { Contract, DEVIATIONS, contractFetch, type CheckedAnswer } from './support/contract-checker.js';
import { OpusPublisher } from './support/opus-publisher.js';
import { startServer, type ServerProcess } from './support/server-process.js';
import {
  fetchWebhookPublicKey,
  startWebhookReceiver,
  webhookSignatureValid,
  type WebhookReceiver,
} from './support/webhook-receiver.js';

const K = '/accounts/{account_id}/realtime/kit';
const contract = Contract.load(DEVIATIONS);
/** Every answer of the suite, checked against the contract as it arrived. */
const answers: CheckedAnswer[] = [];
const checkedFetch = contractFetch(contract, answers);

interface WithResponse<T> {
  withResponse(): Promise<{ data: T; response: Response }>;
}

/** Awaits an SDK call, checks status and body against the contract, and returns the body. */
async function conform<T>(method: string, path: string, call: WithResponse<T>): Promise<T> {
  const { data, response } = await call.withResponse();
  const op = contract.op(method, path);
  assert.equal(response.status, op.successStatus, `${method.toUpperCase()} ${path} status`);
  const errors = contract.check(contract.responseSchema(method, path, response.status), data);
  assert.deepEqual(errors, [], `${method.toUpperCase()} ${path} body:\n${JSON.stringify(data, null, 1)}`);
  return data;
}

/** Expects the SDK call to fail with `status`, the body matching the contract's error response. */
async function conformError(method: string, path: string, status: number, call: Promise<unknown>) {
  const err = await call.then(
    () => assert.fail(`${method} ${path} should fail with ${status}`),
    (e: unknown) => e,
  );
  assert.ok(err instanceof APIError, String(err));
  assert.equal(err.status, status);
  const schema = contract.responseSchema(method, path, status);
  assert.deepEqual(contract.check(schema, err.error), [], JSON.stringify(err.error));
  return err.error as { success: false; error: { code: number; message: string } };
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- preset bodies are large SDK types
const loose = (v: unknown): any => v;

describe('contract checker', () => {
  it('can fail: flags missing required fields, wrong formats, wrong types and bad nulls', () => {
    const meeting = contract.responseSchema('get', `${K}/{app_id}/meetings/{meeting_id}`, 200);
    const good = {
      success: true,
      data: { id: randomUUID(), created_at: new Date().toISOString(), updated_at: new Date().toISOString() },
    };
    assert.deepEqual(contract.check(meeting, good), []);
    const bad = (data: Record<string, unknown>) => contract.check(meeting, { success: true, data });
    assert.ok(bad({ ...good.data, id: 'nope' }).some((e) => /uuid/.test(e)));
    assert.ok(bad({ ...good.data, created_at: 'yesterday' }).some((e) => /date-time/.test(e)));
    assert.ok(
      bad({ id: good.data.id, created_at: good.data.created_at }).some((e) =>
        /updated_at: is required/.test(e),
      ),
    );
    assert.ok(bad({ ...good.data, title: null }).some((e) => /not nullable/.test(e)));
    assert.ok(bad({ ...good.data, status: 'OPEN' }).some((e) => /not one of/.test(e)));
    assert.ok(bad({ ...good.data, record_on_start: 'yes' }).some((e) => /boolean/.test(e)));
    const list = contract.responseSchema('get', `${K}/{app_id}/meetings`, 200);
    assert.ok(contract.check(list, { success: true, data: [] }).some((e) => /paging: is required/.test(e)));
  });

  it('can fail: a null stop_reason, a wrong error envelope, an undeclared success status', () => {
    const op = contract.match(
      'GET',
      `/client/v4/accounts/local/realtime/kit/${randomUUID()}/recordings/${randomUUID()}`,
    );
    assert.equal(op?.path, `${K}/{app_id}/recordings/{recording_id}`);
    const now = new Date().toISOString();
    const recording = {
      id: randomUUID(),
      download_url: null,
      download_url_expiry: null,
      audio_download_url: null,
      file_size: 0,
      session_id: randomUUID(),
      output_file_name: 'x.webm',
      status: 'RECORDING',
      invoked_time: now,
      started_time: now,
      stopped_time: null,
    };
    assert.deepEqual(contract.checkAnswer(op!, 200, { success: true, data: recording }), []);
    assert.ok(
      contract
        .checkAnswer(op!, 200, { success: true, data: { ...recording, stop_reason: null } })
        .some((e) => /stop_reason: is null but not nullable/.test(e)),
    );
    assert.ok(
      contract
        .checkAnswer(op!, 200, { success: true, data: { ...recording, storage_config: null } })
        .every((e) => !/storage_config/.test(e)),
      'storage_config is nullable in the contract',
    );
    const envelope = { success: false, error: { code: 404, message: 'Recording x not found' } };
    assert.deepEqual(contract.checkAnswer(op!, 404, envelope), []);
    assert.ok(
      contract.checkAnswer(op!, 400, envelope).some((e) => /error.code: must be the HTTP status 400/.test(e)),
    );
    assert.ok(contract.checkAnswer(op!, 414, { code: 'FST_ERR_MAX_PARAM_LENGTH' }).length >= 2);
    assert.ok(
      contract.checkAnswer(op!, 201, { success: true, data: recording }).some((e) => /status 201/.test(e)),
    );
    // A documented deviation lets through only its documented shape, at its place.
    const layers = [{ layer_name: 'default', download_urls: { 'a.webm': { download_url: 'http://x/a' } } }];
    assert.deepEqual(
      contract.checkAnswer(op!, 200, { success: true, data: { ...recording, download_url: layers } }),
      [],
    );
    assert.ok(
      contract.checkAnswer(op!, 200, { success: true, data: { ...recording, download_url: [{ url: 1 }] } })
        .length > 0,
    );
    assert.ok(
      contract.checkAnswer(op!, 200, { success: true, data: { ...recording, audio_download_url: layers } })
        .length > 0,
    );
    assert.ok(
      Contract.load().checkAnswer(op!, 200, { success: true, data: { ...recording, download_url: layers } })
        .length > 0,
      'without the deviation the list breaks the contract',
    );
    const docs = readFileSync(new URL('../../docs/api.md', import.meta.url), 'utf8');
    for (const d of DEVIATIONS) assert.ok(docs.includes(d.documented), `docs/api.md explains ${d.at}`);
    const all = contract.match('GET', `/accounts/local/realtime/kit/${randomUUID()}/webhooks/all`);
    assert.equal(all?.path, `${K}/{app_id}/webhooks/all`, 'a literal segment wins over a parameter');
    assert.equal(contract.match('GET', '/healthz'), undefined);
  });
});

describe('RealtimeKit conformance through the cloudflare client', () => {
  let server: ServerProcess;
  let client: Cloudflare;
  const account_id = 'local';
  let app_id: string;

  before(async () => {
    server = await startServer();
    app_id = server.appId;
    client = new Cloudflare({
      apiToken: server.token,
      baseURL: `${server.baseUrl}/client/v4`,
      maxRetries: 0,
      fetch: checkedFetch,
    });
  });
  after(() => server?.stop());

  // Every answer a test got, whether it looked at it or not, conforms to the contract.
  let seen = 0;
  afterEach(() => {
    const fresh = answers.slice(seen);
    seen = answers.length;
    const bad = fresh.filter((a) => a.errors.length > 0);
    assert.deepEqual(
      bad.map((a) => `${a.method} ${a.path} -> ${a.status}\n  ${a.errors.join('\n  ')}`),
      [],
      'answers that break the contract',
    );
  });

  it('apps: list has the default app; create answers the contract shape', async () => {
    const list = await conform('get', `${K}/apps`, client.realtimeKit.apps.get({ account_id }));
    assert.equal(list.data?.length, 1);
    assert.equal(list.data?.[0]?.id, app_id);
    assert.deepEqual(list.paging, { total_count: 1, start_offset: 1, end_offset: 1 });
    const created = await conform(
      'post',
      `${K}/apps`,
      client.realtimeKit.apps.post({ account_id, name: 'conformance' }),
    );
    const newId = created.data?.app?.id;
    assert.ok(newId);
    const got = await conform(
      'get',
      `${K}/apps/{app_id}`,
      client.get<{ data: { id: string } }>(`/accounts/${account_id}/realtime/kit/apps/${newId}`),
    );
    assert.equal(got.data.id, newId);
    const again = await conform(
      'get',
      `${K}/apps`,
      client.realtimeKit.apps.get({ account_id, per_page: 1, page_no: 2 }),
    );
    assert.deepEqual(again.paging, { total_count: 2, start_offset: 2, end_offset: 2 });
  });

  it('meetings: create, get, list with filters, update (PATCH), replace (PUT)', async () => {
    const m = await conform(
      'post',
      `${K}/{app_id}/meetings`,
      client.realtimeKit.meetings.create(app_id, { account_id, title: 'Conformance standup' }),
    );
    const id = m.data!.id;
    const got = await conform(
      'get',
      `${K}/{app_id}/meetings/{meeting_id}`,
      client.realtimeKit.meetings.getMeetingByID(id, { account_id, app_id }),
    );
    assert.equal(got.data?.title, 'Conformance standup');
    await conform(
      'post',
      `${K}/{app_id}/meetings`,
      client.realtimeKit.meetings.create(app_id, { account_id }),
    );
    const list = await conform(
      'get',
      `${K}/{app_id}/meetings`,
      client.realtimeKit.meetings.get(app_id, { account_id, search: 'standup', per_page: 10 }),
    );
    assert.deepEqual(
      list.data?.map((x) => x.id),
      [id],
    );
    assert.deepEqual(list.paging, { total_count: 1, start_offset: 1, end_offset: 1 });
    const patched = await conform(
      'patch',
      `${K}/{app_id}/meetings/{meeting_id}`,
      client.realtimeKit.meetings.updateMeetingByID(id, { account_id, app_id, status: 'INACTIVE' }),
    );
    assert.equal(patched.data?.status, 'INACTIVE');
    assert.equal(patched.data?.title, 'Conformance standup');
    const inactive = await conform(
      'get',
      `${K}/{app_id}/meetings`,
      client.realtimeKit.meetings.get(app_id, loose({ account_id, status: 'INACTIVE' })),
    );
    assert.deepEqual(
      inactive.data?.map((x) => x.id),
      [id],
    );
    const replaced = await conform(
      'put',
      `${K}/{app_id}/meetings/{meeting_id}`,
      client.realtimeKit.meetings.replaceMeetingByID(id, { account_id, app_id, title: 'Replaced' }),
    );
    assert.equal(replaced.data?.title, 'Replaced');
    assert.equal(replaced.data?.status, 'ACTIVE');
  });

  it('participants: add, list, get, edit, replace, refresh token, delete', async () => {
    const meeting = (await client.realtimeKit.meetings.create(app_id, { account_id, title: 'people' })).data!
      .id;
    const P = `${K}/{app_id}/meetings/{meeting_id}/participants`;
    const added = await conform(
      'post',
      P,
      client.realtimeKit.meetings.addParticipant(meeting, {
        account_id,
        app_id,
        custom_participant_id: 'conf-1',
        preset_name: 'group_call_host',
        name: 'Conf One',
      }),
    );
    const pid = added.data!.id;
    assert.ok(added.data?.token);
    const list = await conform(
      'get',
      P,
      client.realtimeKit.meetings.getMeetingParticipants(meeting, { account_id, app_id }),
    );
    assert.deepEqual(
      list.data.map((x) => x.id),
      [pid],
    );
    const one = await conform(
      'get',
      `${P}/{participant_id}`,
      client.realtimeKit.meetings.getMeetingParticipant(pid, { account_id, app_id, meeting_id: meeting }),
    );
    assert.equal(one.data.custom_participant_id, 'conf-1');
    const edited = await conform(
      'patch',
      `${P}/{participant_id}`,
      client.realtimeKit.meetings.editParticipant(pid, {
        account_id,
        app_id,
        meeting_id: meeting,
        preset_name: 'group_call_participant',
      }),
    );
    assert.equal(edited.data?.preset_name, 'group_call_participant');
    const replaced = await conform(
      'put',
      `${P}/{participant_id}`,
      client.put<{ data: { name?: string; preset_name: string } }>(
        `/accounts/${account_id}/realtime/kit/${app_id}/meetings/${meeting}/participants/${pid}`,
        { body: { preset_name: 'group_call_host', name: 'Replaced' } },
      ),
    );
    assert.equal(replaced.data.name, 'Replaced');
    const refreshed = await conform(
      'post',
      `${P}/{participant_id}/token`,
      client.realtimeKit.meetings.refreshParticipantToken(pid, { account_id, app_id, meeting_id: meeting }),
    );
    assert.ok(refreshed.data.token);
    const deleted = await conform(
      'delete',
      `${P}/{participant_id}`,
      client.realtimeKit.meetings.deleteMeetingParticipant(pid, { account_id, app_id, meeting_id: meeting }),
    );
    assert.equal(deleted.data?.custom_participant_id, 'conf-1');
    const gone = await client.realtimeKit.meetings
      .getMeetingParticipant(pid, { account_id, app_id, meeting_id: meeting })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    assert.ok(gone instanceof APIError);
    assert.equal(gone.status, 404);
    assert.deepEqual(gone.error, {
      success: false,
      error: { code: 404, message: `Participant ${pid} not found in meeting ${meeting}` },
    });
  });

  it('presets: list, get, create, update, replace, delete', async () => {
    const list = await conform(
      'get',
      `${K}/{app_id}/presets`,
      client.realtimeKit.presets.get(app_id, { account_id }),
    );
    const names = list.data.map((p) => p.name).sort();
    assert.deepEqual(names, ['group_call_host', 'group_call_participant']);
    const host = await conform(
      'get',
      `${K}/{app_id}/presets/{preset_id}`,
      client.realtimeKit.presets.getPresetByID(list.data[0]!.id!, { account_id, app_id }),
    );
    const created = await conform(
      'post',
      `${K}/{app_id}/presets`,
      client.realtimeKit.presets.create(app_id, {
        account_id,
        name: 'conformance_preset',
        config: loose(host.data.config),
        permissions: loose(host.data.permissions),
        ui: loose(host.data.ui),
      }),
    );
    const id = created.data.id!;
    const updated = await conform(
      'patch',
      `${K}/{app_id}/presets/{preset_id}`,
      client.realtimeKit.presets.update(id, { account_id, app_id, name: 'conformance_renamed' }),
    );
    assert.equal(updated.data.name, 'conformance_renamed');
    const replaced = await conform(
      'put',
      `${K}/{app_id}/presets/{preset_id}`,
      client.realtimeKit.presets.replacePresetByID(id, {
        account_id,
        app_id,
        name: 'conformance_replaced',
        config: loose(host.data.config),
        permissions: loose({}),
        ui: loose({}),
      }),
    );
    assert.equal(replaced.data.name, 'conformance_replaced');
    await conform(
      'delete',
      `${K}/{app_id}/presets/{preset_id}`,
      client.realtimeKit.presets.delete(id, { account_id, app_id }),
    );
  });

  it('webhooks: create, list, get, edit, replace, delete, events list', async () => {
    const W = `${K}/{app_id}/webhooks`;
    const created = await conform(
      'post',
      W,
      client.realtimeKit.webhooks.createWebhook(app_id, {
        account_id,
        name: 'conformance',
        url: 'https://example.com/hook',
        events: ['meeting.started', 'meeting.ended'],
      }),
    );
    const id = created.data.id;
    const list = await conform('get', W, client.realtimeKit.webhooks.getWebhooks(app_id, { account_id }));
    assert.deepEqual(
      list.data.map((w) => w.id),
      [id],
    );
    await conform(
      'get',
      `${W}/{webhook_id}`,
      client.realtimeKit.webhooks.getWebhookByID(id, { account_id, app_id }),
    );
    const edited = await conform(
      'patch',
      `${W}/{webhook_id}`,
      client.realtimeKit.webhooks.editWebhook(id, { account_id, app_id, enabled: false }),
    );
    assert.equal(edited.data.enabled, false);
    const replaced = await conform(
      'put',
      `${W}/{webhook_id}`,
      client.realtimeKit.webhooks.replaceWebhook(id, {
        account_id,
        app_id,
        name: 'replaced',
        url: 'https://example.com/other',
        events: ['recording.statusUpdate'],
      }),
    );
    assert.deepEqual(replaced.data.events, ['recording.statusUpdate']);
    const events = await conform(
      'get',
      `${W}/all`,
      client.get<{ data: string[] }>(`/accounts/${account_id}/realtime/kit/${app_id}/webhooks/all`),
    );
    assert.ok(events.data.includes('meeting.participantJoined'));
    await conform(
      'delete',
      `${W}/{webhook_id}`,
      client.realtimeKit.webhooks.deleteWebhook(id, { account_id, app_id }),
    );
  });

  it('recordings, sessions and the active session before the media plane has anyone', async () => {
    const meeting = (await client.realtimeKit.meetings.create(app_id, { account_id })).data!.id;
    const recs = await conform(
      'get',
      `${K}/{app_id}/recordings`,
      client.realtimeKit.recordings.getRecordings(app_id, { account_id, meeting_id: meeting }),
    );
    assert.deepEqual(recs.data, []);
    assert.deepEqual(recs.paging, { total_count: 0, start_offset: 1, end_offset: 0 });
    await conformError(
      'get',
      `${K}/{app_id}/recordings/active-recording/{meeting_id}`,
      404,
      client.realtimeKit.recordings.getActiveRecordings(meeting, { account_id, app_id }),
    );
    const missing = randomUUID();
    const notFound = await client.realtimeKit.recordings
      .getOneRecording(missing, { account_id, app_id })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    assert.ok(notFound instanceof APIError);
    assert.equal(notFound.status, 404);
    const sessions = await conform(
      'get',
      `${K}/{app_id}/sessions`,
      client.realtimeKit.sessions.getSessions(app_id, { account_id }),
    );
    assert.deepEqual(sessions.data?.sessions, []);
    const active = await conformError(
      'get',
      `${K}/{app_id}/meetings/{meeting_id}/active-session`,
      404,
      client.realtimeKit.activeSession.getActiveSession(meeting, { account_id, app_id }),
    );
    assert.match(active.error.message, /no active session/);
    const composite = await client.realtimeKit.recordings
      .startRecordings(app_id, { account_id, meeting_id: meeting })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    assert.ok(composite instanceof APIError);
    assert.equal(composite.status, 501);
  });

  it('a wrong token is refused with 401 through the client', async () => {
    const bad = new Cloudflare({
      apiToken: 'wrong-token-wrong-token',
      baseURL: `${server.baseUrl}/client/v4`,
      maxRetries: 0,
      fetch: checkedFetch,
    });
    const err = await bad.realtimeKit.apps.get({ account_id }).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(err instanceof APIError);
    assert.equal(err.status, 401);
    assert.deepEqual(err.error, {
      success: false,
      error: { code: 401, message: 'Missing or invalid API token' },
    });
  });

  it('two token refreshes in the same second give two different tokens, and both join the meeting', async () => {
    const meeting = (await client.realtimeKit.meetings.create(app_id, { account_id, title: 'refresh' })).data!
      .id;
    const p = (
      await client.realtimeKit.meetings.addParticipant(meeting, {
        account_id,
        app_id,
        custom_participant_id: 'refresh-twice',
        preset_name: 'group_call_host',
      })
    ).data!;
    const refresh = async () =>
      (
        await conform(
          'post',
          `${K}/{app_id}/meetings/{meeting_id}/participants/{participant_id}/token`,
          client.realtimeKit.meetings.refreshParticipantToken(p.id!, {
            account_id,
            app_id,
            meeting_id: meeting,
          }),
        )
      ).data.token!;
    const iat = (t: string) =>
      (JSON.parse(Buffer.from(t.split('.')[1]!, 'base64url').toString()) as { iat: number }).iat;
    // Two refreshes at once share a second unless they straddle a boundary; a second pair cannot.
    let pair: string[] = [];
    for (let attempt = 0; attempt < 3; attempt++) {
      pair = await Promise.all([refresh(), refresh()]);
      if (iat(pair[0]!) === iat(pair[1]!)) break;
    }
    const [one, two] = pair as [string, string];
    assert.equal(iat(one), iat(two), 'issued in the same second');
    assert.notEqual(one, two);
    for (const token of [one, two, p.token!]) {
      const peer = await OpusPublisher.connect(`${server.wsUrl}?authToken=${token}`);
      const joined = await peer.join();
      assert.equal(joined.type, 'joined');
      await peer.leave();
    }
  });

  it('a live meeting over real WebRTC: sessions, a track recording paused, resumed and stopped, kick', async () => {
    const hooks: WebhookReceiver = await startWebhookReceiver();
    const peers: OpusPublisher[] = [];
    try {
      await client.realtimeKit.webhooks.createWebhook(app_id, {
        account_id,
        name: 'recording',
        url: hooks.url,
        events: ['recording.statusUpdate'],
      });
      const status = (id: string, s: string) =>
        hooks.waitFor((d) => {
          const r = d.body.recording as { id: string; status: string } | undefined;
          return d.body.event === 'recording.statusUpdate' && r?.id === id && r.status === s;
        });
      const meeting = (await client.realtimeKit.meetings.create(app_id, { account_id, title: 'live' })).data!
        .id;
      const add = async (cid: string) =>
        (
          await client.realtimeKit.meetings.addParticipant(meeting, {
            account_id,
            app_id,
            custom_participant_id: cid,
            preset_name: 'group_call_host',
            name: cid,
          })
        ).data!;
      const host = await add('live-host');
      const guest = await add('live-guest');
      const tone = sineOpusPackets({
        dir: mkdtempSync(join(tmpdir(), 'conformance-')),
        frequency: 440,
        seconds: 6,
        channels: 1,
      });
      for (const p of [host, guest]) {
        const peer = await OpusPublisher.connect(`${server.wsUrl}?authToken=${p.token}`);
        peers.push(peer);
        await peer.join();
        await peer.publish();
        peer.play(tone);
      }

      const active = await conform(
        'get',
        `${K}/{app_id}/meetings/{meeting_id}/active-session`,
        client.realtimeKit.activeSession.getActiveSession(meeting, { account_id, app_id }),
      );
      const sessionId = active.data!.id!;
      await conform(
        'get',
        `${K}/{app_id}/sessions/{session_id}`,
        client.realtimeKit.sessions.getSessionDetails(sessionId, { account_id, app_id }),
      );
      const sessionPeers = await conform(
        'get',
        `${K}/{app_id}/sessions/{session_id}/participants`,
        client.realtimeKit.sessions.getSessionParticipants(sessionId, { account_id, app_id }),
      );
      const peerRow = loose(sessionPeers.data).participants[0] as { id: string; peer_id: string };
      await conform(
        'get',
        `${K}/{app_id}/sessions/{session_id}/participants/{participant_id}`,
        client.realtimeKit.sessions.getSessionParticipantDetails(peerRow.id, {
          account_id,
          app_id,
          session_id: sessionId,
        }),
      );
      await conform(
        'get',
        `${K}/{app_id}/sessions/peer-report/{peer_id}`,
        client.realtimeKit.sessions.getParticipantDataFromPeerID(peerRow.peer_id, { account_id, app_id }),
      );

      const R = `${K}/{app_id}/recordings`;
      const started = await conform(
        'post',
        `${R}/track`,
        client.realtimeKit.recordings.startTrackRecording(app_id, { account_id, meeting_id: meeting }),
      );
      const rec = started.data!.recording!;
      assert.equal(Object.hasOwn(rec, 'stop_reason'), false, 'no stop_reason before the recording stops');
      await status(rec.id, 'RECORDING');
      const act = (action: 'pause' | 'resume' | 'stop') =>
        conform(
          'put',
          `${R}/{recording_id}`,
          client.realtimeKit.recordings.pauseResumeStopRecording(rec.id, { account_id, app_id, action }),
        );
      const got = await conform(
        'get',
        `${R}/{recording_id}`,
        client.realtimeKit.recordings.getOneRecording(rec.id, { account_id, app_id }),
      );
      assert.equal(got.data?.status, 'RECORDING');
      assert.equal(Object.hasOwn(got.data!, 'stop_reason'), false, 'omitted, not null');
      await conform(
        'get',
        `${R}/active-recording/{meeting_id}`,
        client.realtimeKit.recordings.getActiveRecordings(meeting, { account_id, app_id }),
      );
      const paused = await act('pause');
      assert.equal(paused.data?.status, 'PAUSED');
      assert.equal(Object.hasOwn(paused.data!, 'stop_reason'), false);
      const resumed = await act('resume');
      assert.equal(resumed.data?.status, 'RECORDING');
      assert.equal(Object.hasOwn(resumed.data!, 'stop_reason'), false);
      await act('stop');
      const uploaded = await status(rec.id, 'UPLOADED');
      assert.ok(
        webhookSignatureValid(await fetchWebhookPublicKey(server.baseUrl), uploaded.bytes, uploaded.headers),
        'the delivery verifies with data.publicKey of webhooks.json',
      );
      const done = await conform(
        'get',
        `${R}/{recording_id}`,
        client.realtimeKit.recordings.getOneRecording(rec.id, { account_id, app_id }),
      );
      assert.equal(done.data?.status, 'UPLOADED');
      assert.equal(loose(done.data).stop_reason.reason, 'API_CALL');
      await conform(
        'get',
        R,
        client.realtimeKit.recordings.getRecordings(app_id, { account_id, meeting_id: meeting }),
      );

      const M = `${K}/{app_id}/meetings/{meeting_id}/active-session`;
      const meetingPath = `/accounts/${account_id}/realtime/kit/${app_id}/meetings/${meeting}/active-session`;
      const muted = await conform(
        'post',
        `${M}/mute`,
        client.post<{ data: { participants: unknown[] } }>(`${meetingPath}/mute`, {
          body: { custom_participant_ids: ['live-host'] },
        }),
      );
      assert.equal(muted.data.participants.length, 1);
      await conform(
        'post',
        `${M}/mute-all`,
        client.post(`${meetingPath}/mute-all`, { body: { allow_unmute: true } }),
      );
      const kicked = await conform(
        'post',
        `${K}/{app_id}/meetings/{meeting_id}/active-session/kick`,
        client.realtimeKit.activeSession.kickParticipants(meeting, {
          account_id,
          app_id,
          custom_participant_ids: ['live-guest'],
        }),
      );
      assert.equal(loose(kicked.data).participants.length, 1);
      await conform(
        'post',
        `${K}/{app_id}/meetings/{meeting_id}/active-session/kick-all`,
        client.realtimeKit.activeSession.kickAllParticipants(meeting, { account_id, app_id }),
      );
    } finally {
      await Promise.all(peers.map((p) => p.leave().catch(() => undefined)));
      await hooks.close();
    }
  });

  it("webhooks.json answers RealtimeKit's shape", async () => {
    const res = await fetch(`${server.baseUrl}/.well-known/webhooks.json`);
    assert.equal(res.status, 200);
    const body = (await res.json()) as { data: { publicKey: string } };
    assert.deepEqual(body, { success: true, data: { publicKey: body.data.publicKey }, message: '' });
    assert.match(body.data.publicKey, /^-----BEGIN PUBLIC KEY-----\n/);
  });

  it('the reference of the running server lists the join page and marks the 501 operations', async () => {
    const doc = (await (await fetch(`${server.baseUrl}/openapi.json`)).json()) as {
      paths: Record<string, Record<string, { summary: string; 'x-trackroom-supported': boolean }>>;
    };
    assert.match(doc.paths['/join']!.get!.summary, /authToken/);
    const unsupported = Object.values(doc.paths)
      .flatMap((item) => Object.values(item))
      .filter((op) => op['x-trackroom-supported'] === false);
    assert.ok(unsupported.length >= 19);
    const docs = await (await fetch(`${server.baseUrl}/docs`)).text();
    assert.match(docs, /<code>\/join<\/code>/);
    const landing = await fetch(`${server.baseUrl}/`);
    assert.equal(landing.status, 200);
    assert.match(await landing.text(), /href="\/docs"/);
  });

  /** One raw HTTP/1.1 request, so that nothing between us and the server rewrites or refuses it. */
  const raw = (path: string, headers: Record<string, string>) =>
    new Promise<{ status: number; type: string; body: string }>((resolve, reject) => {
      const req = httpRequest(`${server.baseUrl}${path}`, { method: 'GET', headers }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), body }),
        );
      });
      req.on('error', reject);
      req.end();
    });

  it('framework errors answer the envelope over a real socket, and 401 first', async () => {
    const base = `/client/v4/accounts/${account_id}/realtime/kit/${app_id}`;
    const auth = { authorization: `Bearer ${server.token}` };
    const cases = [
      { url: `${base}/meetings/${'a'.repeat(201)}`, status: 414 },
      { url: `${base}/meetings/%ZZ`, status: 400 },
      { url: `${base}/meetings?search=${'x'.repeat(40 * 1024)}`, status: 414 },
      { url: `${base}/meetings/${'y'.repeat(40 * 1024)}`, status: 414 },
    ];
    for (const c of cases) {
      const what = `${c.url.slice(0, 80)}... (${c.url.length} chars)`;
      const anon = await raw(c.url, {});
      assert.equal(anon.status, 401, what);
      assert.deepEqual(JSON.parse(anon.body), {
        success: false,
        error: { code: 401, message: 'Missing or invalid API token' },
      });
      const r = await raw(c.url, auth);
      assert.equal(r.status, c.status, `${what}: ${r.body}`);
      assert.match(r.type, /application\/json/);
      const body = JSON.parse(r.body) as { success: boolean; error: { code: number; message: string } };
      assert.deepEqual(Object.keys(body), ['success', 'error'], what);
      assert.equal(body.error.code, c.status, what);
      assert.doesNotMatch(r.body, /FST_|statusCode/, what);
      // The same request through the client: its answer is validated against the contract.
      const viaClient = await client.get(c.url.replace('/client/v4', '')).then(
        () => undefined,
        (e: unknown) => e,
      );
      assert.ok(viaClient instanceof APIError, what);
      assert.equal(viaClient.status, c.status, what);
    }
    // Headers over what the HTTP parser takes (64 KB) are refused before they are read: no auth
    // check is possible, but the answer is still the envelope.
    const huge = await raw(`${base}/meetings`, { ...auth, 'x-filler': 'z'.repeat(100 * 1024) });
    assert.equal(huge.status, 431);
    assert.deepEqual(JSON.parse(huge.body), {
      success: false,
      error: { code: 431, message: 'Request headers are larger than 64 KB' },
    });
  });

  it('every contract path and method is served (never ROUTE_NOT_FOUND, never 500)', async () => {
    const ops = contract.ops();
    assert.equal(ops.length, 62);
    assert.equal(new Set(ops.map((o) => o.path)).size, 42);
    for (const op of ops) {
      const url = op.path
        .replace('{account_id}', account_id)
        .replace('{app_id}', app_id)
        .replace(/\{[^}]+\}/g, () => randomUUID());
      const hasBody = op.method === 'post' || op.method === 'put' || op.method === 'patch';
      const res = await checkedFetch(`${server.baseUrl}/client/v4${url}`, {
        method: op.method.toUpperCase(),
        headers: {
          authorization: `Bearer ${server.token}`,
          ...(hasBody ? { 'content-type': 'application/json' } : {}),
        },
        ...(hasBody ? { body: '{}' } : {}),
      });
      const body = (await res.json()) as { success: boolean; error?: { code: number; message: string } };
      const what = `${op.method.toUpperCase()} ${op.path} -> ${res.status} ${JSON.stringify(body)}`;
      assert.equal(typeof body.success, 'boolean', what);
      assert.ok(res.status < 500 || res.status === 501, what);
      if (!body.success) {
        assert.equal(body.error?.code, res.status, what);
        assert.doesNotMatch(body.error?.message ?? '', /^No route /, what);
      }
    }
  });

  it('validated every answer the suite got, over most of the contract', () => {
    const api = answers.filter((a) => a.path.startsWith('/client/v4/'));
    assert.ok(api.length > 100, `${api.length} answers`);
    assert.deepEqual(
      api.filter((a) => a.op === undefined).map((a) => `${a.method} ${a.path}`),
      [],
      'every API answer was checked against a contract operation',
    );
    // Every operation this server supports (all but the 501s) was answered with success at least
    // once, and that answer was checked.
    const unsupported = new Set(api.filter((a) => a.status === 501).map((a) => `${a.method} ${a.op}`));
    const covered = new Set(api.filter((a) => a.status < 300).map((a) => `${a.method} ${a.op}`));
    const missing = contract
      .ops()
      .map((o) => `${o.method.toUpperCase()} ${o.path}`)
      .filter((o) => !unsupported.has(o) && !covered.has(o));
    assert.ok(unsupported.size >= 15, `${unsupported.size} operations answered 501`);
    assert.deepEqual(missing, [], 'supported operations without a checked success answer');
  });
});
