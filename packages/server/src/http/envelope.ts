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
 * A list answer. Offsets are 0-based and inclusive: 3 rows from offset 20 give start 20, end 22;
 * an empty page gives end_offset = start_offset - 1.
 */
export function paged<T>(rows: T[], total: number, page: PageRequest) {
  const paging: Paging = {
    total_count: total,
    start_offset: page.offset,
    end_offset: page.offset + rows.length - 1,
  };
  return { success: true as const, data: rows, paging };
}
