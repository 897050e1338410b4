import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { UrlSigner } from './signed-urls.js';

describe('UrlSigner', () => {
  const signer = new UrlSigner(randomBytes(32));
  const id = '4b0c5a2e-1c1e-4c55-9a53-1d3f4a3c2b10';
  const now = Date.UTC(2025, 0, 1);
  const parse = (url: string) => {
    const u = new URL(url);
    return { path: u.pathname, expires: u.searchParams.get('expires')!, sig: u.searchParams.get('sig')! };
  };

  it('signs a link that verifies until it expires', () => {
    const link = signer.sign('http://h:1', id, 'a.webm', now + 60_000);
    const { path, expires, sig } = parse(link);
    assert.equal(path, `/v1/downloads/${id}/a.webm`);
    assert.equal(expires, String((now + 60_000) / 1000));
    assert.doesNotThrow(() => signer.verify(id, 'a.webm', expires, sig, now));
    assert.doesNotThrow(() => signer.verify(id, 'a.webm', expires, sig, now + 59_999));
    assert.throws(() => signer.verify(id, 'a.webm', expires, sig, now + 60_000), {
      code: 'LINK_EXPIRED',
      status: 403,
    });
  });

  it('binds the recording, the file and the expiry', () => {
    const { expires, sig } = parse(signer.sign('http://h:1', id, 'a.webm', now + 60_000));
    const other = id.replace(/^4/, '5');
    assert.throws(() => signer.verify(other, 'a.webm', expires, sig, now), { code: 'LINK_INVALID' });
    assert.throws(() => signer.verify(id, 'b.webm', expires, sig, now), { code: 'LINK_INVALID' });
    assert.throws(() => signer.verify(id, 'a.webm', String(Number(expires) + 1), sig, now), {
      code: 'LINK_INVALID',
    });
    assert.throws(() => signer.verify(id, 'a.webm', expires, sig.slice(0, -1), now), {
      code: 'LINK_INVALID',
    });
    assert.throws(() => signer.verify(id, 'a.webm', expires, 'x'.repeat(43), now), { code: 'LINK_INVALID' });
  });

  it('refuses links signed by another server or missing parts (wrong kind of value)', () => {
    const theirs = new UrlSigner(randomBytes(32));
    const { expires, sig } = parse(theirs.sign('http://h:1', id, 'a.webm', now + 60_000));
    assert.throws(() => signer.verify(id, 'a.webm', expires, sig, now), { code: 'LINK_INVALID' });
    for (const [e, s] of [
      [undefined, sig],
      [expires, undefined],
      ['soon', sig],
      ['-1', sig],
      ['1e10', sig],
      [['1'], sig],
    ] as const) {
      assert.throws(() => signer.verify(id, 'a.webm', e, s, now), { code: 'LINK_INVALID' });
    }
  });
});
