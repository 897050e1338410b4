/**
 * TURN credentials per peer from the configured relays: the browser's `iceServers` for `joined`, and
 * the relays the SFU's own peer connections may use. With coturn's TURN REST API (shared secret) each
 * call makes a fresh short-lived credential, username `<expiry unix seconds>:<id>`; static credentials
 * are handed out as configured. The secret itself never leaves this object.
 */
import { createHmac } from 'node:crypto';
import { parseTurnUrl } from '@trackroom/protocol';
import type { IceServerInfo, TurnConfig, TurnUrl } from '@trackroom/protocol';

/** A relay for the SFU's own side, with the credential to use on it. */
export interface TurnRelay extends TurnUrl {
  username: string;
  credential: string;
}

export interface TurnCredentialsOptions {
  /** The clock (ms since the epoch); default `Date.now`. */
  now?: () => number;
}

/** coturn's TURN REST API credential for `username` (base64 of HMAC-SHA1 with the shared secret). */
export function turnRestCredential(secret: string, username: string): string {
  return createHmac('sha1', secret).update(username).digest('base64');
}

export class TurnCredentials {
  readonly #config: TurnConfig | undefined;
  readonly #urls: readonly TurnUrl[];
  readonly #now: () => number;

  constructor(config: TurnConfig | undefined, opts: TurnCredentialsOptions = {}) {
    this.#config = config && config.urls.length > 0 ? config : undefined;
    this.#urls = this.#config ? this.#config.urls.map((u) => parseTurnUrl(u)) : [];
    this.#now = opts.now ?? Date.now;
  }

  /** Whether any relay is configured. */
  get configured(): boolean {
    return this.#config !== undefined;
  }

  /** The parsed relay URLs (no credentials). */
  get urls(): readonly TurnUrl[] {
    return this.#urls;
  }

  /** A credential for `id` (a peer id, or a label of the SFU's own connection). */
  credential(id: string): { username: string; credential: string; expiresAt?: number } {
    const auth = this.#config?.auth;
    if (!auth) throw new Error('no TURN relay is configured');
    if (auth.type === 'static') return { username: auth.username, credential: auth.credential };
    const expiresAt = Math.floor(this.#now() / 1000) + auth.ttlSeconds;
    const username = `${expiresAt}:${id}`;
    return { username, credential: turnRestCredential(auth.secret, username), expiresAt };
  }

  /** The `iceServers` of `joined` for peer `peerId`: one entry with every URL ([] without TURN). */
  forPeer(peerId: string): IceServerInfo[] {
    if (!this.#config) return [];
    const { username, credential } = this.credential(peerId);
    return [{ urls: [...this.#config.urls], username, credential }];
  }

  /** Relays for the SFU's own connection `label`, all sharing one credential. */
  relays(label: string): TurnRelay[] {
    if (!this.#config) return [];
    const c = this.credential(label);
    return this.#urls.map((u) => ({ ...u, username: c.username, credential: c.credential }));
  }
}
