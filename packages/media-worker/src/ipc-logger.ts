import type { FromWorkerMessage, Logger } from '@trackroom/protocol';
import type { LogLevel } from './media-worker-config.js';

const RANK: Record<LogLevel, number> = { debug: 20, info: 30, warn: 40, error: 50 };

/** Error objects do not survive JSON: their name, message, code and stack travel instead. */
function plain(obj: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(obj)) {
    out[k] =
      v instanceof Error
        ? {
            type: v.name,
            message: v.message,
            stack: v.stack,
            ...('code' in v ? { code: (v as { code: unknown }).code } : {}),
          }
        : v;
  }
  return out;
}

/**
 * A worker process's logger: each line at or above `level` goes to the control plane as a `log`
 * message, which logs it with the worker named. `send` is `process.send`.
 */
export function ipcLogger(
  level: LogLevel,
  send: (msg: FromWorkerMessage) => void,
  bindings: Record<string, unknown> = {},
): Logger {
  const at =
    (l: LogLevel) =>
    (obj: object | string, msg?: string): void => {
      if (RANK[l] < RANK[level]) return;
      const o = typeof obj === 'string' ? {} : plain(obj as Record<string, unknown>);
      const m = typeof obj === 'string' ? obj : (msg ?? '');
      try {
        send({ kind: 'log', level: l, obj: { ...bindings, ...o }, msg: m });
      } catch {
        // The channel is closing (the parent is gone): the line has nowhere to go.
      }
    };
  return {
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    child: (b) => ipcLogger(level, send, { ...bindings, ...b }),
  };
}
