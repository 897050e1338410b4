/**
 * The client end of the server's signalling WebSocket for test and load clients: typed messages out,
 * parsed messages in (every one kept in `messages`), waiting for a message by type, and join/leave.
 * Shared by the werift and node-datachannel publishers.
 */
import WebSocket from 'ws';
import {
  parseServerMessage,
  type ClientMessage,
  type ServerMessage,
  type SubscriberMode,
} from '@trackroom/protocol';

export type ServerMsg<T extends ServerMessage['type']> = Extract<ServerMessage, { type: T }>;

export class SignallingSocket {
  readonly ws: WebSocket;
  readonly messages: ServerMessage[] = [];
  readonly timeoutMs: number;
  readonly #waiters = new Set<(m: ServerMessage) => void>();
  readonly #listeners = new Set<(m: ServerMessage) => void>();

  private constructor(ws: WebSocket, timeoutMs: number) {
    this.ws = ws;
    this.timeoutMs = timeoutMs;
    ws.on('message', (data) => {
      let m: ServerMessage;
      try {
        m = parseServerMessage(String(data));
      } catch {
        // Not a message of this protocol version: tests look at what they understand.
        return;
      }
      this.messages.push(m);
      for (const w of [...this.#waiters]) w(m);
      for (const l of [...this.#listeners]) l(m);
    });
  }

  /** Opens the socket (`wsUrl` carries the token). `timeoutMs` is the default wait of {@link waitFor}. */
  static async open(wsUrl: string, timeoutMs = 15_000): Promise<SignallingSocket> {
    const ws = new WebSocket(wsUrl);
    // Listening before the socket opens: a server may send its first message (a cluster's
    // `redirect`) with the handshake, before the caller's continuation runs.
    const sig = new SignallingSocket(ws, timeoutMs);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    return sig;
  }

  /**
   * Opens and joins as the SDK does in a cluster: a `redirect` (the meeting is hosted by another
   * server) is followed there with the same token. `via` lists every URL opened, in order.
   */
  static async openJoined(
    wsUrl: string,
    audio = true,
    timeoutMs = 15_000,
    subscriber?: SubscriberMode,
  ): Promise<{ sig: SignallingSocket; joined: ServerMsg<'joined'>; via: string[] }> {
    const via: string[] = [];
    let url = wsUrl;
    for (let hop = 0; hop < 4; hop++) {
      via.push(url);
      const sig = await SignallingSocket.open(url, timeoutMs);
      const first = await new Promise<ServerMsg<'joined'> | ServerMsg<'redirect'>>((resolve, reject) => {
        const timer = setTimeout(() => {
          sig.#waiters.delete(on);
          reject(new Error(`no joined or redirect from ${url} within ${timeoutMs} ms`));
        }, timeoutMs);
        const on = (m: ServerMessage) => {
          if (m.type === 'error') {
            clearTimeout(timer);
            sig.#waiters.delete(on);
            reject(new Error(`join refused by ${url}: ${m.code} ${m.message}`));
            return;
          }
          if (m.type !== 'joined' && m.type !== 'redirect') return;
          clearTimeout(timer);
          sig.#waiters.delete(on);
          resolve(m);
        };
        sig.#waiters.add(on);
        const early = sig.messages.find((m) => m.type === 'joined' || m.type === 'redirect');
        if (early) on(early);
        else if (sig.isOpen)
          sig.send({ type: 'join', audio, video: false, ...(subscriber && { subscriber }) });
      });
      if (first.type === 'joined') return { sig, joined: first, via };
      const next = new URL('/ws', first.nodeUrl);
      next.protocol = next.protocol === 'https:' ? 'wss:' : 'ws:';
      next.search = new URL(url).search;
      url = next.toString();
    }
    throw new Error(`more than 3 redirects from ${wsUrl}: ${via.join(' -> ')}`);
  }

  get isOpen(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  /** Every message from now on (after the waiters of {@link waitFor}). */
  onMessage(listener: (m: ServerMessage) => void): void {
    this.#listeners.add(listener);
  }

  send(m: ClientMessage): void {
    this.ws.send(JSON.stringify(m));
  }

  /** The first message of `type` (matching `pred`) received so far or from now on. */
  waitFor<T extends ServerMessage['type']>(
    type: T,
    pred: (m: ServerMsg<T>) => boolean = () => true,
    timeoutMs = this.timeoutMs,
  ): Promise<ServerMsg<T>> {
    const found = this.messages.find((m) => m.type === type && pred(m as ServerMsg<T>));
    if (found) return Promise.resolve(found as ServerMsg<T>);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters.delete(on);
        reject(new Error(`no ${type} within ${timeoutMs} ms`));
      }, timeoutMs);
      const on = (m: ServerMessage) => {
        if (m.type !== type || !pred(m as ServerMsg<T>)) return;
        clearTimeout(timer);
        this.#waiters.delete(on);
        resolve(m as ServerMsg<T>);
      };
      this.#waiters.add(on);
    });
  }

  /** `subscriber: 'single'` asks for one subscribing connection (see `SingleSubscriber`). */
  async join(audio = true, subscriber?: SubscriberMode): Promise<ServerMsg<'joined'>> {
    this.send({ type: 'join', audio, video: false, ...(subscriber && { subscriber }) });
    return this.waitFor('joined');
  }

  /** Says `leave` and closes the socket (nothing when already closed). */
  leave(): void {
    if (!this.isOpen) return;
    this.send({ type: 'leave' });
    this.ws.close();
  }
}
