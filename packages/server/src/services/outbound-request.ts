import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { LookupFunction } from 'node:net';
import type { OutboundPolicy } from './outbound-url.js';

export interface OutboundRequestOptions {
  method: string;
  headers: Record<string, string>;
  body?: string | Buffer;
  /** The whole exchange (resolve, connect, send, read the answer) must end within this. */
  timeoutMs: number;
  /** At most this much of the answer is read; the rest is dropped and the connection closed. */
  maxResponseBytes: number;
}

export interface OutboundResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  /** True when the answer was longer than maxResponseBytes. */
  truncated: boolean;
}

/**
 * One HTTP request to a URL a user gave the server, the safe way: the policy checks the URL and
 * the addresses its name resolves to now, and the socket connects to exactly that checked address
 * (a custom `lookup`, so the name is not resolved a second time: no DNS rebinding). Redirects are
 * never followed (a 3xx is returned as it is); the answer is bounded in size and the exchange in time.
 * Refusals reject with the policy's OutboundRefusedError; network errors reject as they come.
 */
export async function outboundRequest(
  policy: OutboundPolicy,
  url: string,
  o: OutboundRequestOptions,
): Promise<OutboundResponse> {
  const deadline = AbortSignal.timeout(o.timeoutMs);
  const target = await Promise.race([
    policy.resolve(url),
    new Promise<never>((_, reject) =>
      deadline.addEventListener('abort', () => reject(new Error(`timed out after ${o.timeoutMs} ms`)), {
        once: true,
      }),
    ),
  ]);
  const lookup: LookupFunction = (_hostname, options, cb) => {
    if ((options as { all?: boolean }).all) {
      (cb as unknown as (e: null, a: { address: string; family: number }[]) => void)(null, [
        { address: target.address, family: target.family },
      ]);
    } else cb(null, target.address, target.family);
  };
  const request = target.url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise<OutboundResponse>((resolve, reject) => {
    const req = request(
      target.url,
      {
        method: o.method,
        headers: o.headers,
        lookup,
        // No pooling: each request connects afresh to the address checked for it.
        agent: false,
        signal: deadline,
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        let truncated = false;
        res.on('data', (c: Buffer) => {
          if (truncated) return;
          const room = o.maxResponseBytes - size;
          if (c.length > room) {
            chunks.push(c.subarray(0, room));
            size += room;
            truncated = true;
            resolve({
              status: res.statusCode ?? 0,
              headers: res.headers,
              body: Buffer.concat(chunks),
              truncated,
            });
            res.destroy();
            return;
          }
          chunks.push(c);
          size += c.length;
        });
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks),
            truncated,
          }),
        );
        res.on('error', (e) => {
          if (!truncated) reject(e);
        });
      },
    );
    req.on('error', (e) => {
      reject(deadline.aborted ? new Error(`timed out after ${o.timeoutMs} ms`) : e);
    });
    req.end(o.body);
  });
}
