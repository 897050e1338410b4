/**
 * The cost of the cluster's coordination on joins (docs/cluster.md, "Costs"): join latency (socket
 * open to `joined`, signalling only) on one node versus two nodes sharing PostgreSQL and Redis, and
 * the Redis commands per join (from `INFO commandstats`; heartbeats are slowed to one a minute so
 * they do not count). Usage: `node --conditions=source --import tsx bench/src/cluster-join.ts [joins]`.
 */
import {
  SignallingSocket,
  api,
  startServer,
  startTestCluster,
  type ServerProcess,
} from '@trackroom/e2e/support';
import { dropPgTestSchema, pgTestDatabase } from '@trackroom/server/testing';
import { redisCalls } from './support/redis-calls.js';

const JOINS = Number(process.argv[2] ?? 60);
/** Joins made first and not counted (a cold process is slower). */
const WARMUP = 10;

function p(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number;
}
const summary = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return `p50 ${p(s, 0.5).toFixed(1)} ms, p95 ${p(s, 0.95).toFixed(1)} ms (n=${s.length})`;
};

/** One new meeting; a participant token for it made through `via`. */
async function token(via: ServerProcess, meetingId: string, cid: string): Promise<string> {
  const r = await api(via)<{ data: { token: string } }>('POST', `/meetings/${meetingId}/participants`, {
    custom_participant_id: cid,
    preset_name: 'group_call_host',
  });
  return r.json.data.token;
}

async function timedJoin(wsUrl: string): Promise<{ ms: number; hops: number; sig: SignallingSocket }> {
  const t0 = performance.now();
  const { sig, via } = await SignallingSocket.openJoined(wsUrl, false);
  return { ms: performance.now() - t0, hops: via.length, sig };
}

async function single(): Promise<number[]> {
  const db = await pgTestDatabase();
  const s = await startServer({ env: { DATABASE_URL: db.url, MEDIA_WORKERS: '1' } });
  const ms: number[] = [];
  try {
    for (let i = 0; i < JOINS + WARMUP; i++) {
      const m = (await api(s)<{ data: { id: string } }>('POST', '/meetings', { title: `s${i}` })).json.data;
      const j = await timedJoin(`${s.wsUrl}?authToken=${await token(s, m.id, 'x')}`);
      if (i >= WARMUP) ms.push(j.ms);
      j.sig.leave();
    }
  } finally {
    await s.stop();
    await dropPgTestSchema(db.schema);
  }
  return ms;
}

async function cluster() {
  const c = await startTestCluster({ heartbeatMs: 60_000, deadAfterMs: 300_000 });
  const a = await c.startNode('node-a');
  const b = await c.startNode('node-b');
  const first: number[] = [];
  const direct: number[] = [];
  const redirected: number[] = [];
  let commands = 0;
  let roundTrips = 0;
  let joins = 0;
  try {
    for (let i = 0; i < JOINS + WARMUP; i++) {
      const counted = i >= WARMUP;
      const m = (await api(a)<{ data: { id: string } }>('POST', '/meetings', { title: `c${i}` })).json.data;
      const [t1, t2, t3] = [await token(a, m.id, 'x'), await token(a, m.id, 'y'), await token(a, m.id, 'z')];
      const before = redisCalls(c.redis.port);
      // First join through node-a: places the meeting (on a or b, whichever is less loaded).
      const j1 = await timedJoin(`${a.wsUrl}?authToken=${t1}`);
      if (counted) first.push(j1.ms);
      const host = c.idOf(j1.sig.ws.url);
      const other = host === 'node-a' ? b : a;
      const j2 = await timedJoin(`${c.node(host).wsUrl}?authToken=${t2}`);
      if (counted) direct.push(j2.ms);
      const j3 = await timedJoin(`${other.wsUrl}?authToken=${t3}`);
      if (j3.hops !== 2) throw new Error(`expected a redirect, got ${j3.hops} hops`);
      if (counted) redirected.push(j3.ms);
      const now = redisCalls(c.redis.port);
      commands += now.commands - before.commands;
      roundTrips += now.roundTrips - before.roundTrips;
      joins += 3;
      for (const j of [j1, j2, j3]) j.sig.leave();
    }
  } catch (err) {
    if (process.env.BENCH_DEBUG)
      for (const [id, s] of c.nodes) process.stderr.write(`--- ${id}\n${s.output()}\n`);
    throw err;
  } finally {
    await c.stop();
  }
  return {
    first,
    direct,
    redirected,
    commandsPerJoin: commands / joins,
    roundTripsPerJoin: roundTrips / joins,
  };
}

const one = await single();
const two = await cluster();
process.stdout.write(
  [
    `joins per case: ${JOINS} (signalling only: socket open to joined)`,
    `one node (PostgreSQL, no Redis):          ${summary(one)}`,
    `two nodes, first join (placement):        ${summary(two.first)}`,
    `two nodes, join on the hosting node:      ${summary(two.direct)}`,
    `two nodes, join on the other (redirect):  ${summary(two.redirected)}`,
    `Redis per join (mean of the three kinds, heartbeats excluded): ${two.roundTripsPerJoin.toFixed(2)} round trips, ${two.commandsPerJoin.toFixed(2)} commands run`,
    '',
  ].join('\n'),
);
