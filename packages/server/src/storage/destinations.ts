import type { UrlSigner } from '../auth/signed-urls.js';
import type { RecordingStorageConfig } from '../config.js';
import type { OutboundPolicy } from '../services/outbound-url.js';
import type { RecordingRow, RecordingStorageRow } from '../store/types.js';
import { LocalDestination } from './local-storage.js';
import type { RecordingDestination, RecordingStorage } from './recording-storage.js';
import { S3Destination, type S3Location } from './s3-storage.js';
import type { SecretBox } from './secret-box.js';

export interface RecordingDestinationsOptions {
  config: RecordingStorageConfig;
  files: RecordingStorage;
  signer: UrlSigner;
  box: SecretBox;
  publicUrl: () => string;
  /** Multipart part size for the s3 backend (tests make it small). */
  partSizeBytes?: number;
  /** The outbound rules, applied to the endpoints of recordings' and meetings' own storage_config. */
  outbound?: OutboundPolicy;
}

const MAX_CACHED = 64;

/**
 * Picks the backend of each recording from its stored storage row: local, the server's bucket
 * (credentials from the environment) or a recording's own bucket (keys decrypted here, only in memory).
 */
export class RecordingDestinations {
  readonly #o: RecordingDestinationsOptions;
  readonly #local: LocalDestination;
  readonly #cache = new Map<string, S3Destination>();

  constructor(options: RecordingDestinationsOptions) {
    this.#o = options;
    this.#local = new LocalDestination(options.files, options.signer, options.publicUrl);
  }

  /** The storage row of a recording started without a storage_config. */
  serverDefault(): RecordingStorageRow {
    const s3 = this.#o.config.s3;
    if (this.#o.config.backend !== 's3' || !s3) return { backend: 'local', source: 'server' };
    return {
      backend: 's3',
      source: 'server',
      bucket: s3.bucket,
      region: s3.region,
      path: s3.prefix,
      ...(s3.endpoint ? { endpoint: s3.endpoint } : {}),
      force_path_style: s3.forcePathStyle,
    };
  }

  for(rec: Pick<RecordingRow, 'storage'>): RecordingDestination {
    const row = rec.storage;
    if (!row || row.backend === 'local') return this.#local;
    const cacheKey = JSON.stringify([
      row.source,
      row.bucket,
      row.region,
      row.path,
      row.endpoint,
      row.access_key_enc,
    ]);
    let d = this.#cache.get(cacheKey);
    if (!d) {
      d = new S3Destination({
        location: this.#location(row),
        files: this.#o.files,
        ...(this.#o.partSizeBytes ? { partSizeBytes: this.#o.partSizeBytes } : {}),
        // The server's own bucket is the operator's; a user's endpoint obeys the outbound rules.
        ...(row.source !== 'server' && this.#o.outbound ? { outbound: this.#o.outbound } : {}),
      });
      if (this.#cache.size >= MAX_CACHED) {
        // Evicted clients are not destroyed: an upload may still use one; idle sockets time out.
        const oldest = this.#cache.keys().next().value;
        if (oldest !== undefined) this.#cache.delete(oldest);
      }
      this.#cache.set(cacheKey, d);
    }
    return d;
  }

  #location(row: RecordingStorageRow): S3Location {
    const base = {
      bucket: row.bucket ?? '',
      prefix: row.path ?? '',
      region: row.region ?? 'us-east-1',
      endpoint: row.endpoint,
      forcePathStyle: row.force_path_style ?? false,
    };
    if (row.source === 'server') {
      const s3 = this.#o.config.s3;
      const keys =
        s3?.accessKeyId && s3.secretAccessKey && s3.bucket === row.bucket
          ? { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey }
          : undefined;
      return { ...base, credentials: keys };
    }
    return {
      ...base,
      credentials: {
        accessKeyId: this.#o.box.open(row.access_key_enc ?? '', 'access_key'),
        secretAccessKey: this.#o.box.open(row.secret_enc ?? '', 'secret'),
      },
    };
  }

  close(): void {
    for (const d of this.#cache.values()) d.close();
    this.#cache.clear();
  }
}
