/** An HTTP request replayed on the node that hosts what it acts on. */
export interface ForwardedRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
  body?: string;
}
export interface ForwardedAnswer {
  status: number;
  contentType: string;
  body: string;
}

/** Where a joining participant's meeting is hosted. */
export type Hosting = { here: true } | { here: false; nodeId: string; nodeUrl: string };

/** The header a forwarded request carries (the receiving node never forwards it again). */
export const FORWARDED_HEADER = 'x-trackroom-forwarded-by';

/**
 * When the first node received a forwarded request (epoch ms): a stop, pause or allowlist change
 * takes effect at that instant on the hosting node, not when the command bus delivered it.
 */
export const ASKED_AT_HEADER = 'x-trackroom-asked-at';

/** How far back a forwarded instant is believed; older (or unparsable) falls back to `receivedAtMs`. */
export const ASKED_AT_MAX_AGE_MS = 60_000;

/**
 * The instant a request asks its action for: when a forwarded request was first received (clamped
 * to now, for a node whose clock runs ahead), otherwise when this node received it.
 */
export function askedAtMs(
  headers: Record<string, string | string[] | undefined>,
  receivedAtMs: number,
  nowMs: number,
): number {
  const v = headers[ASKED_AT_HEADER];
  if (headers[FORWARDED_HEADER] === undefined || typeof v !== 'string' || !/^\d{1,15}$/.test(v))
    return receivedAtMs;
  const at = Number(v);
  if (at < nowMs - ASKED_AT_MAX_AGE_MS) return receivedAtMs;
  return Math.min(at, nowMs);
}
