import type { Redis } from 'ioredis';
import { type Logger, TypedEmitter } from '@trackroom/protocol';
import type { ClusterKeys, NodeRegistry } from './node-registry.js';
import type { MeetingPlacement } from './placement.js';

export interface DeadNodeSweeperOptions {
  redis: Redis;
  keys: ClusterKeys;
  registry: NodeRegistry;
  placement: MeetingPlacement;
  /** Ends the live sessions a dead node hosted (store rows and webhooks); returns how many. */
  endSessionsOf: (nodeId: string) => Promise<number>;
  deadAfterMs: number;
  logger: Logger;
  now?: () => number;
}

export interface DeadNodeSweeperEvents {
  [k: string]: unknown;
  /** This node won the lock and cleaned up after `nodeId`. */
  nodeDeclaredDead: { nodeId: string; sessions: number; placements: number };
}

// KEYS: the nodes set, the node's entry. ARGV: node id, cutoff. Forgets the node only if it is
// still silent (it may have come back while its sessions were being ended).
const FORGET = `
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if score and tonumber(score) < tonumber(ARGV[2]) then
  redis.call('ZREM', KEYS[1], ARGV[1])
  redis.call('DEL', KEYS[2])
  return 1
end
return 0
`;

/**
 * Declares silent nodes dead: every live node looks after each heartbeat, one wins a Redis lock per
 * dead node and ends its live sessions, clears its placements and removes it from the registry.
 */
export class DeadNodeSweeper extends TypedEmitter<DeadNodeSweeperEvents> {
  readonly #o: DeadNodeSweeperOptions;
  readonly #now: () => number;
  #running: Promise<void> | undefined;

  constructor(options: DeadNodeSweeperOptions) {
    super();
    this.#o = options;
    this.#now = options.now ?? Date.now;
  }

  /** One pass (a pass already running is joined, not repeated). */
  sweep(): Promise<void> {
    this.#running ??= this.#sweep().finally(() => (this.#running = undefined));
    return this.#running;
  }

  async #sweep(): Promise<void> {
    const { dead } = await this.#o.registry.list();
    for (const id of dead) {
      if (id === this.#o.registry.nodeId) continue;
      await this.sweepNode(id).catch((err: unknown) =>
        this.#o.logger.error({ err, nodeId: id }, 'declaring a node dead failed'),
      );
    }
  }

  /** Cleans up after one silent node if this node wins its lock; true when it did. */
  async sweepNode(nodeId: string): Promise<boolean> {
    const { redis, keys } = this.#o;
    const score = await redis.zscore(keys.nodes, nodeId);
    const cutoff = this.#now() - this.#o.deadAfterMs;
    if (score === null || Number(score) >= cutoff) return false;
    // The lock outlives the cleanup: a second node reading the same list in the meantime skips it.
    const won = await redis.set(
      keys.deadLock(nodeId),
      this.#o.registry.nodeId,
      'PX',
      this.#o.deadAfterMs,
      'NX',
    );
    if (won !== 'OK') return false;
    this.#o.logger.warn(
      { nodeId, silentMs: this.#now() - Number(score) },
      'node missed its heartbeats: declaring it dead',
    );
    const sessions = await this.#o.endSessionsOf(nodeId);
    const placements = await this.#o.placement.releaseAll(nodeId);
    await redis.eval(FORGET, 2, keys.nodes, keys.node(nodeId), nodeId, String(cutoff));
    this.#o.logger.info({ nodeId, sessions, placements }, 'dead node cleaned up');
    this.emit('nodeDeclaredDead', { nodeId, sessions, placements });
    return true;
  }
}
