import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { MISSING_UUID, startHarness, type Harness } from '../http/test-harness.js';

/**
 * Table-driven: every API route the server registers (read from its own /openapi.json) gets every
 * kind of bad input. None may answer 500 or 2xx, every answer is the error envelope with a message,
 * and nothing is written.
 */
describe('bad input on every route', () => {
  let h: Harness;
  let routes: { method: string; path: string }[];
  before(async () => {
    h = await startHarness();
    const doc = (await h.req('GET', '/openapi.json')).body as {
      paths: Record<string, Record<string, unknown>>;
    };
    // The RealtimeKit routes (this server's own, at the root, have their own tests).
    routes = Object.entries(doc.paths)
      .filter(([path]) => path.startsWith('/accounts/{account_id}/'))
      .flatMap(([path, ops]) => Object.keys(ops).map((method) => ({ method: method.toUpperCase(), path })));
    assert.ok(routes.length >= 60, `only ${routes.length} routes`);
  });
  after(() => h.destroy());

  const url = (path: string, idValue: string) =>
    `/client/v4${path}`
      .replace('{account_id}', 'local')
      .replace('{app_id}', h.appId)
      .replace(/\{[a-z_]+\}/g, idValue);

  const expectRejected = async (
    method: string,
    u: string,
    body: unknown,
    headers: Record<string, string> = {},
  ) => {
    const r = await h.req(method, u, body, headers);
    const what = `${method} ${u} -> ${r.status} ${r.raw.slice(0, 200)}`;
    assert.ok(r.status >= 400 && r.status < 500 ? true : r.status === 501, what);
    assert.equal(r.body?.success, false, what);
    assert.equal(r.body.error.code, r.status, what);
    assert.ok(typeof r.body.error.message === 'string' && r.body.error.message.length > 3, what);
    return r;
  };

  it('malformed JSON, non-object JSON, non-JSON and oversized bodies on every write route', async () => {
    const before = await h.snapshot();
    const writes = routes.filter((r) => r.method !== 'GET' && r.method !== 'DELETE');
    assert.ok(writes.length >= 25);
    for (const r of writes) {
      const u = url(r.path, MISSING_UUID);
      const bad = await expectRejected(r.method, u, '{"name": ');
      assert.ok([400, 404, 501].includes(bad.status) || bad.status === 401, `${r.method} ${u}`);
      await expectRejected(r.method, u, '[1,2]');
      await expectRejected(r.method, u, 'name=x', { 'content-type': 'application/x-www-form-urlencoded' });
      const big = await expectRejected(r.method, u, JSON.stringify({ name: 'x'.repeat(1_100_000) }));
      assert.equal(big.status, 413, `${r.method} ${u}`);
    }
    assert.equal(await h.snapshot(), before, 'nothing was written');
  });

  it('non-UUID ids are 400 naming the parameter; unknown UUIDs are 404 (or 501 for unsupported features)', async () => {
    const before = await h.snapshot();
    const withIds = routes.filter((r) => /\{(?!account_id|app_id)[a-z_]+\}/.test(r.path));
    assert.ok(withIds.length >= 25);
    for (const r of withIds) {
      const body = r.method === 'GET' || r.method === 'DELETE' ? undefined : {};
      const param = /\{((?!account_id|app_id)[a-z_]+)\}/.exec(r.path)![1]!;
      const bad = await expectRejected(r.method, url(r.path, 'not-a-uuid'), body);
      // Peer and session-participant ids are free text (peer ids come from the media plane).
      if (bad.status === 400)
        assert.match(bad.body.error.message, new RegExp(param), `${r.method} ${r.path}`);
      else assert.ok([404, 501].includes(bad.status), `${r.method} ${r.path} -> ${bad.status}`);
      const unknown = await expectRejected(r.method, url(r.path, MISSING_UUID), body);
      assert.ok([400, 404, 501].includes(unknown.status), `${r.method} ${r.path} -> ${unknown.status}`);
    }
    assert.equal(await h.snapshot(), before, 'nothing was written');
  });

  it('out-of-range and wrongly typed paging on every list route', async () => {
    const lists = routes.filter(
      // GET .../webhooks is not paged in RealtimeKit (no paging in its answer), so it ignores these.
      (r) =>
        r.method === 'GET' &&
        !r.path.endsWith('}') &&
        !r.path.endsWith('/all') &&
        !r.path.endsWith('/webhooks'),
    );
    for (const r of lists) {
      for (const q of ['per_page=0', 'per_page=101', 'per_page=x', 'page_no=-1', 'page_no=1.5']) {
        const res = await h.req('GET', `${url(r.path, MISSING_UUID)}?${q}`);
        assert.notEqual(res.status, 500, `${r.path}?${q}`);
        assert.equal(res.body.success, false, `${r.path}?${q} -> ${res.status}`);
        if (res.status === 400) assert.match(res.body.error.message, /per_page|page_no/);
      }
    }
  });
});
