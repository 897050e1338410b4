import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { MISSING_UUID, startHarness, type Harness } from '../http/test-harness.js';
import { UNSUPPORTED_ROUTES } from './unsupported.js';

describe('unsupported features', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness();
  });
  after(() => h.destroy());

  const fill = (path: string) => path.replace('/:app_id', '').replace(/:[a-z_]+/g, MISSING_UUID);

  it('answer 501 NOT_IMPLEMENTED in the envelope, naming the feature and the docs', async () => {
    assert.ok(UNSUPPORTED_ROUTES.length >= 18);
    for (const r of UNSUPPORTED_ROUTES) {
      const url = `${h.appBase}${fill(r.path)}`;
      const res = await h.req(r.method, url, r.method === 'POST' ? {} : undefined);
      assert.equal(res.status, 501, `${r.method} ${url}: ${res.raw}`);
      assert.deepEqual(res.body, {
        success: false,
        error: { code: 501, message: `${r.feature} is not supported by this server (see docs/api.md)` },
      });
    }
  });

  it('composite recording answers 501 and points to track recording', async () => {
    const r = await h.req('POST', `${h.appBase}/recordings`, { meeting_id: MISSING_UUID });
    assert.equal(r.status, 501);
    assert.match(r.body.error.message, /Composite recording is not supported.*recordings\/track/);
  });

  it('still need the admin token and a real app', async () => {
    for (const r of UNSUPPORTED_ROUTES) {
      const url = `${h.appBase}${fill(r.path)}`;
      const res = await h.req(r.method, url, undefined, { authorization: null });
      assert.equal(res.status, 401, url);
      const other = `/client/v4/accounts/local/realtime/kit/${MISSING_UUID}${fill(r.path)}`;
      assert.equal((await h.req(r.method, other, r.method === 'POST' ? {} : undefined)).status, 404, other);
    }
  });
});
