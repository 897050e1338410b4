import { lookup as dnsLookup } from 'node:dns/promises';
import type { LookupFunction } from 'node:net';
import ipaddr from 'ipaddr.js';

/**
 * Which URLs the server may contact on a user's behalf (webhooks today, storage endpoints later):
 * one set of rules, checked when a URL is registered (its literal host) and again on every request
 * (the addresses its name resolves to then, so DNS rebinding cannot move a checked name elsewhere).
 *
 * Always refused: link-local and cloud-metadata addresses, reserved/special-purpose and
 * non-unicast addresses, and the server's own HTTP port on its own addresses. Loopback and private
 * ranges are allowed unless the policy denies them; a CIDR deny list refuses more.
 */
export const OUTBOUND_RULES = [
  'scheme',
  'credentials',
  'link-local',
  'cloud-metadata',
  'reserved',
  'self',
  'loopback',
  'private',
  'deny-cidr',
  'unresolvable',
] as const;
export type OutboundRule = (typeof OUTBOUND_RULES)[number];

export interface OutboundPolicyOptions {
  /** Refuse 127.0.0.0/8, ::1 and names that mean loopback (`localhost`). Default false. */
  denyLoopback?: boolean;
  /** Refuse RFC 1918, 100.64.0.0/10 (carrier-grade NAT) and fc00::/7 (unique local). Default false. */
  denyPrivate?: boolean;
  /** More CIDR ranges to refuse, e.g. `['10.20.0.0/16', '2001:db8:1::/48']`. */
  denyCidrs?: readonly string[];
  /**
   * The server itself: its HTTP port, the addresses it listens on (`0.0.0.0`/`::` for all) and its
   * public origin. A URL on that port at one of those addresses (or any loopback or local interface
   * address when it listens on all) is refused, so a webhook cannot call the admin API.
   */
  self?: { port: () => number; hosts: readonly string[]; publicOrigin?: () => string | undefined };
  /** Addresses of this machine's interfaces (default: none besides the listed hosts); used for `self`. */
  localAddresses?: () => readonly string[];
  /** DNS seam: every address a name resolves to. Default: the system resolver (`dns.lookup`, all). */
  resolve?: (hostname: string) => Promise<readonly { address: string; family: number }[]>;
}

export class OutboundRefusedError extends Error {
  override readonly name = 'OutboundRefusedError';
  readonly rule: OutboundRule;
  constructor(rule: OutboundRule, message: string) {
    super(message);
    this.rule = rule;
  }
}

/** The address a request may connect to, checked: connect to exactly this, never re-resolve. */
export interface CheckedTarget {
  url: URL;
  hostname: string;
  address: string;
  family: 4 | 6;
  port: number;
}

type Addr = ipaddr.IPv4 | ipaddr.IPv6;

/** Metadata services reachable at addresses outside link-local (the link-local ones are refused anyway). */
const METADATA_ADDRESSES: readonly [string, string][] = [
  ['169.254.169.254', 'AWS, GCP, Azure, OpenStack, DigitalOcean, Oracle'],
  ['169.254.170.2', 'AWS ECS task metadata'],
  ['fd00:ec2::254', 'AWS IPv6 instance metadata'],
  ['100.100.100.200', 'Alibaba Cloud metadata'],
  ['168.63.129.16', 'Azure wire server'],
];
const METADATA_NAMES = new Set(['metadata.google.internal', 'metadata.goog', 'metadata', 'instance-data']);

/** `a.b.c.d/n` or `v6/n`; a bare address means that one address. Throws on anything else. */
export function parseCidr(text: string): [Addr, number] {
  const t = text.trim();
  if (ipaddr.isValidCIDR(t)) return ipaddr.parseCIDR(t);
  if (ipaddr.isValid(t)) {
    const a = ipaddr.parse(t);
    return [a, a.kind() === 'ipv4' ? 32 : 128];
  }
  throw new Error(`"${text}" is not a CIDR range (like 10.0.0.0/8 or fd00::/8)`);
}

/** Lowercased, without brackets and without the trailing dots a DNS name may carry. */
function bareHost(hostname: string): string {
  let h = hostname.toLowerCase();
  if (h.startsWith('[') && h.endsWith(']')) h = h.slice(1, -1);
  return h.replace(/\.+$/, '');
}

/** The IPv4 address an IPv6 address carries and routes to, when it does (mapped, compatible, NAT64, 6to4). */
function embeddedIPv4(a: ipaddr.IPv6): ipaddr.IPv4 | undefined {
  const p = a.parts;
  const tail = () => new ipaddr.IPv4([p[6]! >> 8, p[6]! & 0xff, p[7]! >> 8, p[7]! & 0xff]);
  const range = a.range();
  if (range === 'ipv4Mapped' || range === 'rfc6145' || range === 'rfc6052') return tail();
  // ::a.b.c.d (deprecated IPv4-compatible), but not :: and ::1
  if (p.slice(0, 6).every((x) => x === 0) && (p[6] !== 0 || p[7]! > 1)) return tail();
  if (range === '6to4') return new ipaddr.IPv4([p[1]! >> 8, p[1]! & 0xff, p[2]! >> 8, p[2]! & 0xff]);
  return undefined;
}

function sameAddress(a: Addr, b: Addr): boolean {
  return a.kind() === b.kind() && a.toNormalizedString() === b.toNormalizedString();
}

function inCidr(a: Addr, [net, bits]: [Addr, number]): boolean {
  if (a.kind() !== net.kind()) return false;
  return a.match(net as never, bits);
}

/** The one place that decides whether the server may contact a URL. Immutable once built. */
export class OutboundPolicy {
  readonly #o: OutboundPolicyOptions;
  readonly #deny: [Addr, number][];
  readonly #metadata: Addr[];

  constructor(options: OutboundPolicyOptions = {}) {
    this.#o = options;
    this.#deny = (options.denyCidrs ?? []).map(parseCidr);
    this.#metadata = METADATA_ADDRESSES.map(([a]) => ipaddr.parse(a));
  }

  /**
   * The refusal for a URL as written (scheme, credentials, a literal address, well-known names), or
   * undefined. Names are not resolved here: `resolve()` checks their addresses at request time.
   */
  checkUrl(raw: string | URL): OutboundRefusedError | undefined {
    let url: URL;
    try {
      url = typeof raw === 'string' ? new URL(raw) : raw;
    } catch {
      return new OutboundRefusedError('scheme', 'The URL is not a valid absolute http(s) URL');
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      return new OutboundRefusedError('scheme', `Only http and https URLs are allowed, not ${url.protocol}`);
    }
    if (url.username || url.password) {
      return new OutboundRefusedError('credentials', 'The URL must not carry a user name or password');
    }
    const port = portOf(url);
    const host = bareHost(url.hostname);
    const origin = this.#o.self?.publicOrigin?.();
    if (origin && sameOrigin(url, origin)) {
      return new OutboundRefusedError('self', `The URL points at this server's own public URL (${origin})`);
    }
    if (ipaddr.isValid(host)) return this.checkAddress(host, port);
    if (METADATA_NAMES.has(host)) {
      return new OutboundRefusedError('cloud-metadata', `${host} is a cloud metadata service name`);
    }
    if (host === 'localhost' || host.endsWith('.localhost')) {
      if (port === this.#o.self?.port()) {
        return new OutboundRefusedError('self', `${host}:${port} is this server's own address and port`);
      }
      if (this.#o.denyLoopback) {
        return new OutboundRefusedError('loopback', `${host} is a loopback name (WEBHOOK_DENY_LOOPBACK)`);
      }
    }
    return undefined;
  }

  /** The refusal for connecting to `address` (any spelling ipaddr.js reads) on `port`, or undefined. */
  checkAddress(address: string, port: number): OutboundRefusedError | undefined {
    let a: Addr;
    try {
      a = ipaddr.parse(bareHost(address));
    } catch {
      return new OutboundRefusedError('unresolvable', `${address} is not an IP address`);
    }
    const shown = a.toString();
    if (a.kind() === 'ipv6') {
      const v4 = embeddedIPv4(a as ipaddr.IPv6);
      if (v4) {
        const inner = this.checkAddress(v4.toString(), port);
        if (inner) {
          return new OutboundRefusedError(inner.rule, `${shown} carries ${v4.toString()}: ${inner.message}`);
        }
        return this.#checkOther(a, shown, port);
      }
    }
    const meta = this.#metadata.findIndex((m) => sameAddress(m, a));
    if (meta >= 0) {
      const name = METADATA_ADDRESSES[meta]![1];
      return new OutboundRefusedError('cloud-metadata', `${shown} is a cloud metadata address (${name})`);
    }
    const range = a.range();
    if (range === 'linkLocal')
      return new OutboundRefusedError('link-local', `${shown} is a link-local address`);
    if (this.#isSelf(a, port)) {
      return new OutboundRefusedError('self', `${shown}:${port} is this server's own address and port`);
    }
    if (range === 'loopback') {
      return this.#o.denyLoopback
        ? new OutboundRefusedError('loopback', `${shown} is a loopback address (WEBHOOK_DENY_LOOPBACK)`)
        : this.#checkOther(a, shown, port);
    }
    if (range === 'private' || range === 'uniqueLocal' || range === 'carrierGradeNat') {
      return this.#o.denyPrivate
        ? new OutboundRefusedError('private', `${shown} is a private address (WEBHOOK_DENY_PRIVATE)`)
        : this.#checkOther(a, shown, port);
    }
    if (
      range !== 'unicast' &&
      range !== 'ipv4Mapped' &&
      range !== 'rfc6145' &&
      range !== 'rfc6052' &&
      range !== '6to4'
    ) {
      return new OutboundRefusedError('reserved', `${shown} is not a public unicast address (${range})`);
    }
    return this.#checkOther(a, shown, port);
  }

  #checkOther(a: Addr, shown: string, port: number): OutboundRefusedError | undefined {
    const hit = this.#deny.find((c) => inCidr(a, c));
    if (hit) {
      return new OutboundRefusedError(
        'deny-cidr',
        `${shown} is in ${hit[0].toString()}/${hit[1]} (WEBHOOK_DENY_CIDRS)`,
      );
    }
    if (this.#isSelf(a, port)) {
      return new OutboundRefusedError('self', `${shown}:${port} is this server's own address and port`);
    }
    return undefined;
  }

  #isSelf(a: Addr, port: number): boolean {
    const self = this.#o.self;
    if (!self || port !== self.port()) return false;
    // Loopback on the server's port is the server (or a sibling on the same machine): refused
    // even when it listens elsewhere, as is 0.0.0.0/:: (which reaches this machine).
    if (a.range() === 'loopback' || a.range() === 'unspecified') return true;
    const all = self.hosts.some(
      (h) => ipaddr.isValid(bareHost(h)) && ipaddr.parse(bareHost(h)).range() === 'unspecified',
    );
    const mine = [...self.hosts, ...(all ? (this.#o.localAddresses?.() ?? []) : [])];
    return mine.some((h) => {
      const b = bareHost(h);
      return ipaddr.isValid(b) && sameAddress(ipaddr.process(b), a);
    });
  }

  /**
   * Checks the URL, resolves its name now and checks every address it resolves to; any refused
   * address refuses the whole name. The request must connect to the returned address.
   */
  async resolve(raw: string | URL): Promise<CheckedTarget> {
    const url = typeof raw === 'string' ? new URL(raw) : raw;
    const early = this.checkUrl(url);
    if (early) throw early;
    const port = portOf(url);
    const hostname = bareHost(url.hostname);
    if (ipaddr.isValid(hostname)) {
      const a = ipaddr.parse(hostname);
      return { url, hostname, address: a.toString(), family: a.kind() === 'ipv4' ? 4 : 6, port };
    }
    const resolveFn = this.#o.resolve ?? ((h: string) => dnsLookup(h, { all: true, verbatim: true }));
    let addrs: readonly { address: string; family: number }[];
    try {
      addrs = await resolveFn(hostname);
    } catch (e) {
      throw new OutboundRefusedError('unresolvable', `${hostname} does not resolve: ${(e as Error).message}`);
    }
    if (addrs.length === 0) throw new OutboundRefusedError('unresolvable', `${hostname} has no address`);
    for (const { address } of addrs) {
      const no = this.checkAddress(address, port);
      if (no) throw new OutboundRefusedError(no.rule, `${hostname} resolves to ${no.message}`);
    }
    const first = ipaddr.parse(addrs[0]!.address);
    return { url, hostname, address: first.toString(), family: first.kind() === 'ipv4' ? 4 : 6, port };
  }

  /**
   * A `lookup` for sockets a library opens itself (the S3 client's agents): resolves the name when
   * the socket connects and hands over only addresses the rules allow on `port`; a refused address
   * fails the connection with the OutboundRefusedError. Literal IP hosts never reach a lookup:
   * check them with `checkUrl` before each use.
   */
  lookupFor(port: number): LookupFunction {
    const resolveFn = this.#o.resolve ?? ((h: string) => dnsLookup(h, { all: true, verbatim: true }));
    return (hostname, options, cb) => {
      const host = bareHost(hostname);
      const early = METADATA_NAMES.has(host)
        ? new OutboundRefusedError('cloud-metadata', `${host} is a cloud metadata service name`)
        : undefined;
      const found: Promise<readonly { address: string; family: number }[]> = early
        ? Promise.reject(early)
        : ipaddr.isValid(host)
          ? Promise.resolve([{ address: host, family: ipaddr.parse(host).kind() === 'ipv4' ? 4 : 6 }])
          : resolveFn(host);
      const refused = (e: unknown): OutboundRefusedError =>
        e instanceof OutboundRefusedError
          ? e
          : new OutboundRefusedError('unresolvable', `${host} does not resolve: ${(e as Error).message}`);
      const checked = found.then((addrs) => {
        if (addrs.length === 0) throw new OutboundRefusedError('unresolvable', `${host} has no address`);
        for (const { address } of addrs) {
          const no = this.checkAddress(address, port);
          if (no) throw new OutboundRefusedError(no.rule, `${host} resolves to ${no.message}`);
        }
        return addrs.map(({ address }) => {
          const a = ipaddr.parse(address);
          return { address: a.toString(), family: a.kind() === 'ipv4' ? 4 : 6 };
        });
      });
      // The callback runs outside the promise chain: an exception it throws is not a lookup failure.
      checked.then(
        (list) =>
          setImmediate(() => {
            if ((options as { all?: boolean }).all) {
              (cb as unknown as (e: null, a: { address: string; family: number }[]) => void)(null, list);
            } else cb(null, list[0]!.address, list[0]!.family);
          }),
        (e: unknown) => setImmediate(() => cb(refused(e) as unknown as NodeJS.ErrnoException, '', 4)),
      );
    };
  }
}

function portOf(url: URL): number {
  return url.port ? Number(url.port) : url.protocol === 'https:' ? 443 : 80;
}

function sameOrigin(url: URL, origin: string): boolean {
  try {
    const o = new URL(origin);
    return bareHost(o.hostname) === bareHost(url.hostname) && portOf(o) === portOf(url);
  } catch {
    return false;
  }
}
