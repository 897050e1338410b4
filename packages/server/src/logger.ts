import type { Logger } from '@trackroom/protocol';

type Level = 'debug' | 'info' | 'warn' | 'error' | 'silent';
const ORDER: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 99 };

/** A small structured JSON-lines logger (stderr), compatible with the Logger interface. */
export function createLogger(level: Level = 'info', bindings: Record<string, unknown> = {}): Logger {
  const min = ORDER[level];
  const write = (lvl: Exclude<Level, 'silent'>, obj: object | string, msg?: string) => {
    if (ORDER[lvl] < min) return;
    const fields = typeof obj === 'string' ? { msg: obj } : { ...serialise(obj), ...(msg ? { msg } : {}) };
    process.stderr.write(
      JSON.stringify({ time: new Date().toISOString(), level: lvl, ...bindings, ...fields }) + '\n',
    );
  };
  return {
    debug: (o, m) => write('debug', o, m),
    info: (o, m) => write('info', o, m),
    warn: (o, m) => write('warn', o, m),
    error: (o, m) => write('error', o, m),
    child: (b) => createLogger(level, { ...bindings, ...b }),
  };
}

function serialise(obj: object): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(obj)) {
    out[k] = v instanceof Error ? { type: v.name, message: v.message, stack: v.stack } : v;
  }
  return out;
}

export function levelFromEnv(v: string | undefined): Level {
  return v === 'debug' || v === 'info' || v === 'warn' || v === 'error' || v === 'silent' ? v : 'info';
}
