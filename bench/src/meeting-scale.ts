/**
 * Large meetings (issue 14, item 5): one meeting of N audio participants, every one publishing and
 * subscribing through ONE subscribing connection (`subscriber: 'single'`), werift clients in this
 * process. Per size it reports:
 *
 * - join time: socket open → `joined` → publish connection up, per participant (p50/p95/max);
 *   joins run `concurrency` at a time, as a meeting start would;
 * - the time until everyone hears everyone (first packet of every publisher at every subscriber);
 * - a measured window: server CPU (its process tree), forwarding loss (packets a publisher sent vs
 *   packets each other participant received from it, after a drain), the server's own
 *   forwarded ÷ (received × (N−1));
 * - a late joiner: time until it hears everyone, the spread between its first and last
 *   subscription, and the time until everyone hears it;
 * - peer connections per client (client side) and per participant on the server.
 *
 * Traffic: a real meeting has few talkers. `talkers` participants (and the late joiner) send Opus at
 * 50 packets/s; the others send as Opus DTX does in silence, one packet per 400 ms. Without that the
 * machine (2 cores, clients and server together) could not carry N=50: 50 × 49 × 50 = 122 k
 * forwarded packets/s.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sineOpusPackets } from '@trackroom/recorder/testing';
import { OpusPublisher, api, freePort, startServer, until, type ServerProcess } from '@trackroom/e2e/support';
import { readTreeCpu } from './support/proc-tree.js';
import { round, summarize, type LatencySummary } from './scenarios.js';

export interface MeetingScaleOptions {
  sizes: number[];
  /** Measured window (s). Default 5. */
  seconds?: number;
  talkers?: number;
  concurrency?: number;
}

export interface MeetingScaleResult {
  n: number;
  joinMs: LatencySummary;
  /** p95 of the join's parts: socket open, open → joined, joined → publish connection up (ms). */
  joinPhasesP95Ms: [number, number, number];
  /** From the last join until every participant heard every other one (ms). */
  allHearAllMs: number;
  serverCpuPct: number;
  /** This process (the werift clients) in the same window, % of one core. */
  clientsCpuPct: number;
  serverRssMb: number;
  sentPerSec: number;
  forwardedPerSec: number;
  /** 1 − received ÷ expected over every (publisher, subscriber) pair in the window. */
  forwardingLoss: number;
  /** The server's forwarded ÷ (received × (N−1)) in the window. */
  serverForwardRatio: number;
  lateJoinMs: number;
  /** Late joiner: socket open → first packet of every publisher (ms). */
  lateHearsAllMs: number;
  /** Late joiner: last minus first publisher heard (ms). */
  lateSpreadMs: number;
  /** Late joiner: socket open → every other participant received its first packet (ms). */
  everyoneHearsLateMs: number;
  /** Per client: publish + subscribing connections open (max over clients). */
  clientPcs: number;
  /** Server transport peer connections ÷ participants. */
  serverPcsPerParticipant: number;
  subscribeErrors: number;
}

interface Participant {
  pub: OpusPublisher;
  joinMs: number;
  startedAt: number;
}

async function sfuStats(server: ServerProcess): Promise<Record<string, number>> {
  const res = await fetch(`${server.baseUrl}/v1/stats`, {
    headers: { authorization: `Bearer ${server.token}` },
  });
  if (res.status !== 200) throw new Error(`/v1/stats: ${res.status}`);
  return ((await res.json()) as { data: { media: { sfu: Record<string, number> } } }).data.media.sfu;
}

const received = (p: OpusPublisher, from: OpusPublisher) => p.single!.receivedByPeer.get(from.peerId) ?? 0;

export async function runMeetingScale(o: MeetingScaleOptions): Promise<MeetingScaleResult[]> {
  const seconds = o.seconds ?? 5;
  const talkers = o.talkers ?? 2;
  const concurrency = o.concurrency ?? 5;
  const work = mkdtempSync(join(tmpdir(), 'bench-meeting-scale-'));
  const packets = sineOpusPackets({ dir: work, frequency: 440, seconds: 2, channels: 1 });
  const dtx = (i: number) => i % 20 !== 0;
  const out: MeetingScaleResult[] = [];
  for (const n of o.sizes) {
    const server = await startServer({
      env: {
        LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'warn',
        RTC_UDP_MUX_PORT: String(await freePort()),
        MEDIA_WORKERS: '1',
      },
    });
    const people: Participant[] = [];
    /** Per join: socket open, open → joined, joined → publish connection up (ms). */
    const phases: [number, number, number][] = [];
    try {
      const call = api(server);
      const meeting = await call<{ data: { id: string } }>('POST', '/meetings', { title: `scale ${n}` });
      const token = async (j: number) =>
        (
          await call<{ data: { token: string } }>('POST', `/meetings/${meeting.json.data.id}/participants`, {
            custom_participant_id: `p-${j}`,
            preset_name: 'group_call_host',
            name: `p-${j}`,
          })
        ).json.data.token;
      const tokens = await Promise.all(Array.from({ length: n + 1 }, (_, j) => token(j)));
      const joinOne = async (j: number): Promise<Participant> => {
        const startedAt = performance.now();
        const pub = await OpusPublisher.connect(`${server.wsUrl}?authToken=${tokens[j]!}`, {
          subscribe: 'single',
          timeoutMs: 30_000,
        });
        const opened = performance.now();
        await pub.join();
        const joined = performance.now();
        await pub.publish();
        const joinMs = performance.now() - startedAt;
        phases.push([opened - startedAt, joined - opened, performance.now() - joined]);
        pub.play(packets, j < talkers || j === n ? () => false : dtx);
        return { pub, joinMs, startedAt };
      };
      for (let j = 0; j < n; j += concurrency) {
        const batch = await Promise.all(
          Array.from({ length: Math.min(concurrency, n - j) }, (_, k) => joinOne(j + k)),
        );
        people.push(...batch);
      }
      const lastJoin = performance.now();
      const pubs = people.map((p) => p.pub);
      await until(
        `everyone hears everyone (N=${n})`,
        () => pubs.every((p) => pubs.every((q) => q === p || received(p, q) > 0)),
        120_000,
      );
      const allHearAllMs = performance.now() - lastJoin;

      // Measured window: sends and receipts between two snapshots, then a drain for packets in flight.
      const snap = () => ({
        sent: pubs.map((p) => p.sent),
        got: pubs.map((p) => pubs.map((q) => (p === q ? 0 : received(p, q)))),
      });
      const s0 = await sfuStats(server);
      const c0 = readTreeCpu(server.proc.pid!);
      const g0 = process.cpuUsage();
      const a = snap();
      await new Promise((r) => setTimeout(r, seconds * 1000));
      const c1 = readTreeCpu(server.proc.pid!);
      const g1 = process.cpuUsage(g0);
      const s1 = await sfuStats(server);
      const b = snap();
      for (const p of pubs) p.stopPlaying();
      await new Promise((r) => setTimeout(r, 1000));
      const d = snap();
      let expected = 0;
      let got = 0;
      for (const [i] of pubs.entries()) {
        const sent = b.sent[i]! - a.sent[i]!;
        for (const [k] of pubs.entries()) {
          if (k === i) continue;
          expected += sent;
          // Received from i by k: from the window start to the drain's end, capped at what was sent
          // in the window (packets sent before the window but received in it are not counted twice).
          got += Math.min(sent, d.got[k]![i]! - a.got[k]![i]!);
        }
      }
      const windowSec = (c1.atMs - c0.atMs) / 1000;
      const rtpIn = (s1.rtpReceived ?? 0) - (s0.rtpReceived ?? 0);
      const rtpOut = (s1.rtpForwarded ?? 0) - (s0.rtpForwarded ?? 0);
      const sentTotal = b.sent.reduce((x, v, i) => x + v - a.sent[i]!, 0);
      for (const [j, p] of pubs.entries()) p.play(packets, j < talkers ? () => false : dtx);

      // The late joiner (a talker).
      const late = await joinOne(n);
      await until(
        'the late joiner hears everyone',
        () => pubs.every((q) => received(late.pub, q) > 0),
        60_000,
      );
      const firsts = pubs.map((q) => late.pub.single!.firstPacketAt.get(q.peerId)!);
      await until(
        'everyone hears the late joiner',
        () => pubs.every((p) => received(p, late.pub) > 0),
        60_000,
      );
      const heardLate = Math.max(...pubs.map((p) => p.single!.firstPacketAt.get(late.pub.peerId)!));
      const all = [...pubs, late.pub];
      const st = await sfuStats(server);
      out.push({
        n,
        joinMs: summarize(people.map((p) => p.joinMs)),
        joinPhasesP95Ms: [0, 1, 2].map((k) => summarize(phases.map((x) => x[k]!)).p95) as [
          number,
          number,
          number,
        ],
        allHearAllMs: round(allHearAllMs),
        serverCpuPct: round(((c1.cpuUs - c0.cpuUs) / (windowSec * 1e6)) * 100),
        clientsCpuPct: round(((g1.user + g1.system) / (windowSec * 1e6)) * 100),
        serverRssMb: round(c1.rssMb),
        sentPerSec: round(sentTotal / windowSec),
        forwardedPerSec: round(rtpOut / windowSec),
        forwardingLoss: expected === 0 ? 0 : round(1 - got / expected, 5),
        serverForwardRatio: rtpIn === 0 ? 0 : round(rtpOut / (rtpIn * (n - 1)), 4),
        lateJoinMs: round(late.joinMs),
        lateHearsAllMs: round(Math.max(...firsts) - late.startedAt),
        lateSpreadMs: round(Math.max(...firsts) - Math.min(...firsts)),
        everyoneHearsLateMs: round(heardLate - late.startedAt),
        clientPcs: Math.max(...all.map((p) => 1 + p.single!.openConnections)),
        serverPcsPerParticipant: round((st.transportPeerConnections ?? 0) / all.length, 2),
        subscribeErrors: all.reduce((x, p) => x + p.single!.errors.length, 0),
      });
      people.push(late);
      process.stderr.write(`meeting of ${n}: ${JSON.stringify(out.at(-1))}\n`);
    } finally {
      await Promise.allSettled(people.map((p) => p.pub.leave()));
      await server.stop();
    }
  }
  return out;
}

/** The results as a Markdown table (for the hand-written section of docs/BENCHMARKS.md). */
export function renderMeetingScale(rs: MeetingScaleResult[]): string {
  const rows = rs.map(
    (r) =>
      `| ${r.n} | ${r.joinMs.p50} / ${r.joinMs.p95} / ${r.joinMs.max} | ${r.allHearAllMs} | ${r.lateHearsAllMs} (spread ${r.lateSpreadMs}) | ${r.everyoneHearsLateMs} | ${r.serverCpuPct} % (clients ${r.clientsCpuPct} %) | ${r.sentPerSec} → ${r.forwardedPerSec} | ${(r.forwardingLoss * 100).toFixed(3)} % (server ratio ${r.serverForwardRatio}) | ${r.clientPcs} | ${r.serverPcsPerParticipant} |`,
  );
  return [
    '| N | join ms p50 / p95 / max | all hear all after last join (ms) | late joiner hears everyone (ms) | everyone hears late joiner (ms) | server CPU (werift clients) | packets/s sent → forwarded | forwarding loss | PCs per client | server PCs per participant |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    ...rows,
  ].join('\n');
}
