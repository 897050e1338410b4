import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { opusHead, opusPacketSamples, opusSilenceFrame } from './opus.js';

void describe('opusPacketSamples (RFC 6716 3.1)', () => {
  const cases: [string, number[], number][] = [
    ['SILK NB 10 ms', [0x00], 480],
    ['SILK WB 60 ms', [0x58], 2880],
    ['Hybrid FB 20 ms', [0x78], 960],
    ['CELT FB 2.5 ms', [0xe0], 120],
    ['CELT FB 20 ms (silence frame)', [0xf8, 0xff, 0xfe], 960],
    ['code 1: two 20 ms frames', [0xf9, 1, 2], 1920],
    ['code 2: two 10 ms frames', [0xf2, 1, 2], 960],
    ['code 3: three 20 ms frames', [0xfb, 0x03], 2880],
    ['code 3: six 20 ms frames (120 ms, the maximum)', [0xfb, 0x06], 5760],
  ];
  for (const [name, bytes, samples] of cases) {
    void it(name, () => assert.equal(opusPacketSamples(Uint8Array.from(bytes)), samples));
  }
  void it('returns 0 for empty, frameless or too long packets', () => {
    assert.equal(opusPacketSamples(new Uint8Array(0)), 0);
    assert.equal(opusPacketSamples(Uint8Array.of(0xfb)), 0, 'code 3 without a count byte');
    assert.equal(opusPacketSamples(Uint8Array.of(0xfb, 0x00)), 0, 'code 3 with zero frames');
    assert.equal(opusPacketSamples(Uint8Array.of(0xfb, 0x07)), 0, '140 ms is longer than allowed');
  });
});

void describe('opus constants', () => {
  void it('builds the classic silence frames', () => {
    assert.deepEqual([...opusSilenceFrame(960, 1)], [0xf8, 0xff, 0xfe]);
    assert.deepEqual([...opusSilenceFrame(960, 2)], [0xfc, 0xff, 0xfe]);
    assert.deepEqual([...opusSilenceFrame(120, 1)], [0xe0, 0xff, 0xfe]);
    for (const n of [120, 240, 480, 960] as const) assert.equal(opusPacketSamples(opusSilenceFrame(n, 2)), n);
  });
  void it('builds an OpusHead with pre-skip 0', () => {
    const h = opusHead(2);
    assert.equal(new TextDecoder().decode(h.subarray(0, 8)), 'OpusHead');
    assert.deepEqual([...h.subarray(8)], [1, 2, 0, 0, 0x80, 0xbb, 0, 0, 0, 0, 0]);
  });
});
