import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { freePort } from './free-port.js';

/** A redis-server of a test's own: 127.0.0.1 on a free port, nothing persisted. */
export interface RedisTestServer {
  readonly url: string;
  readonly port: number;
  stop(): Promise<void>;
}

/**
 * Starts `redis-server` (REDIS_SERVER_BIN or the one on PATH) and resolves once it accepts
 * connections. There is no fallback: a missing binary fails the test loudly.
 */
export async function startRedisServer(): Promise<RedisTestServer> {
  const bin = process.env.REDIS_SERVER_BIN || 'redis-server';
  const probe = spawnSync(bin, ['--version'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0)
    throw new Error(
      `redis-server is required for this test and could not be run (${bin}): ${probe.error?.message ?? probe.stderr}`,
    );
  const port = await freePort();
  const child: ChildProcess = spawn(
    bin,
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  await new Promise<void>((resolve, reject) => {
    const onData = (b: Buffer) => {
      out += b.toString('utf8');
      if (out.includes('Ready to accept connections')) {
        child.stdout?.off('data', onData);
        resolve();
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', (b: Buffer) => (out += b.toString('utf8')));
    child.once('exit', (code) =>
      reject(new Error(`redis-server exited (${code}) before it was ready: ${out}`)),
    );
  });
  // Later output is not read: drain it so the pipe never fills.
  child.stdout?.resume();
  child.stderr?.resume();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGKILL');
      }),
  };
}
