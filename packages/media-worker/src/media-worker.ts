/**
 * A media worker, in-process: one SFU and the track recordings of the meetings it hosts. The
 * control plane talks to it only through protocol's command/event interface (`worker.ts`), so the
 * same worker runs behind a child process unchanged (see worker-process.ts).
 */
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import type { Duplex } from 'node:stream';
import {
  RtkError,
  TypedEmitter,
  silentLogger,
  type Logger,
  type RecordedTrackResult,
  type WorkerAdmission,
  type WorkerCommand,
  type WorkerCommands,
  type WorkerLoad,
  type WorkerStats,
} from '@trackroom/protocol';
import { TrackRecording, isRecorderError } from '@trackroom/recorder';
import type { MediaWorkerHandle, MediaWorkerHandleEvents } from './media-worker-handle.js';
import type { WorkerSfu } from './worker-sfu.js';

export interface MediaWorkerOptions {
  workerId: number;
  sfu: WorkerSfu;
  logger?: Logger;
  /** How often `load` is emitted (ms). Default 1000; 0: never (tests ask `stats`). */
  loadIntervalMs?: number;
  /** Passed to every TrackRecording (defaults: the recorder's). */
  recording?: { tickMs?: number; clusterMs?: number };
}

type Handlers = {
  [C in WorkerCommand]: (
    p: WorkerCommands[C]['params'],
  ) => WorkerCommands[C]['result'] | Promise<WorkerCommands[C]['result']>;
};

export class MediaWorker extends TypedEmitter<MediaWorkerHandleEvents> implements MediaWorkerHandle {
  readonly id: number;
  readonly pid = process.pid;
  readonly #o: MediaWorkerOptions;
  readonly #log: Logger;
  readonly #recordings = new Map<string, TrackRecording>();
  /** Joined peers → their meeting and live track count (for `load`). */
  readonly #peers = new Map<string, { meetingId: string; tracks: number }>();
  readonly #offs: (() => void)[] = [];
  readonly #handlers: Handlers;
  #eld: IntervalHistogram | undefined;
  #eldResetAt = performance.now();
  #loadTimer: NodeJS.Timeout | undefined;
  #state: 'new' | 'running' | 'closed' = 'new';
  #closing: Promise<void> | undefined;

  constructor(options: MediaWorkerOptions) {
    super();
    this.id = options.workerId;
    this.#o = options;
    this.#log = options.logger ?? silentLogger;
    this.onListenerError = (err, event) =>
      this.#log.error({ err, event: String(event) }, 'a media worker listener threw');
    this.#handlers = {
      kick: (p) => this.#o.sfu.kick(p.meetingId, p.peerIds),
      muteAudio: (p) => this.#o.sfu.muteAudio(p.meetingId, p.peerIds),
      broadcast: (p) => {
        this.#o.sfu.broadcast(p.meetingId, p.message);
        return null;
      },
      startRecording: (spec) => this.#startRecording(spec),
      pauseRecording: (p) => {
        this.#recordings.get(p.recordingId)?.pause(p.atMs);
        return null;
      },
      resumeRecording: (p) => {
        this.#recordings.get(p.recordingId)?.resume(p.atMs);
        return null;
      },
      stopRecording: (p) => this.#stopRecording(p.recordingId, p.atMs),
      participantsCaptured: (p) => this.#recordings.get(p.recordingId)?.participantsCaptured() ?? [],
      updateRecordingUsers: async (p) => {
        const r = this.#recordings.get(p.recordingId);
        if (!r) return null;
        try {
          return await r.updateUsers({ add: p.add, remove: p.remove, atMs: p.atMs, by: p.by });
        } catch (err) {
          // The recorder's refusal crosses the boundary as a registry error (a conflict of state).
          if (isRecorderError(err)) throw new RtkError('CONFLICT', err.message);
          throw err;
        }
      },
      stats: () => this.stats(),
      shutdown: async () => {
        await this.close();
        return null;
      },
    };
  }

  /** Relays the SFU's events and starts the load reports; emits `ready`. */
  async start(): Promise<void> {
    if (this.#state !== 'new') throw new RtkError('CONFLICT', `media worker ${this.id} was already started`);
    this.#state = 'running';
    const sfu = this.#o.sfu;
    this.#offs.push(
      sfu.on('peerJoined', (p) => {
        this.#peers.set(p.peerId, { meetingId: p.meetingId, tracks: Object.keys(p.tracks).length });
        this.emit('peerJoined', p);
      }),
      sfu.on('trackStarted', (e) => {
        const p = this.#peers.get(e.peerId);
        if (p) p.tracks++;
        this.emit('trackStarted', e);
      }),
      sfu.on('mediaEnabled', (e) => this.emit('mediaEnabled', e)),
      sfu.on('peerLeft', (e) => {
        this.#peers.delete(e.peerId);
        this.emit('peerLeft', e);
      }),
    );
    this.#eld = monitorEventLoopDelay({ resolution: 10 });
    this.#eld.enable();
    this.#eldResetAt = performance.now();
    const every = this.#o.loadIntervalMs ?? 1000;
    if (every > 0) {
      this.#loadTimer = setInterval(() => {
        this.emit('load', { ...this.load(), workerId: this.id });
        this.#eld?.reset();
        this.#eldResetAt = performance.now();
      }, every);
      this.#loadTimer.unref();
    }
    this.#log.info({ pid: this.pid }, 'media worker ready');
    this.emit('ready', { workerId: this.id, pid: this.pid });
  }

  async call<C extends WorkerCommand>(
    command: C,
    params: WorkerCommands[C]['params'],
  ): Promise<WorkerCommands[C]['result']> {
    const handler = this.#handlers[command] as
      | ((
          p: WorkerCommands[C]['params'],
        ) => WorkerCommands[C]['result'] | Promise<WorkerCommands[C]['result']>)
      | undefined;
    if (!handler) throw new RtkError('NOT_IMPLEMENTED', `unknown media worker command ${String(command)}`);
    if (this.#state !== 'running' && command !== 'shutdown' && command !== 'stats')
      throw new RtkError('CONFLICT', `media worker ${this.id} is ${this.#state}`);
    return handler(params);
  }

  admit(admission: WorkerAdmission, socket: Duplex): void {
    const head = Buffer.from(admission.headBase64, 'base64');
    this.#o.sfu.handleUpgrade(admission.request, socket, head, {
      identity: admission.identity,
      recordings: admission.recordings,
    });
  }

  load(): WorkerLoad {
    const meetings = new Set<string>();
    let liveTracks = 0;
    for (const p of this.#peers.values()) {
      meetings.add(p.meetingId);
      liveTracks += p.tracks;
    }
    return {
      meetings: meetings.size,
      peers: this.#peers.size,
      liveTracks,
      activeRecordings: this.#recordings.size,
      eventLoopP99Ms: this.#eventLoopP99Ms(),
    };
  }

  /**
   * The event loop's p99 delay since the last load report. A histogram without a sample means the
   * loop was blocked for the whole interval (seen at N=600 on one worker): then the time since the
   * last report is the honest lower bound, not 0.
   */
  #eventLoopP99Ms(): number {
    const h = this.#eld;
    if (!h) return 0;
    if (h.count > 0) return h.percentile(99) / 1e6;
    return Math.round(performance.now() - this.#eldResetAt);
  }

  stats(): WorkerStats {
    let trackFiles = 0;
    const recorder = { bytesWritten: 0, packetsReceived: 0, packetsLost: 0 };
    for (const r of this.#recordings.values()) {
      trackFiles += r.fileCount;
      const io = r.ioStats();
      recorder.bytesWritten += io.bytesWritten;
      recorder.packetsReceived += io.packetsReceived;
      recorder.packetsLost += io.packetsLost;
    }
    return {
      workerId: this.id,
      pid: this.pid,
      load: this.load(),
      cpuUs: process.cpuUsage(),
      rssBytes: process.memoryUsage.rss(),
      sfu: this.#o.sfu.stats() as Record<string, number>,
      trackFiles,
      recorder,
    };
  }

  async #startRecording(spec: WorkerCommands['startRecording']['params']): Promise<null> {
    if (this.#recordings.has(spec.id))
      throw new RtkError('CONFLICT', `recording ${spec.id} is already running`);
    const r = new TrackRecording({
      ...spec,
      source: this.#o.sfu,
      logger: this.#log.child({ subsystem: 'recorder' }),
      ...(this.#o.recording?.tickMs ? { tickMs: this.#o.recording.tickMs } : {}),
      ...(this.#o.recording?.clusterMs ? { clusterMs: this.#o.recording.clusterMs } : {}),
    });
    r.on('failed', (failure) => this.emit('recordingFailed', { recordingId: spec.id, failure }));
    this.#recordings.set(spec.id, r);
    try {
      await r.start();
    } catch (err) {
      this.#recordings.delete(spec.id);
      r.abandon();
      throw err;
    }
    return null;
  }

  async #stopRecording(recordingId: string, atMs: number): Promise<RecordedTrackResult | null> {
    const r = this.#recordings.get(recordingId);
    if (!r) return null;
    this.#recordings.delete(recordingId);
    const res = await r.stop(atMs);
    return { t0Ms: res.t0Ms, stopMs: res.stopMs, files: res.files, manifestFile: res.manifestFile };
  }

  /** Closes every peer (1001); recordings are abandoned unfinalised (repair finishes them). Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#state = 'closed';
      if (this.#loadTimer) clearInterval(this.#loadTimer);
      this.#eld?.disable();
      for (const r of this.#recordings.values()) r.abandon();
      this.#recordings.clear();
      await this.#o.sfu.close();
      for (const off of this.#offs) off();
      this.#offs.length = 0;
      this.#log.info({}, 'media worker closed');
    })();
    return this.#closing;
  }
}
