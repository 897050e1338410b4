import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { ok, pageRequest, paged } from './envelope.js';

describe('envelope', () => {
  it('wraps data as RealtimeKit does', () => {
    assert.deepEqual(ok({ a: 1 }), { success: true, data: { a: 1 } });
  });

  it('reads page_no and per_page with defaults; 0 and 1 are both the first page', () => {
    assert.deepEqual(pageRequest({}), { pageNo: 1, perPage: 20, offset: 0 });
    assert.deepEqual(pageRequest({ page_no: 0, per_page: 5 }), { pageNo: 1, perPage: 5, offset: 0 });
    assert.deepEqual(pageRequest({ page_no: 3, per_page: 10 }), { pageNo: 3, perPage: 10, offset: 20 });
  });

  it('gives 1-based inclusive offsets (RealtimeKit: one row is start 1, end 1)', () => {
    assert.deepEqual(paged(['a'], 1, pageRequest({})).paging, {
      total_count: 1,
      start_offset: 1,
      end_offset: 1,
    });
    assert.deepEqual(paged(['u', 'v', 'w'], 45, pageRequest({ page_no: 3, per_page: 10 })).paging, {
      total_count: 45,
      start_offset: 21,
      end_offset: 23,
    });
    assert.deepEqual(paged([], 0, pageRequest({})).paging, {
      total_count: 0,
      start_offset: 1,
      end_offset: 0,
    });
  });

  it('offsets always describe the rows on the page (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 500 }),
        fc.integer({ min: 0, max: 60 }),
        fc.integer({ min: 1, max: 100 }),
        (total, pageNo, perPage) => {
          const page = pageRequest({ page_no: pageNo, per_page: perPage });
          const n = Math.max(0, Math.min(perPage, total - page.offset));
          const rows = Array.from({ length: n }, (_, i) => page.offset + i + 1); // 1-based positions
          const { paging, data } = paged(rows, total, page);
          assert.equal(paging.end_offset - paging.start_offset + 1, data.length);
          if (n > 0) {
            assert.equal(paging.start_offset, rows[0]);
            assert.equal(paging.end_offset, rows[n - 1]);
            assert.ok(paging.end_offset <= total);
          }
        },
      ),
    );
  });
});
