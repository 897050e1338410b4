/** The logger the recorder takes by injection (pino-compatible: context object first). */
export interface RecorderLogger {
  debug(context: Record<string, unknown>, message: string): void;
  info(context: Record<string, unknown>, message: string): void;
  warn(context: Record<string, unknown>, message: string): void;
  error(context: Record<string, unknown>, message: string): void;
}

const noop = (): void => {};

export const silentLogger: RecorderLogger = { debug: noop, info: noop, warn: noop, error: noop };

/** A logger that adds `context` to every line (the recorder's loggers have no `child`). */
export function withContext(logger: RecorderLogger, context: Record<string, unknown>): RecorderLogger {
  if (logger === silentLogger) return logger;
  return {
    debug: (c, m) => logger.debug({ ...context, ...c }, m),
    info: (c, m) => logger.info({ ...context, ...c }, m),
    warn: (c, m) => logger.warn({ ...context, ...c }, m),
    error: (c, m) => logger.error({ ...context, ...c }, m),
  };
}
