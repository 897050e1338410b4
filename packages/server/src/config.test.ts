import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ConfigError, loadConfig } from './config.js';

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
});
