import { randomBytes } from 'node:crypto';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { RtkError, type Logger, type WorkerStats } from '@trackroom/protocol';
import { adminTokenMatches } from './auth/jwt.js';
import { ParticipantTokens } from './auth/jwt.js';
import { UrlSigner } from './auth/signed-urls.js';
import type { ServerConfig } from './config.js';
import { clusterFor, nodesRoute } from './cluster/attach.js';
import type { Cluster } from './cluster/cluster.js';
import { createHttpApp } from './http/app.js';
import type { MediaControl, RouteDeps } from './http/deps.js';
import { appRoutes } from './routes/apps.js';
import { downloadRoutes } from './routes/downloads.js';
import { meetingRoutes } from './routes/meetings.js';
import { metaRoutes, registerApiReference } from './routes/meta.js';
import { participantRoutes } from './routes/participants.js';
import { presetRoutes } from './routes/presets.js';
import { recordingRoutes } from './routes/recordings.js';
import { sessionRoutes } from './routes/sessions.js';
import { unsupportedRoutes } from './routes/unsupported.js';
import { webhookRoutes } from './routes/webhooks.js';
import { appOut, createApp } from './services/apps.js';
import { RecordingService } from './services/recording-service.js';
import { DiskGuard } from './services/disk-space.js';
import { SessionService } from './services/session-service.js';
import { RecordingRetention } from './services/recording-retention.js';
import { RecordingDestinations } from './storage/destinations.js';
import { LocalRecordingStorage } from './storage/local-storage.js';
import { SecretBox } from './storage/secret-box.js';
import { UploadQueue } from './storage/upload-queue.js';
import type { Repository } from './store/repository.js';
import { PostgresRepository, type PostgresRepositoryOptions } from './store/postgres-repository.js';
import { SqliteRepository } from './store/sqlite-repository.js';
import { ServerMetrics } from './services/server-metrics.js';
import { WebhookDispatcher } from './webhooks/dispatcher.js';
import { OutboundPolicy, type OutboundPolicyOptions } from './services/outbound-url.js';
import { WebhookSigningKey } from './webhooks/signing-key.js';

export interface TrackroomServer {
  readonly config: ServerConfig;
  readonly http: FastifyInstance;
  readonly repo: Repository;
  readonly deps: RouteDeps;
  /** With REDIS_URL: this node's part of the cluster (registry, placement, bus, sweep). */
  readonly cluster: Cluster | undefined;
  /** The app created on the first start (or the oldest app). */
  readonly defaultAppId: string;
  /** The base URL links are made with: PUBLIC_URL, or http://HOST:<bound port>. */
  publicUrl(): string;
  /** `starting` until listen() has bound, `ready`, then `draining` once close() began (readiness). */
  state(): ServerState;
  /** Starts listening; resolves with the bound port. */
  listen(): Promise<number>;
  close(): Promise<void>;
}

export type ServerState = 'starting' | 'ready' | 'draining';

export interface CreateServerOptions {
  logger: Logger;
  /** Hook for the media plane to attach itself (routes, upgrade handler, engine). */
  media?: (
    deps: RouteDeps,
    http: FastifyInstance,
  ) => Promise<{
    control?: MediaControl;
    stats?: () => unknown;
    /** Each media worker's figures, for /metrics. */
    workerStats?: () => Promise<WorkerStats[]>;
    /** Live tracks and placed meetings, for the cluster registry. */
    load?: () => { liveTracks: number; meetings: number };
    close(): Promise<void>;
  }>;
  /** Test seams of the outbound policy (a resolver; fixed rules stay). */
  outbound?: Pick<OutboundPolicyOptions, 'resolve'>;
  /** With REDIS_URL: the prefix of the cluster's keys (default `trackroom:`). */
  clusterKeyPrefix?: string;
  /** With DATABASE_URL: pool options (tests give each server a schema of its own). */
  postgres?: PostgresRepositoryOptions;
}

/** Addresses of this machine's interfaces, for the "self" rule when HOST is 0.0.0.0 or ::. */
function localAddresses(): string[] {
  return Object.values(networkInterfaces()).flatMap((l) => (l ?? []).map((i) => i.address));
}

async function secret(repo: Repository, key: string): Promise<Buffer> {
  let v = await repo.getSetting(key);
  if (!v) {
    v = randomBytes(32).toString('base64');
    await repo.setSetting(key, v);
  }
  return Buffer.from(v, 'base64');
}

/** Builds the whole control plane on the embedded store. Constructs; `listen()` does the network I/O. */
export async function createServer(
  config: ServerConfig,
  opts: CreateServerOptions,
): Promise<TrackroomServer> {
  const logger = opts.logger;
  const repo: Repository = config.databaseUrl
    ? await PostgresRepository.open(config.databaseUrl, opts.postgres ?? {})
    : new SqliteRepository(join(config.dataDir, 'trackroom.db'));

  // Two nodes starting at once on one database: one creates, the other finds.
  const boot = await repo.withStartupLock(async () => {
    const { rows: apps } = await repo.apps.list({
      where: { account_id: config.accountId },
      orderBy: { field: 'created_at', dir: 'ASC' },
      limit: 1,
    });
    let app = apps[0];
    if (!app) {
      app = await createApp(repo, config.accountId, 'default');
      logger.info({ app: appOut(app) }, 'created the default app');
    }
    return {
      app,
      tokenSecret: await secret(repo, 'participant_token_secret'),
      urlSecret: await secret(repo, 'download_url_secret'),
      key: await WebhookSigningKey.load(repo),
    };
  });
  const defaultApp = boot.app;
  const tokens = new ParticipantTokens(boot.tokenSecret, config.participantTokenTtlSeconds);
  const signer = new UrlSigner(boot.urlSecret);
  const key = boot.key;
  let boundPort = config.port;
  let publicUrl = config.publicUrl;
  const outbound = new OutboundPolicy({
    ...config.webhookTargets,
    self: { port: () => boundPort, hosts: [config.host], publicOrigin: () => publicUrl },
    localAddresses,
    ...opts.outbound,
  });
  const webhooks = new WebhookDispatcher({
    repo,
    key,
    policy: outbound,
    logger: logger.child({ subsystem: 'webhooks' }),
    maxAttempts: config.webhookRetry.maxAttempts,
    baseDelayMs: config.webhookRetry.baseDelayMs,
  });
  const sessions = new SessionService({
    repo,
    webhooks,
    logger: logger.child({ subsystem: 'sessions' }),
    nodeId: config.nodeId,
    publicUrl: () => publicUrl,
  });
  const storage = new LocalRecordingStorage(join(config.dataDir, 'recordings'));
  const secrets = new SecretBox(config.dataDir);
  const storageCfg = config.recordingStorage;
  const destinations = new RecordingDestinations({
    config: storageCfg,
    files: storage,
    signer,
    box: secrets,
    publicUrl: () => publicUrl,
    outbound,
  });
  const disk = new DiskGuard({
    dir: config.dataDir,
    minFreeBytes: config.disk.minFreeBytes,
    reserveBytes: config.disk.reserveBytes,
    logger: logger.child({ subsystem: 'disk' }),
  });
  await disk.start();
  const recordings = new RecordingService({
    config,
    repo,
    logger: logger.child({ subsystem: 'recordings' }),
    webhooks,
    sessions,
    storage,
    destinations,
    secrets,
    outbound,
    signer,
    disk,
    publicUrl: () => publicUrl,
  });
  const uploads = new UploadQueue({
    repo,
    logger: logger.child({ subsystem: 'uploads' }),
    files: storage,
    destinationFor: (rec) => destinations.for(rec),
    settle: (id, outcome) => recordings.settleUpload(id, outcome),
    maxAttempts: storageCfg.uploadMaxAttempts,
    baseDelayMs: storageCfg.uploadRetryBaseMs,
    concurrency: storageCfg.uploadConcurrency,
    nodeId: config.nodeId,
  });
  recordings.uploads = uploads;
  const retention = storageCfg.retentionDays
    ? new RecordingRetention({
        recordings,
        days: storageCfg.retentionDays,
        logger: logger.child({ subsystem: 'retention' }),
      })
    : undefined;

  const forwarding: NonNullable<Parameters<typeof createHttpApp>[0]['forwarding']> = {};
  const http = createHttpApp({ config, repo, logger: logger.child({ subsystem: 'http' }), forwarding });
  await registerApiReference(http);
  const deps: RouteDeps = {
    config,
    repo,
    logger,
    tokens,
    signer,
    webhooks,
    sessions,
    recordings,
    secrets,
    outbound,
  };

  const media = opts.media ? await opts.media(deps, http) : undefined;
  if (media?.control) deps.media = media.control;

  // REDIS_URL: this node joins the cluster (registry, placement, command bus, dead-node sweep).
  const load = () => media?.load?.() ?? { liveTracks: 0, meetings: 0 };
  const cluster = clusterFor({
    config,
    http,
    sessions,
    publicUrl: () => publicUrl,
    load,
    logger,
    ...(opts.clusterKeyPrefix ? { keyPrefix: opts.clusterKeyPrefix } : {}),
  });
  if (cluster) {
    deps.cluster = cluster;
    forwarding.to = (nodeId, req) => cluster.forward(nodeId, req);
    // The registry read once a second at most: a page of 100 recordings asks for every row.
    let known: { at: number; nodes: Promise<{ node_id: string; public_url: string }[]> } | undefined;
    recordings.nodeUrl = async (nodeId) => {
      if (!known || Date.now() - known.at > 1000)
        known = { at: Date.now(), nodes: cluster.nodes().catch(() => []) };
      return (await known.nodes).find((n) => n.node_id === nodeId)?.public_url;
    };
  }

  appRoutes(http, deps);
  meetingRoutes(http, deps);
  participantRoutes(http, deps);
  presetRoutes(http, deps);
  webhookRoutes(http, deps);
  recordingRoutes(http, deps);
  sessionRoutes(http, deps);
  unsupportedRoutes(http);
  downloadRoutes(http, deps, storage);

  // RealtimeKit's shape: receivers read data.publicKey.
  http.get('/.well-known/webhooks.json', async () => ({
    success: true,
    data: { publicKey: key.publicKeyPem },
    message: '',
  }));
  // GET /, /docs, /openapi.json and the track recording guide.
  metaRoutes(http, () => publicUrl);
  // Process figures for the benchmark and operators; admin token required.
  const eld = monitorEventLoopDelay({ resolution: 10 });
  eld.enable();
  http.get('/v1/stats', async (req) => {
    if (!adminTokenMatches(config.apiTokens, req.headers.authorization)) throw new RtkError('UNAUTHORIZED');
    const q = req.query as { reset?: string };
    const mem = process.memoryUsage();
    const out = {
      success: true,
      data: {
        rss_bytes: mem.rss,
        heap: {
          used_bytes: mem.heapUsed,
          total_bytes: mem.heapTotal,
          external_bytes: mem.external,
          array_buffers_bytes: mem.arrayBuffers,
        },
        cpu_us: process.cpuUsage(),
        event_loop_delay_ms: {
          p50: eld.percentile(50) / 1e6,
          p99: eld.percentile(99) / 1e6,
          max: eld.max / 1e6,
        },
        sessions: sessions.stats(),
        media: (await media?.stats?.()) ?? null,
        disk: disk.stats(),
        uploads: uploads.stats(),
      },
    };
    if (q.reset === '1') eld.reset();
    return out;
  });
  nodesRoute({
    config,
    http,
    cluster,
    publicUrl: () => publicUrl,
    load,
    draining: () => state === 'draining',
  });
  // Liveness: the process answers. Readiness: it takes traffic (not while starting or draining).
  // Neither needs a token (load balancers and orchestrators probe them) and neither reveals more.
  let state: ServerState = 'starting';
  http.get('/healthz', async () => ({ success: true, data: { status: 'ok' } }));
  http.get('/livez', async () => ({ success: true, data: { status: 'ok' } }));
  http.get('/readyz', async (_req, reply) =>
    state === 'ready'
      ? { success: true, data: { status: 'ready' } }
      : reply.status(503).send({ success: false, error: { code: 503, message: `Not ready: ${state}` } }),
  );
  // Prometheus: the admin token or METRICS_TOKEN.
  const metrics = new ServerMetrics({
    repo,
    webhooks,
    ...(media?.workerStats ? { workerStats: media.workerStats } : {}),
    state: () => state,
  });
  const metricsTokens = config.metricsToken ? [...config.apiTokens, config.metricsToken] : config.apiTokens;
  http.get('/metrics', async (req, reply) => {
    if (!adminTokenMatches(metricsTokens, req.headers.authorization)) throw new RtkError('UNAUTHORIZED');
    const m = await metrics.render();
    return reply.type(m.contentType).header('cache-control', 'no-cache').send(m.body);
  });

  // Recordings first: ending the stale sessions must not race the repair of their recordings.
  await recordings.recoverAfterRestart();
  await sessions.recoverAfterRestart();
  await cluster?.start();
  webhooks.start();
  uploads.start();
  retention?.start();

  let closed = false;
  return {
    config,
    http,
    repo,
    deps,
    cluster,
    defaultAppId: defaultApp.id,
    publicUrl: () => publicUrl,
    state: () => state,
    async listen() {
      await http.listen({ port: config.port, host: config.host });
      const addr = http.server.address();
      const port = typeof addr === 'object' && addr ? addr.port : config.port;
      boundPort = port;
      if (state === 'starting') state = 'ready';
      if (!config.publicUrlExplicit) publicUrl = publicUrl.replace(/:\d+$/, `:${port}`);
      return port;
    },
    async close() {
      if (closed) return;
      closed = true;
      state = 'draining';
      // The cluster places no new meeting here from now on.
      await cluster
        ?.drain()
        .catch((err: unknown) => logger.warn({ err }, 'marking this node draining failed'));
      // Finalise what is being recorded while the media plane is still up: files get their
      // duration and cues now instead of a repair at the next start.
      if (recordings.engine) await recordings.stopAllActive('SERVER_SHUTDOWN');
      recordings.close();
      await retention?.close();
      sessions.close();
      eld.disable();
      // Signalling sockets close with 1001 (going away), so clients reconnect elsewhere.
      await media?.close();
      // In a cluster the sessions hosted here end now (their clients rejoin on another node),
      // instead of at this node's next start.
      if (cluster) await sessions.endSessionsOfNode(config.nodeId, 'SERVER_SHUTDOWN');
      // HTTP: no new connections; idle keep-alive ones close now, busy ones get the drain time.
      const closing = http.close();
      http.server.closeIdleConnections();
      let drainTimer: NodeJS.Timeout | undefined;
      const drained = await Promise.race([
        closing.then(() => true),
        new Promise<boolean>((r) => (drainTimer = setTimeout(() => r(false), config.shutdownDrainMs))),
      ]);
      clearTimeout(drainTimer);
      if (!drained) {
        logger.warn(
          { drainMs: config.shutdownDrainMs },
          'connections still open after the drain time: closing them',
        );
        http.server.closeAllConnections();
        await closing;
      }
      // Running uploads get a moment; an interrupted one resumes from its local files at the next start.
      await uploads.close();
      destinations.close();
      await disk.close();
      await webhooks.close();
      metrics.close();
      await cluster?.close();
      await repo.close();
    },
  };
}
