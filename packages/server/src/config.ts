import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import { RtkError, parseTurnUrl, type TurnConfig } from '@trackroom/protocol';
import { parseCidr } from './services/outbound-url.js';

/** Immutable server configuration, read once from the environment (see README "Configuration"). */
export interface ServerConfig {
  readonly port: number;
  readonly host: string;
  readonly dataDir: string;
  /**
   * This server's name among servers sharing one database (`NODE_ID`, default generated once and
   * kept in DATA_DIR/node-id): live sessions, recordings and uploads are owned by the node that
   * hosts them, and only that node ends or repairs them at its start.
   */
  readonly nodeId: string;
  /** `DATABASE_URL`: the PostgreSQL store (postgres://...). Unset: SQLite in DATA_DIR. */
  readonly databaseUrl: string | undefined;
  /**
   * `REDIS_URL`: coordination of several nodes (registry, placement, command bus; docs/cluster.md).
   * Unset: one node, as before. `NODE_HEARTBEAT_MS` / `NODE_DEAD_AFTER_MS`: how often a node writes
   * its registry entry, and how long without one before another node declares it dead.
   */
  readonly cluster: {
    readonly redisUrl: string | undefined;
    readonly heartbeatMs: number;
    readonly deadAfterMs: number;
  };
  readonly accountId: string;
  readonly apiToken: string;
  /** True when the API token was generated on this start (it is printed once). */
  readonly apiTokenGenerated: boolean;
  /** Base of links handed out. With PORT=0 and no PUBLIC_URL it is completed at listen (see TrackroomServer.publicUrl). */
  readonly publicUrl: string;
  /** True when PUBLIC_URL was given explicitly. */
  readonly publicUrlExplicit: boolean;
  readonly ice: {
    readonly bindAddress: string;
    readonly announcedAddress: string | undefined;
    readonly portRangeBegin: number | undefined;
    readonly portRangeEnd: number | undefined;
    readonly udpMuxPort: number | undefined;
  };
  /**
   * Media worker processes (MEDIA_WORKERS, default the number of cores). 1: one worker in the
   * server's own process, exactly as a single process; more: child processes, one per worker.
   */
  readonly mediaWorkers: number;
  readonly downloadUrlTtlSeconds: number;
  readonly participantTokenTtlSeconds: number;
  readonly webhookRetry: { readonly maxAttempts: number; readonly baseDelayMs: number };
  /** Free-space floor for new recordings and the reserve released on a full disk (bytes). */
  readonly disk: { readonly minFreeBytes: number; readonly reserveBytes: number };
  /** How long a graceful shutdown waits for HTTP and signalling connections before closing them (ms). */
  readonly shutdownDrainMs: number;
  /** Where recordings go, their upload retries and retention (docs/storage.md). */
  readonly recordingStorage: RecordingStorageConfig;
  // --- operations (issue 13: outbound rules, metrics, token rotation); see opsConfig() ---
  /**
   * Every admin token accepted (RTK_API_TOKEN may list several, comma-separated, to rotate without
   * downtime); `apiToken` is the first.
   */
  readonly apiTokens: readonly string[];
  /** What webhook targets are refused besides the fixed rules (link-local, metadata, self). */
  readonly webhookTargets: {
    readonly denyLoopback: boolean;
    readonly denyPrivate: boolean;
    readonly denyCidrs: readonly string[];
  };
  /** A token that may read /metrics (besides the admin tokens); undefined: admin tokens only. */
  readonly metricsToken: string | undefined;
  /** TURN relays (TURN_URLS and their credentials; see turnConfigFrom); undefined: none. */
  readonly turn: TurnConfig | undefined;
}

// --- Recording storage (issue 10): one block, read by recordingStorageFrom below. ---

/** A bucket of an S3-compatible service. Keys absent: the AWS SDK's default credential chain. */
export interface S3TargetConfig {
  readonly bucket: string;
  /** Key prefix, without leading or trailing slash ('' for the bucket root). */
  readonly prefix: string;
  readonly region: string;
  /** For non-AWS endpoints (R2, Spaces, GCS interoperability, a self-hosted server). */
  readonly endpoint: string | undefined;
  readonly forcePathStyle: boolean;
  readonly accessKeyId: string | undefined;
  readonly secretAccessKey: string | undefined;
}

export interface RecordingStorageConfig {
  /** The server default for recordings without a storage_config. */
  readonly backend: 'local' | 's3';
  readonly s3: S3TargetConfig | undefined;
  /** Upload attempts of one recording before it is ERRORED, and the first retry delay (doubles). */
  readonly uploadMaxAttempts: number;
  readonly uploadRetryBaseMs: number;
  /** Objects uploaded at once, server-wide. */
  readonly uploadConcurrency: number;
  /** Recordings older than this are deleted on a schedule; undefined keeps them forever. */
  readonly retentionDays: number | undefined;
}

/** A `path`/prefix as given, without surrounding slashes; refuses `..` and empty segments. */
export function normaliseKeyPrefix(raw: string | undefined): string | undefined {
  const p = (raw ?? '').trim().replace(/^\/+|\/+$/g, '');
  if (p === '') return '';
  if (p.length > 512 || !/^[\w\-.!*'()/ ]+$/.test(p)) return undefined;
  if (p.split('/').some((seg) => seg === '' || seg === '.' || seg === '..')) return undefined;
  return p;
}

function recordingStorageFrom(env: NodeJS.ProcessEnv): RecordingStorageConfig {
  const raw = env.RECORDINGS_STORAGE || 'local';
  if (raw !== 'local' && raw !== 's3') {
    throw new ConfigError(`RECORDINGS_STORAGE must be local or s3, got "${raw}"`);
  }
  let s3: S3TargetConfig | undefined;
  if (raw === 's3') {
    const bucket = env.RECORDINGS_S3_BUCKET || '';
    if (!bucket) throw new ConfigError('RECORDINGS_STORAGE=s3 needs RECORDINGS_S3_BUCKET');
    const prefix = normaliseKeyPrefix(env.RECORDINGS_S3_PREFIX);
    if (prefix === undefined) throw new ConfigError('RECORDINGS_S3_PREFIX is not a valid key prefix');
    const endpoint = env.AWS_ENDPOINT_URL_S3 || undefined;
    if (endpoint && !/^https?:\/\/[^\s/]+/.test(endpoint)) {
      throw new ConfigError('AWS_ENDPOINT_URL_S3 must be an http(s) URL');
    }
    const fps = env.RECORDINGS_S3_FORCE_PATH_STYLE ?? '';
    if (!['', 'true', 'false', '1', '0'].includes(fps)) {
      throw new ConfigError('RECORDINGS_S3_FORCE_PATH_STYLE must be true or false');
    }
    const accessKeyId = env.AWS_ACCESS_KEY_ID || undefined;
    const secretAccessKey = env.AWS_SECRET_ACCESS_KEY || undefined;
    if (Boolean(accessKeyId) !== Boolean(secretAccessKey)) {
      throw new ConfigError('AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set together');
    }
    s3 = {
      bucket,
      prefix,
      region: env.AWS_REGION || env.AWS_DEFAULT_REGION || 'us-east-1',
      endpoint,
      forcePathStyle: fps === 'true' || fps === '1',
      accessKeyId,
      secretAccessKey,
    };
  }
  return {
    backend: raw,
    s3,
    uploadMaxAttempts: intFrom(env, 'RECORDINGS_UPLOAD_MAX_ATTEMPTS', 8, 1, 100) ?? 8,
    uploadRetryBaseMs: intFrom(env, 'RECORDINGS_UPLOAD_RETRY_BASE_MS', 2000, 1, 3_600_000) ?? 2000,
    uploadConcurrency: intFrom(env, 'RECORDINGS_UPLOAD_CONCURRENCY', 4, 1, 64) ?? 4,
    retentionDays: intFrom(env, 'RECORDINGS_RETENTION_DAYS', undefined, 1, 36_500),
  };
}

// --- end of recording storage ---

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

function intFrom(env: NodeJS.ProcessEnv, name: string, def: number | undefined, min: number, max: number) {
  const raw = env[name];
  if (raw === undefined || raw === '') return def;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new ConfigError(`${name} must be an integer from ${min} to ${max}, got "${raw}"`);
  }
  return n;
}

/** A decimal number of megabytes (`0.5` is allowed), as bytes. */
function mbFrom(env: NodeJS.ProcessEnv, name: string, def: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return Math.round(def * 1024 * 1024);
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0 || n > max) {
    throw new ConfigError(`${name} must be a number of MB from 0 to ${max}, got "${raw}"`);
  }
  return Math.round(n * 1024 * 1024);
}

/**
 * All media on one UDP port (ICE UDP mux), measured cheaper at high track counts. Default: the
 * HTTP port's number (TCP and UDP do not collide), unless a port range is configured or the
 * HTTP port is picked by the system (PORT=0). RTC_UDP_MUX_PORT=off disables it.
 */
function udpMux(env: NodeJS.ProcessEnv, port: number, hasRange: boolean): number | undefined {
  const raw = env.RTC_UDP_MUX_PORT;
  if (raw === 'off') return undefined;
  if (raw === undefined || raw === '') return hasRange || port < 1024 ? undefined : port;
  return intFrom(env, 'RTC_UDP_MUX_PORT', undefined, 1024, 65535);
}

export const MAX_MEDIA_WORKERS = 64;

/**
 * The ICE ports of media worker `index` (0-based) of `count`: worker i uses UDP mux port
 * `udpMuxPort + i`, or the i-th equal slice of the port range. Neither touches the HTTP port's
 * TCP socket; the mux ports of a range of workers must stay below 65536.
 */
export function workerIcePorts(
  ice: Pick<ServerConfig['ice'], 'portRangeBegin' | 'portRangeEnd' | 'udpMuxPort'>,
  index: number,
  count: number,
): { udpMuxPort?: number; portRangeBegin?: number; portRangeEnd?: number } {
  if (ice.udpMuxPort !== undefined) return { udpMuxPort: ice.udpMuxPort + index };
  if (ice.portRangeBegin !== undefined && ice.portRangeEnd !== undefined) {
    const size = Math.floor((ice.portRangeEnd - ice.portRangeBegin + 1) / count);
    const begin = ice.portRangeBegin + index * size;
    return { portRangeBegin: begin, portRangeEnd: begin + size - 1 };
  }
  return {};
}

/** Refuses a worker count whose ports would leave the valid range or share a port. */
function checkWorkerPorts(ice: ServerConfig['ice'], count: number): void {
  if (ice.udpMuxPort !== undefined && ice.udpMuxPort + count - 1 > 65535) {
    throw new ConfigError(
      `MEDIA_WORKERS=${count} needs UDP ports ${ice.udpMuxPort}..${ice.udpMuxPort + count - 1} ` +
        `(one mux port per worker from RTC_UDP_MUX_PORT, default PORT): lower it or MEDIA_WORKERS`,
    );
  }
  if (ice.portRangeBegin !== undefined && ice.portRangeEnd !== undefined) {
    const size = ice.portRangeEnd - ice.portRangeBegin + 1;
    if (size < count) {
      throw new ConfigError(
        `RTC_PORT_RANGE_BEGIN..END holds ${size} ports: too few for MEDIA_WORKERS=${count} ` +
          `(each worker gets an equal slice of the range)`,
      );
    }
  }
}

/** Reads the configuration; creates DATA_DIR and, when RTK_API_TOKEN is unset, a persistent token in it. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): ServerConfig {
  const port = intFrom(env, 'PORT', 8787, 0, 65535) ?? 8787;
  const host = env.HOST || '127.0.0.1';
  const dataDir = resolve(env.DATA_DIR || './data');
  mkdirSync(dataDir, { recursive: true });
  const accountId = env.RTK_ACCOUNT_ID || 'local';
  if (!/^[-\w]{1,64}$/.test(accountId)) throw new ConfigError('RTK_ACCOUNT_ID must match ^[-\\w]{1,64}$');

  const ops = opsConfig(env);
  let apiToken = ops.apiTokens[0] ?? '';
  let apiTokenGenerated = false;
  if (!apiToken) {
    const tokenFile = join(dataDir, 'api-token');
    if (existsSync(tokenFile)) {
      apiToken = readFileSync(tokenFile, 'utf8').trim();
    } else {
      apiToken = randomBytes(24).toString('base64url');
      writeFileSync(tokenFile, apiToken + '\n', { mode: 0o600 });
      apiTokenGenerated = true;
    }
  }
  const apiTokens = ops.apiTokens.length ? ops.apiTokens : [apiToken];
  if (apiTokens.some((t) => t.length < 16)) {
    throw new ConfigError('RTK_API_TOKEN must be at least 16 characters (each, when several are listed)');
  }

  const publicHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
  const publicUrl = (env.PUBLIC_URL || `http://${publicHost}:${port}`).replace(/\/+$/, '');
  const portRangeBegin = intFrom(env, 'RTC_PORT_RANGE_BEGIN', undefined, 1024, 65535);
  const portRangeEnd = intFrom(env, 'RTC_PORT_RANGE_END', undefined, 1024, 65535);
  if (
    (portRangeBegin === undefined) !== (portRangeEnd === undefined) ||
    (portRangeBegin ?? 0) > (portRangeEnd ?? 0)
  ) {
    throw new ConfigError('RTC_PORT_RANGE_BEGIN and RTC_PORT_RANGE_END must be set together, begin <= end');
  }

  const ice = {
    bindAddress: env.RTC_BIND_ADDRESS || publicHost,
    announcedAddress: env.RTC_ANNOUNCED_ADDRESS || undefined,
    portRangeBegin,
    portRangeEnd,
    udpMuxPort: udpMux(env, port, portRangeBegin !== undefined),
  };
  const mediaWorkers =
    intFrom(
      env,
      'MEDIA_WORKERS',
      Math.min(availableParallelism(), MAX_MEDIA_WORKERS),
      1,
      MAX_MEDIA_WORKERS,
    ) ?? 1;
  checkWorkerPorts(ice, mediaWorkers);

  return {
    port,
    host,
    dataDir,
    nodeId: nodeIdFrom(env, dataDir),
    databaseUrl: databaseUrlFrom(env),
    cluster: clusterFrom(env),
    accountId,
    apiToken,
    apiTokenGenerated,
    publicUrl,
    publicUrlExplicit: Boolean(env.PUBLIC_URL),
    ice,
    mediaWorkers,
    downloadUrlTtlSeconds:
      intFrom(env, 'DOWNLOAD_URL_TTL_SECONDS', 7 * 24 * 3600, 1, 365 * 24 * 3600) ?? 604800,
    participantTokenTtlSeconds:
      intFrom(env, 'PARTICIPANT_TOKEN_TTL_SECONDS', 30 * 24 * 3600, 60, 365 * 24 * 3600) ?? 2592000,
    webhookRetry: {
      maxAttempts: intFrom(env, 'WEBHOOK_MAX_ATTEMPTS', 8, 1, 100) ?? 8,
      baseDelayMs: intFrom(env, 'WEBHOOK_RETRY_BASE_MS', 1000, 1, 3_600_000) ?? 1000,
    },
    disk: {
      minFreeBytes: mbFrom(env, 'DISK_MIN_FREE_MB', 100, 1_000_000),
      reserveBytes: mbFrom(env, 'DISK_RESERVE_MB', 16, 10_000),
    },
    shutdownDrainMs: (intFrom(env, 'SHUTDOWN_DRAIN_SECONDS', 10, 0, 3600) ?? 10) * 1000,
    recordingStorage: recordingStorageFrom(env),
    apiTokens,
    webhookTargets: ops.webhookTargets,
    metricsToken: ops.metricsToken,
    turn: turnConfigFrom(env),
  };
}

// --- operations block (issue 13): outbound rules, metrics token, admin token rotation ---

function boolFrom(env: NodeJS.ProcessEnv, name: string): boolean {
  const raw = (env[name] ?? '').trim().toLowerCase();
  if (raw === '' || raw === '0' || raw === 'false' || raw === 'no') return false;
  if (raw === '1' || raw === 'true' || raw === 'yes') return true;
  throw new ConfigError(`${name} must be true or false, got "${env[name]}"`);
}

function opsConfig(env: NodeJS.ProcessEnv) {
  const apiTokens = (env.RTK_API_TOKEN ?? '')
    .split(',')
    .map((t) => t.trim())
    .filter((t) => t !== '');
  const denyCidrs = (env.WEBHOOK_DENY_CIDRS ?? '').split(/[\s,]+/).filter((c) => c !== '');
  for (const c of denyCidrs) {
    try {
      parseCidr(c);
    } catch (e) {
      throw new ConfigError(`WEBHOOK_DENY_CIDRS: ${(e as Error).message}`);
    }
  }
  const metricsToken = env.METRICS_TOKEN || undefined;
  if (metricsToken !== undefined && metricsToken.length < 16) {
    throw new ConfigError('METRICS_TOKEN must be at least 16 characters');
  }
  return {
    apiTokens,
    webhookTargets: {
      denyLoopback: boolFrom(env, 'WEBHOOK_DENY_LOOPBACK'),
      denyPrivate: boolFrom(env, 'WEBHOOK_DENY_PRIVATE'),
      denyCidrs,
    },
    metricsToken,
  };
}

/** `DATABASE_URL`: a postgres:// URL (a unix socket: `postgres://user@/db?host=/var/run/postgresql`). */
function databaseUrlFrom(env: NodeJS.ProcessEnv): string | undefined {
  const raw = env.DATABASE_URL?.trim();
  if (!raw) return undefined;
  // The driver parses the rest (libpq's forms, which WHATWG URL does not all accept).
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(raw)?.[1]?.toLowerCase();
  if (!scheme) {
    throw new ConfigError('DATABASE_URL must be a URL like postgres://user:password@host:5432/database');
  }
  if (scheme !== 'postgres' && scheme !== 'postgresql') {
    throw new ConfigError(
      `DATABASE_URL: only PostgreSQL is supported (postgres://...), not ${scheme}; leave it unset for the embedded SQLite store`,
    );
  }
  return raw;
}

/** `REDIS_URL` (redis:// or rediss://) and the heartbeat timing. */
function clusterFrom(env: NodeJS.ProcessEnv): ServerConfig['cluster'] {
  const raw = env.REDIS_URL?.trim() || undefined;
  if (raw) {
    let scheme = '';
    try {
      scheme = new URL(raw).protocol;
    } catch {
      throw new ConfigError('REDIS_URL must be a URL like redis://host:6379/0');
    }
    if (scheme !== 'redis:' && scheme !== 'rediss:')
      throw new ConfigError(`REDIS_URL must start with redis:// or rediss://, not ${scheme}`);
  }
  const heartbeatMs = intFrom(env, 'NODE_HEARTBEAT_MS', 2000, 100, 60_000) ?? 2000;
  const deadAfterMs = intFrom(env, 'NODE_DEAD_AFTER_MS', heartbeatMs * 5, 300, 600_000) ?? heartbeatMs * 5;
  if (deadAfterMs < heartbeatMs * 2)
    throw new ConfigError('NODE_DEAD_AFTER_MS must be at least twice NODE_HEARTBEAT_MS');
  return { redisUrl: raw, heartbeatMs, deadAfterMs };
}

/** `NODE_ID`, or the one generated at the first start and kept in DATA_DIR/node-id. */
function nodeIdFrom(env: NodeJS.ProcessEnv, dataDir: string): string {
  const given = env.NODE_ID?.trim();
  if (given) {
    if (!/^[A-Za-z0-9._-]{1,64}$/.test(given)) {
      throw new ConfigError('NODE_ID must be 1-64 letters, digits, dots, dashes or underscores');
    }
    return given;
  }
  const file = join(dataDir, 'node-id');
  if (existsSync(file)) {
    const kept = readFileSync(file, 'utf8').trim();
    if (/^[A-Za-z0-9._-]{1,64}$/.test(kept)) return kept;
  }
  const made = `node-${randomBytes(6).toString('hex')}`;
  writeFileSync(file, made + '\n');
  return made;
}

// --- TURN (issue 13 item 3): relays for browsers and the SFU; docs/deploy.md "TURN" ---

/** Default lifetime of a TURN REST API credential (TURN_TTL_SECONDS): one day. */
export const DEFAULT_TURN_TTL_SECONDS = 24 * 3600;

/**
 * TURN_URLS (comma-separated turn:/turns: URLs) with either TURN_USERNAME + TURN_CREDENTIAL (static)
 * or TURN_SECRET (coturn's TURN REST API shared secret, credentials valid TURN_TTL_SECONDS).
 * Messages name the variables, never their values (the credential and secret are secrets).
 */
export function turnConfigFrom(env: NodeJS.ProcessEnv): TurnConfig | undefined {
  const urls = (env.TURN_URLS ?? '')
    .split(',')
    .map((u) => u.trim())
    .filter((u) => u !== '');
  const username = env.TURN_USERNAME ?? '';
  const credential = env.TURN_CREDENTIAL ?? '';
  const secret = env.TURN_SECRET ?? '';
  const ttlRaw = env.TURN_TTL_SECONDS ?? '';
  if (urls.length === 0) {
    const stray = ['TURN_USERNAME', 'TURN_CREDENTIAL', 'TURN_SECRET', 'TURN_TTL_SECONDS'].filter(
      (n) => (env[n] ?? '') !== '',
    );
    if (stray.length > 0)
      throw new ConfigError(
        `${stray.join(', ')} ${stray.length > 1 ? 'are' : 'is'} set but TURN_URLS is not`,
      );
    return undefined;
  }
  for (const u of urls) {
    try {
      parseTurnUrl(u);
    } catch (e) {
      throw new ConfigError(`TURN_URLS: ${e instanceof RtkError ? e.message : String(e)}`);
    }
  }
  if (new Set(urls).size !== urls.length) throw new ConfigError('TURN_URLS lists a URL twice');
  const hasStatic = username !== '' || credential !== '';
  if (secret !== '' && hasStatic)
    throw new ConfigError(
      'TURN_SECRET and TURN_USERNAME/TURN_CREDENTIAL are both set: use the shared secret or static credentials, not both',
    );
  if (secret !== '') {
    const ttlSeconds = intFrom(env, 'TURN_TTL_SECONDS', DEFAULT_TURN_TTL_SECONDS, 60, 30 * 24 * 3600);
    return { urls, auth: { type: 'secret', secret, ttlSeconds: ttlSeconds ?? DEFAULT_TURN_TTL_SECONDS } };
  }
  if (ttlRaw !== '')
    throw new ConfigError(
      'TURN_TTL_SECONDS applies to TURN_SECRET credentials only; static ones do not expire',
    );
  if (username === '' || credential === '')
    throw new ConfigError(
      hasStatic
        ? 'TURN_USERNAME and TURN_CREDENTIAL must be set together'
        : 'TURN_URLS needs credentials: TURN_SECRET (coturn use-auth-secret) or TURN_USERNAME and TURN_CREDENTIAL',
    );
  return { urls, auth: { type: 'static', username, credential } };
}

/** What the startup log says about TURN: URLs and the kind of credentials, never a secret. */
export function describeTurn(turn: TurnConfig | undefined): Record<string, unknown> {
  if (!turn) return { turn: 'off' };
  return {
    turnUrls: turn.urls,
    turnCredentials:
      turn.auth.type === 'secret' ? `shared secret, valid ${turn.auth.ttlSeconds} s` : 'static',
  };
}
