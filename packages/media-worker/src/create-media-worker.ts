import type { Logger } from '@trackroom/protocol';
import { Sfu } from '@trackroom/sfu';
import { MediaWorker } from './media-worker.js';
import type { MediaWorkerConfig } from './media-worker-config.js';
import type { WorkerSfu } from './worker-sfu.js';

/**
 * Builds a worker's SFU and the worker around it. The SFU resolves no tokens: every socket arrives
 * with the identity the control plane admitted, and the recordings for its `joined`.
 */
export function createMediaWorker(config: MediaWorkerConfig, logger: Logger): MediaWorker {
  const sfu: WorkerSfu = new Sfu({ ice: config.ice, logger: logger.child({ subsystem: 'sfu' }) });
  return new MediaWorker({
    workerId: config.workerId,
    sfu,
    logger,
    ...(config.loadIntervalMs !== undefined ? { loadIntervalMs: config.loadIntervalMs } : {}),
    ...(config.recording ? { recording: config.recording } : {}),
  });
}
