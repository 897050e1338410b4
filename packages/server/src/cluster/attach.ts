import type { FastifyInstance } from 'fastify';
import { RtkError, type Logger } from '@trackroom/protocol';
import { adminTokenMatches } from '../auth/jwt.js';
import type { ServerConfig } from '../config.js';
import type { SessionService } from '../services/session-service.js';
import { Cluster } from './cluster.js';
import { FORWARDED_HEADER, type ForwardedAnswer, type ForwardedRequest } from './forwarding.js';
import type { NodeLoad } from './node-registry.js';

export interface AttachClusterOptions {
  config: ServerConfig;
  http: FastifyInstance;
  sessions: SessionService;
  publicUrl: () => string;
  load: () => NodeLoad;
  logger: Logger;
  keyPrefix?: string;
}

/** The address this node's media announces in ICE candidates. */
export const mediaAddressOf = (config: ServerConfig) => config.ice.announcedAddress ?? config.ice.bindAddress;

/**
 * With REDIS_URL: this node's part of the cluster (constructed; `start()` connects). Forwarded
 * requests are replayed on this node's own HTTP API, marked so that they are never forwarded again.
 */
export function clusterFor(o: AttachClusterOptions): Cluster | undefined {
  const { config, http } = o;
  if (!config.cluster.redisUrl) return undefined;
  const replay = async (req: ForwardedRequest): Promise<ForwardedAnswer> => {
    const r = await http.inject({
      method: req.method as 'GET',
      url: req.url,
      headers: { ...req.headers, [FORWARDED_HEADER]: config.nodeId },
      ...(req.body !== undefined ? { payload: req.body } : {}),
    });
    return {
      status: r.statusCode,
      contentType: String(r.headers['content-type'] ?? 'application/json'),
      body: r.body,
    };
  };
  return new Cluster({
    redisUrl: config.cluster.redisUrl,
    nodeId: config.nodeId,
    publicUrl: o.publicUrl,
    mediaAddress: mediaAddressOf(config),
    heartbeatMs: config.cluster.heartbeatMs,
    deadAfterMs: config.cluster.deadAfterMs,
    load: o.load,
    sessions: o.sessions,
    replay,
    ...(o.keyPrefix ? { keyPrefix: o.keyPrefix } : {}),
    logger: o.logger.child({ subsystem: 'cluster' }),
  });
}

/**
 * `GET /v1/nodes` (admin token): the nodes of the cluster as their heartbeats describe them, or
 * without REDIS_URL this server alone.
 */
export function nodesRoute(
  o: Omit<AttachClusterOptions, 'sessions' | 'logger' | 'keyPrefix'> & {
    cluster: Cluster | undefined;
    draining: () => boolean;
  },
): void {
  const { config, cluster } = o;
  o.http.get('/v1/nodes', async (req) => {
    if (!adminTokenMatches(config.apiTokens, req.headers.authorization)) throw new RtkError('UNAUTHORIZED');
    const nodes = cluster
      ? await cluster.nodes()
      : [
          {
            node_id: config.nodeId,
            public_url: o.publicUrl(),
            media_address: mediaAddressOf(config),
            live_tracks: o.load().liveTracks,
            meetings: o.load().meetings,
            draining: o.draining(),
          },
        ];
    return { success: true, data: { clustered: Boolean(cluster), self: config.nodeId, nodes } };
  });
}
