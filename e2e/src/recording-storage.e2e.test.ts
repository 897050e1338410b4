/**
 * Recordings in a bucket, end to end: the real server process records a real WebRTC publisher
 * (werift) and uploads to a real S3-compatible server (s3rver on 127.0.0.1) through the AWS SDK.
 * Objects are read back (keys, sizes, sha256 against the manifest), presigned links are fetched with
 * Range and decoded with ffmpeg, the local copies are gone. storage_config on the start call and on
 * the meeting (precedence), secrets in no answer, log line, webhook or database file; the storage
 * down at stop, a server killed in the middle of an upload, wrong keys, a missing bucket; deletion.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { decodeMono, ffprobe, sineOpusPackets } from '@trackroom/recorder/testing';
import { sha256, startS3TestServer, type S3TestServer } from '@trackroom/server/testing';
import { OpusPublisher } from './support/opus-publisher.js';
import { api, startServer, type ServerProcess } from './support/server-process.js';
import { strongest } from './support/tone.js';
import { startWebhookReceiver, type WebhookReceiver } from './support/webhook-receiver.js';
import { until as untilPolled } from './support/until.js';

const work = mkdtempSync(join(tmpdir(), 'rec-storage-'));
const TENANT_KEY = `TENANTKEY${randomBytes(6).toString('hex').toUpperCase()}`;
const TENANT_SECRET = `tenant-secret-${randomBytes(12).toString('hex')}`;

let s3: S3TestServer;
before(async () => {
  s3 = await startS3TestServer(['server-recs', 'tenant-recs', 'meeting-recs']);
  s3.addKeys(TENANT_KEY, TENANT_SECRET);
});
after(async () => {
  await s3?.stop();
});

function serverEnv(extra: Record<string, string> = {}): Record<string, string> {
  return {
    RECORDINGS_STORAGE: 's3',
    RECORDINGS_S3_BUCKET: 'server-recs',
    RECORDINGS_S3_PREFIX: 'org/rec',
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'S3RVER',
    AWS_SECRET_ACCESS_KEY: 'S3RVER',
    AWS_ENDPOINT_URL_S3: s3.endpoint,
    RECORDINGS_S3_FORCE_PATH_STYLE: 'true',
    RECORDINGS_UPLOAD_RETRY_BASE_MS: '100',
    RECORDINGS_UPLOAD_MAX_ATTEMPTS: '4',
    LOG_LEVEL: 'debug',
    ...extra,
  };
}

const until = (what: string, fn: () => Promise<boolean> | boolean, timeoutMs = 30_000) =>
  untilPolled(what, fn, timeoutMs);

type Rec = Record<string, unknown> & {
  id: string;
  status: string;
  error_reason?: string;
  storage_config: Record<string, unknown> | null;
  download_url: { layer_name: string; download_urls: Record<string, { download_url: string }> }[] | null;
};

/** Every answer body a test saw, to grep for secrets at the end. */
const answers: string[] = [];

function client(server: ServerProcess) {
  const call = api(server);
  return async <T = Record<string, unknown>>(method: string, path: string, body?: unknown) => {
    const r = await call<T>(method, path, body);
    answers.push(JSON.stringify(r.json));
    return r;
  };
}

/** A meeting with one publishing participant playing a tone; answers its id and the publisher. */
async function meetingWithPublisher(
  server: ServerProcess,
  title: string,
  freq: number,
  recordingConfig?: Record<string, unknown>,
) {
  const call = client(server);
  const m = await call<{ data: { id: string } }>('POST', '/meetings', {
    title,
    ...(recordingConfig ? { recording_config: recordingConfig } : {}),
  });
  assert.equal(m.status, 201, JSON.stringify(m.json));
  const p = (
    await call<{ data: { token: string } }>('POST', `/meetings/${m.json.data.id}/participants`, {
      custom_participant_id: `${title}-p`,
      preset_name: 'group_call_host',
    })
  ).json.data;
  const pub = await OpusPublisher.connect(`${server.wsUrl}?authToken=${p.token}`);
  await pub.join();
  await pub.publish();
  pub.play(sineOpusPackets({ dir: work, frequency: freq, seconds: 4, channels: 1 }));
  await new Promise((r) => setTimeout(r, 300));
  return { meetingId: m.json.data.id, pub };
}

/** Starts a track recording, records ~1.5 s, stops it; answers the stop answer's recording. */
async function recordAndStop(server: ServerProcess, meetingId: string, extra: Record<string, unknown> = {}) {
  const call = client(server);
  const started = await call<{ data: { recording: Rec } }>('POST', '/recordings/track', {
    meeting_id: meetingId,
    ...extra,
  });
  assert.equal(started.status, 200, JSON.stringify(started.json));
  const id = started.json.data.recording.id;
  await until(
    'RECORDING',
    async () => (await call<{ data: Rec }>('GET', `/recordings/${id}`)).json.data.status === 'RECORDING',
  );
  await new Promise((r) => setTimeout(r, 1500));
  const stopped = await call<{ data: Rec }>('PUT', `/recordings/${id}`, { action: 'stop' });
  assert.equal(stopped.status, 200);
  return { id, started: started.json.data.recording, stopped: stopped.json.data };
}

async function waitFinal(server: ServerProcess, id: string, timeoutMs = 30_000): Promise<Rec> {
  const call = client(server);
  let rec!: Rec;
  await until(
    `recording ${id} UPLOADED or ERRORED`,
    async () => {
      rec = (await call<{ data: Rec }>('GET', `/recordings/${id}`)).json.data;
      return rec.status === 'UPLOADED' || rec.status === 'ERRORED';
    },
    timeoutMs,
  );
  return rec;
}

/** The recording's objects match its manifest byte for byte; answers the manifest. */
async function checkObjects(bucket: string, prefix: string, rec: Rec) {
  const layer = rec.download_url![0]!;
  const names = Object.keys(layer.download_urls).sort();
  const keys = (await s3.keys(bucket)).filter((k) => k.includes(rec.id));
  assert.deepEqual(
    keys,
    names.map((n) => `${prefix}/${rec.id}/${n}`).sort(),
    'exactly one object per file, under <path>/<recording id>/',
  );
  const manifest = JSON.parse(
    (await s3.get(bucket, `${prefix}/${rec.id}/manifest.json`)).toString('utf8'),
  ) as {
    files: { file_name: string; size_bytes: number; sha256: string }[];
  };
  assert.ok(manifest.files.length >= 1);
  for (const f of manifest.files) {
    const bytes = await s3.get(bucket, `${prefix}/${rec.id}/${f.file_name}`);
    assert.equal(bytes.length, f.size_bytes, `${f.file_name}: size`);
    assert.equal(sha256(bytes), f.sha256, `${f.file_name}: sha256`);
  }
  return { manifest, layer };
}

describe('recordings in a bucket', () => {
  let server: ServerProcess;
  let hooks: WebhookReceiver;
  before(async () => {
    hooks = await startWebhookReceiver();
    server = await startServer({ env: serverEnv() });
    const w = await client(server)('POST', '/webhooks', {
      name: 'all recordings',
      url: hooks.url,
      events: ['recording.statusUpdate'],
    });
    assert.equal(w.status, 201, JSON.stringify(w.json));
  });
  after(async () => {
    await server?.stop();
    await hooks?.close();
  });

  test('server default bucket: UPLOADING until stored, objects verified, presigned Range, local copy gone', async () => {
    const { meetingId, pub } = await meetingWithPublisher(server, 'server-default', 523);
    const { id, stopped } = await recordAndStop(server, meetingId);
    assert.equal(stopped.status, 'UPLOADING', 'the stop answer is UPLOADING: nothing is in the bucket yet');
    const rec = await waitFinal(server, id);
    await pub.leave();
    assert.equal(rec.status, 'UPLOADED', JSON.stringify(rec));
    assert.equal(rec.storage_config, null, 'the server default is not a storage_config of the recording');
    const { manifest, layer } = await checkObjects('server-recs', 'org/rec', rec);

    // Presigned links straight to the bucket; Range works; the file decodes to the tone.
    const webm = manifest.files.find((f) => f.file_name.endsWith('.webm'))!;
    const url = layer.download_urls[webm.file_name]!.download_url;
    assert.ok(url.startsWith(`${s3.endpoint}/server-recs/org/rec/${id}/`), url);
    const part = await fetch(url, { headers: { range: 'bytes=0-99' } });
    assert.equal(part.status, 206);
    assert.equal(part.headers.get('content-range'), `bytes 0-99/${webm.size_bytes}`);
    assert.equal((await part.arrayBuffer()).byteLength, 100);
    const path = join(work, webm.file_name);
    writeFileSync(path, Buffer.from(await (await fetch(url)).arrayBuffer()));
    assert.equal(ffprobe(path).codecName, 'opus');
    const { samples, status, stderr } = decodeMono(path);
    assert.equal(status, 0, stderr);
    assert.equal(strongest(samples, 0.3, Math.min(samples.length / 48000, 1.2), [440, 523, 660]), 523);

    assert.ok(
      !existsSync(join(server.dataDir, 'recordings', id)),
      'the local copy is deleted once confirmed',
    );
    const ofThis = (d: { body: unknown }) => (d.body as { recording?: { id: string } }).recording?.id === id;
    await hooks.waitFor((d) => ofThis(d) && d.raw.includes('"UPLOADED"'));
    const statuses = hooks.deliveries
      .filter(ofThis)
      .map((d) => (d.body as unknown as { recording: { status: string } }).recording.status);
    assert.deepEqual(statuses.slice(-2), ['UPLOADING', 'UPLOADED'], 'webhooks: UPLOADING, then UPLOADED');
  });

  test('storage_config: start call > meeting > server; azure refused by name; secrets never shown or stored in clear', async () => {
    const tenant = {
      type: 'aws',
      bucket: 'tenant-recs',
      region: 'us-east-1',
      path: 'tenants/acme',
      access_key: TENANT_KEY,
      secret: TENANT_SECRET,
      endpoint: s3.endpoint,
    };
    const onMeeting = { ...tenant, bucket: 'meeting-recs', path: 'from-meeting' };
    const { meetingId, pub } = await meetingWithPublisher(server, 'per-recording', 660, {
      storage_config: onMeeting,
    });
    const call = client(server);
    const meeting = await call<{ data: { recording_config: { storage_config: Record<string, unknown> } } }>(
      'GET',
      `/meetings/${meetingId}`,
    );
    assert.deepEqual(meeting.json.data.recording_config.storage_config, {
      type: 'aws',
      bucket: 'meeting-recs',
      region: 'us-east-1',
      path: 'from-meeting',
      endpoint: s3.endpoint,
      force_path_style: true,
    });

    const azure = await call<{ error: { message: string } }>('POST', '/recordings/track', {
      meeting_id: meetingId,
      storage_config: { ...tenant, type: 'azure' },
    });
    assert.equal(azure.status, 400);
    assert.match(azure.json.error.message, /"azure" is not supported/);
    const sftp = await call<{ error: { message: string } }>('POST', '/recordings/track', {
      meeting_id: meetingId,
      storage_config: { type: 'sftp', host: 'example.invalid', username: 'u', password: 'p' },
    });
    assert.equal(sftp.status, 400);
    assert.match(sftp.json.error.message, /"sftp" is not supported/);

    // The meeting's storage_config applies when the start call has none.
    const fromMeeting = await recordAndStop(server, meetingId);
    const r1 = await waitFinal(server, fromMeeting.id);
    assert.equal(r1.status, 'UPLOADED', JSON.stringify(r1));
    assert.equal((r1.storage_config as { bucket: string }).bucket, 'meeting-recs');
    await checkObjects('meeting-recs', 'from-meeting', r1);

    // The start call's wins over the meeting's.
    const fromCall = await recordAndStop(server, meetingId, { storage_config: tenant });
    assert.deepEqual(fromCall.started.storage_config, {
      type: 'aws',
      bucket: 'tenant-recs',
      region: 'us-east-1',
      path: 'tenants/acme',
      endpoint: s3.endpoint,
      force_path_style: true,
    });
    const r2 = await waitFinal(server, fromCall.id);
    await pub.leave();
    assert.equal(r2.status, 'UPLOADED', JSON.stringify(r2));
    await checkObjects('tenant-recs', 'tenants/acme', r2);
    assert.ok(
      (await s3.keys('server-recs')).every((k) => !k.includes(r2.id)),
      'nothing in the server bucket',
    );
    const list = await call<{ data: Rec[] }>('GET', `/recordings?meeting_id=${meetingId}`);
    assert.equal(list.json.data.length, 2);

    // Secrets: in no answer, log line, webhook, nor in the database file (it is encrypted there).
    await hooks.waitFor((d) => JSON.stringify(d.body).includes(r2.id) && d.raw.includes('UPLOADED'));
    const db = readdirSync(server.dataDir)
      .filter((f) => f.startsWith('trackroom.db'))
      .map((f) => readFileSync(join(server.dataDir, f)).toString('latin1'))
      .join('');
    assert.ok(db.includes('tenant-recs'), 'the database file is readable as text (the check can fail)');
    // A presigned link carries the access key id in X-Amz-Credential (SigV4 needs it; it is an
    // identifier, not the secret): the only place it may appear.
    const allAnswers = answers.join('\n');
    assert.ok(allAnswers.includes(`X-Amz-Credential=${TENANT_KEY}`), 'links are signed with the tenant key');
    for (const [what, text] of [
      ['answers', allAnswers.replace(/X-Amz-Credential=[^&"]*/g, '')],
      ['logs', server.output()],
      ['webhooks', hooks.deliveries.map((d) => d.raw).join('\n')],
      ['database', db],
    ] as const) {
      assert.ok(!text.includes(TENANT_SECRET), `the secret is not in the ${what}`);
      assert.ok(!text.includes(TENANT_KEY), `the access key is not in the ${what}`);
    }
    assert.ok(
      server.output().includes('"level":"debug"') || server.output().includes('"level":"info"'),
      'logs were captured',
    );
  });

  test('wrong keys and a missing bucket: ERRORED after the retries, naming the object and the error', async () => {
    const { meetingId, pub } = await meetingWithPublisher(server, 'faults', 440);
    const wrong = await recordAndStop(server, meetingId, {
      storage_config: {
        type: 'aws',
        bucket: 'tenant-recs',
        region: 'us-east-1',
        access_key: 'UNKNOWNKEY123',
        secret: 'wrong-secret-value-9911',
        endpoint: s3.endpoint,
      },
    });
    const r1 = await waitFinal(server, wrong.id);
    assert.equal(r1.status, 'ERRORED');
    assert.match(
      r1.error_reason!,
      /^upload failed after 4 attempts: upload of [0-9a-f-]{36}\/\S+\.webm to bucket tenant-recs failed: InvalidAccessKeyId \(HTTP 403\)/,
    );
    assert.doesNotMatch(r1.error_reason!, /wrong-secret-value-9911|UNKNOWNKEY123/);
    assert.doesNotMatch(r1.error_reason!, new RegExp(server.dataDir), 'no local path');
    assert.ok(existsSync(join(server.dataDir, 'recordings', wrong.id)), 'the local files are kept');
    assert.ok(!server.output().includes('wrong-secret-value-9911'));

    const missing = await recordAndStop(server, meetingId, {
      storage_config: {
        type: 'digitalocean',
        bucket: 'no-such-bucket',
        region: 'nyc3',
        access_key: TENANT_KEY,
        secret: TENANT_SECRET,
        endpoint: s3.endpoint,
      },
    });
    const r2 = await waitFinal(server, missing.id);
    await pub.leave();
    assert.equal(r2.status, 'ERRORED');
    assert.match(r2.error_reason!, /bucket no-such-bucket failed: NoSuchBucket/);
  });

  test('DELETE removes exactly the recording’s objects; expired=true lists it', async () => {
    const { meetingId, pub } = await meetingWithPublisher(server, 'delete', 523);
    const a = await recordAndStop(server, meetingId);
    const ra = await waitFinal(server, a.id);
    const b = await recordAndStop(server, meetingId);
    const rb = await waitFinal(server, b.id);
    await pub.leave();
    assert.equal(ra.status, 'UPLOADED');
    assert.equal(rb.status, 'UPLOADED');
    const before = await s3.keys('server-recs');
    const call = client(server);
    const unknown = await call('DELETE', `/recordings/00000000-0000-4000-8000-000000000000`);
    assert.equal(unknown.status, 404);
    const del = await call<{ data: Rec & { deleted_at: string } }>('DELETE', `/recordings/${a.id}`);
    assert.equal(del.status, 200, JSON.stringify(del.json));
    assert.ok(del.json.data.deleted_at);
    assert.equal(del.json.data.download_url, null);
    const afterKeys = await s3.keys('server-recs');
    assert.deepEqual(
      afterKeys,
      before.filter((k) => !k.includes(a.id)),
      'only the deleted recording’s objects are gone',
    );
    assert.ok(afterKeys.some((k) => k.includes(b.id)));
    const expired = await call<{ data: Rec[] }>('GET', `/recordings?meeting_id=${meetingId}&expired=true`);
    assert.deepEqual(
      expired.json.data.map((r) => r.id),
      [a.id],
    );
    const live = await call<{ data: Rec[] }>('GET', `/recordings?meeting_id=${meetingId}&expired=false`);
    assert.deepEqual(
      live.json.data.map((r) => r.id),
      [b.id],
    );
  });
});

describe('faults of the storage', () => {
  test('a recording repaired after a crash is uploaded like any other', async () => {
    const server = await startServer({ env: serverEnv() });
    let again: ServerProcess | undefined;
    try {
      const { meetingId, pub } = await meetingWithPublisher(server, 'crash', 523);
      const call = client(server);
      const started = await call<{ data: { recording: Rec } }>('POST', '/recordings/track', {
        meeting_id: meetingId,
      });
      const id = started.json.data.recording.id;
      const dir = join(server.dataDir, 'recordings', id);
      // At least one cluster (2 s) on disk, then killed without warning.
      await until('a cluster on disk', () => {
        const f = existsSync(dir) ? readdirSync(dir).find((n) => n.endsWith('.webm')) : undefined;
        return f !== undefined && readFileSync(join(dir, f)).length > 8000;
      });
      await server.stop('SIGKILL');
      await pub.leave();
      again = await startServer({ dataDir: server.dataDir, env: serverEnv() });
      const rec = await waitFinal(again, id);
      assert.equal(rec.status, 'UPLOADED', JSON.stringify(rec));
      assert.equal((rec.stop_reason as { reason: string }).reason, 'INTERNAL_ERROR');
      const { manifest } = await checkObjects('server-recs', 'org/rec', rec);
      assert.equal((manifest as unknown as { repaired_after_crash: boolean }).repaired_after_crash, true);
      assert.ok(!existsSync(dir), 'local copy deleted after confirmation');
    } finally {
      await server.stop();
      await again?.stop();
    }
  });

  test('storage down at stop, then the server killed while UPLOADING: the upload completes once after both come back', async () => {
    const server = await startServer({ env: serverEnv({ RECORDINGS_UPLOAD_MAX_ATTEMPTS: '50' }) });
    let again: ServerProcess | undefined;
    try {
      const { meetingId, pub } = await meetingWithPublisher(server, 'down', 660);
      const call = client(server);
      const started = await call<{ data: { recording: Rec } }>('POST', '/recordings/track', {
        meeting_id: meetingId,
      });
      const id = started.json.data.recording.id;
      await new Promise((r) => setTimeout(r, 1500));
      await s3.stop();
      const stopped = await call<{ data: Rec }>('PUT', `/recordings/${id}`, { action: 'stop' });
      assert.equal(stopped.json.data.status, 'UPLOADING');
      await pub.leave();
      await until('a retry after the failed upload', () =>
        server.output().includes('upload failed; will retry'),
      );
      assert.equal((await call<{ data: Rec }>('GET', `/recordings/${id}`)).json.data.status, 'UPLOADING');
      const local = readdirSync(join(server.dataDir, 'recordings', id));
      assert.ok(local.includes('manifest.json') && local.some((n) => n.endsWith('.webm')), 'local copy kept');

      // Killed in the middle of its upload; the storage comes back; a new process resumes it.
      await server.stop('SIGKILL');
      await s3.start();
      again = await startServer({ dataDir: server.dataDir, env: serverEnv() });
      const rec = await waitFinal(again, id);
      assert.equal(rec.status, 'UPLOADED', JSON.stringify(rec));
      await checkObjects('server-recs', 'org/rec', rec);
      assert.ok(!existsSync(join(server.dataDir, 'recordings', id)), 'local copy deleted after confirmation');
    } finally {
      await server.stop();
      await again?.stop();
      await s3.start();
    }
  });
});
