/**
 * The s3 backend against a real S3-compatible server (s3rver on 127.0.0.1) through the real AWS SDK:
 * keys, sizes and sha256 read back, single PUT and multipart, presigned downloads with Range,
 * deletion of exactly the listed objects, and the errors of wrong keys and a missing bucket.
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import { OutboundPolicy } from '../services/outbound-url.js';
import { s3DestinationFixture } from '../testing/s3-destination-fixture.js';
import { S3RVER_KEYS, sha256, startS3TestServer, type S3TestServer } from '../testing/s3-test-server.js';
import { LocalRecordingStorage } from './local-storage.js';
import { StorageError } from './recording-storage.js';

const MiB = 1024 * 1024;

describe('s3 backend (s3rver)', () => {
  let s3: S3TestServer;
  const root = mkdtempSync(join(tmpdir(), 's3-backend-'));
  const files = new LocalRecordingStorage(root);
  const { dest, recordingWith, closeAll } = s3DestinationFixture({
    files,
    server: () => ({ endpoint: s3.endpoint, region: 'us-east-1', credentials: S3RVER_KEYS }),
  });

  before(async () => {
    s3 = await startS3TestServer(['recs']);
  });
  after(async () => {
    closeAll();
    await s3.stop();
  });

  it('stores a small file in one PUT under <prefix>/<recording id>/<file>, confirmed by size and sha256', async () => {
    const { id, bytes, file } = await recordingWith('a_peer_audio.webm', 100_000);
    const d = dest();
    await d.put(id, file);
    const key = `tenant/a/${id}/a_peer_audio.webm`;
    assert.deepEqual(await s3.keys('recs'), [key]);
    const stored = await s3.get('recs', key);
    assert.equal(stored.length, 100_000, 'no aws-chunked framing left in the object');
    assert.equal(sha256(stored), sha256(bytes));
    const head = await s3.client().send(new HeadObjectCommand({ Bucket: 'recs', Key: key }));
    assert.equal(head.ContentType, 'audio/webm');
    assert.equal(head.Metadata?.sha256, file.sha256);
  });

  it('stores a file larger than the part size with multipart, byte for byte', async () => {
    const { id, bytes, file } = await recordingWith('big_peer_audio.webm', 12 * MiB + 123);
    const d = dest();
    await d.put(id, file);
    assert.equal(d.stats().multipart, 1);
    assert.equal(d.stats().objects, 1);
    const stored = await s3.get('recs', `tenant/a/${id}/big_peer_audio.webm`);
    assert.equal(stored.length, bytes.length);
    assert.equal(sha256(stored), file.sha256);
    // s3rver's multipart ETag is the MD5 of the whole object (AWS: MD5 of the part MD5s, "-3"): both
    // are checked against the local file, so no read-back was needed.
    const head = await s3
      .client()
      .send(new HeadObjectCommand({ Bucket: 'recs', Key: `tenant/a/${id}/big_peer_audio.webm` }));
    assert.ok(head.ETag, 'an ETag to confirm against');
    assert.equal(d.stats().readBacks, 0);
  });

  it('presigns downloads that honour Range, without our server in the path', async () => {
    const { id, bytes, file } = await recordingWith('manifest.json', 5000);
    const d = dest();
    await d.put(id, file);
    const url = await d.downloadUrl(id, 'manifest.json', Date.now() + 60_000);
    assert.ok(url.startsWith(`${s3.endpoint}/recs/tenant/a/${id}/manifest.json?`), url);
    assert.match(url, /X-Amz-Signature=/);
    const whole = await fetch(url);
    assert.equal(whole.status, 200);
    assert.equal(sha256(Buffer.from(await whole.arrayBuffer())), file.sha256);
    const part = await fetch(url, { headers: { range: 'bytes=100-1099' } });
    assert.equal(part.status, 206);
    assert.equal(part.headers.get('content-range'), 'bytes 100-1099/5000');
    assert.deepEqual(Buffer.from(await part.arrayBuffer()), bytes.subarray(100, 1100));
    // (s3rver does not verify SigV4 signatures, so a tampered link cannot be tested here.)
    const otherKey = await fetch(url.replace('X-Amz-Credential=S3RVER', 'X-Amz-Credential=NOBODY'));
    assert.equal(otherKey.status, 403, 'a link with an unknown key is refused by the bucket');
  });

  it('deletes exactly the listed objects of one recording', async () => {
    const one = await recordingWith('x.webm', 1000);
    const other = await recordingWith('x.webm', 1000);
    const d = dest({ prefix: 'del' });
    await d.put(one.id, one.file);
    await d.put(other.id, other.file);
    await d.delete(one.id, ['x.webm', 'manifest.json']);
    const left = (await s3.keys('recs')).filter((k) => k.startsWith('del/'));
    assert.deepEqual(left, [`del/${other.id}/x.webm`]);
  });

  it('wrong keys: a StorageError naming the object and the storage error, with no secret in it', async () => {
    const { id, file } = await recordingWith('w.webm', 1000);
    // s3rver checks the access key id but not SigV4 signatures: a wrong key id is what it can refuse.
    const secret = 'wrong-secret-7f3a9c1e';
    const d = dest({ credentials: { accessKeyId: 'NOT-A-KEY-4d2b', secretAccessKey: secret } });
    const err = await d.put(id, file).then(
      () => assert.fail('must fail'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof StorageError);
    assert.match(err.message, new RegExp(`tenant/a/${id}/w\\.webm`));
    assert.match(err.message, /InvalidAccessKeyId \(HTTP 403\)/);
    assert.doesNotMatch(err.message, new RegExp(secret));
    assert.doesNotMatch(err.message, /NOT-A-KEY-4d2b/, 'the key id is redacted too');
    assert.doesNotMatch(err.message, new RegExp(root), 'no local path');
  });

  it('a bucket that does not exist: NoSuchBucket, naming the bucket', async () => {
    const { id, file } = await recordingWith('n.webm', 1000);
    const err = await dest({ bucket: 'no-such-bucket' })
      .put(id, file)
      .then(
        () => assert.fail('must fail'),
        (e: unknown) => e as Error,
      );
    assert.match(err.message, /no-such-bucket/);
    assert.match(err.message, /NoSuchBucket/);
  });

  it('refuses to upload a local file that no longer matches the manifest', async () => {
    const { id, file } = await recordingWith('c.webm', 1000);
    const err = await dest()
      .put(id, { ...file, sha256: '0'.repeat(64) })
      .then(
        () => assert.fail('must fail'),
        (e: unknown) => e as Error,
      );
    assert.match(err.message, /no longer matches the manifest/);
    assert.ok(!(await s3.keys('recs')).includes(`tenant/a/${id}/c.webm`));
  });

  it('storage down: a StorageError, not a hang', async () => {
    const { id, file } = await recordingWith('d.webm', 1000);
    await s3.stop();
    try {
      const err = await dest()
        .put(id, file)
        .then(
          () => assert.fail('must fail'),
          (e: unknown) => e as Error,
        );
      assert.ok(err instanceof StorageError);
      assert.match(err.message, /ECONNREFUSED|connect/i);
    } finally {
      await s3.start();
    }
  });
  it('a user endpoint obeys the outbound rules: the name is checked where it resolves, at every connection', async () => {
    const port = new URL(s3.endpoint).port;
    // A name the test resolves itself: first to loopback (allowed by default), later remapped.
    let points = '127.0.0.1';
    const resolve = async (h: string) => {
      if (h !== 'bucket-host.test') throw new Error(`unexpected lookup of ${h}`);
      return [{ address: points, family: 4 }];
    };
    const named = { endpoint: `http://bucket-host.test:${port}` };
    const { id, file } = await recordingWith('n_peer_audio.webm', 5_000);
    // Loopback allowed: the upload really connects through the policy's lookup.
    await dest(named, 5 * MiB, new OutboundPolicy({ resolve })).put(id, file);
    assert.ok((await s3.keys('recs')).includes(`tenant/a/${id}/n_peer_audio.webm`));

    // Denied loopback: the same name is refused when the socket connects; nothing is stored.
    const second = await recordingWith('m_peer_audio.webm', 5_000);
    const strict = dest(named, 5 * MiB, new OutboundPolicy({ resolve, denyLoopback: true }));
    await assert.rejects(strict.put(second.id, second.file), (e: unknown) => {
      assert.ok(e instanceof StorageError, String(e));
      assert.match(e.message, /rule loopback/);
      assert.match(e.message, /bucket-host\.test resolves to 127\.0\.0\.1/);
      return true;
    });
    // A name remapped to the metadata address after the client was made: refused at connect.
    points = '169.254.169.254';
    const third = await recordingWith('k_peer_audio.webm', 5_000);
    const lax = dest(named, 5 * MiB, new OutboundPolicy({ resolve }));
    await assert.rejects(lax.put(third.id, third.file), /rule cloud-metadata/);
    // A literal address is checked before each call (sockets to literals skip any lookup).
    const literal = dest({}, 5 * MiB, new OutboundPolicy({ denyLoopback: true }));
    await assert.rejects(literal.put(third.id, third.file), /refused \(rule loopback\)/);
    const keys = await s3.keys('recs');
    for (const r of [second, third]) assert.ok(!keys.some((k) => k.includes(r.id)), `${r.id} not stored`);
  });
});
