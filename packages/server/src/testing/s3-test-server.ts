/**
 * Test support (not a test): a real S3-compatible HTTP server (s3rver, a devDependency) on
 * 127.0.0.1 and a free port, with its objects in a temporary directory, and an AWS SDK client for
 * reading back what was stored. It can be stopped and started again on the same port and directory
 * ("storage down" faults).
 */
import { createHash } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import type { Server } from 'node:http';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { freePort } from './free-port.js';

interface S3rverInstance {
  run(): Promise<unknown>;
  close(): Promise<void>;
  httpServer?: Server;
}
type S3rverCtor = new (options: Record<string, unknown>) => S3rverInstance;
interface AccountModule {
  DUMMY_ACCOUNT: { createKeyPair(id: string, secret: string): void };
}

const require = createRequire(import.meta.url);
const S3rver = require('s3rver') as S3rverCtor;
const accounts = require('s3rver/lib/models/account') as AccountModule;

/** s3rver's built-in key pair. */
export const S3RVER_KEYS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

export interface S3TestServer {
  readonly endpoint: string;
  readonly port: number;
  readonly directory: string;
  /** A client with the given keys (default: s3rver's own), path-style, plain bodies. */
  client(keys?: { accessKeyId: string; secretAccessKey: string }): S3Client;
  /** Every key of a bucket (sorted). */
  keys(bucket: string): Promise<string[]>;
  /** An object's bytes. */
  get(bucket: string, key: string): Promise<Buffer>;
  /** Adds a key pair that the server accepts (a tenant's own credentials). */
  addKeys(accessKeyId: string, secretAccessKey: string): void;
  stop(): Promise<void>;
  /** Starts again on the same port and directory. */
  start(): Promise<void>;
}

export function sha256(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}

export async function startS3TestServer(buckets: string[]): Promise<S3TestServer> {
  const directory = mkdtempSync(join(tmpdir(), 's3rver-'));
  const port = await freePort();
  const endpoint = `http://127.0.0.1:${port}`;
  let server: S3rverInstance | undefined;
  const start = async () => {
    if (server) return;
    server = new S3rver({
      address: '127.0.0.1',
      port,
      directory,
      silent: true,
      vhostBuckets: false,
      configureBuckets: buckets.map((name) => ({ name, configs: [] })),
    });
    await server.run();
  };
  await start();
  const admin = new S3Client({
    region: 'us-east-1',
    endpoint,
    forcePathStyle: true,
    credentials: S3RVER_KEYS,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  return {
    endpoint,
    port,
    directory,
    client: (keys = S3RVER_KEYS) =>
      new S3Client({
        region: 'us-east-1',
        endpoint,
        forcePathStyle: true,
        credentials: keys,
        requestChecksumCalculation: 'WHEN_REQUIRED',
        responseChecksumValidation: 'WHEN_REQUIRED',
      }),
    async keys(bucket) {
      const out: string[] = [];
      let token: string | undefined;
      do {
        const r = await admin.send(
          new ListObjectsV2Command({ Bucket: bucket, ...(token ? { ContinuationToken: token } : {}) }),
        );
        for (const o of r.Contents ?? []) if (o.Key) out.push(o.Key);
        token = r.IsTruncated ? r.NextContinuationToken : undefined;
      } while (token);
      return out.sort();
    },
    async get(bucket, key) {
      const r = await admin.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      return Buffer.from(await r.Body!.transformToByteArray());
    },
    addKeys(accessKeyId, secretAccessKey) {
      accounts.DUMMY_ACCOUNT.createKeyPair(accessKeyId, secretAccessKey);
    },
    async stop() {
      const s = server;
      server = undefined;
      if (!s) return;
      const closing = s.close();
      // Keep-alive sockets of clients would hold the close: storage "goes down" at once.
      s.httpServer?.closeAllConnections();
      await closing;
    },
    start,
  };
}
