/**
 * Cost of the server's log lines (not a test): N lines through the server's logger (pino) against
 * the hand-written JSON logger it replaced (kept below as the baseline), in a fresh child process per
 * run whose stderr is a pipe drained by this process (as under a service manager or `npm start`).
 * Reports, per line, the caller's time (what the event loop pays per log call) and the time until
 * the last line has left the process (for pino, which writes asynchronously, up to `exit`), plus the
 * cost of a disabled `debug` call. Medians over `runs`.
 * Run: node --conditions=source --import tsx packages/server/bench/log-lines.mts [lines=100000] [runs=7]
 */
import { spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { pino } from 'pino';
import type { Logger } from '@trackroom/protocol';
import { createLogger } from '../src/logger.js';

type Impl = 'baseline' | 'pino' | 'pino-no-redact' | 'pino-wildcards';

/** The logger before pino (the old packages/server/src/logger.ts), unchanged. */
function baselineLogger(level: 'debug' | 'info', bindings: Record<string, unknown> = {}): Logger {
  const ORDER = { debug: 10, info: 20, warn: 30, error: 40 } as const;
  const min = ORDER[level];
  const serialise = (obj: object): Record<string, unknown> => {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(obj)) {
      out[k] = v instanceof Error ? { type: v.name, message: v.message, stack: v.stack } : v;
    }
    return out;
  };
  const write = (lvl: keyof typeof ORDER, obj: object | string, msg?: string) => {
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
    child: (b) => baselineLogger(level, { ...bindings, ...b }),
  };
}

/** pino as the server sets it up, with other redaction paths (none, or `*.x` wildcards). */
function pinoVariant(paths: string[]): Logger {
  return pino(
    {
      level: 'info',
      base: null,
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      serializers: { err: pino.stdSerializers.err, error: pino.stdSerializers.err },
      ...(paths.length > 0 ? { redact: { paths, censor: '[redacted]' } } : {}),
    },
    pino.destination({ fd: 2, sync: false }),
  );
}

const WILDCARDS = ['authorization', 'token', '*.authorization', '*.token', '*.headers.authorization'];

/** The child: logs `lines` lines like the server's (a subsystem child, a few ids, a message). */
async function child(impl: Impl, lines: number): Promise<void> {
  const root =
    impl === 'baseline'
      ? baselineLogger('info')
      : impl === 'pino'
        ? createLogger('info')
        : pinoVariant(impl === 'pino-wildcards' ? WILDCARDS : []);
  const log = root.child({ subsystem: 'recordings' });
  const t0 = performance.now();
  for (let i = 0; i < lines; i++) {
    log.info(
      { recordingId: '5f0c6f3e-7f7b-4f7e-9d0e-2b1c3d4e5f60', peerId: `peer-${i}`, files: 2 },
      'status',
    );
  }
  const callMs = performance.now() - t0;
  const t1 = performance.now();
  for (let i = 0; i < lines; i++) log.debug({ peerId: `peer-${i}` }, 'disabled');
  const disabledMs = performance.now() - t1;
  process.stdout.write(JSON.stringify({ callMs, disabledMs }) + '\n');
  // pino flushes what is still buffered on exit; the parent times until the pipe closes.
}

async function run(impl: Impl, lines: number) {
  const start = performance.now();
  const p = spawn(
    process.execPath,
    [
      '--conditions=source',
      '--import',
      'tsx',
      new URL(import.meta.url).pathname,
      '--child',
      impl,
      String(lines),
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  let bytes = 0;
  let spawnedAt = 0;
  p.stdout.on('data', (d: Buffer) => (out += d.toString()));
  p.stderr.on('data', (d: Buffer) => {
    if (bytes === 0) spawnedAt = performance.now();
    bytes += d.length;
  });
  const code = await new Promise<number | null>((resolve) => p.on('close', resolve));
  if (code !== 0) throw new Error(`${impl} child exited with ${code}`);
  const drainedMs = performance.now() - (spawnedAt || start);
  const r = JSON.parse(out) as { callMs: number; disabledMs: number };
  return { ...r, drainedMs, bytes };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

if (process.argv[2] === '--child') {
  await child(process.argv[3] as Impl, Number(process.argv[4]));
} else {
  const lines = Number(process.argv[2] ?? 100_000);
  const runs = Number(process.argv[3] ?? 7);
  const impls: Impl[] = ['baseline', 'pino', 'pino-no-redact', 'pino-wildcards'];
  const results = new Map<Impl, Array<Awaited<ReturnType<typeof run>>>>(impls.map((i) => [i, []]));
  // Interleaved so that background load on a shared machine hits every implementation alike.
  for (let r = 0; r < runs; r++) for (const impl of impls) results.get(impl)?.push(await run(impl, lines));
  console.log(`${lines} lines per run, ${runs} runs, median; Node ${process.version}`);
  console.log('impl            | call µs/line | until drained µs/line | disabled debug ns/call | bytes/line');
  for (const impl of impls) {
    const rs = results.get(impl) ?? [];
    const call = (median(rs.map((x) => x.callMs)) * 1000) / lines;
    const drained = (median(rs.map((x) => x.drainedMs)) * 1000) / lines;
    const disabled = (median(rs.map((x) => x.disabledMs)) * 1e6) / lines;
    const bytes = (rs[0]?.bytes ?? 0) / lines;
    console.log(
      `${impl.padEnd(15)} | ${call.toFixed(2).padStart(12)} | ${drained.toFixed(2).padStart(21)} | ${disabled.toFixed(0).padStart(22)} | ${bytes.toFixed(0)}`,
    );
  }
}
