/**
 * Test support (not a test): Ceph's RADOS Gateway (Debian's `radosgw`, `ceph-mon`, `ceph-osd`, Ceph
 * 16.2 on bookworm) as a throwaway one-node cluster in a temporary directory, for an S3 server that
 * verifies SigV4 signatures (s3rver does not). One mon, one OSD on the in-memory `memstore` (no
 * disk), pools of size 1, no cephx between the daemons (S3 authentication is rgw's own and still
 * checks every signature), radosgw with the beast frontend, everything on 127.0.0.1, and one S3 user
 * with known keys. Start it inside the tests' network namespace (`unshare -nm`): its ports are
 * free there. No mgr: rgw does not need one.
 *
 * The daemons run in the foreground as children of this process (`-f`) and log to files in the
 * directory; `stop()` kills them and removes the directory. If this process exits first, an `exit`
 * hook kills them.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { accessSync, constants, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as delay } from 'node:timers/promises';
import { promisify } from 'node:util';
import { CreateBucketCommand, ListBucketsCommand, S3Client } from '@aws-sdk/client-s3';
import { freePort } from './free-port.js';

const exec = promisify(execFile);

/** The Debian packages that provide the binaries below (scripts/test.sh installs them). */
export const RGW_DEBIAN_PACKAGES = ['radosgw', 'ceph-mon', 'ceph-osd'] as const;
const BINARIES = ['ceph-mon', 'ceph-osd', 'radosgw', 'radosgw-admin', 'monmaptool', 'ceph'] as const;

/** The S3 user's keys (made with `radosgw-admin user create`). */
export const RGW_KEYS = {
  accessKeyId: 'TRACKROOMRGWTEST0001',
  secretAccessKey: 'rgw-test-secret-5b1e0c9a7d3f42e8a6c1',
};

export interface RgwTestServerOptions {
  /** Buckets to create once rgw is ready. */
  buckets?: string[];
  /** How long the whole start may take (default 120 s). */
  readyTimeoutMs?: number;
  /** More options for radosgw's section of ceph.conf (e.g. `rgw_crypt_default_encryption_key`). */
  rgwConfig?: Record<string, string | number | boolean>;
}

/** How long each step of the start took (ms). */
export interface RgwStartupStats {
  mon: number;
  osd: number;
  user: number;
  rgw: number;
  total: number;
}

export interface RgwTestServer {
  readonly endpoint: string;
  readonly port: number;
  readonly directory: string;
  readonly region: string;
  readonly keys: { accessKeyId: string; secretAccessKey: string };
  /** The daemons' log files, for a failing test's message. */
  readonly logFiles: string[];
  readonly startup: RgwStartupStats;
  /** A client with the given keys (default: the user's), path-style, plain bodies. */
  client(keys?: { accessKeyId: string; secretAccessKey: string }): S3Client;
  /** Kills every daemon and removes the directory; idempotent. */
  stop(): Promise<void>;
}

/** rgw failed to start: the message names the step and the log files (kept for reading). */
export class RgwStartError extends Error {
  override readonly name = 'RgwStartError';
  /** The cluster's directory, kept with its logs (undefined when nothing was made). */
  readonly directory: string | undefined;
  constructor(message: string, directory?: string) {
    super(message);
    this.directory = directory;
  }
}

function onPath(bin: string): boolean {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    try {
      accessSync(join(dir, bin), constants.X_OK);
      return true;
    } catch {
      // not in this directory
    }
  }
  return false;
}

function cephConf(
  dir: string,
  fsid: string,
  monPort: number,
  rgwPort: number,
  rgwExtra: Record<string, string | number | boolean>,
): string {
  return `[global]
fsid = ${fsid}
mon_host = v2:127.0.0.1:${monPort}
public_addr = 127.0.0.1
ms_bind_msgr1 = false
# No cephx between the daemons. radosgw asks for a "secure" mon connection by default, which needs
# cephx: crc is what auth "none" can do.
auth_cluster_required = none
auth_service_required = none
auth_client_required = none
ms_mon_client_mode = crc
osd_objectstore = memstore
memstore_device_bytes = 1073741824
osd_pool_default_size = 1
osd_pool_default_min_size = 1
osd_pool_default_pg_num = 8
osd_pool_default_pgp_num = 8
mon_allow_pool_size_one = true
# Faster map changes: rgw's first start creates its pools one map epoch at a time.
paxos_propose_interval = 0.05
paxos_min_wait = 0.01
mon_max_pg_per_osd = 1000
mon_warn_on_pool_no_redundancy = false
# A shared development disk may be fuller than a mon likes; its store here is a few MB.
mon_data_avail_warn = 1
mon_data_avail_crit = 0
run_dir = ${dir}/run
admin_socket = ${dir}/run/$name.asok
pid_file = ${dir}/run/$name.pid
log_file = ${dir}/log/$name.log
# A daemon that exits on an error flushes its log first (the error is in a failed start's message).
log_flush_on_exit = true
mon_data = ${dir}/mon/$cluster-$id
osd_data = ${dir}/osd/$cluster-$id
keyring = ${dir}/keyring

[client.rgw.a]
rgw_frontends = beast endpoint=127.0.0.1:${rgwPort}
rgw_thread_pool_size = 16
rgw_enable_gc_threads = false
rgw_enable_lc_threads = false
rgw_enable_quota_threads = false
${Object.entries(rgwExtra)
  .map(([k, v]) => `${k} = ${String(v)}\n`)
  .join('')}`;
}

export async function startRgwTestServer(options: RgwTestServerOptions = {}): Promise<RgwTestServer> {
  const missing = BINARIES.filter((b) => !onPath(b));
  if (missing.length > 0) {
    throw new RgwStartError(
      `Ceph RGW test server: ${missing.join(', ')} not found. Install the Debian packages ` +
        `${RGW_DEBIAN_PACKAGES.join(' ')} (scripts/test.sh does).`,
    );
  }
  const t0 = performance.now();
  const deadline = Date.now() + (options.readyTimeoutMs ?? 120_000);
  const directory = mkdtempSync(join(tmpdir(), 'rgw-'));
  for (const d of ['run', 'log', 'mon/ceph-a', 'osd/ceph-0'])
    mkdirSync(join(directory, d), { recursive: true });
  const [monPort, port] = [await freePort(), await freePort()];
  const fsid = randomUUID();
  const conf = join(directory, 'ceph.conf');
  writeFileSync(conf, cephConf(directory, fsid, monPort, port, options.rgwConfig ?? {}));
  const logFiles = ['mon.a', 'osd.0', 'client.rgw.a', 'client.admin'].map((n) =>
    join(directory, 'log', `${n}.log`),
  );
  const endpoint = `http://127.0.0.1:${port}`;
  const region = 'us-east-1';

  const children: ChildProcess[] = [];
  /** The first daemon that exited on its own: which, and how. */
  let exited: { bin: string; how: string } | undefined;
  const killAll = () => {
    // SIGKILL: the cluster is thrown away (a stopping memstore OSD would first write its store to disk).
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  };
  const onExit = () => {
    killAll();
    rmSync(directory, { recursive: true, force: true });
  };
  process.once('exit', onExit);

  /** Kills the daemons and waits until they are gone. */
  const killAndWait = async () => {
    const gone = children.map(
      (c) =>
        new Promise<void>((resolve) => {
          if (c.exitCode !== null || c.signalCode !== null) resolve();
          else c.once('exit', () => resolve());
        }),
    );
    killAll();
    await Promise.all(gone);
  };
  const fail = async (step: string, detail: string): Promise<never> => {
    await killAndWait();
    process.off('exit', onExit);
    // The log that says why: the daemon's that exited, rgw's when it did not answer.
    const logOf: Record<string, string | undefined> = {
      'ceph-mon': logFiles[0],
      'ceph-osd': logFiles[1],
      radosgw: logFiles[2],
      'ready-wait': logFiles[2],
    };
    const log = logOf[step];
    const tail = log ? `\n  end of ${log}:\n${tailOf(log, 8)}` : '';
    throw new RgwStartError(
      `Ceph RGW test server: ${step} failed: ${detail}\n  logs (kept): ${logFiles.join(' ')}\n  config: ${conf}${tail}`,
      directory,
    );
  };
  const remaining = () => Math.max(1000, deadline - Date.now());
  const run = async (step: string, bin: string, args: string[]): Promise<string> => {
    try {
      const { stdout } = await exec(bin, ['-c', conf, ...args], { timeout: remaining(), encoding: 'utf8' });
      return stdout;
    } catch (e) {
      const err = e as { stderr?: string; message?: string };
      return fail(
        step,
        `${bin} ${args.join(' ')}: ${(err.stderr || err.message || String(e)).trim().slice(-800)}`,
      );
    }
  };
  const daemon = (bin: string, args: string[]) => {
    const c = spawn(bin, ['-f', '-c', conf, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    c.stderr?.setEncoding('utf8').on('data', (s: string) => {
      stderr = (stderr + s).slice(-2000);
    });
    c.once('exit', (code, signal) => {
      exited ??= { bin, how: `${bin} exited (${signal ?? `code ${code}`}) ${stderr.trim()}`.trim() };
    });
    children.push(c);
  };

  // The mon, from a monmap with its one address.
  const monmap = join(directory, 'monmap');
  await run('monmap', 'monmaptool', [
    '--create',
    '--fsid',
    fsid,
    '--addv',
    'a',
    `[v2:127.0.0.1:${monPort}]`,
    monmap,
  ]);
  await run('mon mkfs', 'ceph-mon', ['--mkfs', '-i', 'a', '--monmap', monmap]);
  daemon('ceph-mon', ['-i', 'a']);
  const tMon = performance.now();

  // One OSD: registered with its uuid (the mon ignores the boot of an OSD whose uuid differs), made, started.
  const osdUuid = randomUUID();
  const id = (await run('osd new', 'ceph', ['--connect-timeout', '60', 'osd', 'new', osdUuid])).trim();
  if (id !== '0') await fail('osd new', `expected OSD id 0, got "${id}"`);
  await run('osd mkfs', 'ceph-osd', ['-i', '0', '--mkfs', '--osd-uuid', osdUuid]);
  daemon('ceph-osd', ['-i', '0']);
  const tOsd = performance.now();

  // The S3 user (radosgw-admin makes the zone's pools, which waits for the OSD to be up).
  await run('user create', 'radosgw-admin', [
    'user',
    'create',
    '--uid',
    'trackroom-test',
    '--display-name',
    'trackroom test',
    '--access-key',
    RGW_KEYS.accessKeyId,
    '--secret-key',
    RGW_KEYS.secretAccessKey,
  ]);
  const tUser = performance.now();

  daemon('radosgw', ['-n', 'client.rgw.a']);
  const client = (keys = RGW_KEYS) =>
    new S3Client({
      region,
      endpoint,
      forcePathStyle: true,
      credentials: keys,
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      maxAttempts: 1,
    });
  // Ready when an authenticated ListBuckets succeeds. rgw has no readiness signal to wait on: poll.
  const probe = client();
  let last = 'no answer yet';
  for (;;) {
    if (exited) await fail(exited.bin, exited.how);
    if (Date.now() > deadline)
      await fail('ready-wait', `ListBuckets did not succeed in time (last: ${last})`);
    try {
      await probe.send(new ListBucketsCommand({}));
      break;
    } catch (e) {
      last = `${(e as Error).name}: ${(e as Error).message}`;
      await delay(200);
    }
  }
  for (const b of options.buckets ?? []) {
    try {
      await probe.send(new CreateBucketCommand({ Bucket: b }));
    } catch (e) {
      await fail('create bucket', `${b}: ${(e as Error).name}: ${(e as Error).message}`);
    }
  }
  probe.destroy();
  const tRgw = performance.now();

  let stopped = false;
  return {
    endpoint,
    port,
    directory,
    region,
    keys: RGW_KEYS,
    logFiles,
    startup: {
      mon: Math.round(tMon - t0),
      osd: Math.round(tOsd - tMon),
      user: Math.round(tUser - tOsd),
      rgw: Math.round(tRgw - tUser),
      total: Math.round(tRgw - t0),
    },
    client,
    async stop() {
      if (stopped) return;
      stopped = true;
      await killAndWait();
      process.off('exit', onExit);
      rmSync(directory, { recursive: true, force: true });
    },
  };
}

/** The last lines of a log file (for a failing assertion's message). */
export function tailOf(file: string, lines = 20): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return `(${file} unreadable)`;
  }
}
