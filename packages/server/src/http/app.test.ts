import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { errorCodes as fastifyErrorCodes } from 'fastify';
import { ErrorCodes, RtkError, silentLogger } from '@trackroom/protocol';
import { MAX_URL_LENGTH, toRtkError } from './app.js';
import { MISSING_UUID, PREFIX, TEST_TOKEN, startHarness, type Harness } from './test-harness.js';

/** Auth, account/app scoping, the error envelope, and the meta routes (HTTP layer, in-process). */
describe('http app: auth and scoping', () => {
  let h: Harness;
  let participantToken: string;
  before(async () => {
    h = await startHarness();
    const m = await h.req('POST', `${h.appBase}/meetings`, { title: 'auth' });
    const p = await h.req('POST', `${h.appBase}/meetings/${m.body.data.id}/participants`, {
      custom_participant_id: 'auth-1',
      preset_name: 'group_call_host',
    });
    participantToken = p.body.data.token;
    assert.ok(participantToken);
  });
  after(() => h.destroy());

  const routes = (h: Harness) => [
    ['GET', `${PREFIX}/apps`],
    ['POST', `${PREFIX}/apps`],
    ['GET', `${h.appBase}/meetings`],
    ['POST', `${h.appBase}/meetings`],
    ['GET', `${h.appBase}/presets`],
    ['GET', `${h.appBase}/webhooks`],
    ['GET', `${h.appBase}/recordings`],
    ['GET', `${h.appBase}/sessions`],
    ['GET', `${h.appBase}/livestreams`],
    ['GET', `${PREFIX}/nope/no/such/route`],
  ];

  const badAuth: [string, Record<string, string | null>][] = [
    ['no Authorization header', { authorization: null }],
    ['a wrong token', { authorization: 'Bearer not-the-token-at-all-xxxx' }],
    ['a token prefix', { authorization: `Bearer ${TEST_TOKEN.slice(0, -1)}` }],
    ['a token with a suffix', { authorization: `Bearer ${TEST_TOKEN}x` }],
    ['Basic scheme', { authorization: `Basic ${TEST_TOKEN}` }],
    ['a bare token', { authorization: TEST_TOKEN }],
    ['an empty bearer', { authorization: 'Bearer ' }],
  ];

  for (const [what, headers] of badAuth) {
    it(`answers 401 in the envelope with ${what}, on every route`, async () => {
      for (const [method, url] of routes(h)) {
        const before = await h.snapshot();
        const r = await h.req(
          method as string,
          url as string,
          method === 'POST' ? { name: 'x' } : undefined,
          headers,
        );
        assert.equal(r.status, 401, `${method} ${url}`);
        assert.deepEqual(r.body, {
          success: false,
          error: { code: 401, message: ErrorCodes.UNAUTHORIZED.message },
        });
        assert.equal(await h.snapshot(), before, 'a rejected request wrote nothing');
      }
    });
  }

  it('never accepts a participant token as the admin token', async () => {
    for (const [method, url] of routes(h)) {
      const r = await h.req(method as string, url as string, method === 'POST' ? { name: 'x' } : undefined, {
        authorization: `Bearer ${participantToken}`,
      });
      assert.equal(r.status, 401, `${method} ${url}`);
      assert.equal(r.body.success, false);
    }
  });

  it('accepts the token case-insensitively on the scheme only', async () => {
    assert.equal(
      (await h.req('GET', `${PREFIX}/apps`, undefined, { authorization: `bearer ${TEST_TOKEN}` })).status,
      200,
    );
    assert.equal(
      (
        await h.req('GET', `${PREFIX}/apps`, undefined, {
          authorization: `Bearer ${TEST_TOKEN.toUpperCase()}`,
        })
      ).status,
      401,
    );
  });

  it('answers 404 for an unknown account and an unknown app', async () => {
    const acc = await h.req('GET', `/client/v4/accounts/other/realtime/kit/apps`);
    assert.equal(acc.status, 404);
    assert.deepEqual(acc.body, { success: false, error: { code: 404, message: 'Account other not found' } });
    const acc2 = await h.req('GET', `/client/v4/accounts/other/realtime/kit/${h.appId}/meetings`);
    assert.equal(acc2.status, 404);
    const app = await h.req('GET', `${PREFIX}/${MISSING_UUID}/meetings`);
    assert.equal(app.status, 404);
    assert.match(app.body.error.message, new RegExp(`App ${MISSING_UUID} not found`));
    const app2 = await h.req('GET', `${PREFIX}/apps/${MISSING_UUID}`);
    assert.equal(app2.status, 404);
    const unsupported = await h.req('GET', `${PREFIX}/${MISSING_UUID}/livestreams`);
    assert.equal(unsupported.status, 404, 'unsupported routes check the app too');
  });

  it('answers 400 naming the parameter for a non-UUID app id', async () => {
    const r = await h.req('GET', `${PREFIX}/not-a-uuid/meetings`);
    assert.equal(r.status, 400);
    assert.equal(r.body.success, false);
    assert.equal(r.body.error.code, 400);
    assert.match(r.body.error.message, /app_id/);
  });

  it('answers an unknown route with ROUTE_NOT_FOUND in the envelope (authenticated or not)', async () => {
    const r = await h.req('GET', `${h.appBase}/no-such-thing`);
    assert.equal(r.status, 404);
    assert.deepEqual(r.body, {
      success: false,
      error: { code: 404, message: `No route GET ${h.appBase}/no-such-thing` },
    });
    const outside = await h.req('GET', '/nothing-here', undefined, { authorization: null });
    assert.equal(outside.status, 404);
    assert.equal(outside.body.success, false);
  });
});

describe('http app: framework errors answer the envelope, after the auth check', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness();
  });
  after(() => h.destroy());

  const cases = (h: Harness) => [
    {
      what: 'a 201-character meeting id',
      url: `${h.appBase}/meetings/${'a'.repeat(201)}`,
      status: 414,
      message: /path parameter is longer than 200 characters/,
    },
    {
      what: 'a bad percent-encoding',
      url: `${h.appBase}/meetings/%ZZ`,
      status: 400,
      message: /URL is not valid/,
    },
    {
      what: 'a 40 KB query string',
      url: `${h.appBase}/meetings?search=${'x'.repeat(40 * 1024)}`,
      status: 414,
      message: new RegExp(`URL is longer than ${MAX_URL_LENGTH}`),
    },
    {
      what: 'a 40 KB path parameter',
      url: `${h.appBase}/meetings/${'b'.repeat(40 * 1024)}`,
      status: 414,
      message: /path parameter is longer/,
    },
    {
      what: 'a 40 KB unknown path',
      url: `${h.appBase}/${'c'.repeat(40 * 1024)}/x`,
      status: 414,
      message: /longer than 200|URL is longer/,
    },
  ];

  it('answers an unauthenticated request with 401 and nothing else', async () => {
    for (const c of cases(h)) {
      for (const headers of [{ authorization: null }, { authorization: 'Bearer wrong-wrong-wrong' }]) {
        const r = await h.req('GET', c.url, undefined, headers);
        assert.equal(r.status, 401, c.what);
        assert.deepEqual(r.body, {
          success: false,
          error: { code: 401, message: ErrorCodes.UNAUTHORIZED.message },
        });
      }
    }
  });

  it('answers an authenticated request with the envelope naming the problem, never a Fastify body', async () => {
    for (const c of cases(h)) {
      const r = await h.req('GET', c.url);
      assert.equal(r.status, c.status, `${c.what}: ${r.raw.slice(0, 200)}`);
      assert.deepEqual(Object.keys(r.body), ['success', 'error'], c.what);
      assert.equal(r.body.success, false);
      assert.equal(r.body.error.code, c.status);
      assert.match(r.body.error.message, c.message, c.what);
      assert.doesNotMatch(r.raw, /FST_|statusCode/, c.what);
    }
  });

  it('answers the envelope outside the API too (no token needed there)', async () => {
    const bad = await h.req('GET', '/docs/%ZZ', undefined, { authorization: null });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error.code, 400);
    const long = await h.req('GET', `/healthz?${'x'.repeat(MAX_URL_LENGTH)}`, undefined, {
      authorization: null,
    });
    assert.equal(long.status, 414);
    assert.equal(long.body.error.code, 414);
  });

  it('turns every Fastify error code into a registry error: its 4xx status, or 500 without internals', () => {
    const codes = Object.entries(fastifyErrorCodes);
    assert.ok(codes.length > 50, `${codes.length} codes`);
    for (const [name, Make] of codes) {
      const fe = new (Make as new (...a: string[]) => Error & { statusCode?: number })('a', 'b', 'c');
      const e = toRtkError(fe, silentLogger);
      assert.ok(e instanceof RtkError, name);
      assert.doesNotMatch(e.message, /FST_/, name);
      const status = fe.statusCode ?? 500;
      if (status >= 400 && status < 500) assert.equal(e.status, status, name);
      else assert.equal(e.code, 'INTERNAL', name);
    }
  });
});

describe('http app: request bodies', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness();
  });
  after(() => h.destroy());

  it('rejects malformed JSON with 400 INVALID_JSON and writes nothing', async () => {
    const before = await h.snapshot();
    const r = await h.req('POST', `${h.appBase}/meetings`, '{"title": "x",');
    assert.equal(r.status, 400);
    assert.equal(r.body.success, false);
    assert.match(r.body.error.message, /not valid JSON/);
    assert.equal(await h.snapshot(), before);
  });

  it('rejects a body over 1 MB with 413 in the envelope', async () => {
    const before = await h.snapshot();
    const r = await h.req(
      'POST',
      `${h.appBase}/meetings`,
      JSON.stringify({ title: 'x'.repeat(1024 * 1024) }),
    );
    assert.equal(r.status, 413);
    assert.deepEqual(r.body, {
      success: false,
      error: { code: 413, message: ErrorCodes.BODY_TOO_LARGE.message },
    });
    assert.equal(await h.snapshot(), before);
  });

  it('rejects a non-JSON content type with 415', async () => {
    const r = await h.req('POST', `${h.appBase}/meetings`, 'title=x', { 'content-type': 'text/plain' });
    assert.equal(r.status, 415);
    assert.equal(r.body.error.code, 415);
  });

  it('rejects a JSON body that is not an object', async () => {
    for (const body of ['null', '[]', '"x"', '42']) {
      const r = await h.req('POST', `${PREFIX}/apps`, body);
      assert.equal(r.status, 400, body);
      assert.equal(r.body.success, false);
      assert.match(r.body.error.message, /body/);
    }
  });

  it('treats an empty JSON body on create meeting as no fields', async () => {
    const r = await h.req('POST', `${h.appBase}/meetings`, '', { 'content-type': 'application/json' });
    assert.equal(r.status, 201);
    assert.equal(r.body.success, true);
  });
});

describe('http app: meta routes', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness();
  });
  after(() => h.destroy());

  it('serves /openapi.json describing every API route with the bearer scheme', async () => {
    const r = await h.req('GET', '/openapi.json', undefined, { authorization: null });
    assert.equal(r.status, 200);
    assert.equal(r.body.openapi, '3.0.3');
    assert.deepEqual(r.body.components.securitySchemes.api_token, { type: 'http', scheme: 'bearer' });
    const paths = Object.keys(r.body.paths);
    assert.ok(paths.includes('/accounts/{account_id}/realtime/kit/{app_id}/meetings'));
    assert.ok(paths.includes('/accounts/{account_id}/realtime/kit/apps'));
    const meetings = r.body.paths['/accounts/{account_id}/realtime/kit/{app_id}/meetings'];
    assert.ok(meetings.get && meetings.post);
    assert.ok(meetings.post.requestBody, 'create meeting documents its body');
  });

  type Operation = { summary: string; description?: string; 'x-trackroom-supported': boolean };
  const operations = async () => {
    const doc = (await h.req('GET', '/openapi.json', undefined, { authorization: null })).body as {
      paths: Record<string, Record<string, unknown>>;
    };
    return Object.entries(doc.paths).flatMap(([path, item]) =>
      Object.entries(item)
        .filter(([k]) => k !== 'servers')
        .map(([method, op]) => ({ method, path, item, op: op as Operation })),
    );
  };

  it('gives every operation a one-line purpose', async () => {
    const ops = await operations();
    assert.ok(ops.length >= 70, `${ops.length} operations`);
    for (const { method, path, op } of ops) {
      assert.ok(op.summary.length > 10 && !op.summary.includes('\n'), `${method} ${path}: "${op.summary}"`);
    }
  });

  it('marks exactly the operations that answer 501 as not supported here', async () => {
    const ops = (await operations()).filter((o) => o.path.startsWith('/accounts/{account_id}/'));
    const marked = ops.filter((o) => o.op['x-trackroom-supported'] === false);
    assert.ok(marked.length >= 19, `${marked.length} marked`);
    for (const { method, path, op } of ops) {
      const url = `/client/v4${path}`
        .replace('{account_id}', 'local')
        .replace('{app_id}', h.appId)
        .replace(/\{[a-z_]+\}/g, MISSING_UUID);
      const r = await h.req(
        method.toUpperCase(),
        url,
        method === 'get' || method === 'delete' ? undefined : {},
      );
      const what = `${method} ${path} -> ${r.status}`;
      if (op['x-trackroom-supported'] === false) {
        assert.equal(r.status, 501, what);
        assert.match(op.summary, /\(not supported here\)$/, what);
        assert.match(op.description ?? '', /^Not supported here: .+ answers 501/, what);
      } else {
        assert.equal(op['x-trackroom-supported'], true, what);
        assert.notEqual(r.status, 501, what);
      }
    }
  });

  it("lists this server's own routes at the root, with their own server URL", async () => {
    const ops = await operations();
    const own = ops.filter((o) => !o.path.startsWith('/accounts/'));
    const paths = own.map((o) => `${o.method.toUpperCase()} ${o.path}`);
    for (const p of [
      'GET /',
      'GET /docs',
      'GET /openapi.json',
      'GET /healthz',
      'GET /livez',
      'GET /readyz',
      'GET /metrics',
      'GET /v1/stats',
      'GET /v1/downloads/{recording_id}/{file}',
      'GET /.well-known/webhooks.json',
    ]) {
      assert.ok(paths.includes(p), `${p} is listed`);
    }
    for (const o of ops.filter((x) => x.path.startsWith('/accounts/'))) {
      assert.equal(o.item.servers, undefined, `${o.path} uses the document's /client/v4 server`);
    }
    for (const o of own) {
      assert.deepEqual(o.item.servers, [{ url: h.server.publicUrl() }], o.path);
      assert.equal(o.op['x-trackroom-supported'], true);
    }
  });

  it('serves /docs as HTML: every operation with its purpose, the unsupported ones marked', async () => {
    const r = await h.req('GET', '/docs', undefined, { authorization: null });
    assert.equal(r.status, 200);
    assert.match(String(r.headers['content-type']), /text\/html/);
    const ops = await operations();
    const escaped = (t: string) =>
      t.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
    for (const { op } of ops) {
      assert.ok(r.raw.includes(escaped(op.summary.replace(/ \(not supported here\)$/, ''))), op.summary);
    }
    const marked = ops.filter((o) => o.op['x-trackroom-supported'] === false).length;
    assert.equal(
      r.raw.match(/<span class="badge">Not supported here<\/span> \(answers 501\)/g)?.length,
      marked,
    );
    const own = r.raw.indexOf('<h2>Routes of this server</h2>');
    assert.ok(own > 0);
    const meetings = r.raw.indexOf('<code>/accounts/{account_id}/realtime/kit/{app_id}/meetings</code>');
    assert.ok(meetings > 0 && meetings < own, 'RealtimeKit operations are in the first table');
    assert.ok(r.raw.indexOf('<code>/healthz</code>') > own, 'own routes in the second');
    assert.match(r.raw, /<code>\/healthz<\/code>/);
    assert.match(r.raw, /<code>\/v1\/downloads\/\{recording_id\}\/\{file\}<\/code>/);
    assert.match(r.raw, /href="\/docs\/track-recording.md"/);
  });

  it('answers GET / with a landing page linking the reference, the join page and the guide', async () => {
    const r = await h.req('GET', '/', undefined, { authorization: null });
    assert.equal(r.status, 200);
    assert.match(String(r.headers['content-type']), /text\/html/);
    assert.match(r.raw, /href="\/docs"/);
    assert.match(r.raw, /\/join\?authToken=&lt;token&gt;/);
    assert.match(r.raw, /href="\/docs\/track-recording.md"/);
    const guide = await h.req('GET', '/docs/track-recording.md', undefined, { authorization: null });
    assert.equal(guide.status, 200);
    assert.match(String(guide.headers['content-type']), /text\/markdown/);
    assert.match(guide.raw, /^# /);
  });

  it("serves the webhook public key as PEM in RealtimeKit's shape, without a token", async () => {
    const r = await h.req('GET', '/.well-known/webhooks.json', undefined, { authorization: null });
    assert.equal(r.status, 200);
    assert.deepEqual(Object.keys(r.body).sort(), ['data', 'message', 'success']);
    assert.equal(r.body.success, true);
    assert.equal(r.body.message, '');
    assert.deepEqual(Object.keys(r.body.data), ['publicKey']);
    assert.match(r.body.data.publicKey, /^-----BEGIN PUBLIC KEY-----\n[\s\S]+\n-----END PUBLIC KEY-----\n$/);
  });
});

describe('error registry', () => {
  const docs = readFileSync(new URL('../../../../docs/api.md', import.meta.url), 'utf8');

  it('gives every code an HTTP error status and a message', () => {
    for (const [code, def] of Object.entries(ErrorCodes)) {
      assert.match(code, /^[A-Z][A-Z_]+$/);
      assert.ok(Number.isInteger(def.status) && def.status >= 400 && def.status <= 599, code);
      assert.ok(def.message.length > 5, code);
      const e = new RtkError(code as keyof typeof ErrorCodes);
      assert.equal(e.status, def.status);
      assert.equal(e.message, def.message);
    }
  });

  it('documents every code with its status in docs/api.md', () => {
    for (const [code, def] of Object.entries(ErrorCodes)) {
      const row = docs.split('\n').find((l) => l.startsWith('|') && l.includes(`\`${code}\``));
      assert.ok(row, `docs/api.md has a table row for ${code}`);
      assert.ok(row.includes(String(def.status)), `the ${code} row names status ${def.status}`);
    }
  });

  it('documents no code that the registry lacks', () => {
    const table = docs.slice(docs.indexOf('## Error codes'));
    const documented = [...table.matchAll(/^\| `([A-Z_]+)`/gm)].map((m) => m[1]);
    assert.ok(documented.length > 0);
    for (const c of documented) assert.ok(Object.hasOwn(ErrorCodes, c as string), `${c} is in errors.ts`);
  });

  it('turns an unknown error into 500 INTERNAL without leaking its message', () => {
    const e = toRtkError(new Error('secret internal detail /etc/passwd'), silentLogger);
    assert.equal(e.code, 'INTERNAL');
    assert.equal(e.status, 500);
    assert.doesNotMatch(e.message, /secret/);
  });

  it('turns a full disk (SQLITE_FULL, ENOSPC) into 507 INSUFFICIENT_STORAGE', () => {
    for (const code of ['SQLITE_FULL', 'ENOSPC']) {
      const e = toRtkError(
        Object.assign(new Error(`${code}: database or disk is full`), { code }),
        silentLogger,
      );
      assert.equal(e.code, 'INSUFFICIENT_STORAGE');
      assert.equal(e.status, 507);
      assert.match(e.message, /^Insufficient storage/);
    }
  });

  it('rebuilds an error crossing a boundary by its code; unknown codes become INTERNAL', () => {
    const e = RtkError.fromPayload(new RtkError('CONFLICT', 'busy', { a: 1 }).toPayload());
    assert.equal(e.code, 'CONFLICT');
    assert.equal(e.status, 409);
    assert.deepEqual(e.details, { a: 1 });
    assert.equal(RtkError.fromPayload({ code: 'WHAT', message: 'x' }).code, 'INTERNAL');
  });
});
