import { readFile, readdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { TypedEmitter } from '@trackroom/protocol';
import { type Logger } from '@trackroom/protocol';
import {
  TrackFileWriter,
  repairWebmFile,
  trackManifestEntry,
  type TrackFileResult,
  type TrackManifestEntry,
} from '@trackroom/recorder';
import { MANIFEST_FILE, type TrackRecordingEngine } from '../services/recording-service.js';
import type { RecordingFileRow, RecordingRow } from '../store/types.js';

/** A live peer as the engine needs to know it. */
export interface MediaPeer {
  meetingId: string;
  peerId: string;
  participantId: string;
  customParticipantId: string;
  /** Hidden and recorder peers are never recorded. */
  hidden: boolean;
  audio?: { payloadType: number; clockRate: number; channels: number } | undefined;
  audioEnabled: boolean;
}

export interface MediaSourceEvents {
  [k: string]: unknown;
  peerJoined: MediaPeer;
  peerLeft: { meetingId: string; peerId: string; at: number };
  audioStarted: MediaPeer;
  audioEnabled: { meetingId: string; peerId: string; enabled: boolean; at: number };
}

/** What the engine needs from the media plane: who is there, and a raw RTP tap on their audio. */
export interface MediaSource extends TypedEmitter<MediaSourceEvents> {
  peers(meetingId: string): MediaPeer[];
  tapAudio(
    meetingId: string,
    peerId: string,
    onRtp: (rtp: Uint8Array, arrivalMs: number) => void,
  ): () => void;
}

export interface TrackEngineOptions {
  source: MediaSource;
  logger: Logger;
  /** How often silence is written for quiet or muted tracks (ms). Default 200. */
  tickMs?: number;
  clusterMs?: number;
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
  /** The writer's open() has finished: before that every writer call but close() throws. */
  opened: boolean;
  closed: boolean;
}

/** A file the timers and peer events may touch: opened (its header is written) and not closed. */
const live = (f: FileEntry) => f.opened && !f.closed;

interface Active {
  rec: RecordingRow;
  dir: string;
  t0Ms: number;
  files: FileEntry[];
  paused: boolean;
  timer: NodeJS.Timeout;
  offs: (() => void)[];
  /** Journal writes, one at a time: concurrent ones would race on the same temporary file. */
  journaling: Promise<void>;
}

/** Written beside the files as they are created, so that a crash never loses who a file belongs to. */
interface JournalEntry {
  file: string;
  layer: string;
  participant_id: string;
  custom_participant_id: string;
  peer_ids: string[];
  t0_ms: number;
}

const JOURNAL = 'journal.json';

function selects(rec: RecordingRow, p: MediaPeer): boolean {
  if (p.hidden) return false;
  if (!rec.user_ids) return true;
  return rec.user_ids.includes(p.participantId) || rec.user_ids.includes(p.customParticipantId);
}

/**
 * Track recording over the media plane: one TrackFileWriter per selected peer (or participant, with
 * group_by user) and layer, fed by a raw RTP tap, all sharing t0 = the instant recording started.
 */
export class TrackEngine implements TrackRecordingEngine {
  readonly #o: TrackEngineOptions;
  readonly #active = new Map<string, Active>();

  constructor(options: TrackEngineOptions) {
    this.#o = options;
  }

  get activeCount(): number {
    return this.#active.size;
  }

  /** Track files of the active recordings (open, and closed ones kept for the manifest). */
  get fileCount(): number {
    let n = 0;
    for (const a of this.#active.values()) n += a.files.length;
    return n;
  }

  async start(rec: RecordingRow, dir: string): Promise<void> {
    const t0Ms = Date.now();
    const a: Active = {
      rec,
      dir,
      t0Ms,
      files: [],
      paused: false,
      timer: setInterval(() => this.#tick(a), this.#o.tickMs ?? 200),
      offs: [],
      journaling: Promise.resolve(),
    };
    a.timer.unref();
    this.#active.set(rec.id, a);
    const src = this.#o.source;
    a.offs.push(
      src.on('peerJoined', (p) => {
        if (p.meetingId === rec.meeting_id && selects(rec, p))
          this.#addPeer(a, p).catch((err: unknown) =>
            this.#o.logger.error({ err, recordingId: rec.id, peerId: p.peerId }, 'adding a peer failed'),
          );
      }),
      src.on('audioStarted', (p) => {
        if (p.meetingId === rec.meeting_id) this.#attachAudio(a, p);
      }),
      src.on('audioEnabled', (e) => {
        if (e.meetingId !== rec.meeting_id) return;
        for (const f of a.files) if (live(f) && f.peerId === e.peerId) f.writer.setMuted(!e.enabled, e.at);
      }),
      src.on('peerLeft', (e) => {
        if (e.meetingId === rec.meeting_id) void this.#removePeer(a, e.peerId, e.at);
      }),
    );
    for (const p of src.peers(rec.meeting_id)) if (selects(rec, p)) await this.#addPeer(a, p);
    this.#o.logger.info({ recordingId: rec.id, files: a.files.length }, 'track capture started');
  }

  #fileName(a: Active, layer: string, p: MediaPeer): string {
    const prefix = (a.rec.layers[layer]?.file_name_prefix ?? layer).replace(/[^-\w]/g, '_');
    const at = Date.now();
    return a.rec.group_by === 'user'
      ? `${prefix}_${p.participantId}_user_audio_${at}.webm`
      : `${prefix}_${p.participantId}_${p.peerId}_peer_audio_${at}.webm`;
  }

  async #addPeer(a: Active, p: MediaPeer): Promise<void> {
    if (a.files.some((f) => f.peerIds.includes(p.peerId))) return;
    for (const layer of Object.keys(a.rec.layers)) {
      let entry =
        a.rec.group_by === 'user'
          ? a.files.find((f) => f.layer === layer && f.participantId === p.participantId)
          : undefined;
      if (entry) {
        entry.peerId = p.peerId;
        entry.peerIds.push(p.peerId);
      } else {
        const fileName = this.#fileName(a, layer, p);
        const writer = new TrackFileWriter({
          path: join(a.dir, fileName),
          t0Ms: a.t0Ms,
          align: a.rec.align === 'first_packet' ? 'first_packet' : 'timeline',
          ...(this.#o.clusterMs ? { clusterMs: this.#o.clusterMs } : {}),
        });
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
        };
        // Listed before it is open so that a concurrent add of the same peer finds it; the tick
        // timer and peer events skip it until open() resolves (under load that takes > tickMs).
        a.files.push(entry);
        await writer.open();
        // Stopped, or the peer left, while the file was being created: close() owns it now.
        if (entry.closed || this.#active.get(a.rec.id) !== a) return;
        entry.opened = true;
        if (a.paused) writer.pause(Date.now());
      }
      await this.#journal(a);
      if (!live(entry) || this.#active.get(a.rec.id) !== a) continue;
      if (p.audio) this.#attachFile(a, entry, p);
      if (!p.audioEnabled) entry.writer.setMuted(true, Date.now());
    }
  }

  #attachAudio(a: Active, p: MediaPeer): void {
    for (const f of a.files) if (live(f) && f.peerId === p.peerId && !f.untap) this.#attachFile(a, f, p);
  }

  #attachFile(a: Active, f: FileEntry, p: MediaPeer): void {
    if (!p.audio || f.untap) return;
    f.writer.attach({ sourceId: p.peerId, payloadType: p.audio.payloadType, clockRate: p.audio.clockRate });
    const w = f.writer;
    try {
      f.untap = this.#o.source.tapAudio(a.rec.meeting_id, p.peerId, (rtp, arrivalMs) =>
        w.push(rtp, arrivalMs),
      );
    } catch (err) {
      // The peer left while its file was being created (start() works from a snapshot of the
      // peers): the file keeps its silence, as for any peer that left; the recording goes on.
      this.#o.logger.info({ err, recordingId: a.rec.id, peerId: p.peerId }, 'peer gone before its tap');
    }
  }

  async #removePeer(a: Active, peerId: string, at: number): Promise<void> {
    for (const f of a.files) {
      if (f.closed || f.peerId !== peerId) continue;
      f.untap?.();
      f.untap = undefined;
      if (f.opened) f.writer.detach(at);
      f.peerId = null;
      // Peer mode: the peer's file is complete when it leaves. User mode keeps the file for a rejoin.
      if (a.rec.group_by === 'peer') {
        f.closed = true;
        await f.writer
          .close(at)
          .catch((err: unknown) => this.#o.logger.error({ err, file: f.fileName }, 'closing file failed'));
      }
    }
  }

  #tick(a: Active): void {
    const now = Date.now();
    for (const f of a.files) if (live(f)) f.writer.tick(now);
  }

  #journal(a: Active): Promise<void> {
    const write = async () => {
      const entries: JournalEntry[] = a.files.map((f) => ({
        file: f.fileName,
        layer: f.layer,
        participant_id: f.participantId,
        custom_participant_id: f.customParticipantId,
        peer_ids: f.peerIds,
        t0_ms: a.t0Ms,
      }));
      const tmp = join(a.dir, `${JOURNAL}.tmp`);
      await writeFile(tmp, JSON.stringify(entries));
      await rename(tmp, join(a.dir, JOURNAL));
    };
    a.journaling = a.journaling.then(write, write);
    return a.journaling;
  }

  pause(recordingId: string, atMs: number): void {
    const a = this.#active.get(recordingId);
    if (!a || a.paused) return;
    a.paused = true;
    for (const f of a.files) if (live(f)) f.writer.pause(atMs);
  }

  resume(recordingId: string, atMs: number): void {
    const a = this.#active.get(recordingId);
    if (!a || !a.paused) return;
    a.paused = false;
    for (const f of a.files) if (live(f)) f.writer.resume(atMs);
  }

  async stop(recordingId: string, atMs: number): Promise<RecordingFileRow[]> {
    const a = this.#active.get(recordingId);
    if (!a) return [];
    this.#active.delete(recordingId);
    clearInterval(a.timer);
    for (const off of a.offs) off();
    for (const f of a.files) {
      f.untap?.();
      f.untap = undefined;
    }
    const results = await Promise.all(a.files.map(async (f) => ({ f, r: await f.writer.close(atMs) })));
    return this.#writeManifest(
      a.rec,
      a.dir,
      a.t0Ms,
      atMs,
      results.map(({ f, r }) => this.#entry(f, r)),
    );
  }

  #entry(
    f: FileEntry | JournalEntry,
    r: TrackFileResult,
  ): { row: RecordingFileRow; manifest: TrackManifestEntry } {
    const j =
      'writer' in f
        ? {
            layer: f.layer,
            participant_id: f.participantId,
            custom_participant_id: f.customParticipantId,
            peer_ids: f.peerIds,
            file: f.fileName,
          }
        : f;
    const manifest = trackManifestEntry(r, {
      layer: j.layer,
      participant_id: j.participant_id,
      custom_participant_id: j.custom_participant_id,
      peer_id: j.peer_ids.length === 1 ? (j.peer_ids[0] as string) : '',
      peer_ids: j.peer_ids.join(','),
    });
    return {
      manifest,
      row: {
        layer_name: j.layer,
        file_name: j.file,
        participant_id: j.participant_id,
        custom_participant_id: j.custom_participant_id,
        peer_id: j.peer_ids.length === 1 ? (j.peer_ids[0] as string) : null,
        size_bytes: r.sizeBytes,
        duration_ms: Math.round(r.durationMs),
        sha256: r.sha256,
      },
    };
  }

  async #writeManifest(
    rec: RecordingRow,
    dir: string,
    t0Ms: number,
    stopMs: number,
    entries: { row: RecordingFileRow; manifest: TrackManifestEntry }[],
    repaired = false,
  ): Promise<RecordingFileRow[]> {
    const manifest = {
      version: 1,
      recording_id: rec.id,
      meeting_id: rec.meeting_id,
      session_id: rec.session_id,
      type: 'TRACK',
      t0_ms: t0Ms,
      t0: new Date(t0Ms).toISOString(),
      stop_ms: stopMs,
      stopped_at: new Date(stopMs).toISOString(),
      align: rec.align,
      group_by: rec.group_by,
      repaired_after_crash: repaired,
      files: entries.map((e) => ({
        file_name: e.row.file_name,
        layer: e.row.layer_name,
        participant_id: e.row.participant_id,
        custom_participant_id: e.row.custom_participant_id,
        peer_id: e.row.peer_id,
        peer_ids: e.manifest.labels.peer_ids ? e.manifest.labels.peer_ids.split(',') : [],
        start_offset_ms: e.manifest.startOffsetMs,
        file_start_ms: e.manifest.fileStartMs,
        duration_ms: e.manifest.durationMs,
        size_bytes: e.row.size_bytes,
        sha256: e.row.sha256,
        intervals: e.manifest.intervals,
        packets: e.manifest.packets,
        frames_written: e.manifest.framesWritten,
        frames_filled: e.manifest.framesFilled,
      })),
    };
    const text = JSON.stringify(manifest, null, 2);
    await writeFile(join(dir, MANIFEST_FILE), text);
    const { createHash } = await import('node:crypto');
    return [
      ...entries.map((e) => e.row),
      {
        layer_name: Object.keys(rec.layers)[0] ?? 'default',
        file_name: MANIFEST_FILE,
        participant_id: '',
        custom_participant_id: '',
        peer_id: null,
        size_bytes: Buffer.byteLength(text),
        duration_ms: 0,
        sha256: createHash('sha256').update(text).digest('hex'),
      },
    ];
  }

  async repair(rec: RecordingRow, dir: string): Promise<RecordingFileRow[]> {
    let journal: JournalEntry[] = [];
    try {
      journal = JSON.parse(await readFile(join(dir, JOURNAL), 'utf8')) as JournalEntry[];
    } catch {
      journal = [];
    }
    const present = new Set((await readdir(dir)).filter((n) => n.endsWith('.webm')));
    const entries: { row: RecordingFileRow; manifest: TrackManifestEntry }[] = [];
    let t0Ms = Date.parse(rec.started_time ?? rec.invoked_time);
    for (const j of journal) {
      if (!present.has(j.file)) continue;
      t0Ms = j.t0_ms;
      const res = await repairWebmFile(join(dir, j.file));
      if (!res.ok) {
        this.#o.logger.warn({ file: j.file, reason: res.reason }, 'file not recoverable');
        continue;
      }
      const r: TrackFileResult = {
        path: join(dir, j.file),
        sizeBytes: res.sizeBytes,
        sha256: res.sha256,
        t0Ms: j.t0_ms,
        channels: 2,
        align: rec.align === 'first_packet' ? 'first_packet' : 'timeline',
        fileStartMs: 0,
        durationMs: res.durationMs,
        startOffsetMs: null,
        framesWritten: 0,
        framesFilled: 0,
        concealedMs: 0,
        packets: {
          received: 0,
          lost: 0,
          concealed: 0,
          duplicated: 0,
          reordered: 0,
          late: 0,
          invalid: 0,
          ignored: 0,
          overlapped: 0,
          afterStop: 0,
        },
        reanchors: 0 as unknown as TrackFileResult['reanchors'],
        intervals: { present: [], muted: [], paused: [] },
      };
      entries.push(this.#entry(j, r));
    }
    if (entries.length === 0) return [];
    const stopMs = Math.max(...entries.map((e) => t0Ms + e.row.duration_ms));
    return this.#writeManifest(rec, dir, t0Ms, stopMs, entries, true);
  }

  /** Stops capture without finalising (server shutdown): files stay crash-consistent for repair. */
  async abandonAll(): Promise<void> {
    for (const a of this.#active.values()) {
      clearInterval(a.timer);
      for (const off of a.offs) off();
      for (const f of a.files) f.untap?.();
    }
    this.#active.clear();
  }
}
