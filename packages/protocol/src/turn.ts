/**
 * TURN relays: the configuration the control plane hands to its media workers (plain data, it
 * crosses the process boundary) and the parser of `turn:` / `turns:` URLs (RFC 7065) both sides use.
 * Credentials are made per peer by the SFU (`@trackroom/sfu`'s TurnCredentials); nothing here does
 * crypto, so the browser SDK can import this package.
 */
import { RtkError } from './errors.js';

/** How TURN credentials are obtained. */
export type TurnAuth =
  /** One username and password for everyone (coturn `user=` / `lt-cred-mech`). */
  | { readonly type: 'static'; readonly username: string; readonly credential: string }
  /**
   * coturn's TURN REST API (`use-auth-secret` + `static-auth-secret`): username
   * `<expiry unix seconds>:<id>`, credential base64(HMAC-SHA1(secret, username)).
   */
  | { readonly type: 'secret'; readonly secret: string; readonly ttlSeconds: number };

export interface TurnConfig {
  /** `turn:` / `turns:` URLs, as browsers take them in `RTCIceServer.urls`. */
  readonly urls: readonly string[];
  readonly auth: TurnAuth;
}

export type TurnTransport = 'udp' | 'tcp' | 'tls';

/** A parsed TURN URL. */
export interface TurnUrl {
  readonly url: string;
  /** Host name or address (IPv6 without brackets). */
  readonly host: string;
  readonly port: number;
  /** `turns:` is TLS over TCP; `turn:` is UDP unless `?transport=tcp`. */
  readonly transport: TurnTransport;
}

const URL_RE = /^(turns?):(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(?::(\d{1,5}))?(?:\?transport=(udp|tcp))?$/;

/**
 * Parses one `turn:host[:port][?transport=udp|tcp]` or `turns:host[:port][?transport=tcp]` URL.
 * Credentials never go in the URL (RFC 7065 has no user part).
 * @throws RtkError VALIDATION_FAILED naming what is wrong
 */
export function parseTurnUrl(url: string): TurnUrl {
  const m = URL_RE.exec(url);
  if (!m) {
    const hint = /^turns?:[^?]*@/.test(url)
      ? ' (put credentials in TURN_USERNAME/TURN_CREDENTIAL or TURN_SECRET, not in the URL)'
      : /^stuns?:/.test(url)
        ? ' (only turn: and turns: URLs are relays)'
        : '';
    throw new RtkError(
      'VALIDATION_FAILED',
      `"${url}" is not a TURN URL of the form turn:host[:port][?transport=udp|tcp] or turns:host[:port]${hint}`,
      { field: 'url' },
    );
  }
  const secure = m[1] === 'turns';
  const hostPart = m[2] as string;
  const host = hostPart.startsWith('[') ? hostPart.slice(1, -1) : hostPart;
  const port = m[3] === undefined ? (secure ? 5349 : 3478) : Number(m[3]);
  if (port < 1 || port > 65535)
    throw new RtkError('VALIDATION_FAILED', `"${url}": port must be 1..65535`, { field: 'url' });
  if (secure && m[4] === 'udp')
    throw new RtkError('VALIDATION_FAILED', `"${url}": turns: runs over TLS on TCP, not UDP`, {
      field: 'url',
    });
  const transport: TurnTransport = secure ? 'tls' : m[4] === 'tcp' ? 'tcp' : 'udp';
  return { url, host, port, transport };
}
