/**
 * Webhook delivery for real: a receiver on 127.0.0.1 checks the RSA-SHA256 signature with the key
 * the server publishes, retries on 5xx and network errors, no retry on 4xx, and a delivery queued
 * while the receiver is down survives a server restart.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { silentLogger } from '@trackroom/protocol';
import { createServer, loadConfig, type TrackroomServer } from '@trackroom/server';
import { freePort } from './support/server-process.js';
import { fetchWebhookPublicKey, webhookSignatureValid } from './support/webhook-receiver.js';

const TOKEN = 'webhooks-e2e-token-0123456789';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

interface Hit {
  headers: IncomingHttpHeaders;
  raw: Buffer;
  status: number;
}

/** A receiver that answers the given statuses in turn (then 200) and records every attempt. */
async function receiver(statuses: number[] = [], port = 0) {
  const hits: Hit[] = [];
  const waiters: (() => void)[] = [];
  const server: Server = createHttpServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const status = statuses.shift() ?? 200;
      hits.push({ headers: req.headers, raw: Buffer.concat(chunks), status });
      res.writeHead(status).end();
      for (const w of waiters.splice(0)) w();
    });
  });
  server.listen(port, '127.0.0.1');
  await once(server, 'listening');
  const addr = server.address();
  const bound = typeof addr === 'object' && addr ? addr.port : port;
  return {
    url: `http://127.0.0.1:${bound}/hook`,
    hits,
    /** Resolves once `n` attempts have arrived (an event, not a sleep). */
    async waitForHits(n: number): Promise<Hit[]> {
      while (hits.length < n) await new Promise<void>((r) => waiters.push(r));
      return hits;
    },
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

const dirs: string[] = [];
const servers: TrackroomServer[] = [];
after(async () => {
  for (const s of servers) await s.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function start(dir?: string): Promise<{ server: TrackroomServer; base: string; dir: string }> {
  const dataDir = dir ?? mkdtempSync(join(tmpdir(), 'trackroom-webhooks-'));
  if (!dir) dirs.push(dataDir);
  const config = loadConfig({
    DATA_DIR: dataDir,
    RTK_API_TOKEN: TOKEN,
    PORT: '0',
    WEBHOOK_RETRY_BASE_MS: '50',
    WEBHOOK_MAX_ATTEMPTS: '6',
  });
  const server = await createServer(config, { logger: silentLogger });
  servers.push(server);
  const port = await server.listen();
  return { server, base: `http://127.0.0.1:${port}`, dir: dataDir };
}

async function api(base: string, method: string, path: string, body?: unknown) {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${TOKEN}`,
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  return {
    status: res.status,
    json: (await res.json()) as { data: { id: string } } & Record<string, unknown>,
  };
}

async function addWebhook(s: { server: TrackroomServer; base: string }, url: string, events: string[]) {
  const r = await api(
    s.base,
    'POST',
    `/client/v4/accounts/local/realtime/kit/${s.server.defaultAppId}/webhooks`,
    {
      name: 'e2e',
      url,
      events,
    },
  );
  assert.equal(r.status, 201);
  return r.json.data.id;
}

/** The key as a RealtimeKit receiver reads it (`data.publicKey`), after checking the whole answer. */
async function publicKey(base: string): Promise<string> {
  const r = await fetch(`${base}/.well-known/webhooks.json`);
  assert.equal(r.status, 200);
  const body = (await r.json()) as { success: boolean; data: { publicKey: string }; message: string };
  assert.deepEqual(body, { success: true, data: { publicKey: body.data.publicKey }, message: '' });
  return fetchWebhookPublicKey(base);
}

const signatureOk = (key: string, hit: Hit) => webhookSignatureValid(key, hit.raw, hit.headers);

describe('webhook delivery', { timeout: 60_000 }, () => {
  it('delivers signed JSON with rtk-signature, rtk-uuid and rtk-webhook-id for real session events', async () => {
    const rx = await receiver();
    const s = await start();
    const webhookId = await addWebhook(s, rx.url, ['meeting.started', 'meeting.participantJoined']);
    const meeting = await api(
      s.base,
      'POST',
      `/client/v4/accounts/local/realtime/kit/${s.server.defaultAppId}/meetings`,
      {
        title: 'hooked',
      },
    );
    const meetingId = meeting.json.data.id;
    await s.server.deps.sessions.peerJoined({
      meetingId,
      peerId: randomUUID(),
      participantId: randomUUID(),
      customParticipantId: 'c-1',
      name: 'Hook',
      presetName: 'group_call_host',
      joinedAt: new Date(),
    });
    const hits = await rx.waitForHits(2);
    const key = await publicKey(s.base);
    const events = hits.map(
      (h) => JSON.parse(h.raw.toString()) as { event: string; meeting: { id: string } },
    );
    assert.deepEqual(events.map((e) => e.event).sort(), ['meeting.participantJoined', 'meeting.started']);
    for (const [i, h] of hits.entries()) {
      assert.equal(h.headers['content-type'], 'application/json');
      assert.equal(h.headers['rtk-webhook-id'], webhookId);
      assert.match(String(h.headers['rtk-uuid']), UUID);
      assert.equal(events[i]!.meeting.id, meetingId);
      assert.ok(signatureOk(key, h), 'signature verifies over the raw body');
      // The check can fail: one changed byte breaks it.
      const tampered = Buffer.from(h.raw);
      const at = tampered.length - 2;
      tampered[at] = (tampered[at] ?? 0) ^ 1;
      assert.equal(signatureOk(key, { ...h, raw: tampered }), false);
    }
    assert.notEqual(hits[0]!.headers['rtk-uuid'], hits[1]!.headers['rtk-uuid']);
    await rx.close();
  });

  it('retries 5xx with backoff: 503, 503, then 200 delivers on the third attempt', async () => {
    const rx = await receiver([503, 503]);
    const s = await start();
    await addWebhook(s, rx.url, ['meeting.ended']);
    const delivered = new Promise<{ attempts: number; deliveryId: string }>((resolve) =>
      s.server.deps.webhooks.events.once('delivered', resolve),
    );
    const n = await s.server.deps.webhooks.enqueue(s.server.defaultAppId, 'meeting.ended', {
      meeting: { id: 'm' },
    });
    assert.equal(n, 1);
    const d = await delivered;
    assert.equal(d.attempts, 3);
    assert.deepEqual(
      rx.hits.map((h) => h.status),
      [503, 503, 200],
    );
    const ids = new Set(rx.hits.map((h) => h.headers['rtk-uuid']));
    assert.deepEqual([...ids], [d.deliveryId], 'every retry carries the same rtk-uuid');
    const key = await publicKey(s.base);
    for (const h of rx.hits) assert.ok(signatureOk(key, h));
    const row = await s.server.repo.webhookDeliveries.get(d.deliveryId);
    assert.equal(row?.status, 'DELIVERED');
    assert.equal(row?.attempts, 3);
    await rx.close();
  });

  it('does not retry a 400: exactly one attempt, then FAILED', async () => {
    const rx = await receiver([400, 400, 400]);
    const s = await start();
    await addWebhook(s, rx.url, ['meeting.ended']);
    const failed = new Promise<{ attempts: number; deliveryId: string; error: string }>((resolve) =>
      s.server.deps.webhooks.events.once('failed', resolve),
    );
    let retried = false;
    s.server.deps.webhooks.events.on('retryScheduled', () => (retried = true));
    await s.server.deps.webhooks.enqueue(s.server.defaultAppId, 'meeting.ended', { meeting: { id: 'm' } });
    const f = await failed;
    assert.equal(f.attempts, 1);
    assert.equal(f.error, 'HTTP 400');
    assert.equal(retried, false);
    assert.equal(rx.hits.length, 1);
    const row = await s.server.repo.webhookDeliveries.get(f.deliveryId);
    assert.equal(row?.status, 'FAILED');
    // Another event goes through the queue after the failure: the FAILED row is never sent again.
    const next = new Promise<void>((resolve) =>
      s.server.deps.webhooks.events.once('failed', () => resolve()),
    );
    await s.server.deps.webhooks.enqueue(s.server.defaultAppId, 'meeting.ended', { meeting: { id: 'n' } });
    await next;
    assert.equal(rx.hits.length, 2);
    assert.deepEqual(
      rx.hits.map((h) => (JSON.parse(h.raw.toString()) as { meeting: { id: string } }).meeting.id),
      ['m', 'n'],
    );
    await rx.close();
  });

  it('keeps a delivery queued while the receiver is down and sends it after a restart', async () => {
    const port = await freePort(); // nothing listens there yet: connection refused
    const first = await start();
    await addWebhook(first, `http://127.0.0.1:${port}/hook`, ['meeting.ended']);
    const retry = new Promise<{ deliveryId: string; attempts: number }>((resolve) =>
      first.server.deps.webhooks.events.once('retryScheduled', resolve),
    );
    await first.server.deps.webhooks.enqueue(first.server.defaultAppId, 'meeting.ended', {
      meeting: { id: 'restart' },
    });
    const r = await retry;
    assert.equal(r.attempts, 1);
    await first.server.close();

    const rx = await receiver([], port);
    const second = await start(first.dir);
    const delivered = new Promise<{ deliveryId: string }>((resolve) =>
      second.server.deps.webhooks.events.once('delivered', resolve),
    );
    const [hit] = await rx.waitForHits(1);
    assert.equal((await delivered).deliveryId, r.deliveryId);
    assert.equal(hit!.headers['rtk-uuid'], r.deliveryId, 'the same delivery, not a new one');
    assert.deepEqual(JSON.parse(hit!.raw.toString()), { event: 'meeting.ended', meeting: { id: 'restart' } });
    assert.ok(signatureOk(await publicKey(second.base), hit!), 'the signing key survived the restart too');
    await rx.close();
  });
});
