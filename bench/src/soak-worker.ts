/**
 * Churn generator process for the soak (see soak.ts): one loop per participant slot, each joining
 * its meeting as a werift publisher playing real Opus, staying a random time, leaving, waiting a
 * random time, and again, until told to drain. Configured through SOAK_WORKER_CONFIG, driven over
 * IPC, so that its CPU and memory never count as the server's.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { sineOpusPackets } from '@trackroom/recorder/testing';
import { OpusPublisher } from '@trackroom/e2e/support';

export interface SoakWorkerConfig {
  wsUrl: string;
  /** One participant token per slot; a slot is one participant joining and leaving in turn. */
  tokens: string[];
  workDir: string;
  /** Answer the server's `subscribe` (one recvonly peer connection per other present publisher). */
  fanout: boolean;
  /** Time online and offline per turn, uniformly drawn from [min, max] (ms). */
  onlineMs: [number, number];
  offlineMs: [number, number];
}

export type SoakWorkerRequest = { type: 'sample' } | { type: 'drain' };

export interface SoakWorkerSample {
  /** Completed joins (joined and published) since the start. */
  joins: number;
  leaves: number;
  /** Turns that failed before publishing (the slot waits and tries again). */
  failures: number;
  /** Slots online now. */
  online: number;
  /** The last few failure messages. */
  errors: string[];
  eventLoopP99Ms: number;
}

export type SoakWorkerMessage =
  | { type: 'started' }
  | ({ type: 'sample' } & SoakWorkerSample)
  | ({ type: 'drained' } & SoakWorkerSample)
  | { type: 'fatal'; message: string };

const send = (m: SoakWorkerMessage) => process.send?.(m);
const between = ([lo, hi]: [number, number]) => lo + Math.random() * (hi - lo);

async function main(): Promise<void> {
  const raw = process.env.SOAK_WORKER_CONFIG;
  if (!raw || !process.send) throw new Error('soak-worker must be forked with SOAK_WORKER_CONFIG');
  const config = JSON.parse(raw) as SoakWorkerConfig;
  const packets = sineOpusPackets({ dir: config.workDir, frequency: 440, seconds: 4, channels: 1 });
  const eld = monitorEventLoopDelay({ resolution: 5 });
  eld.enable();
  const counts = { joins: 0, leaves: 0, failures: 0, online: 0 };
  const errors: string[] = [];
  let draining = false;
  const sleepers = new Set<() => void>();
  /** Waits `ms`, or less when a drain begins. */
  const pause = (ms: number) =>
    new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(t);
        sleepers.delete(done);
        resolve();
      };
      const t = setTimeout(done, ms);
      sleepers.add(done);
    });

  const slot = async (token: string, index: number) => {
    // Spread the first joins over the first offline period instead of a stampede at t = 0.
    await pause(between([0, config.offlineMs[1]]) + index * 50);
    while (!draining) {
      let p: OpusPublisher | undefined;
      try {
        p = await OpusPublisher.connect(`${config.wsUrl}?authToken=${token}`, { subscribe: config.fanout });
        await p.join();
        await p.publish();
        p.play(packets);
        counts.joins++;
        counts.online++;
        await pause(between(config.onlineMs));
        counts.online--;
        await p.leave();
        counts.leaves++;
      } catch (err) {
        counts.failures++;
        errors.push(String(err));
        if (errors.length > 5) errors.shift();
        await p?.leave().catch(() => undefined);
      }
      if (!draining) await pause(between(config.offlineMs));
    }
  };

  const sample = (): SoakWorkerSample => {
    const s = { ...counts, errors: [...errors], eventLoopP99Ms: eld.percentile(99) / 1e6 };
    eld.reset();
    return s;
  };
  const loops = config.tokens.map((t, i) => slot(t, i));
  // The soak process died: nothing is left to measure.
  process.once('disconnect', () => process.exit(0));
  process.on('message', (m: SoakWorkerRequest) => {
    if (m.type === 'sample') send({ type: 'sample', ...sample() });
    else if (m.type === 'drain') {
      draining = true;
      for (const w of [...sleepers]) w();
      void Promise.allSettled(loops).then(() => send({ type: 'drained', ...sample() }));
    }
  });
  send({ type: 'started' });
}

main().catch((err: unknown) => {
  send({ type: 'fatal', message: String(err instanceof Error ? (err.stack ?? err.message) : err) });
  setTimeout(() => process.exit(1), 50);
});
