/**
 * The control plane's handle on a media worker running in a child process (worker-process.ts):
 * requests carry ids and come back as replies (errors rebuilt by code), each with a timeout; the
 * worker's events are re-emitted; an admitted socket travels as the IPC message's handle.
 */
import { fork, type ChildProcess } from 'node:child_process';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { fileURLToPath } from 'node:url';
import {
  RtkError,
  TypedEmitter,
  type FromWorkerMessage,
  type Logger,
  type ToWorkerMessage,
  type WorkerAdmission,
  type WorkerCommand,
  type WorkerCommands,
} from '@trackroom/protocol';
import { WORKER_CONFIG_ENV, type MediaWorkerConfig } from './media-worker-config.js';
import type { MediaWorkerHandle, MediaWorkerHandleEvents } from './media-worker-handle.js';

export interface ChildMediaWorkerOptions {
  config: MediaWorkerConfig;
  /** The control plane's logger; the worker's lines are logged through it with `worker: <id>`. */
  logger: Logger;
  /** Per request. Default 10 000 ms. */
  requestTimeoutMs?: number;
  /** Time for the worker to report `ready`. Default 20 000 ms. */
  startTimeoutMs?: number;
  /** The entry module to fork; default worker-process beside this module (tests fork a stub). */
  entry?: string;
}

/** Node options the child must not inherit: a test runner's, an inspector's port, a watcher. */
const NOT_INHERITED = /^--(test|inspect|debug|watch)/;

/** The parent's loader and conditions (`--import tsx --conditions=source` in dev and tests). */
export function childExecArgv(execArgv: readonly string[] = process.execArgv): string[] {
  return execArgv.filter((a) => !NOT_INHERITED.test(a));
}

/** worker-process beside this module, in the same form (`.ts` when run from sources, `.js` from dist). */
function defaultEntry(): string {
  const ext = import.meta.url.endsWith('.ts') ? '.ts' : '.js';
  return fileURLToPath(new URL(`./worker-process${ext}`, import.meta.url));
}

/** Children still alive: killed when the control plane exits, whatever the reason. */
const live = new Set<ChildProcess>();
let exitHookInstalled = false;
function trackChild(child: ChildProcess): void {
  live.add(child);
  child.once('exit', () => live.delete(child));
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const c of live) c.kill('SIGKILL');
  });
}

interface Pending {
  resolve(v: unknown): void;
  reject(e: Error): void;
  timer: NodeJS.Timeout;
}

export class ChildMediaWorker extends TypedEmitter<MediaWorkerHandleEvents> implements MediaWorkerHandle {
  readonly id: number;
  readonly #o: ChildMediaWorkerOptions;
  readonly #log: Logger;
  readonly #pending = new Map<number, Pending>();
  #child: ChildProcess | undefined;
  #nextId = 1;
  #state: 'new' | 'starting' | 'running' | 'exited' = 'new';
  #closing: Promise<void> | undefined;

  constructor(options: ChildMediaWorkerOptions) {
    super();
    this.#o = options;
    this.id = options.config.workerId;
    this.#log = options.logger.child({ worker: this.id });
    this.onListenerError = (err, event) =>
      this.#log.error({ err, event: String(event) }, 'a media worker listener threw');
  }

  get pid(): number {
    return this.#child?.pid ?? 0;
  }

  get running(): boolean {
    return this.#state === 'running';
  }

  start(): Promise<void> {
    if (this.#state !== 'new')
      return Promise.reject(new RtkError('CONFLICT', `media worker ${this.id} was already started`));
    this.#state = 'starting';
    const child = fork(this.#o.entry ?? defaultEntry(), [], {
      execArgv: childExecArgv(),
      env: { ...process.env, [WORKER_CONFIG_ENV]: JSON.stringify(this.#o.config) },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      serialization: 'json',
    });
    this.#child = child;
    trackChild(child);
    child.on('message', (msg: FromWorkerMessage) => this.#onMessage(msg));
    child.on('error', (err) => this.#log.error({ err }, 'media worker process error'));
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new RtkError('INTERNAL', `media worker ${this.id} did not get ready in time`));
        child.kill('SIGKILL');
      }, this.#o.startTimeoutMs ?? 20_000);
      const offReady = this.once('ready', () => {
        clearTimeout(timer);
        this.#state = 'running';
        resolve();
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        offReady();
        const wasStarting = this.#state === 'starting';
        this.#state = 'exited';
        const err = new RtkError('INTERNAL', `media worker ${this.id} exited`, {
          workerId: this.id,
          code,
          signal,
        });
        for (const p of this.#pending.values()) {
          clearTimeout(p.timer);
          p.reject(err);
        }
        this.#pending.clear();
        if (wasStarting) reject(err);
        if (!this.#closing) this.#log.error({ pid: child.pid, code, signal }, 'media worker exited');
        this.emit('exit', { workerId: this.id, pid: child.pid ?? 0, code, signal });
      });
    });
  }

  #onMessage(msg: FromWorkerMessage): void {
    if (msg.kind === 'reply') {
      const p = this.#pending.get(msg.id);
      if (!p) return;
      this.#pending.delete(msg.id);
      clearTimeout(p.timer);
      if (msg.ok) p.resolve(msg.result);
      else p.reject(RtkError.fromPayload(msg.error));
    } else if (msg.kind === 'event') {
      this.emit(msg.event, msg.data as never);
    } else if (msg.kind === 'log') {
      this.#log[msg.level](msg.obj, msg.msg);
    }
  }

  #send(msg: ToWorkerMessage, handle?: Socket): boolean {
    const child = this.#child;
    if (!child?.connected) return false;
    if (handle) {
      child.send(msg, handle, { keepOpen: false }, (err) => {
        if (err) {
          this.#log.warn({ err }, 'handing a socket to the media worker failed');
          handle.destroy();
        }
      });
    } else child.send(msg);
    return true;
  }

  call<C extends WorkerCommand>(
    command: C,
    params: WorkerCommands[C]['params'],
  ): Promise<WorkerCommands[C]['result']> {
    if (this.#state !== 'running')
      return Promise.reject(
        new RtkError('INTERNAL', `media worker ${this.id} is not running`, { workerId: this.id }),
      );
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(
          new RtkError('INTERNAL', `media worker ${this.id} did not answer ${command} in time`, {
            workerId: this.id,
          }),
        );
      }, this.#o.requestTimeoutMs ?? 10_000);
      this.#pending.set(id, { resolve: resolve as (v: unknown) => void, reject, timer });
      if (!this.#send({ kind: 'request', id, command, params })) {
        clearTimeout(timer);
        this.#pending.delete(id);
        reject(new RtkError('INTERNAL', `media worker ${this.id} is not connected`, { workerId: this.id }));
      }
    });
  }

  admit(admission: WorkerAdmission, socket: Duplex): void {
    if (this.#state !== 'running' || !this.#send({ kind: 'admit', admission }, socket as Socket)) {
      socket.end('HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n\r\n');
    }
  }

  /** Asks the worker to close its peers (1001), then ends the process (SIGKILL after a grace time). */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      const child = this.#child;
      if (!child || child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      if (this.#state === 'running') {
        await this.call('shutdown', {}).catch((err: unknown) =>
          this.#log.warn({ err }, 'media worker shutdown failed: killing it'),
        );
      }
      if (child.connected) child.disconnect();
      const kill = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(kill);
    })();
    return this.#closing;
  }
}
