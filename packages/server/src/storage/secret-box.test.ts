import assert from 'node:assert/strict';
import { mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { SECRET_KEY_FILE, SecretBox, SecretBoxError } from './secret-box.js';

describe('SecretBox', () => {
  const dir = () => mkdtempSync(join(tmpdir(), 'secret-box-'));

  it('seals with a key file made on first use (0600); the sealed text does not contain the secret', () => {
    const d = dir();
    const box = new SecretBox(d);
    const sealed = box.seal('my-very-secret-value', 'secret');
    assert.match(sealed, /^v1\.[\w-]+\.[\w-]+\.[\w-]+$/);
    assert.ok(!sealed.includes('my-very-secret-value'));
    assert.equal(statSync(join(d, SECRET_KEY_FILE)).mode & 0o777, 0o600);
    assert.equal(
      new SecretBox(d).open(sealed, 'secret'),
      'my-very-secret-value',
      'the same key after a restart',
    );
    assert.notEqual(box.seal('my-very-secret-value', 'secret'), sealed, 'a fresh IV each time');
  });

  it('a database copy without the key file reveals nothing; a value moved to another field does not open', () => {
    const sealed = new SecretBox(dir()).seal('s3cr3t', 'secret');
    assert.throws(() => new SecretBox(dir()).open(sealed, 'secret'), SecretBoxError);
    const d = dir();
    const box = new SecretBox(d);
    assert.throws(() => box.open(box.seal('s3cr3t', 'secret'), 'access_key'), SecretBoxError);
    const [v, iv, tag, ct] = box.seal('s3cr3t', 'secret').split('.');
    // Change the second-to-last character (whole bits of the ciphertext) to a different one.
    const at = ct!.length - 2;
    const flipped = `${v}.${iv}.${tag}.${ct!.slice(0, at)}${ct![at] === 'A' ? 'B' : 'A'}${ct!.slice(at + 1)}`;
    assert.notEqual(flipped, `${v}.${iv}.${tag}.${ct}`);
    assert.throws(() => box.open(flipped, 'secret'), SecretBoxError, 'tampering is detected');
  });
});
