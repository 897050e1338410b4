/**
 * The entry of a media worker process, forked by ChildMediaWorker (see worker-host.ts for what it
 * does): a worker with the real SFU.
 */
import { createMediaWorker } from './create-media-worker.js';
import { tuneV8ForMedia } from './v8-tuning.js';
import { hostWorker } from './worker-host.js';

tuneV8ForMedia();
hostWorker(createMediaWorker);
