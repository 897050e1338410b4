import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import type { Repository } from '../store/repository.js';

/** The RSA key that signs webhook bodies; made once and kept in the store so receivers can pin it. */
export class WebhookSigningKey {
  readonly #privateKey: KeyObject;
  readonly publicKeyPem: string;

  private constructor(privatePem: string) {
    this.#privateKey = createPrivateKey(privatePem);
    this.publicKeyPem = createPublicKey(this.#privateKey).export({ type: 'spki', format: 'pem' }).toString();
  }

  static async load(repo: Repository): Promise<WebhookSigningKey> {
    let pem = await repo.getSetting('webhook_private_key');
    if (!pem) {
      const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
      pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
      await repo.setSetting('webhook_private_key', pem);
    }
    return new WebhookSigningKey(pem);
  }

  /** base64 RSA-SHA256 over the exact body bytes. */
  sign(body: string): string {
    return sign('RSA-SHA256', Buffer.from(body), this.#privateKey).toString('base64');
  }
}
