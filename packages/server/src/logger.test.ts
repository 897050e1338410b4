import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { createLogger, levelFromEnv, type LogLevel } from './logger.js';

/** A logger whose lines are collected and parsed. */
function capture(level: LogLevel = 'debug', bindings: Record<string, unknown> = {}) {
  const raw: string[] = [];
  const logger = createLogger(level, bindings, { destination: { write: (s: string) => raw.push(s) } });
  const lines = () => raw.map((s) => JSON.parse(s) as Record<string, unknown>);
  return { logger, raw, lines };
}

void describe('createLogger', () => {
  void it('writes one JSON object per line: level label, ISO time, bindings, fields, msg', () => {
    const { logger, raw, lines } = capture('debug', { subsystem: 'recordings' });
    const before = Date.now();
    logger.info({ recordingId: 'r1', files: 2 }, 'recording started');
    logger.warn('plain message');
    assert.equal(raw.length, 2);
    for (const s of raw) assert.ok(s.endsWith('\n') && !s.slice(0, -1).includes('\n'), s);
    const [a, b] = lines();
    assert.equal(a?.level, 'info');
    assert.equal(a?.subsystem, 'recordings');
    assert.equal(a?.recordingId, 'r1');
    assert.equal(a?.files, 2);
    assert.equal(a?.msg, 'recording started');
    assert.match(String(a?.time), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.ok(Date.parse(String(a?.time)) >= before - 1);
    assert.equal(b?.level, 'warn');
    assert.equal(b?.msg, 'plain message');
    assert.equal('pid' in (a ?? {}), false, 'no pid/hostname: the same fields as before pino');
  });

  void it('drops lines below the level; silent drops everything', () => {
    const warn = capture('warn');
    warn.logger.debug({}, 'd');
    warn.logger.info({}, 'i');
    warn.logger.warn({}, 'w');
    warn.logger.error({}, 'e');
    assert.deepEqual(
      warn.lines().map((l) => l.level),
      ['warn', 'error'],
    );
    const silent = capture('silent');
    silent.logger.error({ x: 1 }, 'e');
    silent.logger.child({ a: 1 }).error('e');
    assert.equal(silent.raw.length, 0);
    const debug = capture('debug');
    debug.logger.debug('d');
    assert.equal(debug.lines()[0]?.level, 'debug');
  });

  void it('children add their bindings to every line, nested ones too', () => {
    const { logger, lines } = capture('info', { subsystem: 'sfu' });
    const peer = logger.child({ peerId: 'p1' }).child({ meetingId: 'm1' });
    peer.info({ kind: 'audio' }, 'published');
    logger.info('root');
    const [a, b] = lines();
    assert.deepEqual(
      { s: a?.subsystem, p: a?.peerId, m: a?.meetingId, k: a?.kind },
      { s: 'sfu', p: 'p1', m: 'm1', k: 'audio' },
    );
    assert.equal(b?.peerId, undefined, 'a child does not change its parent');
  });

  void it('a child overriding a binding writes the key once, with the value of the child', () => {
    const { logger, raw, lines } = capture('info', { subsystem: 'media' });
    logger.child({ subsystem: 'sfu' }).info('closed');
    assert.equal(raw[0]?.match(/"subsystem"/g)?.length, 1, raw[0]);
    assert.equal(lines()[0]?.subsystem, 'sfu');
  });

  void it('serialises errors under err and error with type, message and stack', () => {
    const { logger, lines } = capture();
    const e = new TypeError('bad thing');
    logger.error({ err: e }, 'failed');
    logger.error({ error: new RangeError('out') }, 'failed too');
    const [a, b] = lines() as Array<Record<string, Record<string, unknown>>>;
    assert.equal(a?.err?.type, 'TypeError');
    assert.equal(a?.err?.message, 'bad thing');
    assert.match(String(a?.err?.stack), /TypeError: bad thing\n\s+at /);
    assert.equal(b?.error?.type, 'RangeError');
  });

  void it('never writes a token or an authorization header, at any of the redacted paths', () => {
    const secret = 'admin-secret-0123456789abcdef';
    const { logger, raw, lines } = capture('debug', { subsystem: 'http' });
    logger.info({ req: { method: 'GET', headers: { authorization: `Bearer ${secret}` } } }, 'request');
    logger.info({ headers: { authorization: `Bearer ${secret}`, 'user-agent': 'curl' } }, 'request');
    logger.warn({ token: secret, participantId: 'p1' }, 'refresh');
    logger.child({ authToken: secret }).info({ participant: { token: secret, name: 'Alice' } }, 'joined');
    logger.error({ apiToken: secret, authorization: secret, config: { apiToken: secret } }, 'config');
    logger.info({ query: { authToken: secret, meetingId: 'm1' }, cookie: secret }, 'upgrade');
    assert.equal(raw.length, 6);
    for (const s of raw) assert.equal(s.includes(secret), false, `secret leaked: ${s}`);
    const [req, hdr, refresh, joined, , upgrade] = lines() as Array<Record<string, Record<string, unknown>>>;
    assert.equal((req?.req?.headers as Record<string, unknown>).authorization, '[redacted]');
    assert.equal(req?.req?.method, 'GET', 'other fields stay');
    assert.equal(hdr?.headers?.['user-agent'], 'curl');
    assert.equal(refresh?.token, '[redacted]');
    assert.equal(refresh?.participantId, 'p1');
    assert.equal(joined?.authToken, '[redacted]', 'bindings are redacted too');
    assert.equal(joined?.participant?.name, 'Alice');
    assert.equal(joined?.participant?.token, '[redacted]');
    assert.equal(upgrade?.query?.meetingId, 'm1');
  });

  void it('writes to stderr and flushes buffered lines when the process exits at once', () => {
    const n = 2000;
    const script = [
      `import { createLogger } from './packages/server/src/logger.ts';`,
      `const log = createLogger('info').child({ subsystem: 'exit-test' });`,
      `for (let i = 0; i < ${n}; i++) log.info({ i }, 'line');`,
      `process.exit(0);`,
    ].join('\n');
    const root = new URL('../../../', import.meta.url).pathname;
    const res = spawnSync(
      process.execPath,
      ['--conditions=source', '--import', 'tsx', '--input-type=module', '-e', script],
      { cwd: root, encoding: 'utf8' },
    );
    assert.equal(res.status, 0, res.stderr);
    assert.equal(res.stdout, '', 'nothing on stdout');
    const lines = res.stderr
      .trim()
      .split('\n')
      .map((s) => JSON.parse(s) as { i: number; subsystem: string });
    assert.equal(lines.length, n);
    assert.deepEqual(
      lines.map((l) => l.i),
      Array.from({ length: n }, (_, i) => i),
    );
    assert.equal(lines[0]?.subsystem, 'exit-test');
  });
});

void describe('levelFromEnv', () => {
  void it('accepts the five levels and falls back to info', () => {
    for (const l of ['debug', 'info', 'warn', 'error', 'silent'] as const) assert.equal(levelFromEnv(l), l);
    assert.equal(levelFromEnv(undefined), 'info');
    assert.equal(levelFromEnv('verbose'), 'info');
  });
});
