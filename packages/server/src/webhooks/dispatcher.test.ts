import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { silentLogger } from '@trackroom/protocol';
import { OutboundPolicy, type OutboundPolicyOptions } from '../services/outbound-url.js';
import { PostgresRepository } from '../store/postgres-repository.js';
import { SqliteRepository } from '../store/sqlite-repository.js';
import { dropPgTestSchemas, pgTestSchema, pgTestUrl } from '../testing/postgres-test.js';
import { WebhookDispatcher, type WebhookDispatcherEvents } from './dispatcher.js';
import { WebhookSigningKey } from './signing-key.js';

/** A receiver on loopback that records every connection and request. */
interface Receiver {
  server: Server;
  port: number;
  connections: number;
  requests: { url: string; host: string | undefined; body: string }[];
}
async function receiver(handle: (req: IncomingMessage, res: ServerResponse) => void): Promise<Receiver> {
  const r: Receiver = { server: createServer(), port: 0, connections: 0, requests: [] };
  r.server.on('connection', () => r.connections++);
  r.server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      r.requests.push({ url: req.url ?? '', host: req.headers.host, body });
      handle(req, res);
    });
  });
  r.server.listen(0, '127.0.0.1');
  await once(r.server, 'listening');
  r.port = (r.server.address() as AddressInfo).port;
  return r;
}

describe('WebhookDispatcher delivery through the outbound rules', () => {
  let dir: string;
  let repo: SqliteRepository;
  let key: WebhookSigningKey;
  const open: WebhookDispatcher[] = [];
  const servers: Server[] = [];

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'trackroom-dispatch-'));
    repo = new SqliteRepository(join(dir, 'db.sqlite'));
    key = await WebhookSigningKey.load(repo);
  });
  afterEach(async () => {
    for (const d of open.splice(0)) await d.close();
    for (const s of servers.splice(0)) {
      s.closeAllConnections();
      s.close();
    }
    await repo.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** One webhook for `url`, one enqueued event; resolves with the first outcome. */
  async function deliverOnce(
    url: string,
    policy: OutboundPolicyOptions,
    extra: { timeoutMs?: number; maxAttempts?: number } = {},
  ): Promise<
    | { kind: 'delivered'; e: WebhookDispatcherEvents['delivered'] }
    | { kind: 'failed'; e: WebhookDispatcherEvents['failed'] }
    | { kind: 'retry'; e: WebhookDispatcherEvents['retryScheduled'] }
  > {
    const d = new WebhookDispatcher({
      repo,
      key,
      logger: silentLogger,
      maxAttempts: extra.maxAttempts ?? 1,
      baseDelayMs: 60_000,
      policy: new OutboundPolicy(policy),
      ...(extra.timeoutMs ? { timeoutMs: extra.timeoutMs } : {}),
    });
    open.push(d);
    const now = new Date().toISOString();
    const appId = crypto.randomUUID();
    await repo.webhooks.insert({
      id: crypto.randomUUID(),
      app_id: appId,
      name: 'w',
      url,
      events: ['meeting.started'],
      enabled: true,
      created_at: now,
      updated_at: now,
    });
    const outcome = new Promise<Awaited<ReturnType<typeof deliverOnce>>>((resolve) => {
      d.events.on('delivered', (e) => resolve({ kind: 'delivered', e }));
      d.events.on('failed', (e) => resolve({ kind: 'failed', e }));
      d.events.on('retryScheduled', (e) => resolve({ kind: 'retry', e }));
    });
    // The dispatcher's timer is unref'd (it never holds a server's process open): while the
    // outcome is awaited, something must keep this test's event loop alive, or the process may
    // end with the outcome still pending when no other handle happens to be open.
    const keepAlive = setInterval(() => undefined, 1000);
    try {
      assert.equal(await d.enqueue(appId, 'meeting.started', { meeting: { id: 'm' } }), 1);
      return await outcome;
    } finally {
      clearInterval(keepAlive);
    }
  }

  const resolver = (map: Record<string, string>) => async (h: string) => {
    const a = map[h];
    if (!a) throw new Error(`ENOTFOUND ${h}`);
    return [{ address: a, family: a.includes(':') ? 6 : 4 }];
  };

  it('connects to the address the name resolved to, keeping the name in Host', async () => {
    const r = await receiver((_req, res) => res.end('ok'));
    servers.push(r.server);
    const out = await deliverOnce(`http://hooks.test:${r.port}/in`, {
      resolve: resolver({ 'hooks.test': '127.0.0.1' }),
    });
    assert.equal(out.kind, 'delivered');
    assert.equal(r.requests.length, 1);
    assert.equal(r.requests[0]!.host, `hooks.test:${r.port}`);
    assert.equal(r.requests[0]!.url, '/in');
    assert.equal(JSON.parse(r.requests[0]!.body).event, 'meeting.started');
  });

  it('a name that resolves to a refused address at delivery time is not contacted', async () => {
    const r = await receiver((_req, res) => res.end('ok'));
    servers.push(r.server);
    // Registered as a name (accepted then); at delivery it resolves to loopback, denied here.
    const out = await deliverOnce(`http://hooks.test:${r.port}/in`, {
      resolve: resolver({ 'hooks.test': '127.0.0.1' }),
      denyLoopback: true,
    });
    assert.equal(out.kind, 'failed');
    assert.equal(out.kind === 'failed' && out.e.attempts, 1, 'a refusal is not retried');
    assert.match(out.kind === 'failed' ? out.e.error : '', /refused by the outbound rules \(loopback\)/);
    assert.equal(r.connections, 0, 'the receiver was never connected to');
    const { rows } = await repo.webhookDeliveries.list();
    assert.equal(rows[0]!.status, 'FAILED');
    assert.match(rows[0]!.last_error ?? '', /hooks\.test resolves to 127\.0\.0\.1/);
  });

  it('a name re-pointed at a metadata or self address is refused, whatever the deny settings', async () => {
    const meta = await deliverOnce('http://rebind.test/latest/meta-data/', {
      resolve: resolver({ 'rebind.test': '::ffff:169.254.169.254' }),
    });
    assert.equal(meta.kind, 'failed');
    assert.match(meta.kind === 'failed' ? meta.e.error : '', /\(cloud-metadata\)/);

    const self = await receiver((_req, res) => res.end('ok'));
    servers.push(self.server);
    const out = await deliverOnce(`http://rebind.test:${self.port}/client/v4/`, {
      resolve: resolver({ 'rebind.test': '127.0.0.1' }),
      self: { port: () => self.port, hosts: ['127.0.0.1'] },
    });
    assert.equal(out.kind, 'failed');
    assert.match(out.kind === 'failed' ? out.e.error : '', /\(self\)/);
    assert.equal(self.connections, 0);
  });

  it('never follows a redirect', async () => {
    const target = await receiver((_req, res) => res.end('ok'));
    const r = await receiver((_req, res) => {
      res.writeHead(307, { location: `http://127.0.0.1:${target.port}/elsewhere` });
      res.end();
    });
    servers.push(target.server, r.server);
    const out = await deliverOnce(`http://127.0.0.1:${r.port}/in`, {});
    assert.equal(out.kind, 'failed');
    assert.match(out.kind === 'failed' ? out.e.error : '', /HTTP 307 \(redirects are not followed\)/);
    assert.equal(target.connections, 0);
  });

  it('reads a bounded part of a huge answer and bounds the time of a silent one', async () => {
    const big = await receiver((_req, res) => {
      res.writeHead(200);
      const chunk = Buffer.alloc(64 * 1024, 0x61);
      // An endless answer: the dispatcher must stop reading and close.
      const pump = () => {
        while (res.write(chunk));
      };
      res.on('drain', pump);
      res.on('close', () => res.off('drain', pump));
      pump();
    });
    servers.push(big.server);
    const out = await deliverOnce(`http://127.0.0.1:${big.port}/`, {});
    assert.equal(out.kind, 'delivered');

    const silent = await receiver(() => undefined);
    servers.push(silent.server);
    const slow = await deliverOnce(
      `http://127.0.0.1:${silent.port}/`,
      {},
      { timeoutMs: 300, maxAttempts: 2 },
    );
    assert.equal(slow.kind, 'retry', 'a timeout is retried');
    const { rows } = await repo.webhookDeliveries.list({
      where: { url: `http://127.0.0.1:${silent.port}/` },
    });
    assert.match(rows[0]!.last_error ?? '', /timed out after 300 ms/);
  });
});

describe('WebhookDispatcher on a store shared by several nodes (PostgreSQL)', () => {
  it('two nodes sending from one queue deliver every event exactly once', async () => {
    const schema = pgTestSchema();
    const [a, b] = await Promise.all([
      PostgresRepository.open(pgTestUrl(), { schema }),
      PostgresRepository.open(pgTestUrl(), { schema }),
    ]);
    const seen = new Map<string, number>();
    let delivered = 0;
    const total = 40;
    let done!: () => void;
    const all = new Promise<void>((r) => (done = r));
    const r = await receiver((req, res) => {
      const id = String(req.headers['rtk-uuid']);
      seen.set(id, (seen.get(id) ?? 0) + 1);
      // A slow receiver, so both nodes' pumps see the same pending rows while sends are in flight.
      setTimeout(() => res.end('ok'), 20);
    });
    const nodes: WebhookDispatcher[] = [];
    try {
      const key = await WebhookSigningKey.load(a);
      const now = new Date().toISOString();
      const appId = crypto.randomUUID();
      await a.webhooks.insert({
        id: crypto.randomUUID(),
        app_id: appId,
        name: 'w',
        url: `http://127.0.0.1:${r.port}/hook`,
        events: ['meeting.started'],
        enabled: true,
        created_at: now,
        updated_at: now,
      });
      for (const repo of [a, b]) {
        const d = new WebhookDispatcher({
          repo,
          key,
          logger: silentLogger,
          maxAttempts: 3,
          baseDelayMs: 50,
          policy: new OutboundPolicy(),
        });
        d.events.on('delivered', () => {
          if (++delivered === total) done();
        });
        nodes.push(d);
      }
      // Each enqueue wakes its own node's pump; both pumps list every pending delivery.
      await Promise.all(
        Array.from({ length: total }, (_, i) =>
          nodes[i % 2]!.enqueue(appId, 'meeting.started', { meeting: { id: `m${i}` } }),
        ),
      );
      await all;
      await new Promise((res) => setTimeout(res, 200)); // a duplicate would arrive meanwhile
      assert.equal(seen.size, total, 'every delivery arrived');
      assert.deepEqual(
        [...seen.values()].filter((n) => n !== 1),
        [],
        'none arrived twice',
      );
      assert.equal(delivered, total, 'each counted once, by the node that sent it');
      const rows = await b.webhookDeliveries.list({ where: { status: 'DELIVERED' } });
      assert.equal(rows.total, total);
    } finally {
      for (const d of nodes) await d.close();
      r.server.closeAllConnections();
      r.server.close();
      await a.close();
      await b.close();
      await dropPgTestSchemas();
    }
  });
});
