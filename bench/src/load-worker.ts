/**
 * Load-generator process (see load.ts): N publishers, each playing real Opus (a 440 Hz sine encoded
 * by ffmpeg) at real pace and, with `fanout`, subscribed to every other member of its meeting
 * (counting the RTP received per subscription). `generator` picks the WebRTC stack: node-datachannel
 * (`ndc`, the default: native ICE/DTLS/SRTP, every publisher of the process on one packet clock) or
 * werift (`werift`: pure TypeScript, a timer per publisher; for comparison). Configured through
 * BENCH_WORKER_CONFIG, driven over IPC.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { sineOpusPackets } from '@trackroom/recorder/testing';
import type { LoadWorkerConfig, LoadWorkerMessage, LoadWorkerRequest, LoadWorkerSample } from './load.js';
import { NdcOpusPublisher, OpusPublisher } from '@trackroom/e2e/support';
import { JanusSession } from './janus/janus-api.js';
import { JanusNdcPublisher } from './janus/janus-ndc-publisher.js';
import { JanusPublisher } from './janus/janus-publisher.js';

/** What the worker needs of a publisher, whichever server it publishes to. */
interface Publisher {
  readonly sent: number;
  /** Packets the stack refused to send (node-datachannel only; werift queues everything). */
  readonly refused?: number;
  readonly received: number;
  readonly subscribed: number;
  readonly receivedBySubscription: ReadonlyMap<string, number>;
  readonly subscribeErrors: readonly string[];
  play(packets: Uint8Array[]): void;
  stopPlaying(): void;
  settled(): Promise<void>;
  leave(): Promise<void>;
}

/** A Janus publisher seen as a Publisher (ingest only: it subscribes to nothing). */
const janusPublisher = (p: JanusPublisher | JanusNdcPublisher): Publisher => ({
  get sent() {
    return p.sent;
  },
  get refused() {
    return p instanceof JanusNdcPublisher ? p.refused : 0;
  },
  received: 0,
  subscribed: 0,
  receivedBySubscription: new Map(),
  subscribeErrors: [],
  play: (packets) => p.play(packets),
  stopPlaying: () => p.stopPlaying(),
  settled: () => Promise.resolve(),
  leave: () => p.leave(),
});

const send = (m: LoadWorkerMessage) => process.send?.(m);

async function main(): Promise<void> {
  if (!process.send) throw new Error('load-worker must be forked (its configuration comes over IPC)');
  const config = await new Promise<LoadWorkerConfig>((resolve) => {
    const first = (m: LoadWorkerRequest) => {
      if (m.type !== 'config') return;
      process.off('message', first);
      resolve(m.config);
    };
    process.on('message', first);
  });
  const ndc = (config.generator ?? 'ndc') === 'ndc';
  const packets = sineOpusPackets({ dir: config.workDir, frequency: 440, seconds: 4, channels: 1 });
  const eld = monitorEventLoopDelay({ resolution: 5 });
  const publishers: Publisher[] = [];
  const errors: string[] = [];
  let failed = 0;
  let retried = 0;
  const t0 = performance.now();
  const janus = config.janus;
  const session = janus ? await JanusSession.create(janus.url) : undefined;
  const queue: (string | number)[] = janus ? [...janus.rooms] : [...config.tokens];
  const total = queue.length;
  /** One publisher up, or it left again (nothing of a failed one stays connected or plays). */
  const connectOnce = async (target: string | number): Promise<Publisher> => {
    if (janus && session) {
      const o = { address: janus.address, display: `p${publishers.length}` };
      const p = ndc
        ? await JanusNdcPublisher.connect(session, Number(target), o)
        : await JanusPublisher.connect(session, Number(target), o);
      return janusPublisher(p);
    }
    const url = `${config.wsUrl}?authToken=${String(target)}`;
    const o = { subscribe: config.fanout ?? false };
    let p: NdcOpusPublisher | OpusPublisher;
    if (config.followRedirects)
      p = (ndc ? await NdcOpusPublisher.connectAndJoin(url, o) : await OpusPublisher.connectAndJoin(url, o))
        .pub;
    else p = ndc ? await NdcOpusPublisher.connect(url, o) : await OpusPublisher.connect(url, o);
    try {
      if (!config.followRedirects) await p.join();
      await p.publish();
      return p;
    } catch (err) {
      await p.leave();
      throw err;
    }
  };
  const connectOne = async (target: string | number) => {
    // One retry: a setup that fails on a busy machine is the generator's problem, not a finding.
    for (let attempt = 1; ; attempt++) {
      try {
        publishers.push(await connectOnce(target));
        return;
      } catch (err) {
        if (errors.length < 5) errors.push(String(err));
        if (attempt >= 2) {
          failed++;
          return;
        }
        retried++;
      }
    }
  };
  await Promise.all(
    Array.from({ length: Math.max(1, config.connectConcurrency) }, async () => {
      for (let t = queue.shift(); t !== undefined; t = queue.shift()) await connectOne(t);
    }),
  );
  // Subscriptions offered so far are up (or failed) before anything plays; ones to publishers of the
  // other generator process may still arrive, which the benchmark waits for (`subscriptions`).
  await Promise.all(publishers.map((p) => p.settled()));
  eld.enable();
  send({
    type: 'ready',
    connected: total - failed,
    failed,
    retried,
    errors,
    connectMs: performance.now() - t0,
  });

  const sample = (): LoadWorkerSample => {
    const s = {
      sent: publishers.reduce((a, p) => a + p.sent, 0),
      refused: publishers.reduce((a, p) => a + (p.refused ?? 0), 0),
      received: publishers.reduce((a, p) => a + p.received, 0),
      subscriptions: publishers.reduce((a, p) => a + p.subscribed, 0),
      silentSubscriptions: publishers.reduce(
        (a, p) => a + [...p.receivedBySubscription.values()].filter((v) => v === 0).length,
        0,
      ),
      subscribeFailures: publishers.reduce((a, p) => a + p.subscribeErrors.length, 0),
      eventLoopP99Ms: eld.percentile(99) / 1e6,
      eventLoopMaxMs: eld.max / 1e6,
    };
    eld.reset();
    return s;
  };
  // The benchmark process died: nothing is left to measure.
  process.once('disconnect', () => process.exit(0));
  process.on('message', (m: LoadWorkerRequest) => {
    if (m.type === 'sample') send({ type: 'sample', ...sample() });
    else if (m.type === 'play') {
      // Playing starts only once every publisher is up: werift's 5 ms pacing timers of hundreds of
      // publishers would otherwise starve the setup of the rest (at N=300 on a busy box: 73 s
      // instead of 9 s).
      for (const p of publishers) p.play(packets);
      eld.reset();
      send({ type: 'playing' });
    } else if (m.type === 'stopPlaying') {
      for (const p of publishers) p.stopPlaying();
      // Let the stack flush what it already queued (werift: its own queue) before counting.
      setTimeout(() => send({ type: 'stopped', ...sample() }), 200);
    } else if (m.type === 'leave') {
      void Promise.allSettled(publishers.map((p) => p.leave()))
        .then(() => session?.close())
        .then(() => {
          send({ type: 'left' });
          setTimeout(() => process.exit(0), 50);
        });
    }
  });
}

main().catch((err: unknown) => {
  send({ type: 'fatal', message: String(err instanceof Error ? (err.stack ?? err.message) : err) });
  setTimeout(() => process.exit(1), 50);
});
