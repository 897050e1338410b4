import { RtkError } from '@trackroom/protocol';
import { normaliseKeyPrefix } from '../config.js';
import type { OutboundPolicy } from '../services/outbound-url.js';
import type { RecordingStorageRow } from '../store/types.js';
import type { SecretBox } from './secret-box.js';

/** RealtimeKit's `storage_config` as written (secrets in clear), plus the `endpoint` and `force_path_style` extensions. */
export interface StorageConfigInput {
  type?: unknown;
  bucket?: unknown;
  region?: unknown;
  path?: unknown;
  access_key?: unknown;
  secret?: unknown;
  endpoint?: unknown;
  force_path_style?: unknown;
  [k: string]: unknown;
}

/** The S3-compatible types served here; `cloudflare` is R2 (RealtimeKit's docs name it so). */
export const S3_TYPES = ['aws', 'digitalocean', 'cloudflare', 'gcs'] as const;
type S3Type = (typeof S3_TYPES)[number];
const REFUSED_TYPES = ['azure', 'sftp'];

const BUCKET_RE = /^[a-z0-9][a-z0-9._-]{1,254}$/i;
const REGION_RE = /^[a-z0-9-]{1,64}$/i;

function bad(field: string, message: string): RtkError {
  return new RtkError('VALIDATION_FAILED', `${field} ${message}`, { field });
}

function optString(v: unknown, field: string, max = 1024): string | undefined {
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v !== 'string' || v.length > max)
    throw bad(field, `must be a string of at most ${max} characters`);
  return v;
}

/** The endpoint a RealtimeKit type implies, so no environment setting (AWS_ENDPOINT_URL_S3) leaks in. */
function defaultEndpoint(type: S3Type, region: string): string | undefined {
  if (type === 'aws') return `https://s3.${region}.amazonaws.com`;
  if (type === 'digitalocean') return `https://${region}.digitaloceanspaces.com`;
  if (type === 'gcs') return 'https://storage.googleapis.com';
  return undefined;
}

/**
 * Checks a RealtimeKit `storage_config` and seals its keys (`field` names it in errors, e.g.
 * `body.storage_config`). `azure` and `sftp` are refused with a 400 naming the type; every type
 * served here is S3-compatible and needs `bucket`, `access_key` and `secret`.
 */
export function sealStorageConfig(
  input: unknown,
  box: SecretBox,
  source: 'recording' | 'meeting',
  field: string,
  outbound?: Pick<OutboundPolicy, 'checkUrl'>,
): RecordingStorageRow {
  if (typeof input !== 'object' || input === null || Array.isArray(input))
    throw bad(field, 'must be an object');
  const c = input as StorageConfigInput;
  const type = c.type;
  if (typeof type !== 'string') throw bad(`${field}.type`, 'is required');
  if (REFUSED_TYPES.includes(type)) {
    throw bad(
      `${field}.type`,
      `"${type}" is not supported by this server; supported: ${S3_TYPES.join(', ')} (any S3-compatible service, with "endpoint")`,
    );
  }
  if (!(S3_TYPES as readonly string[]).includes(type)) {
    throw bad(`${field}.type`, `must be one of ${[...S3_TYPES, ...REFUSED_TYPES].join(', ')}`);
  }
  const t = type as S3Type;
  const bucket = optString(c.bucket, `${field}.bucket`, 255);
  if (!bucket || !BUCKET_RE.test(bucket)) throw bad(`${field}.bucket`, 'is required (a bucket name)');
  const region =
    optString(c.region, `${field}.region`, 64) ?? (t === 'aws' || t === 'digitalocean' ? undefined : 'auto');
  if (!region || !REGION_RE.test(region)) throw bad(`${field}.region`, `is required for type ${t}`);
  const rawPath = optString(c.path, `${field}.path`, 512);
  const path = normaliseKeyPrefix(rawPath);
  if (path === undefined)
    throw bad(`${field}.path`, 'must be a key prefix (letters, digits, - _ . / ; no ..)');
  const access = optString(c.access_key, `${field}.access_key`, 256);
  const secret = optString(c.secret, `${field}.secret`, 256);
  if (!access || !secret) throw bad(field, `needs access_key and secret for type ${t}`);
  const endpointGiven = optString(c.endpoint, `${field}.endpoint`, 512);
  if (endpointGiven !== undefined) {
    let u: URL;
    try {
      u = new URL(endpointGiven);
    } catch {
      throw bad(`${field}.endpoint`, 'must be an http(s) URL');
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:')
      throw bad(`${field}.endpoint`, 'must be an http(s) URL');
    // The same rules as webhook URLs (the literal host now; resolved addresses at every upload).
    const refused = outbound?.checkUrl(u);
    if (refused) {
      throw new RtkError(
        'URL_NOT_ALLOWED',
        `${field}.endpoint is refused (rule ${refused.rule}): ${refused.message}`,
        { field: `${field}.endpoint`, rule: refused.rule },
      );
    }
  }
  const endpoint = endpointGiven ?? defaultEndpoint(t, region);
  if (!endpoint)
    throw bad(
      `${field}.endpoint`,
      `is required for type ${t} (https://<account id>.r2.cloudflarestorage.com)`,
    );
  const fps = c.force_path_style;
  if (fps !== undefined && typeof fps !== 'boolean')
    throw bad(`${field}.force_path_style`, 'must be a boolean');
  return {
    backend: 's3',
    source,
    type: t,
    bucket,
    region,
    path,
    endpoint,
    // Self-hosted servers (an endpoint given) mostly need path-style addressing.
    force_path_style: fps ?? endpointGiven !== undefined,
    access_key_enc: box.seal(access, 'access_key'),
    secret_enc: box.seal(secret, 'secret'),
  };
}

/** A stored storage row as the API shows it: RealtimeKit's fields without the keys. */
export function publicStorageConfig(row: RecordingStorageRow | undefined): Record<string, unknown> | null {
  if (!row || row.source === 'server' || row.backend !== 's3') return null;
  return {
    type: row.type,
    bucket: row.bucket,
    region: row.region,
    path: row.path ?? '',
    endpoint: row.endpoint,
    force_path_style: row.force_path_style ?? false,
  };
}

/**
 * A meeting's `recording_config` ready to store: its `storage_config` (when present and not null)
 * checked and sealed. Returns the config unchanged when it has none.
 */
export function sealRecordingConfig(
  cfg: Record<string, unknown> | null | undefined,
  box: SecretBox,
  outbound?: Pick<OutboundPolicy, 'checkUrl'>,
): Record<string, unknown> | null | undefined {
  if (!cfg || cfg.storage_config === undefined || cfg.storage_config === null) return cfg;
  return {
    ...cfg,
    storage_config: sealStorageConfig(
      cfg.storage_config,
      box,
      'meeting',
      'body.recording_config.storage_config',
      outbound,
    ),
  };
}

/** A stored meeting `recording_config` as the API shows it (storage_config without keys). */
export function publicRecordingConfig(cfg: Record<string, unknown> | null): Record<string, unknown> | null {
  if (!cfg || typeof cfg.storage_config !== 'object' || cfg.storage_config === null) return cfg;
  const row = cfg.storage_config as RecordingStorageRow;
  const shown = row.backend === 's3' ? publicStorageConfig(row) : null;
  return { ...cfg, storage_config: shown };
}

/** A meeting's sealed storage_config, when it has one. */
export function meetingStorage(cfg: Record<string, unknown> | null): RecordingStorageRow | undefined {
  const s = cfg?.storage_config as RecordingStorageRow | null | undefined;
  return s && s.backend === 's3' && s.secret_enc ? s : undefined;
}
