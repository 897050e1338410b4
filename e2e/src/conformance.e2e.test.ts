/**
 * RealtimeKit conformance: a real server process driven only through the official `cloudflare`
 * client, every answer checked against the contract's response schemas and status codes.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import Cloudflare, { APIError } from 'cloudflare';
import { Contract } from './support/contract-checker.js';
import { startServer, type ServerProcess } from './support/server-process.js';

const K = '/accounts/{account_id}/realtime/kit';
const contract = Contract.load();

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
    });
  });
  after(() => server?.stop());

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
      const res = await fetch(`${server.baseUrl}/client/v4${url}`, {
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
});
