/**
 * storage_config, deletion and retention through the HTTP API (in-process), with a real
 * S3-compatible server (s3rver) where objects are involved. The whole path with a real recording
 * is e2e/src/recording-storage.e2e.test.ts.
 */
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { createLogger } from '../logger.js';
import { freshDataDir, startHarness, type Harness } from '../http/test-harness.js';
import { LocalRecordingStorage } from '../storage/local-storage.js';
import { S3Destination } from '../storage/s3-storage.js';
import { SecretBox } from '../storage/secret-box.js';
import type { RecordingRow, RecordingStorageRow } from '../store/types.js';
import { S3RVER_KEYS, sha256, startS3TestServer, type S3TestServer } from '../testing/s3-test-server.js';

const SECRET = 'http-test-secret-0f9e8d7c6b5a';
const KEY = 'HTTPTESTKEY42';

function row(appId: string, meetingId: string, stopped: string, storage?: RecordingStorageRow): RecordingRow {
  return {
    id: randomUUID(),
    app_id: appId,
    meeting_id: meetingId,
    session_id: null,
    type: 'TRACK',
    status: 'UPLOADED',
    invoked_time: stopped,
    started_time: stopped,
    stopped_time: stopped,
    output_file_name: 'x.webm',
    user_ids: null,
    layers: { default: { file_name_prefix: 'default', media_kind: 'audio' } },
    group_by: 'peer',
    align: 'recording_start',
    max_seconds: 3600,
    start_reason: { reason: 'API_CALL' },
    stop_reason: { reason: 'API_CALL' },
    error_reason: null,
    files: [],
    file_size: 0,
    recording_duration: 0,
    ...(storage ? { storage } : {}),
    created_at: stopped,
    updated_at: stopped,
  };
}

/** Writes files for a recording into DATA_DIR/recordings and lists them on the row. */
function withFiles(dataDir: string, rec: RecordingRow, names: string[]): RecordingRow {
  const files = new LocalRecordingStorage(join(dataDir, 'recordings'));
  for (const n of names) {
    const bytes = randomBytes(300);
    writeFileSync(files.localPath(rec.id, n), bytes);
    rec.files.push({
      layer_name: 'default',
      file_name: n,
      participant_id: 'p',
      custom_participant_id: 'c',
      peer_id: null,
      size_bytes: 300,
      duration_ms: 0,
      sha256: sha256(bytes),
    });
  }
  return rec;
}

describe('storage_config through the API', () => {
  let h: Harness;
  let logs = '';
  before(async () => {
    const logger = createLogger('debug', {}, { destination: { write: (s: string) => (logs += s) } });
    h = await startHarness({ logger });
  });
  after(() => h.destroy());

  const valid = {
    type: 'aws',
    bucket: 'my-recs',
    region: 'eu-west-1',
    path: 'team/a',
    access_key: KEY,
    secret: SECRET,
  };

  it('refuses azure and sftp with a 400 naming the type, and other bad configs naming the field', async () => {
    const m = (await h.req('POST', `${h.appBase}/meetings`, { title: 'sc' })).body.data.id;
    const before = await h.snapshot();
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ ...valid, type: 'azure' }, /storage_config\.type "azure" is not supported by this server/],
      [{ type: 'sftp', host: 'h', username: 'u', password: 'p' }, /"sftp" is not supported/],
      [{ ...valid, type: 'ftp' }, /storage_config\.type must be one of/],
      [{ ...valid, secret: undefined }, /needs access_key and secret/],
      [{ ...valid, bucket: undefined }, /storage_config\.bucket is required/],
      [{ ...valid, region: undefined }, /storage_config\.region is required for type aws/],
      [
        { ...valid, type: 'cloudflare', region: undefined },
        /storage_config\.endpoint is required for type cloudflare/,
      ],
      [{ ...valid, endpoint: 'file:///etc/passwd' }, /storage_config\.endpoint must be an http\(s\) URL/],
      [{ ...valid, path: 'a/../b' }, /storage_config\.path must be a key prefix/],
      [{ ...valid, force_path_style: 'yes' }, /force_path_style/],
      [{ ...valid, extra: 1 }, /storage_config/],
    ];
    for (const [cfg, msg] of cases) {
      const r = await h.req('POST', `${h.appBase}/recordings/track`, { meeting_id: m, storage_config: cfg });
      assert.equal(r.status, 400, `${JSON.stringify(cfg)} -> ${r.status} ${r.raw}`);
      assert.match(r.body.error.message, msg);
      assert.ok(!r.raw.includes(SECRET));
    }
    assert.equal(await h.snapshot(), before, 'nothing written');
    // A valid one passes the checks and meets the next one (no live session).
    const ok = await h.req('POST', `${h.appBase}/recordings/track`, { meeting_id: m, storage_config: valid });
    assert.equal(ok.status, 404);
    assert.match(ok.body.error.message, /no active session/);
  });

  it('a storage_config endpoint obeys the outbound rules, on the start call and on the meeting', async () => {
    const m = (await h.req('POST', `${h.appBase}/meetings`, { title: 'rules' })).body.data.id;
    const before = await h.snapshot();
    const refused: [string, RegExp][] = [
      ['http://169.254.169.254/', /rule cloud-metadata/],
      ['http://[::ffff:169.254.169.254]/', /rule cloud-metadata/],
      ['http://0xa9fea9fe/', /rule cloud-metadata/],
      ['http://[fe80::1]:9000/', /rule link-local/],
      ['http://metadata.google.internal/', /rule cloud-metadata/],
      ['http://user:pw@s3.example.com/', /rule credentials/],
    ];
    for (const [endpoint, rule] of refused) {
      const cfg = { ...valid, endpoint };
      const start = await h.req('POST', `${h.appBase}/recordings/track`, {
        meeting_id: m,
        storage_config: cfg,
      });
      assert.equal(start.status, 400, `${endpoint} -> ${start.raw}`);
      assert.equal(start.body.success, false);
      assert.match(start.body.error.message, /body\.storage_config\.endpoint is refused/);
      assert.match(start.body.error.message, rule);
      const meeting = await h.req('POST', `${h.appBase}/meetings`, {
        title: 'r',
        recording_config: { storage_config: cfg },
      });
      assert.equal(meeting.status, 400, `${endpoint} -> ${meeting.raw}`);
      assert.match(meeting.body.error.message, /recording_config\.storage_config\.endpoint is refused/);
      assert.ok(!start.raw.includes(SECRET) && !meeting.raw.includes(SECRET));
    }
    assert.equal(await h.snapshot(), before, 'nothing written');
    // Loopback and private endpoints (a bucket server beside this one) pass by default...
    for (const endpoint of ['http://127.0.0.1:9000', 'http://10.1.2.3:9000']) {
      const ok = await h.req('POST', `${h.appBase}/meetings`, {
        title: 'ok',
        recording_config: { storage_config: { ...valid, endpoint } },
      });
      assert.equal(ok.status, 201, ok.raw);
    }
    // ...and are refused once the deny settings say so.
    const strict = await startHarness({
      env: { WEBHOOK_DENY_LOOPBACK: 'true', WEBHOOK_DENY_PRIVATE: 'true' },
    });
    try {
      for (const [endpoint, rule] of [
        ['http://127.0.0.1:9000', /rule loopback/],
        ['http://10.1.2.3:9000', /rule private/],
      ] as const) {
        const r = await strict.req('POST', `${strict.appBase}/meetings`, {
          title: 'no',
          recording_config: { storage_config: { ...valid, endpoint } },
        });
        assert.equal(r.status, 400, r.raw);
        assert.match(r.body.error.message, rule);
      }
    } finally {
      await strict.destroy();
    }
  });

  it('a meeting’s storage_config is sealed at rest and shown without its keys', async () => {
    const created = await h.req('POST', `${h.appBase}/meetings`, {
      title: 'sealed',
      recording_config: { max_seconds: 600, storage_config: { ...valid, type: 'gcs', region: undefined } },
    });
    assert.equal(created.status, 201, created.raw);
    const shown = {
      type: 'gcs',
      bucket: 'my-recs',
      region: 'auto',
      path: 'team/a',
      endpoint: 'https://storage.googleapis.com',
      force_path_style: false,
    };
    assert.deepEqual(created.body.data.recording_config, { max_seconds: 600, storage_config: shown });
    const id = created.body.data.id;
    const got = await h.req('GET', `${h.appBase}/meetings/${id}`);
    assert.deepEqual(got.body.data.recording_config.storage_config, shown);
    const list = await h.req('GET', `${h.appBase}/meetings`);
    for (const r of [created, got, list]) {
      assert.ok(!r.raw.includes(SECRET) && !r.raw.includes(KEY), 'no key in any answer');
    }
    const stored = (await h.server.repo.meetings.get(id))!.recording_config!
      .storage_config as RecordingStorageRow;
    assert.ok(stored.secret_enc && !JSON.stringify(stored).includes(SECRET), 'encrypted in the store');
    assert.equal(new SecretBox(h.dir).open(stored.secret_enc, 'secret'), SECRET);
    assert.throws(
      () => new SecretBox(freshDataDir()).open(stored.secret_enc!, 'secret'),
      'no key file, no secret',
    );
    const dbText = await h.rawStore();
    assert.ok(dbText.includes(id), 'the raw store holds the meeting');
    assert.ok(!dbText.includes(SECRET));

    const patched = await h.req('PATCH', `${h.appBase}/meetings/${id}`, {
      recording_config: { storage_config: { ...valid, type: 'azure' } },
    });
    assert.equal(patched.status, 400);
    assert.match(patched.body.error.message, /recording_config\.storage_config\.type "azure"/);
    assert.ok(!logs.includes(SECRET) && !logs.includes(KEY), 'no key in any log line');
  });
});

describe('deletion and retention', () => {
  let s3: S3TestServer;
  let h: Harness;
  const dir = freshDataDir();
  const env = {
    RECORDINGS_STORAGE: 's3',
    RECORDINGS_S3_BUCKET: 'recs',
    RECORDINGS_S3_PREFIX: 'org',
    AWS_ACCESS_KEY_ID: 'S3RVER',
    AWS_SECRET_ACCESS_KEY: 'S3RVER',
    RECORDINGS_S3_FORCE_PATH_STYLE: 'true',
    RECORDINGS_RETENTION_DAYS: '30',
  };
  before(async () => {
    s3 = await startS3TestServer(['recs']);
  });
  after(async () => {
    await h?.destroy();
    await s3.stop();
  });

  it('retention deletes exactly the objects and files of recordings past the limit, at start', async () => {
    const full = { ...env, AWS_ENDPOINT_URL_S3: s3.endpoint };
    // A first start makes the store; the recordings are then put in place as if made long ago.
    const first = await startHarness({ dir, env: { ...full, RECORDINGS_RETENTION_DAYS: '' } });
    const meetingId = (await first.req('POST', `${first.appBase}/meetings`, { title: 'old' })).body.data.id;
    const storage: RecordingStorageRow = {
      backend: 's3',
      source: 'server',
      bucket: 'recs',
      region: 'us-east-1',
      path: 'org',
      endpoint: s3.endpoint,
      force_path_style: true,
    };
    const files = new LocalRecordingStorage(join(dir, 'recordings'));
    const dest = new S3Destination({
      location: {
        bucket: 'recs',
        prefix: 'org',
        region: 'us-east-1',
        endpoint: s3.endpoint,
        forcePathStyle: true,
        credentials: S3RVER_KEYS,
      },
      files,
    });
    const day = 86_400_000;
    const make = async (ageDays: number, st?: RecordingStorageRow) => {
      const r = row(first.appId, meetingId, new Date(Date.now() - ageDays * day).toISOString(), st);
      await files.workDir(r.id);
      withFiles(dir, r, ['a_peer_audio.webm', 'manifest.json']);
      if (st)
        for (const f of r.files)
          await dest.put(r.id, { fileName: f.file_name, sizeBytes: f.size_bytes, sha256: f.sha256 });
      await first.server.repo.recordings.insert(r);
      return r;
    };
    const oldS3 = await make(40, storage);
    const recentS3 = await make(2, storage);
    const oldLocal = await make(31);
    dest.close();
    const otherKey = `org/${randomUUID()}/unrelated.webm`;
    await s3.client().send(new PutObjectCommand({ Bucket: 'recs', Key: otherKey, Body: Buffer.from('x') }));
    const keysBefore = await s3.keys('recs');
    await first.close();

    h = await startHarness({ dir, env: full, ...(first.pgSchema ? { pgSchema: first.pgSchema } : {}) });
    const deadline = Date.now() + 10_000;
    while (!(await h.server.repo.recordings.get(oldLocal.id))?.deleted_at && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
    }
    for (const r of [oldS3, oldLocal]) {
      const got = await h.req('GET', `${h.appBase}/recordings/${r.id}`);
      assert.ok(got.body.data.deleted_at, `${r.id} is marked deleted`);
      assert.equal(got.body.data.download_url, null);
      assert.ok(!existsSync(join(dir, 'recordings', r.id)), 'its local files are gone');
    }
    const recent = await h.req('GET', `${h.appBase}/recordings/${recentS3.id}`);
    assert.equal(recent.body.data.deleted_at, undefined);
    assert.ok(
      recent.body.data.download_url[0].download_urls['manifest.json'].download_url.startsWith(s3.endpoint),
    );
    assert.deepEqual(
      await s3.keys('recs'),
      keysBefore.filter((k) => !k.includes(oldS3.id)),
      'exactly the old recording’s objects are gone; the recent one and an unrelated object stay',
    );
    const expired = await h.req('GET', `${h.appBase}/recordings?expired=true`);
    assert.deepEqual(
      expired.body.data.map((x: { id: string }) => x.id).sort(),
      [oldS3.id, oldLocal.id].sort(),
    );
  });

  it('DELETE of a local recording removes its files; a running one is 409; storage down is 503 and marks nothing', async () => {
    const meetingId = (await h.req('POST', `${h.appBase}/meetings`, { title: 'del' })).body.data.id;
    const files = new LocalRecordingStorage(join(dir, 'recordings'));
    const local = row(h.appId, meetingId, new Date().toISOString());
    await files.workDir(local.id);
    withFiles(dir, local, ['manifest.json']);
    await h.server.repo.recordings.insert(local);
    const del = await h.req('DELETE', `${h.appBase}/recordings/${local.id}`);
    assert.equal(del.status, 200, del.raw);
    assert.ok(del.body.data.deleted_at);
    assert.ok(!existsSync(join(dir, 'recordings', local.id)));
    const again = await h.req('DELETE', `${h.appBase}/recordings/${local.id}`);
    assert.equal(again.status, 200, 'deleting twice is fine');

    const running = { ...row(h.appId, meetingId, new Date().toISOString()), status: 'RECORDING' as const };
    await h.server.repo.recordings.insert(running);
    const r = await h.req('DELETE', `${h.appBase}/recordings/${running.id}`);
    assert.equal(r.status, 409);

    const inBucket = row(h.appId, meetingId, new Date().toISOString(), {
      backend: 's3',
      source: 'server',
      bucket: 'recs',
      region: 'us-east-1',
      path: 'org',
      endpoint: s3.endpoint,
      force_path_style: true,
    });
    inBucket.files.push({ ...local.files[0]! });
    await h.server.repo.recordings.insert(inBucket);
    await s3.stop();
    try {
      const down = await h.req('DELETE', `${h.appBase}/recordings/${inBucket.id}`);
      assert.equal(down.status, 503, down.raw);
      assert.equal(down.body.error.code, 503);
      assert.match(
        down.body.error.message,
        /could not be deleted: delete of org\/[0-9a-f-]+\/manifest\.json/,
      );
      assert.equal((await h.server.repo.recordings.get(inBucket.id))?.deleted_at, undefined);
    } finally {
      await s3.start();
    }
    const ok = await h.req('DELETE', `${h.appBase}/recordings/${inBucket.id}`);
    assert.equal(ok.status, 200);
  });
});
