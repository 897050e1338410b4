import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DashboardApi, DashboardApiError, recordingFiles, sameOriginFallback } from './api-client.js';

function fakeFetch(answer: { status: number; body: unknown }) {
  const calls: { url: string; init: RequestInit | undefined }[] = [];
  const fetch = (url: string, init?: RequestInit) => {
    calls.push({ url, init });
    return Promise.resolve(new Response(JSON.stringify(answer.body), { status: answer.status }));
  };
  return { calls, fetch };
}

test('calls send the token as a bearer header, never in the URL, on the account path', async () => {
  const f = fakeFetch({ status: 200, body: { success: true, data: { recording: { id: 'r1' } } } });
  const api = new DashboardApi({ token: 'sekrit', accountId: 'acc', fetch: f.fetch });
  const rec = await api.startTrackRecording('app-1', 'm-1', ['u1', 'u2']);
  assert.equal(rec.id, 'r1');
  const [c] = f.calls;
  assert.ok(c);
  assert.equal(c.url, '/client/v4/accounts/acc/realtime/kit/app-1/recordings/track');
  assert.ok(!c.url.includes('sekrit'));
  assert.equal((c.init?.headers as Record<string, string>).authorization, 'Bearer sekrit');
  assert.equal(c.init?.method, 'POST');
  assert.deepEqual(JSON.parse(String(c.init?.body)), { meeting_id: 'm-1', user_ids: ['u1', 'u2'] });
});

test("an error answer becomes a DashboardApiError with the envelope's message", async () => {
  const f = fakeFetch({ status: 401, body: { success: false, error: { code: 401, message: 'Bad token' } } });
  const api = new DashboardApi({ token: 'x', accountId: 'local', fetch: f.fetch });
  await assert.rejects(
    api.apps(),
    (e: unknown) => e instanceof DashboardApiError && e.status === 401 && e.message === 'Bad token',
  );
});

test('no live session is undefined, not an error; an allowlist change sends only the lists given', async () => {
  const none = fakeFetch({ status: 404, body: { success: false, error: { code: 404, message: 'none' } } });
  assert.equal(
    await new DashboardApi({ token: 'x', accountId: 'l', fetch: none.fetch }).activeSession('a', 'm'),
    undefined,
  );
  const f = fakeFetch({ status: 200, body: { success: true, data: { id: 'r' } } });
  await new DashboardApi({ token: 'x', accountId: 'l', fetch: f.fetch }).changeAllowlist('a', 'r', {
    add: ['b'],
    remove: [],
  });
  assert.equal(f.calls[0]?.init?.method, 'PATCH');
  assert.deepEqual(JSON.parse(String(f.calls[0]?.init?.body)), { add_user_ids: ['b'] });
});

test('files come from the download_url layers; links fall back to this origin only for our downloads', () => {
  assert.deepEqual(
    recordingFiles({
      id: 'r',
      meeting_id: 'm',
      type: 'TRACK',
      status: 'UPLOADED',
      download_url: [
        {
          layer_name: 'default',
          download_urls: { 'a.webm': { download_url: 'http://h/v1/downloads/r/a.webm?sig=1' } },
        },
      ],
    }),
    [{ layer: 'default', fileName: 'a.webm', url: 'http://h/v1/downloads/r/a.webm?sig=1' }],
  );
  assert.deepEqual(
    recordingFiles({ id: 'r', meeting_id: 'm', type: 'TRACK', status: 'RECORDING', download_url: null }),
    [],
  );
  assert.equal(
    sameOriginFallback('http://127.0.0.1:8787/v1/downloads/r/a.webm?sig=1', 'https://meet.example.org'),
    '/v1/downloads/r/a.webm?sig=1',
  );
  assert.equal(
    sameOriginFallback('https://meet.example.org/v1/downloads/r/a.webm', 'https://meet.example.org'),
    undefined,
  );
  assert.equal(
    sameOriginFallback('https://bucket.s3.example/r/a.webm?X-Amz=1', 'https://meet.example.org'),
    undefined,
  );
});
