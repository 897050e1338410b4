import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { ParticipantTokens, adminTokenMatches } from './jwt.js';

const secret = randomBytes(32);
const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
const signWith = (key: Buffer, head: string, body: string) =>
  `${head}.${body}.${createHmac('sha256', key).update(`${head}.${body}`).digest('base64url')}`;

describe('ParticipantTokens', () => {
  const tokens = new ParticipantTokens(secret, 3600);
  const now = Date.UTC(2025, 5, 1);

  it('issues an HS256 JWT scoped to one participant of one meeting of one app', async () => {
    const t = await tokens.issue('app', 'meeting', 'participant', now);
    const [h, b] = t.split('.');
    assert.deepEqual(JSON.parse(Buffer.from(h!, 'base64url').toString()), { alg: 'HS256', typ: 'JWT' });
    const c = await tokens.verify(t, now);
    assert.match(c.jti, /^[0-9a-f-]{36}$/);
    assert.deepEqual(c, {
      aid: 'app',
      mid: 'meeting',
      pid: 'participant',
      iat: now / 1000,
      exp: now / 1000 + 3600,
      jti: c.jti,
      typ: 'participant',
    });
    assert.deepEqual(JSON.parse(Buffer.from(b!, 'base64url').toString()), c);
  });

  it('issues a different token on every call, even in the same millisecond; all of them verify', async () => {
    const issued = await Promise.all([1, 2, 3].map(() => tokens.issue('a', 'm', 'p', now)));
    assert.equal(new Set(issued).size, 3);
    const claims = await Promise.all(issued.map((t) => tokens.verify(t, now)));
    assert.equal(new Set(claims.map((c) => c.jti)).size, 3);
    for (const c of claims) assert.equal(c.pid, 'p');
  });

  it('expires exactly at exp', async () => {
    const t = await tokens.issue('a', 'm', 'p', now);
    await assert.doesNotReject(tokens.verify(t, now + 3600_000 - 1));
    await assert.rejects(tokens.verify(t, now + 3600_000), { code: 'TOKEN_EXPIRED', status: 401 });
  });

  it('refuses a token signed with another secret', async () => {
    const other = new ParticipantTokens(randomBytes(32), 3600);
    await assert.rejects(tokens.verify(await other.issue('a', 'm', 'p', now), now), {
      code: 'TOKEN_INVALID',
    });
  });

  it('refuses any change to header, claims or signature', async () => {
    const t = await tokens.issue('a', 'm', 'p', now);
    const [h, b, s] = t.split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(b, 'base64url').toString()) as Record<string, unknown>;
    const forged = [
      `${h}.${b64({ ...claims, pid: 'someone-else' })}.${s}`,
      `${h}.${b64({ ...claims, exp: (claims.exp as number) + 1e6 })}.${s}`,
      `${b64({ alg: 'none', typ: 'JWT' })}.${b}.${s}`,
      `${b64({ alg: 'none', typ: 'JWT' })}.${b}.`,
      `${h}.${b}.`,
      `${h}.${b}`,
      `${h}.${b}.${s}.extra`,
      '',
      'not a jwt',
    ];
    for (const f of forged) await assert.rejects(tokens.verify(f, now), { code: 'TOKEN_INVALID' }, f);
  });

  it('refuses a correctly signed value of the wrong kind or with wrong claims', async () => {
    const head = b64({ alg: 'HS256', typ: 'JWT' });
    const base = { aid: 'a', mid: 'm', pid: 'p', iat: 1, exp: now / 1000 + 10, jti: 'j' };
    // The control: these claims, signed so, are accepted; each case below breaks one thing.
    const control = await tokens.verify(signWith(secret, head, b64({ ...base, typ: 'participant' })), now);
    assert.equal(control.pid, 'p');
    for (const claims of [
      { ...base, typ: 'download' },
      { ...base }, // no typ
      { ...base, typ: 'participant', pid: 5 },
      { ...base, typ: 'participant', exp: 'later' },
      { ...base, typ: 'participant', jti: undefined },
    ]) {
      await assert.rejects(tokens.verify(signWith(secret, head, b64(claims)), now), {
        code: 'TOKEN_INVALID',
      });
    }
    const badAlg = b64({ alg: 'HS512', typ: 'JWT' });
    await assert.rejects(tokens.verify(signWith(secret, badAlg, b64({ ...base, typ: 'participant' })), now), {
      code: 'TOKEN_INVALID',
    });
    const notJson = Buffer.from('{nope').toString('base64url');
    await assert.rejects(tokens.verify(signWith(secret, head, notJson), now), { code: 'TOKEN_INVALID' });
  });

  it('never accepts a random string (property)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.string(), async (s) => {
        await assert.rejects(tokens.verify(s, now), { code: 'TOKEN_INVALID' });
      }),
    );
  });
});

describe('adminTokenMatches', () => {
  const token = 'the-admin-token-123456';
  it('accepts only Bearer with the exact token', () => {
    assert.equal(adminTokenMatches(token, `Bearer ${token}`), true);
    assert.equal(adminTokenMatches(token, `bearer ${token}`), true);
    assert.equal(adminTokenMatches(token, `Bearer  ${token} `), true);
    for (const h of [
      undefined,
      '',
      token,
      `Basic ${token}`,
      `Bearer ${token}x`,
      `Bearer ${token.slice(1)}`,
      `Bearer ${token} extra`,
      'Bearer',
    ]) {
      assert.equal(adminTokenMatches(token, h), false, String(h));
    }
  });
});
