import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PREFIX, startHarness } from '../http/test-harness.js';

const OLD = 'old-admin-token-0123456789';
const NEW = 'new-admin-token-0123456789';
const METRICS = 'metrics-token-0123456789';

describe('liveness, readiness, /metrics and admin token rotation', () => {
  it('readiness is false while starting, true once listening, false again while draining', async () => {
    const h = await startHarness();
    try {
      const starting = await h.req('GET', '/readyz', undefined, { authorization: null });
      assert.equal(starting.status, 503);
      assert.deepEqual(starting.body, {
        success: false,
        error: { code: 503, message: 'Not ready: starting' },
      });
      assert.equal((await h.req('GET', '/livez', undefined, { authorization: null })).status, 200);
      await h.server.listen();
      assert.equal(h.server.state(), 'ready');
      const base = `http://127.0.0.1:${(h.server.http.server.address() as { port: number }).port}`;
      const ready = await fetch(`${base}/readyz`);
      assert.equal(ready.status, 200);
      assert.deepEqual(await ready.json(), { success: true, data: { status: 'ready' } });
      const closing = h.server.close();
      assert.equal(h.server.state(), 'draining', 'draining from the first moment of close()');
      await closing;
    } finally {
      await h.destroy();
    }
  });

  it('/metrics needs the admin token or METRICS_TOKEN; METRICS_TOKEN opens nothing else', async () => {
    const h = await startHarness({ env: { METRICS_TOKEN: METRICS } });
    try {
      const none = await h.req('GET', '/metrics', undefined, { authorization: null });
      assert.equal(none.status, 401);
      assert.equal(none.body.success, false);
      for (const token of [METRICS, undefined]) {
        const r = await h.req(
          'GET',
          '/metrics',
          undefined,
          token ? { authorization: `Bearer ${token}` } : {},
        );
        assert.equal(r.status, 200);
        assert.match(String(r.headers['content-type']), /^text\/plain; version=0\.0\.4/);
        assert.match(r.raw, /^# TYPE trackroom_ready gauge$/m);
        assert.match(r.raw, /^trackroom_ready 0$/m, 'not ready: never listened');
        assert.match(r.raw, /^trackroom_webhook_queue_depth 0$/m);
      }
      const api = await h.req('GET', `${PREFIX}/${h.appId}/meetings`, undefined, {
        authorization: `Bearer ${METRICS}`,
      });
      assert.equal(api.status, 401);
    } finally {
      await h.destroy();
    }
  });

  it('RTK_API_TOKEN may list several tokens: each is accepted, others are not', async () => {
    const h = await startHarness({ env: { RTK_API_TOKEN: `${NEW}, ${OLD}` } });
    try {
      for (const t of [NEW, OLD]) {
        const r = await h.req('GET', `${PREFIX}/${h.appId}/meetings`, undefined, {
          authorization: `Bearer ${t}`,
        });
        assert.equal(r.status, 200, t);
      }
      const bad = await h.req('GET', `${PREFIX}/${h.appId}/meetings`, undefined, {
        authorization: `Bearer ${NEW}${OLD}`,
      });
      assert.equal(bad.status, 401);
      assert.equal(h.server.config.apiToken, NEW, 'the first is the token the server names');
    } finally {
      await h.destroy();
    }
  });
});
