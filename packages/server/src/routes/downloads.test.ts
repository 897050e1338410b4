import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { parseRange } from './downloads.js';

describe('parseRange', () => {
  it('reads the three single-range forms', () => {
    assert.equal(parseRange(undefined, 100), undefined);
    assert.equal(parseRange('', 100), undefined);
    assert.deepEqual(parseRange('bytes=0-9', 100), { start: 0, end: 9 });
    assert.deepEqual(parseRange('bytes=90-', 100), { start: 90, end: 99 });
    assert.deepEqual(parseRange('bytes=-10', 100), { start: 90, end: 99 });
    assert.deepEqual(parseRange('bytes=-1000', 100), { start: 0, end: 99 }, 'suffix longer than the file');
    assert.deepEqual(parseRange('bytes=50-5000', 100), { start: 50, end: 99 }, 'end clamps to the file');
    assert.deepEqual(parseRange(' bytes=1-1 ', 100), { start: 1, end: 1 });
  });

  it('refuses what it cannot satisfy with 416', () => {
    for (const h of [
      'bytes=100-',
      'bytes=100-200',
      'bytes=10-5',
      'bytes=-',
      'bytes=a-b',
      'items=0-1',
      'bytes=0-1,5-6',
      'bytes=-0',
      'bytes 0-1',
    ]) {
      assert.throws(() => parseRange(h, 100), { code: 'RANGE_NOT_SATISFIABLE', status: 416 }, h);
    }
    assert.throws(() => parseRange('bytes=0-0', 0), { code: 'RANGE_NOT_SATISFIABLE' }, 'empty file');
  });

  it('always answers a range inside the file, or throws 416 (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 10_000 }),
        fc.option(fc.integer({ min: 0, max: 20_000 }), { nil: undefined }),
        fc.option(fc.integer({ min: 0, max: 20_000 }), { nil: undefined }),
        (size, a, b) => {
          const header = `bytes=${a ?? ''}-${b ?? ''}`;
          let r;
          try {
            r = parseRange(header, size);
          } catch (e) {
            assert.equal((e as { code?: string }).code, 'RANGE_NOT_SATISFIABLE');
            return;
          }
          assert.ok(r);
          assert.ok(r.start >= 0 && r.start <= r.end && r.end < size, `${header} of ${size}`);
          if (a !== undefined) assert.equal(r.start, a);
          if (a === undefined && b !== undefined) assert.equal(r.end - r.start + 1, Math.min(b, size));
        },
      ),
    );
  });
});
