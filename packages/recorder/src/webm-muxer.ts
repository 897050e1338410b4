/**
 * Stage 4: WebM (Matroska) muxer for one Opus audio track.
 *
 * The live file is append-only: header, then one Cluster per `clusterMs` of audio, each emitted
 * once, complete, with a known size. The Segment has the "unknown size" marker while live, so a
 * file cut after any cluster is playable. At end-of-stream the muxer returns the last cluster and
 * the Cues as appends, and patches (offset + bytes) for the Segment size, the SeekHead and the
 * Info Duration, all written into space reserved in the header.
 */
import type { Sink } from './reused-list.js';
import {
  Ids,
  UNKNOWN_SIZE_8,
  concat,
  element,
  element8,
  floatElement,
  idBytes,
  intElement64,
  sizeBytes,
  stringElement,
  uintElement,
  voidElement,
} from './ebml.js';
import { OPUS_SAMPLE_RATE, opusHead } from './opus.js';
import type { TimelineEnd, TimelineFrame } from './timeline.js';

export interface WebmMuxerOptions {
  channels?: 1 | 2;
  /** Longest span of one cluster (ms). Default 2000, at most 30000. */
  clusterMs?: number;
  /** Written as the Segment's DateUTC (wall-clock ms of timeline position 0), if given. */
  dateUtcMs?: number;
  muxingApp?: string;
  writingApp?: string;
  trackUid?: number;
}

export type WebmMuxerInput = TimelineFrame | TimelineEnd;

/**
 * A write to do on the file: `append` bytes at the end (offset is the current end), `patch` in place,
 * or `truncate` the file to `offset` bytes (`bytes` empty): a stop that arrives late cuts back into
 * the last written cluster and writes it again, shorter.
 */
export interface WebmWrite {
  readonly kind: 'append' | 'patch' | 'truncate';
  readonly offset: number;
  readonly bytes: Uint8Array;
}

export interface WebmMuxerStats {
  clusters: number;
  blocks: number;
  /** Bytes emitted as appends so far. */
  bytes: number;
  /** Audio emitted in complete clusters (ms). */
  flushedMs: number;
  /** Audio held in the open cluster (ms). */
  pendingMs: number;
  finalized: boolean;
  durationMs: number;
  /** Blocks already muxed that lay past the end's position and were cut at finalize. */
  trimmedBlocks: number;
  /** Of those, the silence the timeline had filled in. */
  trimmedFilled: number;
  /**
   * How far the file still runs past the end's position (ms): the cut reaches back through the open
   * cluster and the last written one only. 0 unless the end arrived more than that late.
   */
  overrunMs: number;
}

export interface WebmCuePoint {
  timeMs: number;
  /** Cluster offset relative to the Segment data start. */
  clusterPosition: number;
}

/** Size of the reserved SeekHead region (SeekHead + Void) at the start of the Segment data. */
export const SEEK_HEAD_RESERVE = 100;
/** A Void of this size in Info is replaced by the Duration (ID 2 + size 1 + float64 8). */
export const DURATION_SLOT_BYTES = 11;
/** Matroska epoch (2001-01-01T00:00:00Z) in Unix ms. */
const MATROSKA_EPOCH_MS = 978_307_200_000;
/** Room before a cluster's blocks for Cluster ID (4) + 8-byte size + Timestamp element (≤ 10). */
const CLUSTER_HEAD_RESERVE = 32;
/** First size of a cluster buffer: 2 s of 20 ms Opus at ~64 kbit/s fits without growing. */
const STAGE_INITIAL_BYTES = 20_000;

export class WebmMuxer {
  private readonly channels: 1 | 2;
  private readonly clusterSamples: number;
  private readonly options: WebmMuxerOptions;

  private offset = 0;
  private segmentDataStart = 0;
  private durationSlot = 0;
  private infoPosition = 0;
  private tracksPosition = 0;
  private started = false;
  private finalized = false;

  private basePos: number | undefined;
  private clusterStartPos = 0;
  private clusterTimeMs = 0;
  /**
   * The cluster being built, written in place: CLUSTER_HEAD_RESERVE bytes for the Cluster ID, size
   * and Timestamp (filled at flush), then the SimpleBlocks. One allocation per cluster instead of one
   * per frame plus two copies at flush (profiled in the server at 300 tracks: per-frame allocation,
   * its GC and the copies were the recorder's largest cost). `stageLen` is the end of the blocks.
   */
  private stage: Uint8Array<ArrayBuffer> = new Uint8Array(STAGE_INITIAL_BYTES);
  private stageLen = CLUSTER_HEAD_RESERVE;
  private blockCount = 0;
  private endPos = 0;
  /** Per block of the open cluster: its start and end positions and its offset in `stage` (for a cut). */
  private blocks: ClusterBlocks = { pos: [], end: [], at: [], filled: [] };
  /**
   * The last written cluster, kept until the next one is written, so that an end that arrives late
   * can cut back into it (one cluster of memory per file, ~16 KB at 64 kbit/s and 2 s).
   */
  private last: WrittenCluster | undefined;
  /**
   * Stage buffers of clusters whose append is queued and not reported `written` yet, and the free
   * ones the next clusters reuse. A new 20 KB buffer per cluster lived its 2-4 s into the old
   * generation, and that external memory made V8 run a mark-compact every 2-3 s at 300 recorded
   * tracks (bench, 2026-12-08); reused, the buffers stay allocated for the file's life.
   */
  private readonly inFlight = new Set<ArrayBufferLike>();
  private readonly freeStages: Uint8Array<ArrayBuffer>[] = [];
  private readonly cues: WebmCuePoint[] = [];
  private readonly counters = {
    clusters: 0,
    blocks: 0,
    flushedSamples: 0,
    trimmedBlocks: 0,
    trimmedFilled: 0,
    overrunSamples: 0,
  };

  constructor(options: WebmMuxerOptions = {}) {
    this.options = options;
    this.channels = options.channels ?? 2;
    const clusterMs = Math.min(30_000, Math.max(20, options.clusterMs ?? 2000));
    this.clusterSamples = (clusterMs * OPUS_SAMPLE_RATE) / 1000;
  }

  /** The header: EBML header, Segment start (unknown size), reserved SeekHead, Info, Tracks. */
  start(): WebmWrite {
    if (this.started) throw new Error('WebmMuxer.start() called twice');
    this.started = true;
    const ebmlHeader = element(
      Ids.EBML,
      uintElement(Ids.EBMLVersion, 1),
      uintElement(Ids.EBMLReadVersion, 1),
      uintElement(Ids.EBMLMaxIDLength, 4),
      uintElement(Ids.EBMLMaxSizeLength, 8),
      stringElement(Ids.DocType, 'webm'),
      uintElement(Ids.DocTypeVersion, 4),
      uintElement(Ids.DocTypeReadVersion, 2),
    );
    const segmentHead = concat([idBytes(Ids.Segment), UNKNOWN_SIZE_8]);
    this.segmentDataStart = ebmlHeader.length + segmentHead.length;

    const infoChildren = [
      uintElement(Ids.TimestampScale, 1_000_000),
      stringElement(Ids.MuxingApp, this.options.muxingApp ?? '@trackroom/recorder'),
      stringElement(Ids.WritingApp, this.options.writingApp ?? '@trackroom/recorder'),
    ];
    if (this.options.dateUtcMs !== undefined) {
      const ns = BigInt(Math.round(this.options.dateUtcMs - MATROSKA_EPOCH_MS)) * 1_000_000n;
      infoChildren.push(intElement64(Ids.DateUTC, ns));
    }
    const infoHeadBytes = idBytes(Ids.Info).length + 8;
    const slotInInfo = infoChildren.reduce((n, c) => n + c.length, 0);
    const info = element8(Ids.Info, concat([...infoChildren, voidElement(DURATION_SLOT_BYTES)]));

    const tracks = element(
      Ids.Tracks,
      element(
        Ids.TrackEntry,
        uintElement(Ids.TrackNumber, 1),
        uintElement(Ids.TrackUID, this.options.trackUid ?? 1),
        uintElement(Ids.TrackType, 2),
        uintElement(Ids.FlagLacing, 0),
        stringElement(Ids.CodecID, 'A_OPUS'),
        element(Ids.CodecPrivate, opusHead(this.channels, 0)),
        uintElement(Ids.CodecDelay, 0),
        uintElement(Ids.SeekPreRoll, 80_000_000),
        element(
          Ids.Audio,
          floatElement(Ids.SamplingFrequency, OPUS_SAMPLE_RATE),
          uintElement(Ids.Channels, this.channels),
        ),
      ),
    );

    this.infoPosition = SEEK_HEAD_RESERVE;
    this.tracksPosition = SEEK_HEAD_RESERVE + info.length;
    this.durationSlot = this.segmentDataStart + SEEK_HEAD_RESERVE + infoHeadBytes + slotInInfo;
    const bytes = concat([
      ebmlHeader,
      segmentHead,
      buildSeekHeadRegion(this.infoPosition, this.tracksPosition),
      info,
      tracks,
    ]);
    this.offset = bytes.length;
    return { kind: 'append', offset: 0, bytes };
  }

  process(input: WebmMuxerInput): WebmWrite[] {
    const out: WebmWrite[] = [];
    this.processInto(input, out);
    return out;
  }

  /** As `process`, appending the writes to `out` (the per-packet path allocates no array). */
  processInto(input: WebmMuxerInput, out: Sink<WebmWrite>): void {
    if (!this.started) throw new Error('WebmMuxer.start() must come first');
    if (this.finalized) return;
    if (input.kind === 'frame') this.addFrame(input, out);
    else this.finalize(input, out);
  }

  stats(): WebmMuxerStats {
    const pending = this.basePos === undefined ? 0 : this.endPos - this.clusterStartPos;
    return {
      clusters: this.counters.clusters,
      blocks: this.counters.blocks,
      bytes: this.offset,
      flushedMs: (this.counters.flushedSamples * 1000) / OPUS_SAMPLE_RATE,
      pendingMs: this.blockCount > 0 ? (pending * 1000) / OPUS_SAMPLE_RATE : 0,
      finalized: this.finalized,
      durationMs: this.durationMs(),
      trimmedBlocks: this.counters.trimmedBlocks,
      trimmedFilled: this.counters.trimmedFilled,
      overrunMs: (this.counters.overrunSamples * 1000) / OPUS_SAMPLE_RATE,
    };
  }

  /**
   * Takes back the blocks that start at or after `pos` while the stream goes on (a pause that
   * arrived late), as far back as the last written cluster; the writes it needs go to `out`.
   * Answers where the muxed audio now ends: the next frame must start there.
   */
  cutBack(pos: number, out: Sink<WebmWrite>): number {
    if (!this.finalized) this.trimTo(pos, out);
    return this.endPos;
  }

  /** Where the muxed audio ends (timeline samples). */
  get endPosition(): number {
    return this.endPos;
  }

  /** Cue points of the clusters emitted so far. */
  cuePoints(): readonly WebmCuePoint[] {
    return this.cues;
  }

  private durationMs(): number {
    return this.basePos === undefined ? 0 : ((this.endPos - this.basePos) * 1000) / OPUS_SAMPLE_RATE;
  }

  private addFrame(frame: TimelineFrame, out: Sink<WebmWrite>): void {
    if (this.basePos === undefined) {
      this.basePos = frame.pos;
      this.clusterStartPos = frame.pos;
      this.clusterTimeMs = 0;
    }
    if (this.blockCount === 0) {
      this.clusterStartPos = frame.pos;
      this.clusterTimeMs = Math.round(((frame.pos - this.basePos) * 1000) / OPUS_SAMPLE_RATE);
    }
    // Written by index, never emptied: the first blockCount slots are this cluster's (emptying a
    // list with length = 0 drops its backing store, and every cluster would grow it again).
    const k = this.blockCount;
    this.blocks.pos[k] = frame.pos;
    this.blocks.end[k] = frame.pos + frame.durationSamples;
    this.blocks.filled[k] = frame.filled ? 1 : 0;
    this.blocks.at[k] = this.stageLen;
    const timeMs = Math.round(((frame.pos - this.basePos) * 1000) / OPUS_SAMPLE_RATE);
    const rel = timeMs - this.clusterTimeMs;
    const p = frame.payload;
    const size = p.length + 4;
    // The SimpleBlock's size as an EBML vint of the shortest length, as sizeBytes() encodes it.
    let sizeLen = 1;
    while (size >= 2 ** (7 * sizeLen) - 1) sizeLen++;
    const need = 1 + sizeLen + size;
    if (this.stageLen + need > this.stage.length) {
      const grown = new Uint8Array(Math.max(this.stage.length * 2, this.stageLen + need));
      grown.set(this.stage.subarray(0, this.stageLen));
      this.stage = grown;
    }
    const b = this.stage;
    let o = this.stageLen;
    b[o++] = Ids.SimpleBlock;
    let v = size;
    for (let i = sizeLen - 1; i >= 0; i--) {
      b[o + i] = v % 256;
      v = Math.floor(v / 256);
    }
    b[o] = (b[o] as number) | (0x80 >> (sizeLen - 1));
    o += sizeLen;
    b[o++] = 0x81; // track number 1
    b[o++] = (rel >> 8) & 0xff;
    b[o++] = rel & 0xff;
    b[o++] = 0x80; // keyframe
    b.set(p, o);
    this.stageLen = o + p.length;
    this.blockCount++;
    this.counters.blocks++;
    this.endPos = frame.pos + frame.durationSamples;
    if (this.endPos - this.clusterStartPos >= this.clusterSamples) this.flushCluster(out);
  }

  private flushCluster(out: Sink<WebmWrite>): void {
    if (this.blockCount === 0) return;
    const timestamp = uintElement(Ids.Timestamp, this.clusterTimeMs);
    const blockBytes = this.stageLen - CLUSTER_HEAD_RESERVE;
    // Cluster ID, 8-byte size, Timestamp element: right-aligned just before the blocks.
    const head = concat([idBytes(Ids.Cluster), sizeBytes(timestamp.length + blockBytes, 8), timestamp]);
    const from = CLUSTER_HEAD_RESERVE - head.length;
    this.stage.set(head, from);
    const bytes = this.stage.subarray(from, this.stageLen);
    // The written cluster keeps this buffer (writes are queued, and a late end may cut back into
    // it); the next cluster gets a free one (see `written`) or a new one. The block lists swap with
    // the previous cluster's.
    const spare = this.last?.blocks ?? { pos: [], end: [], at: [], filled: [] };
    const previous = this.last;
    this.last = {
      offset: this.offset,
      stage: this.stage,
      stageLen: this.stageLen,
      startPos: this.clusterStartPos,
      timeMs: this.clusterTimeMs,
      endPos: this.endPos,
      blocks: this.blocks,
      blockCount: this.blockCount,
    };
    this.blocks = spare;
    // The previous cluster's buffer is free now, unless its append is still queued.
    if (previous && !this.inFlight.has(previous.stage.buffer)) this.recycle(previous.stage);
    this.inFlight.add(this.stage.buffer);
    this.stage = this.newStage(Math.max(STAGE_INITIAL_BYTES, this.stageLen + (this.stageLen >> 3)));
    this.cues.push({ timeMs: this.clusterTimeMs, clusterPosition: this.offset - this.segmentDataStart });
    out.push({ kind: 'append', offset: this.offset, bytes });
    this.offset += bytes.length;
    this.counters.clusters++;
    this.counters.flushedSamples += this.endPos - this.clusterStartPos;
    this.stageLen = CLUSTER_HEAD_RESERVE;
    this.blockCount = 0;
  }

  /**
   * The file writer reports each append once it is on disk: a cluster's stage buffer can be reused
   * from then on (unless it is still the last cluster, which a late end may cut back into). Writes
   * never reported (a consumer that keeps them, a failed file) keep their buffers.
   */
  written(write: WebmWrite): void {
    const buffer = write.bytes.buffer;
    if (!this.inFlight.delete(buffer)) return;
    if (this.last?.stage.buffer !== buffer && buffer instanceof ArrayBuffer)
      this.recycle(new Uint8Array(buffer));
  }

  private recycle(stage: Uint8Array<ArrayBuffer>): void {
    if (this.freeStages.length < 2) this.freeStages.push(stage);
  }

  private newStage(bytes: number): Uint8Array<ArrayBuffer> {
    for (let i = 0; i < this.freeStages.length; i++) {
      const s = this.freeStages[i] as Uint8Array<ArrayBuffer>;
      if (s.length >= bytes) {
        this.freeStages.splice(i, 1);
        return s;
      }
    }
    return new Uint8Array(bytes);
  }

  /**
   * Drops every block that starts at or after `cutPos`: those of the open cluster, then, if the cut
   * lies before the open cluster, the last written cluster is taken back (the file truncated to its
   * start) and becomes the open cluster again with its blocks before the cut. Older clusters stay:
   * what they hold past the cut is counted as overrun.
   */
  private trimTo(cutPos: number, out: Sink<WebmWrite>): void {
    if (this.basePos === undefined || cutPos >= this.endPos) return;
    const cut = Math.max(cutPos, this.basePos);
    if (this.blockCount > 0 && cut <= this.clusterStartPos) this.keepBlocks(0);
    const l = this.last;
    if (this.blockCount === 0 && l !== undefined && cut < l.endPos) {
      this.last = undefined;
      out.push({ kind: 'truncate', offset: l.offset, bytes: EMPTY });
      this.offset = l.offset;
      this.cues.pop();
      this.counters.clusters--;
      this.counters.flushedSamples -= l.endPos - l.startPos;
      // A copy: the queued append of this cluster still refers to the old buffer.
      this.stage = l.stage.slice();
      this.stageLen = l.stageLen;
      this.blockCount = l.blockCount;
      this.blocks = l.blocks;
      this.clusterStartPos = l.startPos;
      this.clusterTimeMs = l.timeMs;
      this.endPos = l.endPos;
    }
    if (this.blockCount > 0) {
      const { pos } = this.blocks;
      let keep = this.blockCount;
      while (keep > 0 && (pos[keep - 1] as number) >= cut) keep--;
      this.keepBlocks(keep);
    }
    if (this.blockCount === 0 && this.endPos > cut) this.counters.overrunSamples = this.endPos - cut;
  }

  /** Keeps the open cluster's first `keep` blocks; with none left the file ends where it began. */
  private keepBlocks(keep: number): void {
    if (keep >= this.blockCount) return;
    const { end, at, filled } = this.blocks;
    const dropped = this.blockCount - keep;
    this.counters.trimmedBlocks += dropped;
    for (let i = keep; i < this.blockCount; i++) this.counters.trimmedFilled += filled[i] as number;
    this.counters.blocks -= dropped;
    this.stageLen = at[keep] as number;
    this.endPos = keep > 0 ? (end[keep - 1] as number) : this.clusterStartPos;
    this.blockCount = keep;
  }

  private finalize(end: TimelineEnd, out: Sink<WebmWrite>): void {
    this.trimTo(end.endPos, out);
    this.flushCluster(out);
    this.finalized = true;
    const cuesPosition = this.cues.length > 0 ? this.offset - this.segmentDataStart : undefined;
    if (this.cues.length > 0) {
      const cues = buildCues(this.cues);
      out.push({ kind: 'append', offset: this.offset, bytes: cues });
      this.offset += cues.length;
    }
    out.push({
      kind: 'patch',
      offset: this.durationSlot,
      bytes: floatElement(Ids.Duration, this.durationMs()),
    });
    out.push({
      kind: 'patch',
      offset: this.segmentDataStart,
      bytes: buildSeekHeadRegion(this.infoPosition, this.tracksPosition, cuesPosition),
    });
    out.push({
      kind: 'patch',
      offset: this.segmentDataStart - 8,
      bytes: sizeBytes(this.offset - this.segmentDataStart, 8),
    });
  }
}

const EMPTY = new Uint8Array(0);

interface ClusterBlocks {
  pos: number[];
  end: number[];
  at: number[];
  /** 1 for silence the timeline filled in. */
  filled: number[];
}

interface WrittenCluster {
  offset: number;
  stage: Uint8Array<ArrayBuffer>;
  stageLen: number;
  startPos: number;
  timeMs: number;
  endPos: number;
  /** Its blocks: the first blockCount slots of each list. */
  blocks: ClusterBlocks;
  blockCount: number;
}

function seekEntry(id: number, position: number): Uint8Array {
  return element(Ids.Seek, element(Ids.SeekID, idBytes(id)), uintElement(Ids.SeekPosition, position, 8));
}

/** SeekHead (Info, Tracks, and Cues if known) padded with a Void to exactly `total` bytes. */
export function buildSeekHeadRegion(
  infoPosition: number,
  tracksPosition: number,
  cuesPosition?: number,
  total = SEEK_HEAD_RESERVE,
): Uint8Array {
  const entries = [seekEntry(Ids.Info, infoPosition), seekEntry(Ids.Tracks, tracksPosition)];
  if (cuesPosition !== undefined) entries.push(seekEntry(Ids.Cues, cuesPosition));
  const seekHead = element(Ids.SeekHead, ...entries);
  return concat([seekHead, voidElement(total - seekHead.length)]);
}

export function buildCues(points: readonly WebmCuePoint[]): Uint8Array {
  return element(
    Ids.Cues,
    ...points.map((p) =>
      element(
        Ids.CuePoint,
        uintElement(Ids.CueTime, p.timeMs),
        element(
          Ids.CueTrackPositions,
          uintElement(Ids.CueTrack, 1),
          uintElement(Ids.CueClusterPosition, p.clusterPosition),
        ),
      ),
    ),
  );
}
