import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** The key file, in DATA_DIR: 32 random bytes (base64), mode 0600, made on first use. */
export const SECRET_KEY_FILE = 'storage-secrets.key';

const VERSION = 'v1';

export class SecretBoxError extends Error {
  override readonly name = 'SecretBoxError';
}

/**
 * Encrypts storage credentials at rest with AES-256-GCM. The key lives in a file of DATA_DIR, not in
 * the database, so a copy of the database alone reveals no secret (each value is
 * `v1.<iv>.<tag>.<ciphertext>`, base64url, authenticated together with the field it belongs to).
 */
export class SecretBox {
  readonly #dir: string;
  #key: Buffer | undefined;

  constructor(dataDir: string) {
    this.#dir = dataDir;
  }

  #keyBytes(): Buffer {
    if (this.#key) return this.#key;
    const file = join(this.#dir, SECRET_KEY_FILE);
    if (!existsSync(file)) {
      // 'wx': two processes racing on first use cannot overwrite each other's key.
      try {
        writeFileSync(file, randomBytes(32).toString('base64') + '\n', { mode: 0o600, flag: 'wx' });
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
    }
    const key = Buffer.from(readFileSync(file, 'utf8').trim(), 'base64');
    if (key.length !== 32) throw new SecretBoxError(`${SECRET_KEY_FILE} does not hold a 32-byte key`);
    this.#key = key;
    return key;
  }

  /** `field` names what the value is (e.g. `secret`): a value moved to another field fails to open. */
  seal(plain: string, field: string): string {
    const iv = randomBytes(12);
    const c = createCipheriv('aes-256-gcm', this.#keyBytes(), iv);
    c.setAAD(Buffer.from(field));
    const ct = Buffer.concat([c.update(plain, 'utf8'), c.final()]);
    return [VERSION, iv, c.getAuthTag(), ct]
      .map((p) => (typeof p === 'string' ? p : p.toString('base64url')))
      .join('.');
  }

  open(sealed: string, field: string): string {
    const [v, iv, tag, ct] = sealed.split('.');
    if (v !== VERSION || !iv || !tag || ct === undefined) throw new SecretBoxError('not a sealed value');
    try {
      const d = createDecipheriv('aes-256-gcm', this.#keyBytes(), Buffer.from(iv, 'base64url'));
      d.setAAD(Buffer.from(field));
      d.setAuthTag(Buffer.from(tag, 'base64url'));
      return Buffer.concat([d.update(Buffer.from(ct, 'base64url')), d.final()]).toString('utf8');
    } catch {
      throw new SecretBoxError(`a stored ${field} cannot be decrypted (was ${SECRET_KEY_FILE} replaced?)`);
    }
  }
}
