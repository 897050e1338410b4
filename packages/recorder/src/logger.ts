/** The logger the recorder takes by injection (pino-compatible: context object first). */
export interface RecorderLogger {
  debug(context: Record<string, unknown>, message: string): void;
  info(context: Record<string, unknown>, message: string): void;
  warn(context: Record<string, unknown>, message: string): void;
  error(context: Record<string, unknown>, message: string): void;
}

const noop = (): void => {};

export const silentLogger: RecorderLogger = { debug: noop, info: noop, warn: noop, error: noop };
