/**
 * A real HTTP webhook receiver on 127.0.0.1 that keeps every delivery with its raw body, and the
 * check a RealtimeKit receiver does: the public key from `GET /.well-known/webhooks.json`
 * (`data.publicKey`), then RSA-SHA256 over the exact body bytes against `rtk-signature`.
 */
import { verify } from 'node:crypto';
import { createServer, type Server } from 'node:http';

export interface Delivery {
  headers: Record<string, string | string[] | undefined>;
  /** The body exactly as received. */
  bytes: Buffer;
  raw: string;
  body: { event: string } & Record<string, unknown>;
}

export interface WebhookReceiver {
  url: string;
  deliveries: Delivery[];
  /** Resolves with the first delivery (past or future) matching `pred`. */
  waitFor(pred: (d: Delivery) => boolean, timeoutMs?: number): Promise<Delivery>;
  close(): Promise<void>;
}

export async function startWebhookReceiver(): Promise<WebhookReceiver> {
  const deliveries: Delivery[] = [];
  const waiters = new Set<() => void>();
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const bytes = Buffer.concat(chunks);
      const raw = bytes.toString('utf8');
      deliveries.push({ headers: req.headers, bytes, raw, body: JSON.parse(raw) as Delivery['body'] });
      res.writeHead(200).end('ok');
      for (const w of [...waiters]) w();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return {
    url: `http://127.0.0.1:${port}/hook`,
    deliveries,
    waitFor(pred, timeoutMs = 15_000) {
      const found = deliveries.find(pred);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => {
          waiters.delete(check);
          reject(
            new Error(
              `no matching webhook within ${timeoutMs} ms; got ${deliveries.map((d) => d.body.event).join(', ')}`,
            ),
          );
        }, timeoutMs);
        const check = () => {
          const d = deliveries.find(pred);
          if (!d) return;
          clearTimeout(t);
          waiters.delete(check);
          resolve(d);
        };
        waiters.add(check);
      });
    },
    close: () => new Promise((r) => server.close(() => r())),
  };
}

/**
 * The webhook public key as a RealtimeKit receiver reads it: `data.publicKey` of
 * `{ success: true, data: { publicKey }, message }`. Throws naming what is wrong otherwise.
 */
export async function fetchWebhookPublicKey(baseUrl: string): Promise<string> {
  const res = await fetch(`${baseUrl}/.well-known/webhooks.json`);
  const body = (await res.json()) as { success?: unknown; data?: { publicKey?: unknown } };
  if (res.status !== 200) throw new Error(`webhooks.json answered ${res.status}: ${JSON.stringify(body)}`);
  const key = body.data?.publicKey;
  if (body.success !== true || typeof key !== 'string' || !key.startsWith('-----BEGIN PUBLIC KEY-----')) {
    throw new Error(`webhooks.json has no data.publicKey PEM: ${JSON.stringify(body)}`);
  }
  return key;
}

/** Whether `rtk-signature` (base64 RSA-SHA256) verifies over the exact body bytes with `publicKey`. */
export function webhookSignatureValid(
  publicKey: string,
  body: Buffer,
  headers: Record<string, string | string[] | undefined>,
): boolean {
  const sig = headers['rtk-signature'];
  if (typeof sig !== 'string' || sig === '') return false;
  return verify('RSA-SHA256', body, publicKey, Buffer.from(sig, 'base64'));
}
