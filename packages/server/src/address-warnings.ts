import ipaddr from 'ipaddr.js';
import type { ServerConfig } from './config.js';

/**
 * Start-up checks of the address settings (README "Configuration", docs/deploy.md "Addresses and
 * ports"): setups where browsers on other machines would load the page and get signalling but no
 * media, no microphone, or links that point at this machine's loopback.
 */
export const ADDRESS_WARNINGS = [
  /** HOST is a wildcard, nothing announces a reachable media address. */
  'MEDIA_WILDCARD_UNANNOUNCED',
  /** PUBLIC_URL names a remote-reachable host, but media is offered only on loopback. */
  'MEDIA_LOOPBACK_ONLY',
  /** HOST is a wildcard and PUBLIC_URL is unset: links handed out point at 127.0.0.1. */
  'PUBLIC_URL_UNSET',
  /** PUBLIC_URL is plain http on a host other than loopback: browsers refuse the microphone. */
  'PUBLIC_URL_INSECURE',
] as const;

export type AddressWarningCode = (typeof ADDRESS_WARNINGS)[number];

export interface AddressWarning {
  readonly code: AddressWarningCode;
  readonly message: string;
}

export type AddressWarningsConfig = Pick<ServerConfig, 'host' | 'publicUrl' | 'publicUrlExplicit'> & {
  ice: Pick<ServerConfig['ice'], 'bindAddress'> & { announcedAddress?: string | undefined };
};

const isWildcard = (a: string): boolean => a === '0.0.0.0' || a === '::' || a === '[::]';

/** Loopback in every spelling a config may hold: `localhost`, `*.localhost`, 127/8, `::1`, `::ffff:127.x`. */
export function isLoopbackHost(raw: string): boolean {
  const h = raw
    .trim()
    .toLowerCase()
    .replace(/^\[|\]$/g, '');
  if (h === 'localhost' || h.endsWith('.localhost')) return true;
  if (!ipaddr.isValid(h)) return false;
  const a = ipaddr.process(h); // IPv4-mapped IPv6 becomes its IPv4 address
  return a.range() === 'loopback';
}

/** The host of PUBLIC_URL, or undefined when it does not parse (loadConfig keeps it as given). */
function urlHost(url: string): { host: string; protocol: string } | undefined {
  try {
    const u = new URL(url);
    return { host: u.hostname, protocol: u.protocol };
  } catch {
    return undefined;
  }
}

/** Every address warning the configuration earns, in a fixed order; none for a local-only setup. */
export function addressWarnings(config: AddressWarningsConfig): AddressWarning[] {
  const out: AddressWarning[] = [];
  const { host } = config;
  const { bindAddress: bind, announcedAddress: announced } = config.ice;
  const offered = announced ?? bind;
  const pub = urlHost(config.publicUrl);
  const publicIsRemote = config.publicUrlExplicit && pub !== undefined && !isLoopbackHost(pub.host);

  if (isWildcard(host) && !announced && (isLoopbackHost(bind) || isWildcard(bind))) {
    out.push({
      code: 'MEDIA_WILDCARD_UNANNOUNCED',
      message:
        `HOST is ${host} but RTC_ANNOUNCED_ADDRESS is unset: browsers on other machines will reach ` +
        `the page and signalling but get no audio (media is offered on ${bind}). Set RTC_ANNOUNCED_ADDRESS ` +
        `to this machine's address as browsers reach it (and RTC_BIND_ADDRESS to a local interface address).`,
    });
  } else if (publicIsRemote && isLoopbackHost(offered)) {
    const which = announced ? 'RTC_ANNOUNCED_ADDRESS' : 'RTC_BIND_ADDRESS (default HOST)';
    out.push({
      code: 'MEDIA_LOOPBACK_ONLY',
      message:
        `PUBLIC_URL names ${pub.host} but media is offered only on ${offered} (${which}): browsers on ` +
        `other machines, also through a reverse proxy, will join and get no audio. Set RTC_BIND_ADDRESS ` +
        `to an interface address browsers reach, or RTC_ANNOUNCED_ADDRESS to this machine's public ` +
        `address (docs/deploy.md, "Addresses and ports").`,
    });
  }

  if (isWildcard(host) && !config.publicUrlExplicit) {
    out.push({
      code: 'PUBLIC_URL_UNSET',
      message:
        `HOST is ${host} but PUBLIC_URL is unset: links the server hands out (downloads, join page) ` +
        `point at ${config.publicUrl}, which only this machine can open. Set PUBLIC_URL to the address ` +
        `browsers use (https://... behind a TLS proxy, docs/deploy.md "HTTPS").`,
    });
  } else if (pub && pub.protocol === 'http:' && !isLoopbackHost(pub.host)) {
    out.push({
      code: 'PUBLIC_URL_INSECURE',
      message:
        `PUBLIC_URL is ${config.publicUrl}: browsers give the microphone only to https pages (or ` +
        `localhost), so people joining there get no microphone. Serve it through a TLS proxy and set ` +
        `PUBLIC_URL=https://... (docs/deploy.md, "HTTPS").`,
    });
  }
  return out;
}
