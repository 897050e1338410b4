/**
 * A separate process of werift publishers for the loaded-server test: apart from the test runner
 * and the server, so that neither the server's load nor the runner's own work delays the senders,
 * and so that the senders' own delays are measured rather than assumed.
 *
 * argv[2]: JSON { dir, seconds, burstOn, burstCycle, publishers: [{ name, wsUrl, hz, clockSpeed }] }.
 * stdout, one JSON object a line: { ready: true } once all publish; after "go" on stdin, plays, then
 * { done: true, senders: { name: { onsets: [{ k, dueMs, sentMs }], latestMs, stalledBursts,
 * stalledPackets } } } where `dueMs` is when burst k's first packet was due on that sender's clock and
 * `sentMs` when it really went out (wall-clock ms), `latestMs` how late this sender ran at worst, and
 * `stalledBursts` / `stalledPackets` the bursts and packets it sent more than `stalledMs` late itself
 * (the server's silence is written by then: their slots are gone, whatever the server does);
 * "leave" on stdin: leaves and exits.
 */
import { setPriority } from 'node:os';
import { createInterface } from 'node:readline';
import { sineOpusPackets } from '@trackroom/recorder/testing';
import { OpusPublisher } from './opus-publisher.js';

interface Config {
  dir: string;
  seconds: number;
  burstOn: number;
  burstCycle: number;
  stalledMs: number;
  publishers: { name: string; wsUrl: string; hz: number; clockSpeed: number }[];
}

const config = JSON.parse(process.argv[2] ?? '{}') as Config;
try {
  setPriority(0, -10); // senders stand for remote machines: the server's load should not reach them
} catch {
  // not permitted here: the test reports how late the senders ran instead
}
const send = (o: unknown) => process.stdout.write(`${JSON.stringify(o)}\n`);

const pubs: OpusPublisher[] = [];
for (const p of config.publishers) {
  const pub = await OpusPublisher.connect(p.wsUrl);
  await pub.join();
  await pub.publish();
  pubs.push(pub);
}
// Encoded before anyone plays: ffmpeg runs synchronously and would stall the pacing.
const packets = config.publishers.map((p) =>
  sineOpusPackets({ dir: config.dir, frequency: p.hz, seconds: 4, channels: 1 }),
);
send({ ready: true });

interface Log {
  onsets: { k: number; dueMs: number; sentMs: number }[];
  latestMs: number;
  stalledBursts: number[];
  stalledPackets: number;
}

const lines = createInterface({ input: process.stdin });
for await (const line of lines) {
  if (line === 'go') {
    const senders: Record<string, Log> = {};
    config.publishers.forEach((p, n) => {
      const log: Log = { onsets: [], latestMs: 0, stalledBursts: [], stalledPackets: 0 };
      senders[p.name] = log;
      (pubs[n] as OpusPublisher).play(
        packets[n] as Uint8Array[],
        (i) => i % config.burstCycle >= config.burstOn,
        {
          clockSpeed: p.clockSpeed,
          onSent: (i, dueMs, sentMs) => {
            log.latestMs = Math.max(log.latestMs, sentMs - dueMs);
            const k = Math.floor(i / config.burstCycle);
            if (sentMs - dueMs > config.stalledMs) {
              log.stalledPackets++;
              if (log.stalledBursts.at(-1) !== k) log.stalledBursts.push(k);
            }
            if (i % config.burstCycle === 0) log.onsets.push({ k: i / config.burstCycle, dueMs, sentMs });
          },
        },
      );
    });
    setTimeout(() => {
      for (const pub of pubs) pub.stopPlaying();
      send({ done: true, senders });
    }, config.seconds * 1000);
  } else if (line === 'leave') {
    await Promise.all(pubs.map((p) => p.leave()));
    process.exit(0);
  }
}
