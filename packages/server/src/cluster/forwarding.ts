/** An HTTP request replayed on the node that hosts what it acts on. */
export interface ForwardedRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
  body?: string;
}
export interface ForwardedAnswer {
  status: number;
  contentType: string;
  body: string;
}

/** Where a joining participant's meeting is hosted. */
export type Hosting = { here: true } | { here: false; nodeId: string; nodeUrl: string };

/** The header a forwarded request carries (the receiving node never forwards it again). */
export const FORWARDED_HEADER = 'x-trackroom-forwarded-by';
