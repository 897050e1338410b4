import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ISO_RE, MISSING_UUID, UUID_RE, startHarness, type Harness } from '../http/test-harness.js';
import { WEBHOOK_EVENTS } from '../webhooks/dispatcher.js';

describe('webhooks routes', () => {
  let h: Harness;
  let base: string;
  before(async () => {
    h = await startHarness();
    base = `${h.appBase}/webhooks`;
  });
  after(() => h.destroy());

  it('GET .../webhooks/all lists the RealtimeKit events', async () => {
    const r = await h.req('GET', `${base}/all`);
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, { success: true, data: [...WEBHOOK_EVENTS] });
    assert.ok(r.body.data.includes('meeting.started'));
    assert.ok(r.body.data.includes('recording.statusUpdate'));
  });

  it('creates with 201 (enabled by default), gets, lists, patches, replaces and deletes', async () => {
    const c = await h.req('POST', base, {
      name: 'All',
      url: 'https://example.com/hook',
      events: ['meeting.started', 'meeting.ended'],
    });
    assert.equal(c.status, 201);
    const w = c.body.data;
    assert.match(w.id, UUID_RE);
    assert.match(w.created_at, ISO_RE);
    assert.equal(w.enabled, true);
    assert.deepEqual(w.events, ['meeting.started', 'meeting.ended']);
    assert.equal(w.app_id, undefined);
    assert.deepEqual((await h.req('GET', `${base}/${w.id}`)).body, { success: true, data: w });
    const list = await h.req('GET', base);
    assert.equal(list.status, 200);
    assert.deepEqual(list.body, { success: true, data: [w] });

    const p = await h.req('PATCH', `${base}/${w.id}`, { enabled: false });
    assert.equal(p.status, 200);
    assert.equal(p.body.data.enabled, false);
    assert.equal(p.body.data.url, w.url);
    assert.deepEqual(p.body.data.events, w.events);

    const put = await h.req('PUT', `${base}/${w.id}`, {
      name: 'Replaced',
      url: 'http://127.0.0.1:9/x',
      events: ['recording.statusUpdate'],
    });
    assert.equal(put.status, 200);
    assert.equal(put.body.data.enabled, true, 'PUT gives enabled its default back');
    assert.equal(put.body.data.name, 'Replaced');
    assert.deepEqual(put.body.data.events, ['recording.statusUpdate']);

    const d = await h.req('DELETE', `${base}/${w.id}`);
    assert.equal(d.status, 200);
    assert.equal(d.body.data.id, w.id);
    assert.equal((await h.req('GET', `${base}/${w.id}`)).status, 404);
    assert.deepEqual((await h.req('GET', base)).body.data, []);
  });

  it('rejects bad webhooks with 400 naming the field, writing nothing', async () => {
    const w = (
      await h.req('POST', base, { name: 'ok', url: 'https://example.com/', events: ['meeting.started'] })
    ).body.data;
    const before = await h.snapshot();
    const cases: [string, string, unknown, RegExp][] = [
      ['POST', '', { url: 'https://e.com/', events: ['meeting.started'] }, /body\.name is required/],
      ['POST', '', { name: 'x', events: ['meeting.started'] }, /body\.url is required/],
      ['POST', '', { name: 'x', url: 'https://e.com/' }, /body\.events is required/],
      ['POST', '', { name: 'x', url: 'ftp://e.com/', events: ['meeting.started'] }, /body\.url/],
      ['POST', '', { name: 'x', url: 'not a url', events: ['meeting.started'] }, /body\.url/],
      ['POST', '', { name: 'x', url: 'https://e.com/', events: [] }, /body\.events/],
      [
        'POST',
        '',
        { name: 'x', url: 'https://e.com/', events: ['meeting.exploded'] },
        /body\.events\.0 must be one of/,
      ],
      [
        'POST',
        '',
        { name: 'x', url: 'https://e.com/', events: ['meeting.started', 'meeting.started'] },
        /events/,
      ],
      ['POST', '', { name: 'x', url: 'https://e.com/', events: 'meeting.started' }, /events must be array/],
      [
        'POST',
        '',
        { name: 'x', url: 'https://e.com/', events: ['meeting.started'], enabled: 'yes' },
        /enabled/,
      ],
      ['PATCH', `/${w.id}`, { url: 'javascript:alert(1)' }, /body\.url/],
      ['PUT', `/${w.id}`, { name: 'only name' }, /is required/],
    ];
    for (const [method, path, b, re] of cases) {
      const r = await h.req(method, `${base}${path}`, b);
      assert.equal(r.status, 400, `${method} ${JSON.stringify(b)}`);
      assert.match(r.body.error.message, re);
    }
    assert.equal((await h.req('GET', `${base}/${MISSING_UUID}`)).status, 404);
    assert.equal((await h.req('PATCH', `${base}/${MISSING_UUID}`, { enabled: true })).status, 404);
    assert.equal((await h.req('DELETE', `${base}/${MISSING_UUID}`)).status, 404);
    const notUuid = await h.req('GET', `${base}/123`);
    assert.equal(notUuid.status, 400);
    assert.match(notUuid.body.error.message, /webhook_id/);
    assert.equal(await h.snapshot(), before);
  });

  it('queues a delivery only for enabled webhooks subscribed to the event', async () => {
    const mk = async (events: string[], enabled = true) =>
      (await h.req('POST', base, { name: 'q', url: 'http://127.0.0.1:9/', events, enabled })).body.data.id;
    const subscribed = await mk(['meeting.ended']);
    await mk(['meeting.started']);
    await mk(['meeting.ended'], false);
    const n = await h.server.deps.webhooks.enqueue(h.appId, 'meeting.ended', { meeting: { id: 'x' } });
    assert.equal(n, 1);
    const { rows } = await h.server.repo.webhookDeliveries.list({ where: { event: 'meeting.ended' } });
    assert.equal(rows.length, 1);
    assert.equal(rows[0]?.webhook_id, subscribed);
    assert.deepEqual(JSON.parse(rows[0]!.body), { event: 'meeting.ended', meeting: { id: 'x' } });
  });

  it('refuses link-local, metadata, reserved and self targets on POST, PUT and PATCH, naming the rule', async () => {
    const w = (
      await h.req('POST', base, { name: 'ok', url: 'https://example.com/', events: ['meeting.started'] })
    ).body.data;
    const before = await h.snapshot();
    const refused: [string, string][] = [
      ['http://169.254.169.254/latest/meta-data/', 'cloud-metadata'],
      ['http://[::ffff:169.254.169.254]/', 'cloud-metadata'],
      ['http://0xa9fea9fe/', 'cloud-metadata'],
      ['http://2852039166/', 'cloud-metadata'],
      ['http://169.254.169.254./', 'cloud-metadata'],
      ['http://metadata.google.internal/', 'cloud-metadata'],
      ['http://[fe80::1]/', 'link-local'],
      ['http://169.254.10.10/', 'link-local'],
      ['http://0.0.0.0:9000/', 'reserved'],
      ['http://[ff02::1]/', 'reserved'],
      // The harness's PUBLIC_URL: the server's own admin API.
      [`${h.server.publicUrl()}/client/v4/accounts/local/realtime/kit/x/meetings`, 'self'],
      ['https://user:pw@example.com/', 'credentials'],
    ];
    for (const [url, rule] of refused) {
      for (const [method, path, body] of [
        ['POST', '', { name: 'x', url, events: ['meeting.started'] }],
        ['PUT', `/${w.id}`, { name: 'x', url, events: ['meeting.started'] }],
        ['PATCH', `/${w.id}`, { url }],
      ] as const) {
        const r = await h.req(method, `${base}${path}`, body);
        assert.equal(r.status, 400, `${method} ${url}`);
        assert.equal(r.body.success, false);
        assert.equal(r.body.error.code, 400);
        assert.match(
          r.body.error.message,
          new RegExp(`body\\.url is refused \\(rule ${rule}\\)`),
          `${method} ${url}`,
        );
      }
    }
    assert.equal(await h.snapshot(), before, 'a refused target writes nothing');
  });

  it('accepts loopback and private targets by default', async () => {
    for (const url of [
      'http://127.0.0.1:9000/hook',
      'http://localhost:9000/',
      'http://10.0.0.5/',
      'http://[fd00::5]/',
    ]) {
      const r = await h.req('POST', base, { name: 'ok', url, events: ['meeting.started'] });
      assert.equal(r.status, 201, url);
    }
  });

  it('refuses loopback, private and listed ranges once the deny settings say so', async () => {
    const strict = await startHarness({
      env: {
        WEBHOOK_DENY_LOOPBACK: 'true',
        WEBHOOK_DENY_PRIVATE: '1',
        WEBHOOK_DENY_CIDRS: '93.184.0.0/16, 2001:470::/32',
      },
    });
    try {
      const b = `${strict.appBase}/webhooks`;
      const cases: [string, string][] = [
        ['http://127.0.0.1:9000/hook', 'loopback'],
        ['http://[::1]:9000/', 'loopback'],
        ['http://localhost:9000/', 'loopback'],
        ['http://10.0.0.5/', 'private'],
        ['http://192.168.1.1/', 'private'],
        ['http://[fd00::5]/', 'private'],
        ['http://[::ffff:10.0.0.5]/', 'private'],
        ['http://93.184.215.14/', 'deny-cidr'],
        ['http://[2001:470::1]/', 'deny-cidr'],
      ];
      for (const [url, rule] of cases) {
        const r = await strict.req('POST', b, { name: 'x', url, events: ['meeting.started'] });
        assert.equal(r.status, 400, url);
        assert.match(r.body.error.message, new RegExp(`rule ${rule}`), url);
      }
      assert.equal(
        (
          await strict.req('POST', b, {
            name: 'ok',
            url: 'https://example.com/',
            events: ['meeting.started'],
          })
        ).status,
        201,
      );
    } finally {
      await strict.destroy();
    }
  });
});
