import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  S3Client,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { OutboundRefusedError, type OutboundPolicy } from '../services/outbound-url.js';
import {
  StorageError,
  assertSafe,
  contentTypeOf,
  type RecordingDestination,
  type RecordingStorage,
  type StoredFile,
} from './recording-storage.js';

/** A bucket and how to reach it. `credentials` absent: the AWS SDK's default chain (env, profile, role). */
export interface S3Location {
  bucket: string;
  /** Key prefix without surrounding slashes ('' = bucket root). Objects: `<prefix>/<recording id>/<file>`. */
  prefix: string;
  region: string;
  endpoint?: string | undefined;
  forcePathStyle: boolean;
  credentials?: { accessKeyId: string; secretAccessKey: string } | undefined;
}

export interface S3DestinationOptions {
  location: S3Location;
  /** Where the finalised local files are read from. */
  files: RecordingStorage;
  /** Multipart part size (at least 5 MiB; default 8 MiB): files up to it go in one PUT. */
  partSizeBytes?: number;
  /** Socket timeouts of the HTTP client (ms). */
  connectionTimeoutMs?: number;
  requestTimeoutMs?: number;
  /**
   * The outbound rules, for an endpoint a user gave (a recording's or meeting's storage_config):
   * its literal host is checked before every call and every address its name resolves to when a
   * socket connects, so a name remapped to a refused address is not contacted. The server's own
   * endpoint (AWS_ENDPOINT_URL_S3, set by the operator) goes without.
   */
  outbound?: OutboundPolicy;
}

export interface S3DestinationStats {
  /** Objects stored and confirmed, and their bytes. */
  objects: number;
  bytes: number;
  /** Of those, how many went up in parts, and how many were confirmed by a read-back. */
  multipart: number;
  readBacks: number;
}

/** SigV4 presigned URLs live at most 7 days. */
export const MAX_PRESIGN_SECONDS = 7 * 24 * 3600;
const MIN_PART = 5 * 1024 * 1024;

interface LocalDigest {
  size: number;
  sha256: string;
  /** The ETag a bucket reports for this file when it is stored in one PUT, or in parts of partSize. */
  etagSingle: string;
  etagMultipart: string;
}

/** Reads a local file once: its size, sha256, and the MD5-based ETags an S3 service would compute. */
async function digestFile(path: string, partSize: number): Promise<LocalDigest> {
  const sha = createHash('sha256');
  const whole = createHash('md5');
  const partDigests: Buffer[] = [];
  let part = createHash('md5');
  let inPart = 0;
  let size = 0;
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>) {
    sha.update(chunk);
    whole.update(chunk);
    size += chunk.length;
    let off = 0;
    while (off < chunk.length) {
      const take = Math.min(partSize - inPart, chunk.length - off);
      part.update(chunk.subarray(off, off + take));
      inPart += take;
      off += take;
      if (inPart === partSize) {
        partDigests.push(part.digest());
        part = createHash('md5');
        inPart = 0;
      }
    }
  }
  if (inPart > 0 || partDigests.length === 0) partDigests.push(part.digest());
  const multi = createHash('md5').update(Buffer.concat(partDigests)).digest('hex');
  return {
    size,
    sha256: sha.digest('hex'),
    etagSingle: whole.digest('hex'),
    etagMultipart: `${multi}-${partDigests.length}`,
  };
}

/**
 * The `s3` backend: any S3-compatible service through the AWS SDK v3. A file is uploaded from its
 * local copy (one PUT up to the part size, multipart above), with its content type and its sha256 as
 * `x-amz-meta-sha256`, then confirmed with a HEAD: length, the sha256 metadata, and the ETag against
 * the MD5s of the local file. A bucket whose ETags are not MD5s (SSE-KMS) gets a read-back instead.
 */
export class S3Destination implements RecordingDestination {
  readonly backend = 's3' as const;
  readonly #o: S3DestinationOptions;
  readonly #client: S3Client;
  readonly #partSize: number;
  #closed = false;
  readonly #stats: S3DestinationStats = { objects: 0, bytes: 0, multipart: 0, readBacks: 0 };

  constructor(options: S3DestinationOptions) {
    this.#o = options;
    this.#partSize = Math.max(MIN_PART, options.partSizeBytes ?? 8 * 1024 * 1024);
    const loc = options.location;
    const cfg: S3ClientConfig = {
      region: loc.region,
      forcePathStyle: loc.forcePathStyle,
      // Plain bodies: no aws-chunked framing (which some S3-compatible servers store verbatim) and
      // no checksum trailers that older servers refuse. Integrity is checked after the upload.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      // Retries with backoff are the upload queue's, which survive a restart.
      maxAttempts: 2,
      requestHandler: {
        connectionTimeout: options.connectionTimeoutMs ?? 5000,
        requestTimeout: options.requestTimeoutMs ?? 120_000,
        ...this.#guardedAgents(),
      },
    };
    if (loc.endpoint) cfg.endpoint = loc.endpoint;
    if (loc.credentials) cfg.credentials = loc.credentials;
    this.#client = new S3Client(cfg);
  }

  /** The object key of a file of a recording. */
  key(recordingId: string, fileName: string): string {
    assertSafe(recordingId, fileName);
    const p = this.#o.location.prefix;
    return `${p ? `${p}/` : ''}${recordingId}/${fileName}`;
  }

  get bucket(): string {
    return this.#o.location.bucket;
  }

  async put(recordingId: string, file: StoredFile): Promise<void> {
    const key = this.key(recordingId, file.fileName);
    const path = this.#o.files.localPath(recordingId, file.fileName);
    let local: LocalDigest;
    try {
      local = await digestFile(path, this.#partSize);
    } catch (e) {
      // No local path in the message: it may reach the API as error_reason.
      throw new StorageError(
        key,
        `${key}: the local file cannot be read (${(e as NodeJS.ErrnoException).code ?? 'error'})`,
      );
    }
    if (local.size !== file.sizeBytes || local.sha256 !== file.sha256) {
      throw new StorageError(key, `${key}: the local file no longer matches the manifest (size or sha256)`);
    }
    await this.#call(key, 'upload', async () => {
      const up = new Upload({
        client: this.#client,
        partSize: this.#partSize,
        queueSize: 1,
        leavePartsOnError: false,
        params: {
          Bucket: this.bucket,
          Key: key,
          Body: createReadStream(path, { highWaterMark: 1 << 20 }),
          ContentType: contentTypeOf(file.fileName),
          Metadata: { sha256: file.sha256 },
        },
      });
      await up.done();
    });
    const head = await this.#call(key, 'confirm', () =>
      this.#client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key })),
    );
    if (head.ContentLength !== file.sizeBytes) {
      throw new StorageError(
        key,
        `${key}: the bucket stored ${head.ContentLength} bytes, expected ${file.sizeBytes}`,
      );
    }
    if (head.Metadata?.sha256 !== undefined && head.Metadata.sha256 !== file.sha256) {
      throw new StorageError(key, `${key}: the stored sha256 metadata differs from the manifest`);
    }
    if (local.size > this.#partSize) this.#stats.multipart++;
    const etag = (head.ETag ?? '').replace(/"/g, '');
    if (etag === local.etagSingle || etag === local.etagMultipart) return this.#confirmed(local.size);
    // Not an MD5 ETag (SSE-KMS, another part size): read the object back and hash it.
    const stored = await this.#call(key, 'read back', async () => {
      const got = await this.#client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
      const h = createHash('sha256');
      for await (const c of got.Body as AsyncIterable<Uint8Array>) h.update(c);
      return h.digest('hex');
    });
    this.#stats.readBacks++;
    if (stored !== file.sha256) {
      throw new StorageError(key, `${key}: the stored object's sha256 differs from the manifest`);
    }
    this.#confirmed(local.size);
  }

  #confirmed(bytes: number): void {
    this.#stats.objects++;
    this.#stats.bytes += bytes;
  }

  stats(): S3DestinationStats {
    return { ...this.#stats };
  }

  async downloadUrl(recordingId: string, fileName: string, expiresAtMs: number): Promise<string> {
    const key = this.key(recordingId, fileName);
    const expiresIn = Math.max(
      1,
      Math.min(MAX_PRESIGN_SECONDS, Math.floor((expiresAtMs - Date.now()) / 1000)),
    );
    return getSignedUrl(
      this.#client,
      new GetObjectCommand({
        Bucket: this.bucket,
        Key: key,
        ResponseContentDisposition: `attachment; filename="${fileName}"`,
      }),
      { expiresIn },
    );
  }

  async delete(recordingId: string, fileNames: string[]): Promise<void> {
    // One DeleteObject per key: exactly the listed objects, and no Content-MD5 needed.
    for (const f of fileNames) {
      const key = this.key(recordingId, f);
      await this.#call(key, 'delete', () =>
        this.#client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key })),
      );
    }
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#client.destroy();
  }

  /** Agents whose sockets connect only to addresses the outbound rules allow (user endpoints only). */
  #guardedAgents(): { httpAgent?: HttpAgent; httpsAgent?: HttpsAgent } {
    const { outbound } = this.#o;
    const endpoint = this.#o.location.endpoint;
    if (!outbound || !endpoint) return {};
    const u = new URL(endpoint);
    const port = u.port ? Number(u.port) : u.protocol === 'https:' ? 443 : 80;
    const lookup = outbound.lookupFor(port);
    // `lookup` is a socket option; the agents pass their options on to every connection they open.
    return {
      httpAgent: new HttpAgent({ keepAlive: true, lookup } as ConstructorParameters<typeof HttpAgent>[0]),
      httpsAgent: new HttpsAgent({ keepAlive: true, lookup } as ConstructorParameters<typeof HttpsAgent>[0]),
    };
  }

  /** Runs one storage call; its error becomes a StorageError naming the object, with no secret in it. */
  async #call<R>(key: string, what: string, fn: () => Promise<R>): Promise<R> {
    const endpoint = this.#o.location.endpoint;
    const refused = endpoint ? this.#o.outbound?.checkUrl(endpoint) : undefined;
    if (refused) {
      throw new StorageError(
        key,
        `${what} of ${key} to bucket ${this.bucket} refused (rule ${refused.rule}): ${refused.message}`,
      );
    }
    try {
      return await fn();
    } catch (e) {
      throw new StorageError(key, `${what} of ${key} to bucket ${this.bucket} failed: ${this.#describe(e)}`);
    }
  }

  #describe(e: unknown): string {
    const err = e as {
      name?: string;
      message?: string;
      code?: string;
      $metadata?: { httpStatusCode?: number };
    };
    if (e instanceof OutboundRefusedError) return `refused (rule ${e.rule}): ${e.message}`;
    const status = err.$metadata?.httpStatusCode;
    // The SDK says "UnknownError" when the service sent no message (Ceph RGW 16.2 sends an empty one):
    // then the code and status are the whole storage error.
    const text = err.message === 'UnknownError' ? '' : (err.message ?? String(e));
    let msg = `${err.name ?? 'Error'}${status ? ` (HTTP ${status})` : ''}${text ? `: ${text}` : ''}`;
    const creds = this.#o.location.credentials;
    for (const s of [creds?.secretAccessKey, creds?.accessKeyId]) {
      if (s) msg = msg.split(s).join('[redacted]');
    }
    return msg.length > 500 ? `${msg.slice(0, 500)}…` : msg;
  }
}
