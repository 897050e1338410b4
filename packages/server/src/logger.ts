import { pino, type DestinationStream, type Logger as PinoLogger } from 'pino';
import type { Logger } from '@trackroom/protocol';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';

/**
 * Field paths whose values are replaced by `[redacted]` before a line is written: the admin token,
 * participant tokens and what carries them (authorization headers, cookies). A secret logged under
 * one of these names never reaches the log. The paths are explicit, without `*` wildcards: in
 * pino's redaction a wildcard path costs about 20 µs per line, a fixed path next to nothing
 * (packages/server/bench/log-lines.mts).
 */
export const REDACTED_PATHS: readonly string[] = [
  'authorization',
  'cookie',
  'token',
  'authToken',
  'apiToken',
  'secret',
  'password',
  'headers.authorization',
  'headers.cookie',
  'req.headers.authorization',
  'req.headers.cookie',
  'request.headers.authorization',
  'request.headers.cookie',
  'participant.token',
  'participant.authToken',
  'config.apiToken',
  'body.token',
  'query.authToken',
  // Storage credentials (docs/storage.md): never logged, even by mistake.
  'access_key',
  'accessKeyId',
  'secretAccessKey',
  'credentials',
  'storage_config',
  'body.storage_config',
];

export interface CreateLoggerOptions {
  /** Where the JSON lines go; default stderr through pino's asynchronous destination. */
  destination?: DestinationStream;
}

/**
 * The server's logger: pino writing one JSON object per line to stderr,
 * `{"level":"info","time":"<ISO 8601>",...bindings,...fields,"msg":"..."}`. Errors under `err` (or
 * `error`) become `{ type, message, stack, ... }`. Writes are buffered and asynchronous, and
 * flushed when the process exits.
 */
export function createLogger(
  level: LogLevel = 'info',
  bindings: Record<string, unknown> = {},
  opts: CreateLoggerOptions = {},
): Logger {
  const root = pino(
    {
      level,
      base: null,
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      serializers: { err: pino.stdSerializers.err, error: pino.stdSerializers.err },
      redact: { paths: [...REDACTED_PATHS], censor: '[redacted]' },
    },
    opts.destination ?? pino.destination({ fd: 2, sync: false }),
  );
  return withBindings(root, bindings);
}

/**
 * A child of `root` with `bindings`. Children are made from the root with the merged bindings (a
 * pino child of a child would repeat a key it overrides, e.g. `subsystem`, in the same line).
 */
function withBindings(root: PinoLogger, bindings: Record<string, unknown>): Logger {
  const l = Object.keys(bindings).length > 0 ? root.child(bindings) : root;
  return {
    debug: l.debug.bind(l),
    info: l.info.bind(l),
    warn: l.warn.bind(l),
    error: l.error.bind(l),
    child: (more) => withBindings(root, { ...bindings, ...more }),
  };
}

/** LOG_LEVEL's value, or `info` when it is unset or not one of the levels. */
export function levelFromEnv(v: string | undefined): LogLevel {
  return v === 'debug' || v === 'info' || v === 'warn' || v === 'error' || v === 'silent' ? v : 'info';
}
