import { randomUUID, timingSafeEqual, webcrypto } from 'node:crypto';
import { SignJWT, errors as joseErrors, jwtVerify } from 'jose';
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
  /** Unique token id, so that two tokens issued in the same second still differ. */
  jti: string;
  /** Token kind, so that no other signed value can be replayed as a participant token. */
  typ: 'participant';
}

const ALG = 'HS256';

/** HS256 JSON Web Tokens with a server secret, signed and verified by `jose`. */
export class ParticipantTokens {
  /** Imported once: handing jose raw bytes makes it import the key again on every call. */
  readonly #key: Promise<webcrypto.CryptoKey>;
  readonly #ttlSeconds: number;

  constructor(secret: Buffer, ttlSeconds: number) {
    this.#key = webcrypto.subtle.importKey(
      'raw',
      new Uint8Array(secret),
      { name: 'HMAC', hash: 'SHA-256' },
      false,
      ['sign', 'verify'],
    );
    this.#ttlSeconds = ttlSeconds;
  }

  async issue(appId: string, meetingId: string, participantId: string, nowMs = Date.now()): Promise<string> {
    const iat = Math.floor(nowMs / 1000);
    return new SignJWT({ aid: appId, mid: meetingId, pid: participantId, typ: 'participant' })
      .setProtectedHeader({ alg: ALG, typ: 'JWT' })
      .setIssuedAt(iat)
      .setExpirationTime(iat + this.#ttlSeconds)
      .setJti(randomUUID())
      .sign(await this.#key);
  }

  /** Verifies signature, algorithm, kind and expiry; throws TOKEN_INVALID or TOKEN_EXPIRED. */
  async verify(token: string, nowMs = Date.now()): Promise<ParticipantClaims> {
    if (typeof token !== 'string') throw new RtkError('TOKEN_INVALID', 'Participant token is not a JWT');
    let payload: Record<string, unknown>;
    try {
      ({ payload } = await jwtVerify(token, await this.#key, {
        algorithms: [ALG],
        currentDate: new Date(nowMs),
        requiredClaims: ['exp', 'iat', 'jti'],
      }));
    } catch (err) {
      if (err instanceof joseErrors.JWTExpired) throw new RtkError('TOKEN_EXPIRED');
      if (err instanceof joseErrors.JWSSignatureVerificationFailed)
        throw new RtkError('TOKEN_INVALID', 'Participant token signature is invalid');
      throw new RtkError('TOKEN_INVALID', 'Participant token is malformed');
    }
    if (
      payload.typ !== 'participant' ||
      typeof payload.aid !== 'string' ||
      typeof payload.mid !== 'string' ||
      typeof payload.pid !== 'string' ||
      typeof payload.jti !== 'string'
    ) {
      throw new RtkError('TOKEN_INVALID', 'Participant token has the wrong claims');
    }
    return payload as unknown as ParticipantClaims;
  }
}

/** Constant-time comparison of the admin bearer token. */
export function adminTokenMatches(expected: string | readonly string[], header: string | undefined): boolean {
  if (!header) return false;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (!m) return false;
  const a = Buffer.from(m[1] as string);
  // Every listed token is compared (no early exit), so timing does not tell which one matched.
  let ok = false;
  for (const t of typeof expected === 'string' ? [expected] : expected) {
    const b = Buffer.from(t);
    if (a.length === b.length && timingSafeEqual(a, b)) ok = true;
  }
  return ok;
}
