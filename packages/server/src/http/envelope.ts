/** RealtimeKit's response envelope. */
export interface Paging {
  total_count: number;
  start_offset: number;
  end_offset: number;
}

export const ok = <T>(data: T) => ({ success: true as const, data });

export interface PageRequest {
  pageNo: number;
  perPage: number;
  offset: number;
}

/** Reads `page_no` (0 or 1 = first page) and `per_page` (default 20). Validation has checked the ranges. */
export function pageRequest(q: { page_no?: number; per_page?: number }): PageRequest {
  const pageNo = Math.max(1, q.page_no ?? 1);
  const perPage = q.per_page ?? 20;
  return { pageNo, perPage, offset: (pageNo - 1) * perPage };
}

/**
 * A list answer. Offsets are 1-based positions of the first and last row of the page, as RealtimeKit
 * answers (one app: start 1, end 1): 3 rows from the 21st give start 21, end 23. An empty page gives
 * end_offset = start_offset - 1, so `end_offset - start_offset + 1` is always the page's row count.
 */
export function paged<T>(rows: T[], total: number, page: PageRequest) {
  const paging: Paging = {
    total_count: total,
    start_offset: page.offset + 1,
    end_offset: page.offset + rows.length,
  };
  return { success: true as const, data: rows, paging };
}

/** The `range` part of a list query from `start_time`/`end_time` (ISO 8601), or nothing. */
export function timeRange<F extends string>(
  field: F,
  q: { start_time?: string; end_time?: string },
): { range?: { field: F; from?: string; to?: string } } {
  if (!q.start_time && !q.end_time) return {};
  return {
    range: {
      field,
      ...(q.start_time ? { from: new Date(q.start_time).toISOString() } : {}),
      ...(q.end_time ? { to: new Date(q.end_time).toISOString() } : {}),
    },
  };
}
