import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ConfigError, describeTurn, loadConfig, workerIcePorts } from './config.js';

const base = () => ({
  DATA_DIR: mkdtempSync(join(tmpdir(), 'cfg-')),
  RTK_API_TOKEN: 'config-test-token-0123456789',
});

void describe('loadConfig', () => {
  void it('uses the documented defaults', () => {
    const c = loadConfig(base());
    assert.equal(c.port, 8787);
    assert.equal(c.host, '127.0.0.1');
    assert.equal(c.accountId, 'local');
    assert.equal(c.publicUrl, 'http://127.0.0.1:8787');
    assert.equal(c.ice.bindAddress, '127.0.0.1');
    assert.equal(c.ice.udpMuxPort, 8787, 'media share one UDP port, numbered like the HTTP port');
    assert.equal(c.downloadUrlTtlSeconds, 7 * 24 * 3600);
  });

  void it('turns the UDP mux off on request, with a port range, or when the HTTP port is system-picked', () => {
    assert.equal(loadConfig({ ...base(), RTC_UDP_MUX_PORT: 'off' }).ice.udpMuxPort, undefined);
    assert.equal(
      loadConfig({ ...base(), RTC_PORT_RANGE_BEGIN: '40000', RTC_PORT_RANGE_END: '40100' }).ice.udpMuxPort,
      undefined,
    );
    assert.equal(loadConfig({ ...base(), PORT: '0' }).ice.udpMuxPort, undefined);
    assert.equal(loadConfig({ ...base(), RTC_UDP_MUX_PORT: '50000' }).ice.udpMuxPort, 50000);
  });

  void it('reads the operations block: token list, webhook deny rules, metrics token', () => {
    const d = loadConfig(base());
    assert.deepEqual(d.webhookTargets, { denyLoopback: false, denyPrivate: false, denyCidrs: [] });
    assert.equal(d.metricsToken, undefined);
    assert.deepEqual(d.apiTokens, [d.apiToken]);
    const c = loadConfig({
      ...base(),
      RTK_API_TOKEN: 'first-token-0123456789,second-token-0123456789',
      WEBHOOK_DENY_LOOPBACK: 'true',
      WEBHOOK_DENY_PRIVATE: '1',
      WEBHOOK_DENY_CIDRS: '10.20.0.0/16, 2001:db8::/32',
      METRICS_TOKEN: 'metrics-token-0123456789',
    });
    assert.deepEqual(c.apiTokens, ['first-token-0123456789', 'second-token-0123456789']);
    assert.equal(c.apiToken, 'first-token-0123456789');
    assert.deepEqual(c.webhookTargets, {
      denyLoopback: true,
      denyPrivate: true,
      denyCidrs: ['10.20.0.0/16', '2001:db8::/32'],
    });
    for (const [k, v, re] of [
      ['WEBHOOK_DENY_LOOPBACK', 'maybe', /WEBHOOK_DENY_LOOPBACK must be true or false/],
      ['WEBHOOK_DENY_CIDRS', '10.0.0.0/40', /WEBHOOK_DENY_CIDRS: "10.0.0.0\/40" is not a CIDR/],
      ['METRICS_TOKEN', 'short', /METRICS_TOKEN must be at least 16/],
      ['RTK_API_TOKEN', 'long-enough-token-0123,short', /RTK_API_TOKEN must be at least 16/],
    ] as const) {
      assert.throws(
        () => loadConfig({ ...base(), [k]: v }),
        (e: unknown) => e instanceof ConfigError && re.test(e.message),
        k,
      );
    }
  });

  void it('refuses bad values with a message naming the variable', () => {
    assert.throws(
      () => loadConfig({ ...base(), PORT: 'eighty' }),
      (e: unknown) => e instanceof ConfigError && /PORT/.test(e.message),
    );
    assert.throws(() => loadConfig({ ...base(), RTC_UDP_MUX_PORT: '80' }), /RTC_UDP_MUX_PORT/);
    assert.throws(() => loadConfig({ ...base(), RTC_PORT_RANGE_BEGIN: '40000' }), /RTC_PORT_RANGE/);
    assert.throws(() => loadConfig({ ...base(), RTK_API_TOKEN: 'short' }), /RTK_API_TOKEN/);
    assert.throws(() => loadConfig({ ...base(), RTK_ACCOUNT_ID: '../etc' }), /RTK_ACCOUNT_ID/);
  });

  void it('reads the cluster block: off without REDIS_URL, heartbeat and dead-after timing', () => {
    const off = loadConfig(base());
    assert.deepEqual(off.cluster, { redisUrl: undefined, heartbeatMs: 2000, deadAfterMs: 10_000 });
    const on = loadConfig({ ...base(), REDIS_URL: 'redis://10.0.0.5:6379/2', NODE_HEARTBEAT_MS: '500' });
    assert.deepEqual(on.cluster, {
      redisUrl: 'redis://10.0.0.5:6379/2',
      heartbeatMs: 500,
      deadAfterMs: 2500,
    });
    assert.equal(loadConfig({ ...base(), NODE_DEAD_AFTER_MS: '7000' }).cluster.deadAfterMs, 7000);
    assert.throws(
      () => loadConfig({ ...base(), REDIS_URL: 'http://x' }),
      /REDIS_URL must start with redis:\/\//,
    );
    assert.throws(() => loadConfig({ ...base(), REDIS_URL: 'not a url' }), /REDIS_URL must be a URL/);
    assert.throws(
      () => loadConfig({ ...base(), NODE_HEARTBEAT_MS: '2000', NODE_DEAD_AFTER_MS: '3000' }),
      /NODE_DEAD_AFTER_MS must be at least twice NODE_HEARTBEAT_MS/,
    );
    assert.throws(() => loadConfig({ ...base(), NODE_HEARTBEAT_MS: '5' }), /NODE_HEARTBEAT_MS/);
  });

  void it('reads the recording storage block: local by default, s3 with the AWS SDK variables', () => {
    const local = loadConfig(base()).recordingStorage;
    assert.equal(local.backend, 'local');
    assert.equal(local.s3, undefined);
    assert.equal(local.retentionDays, undefined);
    const s3 = loadConfig({
      ...base(),
      RECORDINGS_STORAGE: 's3',
      RECORDINGS_S3_BUCKET: 'recs',
      RECORDINGS_S3_PREFIX: '/org/rec/',
      AWS_REGION: 'eu-west-1',
      AWS_ACCESS_KEY_ID: 'AKIA1',
      AWS_SECRET_ACCESS_KEY: 's',
      AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:9000',
      RECORDINGS_S3_FORCE_PATH_STYLE: 'true',
      RECORDINGS_RETENTION_DAYS: '30',
    }).recordingStorage;
    assert.deepEqual(s3.s3, {
      bucket: 'recs',
      prefix: 'org/rec',
      region: 'eu-west-1',
      endpoint: 'http://127.0.0.1:9000',
      forcePathStyle: true,
      accessKeyId: 'AKIA1',
      secretAccessKey: 's',
    });
    assert.equal(s3.retentionDays, 30);
    const bare = loadConfig({
      ...base(),
      RECORDINGS_STORAGE: 's3',
      RECORDINGS_S3_BUCKET: 'b',
    }).recordingStorage;
    assert.equal(bare.s3?.region, 'us-east-1');
    assert.equal(bare.s3?.accessKeyId, undefined, 'no keys: the SDK default chain');
  });

  void it('refuses a bad recording storage configuration, naming the variable', () => {
    assert.throws(() => loadConfig({ ...base(), RECORDINGS_STORAGE: 'ftp' }), /RECORDINGS_STORAGE/);
    assert.throws(() => loadConfig({ ...base(), RECORDINGS_STORAGE: 's3' }), /RECORDINGS_S3_BUCKET/);
    const s3 = { ...base(), RECORDINGS_STORAGE: 's3', RECORDINGS_S3_BUCKET: 'b' };
    assert.throws(() => loadConfig({ ...s3, RECORDINGS_S3_PREFIX: 'a/../b' }), /RECORDINGS_S3_PREFIX/);
    assert.throws(() => loadConfig({ ...s3, AWS_ENDPOINT_URL_S3: 'ftp://x' }), /AWS_ENDPOINT_URL_S3/);
    assert.throws(() => loadConfig({ ...s3, RECORDINGS_S3_FORCE_PATH_STYLE: 'yes' }), /FORCE_PATH_STYLE/);
    assert.throws(() => loadConfig({ ...s3, AWS_ACCESS_KEY_ID: 'a' }), /AWS_SECRET_ACCESS_KEY/);
    assert.throws(
      () => loadConfig({ ...base(), RECORDINGS_RETENTION_DAYS: '0' }),
      /RECORDINGS_RETENTION_DAYS/,
    );
  });

  void it('MEDIA_WORKERS: default the cores, 1..64, one UDP mux port or range slice per worker', () => {
    assert.ok(loadConfig(base()).mediaWorkers >= 1);
    assert.equal(loadConfig({ ...base(), MEDIA_WORKERS: '1' }).mediaWorkers, 1);
    assert.throws(() => loadConfig({ ...base(), MEDIA_WORKERS: '0' }), /MEDIA_WORKERS/);
    assert.throws(() => loadConfig({ ...base(), MEDIA_WORKERS: '65' }), /MEDIA_WORKERS/);
    const c = loadConfig({ ...base(), MEDIA_WORKERS: '3', PORT: '9000' });
    assert.deepEqual(
      [0, 1, 2].map((i) => workerIcePorts(c.ice, i, 3)),
      [{ udpMuxPort: 9000 }, { udpMuxPort: 9001 }, { udpMuxPort: 9002 }],
    );
    const r = loadConfig({
      ...base(),
      MEDIA_WORKERS: '2',
      RTC_PORT_RANGE_BEGIN: '40000',
      RTC_PORT_RANGE_END: '40099',
    });
    assert.deepEqual(workerIcePorts(r.ice, 1, 2), { portRangeBegin: 40050, portRangeEnd: 40099 });
    assert.deepEqual(workerIcePorts(loadConfig({ ...base(), PORT: '0' }).ice, 1, 2), {});
    // Ports that would leave the range, or a range too small to share, are refused.
    assert.throws(
      () => loadConfig({ ...base(), MEDIA_WORKERS: '2', RTC_UDP_MUX_PORT: '65535' }),
      /MEDIA_WORKERS=2 needs UDP ports 65535\.\.65536/,
    );
    assert.throws(
      () =>
        loadConfig({
          ...base(),
          MEDIA_WORKERS: '4',
          RTC_PORT_RANGE_BEGIN: '40000',
          RTC_PORT_RANGE_END: '40002',
        }),
      /too few for MEDIA_WORKERS=4/,
    );
  });

  void it('reads TURN: shared secret (TTL default one day) or static credentials, never both', () => {
    assert.equal(loadConfig(base()).turn, undefined);
    const urls = 'turn:turn.example.com:3478?transport=udp, turns:turn.example.com:443?transport=tcp';
    const s = loadConfig({ ...base(), TURN_URLS: urls, TURN_SECRET: 'north-wind-secret' });
    assert.deepEqual(s.turn, {
      urls: ['turn:turn.example.com:3478?transport=udp', 'turns:turn.example.com:443?transport=tcp'],
      auth: { type: 'secret', secret: 'north-wind-secret', ttlSeconds: 86400 },
    });
    assert.deepEqual(
      loadConfig({ ...base(), TURN_URLS: urls, TURN_SECRET: 'x', TURN_TTL_SECONDS: '3600' }).turn?.auth,
      { type: 'secret', secret: 'x', ttlSeconds: 3600 },
    );
    const st = loadConfig({
      ...base(),
      TURN_URLS: 'turn:10.0.0.1',
      TURN_USERNAME: 'u',
      TURN_CREDENTIAL: 'p',
    });
    assert.deepEqual(st.turn?.auth, { type: 'static', username: 'u', credential: 'p' });
    // The startup log names the kind of credentials, never the secret.
    assert.ok(!JSON.stringify(describeTurn(s.turn)).includes('north-wind-secret'));
    assert.deepEqual(describeTurn(undefined), { turn: 'off' });
  });

  void it('refuses a TURN setup that cannot work, naming the variables and never the secret', () => {
    const u = 'turn:turn.example.com';
    for (const [env, re] of [
      [{ TURN_SECRET: 'north-wind-secret' }, /TURN_SECRET is set but TURN_URLS is not/],
      [
        { TURN_USERNAME: 'u', TURN_CREDENTIAL: 'p' },
        /TURN_USERNAME, TURN_CREDENTIAL are set but TURN_URLS is not/,
      ],
      [{ TURN_URLS: u }, /TURN_URLS needs credentials: TURN_SECRET .* or TURN_USERNAME and TURN_CREDENTIAL/],
      [{ TURN_URLS: u, TURN_USERNAME: 'u' }, /TURN_USERNAME and TURN_CREDENTIAL must be set together/],
      [
        { TURN_URLS: u, TURN_SECRET: 'north-wind-secret', TURN_USERNAME: 'u', TURN_CREDENTIAL: 'p' },
        /TURN_SECRET and TURN_USERNAME\/TURN_CREDENTIAL are both set/,
      ],
      [
        { TURN_URLS: u, TURN_USERNAME: 'u', TURN_CREDENTIAL: 'p', TURN_TTL_SECONDS: '60' },
        /applies to TURN_SECRET/,
      ],
      [
        { TURN_URLS: u, TURN_SECRET: 'north-wind-secret', TURN_TTL_SECONDS: '10' },
        /TURN_TTL_SECONDS must be an integer from 60/,
      ],
      [
        { TURN_URLS: 'turn:a@b.example.com', TURN_SECRET: 'north-wind-secret' },
        /TURN_URLS: .*not in the URL/,
      ],
      [
        { TURN_URLS: 'stun:stun.example.com', TURN_SECRET: 'north-wind-secret' },
        /TURN_URLS: .*only turn: and turns:/,
      ],
      [{ TURN_URLS: `${u},${u}`, TURN_SECRET: 'north-wind-secret' }, /lists a URL twice/],
    ] as const) {
      assert.throws(
        () => loadConfig({ ...base(), ...env }),
        (e: unknown) =>
          e instanceof ConfigError && re.test(e.message) && !e.message.includes('north-wind-secret'),
        JSON.stringify(env),
      );
    }
  });
});
