/**
 * Janus's configuration for the benchmark, written from scratch into a folder of the run: only the
 * VideoRoom plugin and the HTTP transport are loaded (their own folders hold links to just those two
 * libraries), the HTTP API listens on 127.0.0.1 only, the admin API is off, no STUN, ICE only on
 * the bench's veth interface, and rooms are made through the API (none in the file).
 */
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const JANUS_LIB_DIR = '/usr/lib/x86_64-linux-gnu/janus';

export interface JanusConfigOptions {
  /** Folder for the configuration (made if missing). */
  dir: string;
  httpPort: number;
  /** The only interface ICE may gather on (the bench's veth interface). */
  iceInterface: string;
  /** UDP ports for media, e.g. [20000, 29999]. */
  rtpPorts: [number, number];
  /** Where Janus's own libraries are (Debian's multiarch folder by default). */
  libDir?: string;
  debugLevel?: number;
}

const q = (s: string) => JSON.stringify(s);

/** Writes the files; returns the path of the main one (for `janus -C`). */
export function writeJanusConfig(o: JanusConfigOptions): string {
  const lib = o.libDir ?? JANUS_LIB_DIR;
  const folder = (name: string, libs: string[]) => {
    const d = join(o.dir, name);
    mkdirSync(d, { recursive: true });
    for (const l of libs) symlinkSync(join(lib, name, l), join(d, l));
    return d;
  };
  const plugins = folder('plugins', ['libjanus_videoroom.so']);
  const transports = folder('transports', ['libjanus_http.so']);
  const events = folder('events', []);
  const loggers = folder('loggers', []);
  const main = [
    '# trackroom benchmark: Janus as a peer (written by bench/src/janus/janus-config.ts)',
    'general: {',
    `  configs_folder = ${q(o.dir)}`,
    `  plugins_folder = ${q(plugins)}`,
    `  transports_folder = ${q(transports)}`,
    `  events_folder = ${q(events)}`,
    `  loggers_folder = ${q(loggers)}`,
    `  debug_level = ${o.debugLevel ?? 3}`,
    '  debug_colors = false',
    '  server_name = "trackroom-bench-peer"',
    '  session_timeout = 60',
    '}',
    'media: {',
    `  rtp_port_range = "${o.rtpPorts[0]}-${o.rtpPorts[1]}"`,
    '}',
    'nat: {',
    `  ice_enforce_list = ${q(o.iceInterface)}`,
    '  full_trickle = false',
    '}',
    'events: {',
    '  broadcast = false',
    '}',
    '',
  ].join('\n');
  const http = [
    '# HTTP API on 127.0.0.1 only; no admin API, no HTTPS.',
    'general: {',
    '  base_path = "/janus"',
    '  http = true',
    `  port = ${o.httpPort}`,
    '  ip = "127.0.0.1"',
    '  https = false',
    '}',
    'admin: {',
    '  admin_http = false',
    '  admin_https = false',
    '}',
    '',
  ].join('\n');
  const videoroom = ['# Rooms are created through the API by the benchmark.', 'general: {', '}', ''].join(
    '\n',
  );
  const file = join(o.dir, 'janus.jcfg');
  writeFileSync(file, main);
  writeFileSync(join(o.dir, 'janus.transport.http.jcfg'), http);
  writeFileSync(join(o.dir, 'janus.plugin.videoroom.jcfg'), videoroom);
  return file;
}
