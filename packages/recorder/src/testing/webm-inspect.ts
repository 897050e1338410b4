/** Test support: reads a WebM file back into a plain structure with our EBML reader. */
import { Ids, children, readElementHeader, readFloat, readSize, readUint } from '../ebml.js';

export interface InspectedBlock {
  timeMs: number;
  keyframe: boolean;
  payload: Uint8Array;
}

export interface InspectedWebm {
  segmentDataStart: number;
  /** undefined when the Segment has the unknown-size marker. */
  segmentSize: number | undefined;
  timestampScale: number | undefined;
  durationMs: number | undefined;
  codecId: string | undefined;
  channels: number | undefined;
  samplingFrequency: number | undefined;
  codecPrivate: Uint8Array | undefined;
  seek: { id: number; position: number }[];
  clusters: { position: number; timeMs: number; blocks: InspectedBlock[] }[];
  cues: { timeMs: number; clusterPosition: number }[];
  /** Top-level (Segment child) element IDs in order. */
  layout: number[];
}

export function inspectWebm(buf: Uint8Array): InspectedWebm {
  const ebml = readElementHeader(buf, 0);
  if (!ebml || ebml.id !== Ids.EBML || ebml.size === undefined) throw new Error('not EBML');
  const segPos = ebml.headerLength + ebml.size;
  const seg = readElementHeader(buf, segPos);
  if (!seg || seg.id !== Ids.Segment) throw new Error('no Segment');
  const start = segPos + seg.headerLength;
  const end = seg.size === undefined ? buf.length : start + seg.size;
  if (end > buf.length) throw new Error(`Segment size ${seg.size} runs past the end of the file`);
  const r: InspectedWebm = {
    segmentDataStart: start,
    segmentSize: seg.size,
    timestampScale: undefined,
    durationMs: undefined,
    codecId: undefined,
    channels: undefined,
    samplingFrequency: undefined,
    codecPrivate: undefined,
    seek: [],
    clusters: [],
    cues: [],
    layout: [],
  };
  for (const el of children(buf, start, end)) {
    r.layout.push(el.id);
    const dEnd = el.dataOffset + el.size;
    if (el.id === Ids.SeekHead) {
      for (const s of children(buf, el.dataOffset, dEnd)) {
        let id = 0;
        let position = 0;
        for (const c of children(buf, s.dataOffset, s.dataOffset + s.size)) {
          if (c.id === Ids.SeekID) id = readUint(buf, c.dataOffset, c.size);
          if (c.id === Ids.SeekPosition) position = readUint(buf, c.dataOffset, c.size);
        }
        r.seek.push({ id, position });
      }
    } else if (el.id === Ids.Info) {
      for (const c of children(buf, el.dataOffset, dEnd)) {
        if (c.id === Ids.TimestampScale) r.timestampScale = readUint(buf, c.dataOffset, c.size);
        if (c.id === Ids.Duration) r.durationMs = readFloat(buf, c.dataOffset, c.size);
      }
    } else if (el.id === Ids.Tracks) {
      for (const te of children(buf, el.dataOffset, dEnd)) {
        for (const c of children(buf, te.dataOffset, te.dataOffset + te.size)) {
          if (c.id === Ids.CodecID)
            r.codecId = new TextDecoder().decode(buf.subarray(c.dataOffset, c.dataOffset + c.size));
          if (c.id === Ids.CodecPrivate) r.codecPrivate = buf.slice(c.dataOffset, c.dataOffset + c.size);
          if (c.id === Ids.Audio) {
            for (const a of children(buf, c.dataOffset, c.dataOffset + c.size)) {
              if (a.id === Ids.Channels) r.channels = readUint(buf, a.dataOffset, a.size);
              if (a.id === Ids.SamplingFrequency) r.samplingFrequency = readFloat(buf, a.dataOffset, a.size);
            }
          }
        }
      }
    } else if (el.id === Ids.Cluster) {
      let timeMs = 0;
      const blocks: InspectedBlock[] = [];
      for (const c of children(buf, el.dataOffset, dEnd)) {
        if (c.id === Ids.Timestamp) timeMs = readUint(buf, c.dataOffset, c.size);
        if (c.id === Ids.SimpleBlock) {
          const track = readSize(buf, c.dataOffset);
          if (!track) throw new Error('bad SimpleBlock');
          const t = c.dataOffset + track.length;
          const rel = ((((buf[t] as number) << 8) | (buf[t + 1] as number)) << 16) >> 16;
          blocks.push({
            timeMs: timeMs + rel,
            keyframe: ((buf[t + 2] as number) & 0x80) !== 0,
            payload: buf.slice(t + 3, c.dataOffset + c.size),
          });
        }
      }
      r.clusters.push({ position: el.offset - start, timeMs, blocks });
    } else if (el.id === Ids.Cues) {
      for (const cp of children(buf, el.dataOffset, dEnd)) {
        let timeMs = 0;
        let clusterPosition = 0;
        for (const c of children(buf, cp.dataOffset, cp.dataOffset + cp.size)) {
          if (c.id === Ids.CueTime) timeMs = readUint(buf, c.dataOffset, c.size);
          if (c.id === Ids.CueTrackPositions) {
            for (const p of children(buf, c.dataOffset, c.dataOffset + c.size)) {
              if (p.id === Ids.CueClusterPosition) clusterPosition = readUint(buf, p.dataOffset, p.size);
            }
          }
        }
        r.cues.push({ timeMs, clusterPosition });
      }
    }
  }
  return r;
}
