/**
 * Stage 5: the file adapter. Connects parse -> reorder -> timeline -> mux and does the I/O:
 * completed clusters are appended with positional writes as soon as they complete; `close()` writes
 * the last cluster, the Cues, and patches the header (Duration, SeekHead, Segment size), then fsyncs.
 */
import { EventEmitter } from 'node:events';
import { open } from 'node:fs/promises';
import { RecorderError } from './errors.js';
import { ReusedList } from './reused-list.js';
import { hashFile } from './file-hash.js';
import { silentLogger, type RecorderLogger } from './logger.js';
import {
  msToSamples,
  quantize,
  samplesToMs,
  type TimelineAlign,
  type TimelineOutput,
  type TimelineStats,
} from './timeline.js';
import { SpeechActivity, type SpeakingInterval, type SpeechCheckpoint } from './speech-activity.js';
import { TrackPipeline, type TrackPipelineInput, type TrackPipelineStats } from './track-pipeline.js';
import { WebmMuxer, type WebmMuxerStats, type WebmWrite } from './webm-muxer.js';
import { repairWebmFile } from './webm-repair.js';

/** The part of a file handle the writer uses: positional writes, fsync, close. */
export interface TrackFileHandle {
  write(
    buffer: Uint8Array,
    offset: number,
    length: number,
    position: number,
  ): Promise<{ bytesWritten: number }>;
  sync(): Promise<void>;
  /** Cuts the file to `length` bytes (a late stop takes its last cluster back). */
  truncate(length: number): Promise<void>;
  close(): Promise<void>;
}

/** Creates the track file (it must not exist). The seam that tests use to inject I/O faults. */
export type TrackFileOpener = (path: string) => Promise<TrackFileHandle>;

const openExclusive: TrackFileOpener = (path) => open(path, 'wx');

export interface TrackFileWriterOptions {
  path: string;
  /** Recording start instant (wall-clock ms): position 0 of the timeline shared by all tracks. */
  t0Ms: number;
  channels?: 1 | 2;
  /** Longest cluster (ms): at most this much audio is held in memory. Default 2000. */
  clusterMs?: number;
  /** Reorder wait and silence lag behind `tick(now)` (ms). Default 100. */
  playoutDelayMs?: number;
  /** `timeline` (default): the file starts at t0. `first_packet`: the leading silence is dropped. */
  align?: TimelineAlign;
  driftThresholdMs?: number;
  driftSustainMs?: number;
  jumpThresholdMs?: number;
  logger?: RecorderLogger;
  /** How the file is created; by default `fs.open(path, 'wx')`. */
  openFile?: TrackFileOpener;
  /**
   * Packets `push` may hold before they run through the pipeline (default 0: each runs at once).
   * Held packets run, in order, at the next call of any other method (`tick` first of all), or when
   * this many are held. The output is the same: every stage reads time only from its inputs. What
   * changes is locality: one file's packets run one after another instead of between every other
   * file's, which halves the CPU per packet of 300 interleaved tracks (bench/many-tracks-bench.mts).
   * A recording that ticks its files sets it.
   */
  batchPackets?: number;
}

export interface TrackFileAttachOptions {
  /** Who feeds the file (participant or peer id). A different id than before is a rejoin. */
  sourceId: string;
  payloadType: number;
  clockRate?: number;
  /** When the source joined (wall-clock ms); by default the first packet's arrival. */
  atMs?: number;
  /** The source's negotiated RFC 6464 audio-level extension id: its packets' levels are read. */
  audioLevelExtId?: number;
}

/** Why a file has no speaking intervals. */
export type TrackFileLevelsMissing =
  /** No source of the file negotiated the audio-level extension. */
  | 'not_negotiated'
  /** Negotiated, but no packet carried a level. */
  | 'not_sent'
  /** Negotiated, but no audio arrived at all. */
  | 'no_audio'
  /** Finalised by repair after a crash, and the running journal held no level of it. */
  | 'repaired_after_crash';

/** Who spoke when in one file, from the packets' audio levels (see `speech-activity.ts`). */
export interface TrackFileSpeech {
  levelsSource: 'rtp_header_extension' | 'none';
  /** Set when `levelsSource` is `none`. */
  missingReason?: TrackFileLevelsMissing;
  /** On the recording timeline (ms from t0); null when there are no levels (never invented). */
  intervals: SpeakingInterval[] | null;
  /** One loudest level per bin (integer dBov, -127..0) from position 0; null without levels. */
  envelope: { intervalMs: number; values: number[] } | null;
  thresholdDbov: number;
  hangoverMs: number;
  framesWithLevel: number;
  framesWithoutLevel: number;
  /**
   * Set on a file finalised by crash repair whose levels came from the running journal: levels are
   * known up to here (ms on the timeline); the envelope holds -127 and no interval starts after it.
   */
  recoveredToMs?: number;
}

/** An interval on the recording timeline (ms from t0). */
export interface TimelineInterval {
  fromMs: number;
  toMs: number;
}

export interface PresenceInterval extends TimelineInterval {
  sourceId: string;
}

export interface TrackFileIntervals {
  /** Attach..detach (or stop). */
  present: PresenceInterval[];
  muted: TimelineInterval[];
  paused: TimelineInterval[];
}

export interface TrackFilePacketStats {
  /** RTP packets of the attached payload type that parsed. */
  received: number;
  lost: number;
  /** Lost packets whose slot was filled with silence. */
  concealed: number;
  duplicated: number;
  reordered: number;
  late: number;
  /** Unparseable RTP or Opus payloads. */
  invalid: number;
  /** Wrong payload type, no source attached, or paused. */
  ignored: number;
  /** Frames dropped because their slot on the timeline was already written. */
  overlapped: number;
  /**
   * Packets not written because they belong after the stop instant: those that reached the
   * pipeline after it, and those a late stop found already placed past it (cut back at close).
   */
  afterStop: number;
}

export interface TrackFileResult {
  path: string;
  sizeBytes: number;
  sha256: string;
  /** Wall-clock ms of timeline position 0. */
  t0Ms: number;
  channels: 1 | 2;
  align: TimelineAlign;
  /** Timeline position (ms) of the file's first sample: 0, or startOffsetMs with `first_packet`. */
  fileStartMs: number;
  durationMs: number;
  /** Timeline position (ms) of the first real audio, or null if none arrived. */
  startOffsetMs: number | null;
  framesWritten: number;
  framesFilled: number;
  /** Silence between real frames (loss, DTX) in ms. */
  concealedMs: number;
  packets: TrackFilePacketStats;
  reanchors: TimelineStats['reanchors'];
  intervals: TrackFileIntervals;
  /** Speaking intervals and the level envelope. */
  speech: TrackFileSpeech;
  /**
   * Set when a write failed (a full disk, an I/O error): the file holds what was written before it,
   * finalised (cut after the last complete block, Cues and Duration written), and ends early.
   */
  writeFailure?: TrackFileWriteFailure;
}

export interface TrackFileWriteFailure {
  /** The system error code (`ENOSPC` for a full disk, `EIO`, ...), or `UNKNOWN`. */
  code: string;
  message: string;
  /** Timeline position (ms from t0) where the file's audio ends. */
  endsAtMs: number;
}

export type TrackFileWriterState = 'new' | 'opening' | 'open' | 'closing' | 'closed';

export interface TrackFileWriterStats extends TrackPipelineStats {
  state: TrackFileWriterState;
  bytesOnDisk: number;
  pendingWrites: number;
  muxer: WebmMuxerStats;
}

export interface TrackFileWriterEvents {
  /** A write reached the file (after each completed cluster and the finalize writes). */
  flushed: [info: { bytesOnDisk: number; clusters: number; durationMs: number }];
  closed: [result: TrackFileResult];
  /** The first write that failed; later writes are skipped and close() finalises what is on disk. */
  writeFailed: [failure: { code: string; message: string }];
}

interface OpenInterval {
  fromMs: number | undefined;
}

export { hashFile };

export class TrackFileWriter extends EventEmitter<TrackFileWriterEvents> {
  private readonly options: Readonly<TrackFileWriterOptions>;
  private readonly logger: RecorderLogger;
  private readonly channels: 1 | 2;
  private readonly pipeline: TrackPipeline;
  private readonly muxer: WebmMuxer;
  private readonly speech = new SpeechActivity();
  /** Some attached source negotiated the audio-level extension. */
  private levelsNegotiated = false;

  private state: TrackFileWriterState = 'new';
  private fh: TrackFileHandle | undefined;
  private openPromise: Promise<void> | undefined;
  private closePromise: Promise<TrackFileResult> | undefined;
  private readonly queue: WebmWrite[] = [];
  private draining: Promise<void> | undefined;
  /** Packets pushed but not run yet (`batchPackets`), and their arrival times. */
  private readonly heldData = new ReusedList<Uint8Array>();
  /** Slot i is the arrival time of heldData's item i (kept, never emptied: numbers retain nothing). */
  private readonly heldAt: number[] = [];
  /** Frames out of the pipeline not muxed yet (reused; run and runHeld empty it). */
  private readonly frames = new ReusedList<TimelineOutput>();
  private readonly batchPackets: number;
  private writeError: unknown;
  private bytesOnDisk = 0;

  private sourceId: string | undefined;
  private paused = false;
  /** Blocks (and of those, filled silence) cut back by pauses that arrived late. */
  private readonly pauseCut = { blocks: 0, filled: 0 };
  private muted = false;
  private lastNowMs = -Infinity;
  private presence: (OpenInterval & { sourceId: string }) | undefined;
  private mutedSince: OpenInterval | undefined;
  private pausedSince: OpenInterval | undefined;
  private readonly intervals: TrackFileIntervals = { present: [], muted: [], paused: [] };

  constructor(options: TrackFileWriterOptions) {
    super();
    if (!options.path) throw new RecorderError('RECORDER_INVALID_OPTIONS', 'path is required');
    if (!Number.isFinite(options.t0Ms))
      throw new RecorderError('RECORDER_INVALID_OPTIONS', 't0Ms must be a number');
    this.options = { ...options };
    this.logger = options.logger ?? silentLogger;
    this.channels = options.channels ?? 2;
    this.batchPackets = Math.max(0, Math.floor(options.batchPackets ?? 0));
    this.pipeline = new TrackPipeline({
      t0Ms: options.t0Ms,
      channels: this.channels,
      playoutDelayMs: options.playoutDelayMs ?? 100,
      align: options.align ?? 'timeline',
      ...(options.driftThresholdMs !== undefined && { driftThresholdMs: options.driftThresholdMs }),
      ...(options.driftSustainMs !== undefined && { driftSustainMs: options.driftSustainMs }),
      ...(options.jumpThresholdMs !== undefined && { jumpThresholdMs: options.jumpThresholdMs }),
    });
    this.muxer = new WebmMuxer({
      channels: this.channels,
      ...(options.clusterMs !== undefined && { clusterMs: options.clusterMs }),
      dateUtcMs: options.t0Ms,
    });
  }

  get path(): string {
    return this.options.path;
  }

  /** Creates the file (it must not exist) and writes the header. */
  open(): Promise<void> {
    if (this.state !== 'new') {
      return Promise.reject(
        this.isClosed()
          ? this.closedError()
          : new RecorderError('RECORDER_ALREADY_OPEN', undefined, { path: this.path }),
      );
    }
    this.state = 'opening';
    this.openPromise = (async () => {
      try {
        this.fh = await (this.options.openFile ?? openExclusive)(this.path);
      } catch (e) {
        this.state = 'closed';
        throw new RecorderError('RECORDER_IO_FAILED', `cannot create ${this.path}`, { path: this.path }, e);
      }
      this.enqueue([this.muxer.start()]);
      await this.draining;
      if (this.state === 'opening') this.state = 'open';
      this.logger.info(
        { path: this.path, t0Ms: this.options.t0Ms, channels: this.channels },
        'track file opened',
      );
    })();
    return this.openPromise;
  }

  attach(options: TrackFileAttachOptions): void {
    this.assertOpen();
    this.runHeld();
    const rejoin = this.sourceId !== undefined || this.intervals.present.length > 0;
    if (this.presence) this.endPresence(options.atMs ?? Math.max(this.lastNowMs, this.options.t0Ms));
    this.run({
      kind: 'attach',
      payloadType: options.payloadType,
      clockRate: options.clockRate ?? 48_000,
      ...(options.audioLevelExtId !== undefined && { audioLevelExtId: options.audioLevelExtId }),
    });
    if (options.audioLevelExtId !== undefined) this.levelsNegotiated = true;
    this.sourceId = options.sourceId;
    this.presence = { sourceId: options.sourceId, fromMs: options.atMs };
    if (options.atMs !== undefined) this.observe(options.atMs);
    this.logger.info({ path: this.path, sourceId: options.sourceId, rejoin }, 'track source attached');
  }

  detach(atMs: number): void {
    this.assertOpen();
    this.runHeld();
    if (this.sourceId === undefined) return;
    this.observe(atMs);
    this.run({ kind: 'detach', atMs });
    this.endPresence(atMs);
    this.logger.info({ path: this.path, sourceId: this.sourceId }, 'track source detached');
    this.sourceId = undefined;
  }

  /** Synchronous and cheap. Packets of other payload types, or with no source attached, are ignored. */
  push(rtp: Uint8Array, arrivalMs: number): void {
    this.assertOpen();
    this.observe(arrivalMs);
    if (this.batchPackets === 0) {
      this.run({ kind: 'rtp', data: rtp, arrivalMs });
      return;
    }
    this.heldAt[this.heldData.length] = arrivalMs;
    this.heldData.push(rtp);
    if (this.heldData.length >= this.batchPackets) this.runHeld();
  }

  /** Time passes: releases held packets and writes silence up to now - playoutDelayMs. */
  tick(nowMs: number): void {
    this.assertOpen();
    this.runHeld();
    this.observe(nowMs);
    this.run({ kind: 'tick', nowMs });
  }

  setMuted(muted: boolean, atMs: number): void {
    this.assertOpen();
    this.runHeld();
    this.observe(atMs);
    if (muted === this.muted) return;
    this.muted = muted;
    if (muted) this.mutedSince = { fromMs: atMs };
    else this.closeInterval(this.mutedSince, atMs, this.intervals.muted);
    this.logger.info({ path: this.path, muted }, 'track mute changed');
  }

  pause(atMs: number): void {
    this.assertOpen();
    this.runHeld();
    this.observe(atMs);
    if (this.paused) return;
    this.run({ kind: 'pause', atMs });
    this.cutBackTo(atMs);
    this.paused = true;
    this.pausedSince = { fromMs: atMs };
    this.logger.info({ path: this.path }, 'track recording paused');
  }

  resume(atMs: number): void {
    this.assertOpen();
    this.runHeld();
    this.observe(atMs);
    if (!this.paused) return;
    this.paused = false;
    this.run({ kind: 'resume', atMs });
    this.closeInterval(this.pausedSince, atMs, this.intervals.paused);
    this.pausedSince = undefined;
    this.logger.info({ path: this.path }, 'track recording resumed');
  }

  /** Flushes, fills silence up to `stopMs`, finalizes the WebM and fsyncs. Idempotent. */
  close(stopMs: number): Promise<TrackFileResult> {
    this.closePromise ??= this.doClose(stopMs);
    return this.closePromise;
  }

  stats(): TrackFileWriterStats {
    this.runHeld();
    return {
      ...this.pipeline.stats(),
      state: this.state,
      bytesOnDisk: this.bytesOnDisk,
      pendingWrites: this.queue.length,
      muxer: this.muxer.stats(),
    };
  }

  private async doClose(stopMs: number): Promise<TrackFileResult> {
    const wasState = this.state;
    if (wasState === 'opening') await this.openPromise?.catch(() => undefined);
    if (this.state !== 'open') {
      this.state = 'closed';
      throw new RecorderError('RECORDER_NOT_OPEN', 'close() before a successful open()', { path: this.path });
    }
    this.runHeld();
    this.state = 'closing';
    this.observe(stopMs);
    this.run({ kind: 'end', atMs: stopMs });
    if (this.presence) this.endPresence(stopMs);
    this.closeInterval(this.mutedSince, stopMs, this.intervals.muted);
    this.closeInterval(this.pausedSince, stopMs, this.intervals.paused);
    this.mutedSince = undefined;
    this.pausedSince = undefined;
    const fh = this.fh as TrackFileHandle;
    while (this.draining) await this.draining;
    if (this.writeError !== undefined) return this.closeAfterWriteFailure(fh);
    try {
      await fh.sync();
    } catch (e) {
      this.state = 'closed';
      await fh
        .close()
        .catch((err: unknown) => this.logger.warn({ err, path: this.path }, 'closing the file failed'));
      throw new RecorderError('RECORDER_IO_FAILED', undefined, { path: this.path }, e);
    }
    await fh.close();
    this.state = 'closed';
    const result = await this.buildResult();
    const m = this.muxer.stats();
    if (m.overrunMs > 0)
      this.logger.warn(
        { path: this.path, overrunMs: m.overrunMs },
        'the stop arrived too late to cut the file back to its instant: it runs on past it',
      );
    this.logger.info(
      {
        path: this.path,
        durationMs: result.durationMs,
        sizeBytes: result.sizeBytes,
        lost: result.packets.lost,
        ...(m.trimmedBlocks > 0 && { cutAfterStop: m.trimmedBlocks }),
      },
      'track file closed',
    );
    this.safeEmit('closed', result);
    return result;
  }

  /**
   * A write failed: what reached the disk is kept. The file is closed, then finalised the way a
   * crashed file is (the partial tail cut, Cues, Duration and sizes written), so it stays a valid,
   * seekable WebM that ends where the disk ran out. Throws only when not even that is possible.
   */
  private async closeAfterWriteFailure(fh: TrackFileHandle): Promise<TrackFileResult> {
    this.state = 'closed';
    await fh
      .close()
      .catch((err: unknown) => this.logger.warn({ err, path: this.path }, 'closing the file failed'));
    const cause = this.writeError;
    let repaired;
    try {
      repaired = await repairWebmFile(this.path);
    } catch (e) {
      throw new RecorderError(
        'RECORDER_IO_FAILED',
        `cannot finalise ${this.path} after a failed write`,
        { path: this.path },
        e,
      );
    }
    if (!repaired.ok) {
      throw new RecorderError(
        'RECORDER_IO_FAILED',
        `nothing usable in ${this.path} after a failed write: ${repaired.reason ?? 'unknown'}`,
        { path: this.path },
        cause,
      );
    }
    const base = await this.buildResult();
    const endsAtMs = base.fileStartMs + repaired.durationMs;
    const result: TrackFileResult = {
      ...base,
      speech: speechUpTo(base.speech, endsAtMs),
      durationMs: repaired.durationMs,
      writeFailure: { ...systemErrorOf(cause), endsAtMs: base.fileStartMs + repaired.durationMs },
    };
    this.logger.warn(
      { path: this.path, durationMs: result.durationMs, code: result.writeFailure?.code },
      'track file finalised after a failed write: it ends early',
    );
    this.safeEmit('closed', result);
    return result;
  }

  private async buildResult(): Promise<TrackFileResult> {
    const { sizeBytes, sha256 } = await hashFile(this.path);
    const { timeline: t, reorder: r, parser: p, ignored } = this.pipeline.stats();
    const m = this.muxer.stats();
    const startOffsetMs = t.firstRealPos === null ? null : samplesToMs(t.firstRealPos);
    const align = this.options.align ?? 'timeline';
    return {
      path: this.path,
      sizeBytes,
      sha256,
      t0Ms: this.options.t0Ms,
      channels: this.channels,
      align,
      fileStartMs: align === 'first_packet' ? (startOffsetMs ?? 0) : 0,
      durationMs: m.durationMs,
      startOffsetMs,
      // Frames the muxer cut because they lay past a late stop are not in the file.
      framesWritten: t.framesReal + t.framesFilled - m.trimmedBlocks,
      framesFilled: t.framesFilled - m.trimmedFilled,
      concealedMs: samplesToMs(t.concealedSamples),
      packets: {
        received: p.parsed,
        lost: r.lost,
        concealed: t.concealedPackets,
        duplicated: r.duplicated,
        reordered: r.reordered,
        late: r.late,
        invalid: p.invalid + t.invalidPayload,
        ignored: ignored + p.wrongPayloadType + t.droppedPaused + this.pauseCut.blocks - this.pauseCut.filled,
        overlapped: t.overlaps,
        afterStop:
          t.droppedAfterEnd +
          m.trimmedBlocks -
          m.trimmedFilled -
          (this.pauseCut.blocks - this.pauseCut.filled),
      },
      reanchors: t.reanchors,
      intervals: {
        present: this.intervals.present.map((i) => ({ ...i })),
        muted: this.intervals.muted.map((i) => ({ ...i })),
        paused: this.intervals.paused.map((i) => ({ ...i })),
      },
      speech: this.speechResult(t.framesReal),
    };
  }

  /** Resolves once the writes queued so far have reached the file (or failed). */
  async drained(): Promise<void> {
    this.runHeld();
    while (this.draining) await this.draining;
  }

  /**
   * The levels that became final since the previous call (see `SpeechActivity.checkpoint`), for the
   * recording's running journal; after close, everything that was left.
   */
  speechCheckpoint(): SpeechCheckpoint & { negotiated: boolean } {
    this.runHeld();
    return { ...this.speech.checkpoint(this.state === 'closed'), negotiated: this.levelsNegotiated };
  }

  private speechResult(framesReal: number): TrackFileSpeech {
    const sa = this.speech;
    const st = sa.stats();
    const base = {
      thresholdDbov: sa.thresholdDbov,
      hangoverMs: sa.hangoverMs,
      framesWithLevel: st.framesWithLevel,
      framesWithoutLevel: st.framesWithoutLevel,
    };
    if (st.framesWithLevel === 0) {
      const missingReason: TrackFileLevelsMissing = !this.levelsNegotiated
        ? 'not_negotiated'
        : framesReal === 0
          ? 'no_audio'
          : 'not_sent';
      return { levelsSource: 'none', missingReason, intervals: null, envelope: null, ...base };
    }
    return {
      levelsSource: 'rtp_header_extension',
      intervals: sa.intervals().map((i) => ({ ...i })),
      envelope: { intervalMs: sa.envelopeMs, values: sa.envelope() },
      ...base,
    };
  }

  /**
   * A pause that arrives late finds audio muxed past its instant: that audio is cut (as a late stop's
   * is at close) and the timeline goes on from where the kept audio ends, so the silence of the
   * pause starts at its instant. The cut real frames count as ignored (dropped while paused).
   */
  private cutBackTo(atMs: number): void {
    const pos = quantize(msToSamples(atMs - this.options.t0Ms));
    if (this.muxer.endPosition <= pos) return;
    const before = this.muxer.stats();
    const writes: WebmWrite[] = [];
    const end = this.muxer.cutBack(pos, writes);
    const after = this.muxer.stats();
    this.pauseCut.blocks += after.trimmedBlocks - before.trimmedBlocks;
    this.pauseCut.filled += after.trimmedFilled - before.trimmedFilled;
    this.speech.cutTo(end);
    this.pipeline.rewind(end);
    if (writes.length > 0) this.enqueue(writes);
  }

  /** Runs the packets `push` held, in order, and queues their writes once. */
  private runHeld(): void {
    const n = this.heldData.length;
    if (n === 0 || this.state !== 'open') return;
    const frames = this.frames;
    for (let i = 0; i < n; i++)
      this.pipeline.processRtp(this.heldData.get(i), this.heldAt[i] as number, frames);
    this.heldData.clear();
    this.muxFrames();
  }

  /** Muxes the frames the pipeline put in `frames` (and empties it), queueing the writes. */
  private muxFrames(): void {
    const frames = this.frames;
    if (frames.length === 0) return;
    // The muxer's writes go straight onto the queue (as enqueue would put them).
    const queued = this.queue.length;
    for (let i = 0; i < frames.length; i++) {
      const f = frames.get(i);
      this.speech.process(f);
      this.muxer.processInto(f, this.queue);
    }
    frames.clear();
    if (this.queue.length > queued) this.startDrain();
  }

  /** Runs one input through the pipeline and the muxer and queues the resulting writes. */
  private run(input: TrackPipelineInput): void {
    this.pipeline.processInto(input, this.frames);
    this.muxFrames();
  }

  private enqueue(writes: WebmWrite[]): void {
    for (const w of writes) this.queue.push(w);
    this.startDrain();
  }

  /** Starts writing the queue unless a drain is already running (it takes what is queued meanwhile). */
  private startDrain(): void {
    this.draining ??= this.drain();
  }

  /**
   * Writes queued chunks in order. Never rejects: the first error is kept for close(), later writes
   * are dropped. It yields before it starts, so `draining` always holds a pending promise while it
   * runs (a drain that finished synchronously would leave a settled promise behind, and close()
   * would wait on it forever).
   */
  private async drain(): Promise<void> {
    await Promise.resolve();
    const fh = this.fh as TrackFileHandle;
    try {
      for (let w = this.queue.shift(); w !== undefined; w = this.queue.shift()) {
        if (this.writeError !== undefined) continue;
        try {
          if (w.kind === 'truncate') {
            await fh.truncate(w.offset);
            this.bytesOnDisk = w.offset;
            continue;
          }
          let done = 0;
          while (done < w.bytes.length) {
            const { bytesWritten } = await fh.write(w.bytes, done, w.bytes.length - done, w.offset + done);
            if (bytesWritten <= 0) throw Object.assign(new Error('no bytes written'), { code: 'EIO' });
            done += bytesWritten;
          }
          if (w.kind === 'append') {
            this.bytesOnDisk = w.offset + w.bytes.length;
            this.muxer.written(w);
          }
          const m = this.muxer.stats();
          this.safeEmit('flushed', {
            bytesOnDisk: this.bytesOnDisk,
            clusters: m.clusters,
            durationMs: m.flushedMs,
          });
        } catch (e) {
          this.writeError = new RecorderError('RECORDER_IO_FAILED', undefined, { path: this.path }, e);
          this.queue.length = 0;
          this.logger.error({ err: e, path: this.path }, 'track file write failed; later writes are skipped');
          this.safeEmit('writeFailed', systemErrorOf(this.writeError));
        }
      }
    } finally {
      this.draining = undefined;
    }
  }

  private safeEmit<K extends keyof TrackFileWriterEvents>(event: K, ...args: TrackFileWriterEvents[K]): void {
    try {
      // eslint-disable-next-line @typescript-eslint/no-explicit-any
      (this.emit as (e: K, ...a: any[]) => boolean)(event, ...args);
    } catch (err) {
      this.logger.error({ err, event }, 'a track file writer listener threw');
    }
  }

  private observe(ms: number): void {
    if (ms > this.lastNowMs) this.lastNowMs = ms;
    if (this.presence && this.presence.fromMs === undefined) this.presence.fromMs = ms;
  }

  private endPresence(atMs: number): void {
    const p = this.presence;
    if (!p) return;
    const from = p.fromMs ?? atMs;
    this.intervals.present.push({
      sourceId: p.sourceId,
      fromMs: from - this.options.t0Ms,
      toMs: Math.max(from, atMs) - this.options.t0Ms,
    });
    this.presence = undefined;
  }

  private closeInterval(open: OpenInterval | undefined, atMs: number, into: TimelineInterval[]): void {
    if (!open || open.fromMs === undefined) return;
    into.push({
      fromMs: open.fromMs - this.options.t0Ms,
      toMs: Math.max(open.fromMs, atMs) - this.options.t0Ms,
    });
    open.fromMs = undefined;
  }

  private isClosed(): boolean {
    return this.state === 'closing' || this.state === 'closed';
  }

  private closedError(): RecorderError {
    return new RecorderError('RECORDER_CLOSED', undefined, { path: this.path });
  }

  private assertOpen(): void {
    if (this.state === 'open') return;
    if (this.isClosed()) throw this.closedError();
    throw new RecorderError('RECORDER_NOT_OPEN', undefined, { path: this.path });
  }
}

/** The system error code and message under a (possibly wrapped) error. */
function systemErrorOf(err: unknown): { code: string; message: string } {
  let e: unknown = err;
  for (let i = 0; i < 5 && e; i++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) return { code, message: (e as Error).message };
    e = (e as { cause?: unknown }).cause;
  }
  return { code: 'UNKNOWN', message: err instanceof Error ? err.message : String(err) };
}

/** The speech of a file cut short at `endsAtMs` (a failed write): nothing after the file's end. */
function speechUpTo(s: TrackFileSpeech, endsAtMs: number): TrackFileSpeech {
  if (!s.intervals || !s.envelope) return s;
  const bins = Math.ceil(endsAtMs / s.envelope.intervalMs);
  return {
    ...s,
    intervals: s.intervals
      .filter((i) => i.fromMs < endsAtMs)
      .map((i) => ({ ...i, toMs: Math.min(i.toMs, endsAtMs) })),
    envelope: { ...s.envelope, values: s.envelope.values.slice(0, bins) },
  };
}
