import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  OUTBOUND_RULES,
  OutboundPolicy,
  OutboundRefusedError,
  parseCidr,
  type OutboundRule,
} from './outbound-url.js';

const SELF_PORT = 8787;
const policy = (o: ConstructorParameters<typeof OutboundPolicy>[0] = {}) =>
  new OutboundPolicy({
    self: { port: () => SELF_PORT, hosts: ['127.0.0.1'], publicOrigin: () => 'https://meet.example.org' },
    ...o,
  });

function ruleOf(p: OutboundPolicy, url: string): OutboundRule | undefined {
  return p.checkUrl(url)?.rule;
}

describe('OutboundPolicy.checkUrl (the URL as written, at registration)', () => {
  const p = policy();

  it('refuses link-local and cloud metadata targets in every spelling', () => {
    const cases: [string, OutboundRule][] = [
      ['http://169.254.169.254/latest/meta-data/', 'cloud-metadata'],
      ['http://169.254.169.254./latest/meta-data/', 'cloud-metadata'],
      ['http://0xa9fea9fe/', 'cloud-metadata'],
      ['http://0xA9.0xFE.0xA9.0xFE/', 'cloud-metadata'],
      ['http://0251.0376.0251.0376/', 'cloud-metadata'],
      ['http://2852039166/', 'cloud-metadata'],
      ['http://169.254.43518/', 'cloud-metadata'],
      ['http://[::ffff:169.254.169.254]/', 'cloud-metadata'],
      ['http://[::ffff:a9fe:a9fe]/', 'cloud-metadata'],
      ['http://[0:0:0:0:0:ffff:a9fe:a9fe]/', 'cloud-metadata'],
      ['http://[::169.254.169.254]/', 'cloud-metadata'],
      ['http://[64:ff9b::a9fe:a9fe]/', 'cloud-metadata'],
      ['http://[2002:a9fe:a9fe::1]/', 'cloud-metadata'],
      ['http://[fd00:ec2::254]/', 'cloud-metadata'],
      ['http://100.100.100.200/', 'cloud-metadata'],
      ['http://metadata.google.internal/computeMetadata/v1/', 'cloud-metadata'],
      ['http://METADATA.GOOGLE.INTERNAL./', 'cloud-metadata'],
      ['http://169.254.1.1/', 'link-local'],
      ['http://0xa9fe0101/', 'link-local'],
      ['http://[fe80::1]/', 'link-local'],
      ['http://[FE80::abcd:1]:8080/', 'link-local'],
      ['http://[febf::1]/', 'link-local'],
      ['http://[::ffff:169.254.1.1]/', 'link-local'],
    ];
    for (const [url, rule] of cases) assert.equal(ruleOf(p, url), rule, url);
  });

  it('refuses non-unicast and reserved addresses', () => {
    for (const url of [
      'http://0.0.0.0/',
      'http://0/',
      'http://[::]/',
      'http://224.0.0.1/',
      'http://255.255.255.255/',
      'http://240.0.0.1/',
      'http://[ff02::1]/',
      'http://[2001:db8::1]/',
      'http://[::ffff:0.0.0.0]/',
    ]) {
      assert.equal(ruleOf(p, url), 'reserved', url);
    }
  });

  it("refuses the server's own port on loopback, in every spelling, and its public URL", () => {
    for (const url of [
      `http://127.0.0.1:${SELF_PORT}/client/v4/accounts/local/realtime/kit/x/meetings`,
      `http://127.1:${SELF_PORT}/`,
      `http://0x7f000001:${SELF_PORT}/`,
      `http://2130706433:${SELF_PORT}/`,
      `http://127.0.0.2:${SELF_PORT}/`,
      `http://[::1]:${SELF_PORT}/`,
      `http://[::ffff:127.0.0.1]:${SELF_PORT}/`,
      `http://localhost:${SELF_PORT}/`,
      `http://localhost.:${SELF_PORT}/`,
      `http://0.0.0.0:${SELF_PORT}/`,
      'https://meet.example.org/client/v4/',
      'https://MEET.example.org.:443/x',
      'http://meet.example.org:443/x',
    ]) {
      assert.equal(ruleOf(p, url), 'self', url);
    }
    // Other ports on loopback are the operator's own services: allowed by default.
    assert.equal(ruleOf(p, `http://127.0.0.1:${SELF_PORT + 1}/hook`), undefined);
    assert.equal(ruleOf(p, 'https://meet.example.org:8443/hook'), undefined);
  });

  it('when listening on all addresses, every local interface address on the port is the server', () => {
    const all = new OutboundPolicy({
      self: { port: () => SELF_PORT, hosts: ['0.0.0.0'] },
      localAddresses: () => ['127.0.0.1', '192.168.7.20', 'fe80::1', '2001:470::20'],
    });
    assert.equal(ruleOf(all, `http://192.168.7.20:${SELF_PORT}/`), 'self');
    assert.equal(ruleOf(all, `http://[2001:470::20]:${SELF_PORT}/`), 'self');
    assert.equal(ruleOf(all, `http://[::ffff:192.168.7.20]:${SELF_PORT}/`), 'self');
    assert.equal(ruleOf(all, `http://192.168.7.21:${SELF_PORT}/`), undefined);
    assert.equal(ruleOf(all, 'http://192.168.7.20:9000/'), undefined);
    // Listening on one address only: another local address is not the server.
    assert.equal(ruleOf(p, `http://192.168.7.20:${SELF_PORT}/`), undefined);
  });

  it('allows loopback and private targets by default and refuses them once denied', () => {
    const loopback = [
      'http://127.0.0.1:9000/hook',
      'http://[::1]:9000/',
      'http://localhost:9000/',
      'http://a.localhost:9000/',
    ];
    const priv = [
      'http://10.1.2.3/',
      'http://172.16.0.1/',
      'http://172.31.255.255/',
      'http://192.168.1.10:8080/',
      'http://100.64.0.1/',
      'http://[fd12:3456::1]/',
      'http://[::ffff:10.0.0.1]/',
      'http://012.1.2.3/', // octal 10.1.2.3
    ];
    for (const url of [...loopback, ...priv]) assert.equal(ruleOf(p, url), undefined, url);
    const noLoop = policy({ denyLoopback: true });
    for (const url of loopback) assert.equal(ruleOf(noLoop, url), 'loopback', url);
    for (const url of priv) assert.equal(ruleOf(noLoop, url), undefined, url);
    const noPriv = policy({ denyPrivate: true });
    for (const url of priv) assert.equal(ruleOf(noPriv, url), 'private', url);
    for (const url of loopback) assert.equal(ruleOf(noPriv, url), undefined, url);
    // 172.32/16 is not private.
    assert.equal(ruleOf(noPriv, 'http://172.32.0.1/'), undefined);
  });

  it('refuses ranges of the CIDR deny list, IPv4 and IPv6, including mapped spellings', () => {
    const d = policy({ denyCidrs: ['203.0.114.0/24', '2001:470:1::/48', '8.8.8.8'] });
    assert.equal(ruleOf(d, 'http://203.0.114.9/'), 'deny-cidr');
    assert.equal(ruleOf(d, 'http://[::ffff:203.0.114.9]/'), 'deny-cidr');
    assert.equal(ruleOf(d, 'http://[2001:470:1:2::3]/'), 'deny-cidr');
    assert.equal(ruleOf(d, 'http://8.8.8.8/'), 'deny-cidr');
    assert.equal(ruleOf(d, 'http://8.8.4.4/'), undefined);
    assert.equal(ruleOf(d, 'http://[2001:470:2::1]/'), undefined);
    assert.match(d.checkUrl('http://203.0.114.9/')!.message, /203\.0\.114\.0\/24.*WEBHOOK_DENY_CIDRS/);
  });

  it('refuses other schemes and credentials; allows public names and addresses', () => {
    assert.equal(ruleOf(p, 'ftp://example.com/'), 'scheme');
    assert.equal(ruleOf(p, 'file:///etc/passwd'), 'scheme');
    assert.equal(ruleOf(p, 'not a url'), 'scheme');
    assert.equal(ruleOf(p, 'http://user:pw@example.com/'), 'credentials');
    assert.equal(ruleOf(p, 'https://hooks.example.com/x'), undefined);
    assert.equal(ruleOf(p, 'http://93.184.215.14/'), undefined);
    assert.equal(ruleOf(p, 'http://[2606:2800:21f:cb07:6820:80da:af6b:8b2c]/'), undefined);
  });

  it('every refusal is an OutboundRefusedError with a known rule and a message naming it', () => {
    const e = p.checkUrl('http://[::ffff:a9fe:a9fe]/');
    assert.ok(e instanceof OutboundRefusedError);
    assert.ok(OUTBOUND_RULES.includes(e.rule));
    assert.match(e.message, /169\.254\.169\.254.*cloud metadata/);
  });
});

describe('OutboundPolicy.resolve (at request time)', () => {
  const fixed =
    (map: Record<string, string[]>) =>
    async (h: string): Promise<{ address: string; family: number }[]> => {
      const a = map[h];
      if (!a) throw new Error(`ENOTFOUND ${h}`);
      return a.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
    };

  it('checks every address the name resolves to and returns the checked one to connect to', async () => {
    const p = policy({
      resolve: fixed({
        'hooks.example': ['10.0.0.7'],
        'meta.example': ['169.254.169.254'],
        'mixed.example': ['93.184.215.14', '::ffff:127.0.0.1'],
        'v6meta.example': ['::ffff:a9fe:a9fe'],
        'loop.example': ['127.0.0.1'],
      }),
      denyLoopback: true,
    });
    const t = await p.resolve('http://hooks.example:9000/x');
    assert.deepEqual([t.address, t.family, t.port, t.hostname], ['10.0.0.7', 4, 9000, 'hooks.example']);
    const refusedWith = async (url: string, rule: OutboundRule) => {
      await assert.rejects(p.resolve(url), (e: unknown) => {
        assert.ok(e instanceof OutboundRefusedError, String(e));
        assert.equal(e.rule, rule, `${url}: ${e.message}`);
        return true;
      });
    };
    await refusedWith('http://meta.example/', 'cloud-metadata');
    await refusedWith('http://v6meta.example/', 'cloud-metadata');
    await refusedWith('http://mixed.example/', 'loopback');
    await refusedWith('http://loop.example/', 'loopback');
    await refusedWith('http://nowhere.example/', 'unresolvable');
    await refusedWith('http://169.254.169.254/', 'cloud-metadata');
    // A literal address is checked and returned without a look-up.
    assert.equal((await p.resolve('http://[::ffff:10.0.0.9]/')).address, '::ffff:a00:9');
  });

  it('a resolved address on the server port is the server', async () => {
    const p = policy({ resolve: fixed({ 'rebind.example': ['127.0.0.1'] }) });
    await assert.rejects(p.resolve(`http://rebind.example:${SELF_PORT}/`), /own address and port/);
    assert.equal((await p.resolve('http://rebind.example:9/')).address, '127.0.0.1');
  });
});

describe('parseCidr', () => {
  it('reads ranges and bare addresses; refuses anything else', () => {
    assert.equal(parseCidr('10.0.0.0/8')[1], 8);
    assert.equal(parseCidr('::1')[1], 128);
    assert.equal(parseCidr(' 192.168.0.1 ')[1], 32);
    assert.throws(() => parseCidr('10.0.0.0/33'), /not a CIDR/);
    assert.throws(() => parseCidr('example.com'), /not a CIDR/);
  });
});
