/**
 * What the s3 backend's tests share, whichever S3 server they run against (s3rver, Ceph RGW): a
 * factory of destinations on one bucket and prefix that closes them all at the end, and recording
 * directories holding one file of random bytes.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { OutboundPolicy } from '../services/outbound-url.js';
import type { LocalRecordingStorage } from '../storage/local-storage.js';
import { S3Destination, type S3Location } from '../storage/s3-storage.js';
import { sha256 } from './s3-test-server.js';

export interface S3DestinationFixtureOptions {
  files: LocalRecordingStorage;
  /** The server's side of the location: endpoint, region, keys (bucket `recs`, prefix `tenant/a`). */
  server: () => Pick<S3Location, 'endpoint' | 'region' | 'credentials'>;
}

export function s3DestinationFixture(o: S3DestinationFixtureOptions) {
  const dests: S3Destination[] = [];
  const dest = (
    loc: Partial<S3Location> = {},
    partSizeBytes = 5 * 1024 * 1024,
    outbound?: OutboundPolicy,
  ) => {
    const d = new S3Destination({
      ...(outbound ? { outbound } : {}),
      location: { bucket: 'recs', prefix: 'tenant/a', forcePathStyle: true, ...o.server(), ...loc },
      files: o.files,
      partSizeBytes,
    });
    dests.push(d);
    return d;
  };
  /** A recording directory with one file of `size` random bytes. */
  const recordingWith = async (name: string, size: number) => {
    const id = randomUUID();
    const bytes = randomBytes(size);
    writeFileSync(join(await o.files.workDir(id), name), bytes);
    return { id, bytes, file: { fileName: name, sizeBytes: size, sha256: sha256(bytes) } };
  };
  const closeAll = () => {
    for (const d of dests.splice(0)) d.close();
  };
  return { dest, recordingWith, closeAll };
}
