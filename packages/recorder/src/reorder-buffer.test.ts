import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { ReorderBuffer, type OrderedRtpPacket, type ReorderOutput } from './reorder-buffer.js';
import type { RtpPacket } from './rtp-parser.js';

function pkt(seq: number, ssrc = 1): RtpPacket {
  return {
    version: 2,
    padding: false,
    marker: false,
    payloadType: 111,
    sequenceNumber: seq & 0xffff,
    timestamp: (seq * 960) >>> 0,
    ssrc,
    csrcs: [],
    extension: undefined,
    payload: Uint8Array.of(0xf8, seq & 0xff),
  };
}

const packets = (out: ReorderOutput[]): OrderedRtpPacket[] => out.filter((o) => o.kind === 'packet');
const seqs = (out: ReorderOutput[]): number[] => packets(out).map((p) => p.packet.sequenceNumber);

void describe('ReorderBuffer', () => {
  void it('passes in-order packets straight through', () => {
    const rb = new ReorderBuffer();
    for (let i = 0; i < 5; i++) {
      assert.deepEqual(seqs(rb.process({ kind: 'packet', packet: pkt(i), arrivalMs: i * 20 })), [i]);
    }
    assert.equal(rb.stats().held, 0);
  });

  void it('restores order within the window and counts the reordered packet', () => {
    const rb = new ReorderBuffer({ delayMs: 100 });
    assert.deepEqual(seqs(rb.process({ kind: 'packet', packet: pkt(1), arrivalMs: 0 })), [1]);
    assert.deepEqual(seqs(rb.process({ kind: 'packet', packet: pkt(3), arrivalMs: 20 })), []);
    assert.deepEqual(seqs(rb.process({ kind: 'packet', packet: pkt(4), arrivalMs: 40 })), []);
    assert.deepEqual(seqs(rb.process({ kind: 'packet', packet: pkt(2), arrivalMs: 50 })), [2, 3, 4]);
    const s = rb.stats();
    assert.equal(s.reordered, 1);
    assert.equal(s.lost, 0);
  });

  void it('declares a hole lost after the delay, then counts the straggler as late', () => {
    const rb = new ReorderBuffer({ delayMs: 100 });
    rb.process({ kind: 'packet', packet: pkt(1), arrivalMs: 0 });
    rb.process({ kind: 'packet', packet: pkt(3), arrivalMs: 40 });
    assert.deepEqual(seqs(rb.process({ kind: 'tick', nowMs: 139 })), []);
    const out = packets(rb.process({ kind: 'tick', nowMs: 140 }));
    assert.deepEqual(
      out.map((p) => [p.packet.sequenceNumber, p.lostBefore]),
      [[3, 1]],
    );
    assert.deepEqual(seqs(rb.process({ kind: 'packet', packet: pkt(2), arrivalMs: 150 })), []);
    const s = rb.stats();
    assert.equal(s.lost, 1);
    assert.equal(s.late, 1);
    assert.equal(s.duplicated, 0);
  });

  void it('drops duplicates of held and of released packets', () => {
    const rb = new ReorderBuffer();
    rb.process({ kind: 'packet', packet: pkt(1), arrivalMs: 0 });
    rb.process({ kind: 'packet', packet: pkt(1), arrivalMs: 1 });
    rb.process({ kind: 'packet', packet: pkt(3), arrivalMs: 2 });
    rb.process({ kind: 'packet', packet: pkt(3), arrivalMs: 3 });
    assert.deepEqual(seqs(rb.process({ kind: 'packet', packet: pkt(2), arrivalMs: 4 })), [2, 3]);
    assert.equal(rb.stats().duplicated, 2);
  });

  void it('unwraps the 16-bit sequence number', () => {
    const rb = new ReorderBuffer();
    const out: ReorderOutput[] = [];
    for (const s of [65533, 65535, 65534, 0, 2, 1])
      out.push(...rb.process({ kind: 'packet', packet: pkt(s), arrivalMs: 0 }));
    const ps = packets(out);
    assert.deepEqual(
      ps.map((p) => p.packet.sequenceNumber),
      [65533, 65534, 65535, 0, 1, 2],
    );
    for (let i = 1; i < ps.length; i++) assert.equal(ps[i]?.extSeq, (ps[i - 1]?.extSeq ?? 0) + 1);
  });

  void it('flushes the old stream and marks a discontinuity on a new SSRC', () => {
    const rb = new ReorderBuffer();
    rb.process({ kind: 'packet', packet: pkt(10), arrivalMs: 0 });
    rb.process({ kind: 'packet', packet: pkt(12), arrivalMs: 20 });
    const out = packets(rb.process({ kind: 'packet', packet: pkt(500, 2), arrivalMs: 40 }));
    assert.deepEqual(
      out.map((p) => [p.packet.ssrc, p.packet.sequenceNumber, p.discontinuity]),
      [
        [1, 12, false],
        [2, 500, true],
      ],
    );
    assert.equal(rb.stats().streams, 2);
  });

  void it('accepts a large sequence jump only when the next packet confirms it', () => {
    const rb = new ReorderBuffer({ maxDropout: 3000 });
    rb.process({ kind: 'packet', packet: pkt(100), arrivalMs: 0 });
    assert.deepEqual(seqs(rb.process({ kind: 'packet', packet: pkt(30000), arrivalMs: 20 })), []);
    assert.deepEqual(seqs(rb.process({ kind: 'packet', packet: pkt(101), arrivalMs: 40 })), [101]);
    assert.equal(rb.stats().strays, 1);
    rb.process({ kind: 'packet', packet: pkt(40000), arrivalMs: 60 });
    const out = packets(rb.process({ kind: 'packet', packet: pkt(40001), arrivalMs: 80 }));
    assert.deepEqual(
      out.map((p) => [p.packet.sequenceNumber, p.discontinuity]),
      [
        [40000, true],
        [40001, false],
      ],
    );
  });

  void it('releases early when more than maxPackets are held', () => {
    const rb = new ReorderBuffer({ maxPackets: 3, delayMs: 10_000 });
    rb.process({ kind: 'packet', packet: pkt(0), arrivalMs: 0 });
    for (const s of [2, 3, 4])
      assert.deepEqual(seqs(rb.process({ kind: 'packet', packet: pkt(s), arrivalMs: 0 })), []);
    assert.deepEqual(seqs(rb.process({ kind: 'packet', packet: pkt(5), arrivalMs: 0 })), [2, 3, 4, 5]);
    assert.equal(rb.stats().overflows, 1);
    assert.equal(rb.stats().lost, 1);
  });

  void it('property: output is strictly increasing, duplicate-free, and every packet is accounted for', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 0xffff }),
        fc.array(
          fc.record({
            lost: fc.integer({ min: 0, max: 9 }).map((n) => n === 0),
            dup: fc.integer({ min: 0, max: 19 }).map((n) => n === 0),
            jitter: fc.integer({ min: 0, max: 250 }),
          }),
          { minLength: 1, maxLength: 400 },
        ),
        fc.integer({ min: 20, max: 200 }),
        (seq0, net, delayMs) => {
          const rb = new ReorderBuffer({ delayMs });
          const arrivals: { at: number; seq: number }[] = [];
          net.forEach((n, i) => {
            if (n.lost) return;
            arrivals.push({ at: i * 20 + n.jitter, seq: seq0 + i });
            if (n.dup) arrivals.push({ at: i * 20 + n.jitter + 1, seq: seq0 + i });
          });
          arrivals.sort((a, b) => a.at - b.at);
          const out: ReorderOutput[] = [];
          for (const a of arrivals)
            out.push(...rb.process({ kind: 'packet', packet: pkt(a.seq), arrivalMs: a.at }));
          out.push(...rb.process({ kind: 'end', atMs: 1e9 }));
          assert.equal(out.at(-1)?.kind, 'end');
          const ps = packets(out);
          for (let i = 1; i < ps.length; i++) assert.ok((ps[i]?.extSeq ?? 0) > (ps[i - 1]?.extSeq ?? 0));
          const s = rb.stats();
          assert.equal(s.received, arrivals.length);
          assert.equal(s.received, s.released + s.duplicated + s.late + s.strays + s.held);
          assert.equal(s.released, ps.length);
          // Released plus declared lost covers the whole sequence range once.
          const first = ps[0];
          const last = ps.at(-1);
          if (first && last) assert.equal(s.released + s.lost, last.extSeq - first.extSeq + 1);
          // With jitter inside the window (and no overflow), only packets older than the very first
          // arrival (which starts the stream) can be late.
          if (net.every((n) => n.jitter < delayMs - 20) && s.overflows === 0) {
            const firstSeq = arrivals[0]?.seq ?? 0;
            assert.ok(s.late <= arrivals.filter((a) => a.seq < firstSeq).length);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
