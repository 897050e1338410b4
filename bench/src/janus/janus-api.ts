/**
 * A small client of Janus's HTTP API (create a session, attach handles, send plugin messages and
 * receive their asynchronous events by long polling), enough for the VideoRoom plugin. One session
 * can hold many handles: a load-generator process uses one session for all its publishers, so there
 * is one long poll per process.
 */
import { randomUUID } from 'node:crypto';

export interface Jsep {
  type: 'offer' | 'answer';
  sdp: string;
}

/** A message from Janus (a reply, or an event from the long poll). */
export interface JanusMessage {
  janus: string;
  transaction?: string;
  session_id?: number;
  sender?: number;
  data?: { id: number };
  plugindata?: { plugin: string; data: Record<string, unknown> };
  jsep?: Jsep;
  error?: { code: number; reason: string };
}

export class JanusApiError extends Error {
  constructor(
    readonly code: number,
    reason: string,
  ) {
    super(`janus error ${code}: ${reason}`);
    this.name = 'JanusApiError';
  }
}

/** The plugin's own error inside a successful reply (`videoroom: "event", error_code`). */
function pluginError(m: JanusMessage): Error | undefined {
  const d = m.plugindata?.data;
  if (d && typeof d.error_code === 'number') return new JanusApiError(d.error_code, String(d.error));
  return undefined;
}

export class JanusSession {
  readonly url: string;
  readonly id: number;
  /** Transactions waiting for their asynchronous event. */
  readonly #pending = new Map<string, { resolve: (m: JanusMessage) => void; reject: (e: Error) => void }>();
  readonly #listeners = new Map<number, (m: JanusMessage) => void>();
  #closed = false;
  #keepalive: NodeJS.Timeout | undefined;

  private constructor(url: string, id: number) {
    this.url = url;
    this.id = id;
  }

  static async create(url: string): Promise<JanusSession> {
    const r = await post(url, { janus: 'create', transaction: randomUUID() });
    if (r.janus !== 'success' || !r.data) throw new JanusApiError(r.error?.code ?? 0, JSON.stringify(r));
    const s = new JanusSession(url, r.data.id);
    // Runs until close(); it never rejects (errors are retried inside).
    void s.#longPoll();
    // The long poll keeps the session alive too; an explicit keepalive well inside the 60 s timeout
    // covers a poll that is slow to come back.
    s.#keepalive = setInterval(() => {
      void post(`${url}/${s.id}`, { janus: 'keepalive', transaction: randomUUID() }).catch(() => undefined);
    }, 20_000);
    return s;
  }

  /** Attaches a handle of `plugin`; events for it go to `onEvent` (webrtcup, media, hangup, ...). */
  async attach(plugin: string, onEvent?: (m: JanusMessage) => void): Promise<number> {
    const r = await this.#send('', { janus: 'attach', plugin });
    if (r.janus !== 'success' || !r.data) throw new JanusApiError(r.error?.code ?? 0, JSON.stringify(r));
    if (onEvent) this.#listeners.set(r.data.id, onEvent);
    return r.data.id;
  }

  /** A synchronous plugin request (create, enable_recording, ...): resolves with the plugin's data. */
  async request(handle: number, body: Record<string, unknown>): Promise<Record<string, unknown>> {
    const r = await this.#send(`/${handle}`, { janus: 'message', body });
    const err = pluginError(r);
    if (err) throw err;
    if (r.janus !== 'success' || !r.plugindata)
      throw new JanusApiError(r.error?.code ?? 0, `unexpected reply ${JSON.stringify(r)}`);
    return r.plugindata.data;
  }

  /** An asynchronous plugin message (join, configure): resolves with its event (and JSEP, if any). */
  async message(
    handle: number,
    body: Record<string, unknown>,
    jsep?: Jsep,
    timeoutMs = 20_000,
  ): Promise<JanusMessage> {
    const transaction = randomUUID();
    const event = new Promise<JanusMessage>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(transaction);
        reject(new Error(`janus: no event for ${String(body.request)} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#pending.set(transaction, {
        resolve: (m) => {
          clearTimeout(timer);
          resolve(m);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
    });
    const r = await post(`${this.url}/${this.id}/${handle}`, {
      janus: 'message',
      transaction,
      body,
      ...(jsep ? { jsep } : {}),
    });
    if (r.janus === 'success') {
      // Answered at once after all.
      this.#pending.get(transaction)?.resolve(r);
      this.#pending.delete(transaction);
    } else if (r.janus !== 'ack') {
      this.#pending
        .get(transaction)
        ?.reject(new JanusApiError(r.error?.code ?? 0, r.error?.reason ?? JSON.stringify(r)));
      this.#pending.delete(transaction);
    }
    const m = await event;
    const err = pluginError(m);
    if (err) throw err;
    return m;
  }

  /**
   * Trickles a handle's local candidates (`candidate:...` values), then says gathering is complete.
   * Janus acknowledges each request; nothing comes back as an event.
   */
  async trickle(handle: number, candidates: string[], sdpMid = '0'): Promise<void> {
    const r = await this.#send(`/${handle}`, {
      janus: 'trickle',
      candidates: [
        ...candidates.map((candidate) => ({ candidate, sdpMid, sdpMLineIndex: 0 })),
        { completed: true },
      ],
    });
    if (r.janus !== 'ack' && r.janus !== 'success')
      throw new JanusApiError(r.error?.code ?? 0, r.error?.reason ?? JSON.stringify(r));
  }

  async detach(handle: number): Promise<void> {
    this.#listeners.delete(handle);
    await this.#send(`/${handle}`, { janus: 'detach' }).catch(() => undefined);
  }

  /** Destroys the session (Janus hangs up its handles). Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#keepalive);
    await this.#send('', { janus: 'destroy' }).catch(() => undefined);
    for (const p of this.#pending.values()) p.reject(new Error('janus session closed'));
    this.#pending.clear();
  }

  #send(path: string, body: Record<string, unknown>): Promise<JanusMessage> {
    return post(`${this.url}/${this.id}${path}`, { ...body, transaction: randomUUID() });
  }

  async #longPoll(): Promise<void> {
    while (!this.#closed) {
      let msgs: JanusMessage[];
      try {
        const r = await fetch(`${this.url}/${this.id}?maxev=50&rid=${Date.now()}`);
        const body = (await r.json()) as JanusMessage | JanusMessage[];
        msgs = Array.isArray(body) ? body : [body];
      } catch {
        if (this.#closed) return;
        await new Promise((r) => setTimeout(r, 200));
        continue;
      }
      for (const m of msgs) {
        const p = m.transaction ? this.#pending.get(m.transaction) : undefined;
        if (p && (m.janus === 'event' || m.janus === 'success')) {
          this.#pending.delete(m.transaction!);
          p.resolve(m);
        } else if (p && m.janus === 'error') {
          this.#pending.delete(m.transaction!);
          p.reject(new JanusApiError(m.error?.code ?? 0, m.error?.reason ?? 'error'));
        } else if (m.sender !== undefined) {
          try {
            this.#listeners.get(m.sender)?.(m);
          } catch {
            // A listener's own failure is its business; the poll goes on.
          }
        }
      }
    }
  }
}

async function post(url: string, body: Record<string, unknown>): Promise<JanusMessage> {
  const r = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return (await r.json()) as JanusMessage;
}
