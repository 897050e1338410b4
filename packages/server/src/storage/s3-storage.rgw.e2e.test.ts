/**
 * The s3 backend against Ceph's RADOS Gateway 16.2 (Debian's radosgw, a throwaway one-node cluster
 * started by the test on 127.0.0.1, see testing/rgw-test-server.ts), an S3 server that verifies
 * SigV4 signatures, which s3rver does not: a wrong secret with a known key id, presigned links that
 * were tampered with, cut or have expired. Also: single PUT and multipart confirmed by HEAD against
 * rgw's MD5 ETags, Range on presigned links, deletion of exactly the listed objects, and the
 * read-back confirmation (rgw's ETags are always MD5s, so a proxy in front of it rewrites the ETag of
 * HEAD answers, as an SSE-KMS bucket's would be). End-to-end layer: it starts real daemons, so run it
 * in `unshare -nm` like the other e2e tests.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, request, type IncomingHttpHeaders, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { GetObjectCommand, HeadObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { freePort } from '../testing/free-port.js';
import { RgwStartError, startRgwTestServer, type RgwTestServer } from '../testing/rgw-test-server.js';
import { s3DestinationFixture } from '../testing/s3-destination-fixture.js';
import { LocalRecordingStorage } from './local-storage.js';
import { StorageError } from './recording-storage.js';

const MiB = 1024 * 1024;
const md5 = (b: Uint8Array) => createHash('md5').update(b).digest();
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** What rgw answered a refused request: the status and the S3 error code of the XML body. */
async function refusal(url: string): Promise<{ status: number; code: string | undefined }> {
  const r = await fetch(url);
  const body = await r.text();
  return { status: r.status, code: /<Code>([^<]+)<\/Code>/.exec(body)?.[1] };
}

/**
 * A pass-through HTTP proxy in front of rgw (requests go on unchanged, Host included, so rgw still
 * verifies their signatures) that can give HEAD answers an ETag that is not an MD5, as SSE-KMS
 * buckets do, and flip a byte of GET bodies (a bucket that stored other bytes).
 */
async function etagProxy(target: number) {
  const mode = { foreignEtag: false, corruptGets: false };
  const seen: string[] = [];
  const server: Server = createServer((req, res) => {
    seen.push(req.method ?? '?');
    const up = request(
      { host: '127.0.0.1', port: target, method: req.method, path: req.url, headers: req.headers },
      (answer) => {
        const headers: IncomingHttpHeaders = { ...answer.headers };
        if (mode.foreignEtag && req.method === 'HEAD' && headers.etag) {
          headers.etag = `"${randomBytes(16).toString('hex')}"`;
        }
        res.writeHead(answer.statusCode ?? 502, headers);
        if (!(mode.corruptGets && req.method === 'GET')) {
          answer.pipe(res);
          return;
        }
        let first = true;
        answer.on('data', (c: Buffer) => {
          if (first && c.length > 0) {
            c[0] = (c[0] ?? 0) ^ 0xff;
            first = false;
          }
          res.write(c);
        });
        answer.on('end', () => res.end());
      },
    );
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    endpoint: `http://127.0.0.1:${port}`,
    mode,
    seen,
    close: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
    },
  };
}

describe('s3 backend against Ceph RGW 16.2 (verifies SigV4)', () => {
  let rgw: RgwTestServer;
  const root = mkdtempSync(join(tmpdir(), 's3-rgw-backend-'));
  const files = new LocalRecordingStorage(root);
  const { dest, recordingWith, closeAll } = s3DestinationFixture({
    files,
    server: () => ({ endpoint: rgw.endpoint, region: rgw.region, credentials: rgw.keys }),
  });
  const keysUnder = async (prefix: string) => {
    const r = await rgw.client().send(new ListObjectsV2Command({ Bucket: 'recs', Prefix: prefix }));
    return (r.Contents ?? []).map((o) => o.Key ?? '').sort();
  };
  const head = (key: string) => rgw.client().send(new HeadObjectCommand({ Bucket: 'recs', Key: key }));
  const stored = async (key: string) => {
    const r = await rgw.client().send(new GetObjectCommand({ Bucket: 'recs', Key: key }));
    return Buffer.from(await r.Body!.transformToByteArray());
  };

  before(async () => {
    rgw = await startRgwTestServer({ buckets: ['recs'] });
    const s = rgw.startup;
    console.log(
      `# rgw ready in ${s.total} ms (mon ${s.mon}, osd ${s.osd}, user and pools ${s.user}, radosgw ${s.rgw})`,
    );
  });
  after(async () => {
    closeAll();
    await rgw?.stop();
    rmSync(root, { recursive: true, force: true });
  });

  it('a single PUT is confirmed by HEAD: length, sha256 metadata and the MD5 ETag (no read-back)', async () => {
    const { id, bytes, file } = await recordingWith('a_peer_audio.webm', 100_000);
    const d = dest();
    await d.put(id, file);
    const key = `tenant/a/${id}/a_peer_audio.webm`;
    const h = await head(key);
    assert.equal(h.ETag, `"${md5(bytes).toString('hex')}"`, "rgw's ETag of a single PUT is the MD5");
    assert.equal(h.ContentLength, 100_000);
    assert.equal(h.ContentType, 'audio/webm');
    assert.equal(h.Metadata?.sha256, file.sha256);
    assert.equal(sha256(await stored(key)), file.sha256);
    assert.deepEqual(d.stats(), { objects: 1, bytes: 100_000, multipart: 0, readBacks: 0 });
  });

  it('multipart is confirmed by the MD5 of the part MD5s ("-3"), byte for byte', async () => {
    const size = 12 * MiB + 123;
    const { id, bytes, file } = await recordingWith('big_peer_audio.webm', size);
    const d = dest();
    await d.put(id, file);
    const key = `tenant/a/${id}/big_peer_audio.webm`;
    const parts = [0, 1, 2].map((i) => md5(bytes.subarray(i * 5 * MiB, Math.min(size, (i + 1) * 5 * MiB))));
    const h = await head(key);
    assert.equal(h.ETag, `"${md5(Buffer.concat(parts)).toString('hex')}-3"`);
    assert.equal(h.ContentLength, size);
    const back = await stored(key);
    assert.equal(back.length, size);
    assert.equal(sha256(back), file.sha256);
    assert.deepEqual(d.stats(), { objects: 1, bytes: size, multipart: 1, readBacks: 0 });
  });

  it('a wrong secret with the right key id is refused: SignatureDoesNotMatch (403), naming the object, no secret', async () => {
    const { id, file } = await recordingWith('w.webm', 1000);
    const secret = 'wrong-secret-3c9e71a0b2';
    const d = dest({ credentials: { accessKeyId: rgw.keys.accessKeyId, secretAccessKey: secret } });
    const err = await d.put(id, file).then(
      () => assert.fail('an upload signed with the wrong secret must be refused'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof StorageError, String(err));
    assert.equal(err.objectKey, `tenant/a/${id}/w.webm`);
    assert.match(err.message, new RegExp(`^upload of tenant/a/${id}/w\\.webm to bucket recs failed: `));
    // rgw sends no <Message>: the code and status are the whole storage error.
    assert.match(err.message, /failed: SignatureDoesNotMatch \(HTTP 403\)$/);
    assert.doesNotMatch(err.message, new RegExp(secret));
    assert.doesNotMatch(err.message, new RegExp(rgw.keys.secretAccessKey));
    assert.doesNotMatch(err.message, new RegExp(rgw.keys.accessKeyId), 'the key id is redacted too');
    assert.doesNotMatch(err.message, new RegExp(root), 'no local path');
    assert.deepEqual(await keysUnder(`tenant/a/${id}/`), [], 'nothing stored');
    // A link presigned with that secret is refused the same way.
    const good = await recordingWith('g.webm', 1000);
    await dest().put(good.id, good.file);
    const link = await d.downloadUrl(good.id, 'g.webm', Date.now() + 60_000);
    assert.deepEqual(await refusal(link), { status: 403, code: 'SignatureDoesNotMatch' });
  });

  it('a presigned download works with Range; one changed query character or a cut signature is refused 403', async () => {
    const { id, bytes, file } = await recordingWith('manifest.json', 5000);
    await dest().put(id, file);
    const url = await dest().downloadUrl(id, 'manifest.json', Date.now() + 60_000);
    assert.ok(url.startsWith(`${rgw.endpoint}/recs/tenant/a/${id}/manifest.json?`), url);
    const whole = await fetch(url);
    assert.equal(whole.status, 200);
    assert.equal(whole.headers.get('content-disposition'), 'attachment; filename="manifest.json"');
    assert.equal(sha256(Buffer.from(await whole.arrayBuffer())), file.sha256);
    const part = await fetch(url, { headers: { range: 'bytes=100-1099' } });
    assert.equal(part.status, 206);
    assert.equal(part.headers.get('content-range'), 'bytes 100-1099/5000');
    assert.deepEqual(Buffer.from(await part.arrayBuffer()), bytes.subarray(100, 1100));

    const sig = /X-Amz-Signature=([0-9a-f]{64})/.exec(url)?.[1];
    assert.ok(sig, url);
    const flip = (c: string) => (c === '0' ? '1' : '0');
    // One character of the signature.
    const badSig = url.replace(sig, sig.slice(0, -1) + flip(sig.slice(-1)));
    assert.deepEqual(await refusal(badSig), { status: 403, code: 'SignatureDoesNotMatch' });
    // One character of a signed parameter (the file name of the Content-Disposition it asks for).
    const disposition = url.replace('filename%3D%22manifest.json%22', 'filename%3D%22manifest.jsoN%22');
    assert.notEqual(disposition, url);
    assert.deepEqual(await refusal(disposition), { status: 403, code: 'SignatureDoesNotMatch' });
    // A digit added to the expiry (a longer life is not for the holder to choose).
    const longer = url.replace('X-Amz-Expires=', 'X-Amz-Expires=9');
    assert.deepEqual(await refusal(longer), { status: 403, code: 'SignatureDoesNotMatch' });
    // The signature cut short, or cut off.
    assert.deepEqual(await refusal(url.replace(sig, sig.slice(0, 32))), {
      status: 403,
      code: 'SignatureDoesNotMatch',
    });
    const unsigned = url.replace(/X-Amz-Signature=[0-9a-f]+&?/, '');
    assert.doesNotMatch(unsigned, /X-Amz-Signature/);
    assert.deepEqual(await refusal(unsigned), { status: 403, code: 'AccessDenied' });
    // The untouched link still works after all that.
    assert.equal((await fetch(url)).status, 200);
  });

  it('an expired presigned link (1 s) is refused', async () => {
    const { id, file } = await recordingWith('e.webm', 2000);
    const d = dest();
    await d.put(id, file);
    const url = await d.downloadUrl(id, 'e.webm', Date.now() + 1000);
    assert.match(url, /X-Amz-Expires=1&/);
    const signedAt = /X-Amz-Date=(\d{8}T\d{6}Z)/.exec(url)?.[1] ?? '';
    const signedMs = Date.parse(
      signedAt.replace(/^(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z$/, '$1-$2-$3T$4:$5:$6Z'),
    );
    assert.ok(Number.isFinite(signedMs), signedAt);
    // Expiry is a matter of the clock: wait until the link's second has passed (rgw has one-second
    // resolution, so a margin of a second).
    await delay(Math.max(0, signedMs + 2500 - Date.now()));
    assert.deepEqual(await refusal(url), { status: 403, code: 'AccessDenied' });
    const fresh = await d.downloadUrl(id, 'e.webm', Date.now() + 60_000);
    assert.equal((await fetch(fresh)).status, 200, 'the object is there: only the link expired');
  });

  it('deletes exactly the listed objects of one recording', async () => {
    const one = await recordingWith('x.webm', 1000);
    const other = await recordingWith('x.webm', 1000);
    const d = dest({ prefix: 'del' });
    await d.put(one.id, one.file);
    await d.put(other.id, other.file);
    assert.deepEqual(await keysUnder(`del/${one.id}/`), [`del/${one.id}/x.webm`]);
    // manifest.json was never stored: a missing object is fine.
    await d.delete(one.id, ['x.webm', 'manifest.json']);
    assert.deepEqual(await keysUnder('del/'), [`del/${other.id}/x.webm`]);
    // Deleting again is fine too.
    await d.delete(one.id, ['x.webm']);
    assert.deepEqual(await keysUnder('del/'), [`del/${other.id}/x.webm`]);
  });

  it('an ETag that is not an MD5 gets a read-back through rgw; a read-back with other bytes is an error', async () => {
    const proxy = await etagProxy(rgw.port);
    try {
      const via = { endpoint: proxy.endpoint };
      // Through the proxy unchanged: signatures verified by rgw, MD5 ETag, no read-back.
      const plain = await recordingWith('p_peer_audio.webm', 50_000);
      const d0 = dest(via);
      await d0.put(plain.id, plain.file);
      assert.equal(d0.stats().readBacks, 0);

      proxy.mode.foreignEtag = true;
      for (const size of [70_000, 11 * MiB]) {
        const r = await recordingWith(`r${size}_peer_audio.webm`, size);
        const d = dest(via);
        const gets = proxy.seen.filter((m) => m === 'GET').length;
        await d.put(r.id, r.file);
        assert.deepEqual(d.stats(), {
          objects: 1,
          bytes: size,
          multipart: size > 5 * MiB ? 1 : 0,
          readBacks: 1,
        });
        assert.equal(proxy.seen.filter((m) => m === 'GET').length, gets + 1, 'one GET: the read-back');
        assert.equal(sha256(await stored(`tenant/a/${r.id}/${r.file.fileName}`)), r.file.sha256);
      }

      proxy.mode.corruptGets = true;
      const bad = await recordingWith('c_peer_audio.webm', 40_000);
      const err = await dest(via)
        .put(bad.id, bad.file)
        .then(
          () => assert.fail('a read-back with other bytes must fail'),
          (e: unknown) => e,
        );
      assert.ok(err instanceof StorageError, String(err));
      assert.equal(
        err.message,
        `tenant/a/${bad.id}/c_peer_audio.webm: the stored object's sha256 differs from the manifest`,
      );
    } finally {
      await proxy.close();
    }
  });

  it('a cluster that cannot start fails with an error naming the log files, and leaves no daemon', async () => {
    const err = await startRgwTestServer({ rgwConfig: { rgw_frontends: 'beast endpoint=256.0.0.1:1' } }).then(
      async (s) => {
        await s.stop();
        return assert.fail('radosgw must refuse an endpoint it cannot parse');
      },
      (e: unknown) => e,
    );
    assert.ok(err instanceof RgwStartError, String(err));
    try {
      assert.match(err.message, /radosgw failed: radosgw exited \(code \d+\)/);
      assert.ok(err.directory, 'the directory is kept');
      const rgwLog = join(err.directory, 'log', 'client.rgw.a.log');
      assert.ok(err.message.includes(rgwLog), err.message);
      assert.ok(existsSync(rgwLog));
      assert.match(err.message, /failed initializing frontend/, 'the end of the rgw log is in the message');
      const left = spawnSync('pgrep', ['-f', join(err.directory, 'ceph.conf')], { encoding: 'utf8' });
      assert.equal(left.status, 1, `no daemon of that cluster is left: ${left.stdout}`);
    } finally {
      if (err.directory) rmSync(err.directory, { recursive: true, force: true });
    }
  });
});
