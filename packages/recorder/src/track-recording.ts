/**
 * One track recording: the unit that owns all of its work. It selects peers, keeps one
 * TrackFileWriter per selected peer (or participant, with group_by user) and layer, feeds each from a
 * raw RTP tap of the media source, writes a journal as files are created (so that a crash never loses
 * who a file belongs to), and at the end writes the manifest. `repairTrackRecording` finalises what a
 * killed process left. All files share t0, the instant the recording started.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import {
  TypedEmitter,
  type MediaPeer,
  type MediaSourceEvents,
  type MediaTrackInfo,
  type RecordingAllowlistActor,
  type RecordingAllowlistChange,
  type TrackRecordingFailure,
  type TrackRecordingSpec,
} from '@trackroom/protocol';
import { RecorderError } from './errors.js';
import { withContext, silentLogger, type RecorderLogger } from './logger.js';
import type {
  MANIFEST_FILE,
  ManifestFileInput,
  RecordingManifest,
  TrackRecordingFile,
} from './recording-manifest.js';
import { TrackFileWriter, type TrackFileOpener, type TrackFileResult } from './track-file-writer.js';
import { applyAllowlistChange, everRequested } from './recording-allowlist.js';
import {
  fileInput,
  fileOf,
  writeManifest,
  levelsLine,
  RUNNING_JOURNAL_FILE,
  type RunningJournalLine,
} from './track-recording-output.js';

export {
  JOURNAL_FILE,
  RUNNING_JOURNAL_FILE,
  repairTrackRecording,
  type TrackRecordingRepairOptions,
} from './track-recording-output.js';

/** Where the recording's media comes from: who is there, and a raw RTP tap on a kind of their media. */
/** Packets a file holds between its ticks at most (32 × 20 ms: more than a 200 ms tick brings). */
const BATCH_PACKETS = 32;

export interface MediaSource extends TypedEmitter<MediaSourceEvents> {
  peers(meetingId: string): MediaPeer[];
  /** Throws when the peer is not (any more) in the meeting. Returns the untap function. */
  tap(
    meetingId: string,
    peerId: string,
    kind: MediaTrackInfo['kind'],
    onRtp: (rtp: Uint8Array, arrivalMs: number) => void,
  ): () => void;
}

/** Wall-clock time in ms; injected so that tests drive it. */
export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

export type TrackRecordingLayer = TrackRecordingSpec['layers'][string];

/** What to record (protocol's serialisable spec, the same for every worker) and how to run it here. */
export interface TrackRecordingOptions extends TrackRecordingSpec {
  source: MediaSource;
  logger?: RecorderLogger;
  clock?: Clock;
  /**
   * How often silence is written for quiet or muted tracks (ms). Default 200. 0: no timer, the
   * owner calls `tick()` (tests that drive an injected clock).
   */
  tickMs?: number;
  clusterMs?: number;
  openFile?: TrackFileOpener;
}

export interface TrackRecordingResult {
  t0Ms: number;
  stopMs: number;
  files: TrackRecordingFile[];
  /** The manifest as written to `manifest.json` beside the files. */
  manifest: RecordingManifest;
  manifestFile: { fileName: typeof MANIFEST_FILE; sizeBytes: number; sha256: string };
}

export type { TrackRecordingFailure };

export type TrackRecordingEvents = {
  fileOpened: { fileName: string; participantId: string; peerId: string };
  /** A peer's audio now feeds the file (at start, on join, on a rejoin with group_by user). */
  sourceAttached: { fileName: string; peerId: string };
  fileClosed: TrackRecordingFile;
  /** The first write failure of any file; the owner should stop the recording (it finalises what fits). */
  failed: TrackRecordingFailure;
};

export type TrackRecordingState = 'new' | 'recording' | 'stopping' | 'stopped';

/** What a recording has written so far (for metrics). */
export interface TrackRecordingIoStats {
  bytesWritten: number;
  packetsReceived: number;
  packetsLost: number;
}

interface FileEntry {
  layer: string;
  fileName: string;
  participantId: string;
  customParticipantId: string;
  /** Peer mode: the one peer; user mode: the current peer (null while absent). */
  peerId: string | null;
  peerIds: string[];
  writer: TrackFileWriter;
  untap: (() => void) | undefined;
  /** open() has finished: before that every writer call but close() throws. */
  opened: boolean;
  closed: boolean;
  /** Peer mode: the file closed when its peer left. */
  result: Promise<TrackFileResult> | undefined;
}

/** A file the timers and peer events may touch: opened (its header is written) and not closed. */
const live = (f: FileEntry) => f.opened && !f.closed;

const safePrefix = (p: string) => p.replace(/[^-\w]/g, '_');

/** Whether a recording of `userIds` captures a peer: never hidden peers; null records everyone else. */
export function selectsPeer(
  userIds: readonly string[] | null,
  p: Pick<MediaPeer, 'hidden' | 'participantId' | 'customParticipantId'>,
): boolean {
  if (p.hidden) return false;
  return !userIds || userIds.includes(p.participantId) || userIds.includes(p.customParticipantId);
}

export class TrackRecording extends TypedEmitter<TrackRecordingEvents> {
  readonly #o: TrackRecordingOptions;
  readonly #log: RecorderLogger;
  readonly #clock: Clock;
  readonly #files: FileEntry[] = [];
  readonly #offs: (() => void)[] = [];
  #state: TrackRecordingState = 'new';
  #t0Ms = 0;
  #paused = false;
  #timer: NodeJS.Timeout | undefined;
  #failure: TrackRecordingFailure | undefined;
  #stopping: Promise<TrackRecordingResult> | undefined;
  /** The allowlist now (it changes with updateUsers); null records everyone. */
  #userIds: string[] | null;
  readonly #allowlistChanges: RecordingAllowlistChange[] = [];
  /** Running-journal lines not yet appended, and the append in flight (one at a time, batched). */
  readonly #pendingLines: string[] = [];
  /** Resolves the callers whose lines are in #pendingLines once those lines are written. */
  readonly #pendingDone: (() => void)[] = [];
  #appending: Promise<void> | undefined;
  #appendFailed = false;
  /** The running journal, open for appending from its first line until stop or abandon. */
  #journalFile: Promise<FileHandle> | undefined;
  #abandoned = false;

  constructor(options: TrackRecordingOptions) {
    super();
    if (Object.keys(options.layers).length === 0)
      throw new RecorderError('RECORDER_INVALID_OPTIONS', 'a track recording needs at least one layer');
    this.#o = options;
    this.#log = withContext(options.logger ?? silentLogger, { recordingId: options.id });
    this.#clock = options.clock ?? systemClock;
    this.#userIds = options.userIds ? [...options.userIds] : null;
    this.onListenerError = (err, event) =>
      this.#log.error({ err, event: String(event) }, 'a track recording listener threw');
  }

  get state(): TrackRecordingState {
    return this.#state;
  }

  get t0Ms(): number {
    return this.#t0Ms;
  }

  /** The first write failure, if any. */
  get failure(): TrackRecordingFailure | undefined {
    return this.#failure;
  }

  /** Track files of this recording (open, and closed ones kept for the manifest). */
  get fileCount(): number {
    return this.#files.length;
  }

  /** Bytes on disk and RTP packets received / declared lost, summed over this recording's files. */
  ioStats(): TrackRecordingIoStats {
    const out = { bytesWritten: 0, packetsReceived: 0, packetsLost: 0 };
    for (const f of this.#files) {
      const s = f.writer.stats();
      out.bytesWritten += s.bytesOnDisk;
      out.packetsReceived += s.reorder.received;
      out.packetsLost += s.reorder.lost;
    }
    return out;
  }

  /** Participant ids that have a file. */
  participantsCaptured(): string[] {
    return [...new Set(this.#files.map((f) => f.participantId))];
  }

  /** True if this recording selects the peer (hidden peers never). */
  selects(p: MediaPeer): boolean {
    return p.meetingId === this.#o.meetingId && selectsPeer(this.#userIds, p);
  }

  /** The allowlist now; null when the recording records everyone. */
  get userIds(): readonly string[] | null {
    return this.#userIds;
  }

  /** The live allowlist changes so far (they go into the manifest as `allowlist_changes`). */
  get allowlistChanges(): readonly RecordingAllowlistChange[] {
    return this.#allowlistChanges;
  }

  /**
   * Changes who is recorded, at `atMs`: the files of removed users close there (nothing of them is
   * written after it), users added who are present get files from there on, on the same timeline
   * (silence from t0 before, as for a late joiner). Allowed while paused. A recording of everyone
   * (`userIds` null) has no list to change and refuses.
   */
  async updateUsers(change: {
    add: readonly string[];
    remove: readonly string[];
    atMs?: number;
    by: RecordingAllowlistActor;
  }): Promise<RecordingAllowlistChange> {
    if (this.#state !== 'recording')
      throw new RecorderError('RECORDER_CLOSED', `the track recording is ${this.#state}`);
    if (!this.#userIds)
      throw new RecorderError(
        'RECORDER_INVALID_OPTIONS',
        'the recording records everyone: it has no user list',
      );
    const atMs = change.atMs ?? this.#clock.now();
    const delta = applyAllowlistChange(this.#userIds, change.add, change.remove);
    this.#userIds = delta.userIds;
    const closed: string[] = [];
    for (const f of this.#files) {
      if (f.closed || selectsPeer(this.#userIds, { hidden: false, ...f })) continue;
      closed.push(f.fileName);
      this.#closeFile(f, atMs);
    }
    const before = new Set(this.#files.map((f) => f.fileName));
    await Promise.all(
      this.#o.source.peers(this.#o.meetingId).flatMap((p) => (this.selects(p) ? [this.#addPeer(p)] : [])),
    );
    const entry: RecordingAllowlistChange = {
      at_ms: Math.max(0, atMs - this.#t0Ms),
      at: new Date(atMs).toISOString(),
      added_user_ids: delta.added,
      removed_user_ids: delta.removed,
      user_ids: [...delta.userIds],
      by: change.by,
      files_closed: closed,
      files_opened: this.#files.filter((f) => !before.has(f.fileName)).map((f) => f.fileName),
    };
    this.#allowlistChanges.push(entry);
    void this.#appendJournal({ t: 'allowlist_change', change: entry });
    this.#log.info(
      { added: delta.added, removed: delta.removed, atMs: entry.at_ms, by: change.by.type },
      'track recording allowlist changed',
    );
    return entry;
  }

  /** Starts capturing; resolves once the peers already there have their files. */
  async start(): Promise<void> {
    if (this.#state !== 'new')
      throw new RecorderError('RECORDER_ALREADY_OPEN', 'the track recording was already started');
    this.#state = 'recording';
    this.#t0Ms = this.#clock.now();
    const tickMs = this.#o.tickMs ?? 200;
    if (tickMs > 0) {
      this.#timer = setInterval(() => this.tick(), tickMs);
      this.#timer.unref();
    }
    const src = this.#o.source;
    const meeting = this.#o.meetingId;
    this.#offs.push(
      src.on('peerJoined', (p) => {
        if (this.selects(p))
          this.#addPeer(p).catch((err: unknown) =>
            this.#log.error({ err, peerId: p.peerId }, 'adding a peer failed'),
          );
      }),
      src.on('trackStarted', (e) => {
        if (e.meetingId !== meeting || e.track.kind !== 'audio') return;
        for (const f of this.#files)
          if (live(f) && f.peerId === e.peerId && !f.untap) this.#attachFile(f, e.peerId, e.track);
      }),
      src.on('mediaEnabled', (e) => {
        if (e.meetingId !== meeting || e.kind !== 'audio') return;
        for (const f of this.#files)
          if (live(f) && f.peerId === e.peerId) f.writer.setMuted(!e.enabled, e.at);
      }),
      src.on('peerLeft', (e) => {
        if (e.meetingId === meeting) this.#removePeer(e.peerId, e.at);
      }),
    );
    // Every file at once: their opens and the journal writes they share overlap.
    await Promise.all(src.peers(meeting).flatMap((p) => (this.selects(p) ? [this.#addPeer(p)] : [])));
    this.#log.info({ files: this.#files.length, t0Ms: this.#t0Ms }, 'track recording started');
  }

  pause(atMs: number = this.#clock.now()): void {
    if (this.#state !== 'recording' || this.#paused) return;
    this.#paused = true;
    for (const f of this.#files) if (live(f)) f.writer.pause(atMs);
  }

  resume(atMs: number = this.#clock.now()): void {
    if (this.#state !== 'recording' || !this.#paused) return;
    this.#paused = false;
    for (const f of this.#files) if (live(f)) f.writer.resume(atMs);
  }

  /**
   * Finalises every file and writes the manifest. Idempotent: a second call answers the same result.
   * A file that cannot be finalised (a write failed before any audio reached the disk) is listed in
   * the manifest as unusable; the other files are kept.
   */
  stop(atMs: number = this.#clock.now()): Promise<TrackRecordingResult> {
    this.#stopping ??= this.#stop(atMs);
    return this.#stopping;
  }

  async #stop(atMs: number): Promise<TrackRecordingResult> {
    this.#state = 'stopping';
    if (this.#timer) clearInterval(this.#timer);
    for (const off of this.#offs) off();
    this.#offs.length = 0;
    for (const f of this.#files) {
      f.untap?.();
      f.untap = undefined;
    }
    const settled = await Promise.all(
      this.#files.map(async (f) => {
        try {
          f.closed = true;
          return { f, r: await (f.result ?? f.writer.close(atMs)), err: undefined };
        } catch (err) {
          this.#log.error({ err, file: f.fileName }, 'a track file could not be finalised');
          return { f, r: undefined, err: err as Error };
        }
      }),
    );
    await this.#closeJournal();
    const inputs: ManifestFileInput[] = [];
    for (const { f, r } of settled) if (r) inputs.push(fileInput(f, r));
    const requested = this.#o.userIds
      ? everRequested(
          this.#o.userIds,
          this.#allowlistChanges.map((c) => c.added_user_ids),
        )
      : null;
    const result = await writeManifest({ ...this.#o, userIds: requested }, this.#t0Ms, atMs, inputs, {
      repaired: false,
      allowlistChanges: this.#allowlistChanges,
      unusable: settled.flatMap((x) =>
        x.err ? [{ file_name: x.f.fileName, participant_id: x.f.participantId, reason: x.err.message }] : [],
      ),
      failure: this.#failure,
    });
    this.#state = 'stopped';
    this.#log.info({ files: result.files.length, stopMs: atMs }, 'track recording stopped');
    return result;
  }

  /** Stops capture without finalising (the process is going away): files stay crash-consistent. */
  abandon(): void {
    if (this.#timer) clearInterval(this.#timer);
    for (const off of this.#offs) off();
    this.#offs.length = 0;
    for (const f of this.#files) f.untap?.();
    this.#state = 'stopped';
    this.#abandoned = true;
    void this.#closeJournal();
  }

  #fileName(layer: string, p: MediaPeer): string {
    const prefix = safePrefix(this.#o.layers[layer]?.filePrefix ?? layer);
    const at = this.#clock.now();
    const stem =
      this.#o.groupBy === 'user'
        ? `${prefix}_${p.participantId}_user_audio_${at}`
        : `${prefix}_${p.participantId}_${p.peerId}_peer_audio_${at}`;
    // Removed and added again within one ms: the second file gets a suffix.
    let name = `${stem}.webm`;
    for (let n = 2; this.#files.some((f) => f.fileName === name); n++) name = `${stem}_${n}.webm`;
    return name;
  }

  async #addPeer(p: MediaPeer): Promise<void> {
    if (this.#files.some((f) => !f.closed && f.peerIds.includes(p.peerId))) return;
    for (const layer of Object.keys(this.#o.layers)) {
      let entry =
        this.#o.groupBy === 'user'
          ? this.#files.find((f) => !f.closed && f.layer === layer && f.participantId === p.participantId)
          : undefined;
      if (entry) {
        entry.peerId = p.peerId;
        entry.peerIds.push(p.peerId);
      } else {
        const fileName = this.#fileName(layer, p);
        const writer = new TrackFileWriter({
          path: join(this.#o.dir, fileName),
          t0Ms: this.#t0Ms,
          align: this.#o.align === 'first_packet' ? 'first_packet' : 'timeline',
          logger: withContext(this.#log, { file: fileName }),
          ...(this.#o.clusterMs ? { clusterMs: this.#o.clusterMs } : {}),
          ...(this.#o.openFile ? { openFile: this.#o.openFile } : {}),
          // Ticked every tickMs: packets run in batches (locality; the output is the same).
          ...((this.#o.tickMs ?? 200) > 0 ? { batchPackets: BATCH_PACKETS } : {}),
        });
        writer.on('writeFailed', (f) => this.#failed({ fileName, ...f }));
        // Levels reach the running journal as each cluster reaches the disk, and at close.
        let clusters = 0;
        writer.on('flushed', (info) => {
          if (info.clusters <= clusters) return;
          clusters = info.clusters;
          void this.#appendJournal(levelsLine(fileName, writer.speechCheckpoint()));
        });
        writer.on('closed', () => void this.#appendJournal(levelsLine(fileName, writer.speechCheckpoint())));
        entry = {
          layer,
          fileName,
          participantId: p.participantId,
          customParticipantId: p.customParticipantId,
          peerId: p.peerId,
          peerIds: [p.peerId],
          writer,
          untap: undefined,
          opened: false,
          closed: false,
          result: undefined,
        };
        // Listed before it is open so that a concurrent add of the same peer finds it; the tick
        // timer and peer events skip it until open() resolves (under load that takes > tickMs).
        this.#files.push(entry);
        await writer.open();
        // Stopped, or the peer left, while the file was being created: stop() owns it now.
        if (entry.closed || this.#state !== 'recording') return;
        entry.opened = true;
        if (this.#paused) writer.pause(this.#clock.now());
        this.emit('fileOpened', { fileName, participantId: p.participantId, peerId: p.peerId });
      }
      // Who the file belongs to is on disk before any audio is: a crash repair needs it.
      await this.#appendJournal({
        t: 'file',
        entry: {
          file: entry.fileName,
          layer: entry.layer,
          participant_id: entry.participantId,
          custom_participant_id: entry.customParticipantId,
          peer_ids: [...entry.peerIds],
          t0_ms: this.#t0Ms,
        },
      });
      if (!live(entry) || this.#state !== 'recording') continue;
      const audio = p.tracks.audio;
      if (audio) this.#attachFile(entry, p.peerId, audio);
      if (!p.enabled.audio) entry.writer.setMuted(true, this.#clock.now());
    }
  }

  #attachFile(f: FileEntry, peerId: string, track: MediaTrackInfo): void {
    if (f.untap) return;
    f.writer.attach({
      sourceId: peerId,
      payloadType: track.payloadType,
      clockRate: track.clockRate,
      ...(track.audioLevelExtId !== undefined && { audioLevelExtId: track.audioLevelExtId }),
    });
    const w = f.writer;
    try {
      f.untap = this.#o.source.tap(this.#o.meetingId, peerId, 'audio', (rtp, arrivalMs) =>
        w.push(rtp, arrivalMs),
      );
      this.emit('sourceAttached', { fileName: f.fileName, peerId });
    } catch (err) {
      // The peer left while its file was being created (start() works from a snapshot of the
      // peers): the file keeps its silence, as for any peer that left; the recording goes on.
      this.#log.info({ err, peerId }, 'peer gone before its tap');
    }
  }

  #removePeer(peerId: string, at: number): void {
    for (const f of this.#files) {
      if (f.closed || f.peerId !== peerId) continue;
      f.untap?.();
      f.untap = undefined;
      if (f.opened) f.writer.detach(at);
      f.peerId = null;
      // Peer mode: the peer's file is complete when it leaves. User mode keeps it for a rejoin.
      if (this.#o.groupBy === 'peer') this.#closeFile(f, at);
    }
  }

  /** Closes a file before the recording stops (its peer left, or its user left the allowlist). */
  #closeFile(f: FileEntry, at: number): void {
    f.untap?.();
    f.untap = undefined;
    if (f.opened && f.peerId !== null) f.writer.detach(at);
    f.peerId = null;
    f.closed = true;
    f.result = f.writer.close(at);
    f.result.then(
      (r) => this.emit('fileClosed', fileOf(f, r)),
      (err: unknown) => this.#log.error({ err, file: f.fileName }, 'closing file failed'),
    );
  }

  #failed(failure: TrackRecordingFailure): void {
    if (this.#failure) return;
    this.#failure = failure;
    this.#log.error({ ...failure }, 'a track file failed to write');
    this.emit('failed', failure);
  }

  /** Time passes: every open file writes silence up to now (less its playout delay). */
  tick(): void {
    if (this.#state !== 'recording') return;
    const now = this.#clock.now();
    for (const f of this.#files) if (live(f)) f.writer.tick(now);
  }

  /** Resolves once every write queued so far (audio, and the running journal) has reached the disk. */
  async settled(): Promise<void> {
    await Promise.all(this.#files.map((f) => f.writer.drained()));
    while (this.#appending) await this.#appending;
  }

  /**
   * Appends a line to the running journal; lines queued during an append go in the next one.
   * Resolves once the line is written (or the write failed: that is logged, never thrown).
   */
  #appendJournal(line: RunningJournalLine): Promise<void> {
    if (this.#abandoned) return Promise.resolve();
    this.#pendingLines.push(JSON.stringify(line));
    const done = new Promise<void>((resolve) => this.#pendingDone.push(resolve));
    this.#appending ??= this.#drainJournal();
    return done;
  }

  async #drainJournal(): Promise<void> {
    await Promise.resolve();
    try {
      while (this.#pendingLines.length > 0) {
        const chunk = `${this.#pendingLines.splice(0).join('\n')}\n`;
        const waiting = this.#pendingDone.splice(0);
        try {
          this.#journalFile ??= open(join(this.#o.dir, RUNNING_JOURNAL_FILE), 'a');
          await (await this.#journalFile).write(chunk);
        } catch (err) {
          // The recording goes on: what the journal lacks, only a crash repair misses.
          if (!this.#appendFailed) this.#log.warn({ err }, 'running journal append failed');
          this.#appendFailed = true;
          this.#journalFile = undefined;
        }
        for (const resolve of waiting) resolve();
      }
    } finally {
      this.#appending = undefined;
    }
  }

  /** Closes the running journal once its queued lines are written. */
  async #closeJournal(): Promise<void> {
    while (this.#appending) await this.#appending;
    const f = this.#journalFile;
    this.#journalFile = undefined;
    await f?.then((fh) => fh.close()).catch(() => undefined);
  }
}
