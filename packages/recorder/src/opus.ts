/**
 * Opus packet facts needed by the timeline (RFC 6716 section 3.1) and the OpusHead used as the
 * WebM CodecPrivate (RFC 7845 section 5.1).
 */

/** Sample rate of every Opus timeline in this package. */
export const OPUS_SAMPLE_RATE = 48_000;

/** Smallest Opus frame (2.5 ms): every position on the recording timeline is a multiple of it. */
export const OPUS_MIN_FRAME_SAMPLES = 120;

/** Longest legal Opus packet (120 ms). */
export const OPUS_MAX_PACKET_SAMPLES = 5760;

/** Samples per frame for each of the 32 TOC configurations (48 kHz). */
const FRAME_SAMPLES_BY_CONFIG: readonly number[] = [
  // SILK-only NB, MB, WB: 10, 20, 40, 60 ms
  480, 960, 1920, 2880, 480, 960, 1920, 2880, 480, 960, 1920, 2880,
  // Hybrid SWB, FB: 10, 20 ms
  480, 960, 480, 960,
  // CELT-only NB, WB, SWB, FB: 2.5, 5, 10, 20 ms
  120, 240, 480, 960, 120, 240, 480, 960, 120, 240, 480, 960, 120, 240, 480, 960,
];

/**
 * Duration of an Opus packet in 48 kHz samples, from its TOC byte (and the frame-count byte of
 * code 3 packets). Returns 0 for a packet that is empty or malformed (so callers can count a drop).
 */
export function opusPacketSamples(payload: Uint8Array): number {
  const toc = payload[0];
  if (toc === undefined) return 0;
  const perFrame = FRAME_SAMPLES_BY_CONFIG[toc >> 3] ?? 0;
  const code = toc & 0x03;
  let frames: number;
  if (code === 0) frames = 1;
  else if (code === 1 || code === 2) frames = 2;
  else {
    const countByte = payload[1];
    if (countByte === undefined) return 0;
    frames = countByte & 0x3f;
  }
  const total = perFrame * frames;
  if (total === 0 || total > OPUS_MAX_PACKET_SAMPLES) return 0;
  return total;
}

/** CELT-only fullband TOC configurations by frame size: 2.5, 5, 10, 20 ms. */
const CELT_FB_CONFIG_BY_SAMPLES: ReadonlyMap<number, number> = new Map([
  [120, 28],
  [240, 29],
  [480, 30],
  [960, 31],
]);

/**
 * A single-frame CELT packet that decodes to digital silence: the TOC byte, then 0xFF 0xFE, which the
 * range decoder reads as the CELT "silence" flag. The classic 20 ms mono frame is F8 FF FE.
 */
export function opusSilenceFrame(samples: 120 | 240 | 480 | 960, channels: 1 | 2): Uint8Array {
  const config = CELT_FB_CONFIG_BY_SAMPLES.get(samples) ?? 31;
  return Uint8Array.of((config << 3) | (channels === 2 ? 0x04 : 0), 0xff, 0xfe);
}

/** OpusHead (RFC 7845 5.1) with pre-skip 0: the recording timeline starts at the first sample. */
export function opusHead(channels: 1 | 2, preSkip = 0): Uint8Array {
  const head = new Uint8Array(19);
  head.set([0x4f, 0x70, 0x75, 0x73, 0x48, 0x65, 0x61, 0x64], 0); // "OpusHead"
  const view = new DataView(head.buffer);
  head[8] = 1; // version
  head[9] = channels;
  view.setUint16(10, preSkip, true);
  view.setUint32(12, OPUS_SAMPLE_RATE, true); // original input sample rate (informational)
  view.setInt16(16, 0, true); // output gain
  head[18] = 0; // channel mapping family 0 (mono/stereo)
  return head;
}
