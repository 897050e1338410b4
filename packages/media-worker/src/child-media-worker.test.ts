/** Component test: ChildMediaWorker against a real worker process (on the FakeSfu). */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createConnection, createServer, type Socket } from 'node:net';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { RtkError, type Logger, type MediaPeer } from '@trackroom/protocol';
import { ChildMediaWorker, childExecArgv } from './child-media-worker.js';

const entry = fileURLToPath(new URL('./testing/stub-worker-process.ts', import.meta.url));

function capturingLogger(
  lines: { level: string; obj: Record<string, unknown>; msg: string }[],
  b = {},
): Logger {
  const at = (level: string) => (obj: object | string, msg?: string) =>
    lines.push({
      level,
      obj: { ...b, ...(typeof obj === 'string' ? {} : obj) },
      msg: typeof obj === 'string' ? obj : (msg ?? ''),
    });
  return {
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    child: (more) => capturingLogger(lines, { ...b, ...more }),
  };
}

function worker(lines: { level: string; obj: Record<string, unknown>; msg: string }[] = []) {
  return new ChildMediaWorker({
    config: { workerId: 3, ice: { bindAddress: '127.0.0.1' }, logLevel: 'debug' },
    logger: capturingLogger(lines),
    entry,
    requestTimeoutMs: 5_000,
  });
}

/** A connected TCP pair on loopback: the server side is what an HTTP upgrade would hand over. */
async function socketPair(): Promise<{ server: Socket; client: Socket; close(): void }> {
  const srv = createServer();
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const port = (srv.address() as { port: number }).port;
  const accepted = once(srv, 'connection') as Promise<[Socket]>;
  const client = createConnection(port, '127.0.0.1');
  const [server] = await accepted;
  return { server, client, close: () => srv.close() };
}

test('the child inherits the loader and conditions, not the test runner', () => {
  assert.deepEqual(
    childExecArgv([
      '--conditions=source',
      '--import',
      'tsx',
      '--test',
      '--test-concurrency=1',
      '--inspect=9229',
    ]),
    ['--conditions=source', '--import', 'tsx'],
  );
});

test('requests, replies, errors rebuilt by code, events, log lines and a socket cross the process boundary', async () => {
  const lines: { level: string; obj: Record<string, unknown>; msg: string }[] = [];
  const w = worker(lines);
  await w.start();
  try {
    assert.ok(w.pid > 0 && w.pid !== process.pid, 'the worker runs in its own process');
    assert.ok(
      lines.some((l) => l.msg === 'media worker ready' && l.obj.worker === 3 && l.obj.pid === w.pid),
      'the worker logs through the control plane, named',
    );

    const pair = await socketPair();
    const joined = new Promise<MediaPeer>((r) => w.once('peerJoined', r));
    let answer = '';
    pair.client.on('data', (d: Buffer) => (answer += d.toString()));
    const ended = once(pair.client, 'end');
    w.admit(
      {
        identity: {
          meetingId: 'm1',
          participantId: 'p1',
          customParticipantId: 'ann',
          name: 'Ann',
          presetName: 'host',
          canProduceAudio: true,
          canProduceVideo: false,
          hidden: false,
          meetingTitle: 't',
        },
        recordings: [],
        request: { method: 'GET', url: '/ws', headers: {} },
        headBase64: '',
      },
      pair.server,
    );
    const peer = await joined;
    await ended;
    assert.equal(peer.customParticipantId, 'ann');
    assert.equal(answer, `joined ${peer.peerId} pid ${w.pid}\n`, 'the child served the handed-over socket');
    pair.close();

    const left = new Promise((r) => w.once('peerLeft', r));
    assert.deepEqual(await w.call('kick', { meetingId: 'm1' }), [peer.peerId]);
    assert.equal(((await left) as { reason: string }).reason, 'kicked');

    await assert.rejects(w.call('kick', { meetingId: 'nobody' }), (e: unknown) => {
      assert.ok(e instanceof RtkError);
      assert.equal(e.code, 'NOT_FOUND');
      assert.deepEqual(e.details, { meetingId: 'nobody' });
      return true;
    });

    const stats = await w.call('stats', {});
    assert.equal(stats.pid, w.pid);
    assert.equal(stats.workerId, 3);
    assert.deepEqual(stats.sfu, { peers: 0 });
    assert.ok(stats.cpuUs.user > 0);
    const load = await new Promise<{ workerId: number }>((r) => w.once('load', r));
    assert.equal(load.workerId, 3);
  } finally {
    await w.close();
  }
  await assert.rejects(w.call('stats', {}), /not running/);
});

test('a SIGKILLed worker fails its pending requests and reports its exit', async () => {
  const w = worker();
  await w.start();
  const exited = new Promise<{ signal: string | null; pid: number }>((r) => w.once('exit', r));
  const pid = w.pid;
  // A request the worker will never answer: it is killed first.
  process.kill(pid, 'SIGKILL');
  const pending = w.call('stats', {});
  await assert.rejects(
    pending,
    (e: unknown) => e instanceof RtkError && /exited|not connected/.test(e.message),
  );
  const exit = await exited;
  assert.equal(exit.signal, 'SIGKILL');
  assert.equal(exit.pid, pid);
  await w.close();
});

test('a worker exits when its control plane closes the channel', async () => {
  const w = worker();
  await w.start();
  const pid = w.pid;
  await w.close();
  assert.throws(() => process.kill(pid, 0), /ESRCH/, 'the worker process is gone');
});
