/**
 * Errors of the recorder package. Pipeline stages never throw on bad media (they count drops);
 * these errors are for misuse of the file adapter and for I/O failures.
 */
export const RecorderErrorCodes = {
  RECORDER_CLOSED: 'The track file writer is closed',
  RECORDER_NOT_OPEN: 'The track file writer is not open yet',
  RECORDER_ALREADY_OPEN: 'The track file writer is already open',
  RECORDER_INVALID_OPTIONS: 'Invalid track file writer options',
  RECORDER_IO_FAILED: 'Writing the track file failed',
} as const satisfies Record<string, string>;

export type RecorderErrorCode = keyof typeof RecorderErrorCodes;

export class RecorderError extends Error {
  override readonly name = 'RecorderError';
  readonly code: RecorderErrorCode;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: RecorderErrorCode, message?: string, details?: Record<string, unknown>, cause?: unknown) {
    super(message ?? RecorderErrorCodes[code], cause === undefined ? undefined : { cause });
    this.code = code;
    this.details = details;
  }
}

export function isRecorderError(e: unknown): e is RecorderError {
  return e instanceof RecorderError;
}
