import { createHmac, timingSafeEqual } from 'node:crypto';
import { RtkError } from '@trackroom/protocol';

/**
 * Signed, expiring download links: `/v1/downloads/<recordingId>/<fileName>?expires=<unix s>&sig=<hmac>`.
 * The signature covers the recording id, the file name and the expiry, so no part can be changed.
 */
export class UrlSigner {
  readonly #secret: Buffer;
  constructor(secret: Buffer) {
    this.#secret = secret;
  }

  #mac(recordingId: string, fileName: string, expires: number): Buffer {
    return createHmac('sha256', this.#secret).update(`dl\n${recordingId}\n${fileName}\n${expires}`).digest();
  }

  sign(baseUrl: string, recordingId: string, fileName: string, expiresAtMs: number): string {
    const expires = Math.floor(expiresAtMs / 1000);
    const sig = this.#mac(recordingId, fileName, expires).toString('base64url');
    return `${baseUrl}/v1/downloads/${encodeURIComponent(recordingId)}/${encodeURIComponent(fileName)}?expires=${expires}&sig=${sig}`;
  }

  verify(recordingId: string, fileName: string, expires: unknown, sig: unknown, nowMs = Date.now()): void {
    if (typeof expires !== 'string' || !/^\d{1,12}$/.test(expires) || typeof sig !== 'string') {
      throw new RtkError('LINK_INVALID', 'Download link is missing expires or sig');
    }
    const expected = this.#mac(recordingId, fileName, Number(expires));
    const given = Buffer.from(sig, 'base64url');
    if (given.length !== expected.length || !timingSafeEqual(given, expected))
      throw new RtkError('LINK_INVALID');
    if (Number(expires) * 1000 <= nowMs) throw new RtkError('LINK_EXPIRED');
  }
}
