/**
 * One signalling WebSocket: sends {@link ClientMessage}s, emits parsed {@link ServerMessage}s and one
 * `close`. The socket is created through an injected factory so tests can use a fake.
 */
import { RtkError, TypedEmitter, parseServerMessage, silentLogger } from '@trackroom/protocol';
import type { ClientMessage, Logger, ServerMessage } from '@trackroom/protocol';

/** The part of the browser's `WebSocket` this client uses. */
export interface WebSocketLike {
  readonly readyState: number;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}
export type WebSocketFactory = (url: string) => WebSocketLike;

export type SignallingSocketEvents = {
  message: ServerMessage;
  /** Emitted once, whoever closed. `byClient` when {@link SignallingSocket.close} was called first. */
  close: { code: number; reason: string; byClient: boolean };
};

export interface SignallingSocketOptions {
  url: string;
  createWebSocket?: WebSocketFactory;
  logger?: Logger;
}

const OPEN = 1;

export class SignallingSocket extends TypedEmitter<SignallingSocketEvents> {
  readonly #opts: SignallingSocketOptions;
  readonly #log: Logger;
  #ws: WebSocketLike | undefined;
  #closed = false;
  #byClient = false;

  constructor(opts: SignallingSocketOptions) {
    super();
    this.#opts = opts;
    this.#log = opts.logger ?? silentLogger;
  }

  get isOpen(): boolean {
    return !this.#closed && this.#ws?.readyState === OPEN;
  }

  /** Opens the socket; rejects when it closes before opening. */
  connect(): Promise<void> {
    if (this.#ws) return Promise.reject(new RtkError('CONFLICT', 'connect() was already called'));
    if (this.#closed) return Promise.reject(new RtkError('CONFLICT', 'the socket is closed'));
    const factory = this.#opts.createWebSocket ?? ((url: string) => new WebSocket(url) as WebSocketLike);
    const ws = factory(this.#opts.url);
    this.#ws = ws;
    return new Promise<void>((resolve, reject) => {
      let opened = false;
      ws.onopen = () => {
        opened = true;
        resolve();
      };
      ws.onmessage = (ev) => {
        if (this.#closed) return;
        if (typeof ev.data !== 'string') {
          this.#log.warn({}, 'binary signalling frame ignored');
          return;
        }
        let msg: ServerMessage;
        try {
          msg = parseServerMessage(ev.data);
        } catch (err) {
          this.#log.warn({ err: String(err) }, 'unparseable signalling message ignored');
          return;
        }
        this.emit('message', msg);
      };
      ws.onerror = () => {
        // The browser gives no detail here; the close event that always follows carries the code.
        this.#log.debug({}, 'signalling socket error');
      };
      ws.onclose = (ev) => {
        if (!opened) reject(new RtkError('INTERNAL', `signalling socket closed before opening (${ev.code})`));
        this.#finish(ev.code, ev.reason);
      };
    });
  }

  /** Sends one message; false when the socket is not open. */
  send(msg: ClientMessage): boolean {
    const ws = this.#ws;
    if (this.#closed || !ws || ws.readyState !== OPEN) return false;
    ws.send(JSON.stringify(msg));
    return true;
  }

  /** Closes the socket (idempotent); `close` is emitted right away with `byClient: true`. */
  close(code = 1000, reason = ''): void {
    if (this.#closed) return;
    this.#byClient = true;
    const ws = this.#ws;
    try {
      ws?.close(code, reason);
    } catch (err) {
      this.#log.debug({ err: String(err) }, 'close threw; the socket is gone anyway');
    }
    this.#finish(code, reason);
  }

  #finish(code: number, reason: string): void {
    if (this.#closed) return;
    this.#closed = true;
    const ws = this.#ws;
    if (ws) {
      ws.onmessage = null;
      ws.onopen = null;
    }
    this.emit('close', { code, reason, byClient: this.#byClient });
  }
}
