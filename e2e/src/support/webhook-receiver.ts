/** A real HTTP webhook receiver on 127.0.0.1 that keeps every delivery with its raw body. */
import { createServer, type Server } from 'node:http';

export interface Delivery {
  headers: Record<string, string | string[] | undefined>;
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
      const raw = Buffer.concat(chunks).toString('utf8');
      deliveries.push({ headers: req.headers, raw, body: JSON.parse(raw) as Delivery['body'] });
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
