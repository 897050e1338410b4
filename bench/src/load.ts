/**
 * The load generator, driven from the benchmark process: separate Node processes
 * (`load-worker.ts`, talking over IPC) hold every publisher so that their CPU never counts as the
 * server's, and their own CPU is measured from /proc so readers can see when the generator, not the
 * server, was the bottleneck.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { readProcCpu, type ProcCpuSample } from './support/proc-stat.js';

/**
 * The publishers' WebRTC stack: `ndc` = node-datachannel (libdatachannel: ICE, DTLS and SRTP in
 * native threads, one packet clock per process; about a third of werift's CPU per packet), `werift`
 * = the pure-TypeScript stack (one pacing timer per publisher), kept for comparison.
 */
export type GeneratorKind = 'ndc' | 'werift';
export const GENERATOR_KINDS: readonly GeneratorKind[] = ['ndc', 'werift'];

/** For reports: the stack's name (results without the field predate the choice: werift). */
export const generatorName = (k: GeneratorKind | undefined): string =>
  k === 'ndc' ? 'node-datachannel' : 'werift';

export interface LoadWorkerConfig {
  wsUrl: string;
  /** Default `ndc`. Fan-out subscriptions use the same stack as the publishers. */
  generator?: GeneratorKind;
  /** One participant token per publisher. */
  tokens: string[];
  /** Where the worker may write its Opus source file. */
  workDir: string;
  /** Publishers connecting at the same time. */
  connectConcurrency: number;
  /**
   * Fan-out: every publisher also answers the server's `subscribe` (one recvonly peer connection per
   * other member of its meeting) and counts the RTP it receives. Default false (ingest only).
   */
  fanout?: boolean;
  /**
   * Publish into Janus instead: one publisher per entry of `rooms` (a VideoRoom id), over Janus's
   * HTTP API at `url`, ICE on `address` only. `tokens` is then unused (pass []).
   */
  janus?: { url: string; rooms: number[]; address: string };
  /**
   * A cluster: join as the SDK does, following a `redirect` to the node that hosts the meeting
   * (`wsUrl` is any node). Default false (one server: open, then join).
   */
  followRedirects?: boolean;
}

export type LoadWorkerRequest =
  | { type: 'config'; config: LoadWorkerConfig }
  | { type: 'play' }
  | { type: 'sample' }
  | { type: 'stopPlaying' }
  | { type: 'leave' };

export interface LoadWorkerSample {
  /**
   * Packets handed to the stack by all publishers since they started (node-datachannel: accepted by
   * it; the ones it refused are in `refused`).
   */
  sent: number;
  /** Packets the stack refused to send (node-datachannel only; werift queues everything). */
  refused: number;
  /** Packets received over all subscriptions since they started (fan-out only, else 0). */
  received: number;
  /** Subscriptions whose peer connection is up. */
  subscriptions: number;
  /** Up subscriptions that received nothing so far (meaningful once playing). */
  silentSubscriptions: number;
  /** Subscriptions that failed to come up. */
  subscribeFailures: number;
  /** The worker's event-loop delay since the previous sample (ms); pacing is 20 ms. */
  eventLoopP99Ms: number;
  eventLoopMaxMs: number;
}

export type LoadWorkerMessage =
  | {
      type: 'ready';
      connected: number;
      failed: number;
      retried: number;
      errors: string[];
      connectMs: number;
    }
  | { type: 'playing' }
  | ({ type: 'sample' } & LoadWorkerSample)
  | ({ type: 'stopped' } & LoadWorkerSample)
  | { type: 'left' }
  | { type: 'fatal'; message: string };

export interface LoadGeneratorReady {
  connected: number;
  /** Publishers that failed twice (each setup is tried at most twice). */
  failed: number;
  /** Setups that failed once and were tried again (their errors are in `errors` too). */
  retried?: number;
  errors: string[];
  connectMs: number;
}

const workerFile = fileURLToPath(new URL('./load-worker.ts', import.meta.url));

/** One generator process. */
class LoadWorker {
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
  ): Promise<[LoadWorker, LoadGeneratorReady]> {
    const proc = fork(workerFile, [], {
      execArgv: ['--conditions=source', '--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const gen = new LoadWorker(proc);
    // The configuration (hundreds of tokens) goes over IPC: in the environment it passed the kernel's
    // 128 KiB limit of one variable at N=700 (spawn E2BIG).
    gen.#send({ type: 'config', config });
    const ready = await gen.#next('ready', timeoutMs);
    return [
      gen,
      {
        connected: ready.connected,
        failed: ready.failed,
        retried: ready.retried,
        errors: ready.errors,
        connectMs: ready.connectMs,
      },
    ];
  }

  cpu(): ProcCpuSample {
    return readProcCpu(this.pid);
  }

  async play(): Promise<void> {
    this.#send({ type: 'play' });
    await this.#next('playing');
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
  const { type: _, ...rest } = m;
  return rest;
}

/**
 * The load generator: `workers` processes (tokens split evenly), so that on a 2-core machine the
 * publishers are not all held back by one event loop. CPU is the sum over the processes, event-loop
 * lag the worst of them.
 */
export class LoadGenerator {
  readonly #workers: LoadWorker[];

  private constructor(workers: LoadWorker[]) {
    this.#workers = workers;
  }

  get pids(): number[] {
    return this.#workers.map((w) => w.pid);
  }

  /** Spawns the workers; resolves once every publisher has connected (or failed). Nothing plays yet. */
  static async start(
    config: LoadWorkerConfig & { workers?: number },
    timeoutMs = 180_000,
  ): Promise<[LoadGenerator, LoadGeneratorReady]> {
    const { janus } = config;
    const count = janus ? janus.rooms.length : config.tokens.length;
    const k = Math.max(1, Math.min(config.workers ?? 1, count));
    const shard = <T>(all: T[], i: number) => all.filter((_, j) => j % k === i);
    const started = await Promise.allSettled(
      Array.from({ length: k }, (_, i) =>
        LoadWorker.start(
          janus
            ? { ...config, tokens: [], janus: { ...janus, rooms: shard(janus.rooms, i) } }
            : { ...config, tokens: shard(config.tokens, i) },
          timeoutMs,
        ),
      ),
    );
    const ok = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
    const gen = new LoadGenerator(ok.map(([w]) => w));
    const bad = started.find((s) => s.status === 'rejected');
    if (bad) {
      await gen.close();
      throw bad.reason;
    }
    const readies = ok.map(([, r]) => r);
    return [
      gen,
      {
        connected: readies.reduce((a, r) => a + r.connected, 0),
        failed: readies.reduce((a, r) => a + r.failed, 0),
        retried: readies.reduce((a, r) => a + (r.retried ?? 0), 0),
        errors: readies.flatMap((r) => r.errors).slice(0, 5),
        connectMs: Math.max(...readies.map((r) => r.connectMs)),
      },
    ];
  }

  /** Every publisher starts sending. */
  async play(): Promise<void> {
    await Promise.all(this.#workers.map((w) => w.play()));
  }

  /** Per process. */
  cpus(): ProcCpuSample[] {
    return this.#workers.map((w) => w.cpu());
  }

  cpu(): ProcCpuSample {
    const s = this.#workers.map((w) => w.cpu());
    return { cpuUs: s.reduce((a, c) => a + c.cpuUs, 0), atMs: s[0]?.atMs ?? performance.now() };
  }

  async sample(): Promise<LoadWorkerSample> {
    return merge(await Promise.all(this.#workers.map((w) => w.sample())));
  }

  async stopPlaying(): Promise<LoadWorkerSample> {
    return merge(await Promise.all(this.#workers.map((w) => w.stopPlaying())));
  }

  async close(): Promise<void> {
    await Promise.all(this.#workers.map((w) => w.close()));
  }
}

function merge(s: LoadWorkerSample[]): LoadWorkerSample {
  return {
    sent: s.reduce((a, x) => a + x.sent, 0),
    refused: s.reduce((a, x) => a + x.refused, 0),
    received: s.reduce((a, x) => a + x.received, 0),
    subscriptions: s.reduce((a, x) => a + x.subscriptions, 0),
    silentSubscriptions: s.reduce((a, x) => a + x.silentSubscriptions, 0),
    subscribeFailures: s.reduce((a, x) => a + x.subscribeFailures, 0),
    eventLoopP99Ms: Math.max(...s.map((x) => x.eventLoopP99Ms)),
    eventLoopMaxMs: Math.max(...s.map((x) => x.eventLoopMaxMs)),
  };
}
