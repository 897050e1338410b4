import { createHmac, timingSafeEqual } from 'node:crypto';
import { RtkError } from '@trackroom/protocol';

/** Claims of a participant token: scoped to one participant of one meeting of one app. */
export interface ParticipantClaims {
  /** App id. */
  aid: string;
  /** Meeting id. */
  mid: string;
  /** Participant id. */
  pid: string;
  /** Issued at, seconds. */
  iat: number;
  /** Expiry, seconds. */
  exp: number;
  /** Token kind, so that no other signed value can be replayed as a participant token. */
  typ: 'participant';
}

const b64 = (b: Buffer | string) => Buffer.from(b).toString('base64url');

/** HS256 JSON Web Tokens with a server secret. */
export class ParticipantTokens {
  readonly #secret: Buffer;
  readonly #ttlSeconds: number;

  constructor(secret: Buffer, ttlSeconds: number) {
    this.#secret = secret;
    this.#ttlSeconds = ttlSeconds;
  }

  issue(appId: string, meetingId: string, participantId: string, nowMs = Date.now()): string {
    const iat = Math.floor(nowMs / 1000);
    const claims: ParticipantClaims = {
      aid: appId,
      mid: meetingId,
      pid: participantId,
      iat,
      exp: iat + this.#ttlSeconds,
      typ: 'participant',
    };
    const head = b64(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
    const body = b64(JSON.stringify(claims));
    const sig = createHmac('sha256', this.#secret).update(`${head}.${body}`).digest('base64url');
    return `${head}.${body}.${sig}`;
  }

  /** Verifies signature, kind and expiry; throws TOKEN_INVALID or TOKEN_EXPIRED. */
  verify(token: string, nowMs = Date.now()): ParticipantClaims {
    const parts = typeof token === 'string' ? token.split('.') : [];
    if (parts.length !== 3) throw new RtkError('TOKEN_INVALID', 'Participant token is not a JWT');
    const [head, body, sig] = parts as [string, string, string];
    const expected = createHmac('sha256', this.#secret).update(`${head}.${body}`).digest();
    const given = Buffer.from(sig, 'base64url');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      throw new RtkError('TOKEN_INVALID', 'Participant token signature is invalid');
    }
    let claims: ParticipantClaims;
    try {
      const header = JSON.parse(Buffer.from(head, 'base64url').toString('utf8')) as { alg?: unknown };
      if (header.alg !== 'HS256') throw new Error('alg');
      claims = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as ParticipantClaims;
    } catch {
      throw new RtkError('TOKEN_INVALID', 'Participant token is malformed');
    }
    if (
      claims.typ !== 'participant' ||
      typeof claims.aid !== 'string' ||
      typeof claims.mid !== 'string' ||
      typeof claims.pid !== 'string' ||
      typeof claims.exp !== 'number'
    ) {
      throw new RtkError('TOKEN_INVALID', 'Participant token has the wrong claims');
    }
    if (claims.exp * 1000 <= nowMs) throw new RtkError('TOKEN_EXPIRED');
    return claims;
  }
}

/** Constant-time comparison of the admin bearer token. */
export function adminTokenMatches(expected: string, header: string | undefined): boolean {
  if (!header) return false;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (!m) return false;
  const a = Buffer.from(m[1] as string);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}
