/** A media worker process on the FakeSfu (component tests of ChildMediaWorker). */
import { MediaWorker } from '../media-worker.js';
import { hostWorker } from '../worker-host.js';
import { FakeSfu } from './fake-sfu.js';

hostWorker(
  (config, logger) =>
    new MediaWorker({ workerId: config.workerId, sfu: new FakeSfu(), logger, loadIntervalMs: 50 }),
);
