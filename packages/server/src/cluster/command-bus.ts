import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { type Logger, type ErrorPayload, RtkError } from '@trackroom/protocol';
import type { ClusterKeys } from './node-registry.js';

/** A request between nodes: JSON both ways; errors travel as `{ code, message, details }`. */
interface BusRequest {
  id: string;
  from: string;
  body: unknown;
}
type BusReply = { id: string; ok: true; result: unknown } | { id: string; ok: false; error: ErrorPayload };

export interface CommandBusOptions {
  /** Publishes requests and answers. */
  redis: Redis;
  /** A connection of its own for the subscription (a subscribed connection sends nothing else). */
  subscriber: Redis;
  keys: ClusterKeys;
  nodeId: string;
  /** How long a request waits for the answer before NODE_UNREACHABLE. */
  timeoutMs: number;
  /** Answers a request addressed to this node; a thrown RtkError reaches the caller by its code. */
  handle: (body: unknown, from: string) => Promise<unknown>;
  logger: Logger;
}

/**
 * Requests from one node to another over Redis pub/sub: published on the target's request channel
 * with an id, answered on the caller's reply channel. No answer in time (the node is gone or
 * stuck), or nobody subscribed: RtkError NODE_UNREACHABLE. A request is at most once: it is never
 * repeated, so a timed-out one may still have happened on the target.
 */
export class CommandBus {
  readonly #o: CommandBusOptions;
  readonly #waiting = new Map<
    string,
    { resolve: (v: unknown) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }
  >();
  #closed = false;

  constructor(options: CommandBusOptions) {
    this.#o = options;
  }

  async start(): Promise<void> {
    const { subscriber, keys, nodeId } = this.#o;
    subscriber.on('message', (channel: string, text: string) => {
      if (channel === keys.requests(nodeId)) this.#onRequest(text);
      else if (channel === keys.replies(nodeId)) this.#onReply(text);
    });
    await subscriber.subscribe(keys.requests(nodeId), keys.replies(nodeId));
  }

  /** Sends `body` to `nodeId` and resolves with its answer (or rejects with its error, rebuilt). */
  async request(nodeId: string, body: unknown): Promise<unknown> {
    if (this.#closed) throw new RtkError('NODE_UNREACHABLE', 'this server is shutting down');
    const req: BusRequest = { id: randomUUID(), from: this.#o.nodeId, body };
    const answer = new Promise<unknown>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiting.delete(req.id);
        reject(unreachable(nodeId, `did not answer within ${this.#o.timeoutMs} ms`));
      }, this.#o.timeoutMs);
      this.#waiting.set(req.id, { resolve, reject, timer });
    });
    const receivers = await this.#o.redis.publish(this.#o.keys.requests(nodeId), JSON.stringify(req));
    if (receivers === 0) {
      const w = this.#waiting.get(req.id);
      if (w) {
        clearTimeout(w.timer);
        this.#waiting.delete(req.id);
      }
      throw unreachable(nodeId, 'is not connected to the command bus');
    }
    return answer;
  }

  #onRequest(text: string): void {
    let req: BusRequest;
    try {
      req = JSON.parse(text) as BusRequest;
    } catch {
      this.#o.logger.warn({}, 'unreadable command bus request ignored');
      return;
    }
    void (async () => {
      let reply: BusReply;
      try {
        reply = { id: req.id, ok: true, result: await this.#o.handle(req.body, req.from) };
      } catch (err) {
        const e = err instanceof RtkError ? err : new RtkError('INTERNAL');
        if (!(err instanceof RtkError))
          this.#o.logger.error({ err, from: req.from }, 'command bus request failed');
        reply = { id: req.id, ok: false, error: e.toPayload() };
      }
      await this.#o.redis.publish(this.#o.keys.replies(req.from), JSON.stringify(reply));
    })().catch((err: unknown) => this.#o.logger.error({ err }, 'answering a command bus request failed'));
  }

  #onReply(text: string): void {
    let reply: BusReply;
    try {
      reply = JSON.parse(text) as BusReply;
    } catch {
      this.#o.logger.warn({}, 'unreadable command bus answer ignored');
      return;
    }
    const w = this.#waiting.get(reply.id);
    if (!w) return; // timed out already
    clearTimeout(w.timer);
    this.#waiting.delete(reply.id);
    if (reply.ok) w.resolve(reply.result);
    else w.reject(RtkError.fromPayload(reply.error));
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const [id, w] of this.#waiting) {
      clearTimeout(w.timer);
      w.reject(new RtkError('NODE_UNREACHABLE', 'this server is shutting down'));
      this.#waiting.delete(id);
    }
    await this.#o.subscriber.unsubscribe().catch(() => undefined);
  }
}

function unreachable(nodeId: string, what: string): RtkError {
  return new RtkError('NODE_UNREACHABLE', `The server ${nodeId} hosting this live session ${what}`, {
    node_id: nodeId,
  });
}
