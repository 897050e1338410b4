/**
 * GET /metrics on a real server with two media workers during a recorded meeting of two werift
 * publishers: the text parses strictly as Prometheus exposition, the gauges say what is live, the
 * packet counters and recorder bytes move while media flows, webhook deliveries are counted; the
 * token rules and the liveness/readiness endpoints hold.
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { sineOpusPackets } from '@trackroom/recorder/testing';
import { OpusPublisher } from './support/opus-publisher.js';
import { parsePromText, promSum, type PromFamily } from './support/prom-text.js';
import { api, startServer, type ServerProcess } from './support/server-process.js';
import { startWebhookReceiver, type WebhookReceiver } from './support/webhook-receiver.js';

const METRICS_TOKEN = 'metrics-reader-token-0123456789';
let server: ServerProcess;
let hooks: WebhookReceiver;
const work = mkdtempSync(join(tmpdir(), 'metrics-e2e-'));

before(async () => {
  hooks = await startWebhookReceiver();
  server = await startServer({ env: { MEDIA_WORKERS: '2', METRICS_TOKEN } });
});
after(async () => {
  await server?.stop();
  await hooks?.close();
});

const until = async (what: string, fn: () => Promise<boolean>, detail?: () => string, timeoutMs = 15_000) => {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await fn()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}${detail ? `: ${detail()}` : ''}`);
};

/** The trackroom_ figures, for failure messages. */
const show = (m: Map<string, PromFamily>) =>
  JSON.stringify(
    Object.fromEntries(
      [...m.values()]
        .filter((f) => f.name.startsWith('trackroom_'))
        .map((f) => [f.name, f.samples.map((s) => `${JSON.stringify(s.labels)}=${s.value}`).join(' ')]),
    ),
  );

async function scrape(token = server.token): Promise<Map<string, PromFamily>> {
  const res = await fetch(`${server.baseUrl}/metrics`, { headers: { authorization: `Bearer ${token}` } });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  return parsePromText(await res.text());
}

test('metrics, liveness and readiness of a recorded meeting', async () => {
  // Token rules: none or a wrong one is 401 in the envelope; the admin token and METRICS_TOKEN read.
  const none = await fetch(`${server.baseUrl}/metrics`);
  assert.equal(none.status, 401);
  assert.deepEqual(((await none.json()) as { success: boolean }).success, false);
  const wrong = await fetch(`${server.baseUrl}/metrics`, {
    headers: { authorization: 'Bearer nope-nope-nope-nope' },
  });
  assert.equal(wrong.status, 401);
  const idle = await scrape(METRICS_TOKEN);
  assert.equal(promSum(idle, 'trackroom_sessions_live'), 0);
  assert.equal(promSum(idle, 'trackroom_ready'), 1);
  assert.deepEqual(
    idle
      .get('trackroom_media_peers')!
      .samples.map((s) => s.labels.worker)
      .sort(),
    ['0', '1'],
    'one sample per media worker',
  );
  assert.equal(idle.get('trackroom_media_packets_received_total')!.type, 'counter');
  assert.ok(idle.get('nodejs_eventloop_lag_p99_seconds'), 'event-loop delay is exported');

  for (const path of ['/livez', '/readyz', '/healthz']) {
    const r = await fetch(`${server.baseUrl}${path}`);
    assert.equal(r.status, 200, path);
    assert.equal(((await r.json()) as { success: boolean }).success, true);
  }

  const call = api(server);
  assert.equal(
    (await call('POST', '/webhooks', { name: 'm', url: hooks.url, events: ['meeting.started'] })).status,
    201,
  );
  const mid = (await call<{ data: { id: string } }>('POST', '/meetings', { title: 'metrics' })).json.data.id;
  const tones = { alice: 440, bob: 660 } as const;
  const pubs: OpusPublisher[] = [];
  for (const [name, f] of Object.entries(tones)) {
    const p = await call<{ data: { token: string } }>('POST', `/meetings/${mid}/participants`, {
      custom_participant_id: name,
      preset_name: 'group_call_host',
      name,
    });
    const pub = await OpusPublisher.connect(`${server.wsUrl}?authToken=${p.json.data.token}`, {
      subscribe: true,
    });
    await pub.join();
    await pub.publish();
    pub.play(sineOpusPackets({ dir: work, frequency: f, seconds: 6, channels: 1 }));
    pubs.push(pub);
  }
  const rec = await call<{ data: { recording: { id: string } } }>('POST', '/recordings/track', {
    meeting_id: mid,
  });
  assert.equal(rec.status, 200, JSON.stringify(rec.json));

  let live = idle;
  await until(
    'the recording writes and both tracks are forwarded',
    async () => {
      live = await scrape();
      return (
        promSum(live, 'trackroom_recorder_bytes_written') > 0 &&
        promSum(live, 'trackroom_media_subscribed_tracks') >= 2 &&
        promSum(live, 'trackroom_webhook_deliveries_total') >= 1
      );
    },
    () => show(live),
  );
  assert.equal(promSum(live, 'trackroom_sessions_live'), 1);
  assert.equal(promSum(live, 'trackroom_media_peers'), 2);
  assert.equal(promSum(live, 'trackroom_media_published_tracks'), 2);
  assert.equal(promSum(live, 'trackroom_recordings_active'), 1);
  assert.equal(promSum(live, 'trackroom_media_meetings'), 1);
  const delivered = live
    .get('trackroom_webhook_deliveries_total')!
    .samples.find((s) => s.labels.outcome === 'delivered');
  assert.ok(delivered && delivered.value >= 1, 'the meeting.started delivery is counted');

  // Counters move while media flows.
  const first = {
    rx: promSum(live, 'trackroom_media_packets_received_total'),
    fwd: promSum(live, 'trackroom_media_packets_forwarded_total'),
    bytes: promSum(live, 'trackroom_recorder_bytes_written'),
    recRx: promSum(live, 'trackroom_recorder_packets_received'),
  };
  let later = live;
  await until(
    'the packet counters and recorded bytes grow',
    async () => {
      later = await scrape();
      return (
        promSum(later, 'trackroom_media_packets_received_total') > first.rx + 50 &&
        promSum(later, 'trackroom_media_packets_forwarded_total') > first.fwd + 50 &&
        promSum(later, 'trackroom_recorder_bytes_written') > first.bytes &&
        promSum(later, 'trackroom_recorder_packets_received') > first.recRx
      );
    },
    () => `${JSON.stringify(first)} -> ${show(later)}`,
  );
  assert.ok(promSum(later, 'trackroom_recorder_packets_lost') >= 0);

  const stop = await call('PUT', `/recordings/${rec.json.data.recording.id}`, { action: 'stop' });
  assert.equal(stop.status, 200);
  await Promise.all(pubs.map((p) => p.leave()));
  await until('the meeting is idle again', async () => {
    const m = await scrape(METRICS_TOKEN);
    return promSum(m, 'trackroom_media_peers') === 0 && promSum(m, 'trackroom_recordings_active') === 0;
  });
});
