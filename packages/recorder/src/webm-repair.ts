/**
 * Stage 6: repairs a WebM file left by a killed writer (unknown-size Segment, maybe a truncated last
 * cluster, no Cues or Duration): keeps every complete block, cuts the partial tail, then writes Cues,
 * Duration, SeekHead and the Segment size in place, so the file becomes a normal finalized one.
 * Idempotent: a finalized file is only read.
 */
import { open, type FileHandle } from 'node:fs/promises';
import {
  Ids,
  children,
  floatElement,
  readElementHeader,
  readFloat,
  readSize,
  readUint,
  sizeBytes,
} from './ebml.js';
import { opusPacketSamples, OPUS_SAMPLE_RATE } from './opus.js';
import { hashFile } from './file-hash.js';
import { DURATION_SLOT_BYTES, buildCues, buildSeekHeadRegion, type WebmCuePoint } from './webm-muxer.js';

export interface WebmRepairResult {
  ok: boolean;
  /** True if the file was changed. */
  repaired: boolean;
  durationMs: number;
  sizeBytes: number;
  sha256: string;
  clusters: number;
  /** Why the file is not usable (ok: false) or what could not be restored. */
  reason?: string;
}

interface ClusterInfo {
  position: number;
  sizeFieldOffset: number;
  sizeFieldLength: number;
  dataOffset: number;
  end: number;
  timeMs: number;
}

interface Layout {
  segmentSizeOffset: number;
  segmentSizeLength: number;
  segmentSize: number | undefined;
  dataStart: number;
  seekHead: { position: number; reserve: number } | undefined;
  info: { position: number; dataOffset: number; end: number } | undefined;
  tracksPosition: number | undefined;
  clusters: ClusterInfo[];
  cuesComplete: boolean;
  /** Where usable data ends (after the last complete cluster or finalize element). */
  usableEnd: number;
  /** A cluster cut by the end of the file. */
  partial: ClusterInfo | undefined;
}

async function readAt(fh: FileHandle, position: number, length: number): Promise<Uint8Array> {
  const buf = new Uint8Array(length);
  const { bytesRead } = await fh.read(buf, 0, length, position);
  return buf.subarray(0, bytesRead);
}

/**
 * Bytes read at each top-level element: enough for a Cluster's ID (4) and size (up to 8) plus its
 * Timestamp element (ID 1, size 1, value up to 8), i.e. 22; rounded up.
 */
const HEADER_PROBE = 32;

async function scan(fh: FileHandle, fileSize: number): Promise<Layout | string> {
  const head = await readAt(fh, 0, Math.min(fileSize, 64));
  const ebml = readElementHeader(head, 0);
  if (!ebml || ebml.id !== Ids.EBML || ebml.size === undefined) return 'not an EBML file';
  const segPos = ebml.headerLength + ebml.size;
  const segHead = await readAt(fh, segPos, HEADER_PROBE);
  const seg = readElementHeader(segHead, 0);
  if (!seg || seg.id !== Ids.Segment) return 'no Segment';
  const sizeField = readSize(segHead, 4);
  if (!sizeField) return 'bad Segment size';
  const dataStart = segPos + seg.headerLength;
  const layout: Layout = {
    segmentSizeOffset: segPos + 4,
    segmentSizeLength: sizeField.length,
    segmentSize: seg.size,
    dataStart,
    seekHead: undefined,
    info: undefined,
    tracksPosition: undefined,
    clusters: [],
    cuesComplete: false,
    usableEnd: dataStart,
    partial: undefined,
  };
  const end = seg.size === undefined ? fileSize : Math.min(fileSize, dataStart + seg.size);
  let pos = dataStart;
  while (pos < end) {
    const probe = await readAt(fh, pos, HEADER_PROBE);
    const h = readElementHeader(probe, 0);
    if (!h || h.size === undefined) break;
    const dataOffset = pos + h.headerLength;
    const elementEnd = dataOffset + h.size;
    if (h.id === Ids.Cluster) {
      const first = readElementHeader(probe, h.headerLength);
      if (!first || first.id !== Ids.Timestamp || first.size === undefined || first.size > 8) break;
      if (h.headerLength + first.headerLength + first.size > probe.length) break; // cut inside the header
      const timeMs = readUint(probe, h.headerLength + first.headerLength, first.size);
      const cluster: ClusterInfo = {
        position: pos,
        sizeFieldOffset: pos + 4,
        sizeFieldLength: h.headerLength - 4,
        dataOffset,
        end: elementEnd,
        timeMs,
      };
      if (elementEnd > end) {
        layout.partial = cluster;
        break;
      }
      layout.clusters.push(cluster);
    } else if (elementEnd > end) {
      break;
    } else if (h.id === Ids.SeekHead) {
      layout.seekHead = { position: pos, reserve: elementEnd - pos };
    } else if (
      h.id === Ids.Void &&
      layout.seekHead &&
      layout.seekHead.position + layout.seekHead.reserve === pos
    ) {
      layout.seekHead.reserve = elementEnd - layout.seekHead.position;
    } else if (h.id === Ids.Info) {
      layout.info = { position: pos, dataOffset, end: elementEnd };
    } else if (h.id === Ids.Tracks) {
      layout.tracksPosition = pos;
    } else if (h.id === Ids.Cues) {
      layout.cuesComplete = true;
    }
    pos = elementEnd;
    layout.usableEnd = pos;
  }
  return layout;
}

/** Last block of a cluster's data: where it ends on the file's timeline (ms), or undefined. */
function lastBlockEndMs(
  data: Uint8Array,
  clusterTimeMs: number,
): { endMs: number; usable: number } | undefined {
  let last: { endMs: number; usable: number } | undefined;
  for (const c of children(data, 0, data.length)) {
    if (c.id !== Ids.SimpleBlock) continue;
    const track = readSize(data, c.dataOffset);
    if (!track) continue;
    const t = c.dataOffset + track.length;
    const rel = ((((data[t] as number) << 8) | (data[t + 1] as number)) << 16) >> 16;
    const payload = data.subarray(t + 3, c.dataOffset + c.size);
    const samples = opusPacketSamples(payload);
    last = {
      endMs: clusterTimeMs + rel + (samples * 1000) / OPUS_SAMPLE_RATE,
      usable: c.dataOffset + c.size,
    };
  }
  return last;
}

async function infoDuration(
  fh: FileHandle,
  layout: Layout,
): Promise<{ value?: number; slot?: number; float4?: boolean }> {
  if (!layout.info) return {};
  const data = await readAt(fh, layout.info.dataOffset, layout.info.end - layout.info.dataOffset);
  for (const c of children(data, 0, data.length)) {
    const at = layout.info.dataOffset + c.offset;
    if (c.id === Ids.Duration && (c.size === 8 || c.size === 4)) {
      return { value: readFloat(data, c.dataOffset, c.size), slot: at, float4: c.size === 4 };
    }
    if (c.id === Ids.Void && c.dataOffset + c.size - c.offset === DURATION_SLOT_BYTES) return { slot: at };
  }
  return {};
}

export async function repairWebmFile(path: string): Promise<WebmRepairResult> {
  const fh = await open(path, 'r+');
  let repaired = false;
  let durationMs = 0;
  let clusters = 0;
  let reason: string | undefined;
  try {
    const fileSize = (await fh.stat()).size;
    const layout = await scan(fh, fileSize);
    if (typeof layout === 'string') return await failed(path, layout);
    const duration = await infoDuration(fh, layout);
    const finalized =
      layout.segmentSize !== undefined &&
      layout.dataStart + layout.segmentSize === fileSize &&
      layout.cuesComplete &&
      duration.value !== undefined &&
      layout.partial === undefined &&
      layout.usableEnd === fileSize;
    if (finalized) {
      const { sizeBytes: size, sha256 } = await hashFile(path);
      return {
        ok: true,
        repaired: false,
        durationMs: duration.value ?? 0,
        sizeBytes: size,
        sha256,
        clusters: layout.clusters.length,
      };
    }

    // Salvage the complete blocks of a cluster cut by the end of the file.
    let cut = layout.clusters.at(-1)?.end ?? layout.usableEnd;
    const partial = layout.partial;
    if (partial) {
      const data = await readAt(fh, partial.dataOffset, fileSize - partial.dataOffset);
      const last = lastBlockEndMs(data, partial.timeMs);
      const newSize = last?.usable;
      if (newSize !== undefined && newSize < 2 ** (7 * partial.sizeFieldLength) - 1) {
        await fh.write(
          sizeBytes(newSize, partial.sizeFieldLength),
          0,
          partial.sizeFieldLength,
          partial.sizeFieldOffset,
        );
        partial.end = partial.dataOffset + newSize;
        layout.clusters.push(partial);
        cut = partial.end;
      }
    }
    const lastCluster = layout.clusters.at(-1);
    if (!lastCluster) return await failed(path, 'no complete cluster');
    const lastData = await readAt(fh, lastCluster.dataOffset, lastCluster.end - lastCluster.dataOffset);
    durationMs = lastBlockEndMs(lastData, lastCluster.timeMs)?.endMs ?? lastCluster.timeMs;
    clusters = layout.clusters.length;

    await fh.truncate(cut);
    const cuePoints: WebmCuePoint[] = layout.clusters.map((c) => ({
      timeMs: c.timeMs,
      clusterPosition: c.position - layout.dataStart,
    }));
    const cues = buildCues(cuePoints);
    await writeFully(fh, cues, cut);
    const segmentSize = cut + cues.length - layout.dataStart;
    if (duration.slot !== undefined) {
      const bytes = duration.float4 ? float4Element(durationMs) : floatElement(Ids.Duration, durationMs);
      await writeFully(fh, bytes, duration.slot);
    } else reason = 'no room for Duration in Info';
    if (
      layout.seekHead &&
      layout.info &&
      layout.tracksPosition !== undefined &&
      layout.seekHead.reserve >= 70
    ) {
      const region = buildSeekHeadRegion(
        layout.info.position - layout.dataStart,
        layout.tracksPosition - layout.dataStart,
        cut - layout.dataStart,
        layout.seekHead.reserve,
      );
      await writeFully(fh, region, layout.seekHead.position);
    } else reason = reason ?? 'no room for a SeekHead';
    if (segmentSize < 2 ** (7 * layout.segmentSizeLength) - 1) {
      await writeFully(fh, sizeBytes(segmentSize, layout.segmentSizeLength), layout.segmentSizeOffset);
    } else reason = reason ?? 'Segment size field too small';
    await fh.sync();
    repaired = true;
  } finally {
    await fh.close();
  }
  const { sizeBytes: size, sha256 } = await hashFile(path);
  return {
    ok: true,
    repaired,
    durationMs,
    sizeBytes: size,
    sha256,
    clusters,
    ...(reason !== undefined && { reason }),
  };
}

async function failed(path: string, reason: string): Promise<WebmRepairResult> {
  const { sizeBytes: size, sha256 } = await hashFile(path);
  return { ok: false, repaired: false, durationMs: 0, sizeBytes: size, sha256, clusters: 0, reason };
}

async function writeFully(fh: FileHandle, bytes: Uint8Array, position: number): Promise<void> {
  let done = 0;
  while (done < bytes.length) {
    const { bytesWritten } = await fh.write(bytes, done, bytes.length - done, position + done);
    done += bytesWritten;
  }
}

function float4Element(value: number): Uint8Array {
  const out = Uint8Array.of(0x44, 0x89, 0x84, 0, 0, 0, 0);
  new DataView(out.buffer).setFloat32(3, value);
  return out;
}
