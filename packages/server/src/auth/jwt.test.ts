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

  it('issues an HS256 JWT scoped to one participant of one meeting of one app', () => {
    const t = tokens.issue('app', 'meeting', 'participant', now);
    const [h, b] = t.split('.');
    assert.deepEqual(JSON.parse(Buffer.from(h!, 'base64url').toString()), { alg: 'HS256', typ: 'JWT' });
    const c = tokens.verify(t, now);
    assert.deepEqual(c, {
      aid: 'app',
      mid: 'meeting',
      pid: 'participant',
      iat: now / 1000,
      exp: now / 1000 + 3600,
      typ: 'participant',
    });
    assert.deepEqual(JSON.parse(Buffer.from(b!, 'base64url').toString()), c);
  });

  it('expires exactly at exp', () => {
    const t = tokens.issue('a', 'm', 'p', now);
    assert.doesNotThrow(() => tokens.verify(t, now + 3600_000 - 1));
    assert.throws(() => tokens.verify(t, now + 3600_000), { code: 'TOKEN_EXPIRED', status: 401 });
  });

  it('refuses a token signed with another secret', () => {
    const other = new ParticipantTokens(randomBytes(32), 3600);
    assert.throws(() => tokens.verify(other.issue('a', 'm', 'p', now), now), { code: 'TOKEN_INVALID' });
  });

  it('refuses any change to header, claims or signature', () => {
    const t = tokens.issue('a', 'm', 'p', now);
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
    for (const f of forged) assert.throws(() => tokens.verify(f, now), { code: 'TOKEN_INVALID' }, f);
  });

  it('refuses a correctly signed value of the wrong kind or with wrong claims', () => {
    const head = b64({ alg: 'HS256', typ: 'JWT' });
    const base = { aid: 'a', mid: 'm', pid: 'p', iat: 1, exp: now / 1000 + 10 };
    for (const claims of [
      { ...base, typ: 'download' },
      { ...base }, // no typ
      { ...base, typ: 'participant', pid: 5 },
      { ...base, typ: 'participant', exp: 'later' },
    ]) {
      assert.throws(() => tokens.verify(signWith(secret, head, b64(claims)), now), { code: 'TOKEN_INVALID' });
    }
    const badAlg = b64({ alg: 'HS512', typ: 'JWT' });
    assert.throws(() => tokens.verify(signWith(secret, badAlg, b64({ ...base, typ: 'participant' })), now), {
      code: 'TOKEN_INVALID',
    });
    const notJson = Buffer.from('{nope').toString('base64url');
    assert.throws(() => tokens.verify(signWith(secret, head, notJson), now), { code: 'TOKEN_INVALID' });
  });

  it('never accepts a random string (property)', () => {
    fc.assert(
      fc.property(fc.string(), (s) => {
        assert.throws(() => tokens.verify(s, now), { code: 'TOKEN_INVALID' });
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
