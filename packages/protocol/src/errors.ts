/**
 * The one registry of error codes. Every error the server answers with comes from here:
 * a stable string code, the HTTP status, and a default human message. The REST layer turns
 * an `RtkError` into RealtimeKit's envelope `{ success: false, error: { code: <status>, message } }`;
 * errors crossing the signalling socket travel as `{ code, message, details }`.
 */
export const ErrorCodes = {
  UNAUTHORIZED: { status: 401, message: 'Missing or invalid API token' },
  FORBIDDEN: { status: 403, message: 'This token may not do that' },
  NOT_FOUND: { status: 404, message: 'Not found' },
  ROUTE_NOT_FOUND: { status: 404, message: 'No such route' },
  METHOD_NOT_ALLOWED: { status: 405, message: 'Method not allowed on this route' },
  INVALID_JSON: { status: 400, message: 'Request body is not valid JSON' },
  VALIDATION_FAILED: { status: 400, message: 'Request is invalid' },
  BODY_TOO_LARGE: { status: 413, message: 'Request body is larger than 1 MB' },
  URI_TOO_LONG: { status: 414, message: 'Request URL is too long' },
  HEADERS_TOO_LARGE: { status: 431, message: 'Request headers are larger than 64 KB' },
  REQUEST_TIMEOUT: { status: 408, message: 'The request took too long to arrive' },
  MALFORMED_REQUEST: { status: 400, message: 'The request is not valid HTTP' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, message: 'Request body must be application/json' },
  URL_NOT_ALLOWED: {
    status: 400,
    message: 'The URL points at a target this server refuses to contact',
  },
  CONFLICT: { status: 409, message: 'Conflicts with the current state' },
  NO_ACTIVE_SESSION: { status: 404, message: 'The meeting has no active session' },
  HOSTED_ELSEWHERE: { status: 409, message: "The meeting's live session is hosted by another server" },
  NODE_UNREACHABLE: {
    status: 504,
    message: 'The server hosting this live session did not answer in time',
  },
  NOT_IMPLEMENTED: { status: 501, message: 'Not implemented by this server' },
  LINK_EXPIRED: { status: 403, message: 'This download link has expired' },
  LINK_INVALID: { status: 403, message: 'This download link is not valid' },
  RANGE_NOT_SATISFIABLE: { status: 416, message: 'Requested range is not satisfiable' },
  SIGNALLING_INVALID_MESSAGE: { status: 400, message: 'Signalling message is invalid' },
  SIGNALLING_MESSAGE_TOO_LARGE: { status: 413, message: 'Signalling message is too large' },
  TOKEN_INVALID: { status: 401, message: 'Participant token is invalid' },
  TOKEN_EXPIRED: { status: 401, message: 'Participant token has expired' },
  INSUFFICIENT_STORAGE: { status: 507, message: 'Insufficient storage: the disk holding DATA_DIR is full' },
  STORAGE_UNAVAILABLE: { status: 503, message: 'The recording storage (a bucket) could not be reached' },
  INTERNAL: { status: 500, message: 'Internal server error' },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof ErrorCodes;

export interface ErrorPayload {
  code: ErrorCode;
  message: string;
  details?: Record<string, unknown>;
}

export class RtkError extends Error {
  override readonly name = 'RtkError';
  readonly code: ErrorCode;
  readonly status: number;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message?: string, details?: Record<string, unknown>) {
    super(message ?? ErrorCodes[code].message);
    this.code = code;
    this.status = ErrorCodes[code].status;
    this.details = details;
  }

  toPayload(): ErrorPayload {
    return this.details
      ? { code: this.code, message: this.message, details: this.details }
      : { code: this.code, message: this.message };
  }

  /** Rebuilds an error that crossed a process or socket boundary. Unknown codes become INTERNAL. */
  static fromPayload(p: { code: string; message: string; details?: Record<string, unknown> }): RtkError {
    const code = (Object.hasOwn(ErrorCodes, p.code) ? p.code : 'INTERNAL') as ErrorCode;
    return new RtkError(code, p.message, p.details);
  }
}

export function isRtkError(e: unknown): e is RtkError {
  return e instanceof RtkError;
}
