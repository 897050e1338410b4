import type { Redis } from 'ioredis';
import { type Logger, TypedEmitter } from '@trackroom/protocol';

/** One node as the registry lists it (snake_case: it is shown as is by `GET /v1/nodes`). */
export interface NodeInfo {
  node_id: string;
  /** Where clients and the join page reach this node (its PUBLIC_URL). */
  public_url: string;
  /** The address its media workers announce in ICE candidates. */
  media_address: string;
  live_tracks: number;
  meetings: number;
  /** CPU used by the node's process over the last heartbeat, in cores (1 = one core busy). */
  cpu: number;
  started_at: string;
  draining: boolean;
  /** When this entry was written (ISO 8601). */
  heartbeat_at: string;
}

export interface NodeLoad {
  liveTracks: number;
  meetings: number;
}

/** Keys of the cluster in Redis, all under one prefix. */
export class ClusterKeys {
  constructor(readonly prefix = 'trackroom:') {}
  /** Sorted set: node id → time of its last heartbeat (ms). */
  get nodes(): string {
    return `${this.prefix}nodes`;
  }
  /** A node's NodeInfo (JSON), expiring after NODE_DEAD_AFTER_MS without a heartbeat. */
  node(id: string): string {
    return `${this.prefix}node:${id}`;
  }
  /** The node hosting a meeting's live session. */
  meeting(id: string): string {
    return `${this.prefix}meeting:${id}:node`;
  }
  /** Set: the meetings placed on a node (so a dead node's entries can be cleared). */
  nodeMeetings(id: string): string {
    return `${this.prefix}node:${id}:meetings`;
  }
  /** The lock one node holds while declaring another dead. */
  deadLock(id: string): string {
    return `${this.prefix}dead:${id}:lock`;
  }
  /** Pub/sub channel of a node's command bus requests, and of the answers it receives. */
  requests(id: string): string {
    return `${this.prefix}bus:${id}:requests`;
  }
  replies(id: string): string {
    return `${this.prefix}bus:${id}:replies`;
  }
}

export interface NodeRegistryOptions {
  redis: Redis;
  keys: ClusterKeys;
  nodeId: string;
  publicUrl: () => string;
  mediaAddress: string;
  heartbeatMs: number;
  deadAfterMs: number;
  load: () => NodeLoad;
  logger: Logger;
  /** Injectable clock (ms). */
  now?: () => number;
}

export interface NodeRegistryEvents {
  [k: string]: unknown;
  /** After each heartbeat written (the sweeper runs then). */
  beat: { at: number };
}

export interface NodeList {
  /** Nodes that heartbeat within NODE_DEAD_AFTER_MS, oldest started first. */
  live: NodeInfo[];
  /** Ids of nodes silent for longer than NODE_DEAD_AFTER_MS, still listed until swept. */
  dead: string[];
}

/**
 * This node's entry in the cluster registry: written at start and every heartbeat (a JSON value
 * expiring after NODE_DEAD_AFTER_MS, plus its time in a sorted set that the dead-node sweep reads).
 */
export class NodeRegistry extends TypedEmitter<NodeRegistryEvents> {
  readonly #o: NodeRegistryOptions;
  readonly #now: () => number;
  readonly #startedAt: string;
  #timer: NodeJS.Timeout | undefined;
  #draining = false;
  #closed = false;
  #cpu = process.cpuUsage();
  #cpuAt: number;

  constructor(options: NodeRegistryOptions) {
    super();
    this.#o = options;
    this.#now = options.now ?? Date.now;
    this.#startedAt = new Date(this.#now()).toISOString();
    this.#cpuAt = this.#now();
  }

  get nodeId(): string {
    return this.#o.nodeId;
  }

  get draining(): boolean {
    return this.#draining;
  }

  /** Writes the first heartbeat, then one every NODE_HEARTBEAT_MS. */
  async start(): Promise<void> {
    await this.beat();
    this.#timer = setInterval(() => {
      this.beat().catch((err: unknown) => this.#o.logger.warn({ err }, 'heartbeat failed'));
    }, this.#o.heartbeatMs);
    this.#timer.unref();
  }

  /** This node's entry as it is written now. */
  info(): NodeInfo {
    const now = this.#now();
    const used = process.cpuUsage(this.#cpu);
    const elapsed = Math.max(1, now - this.#cpuAt);
    this.#cpu = process.cpuUsage();
    this.#cpuAt = now;
    const load = this.#o.load();
    return {
      node_id: this.#o.nodeId,
      public_url: this.#o.publicUrl(),
      media_address: this.#o.mediaAddress,
      live_tracks: load.liveTracks,
      meetings: load.meetings,
      cpu: Math.round(((used.user + used.system) / 1000 / elapsed) * 1000) / 1000,
      started_at: this.#startedAt,
      draining: this.#draining,
      heartbeat_at: new Date(now).toISOString(),
    };
  }

  async beat(): Promise<void> {
    if (this.#closed) return;
    const { redis, keys } = this.#o;
    const info = this.info();
    const at = Date.parse(info.heartbeat_at);
    await redis
      .multi()
      .set(keys.node(info.node_id), JSON.stringify(info), 'PX', this.#o.deadAfterMs)
      .zadd(keys.nodes, at, info.node_id)
      .exec();
    this.emit('beat', { at });
  }

  /** No new meetings are placed here from now on (SIGTERM); written at once. */
  async setDraining(): Promise<void> {
    if (this.#draining) return;
    this.#draining = true;
    this.#o.logger.info({ nodeId: this.#o.nodeId }, 'draining: no new meetings are placed here');
    await this.beat();
  }

  /** Every node the registry knows, live or silent for too long. */
  async list(): Promise<NodeList> {
    const { redis, keys } = this.#o;
    const scored = await redis.zrange(keys.nodes, 0, -1, 'WITHSCORES');
    const cutoff = this.#now() - this.#o.deadAfterMs;
    const ids: string[] = [];
    const dead: string[] = [];
    for (let i = 0; i + 1 < scored.length; i += 2) {
      const id = scored[i] as string;
      if (Number(scored[i + 1]) < cutoff) dead.push(id);
      else ids.push(id);
    }
    const values = ids.length ? await redis.mget(ids.map((id) => keys.node(id))) : [];
    const live: NodeInfo[] = [];
    for (const v of values) {
      if (!v) continue;
      try {
        live.push(JSON.parse(v) as NodeInfo);
      } catch {
        this.#o.logger.warn({}, 'unreadable node entry ignored');
      }
    }
    live.sort((a, b) => a.started_at.localeCompare(b.started_at) || a.node_id.localeCompare(b.node_id));
    return { live, dead };
  }

  /** Stops heartbeating. `leave`: remove the entry now (a graceful exit) instead of letting it expire. */
  async close(leave: boolean): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer) clearInterval(this.#timer);
    if (leave) {
      const { redis, keys } = this.#o;
      await redis.multi().del(keys.node(this.#o.nodeId)).zrem(keys.nodes, this.#o.nodeId).exec();
    }
  }
}

/**
 * The nodes' load as a placement should see it. Heartbeats are up to one old, and a meeting's
 * participants join before they publish: a burst of first joins (hundreds of meetings within one
 * heartbeat) would otherwise all see the same stale load and land on one node. So every meeting
 * counts as at least the cluster's mean tracks per meeting (1 when nothing is published yet), and
 * the meetings placed since the heartbeat (`placed`, read from the placement sets) count too.
 */
export function withPlacements(nodes: readonly NodeInfo[], placed: ReadonlyMap<string, number>): NodeInfo[] {
  const tracks = nodes.reduce((a, n) => a + n.live_tracks, 0);
  const meetings = nodes.reduce((a, n) => a + n.meetings, 0);
  const mean = meetings > 0 ? Math.max(1, tracks / meetings) : 1;
  return nodes.map((n) => {
    const now = Math.max(n.meetings, placed.get(n.node_id) ?? 0);
    const est = Math.max(n.live_tracks, n.meetings * mean) + (now - n.meetings) * mean;
    return { ...n, live_tracks: est, meetings: now };
  });
}

/** The least loaded node that takes new meetings: fewest live tracks, then meetings, then CPU. */
export function leastLoaded(nodes: readonly NodeInfo[]): NodeInfo | undefined {
  return [...nodes]
    .filter((n) => !n.draining)
    .sort(
      (a, b) =>
        a.live_tracks - b.live_tracks ||
        a.meetings - b.meetings ||
        a.cpu - b.cpu ||
        a.node_id.localeCompare(b.node_id),
    )[0];
}
