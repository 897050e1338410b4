/**
 * Large meetings (issue 14, item 5): one meeting of N audio participants, every one publishing and
 * subscribing through ONE subscribing connection (`subscriber: 'single'`), clients spread over
 * `clientProcesses` forked processes (meeting-worker.ts; default 2) on `clientStack` (`ndc`, the
 * default: node-datachannel, ICE/DTLS/SRTP in native threads; or `werift`), so that the clients are
 * not what the join times measure. Per size it reports:
 *
 * - join time: socket open → `joined` → publish connection up, per participant (p50/p95/max);
 *   joins run `concurrency` at a time, as a meeting start would;
 * - the time until everyone hears everyone (first packet of every publisher at every subscriber);
 * - a measured window: server CPU (its process tree), the clients' CPU (all client processes),
 *   forwarding loss (packets a publisher sent vs packets each other participant received from it,
 *   after a drain), the server's own forwarded ÷ (received × (N−1));
 * - a late joiner: time until it hears everyone, the spread between its first and last
 *   subscription, and the time until everyone hears it;
 * - peer connections per client (client side) and per participant on the server.
 *
 * Traffic: a real meeting has few talkers. `talkers` participants (and the late joiner) send Opus at
 * 50 packets/s; the others send as Opus DTX does in silence, one packet per 400 ms. Without that the
 * machine (2 cores, clients and server together) could not carry N=50: 50 × 49 × 50 = 122 k
 * forwarded packets/s.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { api, freePort, startServer, until, type ServerProcess } from '@trackroom/e2e/support';
import type { MeetingWorkerMessage, MeetingWorkerRequest, ParticipantSnapshot } from './meeting-worker.js';
import { readTreeCpu } from './support/proc-tree.js';
import { round, summarize, type LatencySummary } from './scenarios.js';

export interface MeetingScaleOptions {
  sizes: number[];
  /** Measured window (s). Default 5. */
  seconds?: number;
  talkers?: number;
  concurrency?: number;
  /** Forked client processes the participants are spread over. Default 2. */
  clientProcesses?: number;
  /** The clients' WebRTC stack. Default ndc. */
  clientStack?: 'ndc' | 'werift';
}

export interface MeetingScaleResult {
  n: number;
  clientProcesses: number;
  clientStack: 'ndc' | 'werift';
  joinMs: LatencySummary;
  /** p95 of the join's parts: socket open, open → joined, joined → publish connection up (ms). */
  joinPhasesP95Ms: [number, number, number];
  /** From the last join until every participant heard every other one (ms). */
  allHearAllMs: number;
  serverCpuPct: number;
  /** All client processes in the same window, % of one core. */
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

interface Joined {
  j: number;
  peerId: string;
  startedAt: number;
  joinMs: number;
  phases: [number, number, number];
}

async function sfuStats(server: ServerProcess): Promise<Record<string, number>> {
  const res = await fetch(`${server.baseUrl}/v1/stats`, {
    headers: { authorization: `Bearer ${server.token}` },
  });
  if (res.status !== 200) throw new Error(`/v1/stats: ${res.status}`);
  return ((await res.json()) as { data: { media: { sfu: Record<string, number> } } }).data.media.sfu;
}

/** One forked client process and the answers it owes. */
class ClientProcess {
  readonly proc: ChildProcess;
  #joins = new Map<number, { resolve: (j: Joined) => void; reject: (e: Error) => void }>();
  #snapshots: ((s: ParticipantSnapshot[]) => void)[] = [];
  #done: (() => void) | undefined;
  #exited: Error | undefined;

  private constructor(proc: ChildProcess) {
    this.proc = proc;
    proc.on('message', (m: MeetingWorkerMessage) => {
      if (m.type === 'joined') this.#joins.get(m.j)?.resolve(m);
      else if (m.type === 'join-failed') this.#joins.get(m.j)?.reject(new Error(`join ${m.j}: ${m.error}`));
      else if (m.type === 'snapshot') this.#snapshots.shift()?.(m.participants);
      else if (m.type === 'done') this.#done?.();
    });
    proc.once('exit', (code, signal) => {
      this.#exited = new Error(`a meeting client process exited (${code ?? signal})`);
      for (const w of this.#joins.values()) w.reject(this.#exited);
      this.#done?.();
    });
  }

  static start(stack: 'ndc' | 'werift'): Promise<ClientProcess> {
    const proc = fork(new URL('./meeting-worker.ts', import.meta.url).pathname, [], {
      execArgv: ['--conditions=source', '--import', 'tsx'],
      env: { ...process.env, BENCH_MEETING_STACK: stack },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    return new Promise((resolve, reject) => {
      proc.once('message', (m: MeetingWorkerMessage) =>
        m.type === 'ready' ? resolve(new ClientProcess(proc)) : reject(new Error(`unexpected ${m.type}`)),
      );
      proc.once('exit', (code) => reject(new Error(`a meeting client process exited (${code}) at start`)));
    });
  }

  #send(m: MeetingWorkerRequest): void {
    if (this.#exited) throw this.#exited;
    this.proc.send(m);
  }

  join(j: number, url: string, talker: boolean): Promise<Joined> {
    return new Promise((resolve, reject) => {
      this.#joins.set(j, { resolve, reject });
      this.#send({ type: 'join', j, url, talker });
    });
  }

  snapshot(): Promise<ParticipantSnapshot[]> {
    return new Promise((resolve) => {
      this.#snapshots.push(resolve);
      this.#send({ type: 'snapshot' });
    });
  }

  play(on: boolean): void {
    this.#send({ type: on ? 'play' : 'stop-playing' });
  }

  leave(): Promise<void> {
    if (this.#exited) return Promise.resolve();
    return new Promise((resolve) => {
      this.#done = resolve;
      this.#send({ type: 'leave' });
      setTimeout(() => {
        this.proc.kill('SIGKILL');
        resolve();
      }, 10_000).unref();
    });
  }
}

/** Every participant's snapshot, by participant index. */
async function snapshotAll(clients: ClientProcess[]): Promise<Map<number, ParticipantSnapshot>> {
  const all = await Promise.all(clients.map((c) => c.snapshot()));
  return new Map(all.flat().map((s) => [s.j, s]));
}

const receivedFrom = (s: ParticipantSnapshot | undefined, peerId: string): number =>
  s?.received.find(([id]) => id === peerId)?.[1] ?? 0;
const firstFrom = (s: ParticipantSnapshot, peerId: string): number | undefined =>
  s.firsts.find(([id]) => id === peerId)?.[1];

export async function runMeetingScale(o: MeetingScaleOptions): Promise<MeetingScaleResult[]> {
  const seconds = o.seconds ?? 5;
  const talkers = o.talkers ?? 2;
  const concurrency = o.concurrency ?? 5;
  const k = Math.max(1, o.clientProcesses ?? 2);
  const stack = o.clientStack ?? 'ndc';
  const out: MeetingScaleResult[] = [];
  for (const n of o.sizes) {
    const server = await startServer({
      env: {
        LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'warn',
        RTC_UDP_MUX_PORT: String(await freePort()),
        MEDIA_WORKERS: '1',
      },
    });
    const clients: ClientProcess[] = [];
    try {
      for (let i = 0; i < k; i++) clients.push(await ClientProcess.start(stack));
      const clientOf = (j: number) => clients[j % k]!;
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
      const joinOne = (j: number) =>
        clientOf(j).join(j, `${server.wsUrl}?authToken=${tokens[j]!}`, j < talkers || j === n);
      const people: Joined[] = [];
      for (let j = 0; j < n; j += concurrency) {
        people.push(
          ...(await Promise.all(
            Array.from({ length: Math.min(concurrency, n - j) }, (_, i) => joinOne(j + i)),
          )),
        );
      }
      const lastJoin = performance.now();
      const hearsAll = (snap: Map<number, ParticipantSnapshot>, who: Joined[], from: Joined[]) =>
        who.every((p) => from.every((q) => q === p || receivedFrom(snap.get(p.j), q.peerId) > 0));
      await until(
        `everyone hears everyone (N=${n})`,
        async () => hearsAll(await snapshotAll(clients), people, people),
        120_000,
      );
      const allHearAllMs = performance.now() - lastJoin;

      // Measured window: sends and receipts between two snapshots, then a drain for packets in flight.
      const counts = async () => {
        const snap = await snapshotAll(clients);
        return {
          sent: people.map((p) => snap.get(p.j)!.sent),
          got: people.map((p) => people.map((q) => (p === q ? 0 : receivedFrom(snap.get(p.j), q.peerId)))),
        };
      };
      const clientsCpu = () => clients.reduce((a, c) => a + readTreeCpu(c.proc.pid!).cpuUs, 0);
      const s0 = await sfuStats(server);
      const c0 = readTreeCpu(server.proc.pid!);
      const g0 = clientsCpu();
      const a = await counts();
      await new Promise((r) => setTimeout(r, seconds * 1000));
      const c1 = readTreeCpu(server.proc.pid!);
      const g1 = clientsCpu();
      const s1 = await sfuStats(server);
      const b = await counts();
      for (const c of clients) c.play(false);
      await new Promise((r) => setTimeout(r, 1000));
      const d = await counts();
      let expected = 0;
      let got = 0;
      for (const [i] of people.entries()) {
        const sent = b.sent[i]! - a.sent[i]!;
        for (const [m] of people.entries()) {
          if (m === i) continue;
          expected += sent;
          // Received from i by m: from the window start to the drain's end, capped at what was sent
          // in the window (packets sent before the window but received in it are not counted twice).
          got += Math.min(sent, d.got[m]![i]! - a.got[m]![i]!);
        }
      }
      const windowSec = (c1.atMs - c0.atMs) / 1000;
      const rtpIn = (s1.rtpReceived ?? 0) - (s0.rtpReceived ?? 0);
      const rtpOut = (s1.rtpForwarded ?? 0) - (s0.rtpForwarded ?? 0);
      const sentTotal = b.sent.reduce((x, v, i) => x + v - a.sent[i]!, 0);
      for (const c of clients) c.play(true);

      // The late joiner (a talker).
      const late = await joinOne(n);
      let snap = await snapshotAll(clients);
      await until(
        'the late joiner hears everyone',
        async () => hearsAll((snap = await snapshotAll(clients)), [late], people),
        60_000,
      );
      const firsts = people.map((q) => firstFrom(snap.get(late.j)!, q.peerId)!);
      await until(
        'everyone hears the late joiner',
        async () => hearsAll((snap = await snapshotAll(clients)), people, [late]),
        60_000,
      );
      const heardLate = Math.max(...people.map((p) => firstFrom(snap.get(p.j)!, late.peerId)!));
      const all = [...snap.values()];
      const st = await sfuStats(server);
      out.push({
        n,
        clientProcesses: k,
        clientStack: stack,
        joinMs: summarize(people.map((p) => p.joinMs)),
        joinPhasesP95Ms: [0, 1, 2].map((x) => summarize(people.map((p) => p.phases[x]!)).p95) as [
          number,
          number,
          number,
        ],
        allHearAllMs: round(allHearAllMs),
        serverCpuPct: round(((c1.cpuUs - c0.cpuUs) / (windowSec * 1e6)) * 100),
        clientsCpuPct: round(((g1 - g0) / (windowSec * 1e6)) * 100),
        serverRssMb: round(c1.rssMb),
        sentPerSec: round(sentTotal / windowSec),
        forwardedPerSec: round(rtpOut / windowSec),
        forwardingLoss: expected === 0 ? 0 : round(1 - got / expected, 5),
        serverForwardRatio: rtpIn === 0 ? 0 : round(rtpOut / (rtpIn * (n - 1)), 4),
        lateJoinMs: round(late.joinMs),
        lateHearsAllMs: round(Math.max(...firsts) - late.startedAt),
        lateSpreadMs: round(Math.max(...firsts) - Math.min(...firsts)),
        everyoneHearsLateMs: round(heardLate - late.startedAt),
        clientPcs: Math.max(...all.map((p) => 1 + p.openConnections)),
        serverPcsPerParticipant: round((st.transportPeerConnections ?? 0) / all.length, 2),
        subscribeErrors: all.reduce((x, p) => x + p.errors, 0),
      });
      process.stderr.write(`meeting of ${n}: ${JSON.stringify(out.at(-1))}\n`);
    } finally {
      await Promise.allSettled(clients.map((c) => c.leave()));
      await server.stop();
    }
  }
  return out;
}

/** The results as a Markdown table (for the hand-written section of docs/BENCHMARKS.md). */
export function renderMeetingScale(rs: MeetingScaleResult[]): string {
  const rows = rs.map(
    (r) =>
      `| ${r.n} | ${r.joinMs.p50} / ${r.joinMs.p95} / ${r.joinMs.max} | ${r.allHearAllMs} | ${r.lateHearsAllMs} (spread ${r.lateSpreadMs}) | ${r.everyoneHearsLateMs} | ${r.serverCpuPct} % (${r.clientStack} clients ${r.clientsCpuPct} % in ${r.clientProcesses}) | ${r.sentPerSec} → ${r.forwardedPerSec} | ${(r.forwardingLoss * 100).toFixed(3)} % (server ratio ${r.serverForwardRatio}) | ${r.clientPcs} | ${r.serverPcsPerParticipant} |`,
  );
  return [
    '| N | join ms p50 / p95 / max | all hear all after last join (ms) | late joiner hears everyone (ms) | everyone hears late joiner (ms) | server CPU (clients, processes) | packets/s sent → forwarded | forwarding loss | PCs per client | server PCs per participant |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    ...rows,
  ].join('\n');
}
