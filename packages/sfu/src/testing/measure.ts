/**
 * Rough numbers for the README: publish/subscribe setup time and forwarding counts with N werift
 * peers in one meeting, each sending Opus-sized packets at 50/s. Clients run in the same process.
 * Run: node --conditions=source --import tsx packages/sfu/src/testing/measure.ts [peers] [seconds]
 */
import { startTestSfu } from './harness.js';
import { WeriftClient } from './werift-client.js';

const peers = Number(process.argv[2] ?? 4);
const seconds = Number(process.argv[3] ?? 5);
const t = await startTestSfu();
const clients: WeriftClient[] = [];
const ids: string[] = [];
const publishMs: number[] = [];
for (let i = 0; i < peers; i++) {
  t.addToken(`t${i}`, { meetingId: 'm', participantId: `p${i}` });
  const c = await WeriftClient.connect(t.url(`t${i}`));
  ids.push((await c.join()).self.peerId);
  const t0 = performance.now();
  await c.publish();
  publishMs.push(performance.now() - t0);
  clients.push(c);
}
const t1 = performance.now();
await Promise.all(clients.map((c) => c.settled()));
const settleMs = performance.now() - t1;
const stops = clients.map((c, i) => c.startSending('audio', i, 20));
const cpu0 = process.cpuUsage();
const s0 = t.sfu.stats();
const w0 = performance.now();
await new Promise((r) => setTimeout(r, seconds * 1000));
const wall = (performance.now() - w0) / 1000;
const cpu = process.cpuUsage(cpu0);
const s1 = t.sfu.stats();
for (const s of stops) s();
const expected = peers * (peers - 1) * 50 * wall;
const received = s1.rtpReceived - s0.rtpReceived;
const forwarded = s1.rtpForwarded - s0.rtpForwarded;
console.log(
  JSON.stringify(
    {
      peers,
      publishSetupMs: publishMs.map((x) => Math.round(x)),
      allSubscriptionsConnectedMs: Math.round(settleMs),
      subscriptions: s1.subscriptions,
      rtpReceivedPerS: Math.round(received / wall),
      rtpForwardedPerS: Math.round(forwarded / wall),
      forwardedVsExpected: +(forwarded / expected).toFixed(3),
      processCpuPercent: +(((cpu.user + cpu.system) / 1e6 / wall) * 100).toFixed(1),
      note: 'CPU includes the werift clients in the same process',
    },
    null,
    2,
  ),
);
await Promise.all(clients.map((c) => c.close()));
await t.close();
