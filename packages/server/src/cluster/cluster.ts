import { Redis } from 'ioredis';
import { type Logger, RtkError } from '@trackroom/protocol';
import type { SessionService } from '../services/session-service.js';
import type { ForwardedAnswer, ForwardedRequest, Hosting } from './forwarding.js';
import { CommandBus } from './command-bus.js';
import { DeadNodeSweeper } from './dead-node-sweeper.js';
import {
  ClusterKeys,
  NodeRegistry,
  leastLoaded,
  withPlacements,
  type NodeInfo,
  type NodeRegistryOptions,
} from './node-registry.js';
import { MeetingPlacement } from './placement.js';

export interface ClusterOptions extends Pick<
  NodeRegistryOptions,
  'nodeId' | 'publicUrl' | 'mediaAddress' | 'heartbeatMs' | 'deadAfterMs' | 'load' | 'logger'
> {
  redisUrl: string;
  sessions: SessionService;
  /** Replays a forwarded request on this node's own HTTP API. */
  replay: (req: ForwardedRequest) => Promise<ForwardedAnswer>;
  /** How long a forwarded call waits for the hosting node (default 10 s). */
  commandTimeoutMs?: number;
  keyPrefix?: string;
}

/**
 * Several nodes on one Redis (REDIS_URL): the registry and its heartbeats, meeting placement, the
 * command bus that forwards API calls to the hosting node, and the sweep of dead nodes.
 */
export class Cluster {
  readonly registry: NodeRegistry;
  readonly placement: MeetingPlacement;
  readonly sweeper: DeadNodeSweeper;
  readonly bus: CommandBus;
  readonly #o: ClusterOptions;
  readonly #redis: Redis;
  readonly #sub: Redis;
  readonly #log: Logger;
  #closed = false;

  constructor(options: ClusterOptions) {
    this.#o = options;
    this.#log = options.logger;
    const redisOpts = { lazyConnect: true, maxRetriesPerRequest: 2, enableOfflineQueue: true };
    this.#redis = new Redis(options.redisUrl, redisOpts);
    this.#sub = new Redis(options.redisUrl, redisOpts);
    for (const c of [this.#redis, this.#sub])
      c.on('error', (err: Error) => this.#log.warn({ err: err.message }, 'redis connection error'));
    const keys = new ClusterKeys(options.keyPrefix);
    this.registry = new NodeRegistry({
      redis: this.#redis,
      keys,
      nodeId: options.nodeId,
      publicUrl: options.publicUrl,
      mediaAddress: options.mediaAddress,
      heartbeatMs: options.heartbeatMs,
      deadAfterMs: options.deadAfterMs,
      load: options.load,
      logger: this.#log,
    });
    this.placement = new MeetingPlacement({ redis: this.#redis, keys, deadAfterMs: options.deadAfterMs });
    this.sweeper = new DeadNodeSweeper({
      redis: this.#redis,
      keys,
      registry: this.registry,
      placement: this.placement,
      endSessionsOf: (id) => options.sessions.endSessionsOfNode(id, 'NODE_LOST'),
      deadAfterMs: options.deadAfterMs,
      logger: this.#log,
    });
    this.bus = new CommandBus({
      redis: this.#redis,
      subscriber: this.#sub,
      keys,
      nodeId: options.nodeId,
      timeoutMs: options.commandTimeoutMs ?? 10_000,
      handle: (body) => options.replay(body as ForwardedRequest),
      logger: this.#log,
    });
  }

  get nodeId(): string {
    return this.#o.nodeId;
  }

  /** Connects, writes the first heartbeat, listens on the command bus, sweeps after each beat. */
  async start(): Promise<void> {
    await Promise.all([this.#redis.connect(), this.#sub.connect()]);
    await this.bus.start();
    this.registry.on('beat', () => {
      if (this.#closed) return;
      this.sweeper.sweep().catch((err: unknown) => this.#log.error({ err }, 'dead node sweep failed'));
    });
    // A session ended here frees its placement (the next first join places the meeting anew).
    this.#o.sessions.on('sessionEnded', ({ session }) => {
      if (this.#closed || session.node_id !== this.#o.nodeId) return;
      this.placement
        .release(session.meeting_id, this.#o.nodeId)
        .catch((err: unknown) =>
          this.#log.warn({ err, meetingId: session.meeting_id }, 'releasing a placement failed'),
        );
    });
    await this.registry.start();
    this.#log.info({ nodeId: this.#o.nodeId }, 'joined the cluster');
  }

  async nodes(): Promise<NodeInfo[]> {
    return (await this.registry.list()).live;
  }

  /**
   * Where a participant of `meetingId` joins: the node already hosting its live session, or (first
   * join) the least loaded live node, placed atomically.
   */
  async hostFor(meetingId: string): Promise<Hosting> {
    const me = this.#o.nodeId;
    const { live } = await this.registry.list();
    const isLive = (id: string) => live.some((n) => n.node_id === id);
    const active = await this.#o.sessions.activeSession(meetingId);
    // A live session the store names stays where it is while its node heartbeats.
    const owner = active?.node_id;
    // Otherwise the least loaded node taking new meetings (a draining node takes none).
    const candidate =
      owner && isLive(owner)
        ? owner
        : (leastLoaded(withPlacements(live, await this.placement.placedCounts(live.map((n) => n.node_id))))
            ?.node_id ?? me);
    const host = await this.placement.place(meetingId, candidate);
    if (host === me) {
      if (owner && owner !== me && !isLive(owner)) {
        // The session was left by a dead node not yet swept: end it first, then host a new one.
        await this.sweeper.sweepNode(owner);
        const still = await this.#o.sessions.activeSession(meetingId);
        if (still && still.node_id !== me)
          throw new RtkError(
            'HOSTED_ELSEWHERE',
            `Meeting ${meetingId} is still being moved off ${owner}; retry`,
            {
              node_id: owner,
            },
          );
      }
      return { here: true };
    }
    const node = live.find((n) => n.node_id === host);
    if (!node)
      throw new RtkError(
        'NODE_UNREACHABLE',
        `The server ${host} hosting this meeting is not in the registry`,
      );
    return { here: false, nodeId: host, nodeUrl: node.public_url };
  }

  /** Replays a request on the node hosting the live session it acts on; resolves with its answer. */
  async forward(nodeId: string, req: ForwardedRequest): Promise<ForwardedAnswer> {
    return (await this.bus.request(nodeId, req)) as ForwardedAnswer;
  }

  /** SIGTERM: no new meetings are placed here. */
  async drain(): Promise<void> {
    await this.registry.setDraining();
  }

  /** Leaves the registry (a graceful close) and disconnects. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.bus.close();
    await this.registry
      .close(true)
      .catch((err: unknown) => this.#log.warn({ err }, 'leaving the registry failed'));
    this.#redis.disconnect();
    this.#sub.disconnect();
  }
}
