/**
 * The load generator, driven from the benchmark process: a separate Node process
 * (`load-worker.ts`, talking over IPC) holds every werift publisher so that its CPU never counts
 * as the server's, and its own CPU is measured from /proc so readers can see when the generator,
 * not the server, was the bottleneck.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { readProcCpu, type ProcCpuSample } from './support/proc-stat.js';

export interface LoadWorkerConfig {
  wsUrl: string;
  /** One participant token per publisher. */
  tokens: string[];
  /** Where the worker may write its Opus source file. */
  workDir: string;
  /** Publishers connecting at the same time. */
  connectConcurrency: number;
}

export type LoadWorkerRequest = { type: 'sample' } | { type: 'stopPlaying' } | { type: 'leave' };

export interface LoadWorkerSample {
  /** Packets handed to werift by all publishers since they started. */
  sent: number;
  /** The worker's event-loop delay since the previous sample (ms); pacing is 20 ms. */
  eventLoopP99Ms: number;
  eventLoopMaxMs: number;
}

export type LoadWorkerMessage =
  | { type: 'ready'; connected: number; failed: number; errors: string[]; connectMs: number }
  | ({ type: 'sample' } & LoadWorkerSample)
  | ({ type: 'stopped' } & LoadWorkerSample)
  | { type: 'left' }
  | { type: 'fatal'; message: string };

export interface LoadGeneratorReady {
  connected: number;
  failed: number;
  errors: string[];
  connectMs: number;
}

const workerFile = fileURLToPath(new URL('./load-worker.ts', import.meta.url));

export class LoadGenerator {
  readonly #proc: ChildProcess;
  #inbox: LoadWorkerMessage[] = [];
  #waiters = new Set<() => void>();
  #exited = false;

  private constructor(proc: ChildProcess) {
    this.#proc = proc;
    proc.on('message', (m) => {
      this.#inbox.push(m as LoadWorkerMessage);
      for (const w of [...this.#waiters]) w();
    });
    proc.once('exit', () => {
      this.#exited = true;
      for (const w of [...this.#waiters]) w();
    });
  }

  get pid(): number {
    return this.#proc.pid ?? -1;
  }

  /** Spawns the worker and resolves once every publisher has connected (or failed). */
  static async start(
    config: LoadWorkerConfig,
    timeoutMs = 120_000,
  ): Promise<[LoadGenerator, LoadGeneratorReady]> {
    const proc = fork(workerFile, [], {
      execArgv: ['--conditions=source', '--import', 'tsx'],
      env: { ...process.env, BENCH_WORKER_CONFIG: JSON.stringify(config) },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const gen = new LoadGenerator(proc);
    const ready = await gen.#next('ready', timeoutMs);
    return [
      gen,
      { connected: ready.connected, failed: ready.failed, errors: ready.errors, connectMs: ready.connectMs },
    ];
  }

  cpu(): ProcCpuSample {
    return readProcCpu(this.pid);
  }

  async sample(): Promise<LoadWorkerSample> {
    this.#send({ type: 'sample' });
    return strip(await this.#next('sample'));
  }

  /** Stops every publisher's packet clock; resolves with the final sent count. */
  async stopPlaying(): Promise<LoadWorkerSample> {
    this.#send({ type: 'stopPlaying' });
    return strip(await this.#next('stopped'));
  }

  /** Every publisher leaves; the worker exits. Idempotent. */
  async close(): Promise<void> {
    if (this.#exited) return;
    this.#send({ type: 'leave' });
    try {
      await this.#next('left', 20_000);
    } catch {
      // A worker that cannot leave cleanly is killed below; the benchmark result does not depend on it.
    }
    if (!this.#exited) this.#proc.kill('SIGKILL');
  }

  #send(m: LoadWorkerRequest): void {
    if (this.#exited) throw new Error('load worker has exited');
    this.#proc.send(m);
  }

  #next<T extends LoadWorkerMessage['type']>(
    type: T,
    timeoutMs = 30_000,
  ): Promise<Extract<LoadWorkerMessage, { type: T }>> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters.delete(check);
        reject(new Error(`load worker: no ${type} within ${timeoutMs} ms`));
      }, timeoutMs);
      const check = () => {
        const i = this.#inbox.findIndex((m) => m.type === type || m.type === 'fatal');
        if (i < 0) {
          if (this.#exited) {
            clearTimeout(timer);
            this.#waiters.delete(check);
            reject(new Error(`load worker exited while waiting for ${type}`));
          }
          return;
        }
        const [m] = this.#inbox.splice(i, 1);
        clearTimeout(timer);
        this.#waiters.delete(check);
        if (m!.type === 'fatal') reject(new Error(`load worker failed: ${m!.message}`));
        else resolve(m as Extract<LoadWorkerMessage, { type: T }>);
      };
      this.#waiters.add(check);
      check();
    });
  }
}

function strip(m: LoadWorkerSample & { type: string }): LoadWorkerSample {
  return { sent: m.sent, eventLoopP99Ms: m.eventLoopP99Ms, eventLoopMaxMs: m.eventLoopMaxMs };
}
