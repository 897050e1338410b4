/**
 * The body of a media worker process (forked by ChildMediaWorker): builds a MediaWorker from the
 * config in its environment, answers the control plane's requests, takes admitted sockets as IPC
 * handles, and forwards its events and log lines. It exits when its IPC channel closes, so it never
 * outlives the control plane.
 */
import type { Socket } from 'node:net';
import {
  RtkError,
  isRtkError,
  type FromWorkerMessage,
  type Logger,
  type ToWorkerMessage,
  type WorkerCommand,
} from '@trackroom/protocol';
import { ipcLogger } from './ipc-logger.js';
import { WORKER_CONFIG_ENV, type MediaWorkerConfig } from './media-worker-config.js';
import { WORKER_EVENT_NAMES } from './media-worker-handle.js';
import type { MediaWorker } from './media-worker.js';

const send = (msg: FromWorkerMessage): void => {
  if (process.connected) process.send!(msg);
};

function errorPayload(err: unknown) {
  if (isRtkError(err)) return err.toPayload();
  return new RtkError('INTERNAL', (err as Error)?.message ?? String(err)).toPayload();
}

/** Runs this process as a media worker built by `build` (the real entry passes createMediaWorker). */
export function hostWorker(build: (config: MediaWorkerConfig, logger: Logger) => MediaWorker): void {
  main(build).catch((err: unknown) => {
    process.stderr.write(`media worker failed to start: ${(err as Error)?.stack ?? String(err)}\n`);
    process.exit(1);
  });
}

async function main(build: (config: MediaWorkerConfig, logger: Logger) => MediaWorker): Promise<void> {
  if (!process.send) throw new Error('worker-process must be started with an IPC channel (fork)');
  const config = JSON.parse(process.env[WORKER_CONFIG_ENV] ?? '') as MediaWorkerConfig;
  const logger = ipcLogger(config.logLevel ?? 'info', send);
  const worker = build(config, logger);
  for (const event of WORKER_EVENT_NAMES) worker.on(event, (data) => send({ kind: 'event', event, data }));

  let exiting = false;
  const exit = (code: number) => {
    if (exiting) return;
    exiting = true;
    // The parent is gone or asked us to stop: close peers (1001), then leave. A hung close must not
    // keep the process alive.
    setTimeout(() => process.exit(code), 5_000).unref();
    worker.close().then(
      () => process.exit(code),
      () => process.exit(1),
    );
  };
  process.on('disconnect', () => exit(0));
  // A signal to the whole process group (Ctrl-C, a service manager) is the control plane's to
  // handle: it finalises the recordings on this worker first, then closes it. The worker waits.
  process.on('SIGINT', () => undefined);
  process.on('SIGTERM', () => undefined);

  process.on('message', (msg: ToWorkerMessage, handle?: unknown) => {
    if (msg.kind === 'admit') {
      const socket = handle as Socket | undefined;
      if (!socket) {
        logger.warn({ peer: msg.admission.identity.participantId }, 'an admission came without its socket');
        return;
      }
      try {
        worker.admit(msg.admission, socket);
      } catch (err) {
        logger.error({ err }, 'admitting a socket failed');
        socket.destroy();
      }
      return;
    }
    const { id, command, params } = msg;
    worker.call(command as WorkerCommand, params as never).then(
      (result) => send({ kind: 'reply', id, ok: true, result: result ?? null }),
      (err: unknown) => send({ kind: 'reply', id, ok: false, error: errorPayload(err) }),
    );
  });

  await worker.start();
}
