import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { WorkerStats } from '@trackroom/protocol';
import type { Repository } from '../store/repository.js';
import type { WebhookDispatcher } from '../webhooks/dispatcher.js';

export interface ServerMetricsOptions {
  repo: Repository;
  webhooks: WebhookDispatcher;
  /** Every media worker's figures; absent when the media plane does not run. */
  workerStats?: () => Promise<WorkerStats[]>;
  /** Where the process is in its life (readiness). */
  state: () => 'starting' | 'ready' | 'draining';
}

/**
 * The figures of `GET /metrics`, in Prometheus text format (prom-client, a registry of our own).
 * Everything is read when scraped: live sessions and the webhook queue from the store, media
 * figures from each worker (label `worker`), Node's own process figures (event-loop delay, heap,
 * CPU) from prom-client's default collectors. Webhook outcomes are counted as they happen.
 */
export class ServerMetrics {
  readonly registry = new Registry();
  readonly #unsubscribe: (() => void)[] = [];

  constructor(o: ServerMetricsOptions) {
    const r = this.registry;
    collectDefaultMetrics({ register: r, eventLoopMonitoringPrecision: 10 });

    new Gauge({
      name: 'trackroom_ready',
      help: '1 when the server is ready for traffic, 0 while starting or draining at shutdown',
      registers: [r],
      collect() {
        this.set(o.state() === 'ready' ? 1 : 0);
      },
    });
    new Gauge({
      name: 'trackroom_sessions_live',
      help: 'Meeting sessions that are live',
      registers: [r],
      async collect() {
        this.set((await o.repo.sessions.list({ where: { status: 'LIVE' }, limit: 1 })).total);
      },
    });
    new Gauge({
      name: 'trackroom_webhook_queue_depth',
      help: 'Webhook deliveries waiting to be sent (PENDING, retries included)',
      registers: [r],
      async collect() {
        this.set((await o.repo.webhookDeliveries.list({ where: { status: 'PENDING' }, limit: 1 })).total);
      },
    });
    const delivered = new Counter({
      name: 'trackroom_webhook_deliveries_total',
      help: 'Webhook delivery outcomes since start: delivered, failed (for good), retry (one scheduled)',
      labelNames: ['outcome'],
      registers: [r],
    });
    for (const outcome of ['delivered', 'failed', 'retry']) delivered.inc({ outcome }, 0);
    this.#unsubscribe.push(
      o.webhooks.events.on('delivered', () => delivered.inc({ outcome: 'delivered' })),
      o.webhooks.events.on('failed', () => delivered.inc({ outcome: 'failed' })),
      o.webhooks.events.on('retryScheduled', () => delivered.inc({ outcome: 'retry' })),
    );

    // Media: one sample per worker, read from one stats call per scrape.
    let snapshot: Promise<WorkerStats[]> | undefined;
    const workers = (): Promise<WorkerStats[]> => {
      snapshot ??= (o.workerStats?.() ?? Promise.resolve([])).finally(() => {
        // One snapshot serves every metric of this scrape, then is dropped.
        setImmediate(() => (snapshot = undefined));
      });
      return snapshot;
    };
    const perWorker = (
      kind: 'gauge' | 'counter',
      name: string,
      help: string,
      value: (w: WorkerStats) => number,
    ) => {
      const collect = async function (this: Gauge | Counter) {
        this.reset();
        for (const w of await workers()) {
          const v = value(w);
          if (this instanceof Gauge) this.set({ worker: String(w.workerId) }, v);
          else this.inc({ worker: String(w.workerId) }, Math.max(0, v));
        }
      };
      if (kind === 'gauge') new Gauge({ name, help, labelNames: ['worker'], registers: [r], collect });
      else new Counter({ name, help, labelNames: ['worker'], registers: [r], collect });
    };
    perWorker('gauge', 'trackroom_media_meetings', 'Meetings placed on the worker', (w) => w.load.meetings);
    perWorker('gauge', 'trackroom_media_peers', 'Joined peers on the worker', (w) => w.load.peers);
    perWorker(
      'gauge',
      'trackroom_media_published_tracks',
      'Published tracks whose transport is open',
      (w) => w.load.liveTracks,
    );
    perWorker(
      'gauge',
      'trackroom_media_subscribed_tracks',
      'Forwarding subscriptions: negotiated per-publisher connections plus active slots of subscribing connections',
      (w) => (w.sfu.subscriptions ?? 0) + (w.sfu.subscriberSlots ?? 0),
    );
    perWorker(
      'gauge',
      'trackroom_recordings_active',
      'Track recordings running on the worker',
      (w) => w.load.activeRecordings,
    );
    perWorker(
      'counter',
      'trackroom_media_packets_received_total',
      'RTP packets received from publishers (resets when a worker restarts)',
      (w) => w.sfu.rtpReceived ?? 0,
    );
    perWorker(
      'counter',
      'trackroom_media_packets_forwarded_total',
      'RTP packets forwarded to subscribers (resets when a worker restarts)',
      (w) => w.sfu.rtpForwarded ?? 0,
    );
    perWorker(
      'gauge',
      'trackroom_recorder_packets_received',
      "RTP packets received by the worker's active recordings",
      (w) => w.recorder.packetsReceived,
    );
    perWorker(
      'gauge',
      'trackroom_recorder_packets_lost',
      "RTP packets declared lost by the worker's active recordings (sequence gaps never filled)",
      (w) => w.recorder.packetsLost,
    );
    perWorker(
      'gauge',
      'trackroom_recorder_bytes_written',
      "Bytes on disk of the worker's active recordings' track files",
      (w) => w.recorder.bytesWritten,
    );
    perWorker(
      'gauge',
      'trackroom_media_track_files',
      'Track files of active recordings',
      (w) => w.trackFiles,
    );
    perWorker(
      'gauge',
      'trackroom_media_worker_event_loop_p99_seconds',
      "p99 event-loop delay of the worker's process over its last report",
      (w) => w.load.eventLoopP99Ms / 1000,
    );
    perWorker(
      'gauge',
      'trackroom_media_worker_rss_bytes',
      'Resident memory of the worker process',
      (w) => w.rssBytes,
    );
  }

  /** The exposition text and its content type. */
  async render(): Promise<{ contentType: string; body: string }> {
    // prom-client writes a NaN value (an empty event-loop histogram right after a scrape) as `Nan`;
    // the exposition format spells it `NaN`.
    const body = (await this.registry.metrics()).replace(/ Nan$/gm, ' NaN');
    return { contentType: this.registry.contentType, body };
  }

  close(): void {
    for (const u of this.#unsubscribe.splice(0)) u();
    this.registry.clear();
  }
}
