/**
 * Test support: a synthetic Opus-over-RTP sender and a lossy, jittery network, as a deterministic
 * schedule of pipeline inputs. Payloads carry a unique id after the TOC byte so tests can follow
 * every packet through the pipeline.
 */
import { buildRtp } from '../rtp-parser.js';
import type { TrackPipelineInput } from '../track-pipeline.js';

export type FrameMs = 10 | 20 | 40 | 60;

/** TOC bytes (code 0) for the frame sizes: CELT FB 10/20 ms, SILK WB 40/60 ms. */
export const TOC_BY_FRAME_MS: Record<FrameMs, number> = { 10: 0xf0, 20: 0xf8, 40: 0x50, 60: 0x58 };

export type SenderSegment =
  /** Send `frames` packets back to back. */
  | { kind: 'talk'; frames: number }
  /** Send nothing for `ms`; the RTP clock keeps running (DTX, or mute with a running clock). */
  | { kind: 'dtx'; ms: number }
  /** Send nothing for `ms`; the RTP clock stops (mute or reconnect without timestamp continuity). */
  | { kind: 'frozen'; ms: number }
  /** A new SSRC with new random sequence and timestamp bases (a reconnect). */
  | { kind: 'newSsrc'; seq: number; ts: number }
  /** Pause the recording for `ms` while the sender keeps talking. */
  | { kind: 'pause'; ms: number };

export interface SyntheticScenario {
  t0Ms: number;
  /** Sender starts this long after t0. */
  startDelayMs: number;
  frameMs: FrameMs;
  seq0: number;
  ts0: number;
  segments: SenderSegment[];
  latencyMs: number;
  /** Per packet, in send order: arrival jitter (ms, >= 0), lost, duplicated. */
  net: { jitterMs: number; lost: boolean; duplicated: boolean }[];
  tickEveryMs: number;
  /** Stop this long after the sender's last packet. */
  tailMs: number;
}

export interface SentPacket {
  id: number;
  sendMs: number;
  arrivalMs: number;
  seq: number;
  ts: number;
  ssrc: number;
  lost: boolean;
  duplicated: boolean;
  payload: Uint8Array;
}

export interface SyntheticRun {
  inputs: TrackPipelineInput[];
  sent: SentPacket[];
  pauses: { fromMs: number; toMs: number }[];
  stopMs: number;
  payloadType: number;
}

export function payloadId(payload: Uint8Array): number {
  return new DataView(payload.buffer, payload.byteOffset, payload.byteLength).getUint32(1);
}

export function buildSyntheticRun(s: SyntheticScenario): SyntheticRun {
  const payloadType = 111;
  const sent: SentPacket[] = [];
  const pauses: { fromMs: number; toMs: number }[] = [];
  let now = s.t0Ms + s.startDelayMs;
  let seq = s.seq0;
  let ts = s.ts0;
  let ssrc = 0x1000;
  let id = 0;
  const sendFrame = (): void => {
    const n = s.net[id % Math.max(1, s.net.length)] ?? { jitterMs: 0, lost: false, duplicated: false };
    const payload = new Uint8Array(5);
    payload[0] = TOC_BY_FRAME_MS[s.frameMs];
    new DataView(payload.buffer).setUint32(1, id);
    sent.push({
      id,
      sendMs: now,
      arrivalMs: now + s.latencyMs + n.jitterMs,
      seq: seq & 0xffff,
      ts: ts >>> 0,
      ssrc,
      lost: n.lost,
      duplicated: n.duplicated,
      payload,
    });
    id++;
    seq++;
    ts += s.frameMs * 48;
    now += s.frameMs;
  };
  for (const seg of s.segments) {
    switch (seg.kind) {
      case 'talk':
        for (let i = 0; i < seg.frames; i++) sendFrame();
        break;
      case 'dtx':
        now += seg.ms;
        ts += seg.ms * 48;
        break;
      case 'frozen':
        now += seg.ms;
        break;
      case 'newSsrc':
        ssrc++;
        seq = seg.seq;
        ts = seg.ts;
        break;
      case 'pause': {
        const from = now + s.latencyMs;
        const frames = Math.max(1, Math.round(seg.ms / s.frameMs));
        for (let i = 0; i < frames; i++) sendFrame();
        pauses.push({ fromMs: from, toMs: now + s.latencyMs });
        break;
      }
    }
  }
  const stopMs = now + s.latencyMs + s.tailMs;

  type Timed = { at: number; order: number; input: TrackPipelineInput };
  const timed: Timed[] = [];
  for (const p of sent) {
    if (p.lost) continue;
    const data = buildRtp({
      payloadType,
      sequenceNumber: p.seq,
      timestamp: p.ts,
      ssrc: p.ssrc,
      payload: p.payload,
    });
    timed.push({ at: p.arrivalMs, order: 1, input: { kind: 'rtp', data, arrivalMs: p.arrivalMs } });
    if (p.duplicated) {
      timed.push({ at: p.arrivalMs + 3, order: 1, input: { kind: 'rtp', data, arrivalMs: p.arrivalMs + 3 } });
    }
  }
  for (const p of pauses) {
    timed.push({ at: p.fromMs, order: 0, input: { kind: 'pause', atMs: p.fromMs } });
    timed.push({ at: p.toMs, order: 0, input: { kind: 'resume', atMs: p.toMs } });
  }
  for (let t = s.t0Ms; t < stopMs; t += s.tickEveryMs) {
    timed.push({ at: t, order: 2, input: { kind: 'tick', nowMs: t } });
  }
  timed.sort((a, b) => a.at - b.at || a.order - b.order);
  const inputs: TrackPipelineInput[] = [{ kind: 'attach', payloadType }];
  for (const t of timed) {
    if (t.at >= stopMs) break;
    inputs.push(t.input);
  }
  inputs.push({ kind: 'end', atMs: stopMs });
  return { inputs, sent, pauses, stopMs, payloadType };
}
