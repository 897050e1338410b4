/**
 * The bench's own network namespace, and an interface in it that Janus can use. Janus gathers no
 * candidate on an interface flagged IFF_LOOPBACK, so in a namespace holding only `lo` nobody can
 * connect to it: the bench adds an interface with an address of its own, tells Janus to use only
 * that interface, and has its publishers use only that address (a veth pair: this kernel has no dummy
 * interfaces). All of it exists only inside the
 * namespace, which has no route anywhere else.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { readlinkSync } from 'node:fs';

/** The interface and its address (a /32 in a private range, only ever inside the namespace). */
export const BENCH_IFACE = 'trbench0';
export const BENCH_ADDRESS = '10.213.7.1';
/** The other end of the veth pair (no address). */
export const BENCH_PEER_IFACE = 'trbench1';

/** Set by `reexecInOwnNetns` for the re-executed bench: the namespace it came from. */
export const PARENT_NETNS_ENV = 'TRACKROOM_BENCH_PARENT_NETNS';

/** This process's network namespace, e.g. `net:[4026531840]`. */
export const currentNetns = () => readlinkSync('/proc/self/ns/net');

/**
 * True when this process runs in the namespace `reexecInOwnNetns` made for it (PID 1's namespace
 * cannot be read here, so the bench compares with the namespace it left).
 */
export function inOwnNetns(): boolean {
  const parent = process.env[PARENT_NETNS_ENV];
  return parent !== undefined && parent !== currentNetns();
}

/**
 * Runs this same command again inside a fresh network namespace (`unshare -n`, loopback up) and
 * exits with its status. Never returns.
 */
export function reexecInOwnNetns(): never {
  const r = spawnSync(
    'unshare',
    [
      '-n',
      '--',
      'sh',
      '-c',
      'ip link set lo up && exec "$0" "$@"',
      process.execPath,
      ...process.execArgv,
      ...process.argv.slice(1),
    ],
    { stdio: 'inherit', env: { ...process.env, [PARENT_NETNS_ENV]: currentNetns() } },
  );
  if (r.error) throw new Error(`unshare -n failed: ${r.error.message}`);
  process.exit(r.status ?? 1);
}

/** Interface names in this namespace. */
export function interfaces(): string[] {
  const out = execFileSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' });
  return out
    .split('\n')
    .map((l) => /^\d+:\s+([^:@]+)/.exec(l)?.[1])
    .filter((n): n is string => Boolean(n));
}

/**
 * Makes sure we are in a namespace of our own holding nothing but `lo` (and our veth pair), then adds
 * the interface if missing. Refuses loudly otherwise: this never touches the host's network.
 */
export function ensureBenchInterface(): { iface: string; address: string } {
  if (!inOwnNetns())
    throw new Error(
      'Janus runs only inside a network namespace the bench made (reexecInOwnNetns); not adding an interface here',
    );
  const others = interfaces().filter((n) => n !== 'lo' && n !== BENCH_IFACE && n !== BENCH_PEER_IFACE);
  if (others.length)
    throw new Error(
      `this network namespace has other interfaces (${others.join(', ')}): not one the bench made`,
    );
  const ip = (...args: string[]) => {
    const r = spawnSync('ip', args, { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr.trim()}`);
  };
  ip('link', 'set', 'lo', 'up');
  if (!interfaces().includes(BENCH_IFACE)) {
    // A veth pair (this kernel has no dummy driver); both ends stay in this namespace, and only
    // BENCH_IFACE has an address.
    ip('link', 'add', BENCH_IFACE, 'type', 'veth', 'peer', 'name', BENCH_PEER_IFACE);
    ip('addr', 'add', `${BENCH_ADDRESS}/32`, 'dev', BENCH_IFACE);
    ip('link', 'set', BENCH_PEER_IFACE, 'up');
    ip('link', 'set', BENCH_IFACE, 'up');
  }
  return { iface: BENCH_IFACE, address: BENCH_ADDRESS };
}
