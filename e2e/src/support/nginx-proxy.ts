/**
 * The shipped reverse-proxy configuration (deploy/nginx/trackroom.conf) run by Debian's real nginx
 * for a test: the domain, certificate paths, listen ports, upstream port and log path are replaced,
 * every other line is the shipped one. A minimal main config around it keeps all of nginx's files
 * (pid, logs, temporary paths) in the test's own directory.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, rmSync, watch, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from './server-process.js';

export const NGINX_PATH = process.env.NGINX_PATH ?? '/usr/sbin/nginx';
const root = new URL('../../../', import.meta.url).pathname;
export const SHIPPED_NGINX_CONF = join(root, 'deploy/nginx/trackroom.conf');

export interface NginxProxyOptions {
  /** A directory of the test's own; nginx's config, pid, logs and temporary files go there. */
  dir: string;
  /** The domain the certificate is for (replaces meet.example.org). */
  hostName: string;
  fullchainFile: string;
  keyFile: string;
  /** The trackroom server's HTTP port on 127.0.0.1 (replaces 8787). */
  upstreamPort: number;
  /** The https port (replaces 443); default a free loopback port. */
  httpsPort?: number;
}

export interface NginxProxy {
  proc: ChildProcess;
  httpsPort: number;
  httpPort: number;
  /** `https://<hostName>:<httpsPort>` */
  origin: string;
  /** The config nginx runs (the shipped file with the replacements). */
  siteConf: string;
  accessLog(): string;
  errorLog(): string;
  stop(): Promise<void>;
}

/**
 * The shipped config with the test's names, paths and ports. Every replaced text must be there:
 * a shipped file that changed shape fails here, by name, instead of testing something else.
 */
export function siteConfigFor(
  shipped: string,
  o: Required<Pick<NginxProxyOptions, 'hostName' | 'fullchainFile' | 'keyFile' | 'upstreamPort'>> & {
    httpsPort: number;
    httpPort: number;
    accessLog: string;
    webroot: string;
  },
): string {
  const replacements: [string, string][] = [
    ['/etc/letsencrypt/live/meet.example.org/fullchain.pem', o.fullchainFile],
    ['/etc/letsencrypt/live/meet.example.org/privkey.pem', o.keyFile],
    ['server_name meet.example.org;', `server_name ${o.hostName};`],
    ['server 127.0.0.1:8787;', `server 127.0.0.1:${o.upstreamPort};`],
    ['listen 443 ssl http2;', `listen 127.0.0.1:${o.httpsPort} ssl http2;`],
    ['listen [::]:443 ssl http2;', ''],
    ['listen 80;', `listen 127.0.0.1:${o.httpPort};`],
    ['listen [::]:80;', ''],
    ['/var/log/nginx/trackroom.access.log', o.accessLog],
    ['root /var/www/html;', `root ${o.webroot};`],
  ];
  let conf = shipped;
  for (const [from, to] of replacements) {
    if (!conf.includes(from))
      throw new Error(`${SHIPPED_NGINX_CONF} no longer contains "${from}": update the test`);
    conf = conf.split(from).join(to);
  }
  return conf;
}

/** Checks the config with `nginx -t`, starts nginx in the foreground and waits until it listens. */
export async function startNginxProxy(opts: NginxProxyOptions): Promise<NginxProxy> {
  if (!existsSync(NGINX_PATH))
    throw new Error(`nginx not found at ${NGINX_PATH} (apt-get install nginx; scripts/test.sh installs it)`);
  const { dir } = opts;
  const httpsPort = opts.httpsPort ?? (await freePort());
  const httpPort = await freePort();
  const accessLogFile = join(dir, 'access.log');
  const errorLogFile = join(dir, 'error.log');
  const pidFile = join(dir, 'nginx.pid');
  const siteConf = siteConfigFor(readFileSync(SHIPPED_NGINX_CONF, 'utf8'), {
    ...opts,
    httpsPort,
    httpPort,
    accessLog: accessLogFile,
    webroot: dir,
  });
  writeFileSync(join(dir, 'trackroom.conf'), siteConf);
  const mainConf = join(dir, 'nginx.conf');
  writeFileSync(
    mainConf,
    [
      'daemon off;',
      'worker_processes 1;',
      // As root nginx would switch its workers to `nobody`, who cannot enter the test's directory.
      ...(process.getuid?.() === 0 ? ['user root;'] : []),
      `pid ${pidFile};`,
      `error_log ${errorLogFile} info;`,
      'events { worker_connections 256; }',
      'http {',
      `  access_log ${join(dir, 'other-access.log')};`,
      ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((k) => `  ${k}_temp_path ${join(dir, k)};`),
      `  include ${join(dir, 'trackroom.conf')};`,
      '}',
      '',
    ].join('\n'),
  );
  const args = ['-p', dir, '-c', mainConf, '-e', errorLogFile];
  const check = spawnSync(NGINX_PATH, [...args, '-t'], { encoding: 'utf8' });
  if (check.status !== 0) throw new Error(`nginx -t refused the config:\n${check.stderr}\n${siteConf}`);
  rmSync(pidFile, { force: true }); // `nginx -t` leaves one behind

  const proc = spawn(NGINX_PATH, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const readLog = (f: string) => (existsSync(f) ? readFileSync(f, 'utf8') : '');
  // nginx writes its pid file after it has bound its listening sockets.
  const started = () => existsSync(pidFile) && readFileSync(pidFile, 'utf8').trim() === String(proc.pid);
  await new Promise<void>((resolve, reject) => {
    const watcher = watch(dir);
    const finish = (err?: Error) => {
      watcher.close();
      clearTimeout(timer);
      proc.off('exit', onExit);
      if (err) reject(err);
      else resolve();
    };
    const onExit = (code: number | null) =>
      finish(new Error(`nginx exited with ${code}:\n${stderr}${readLog(errorLogFile)}`));
    const timer = setTimeout(
      () => finish(new Error(`nginx did not start in 15 s:\n${readLog(errorLogFile)}`)),
      15_000,
    );
    watcher.on('change', () => started() && finish());
    proc.once('exit', onExit);
    if (started()) finish();
  });
  return {
    proc,
    httpsPort,
    httpPort,
    origin: `https://${opts.hostName}:${httpsPort}`,
    siteConf,
    accessLog: () => readLog(accessLogFile),
    errorLog: () => readLog(errorLogFile),
    stop: () =>
      new Promise((resolve) => {
        if (proc.exitCode !== null || proc.signalCode !== null) return resolve();
        proc.once('exit', () => resolve());
        proc.kill('SIGTERM'); // fast shutdown: the master ends its workers
      }),
  };
}
