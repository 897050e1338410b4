import type { Redis } from 'ioredis';
import type { ClusterKeys } from './node-registry.js';

// KEYS: the meeting's placement key, the nodes sorted set. ARGV: candidate node, liveness cutoff
// (ms), key prefix, meeting id. A placement on a node that still heartbeats stands; otherwise (no
// placement, or its node went silent) the candidate takes it. One script: two nodes racing on the
// first join of a meeting both get the same answer.
const PLACE = `
local cur = redis.call('GET', KEYS[1])
if cur then
  local score = redis.call('ZSCORE', KEYS[2], cur)
  if score and tonumber(score) >= tonumber(ARGV[2]) then return cur end
  redis.call('SREM', ARGV[3] .. 'node:' .. cur .. ':meetings', ARGV[4])
end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('SADD', ARGV[3] .. 'node:' .. ARGV[1] .. ':meetings', ARGV[4])
return ARGV[1]
`;
// KEYS: placement key, the node's meetings set. ARGV: node, meeting id. Deletes only its own entry.
const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  redis.call('SREM', KEYS[2], ARGV[2])
  return 1
end
return 0
`;

export interface PlacementOptions {
  redis: Redis;
  keys: ClusterKeys;
  deadAfterMs: number;
  now?: () => number;
}

/**
 * Which node hosts each meeting's live session: `meeting:<id>:node` in Redis, set atomically by the
 * first join and removed when the session ends (or its node is declared dead). Needs one Redis
 * server (or primary), not Redis Cluster: the scripts touch keys named at run time.
 */
export class MeetingPlacement {
  readonly #o: PlacementOptions;
  readonly #now: () => number;

  constructor(options: PlacementOptions) {
    this.#o = options;
    this.#now = options.now ?? Date.now;
  }

  /** The hosting node: the current placement if its node is live, else `candidate` (now placed). */
  async place(meetingId: string, candidate: string): Promise<string> {
    const { redis, keys } = this.#o;
    const cutoff = this.#now() - this.#o.deadAfterMs;
    const r = await redis.eval(
      PLACE,
      2,
      keys.meeting(meetingId),
      keys.nodes,
      candidate,
      String(cutoff),
      keys.prefix,
      meetingId,
    );
    return String(r);
  }

  /**
   * Meetings placed on each node now (its placement set): exact at every placement, where a node's
   * heartbeat load is up to one heartbeat old. One round trip.
   */
  async placedCounts(nodeIds: readonly string[]): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    if (nodeIds.length === 0) return out;
    const p = this.#o.redis.pipeline();
    for (const id of nodeIds) p.scard(this.#o.keys.nodeMeetings(id));
    const res = (await p.exec()) ?? [];
    nodeIds.forEach((id, i) => out.set(id, Number(res[i]?.[1] ?? 0)));
    return out;
  }

  async hostOf(meetingId: string): Promise<string | undefined> {
    return (await this.#o.redis.get(this.#o.keys.meeting(meetingId))) ?? undefined;
  }

  /** Removes the placement if `nodeId` holds it; true when it did. */
  async release(meetingId: string, nodeId: string): Promise<boolean> {
    const { redis, keys } = this.#o;
    const r = await redis.eval(
      RELEASE,
      2,
      keys.meeting(meetingId),
      keys.nodeMeetings(nodeId),
      nodeId,
      meetingId,
    );
    return Number(r) === 1;
  }

  /** Clears every placement a node holds (it was declared dead); returns how many. */
  async releaseAll(nodeId: string): Promise<number> {
    const { redis, keys } = this.#o;
    const meetings = await redis.smembers(keys.nodeMeetings(nodeId));
    let n = 0;
    for (const m of meetings) if (await this.release(m, nodeId)) n++;
    await redis.del(keys.nodeMeetings(nodeId));
    return n;
  }
}
