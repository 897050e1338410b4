/**
 * The cluster's parts on a real redis-server of the test's own: registry and heartbeats, atomic
 * placement under a race, the command bus (answer, error by code, timeout), the dead-node sweep.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { RtkError, silentLogger } from '@trackroom/protocol';
import { startRedisServer, type RedisTestServer } from '../testing/redis-test.js';
import { CommandBus } from './command-bus.js';
import { DeadNodeSweeper } from './dead-node-sweeper.js';
import { ClusterKeys, NodeRegistry, leastLoaded, withPlacements, type NodeInfo } from './node-registry.js';
import { MeetingPlacement } from './placement.js';

let redis: RedisTestServer;
const conns: Redis[] = [];
const conn = () => {
  const c = new Redis(redis.url);
  conns.push(c);
  return c;
};
let n = 0;
const freshKeys = () => new ClusterKeys(`t${++n}:`);

before(async () => {
  redis = await startRedisServer();
});
after(async () => {
  for (const c of conns) c.disconnect();
  await redis.stop();
});

function registry(
  keys: ClusterKeys,
  nodeId: string,
  clock: { t: number },
  load = { liveTracks: 0, meetings: 0 },
) {
  return new NodeRegistry({
    redis: conn(),
    keys,
    nodeId,
    publicUrl: () => `http://${nodeId}.example:8787`,
    mediaAddress: '10.0.0.1',
    heartbeatMs: 1000,
    deadAfterMs: 3000,
    load: () => load,
    logger: silentLogger,
    now: () => clock.t,
  });
}

describe('node registry', () => {
  it('lists live nodes with their load, flags draining, and tells silent nodes apart', async () => {
    const keys = freshKeys();
    const clock = { t: 1_000_000 };
    const a = registry(keys, 'node-a', clock, { liveTracks: 4, meetings: 2 });
    const b = registry(keys, 'node-b', clock, { liveTracks: 1, meetings: 1 });
    await a.beat();
    await b.beat();
    let list = await a.list();
    assert.deepEqual(
      list.live.map((x) => [x.node_id, x.public_url, x.live_tracks, x.meetings, x.draining]),
      [
        ['node-a', 'http://node-a.example:8787', 4, 2, false],
        ['node-b', 'http://node-b.example:8787', 1, 1, false],
      ],
    );
    assert.equal(list.live[0]?.media_address, '10.0.0.1');
    assert.equal(typeof list.live[0]?.cpu, 'number');
    assert.equal(leastLoaded(list.live)?.node_id, 'node-b');
    await b.setDraining();
    list = await a.list();
    assert.equal(list.live.find((x) => x.node_id === 'node-b')?.draining, true);
    assert.equal(leastLoaded(list.live)?.node_id, 'node-a', 'a draining node takes no new meeting');
    // node-b stops beating; 3.5 s later only node-a beat.
    clock.t += 3500;
    await a.beat();
    list = await a.list();
    assert.deepEqual(
      list.live.map((x) => x.node_id),
      ['node-a'],
    );
    assert.deepEqual(list.dead, ['node-b']);
    await a.close(true);
    assert.deepEqual((await b.list()).live.length, 0, 'a graceful close removes the entry at once');
  });
});

describe('meeting placement', () => {
  it('two nodes racing on the first joins of 50 meetings: each meeting lands on exactly one node', async () => {
    const keys = freshKeys();
    const clock = { t: Date.now() };
    await registry(keys, 'node-a', clock).beat();
    await registry(keys, 'node-b', clock).beat();
    const pa = new MeetingPlacement({ redis: conn(), keys, deadAfterMs: 3000, now: () => clock.t });
    const pb = new MeetingPlacement({ redis: conn(), keys, deadAfterMs: 3000, now: () => clock.t });
    const meetings = Array.from({ length: 50 }, (_, i) => `m-${i}`);
    // Each node proposes itself: without atomicity both would win some meetings twice.
    const [ra, rb] = await Promise.all([
      Promise.all(meetings.map((m) => pa.place(m, 'node-a'))),
      Promise.all(meetings.map((m) => pb.place(m, 'node-b'))),
    ]);
    for (let i = 0; i < meetings.length; i++) {
      assert.equal(ra[i], rb[i], `both nodes agree on ${meetings[i]}`);
      assert.equal(await pa.hostOf(meetings[i] as string), ra[i]);
    }
    const c = conn();
    const onA = await c.smembers(keys.nodeMeetings('node-a'));
    const onB = await c.smembers(keys.nodeMeetings('node-b'));
    assert.equal(onA.length + onB.length, 50, 'every meeting is in exactly one node set');
    assert.equal(new Set([...onA, ...onB]).size, 50);
    // A placement stands while its node is live; released by its node, the next join places anew.
    const first = ra[0] as string;
    const other = first === 'node-a' ? 'node-b' : 'node-a';
    assert.equal(await pa.place('m-0', other), first);
    assert.equal(await pa.release('m-0', other), false, 'only the holder releases');
    assert.equal(await pa.release('m-0', first), true);
    assert.equal(await pa.place('m-0', other), other);
    // The holder goes silent: its placements move to a live candidate.
    clock.t += 3500;
    await registry(keys, other, clock).beat();
    const moved = meetings.find((m, i) => ra[i] === first && m !== 'm-0') as string;
    assert.equal(await pa.place(moved, other), other);
  });
});

describe('placement under a burst', () => {
  it('first joins of 20 meetings within one heartbeat spread over both nodes, by what is placed now', async () => {
    const keys = freshKeys();
    const clock = { t: Date.now() };
    // node-a already hosts 2 meetings of 3 tracks each; node-b nothing. No heartbeat during the burst.
    const a = registry(keys, 'node-a', clock, { liveTracks: 6, meetings: 2 });
    await a.beat();
    await registry(keys, 'node-b', clock).beat();
    const placement = new MeetingPlacement({ redis: conn(), keys, deadAfterMs: 3000, now: () => clock.t });
    await placement.place('old-1', 'node-a');
    await placement.place('old-2', 'node-a');
    const { live } = await a.list();
    const stale: string[] = [];
    const fresh: string[] = [];
    for (let i = 0; i < 20; i++) {
      stale.push(leastLoaded(live)!.node_id);
      const counts = await placement.placedCounts(live.map((x) => x.node_id));
      const host = await placement.place(`m-${i}`, leastLoaded(withPlacements(live, counts))!.node_id);
      fresh.push(host);
    }
    assert.deepEqual(new Set(stale), new Set(['node-b']), 'the heartbeat load alone sends all 20 to node-b');
    const onA = fresh.filter((x) => x === 'node-a').length;
    const onB = 20 - onA;
    // Each new meeting counts as the mean meeting (3 tracks): node-b first catches up with node-a's
    // 6 tracks, then they take turns, so the two end within one meeting of each other.
    assert.deepEqual(fresh.slice(0, 2), ['node-b', 'node-b']);
    assert.ok(Math.abs(6 + 3 * onA - 3 * onB) <= 3, `node-a ${onA}, node-b ${onB}`);
    const counts = await placement.placedCounts(['node-a', 'node-b', 'node-x']);
    assert.deepEqual([...counts.values()], [2 + onA, onB, 0]);
    // Meetings whose participants joined but do not publish yet count as the mean meeting, not 0.
    const [na, nb] = live as [NodeInfo, NodeInfo];
    const joining = withPlacements(
      [
        { ...na, live_tracks: 5, meetings: 1 },
        { ...nb, live_tracks: 0, meetings: 3 },
      ],
      new Map(),
    );
    assert.deepEqual(
      joining.map((x) => x.live_tracks),
      [5, 3.75],
    );
  });
});

describe('command bus', () => {
  function bus(
    keys: ClusterKeys,
    nodeId: string,
    handle: (body: unknown) => Promise<unknown>,
    timeoutMs = 2000,
  ) {
    return new CommandBus({
      redis: conn(),
      subscriber: conn(),
      keys,
      nodeId,
      timeoutMs,
      handle,
      logger: silentLogger,
    });
  }

  it("returns the target's answer, rebuilds its error by code, times out with NODE_UNREACHABLE", async () => {
    const keys = freshKeys();
    const seen: unknown[] = [];
    const a = bus(keys, 'node-a', async () => 'unused');
    const b = bus(keys, 'node-b', async (body) => {
      seen.push(body);
      const op = (body as { op: string }).op;
      if (op === 'fail') throw new RtkError('CONFLICT', 'already stopped', { recording_id: 'r1' });
      if (op === 'crash') throw new Error('secret internals');
      if (op === 'hang') return new Promise(() => undefined);
      return { echoed: body };
    });
    await a.start();
    await b.start();
    assert.deepEqual(await a.request('node-b', { op: 'echo', n: 1 }), { echoed: { op: 'echo', n: 1 } });
    await assert.rejects(a.request('node-b', { op: 'fail' }), (e: unknown) => {
      assert.ok(e instanceof RtkError);
      assert.equal(e.code, 'CONFLICT');
      assert.equal(e.status, 409);
      assert.equal(e.message, 'already stopped');
      assert.deepEqual(e.details, { recording_id: 'r1' });
      return true;
    });
    await assert.rejects(a.request('node-b', { op: 'crash' }), (e: unknown) => {
      assert.ok(e instanceof RtkError);
      assert.equal(e.code, 'INTERNAL');
      assert.doesNotMatch(e.message, /secret/);
      return true;
    });
    const quick = bus(keys, 'node-c', async () => 'unused', 300);
    await quick.start();
    await assert.rejects(quick.request('node-b', { op: 'hang' }), (e: unknown) => {
      assert.ok(e instanceof RtkError);
      assert.equal(e.code, 'NODE_UNREACHABLE');
      assert.equal(e.status, 504);
      assert.deepEqual(e.details, { node_id: 'node-b' });
      return true;
    });
    await assert.rejects(
      a.request('node-gone', { op: 'echo' }),
      /node-gone hosting this live session is not connected/,
    );
    assert.equal(seen.length, 4, 'each request reached the target once');
    await Promise.all([a.close(), b.close(), quick.close()]);
    await assert.rejects(a.request('node-b', {}), /shutting down/);
  });
});

describe('dead-node sweep', () => {
  it('exactly one of two live nodes declares a silent node dead: its sessions end once, its placements go', async () => {
    const keys = freshKeys();
    const clock = { t: Date.now() };
    const regs = ['node-a', 'node-b', 'node-x'].map((id) => registry(keys, id, clock));
    for (const r of regs) await r.beat();
    const placement = new MeetingPlacement({ redis: conn(), keys, deadAfterMs: 3000, now: () => clock.t });
    for (let i = 0; i < 5; i++) await placement.place(`x-${i}`, 'node-x');
    const ended: string[] = [];
    const sweepers = regs.slice(0, 2).map(
      (registry) =>
        new DeadNodeSweeper({
          redis: conn(),
          keys,
          registry,
          placement: new MeetingPlacement({ redis: conn(), keys, deadAfterMs: 3000, now: () => clock.t }),
          endSessionsOf: async (id) => {
            ended.push(`${registry.nodeId} ended ${id}`);
            return 2;
          },
          deadAfterMs: 3000,
          logger: silentLogger,
          now: () => clock.t,
        }),
    );
    const declared: string[] = [];
    for (const s of sweepers)
      s.on('nodeDeclaredDead', (e) => declared.push(`${e.nodeId}:${e.sessions}:${e.placements}`));
    // Nobody is silent yet: nothing happens.
    await Promise.all(sweepers.map((s) => s.sweep()));
    assert.deepEqual(ended, []);
    clock.t += 3500;
    await regs[0]?.beat();
    await regs[1]?.beat();
    await Promise.all(sweepers.map((s) => s.sweep()));
    assert.equal(ended.length, 1, ended.join(', '));
    assert.match(String(ended.at(0)), /ended node-x$/);
    assert.deepEqual(declared, ['node-x:2:5']);
    for (let i = 0; i < 5; i++) assert.equal(await placement.hostOf(`x-${i}`), undefined);
    const list = await regs[0]!.list();
    assert.deepEqual(list.dead, []);
    assert.deepEqual(
      list.live.map((x) => x.node_id),
      ['node-a', 'node-b'],
    );
  });
});
