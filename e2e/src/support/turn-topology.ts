/**
 * The network of the TURN test: two network namespaces made here and a veth pair into the test's own
 * namespace (where the server runs), so that the TURN host is the only machine both sides reach.
 *
 *   server (this namespace)        TURN host (netns <p>-turn)          participant (netns <p>-part)
 *   10.N.2.1 <p>-s  ──veth──  <p>-t2 10.N.2.2  
 *                                   lo 10.N.0.1  (coturn, signalling forwarder)
 *                                   <p>-t1 10.N.1.2  ──veth──  <p>-p 10.N.1.1
 *
 * Each side has a route to 10.N.0.1 only; IP forwarding is off on the TURN host, so nothing crosses
 * it but what coturn relays (media) and the TCP forwarder carries (HTTP and the signalling WebSocket).
 * Only these 10.N.x.x addresses, inside namespaces made here, are used.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';

export interface TurnTopology {
  /** Namespace names. */
  turnNs: string;
  participantNs: string;
  /** The server's address (this namespace), the TURN host's service address, the participant's. */
  serverAddress: string;
  turnAddress: string;
  participantAddress: string;
  /** An address of the TURN host's subnet nobody has (for an announced address that cannot work). */
  unusedAddress: string;
  /** Runs a command inside one of the namespaces and returns its stdout. */
  exec(ns: string, cmd: string, ...args: string[]): string;
  /** Whether the kernel of `ns` ('' for this namespace) has a route to `address`. */
  routes(ns: string, address: string): boolean;
  close(): void;
}

const ip = (...args: string[]): string =>
  execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

/** Builds the topology; throws (after undoing what it did) when any step fails. */
export function buildTurnTopology(): TurnTopology {
  const tag = randomBytes(2).toString('hex');
  const p = `trn${tag}`;
  const n = 100 + (parseInt(tag, 16) % 100);
  const turnNs = `${p}-turn`;
  const participantNs = `${p}-part`;
  const a = {
    server: `10.${n}.2.1`,
    turnToServer: `10.${n}.2.2`,
    turn: `10.${n}.0.1`,
    turnToPart: `10.${n}.1.2`,
    part: `10.${n}.1.1`,
    unused: `10.${n}.3.1`,
  };
  const inNs = (ns: string, ...args: string[]) => ip('netns', 'exec', ns, ...args);
  const close = () => {
    for (const ns of [turnNs, participantNs]) {
      try {
        ip('netns', 'del', ns);
      } catch {
        // not created (a failed build) or already gone
      }
    }
    try {
      ip('link', 'del', `${p}-s`);
    } catch {
      // removed with its peer in the TURN namespace
    }
  };
  try {
    ip('link', 'set', 'lo', 'up');
    ip('netns', 'add', turnNs);
    ip('netns', 'add', participantNs);
    // server <-> TURN host
    ip('link', 'add', `${p}-s`, 'type', 'veth', 'peer', 'name', `${p}-t2`);
    ip('link', 'set', `${p}-t2`, 'netns', turnNs);
    ip('addr', 'add', `${a.server}/30`, 'dev', `${p}-s`);
    ip('link', 'set', `${p}-s`, 'up');
    inNs(turnNs, 'ip', 'link', 'set', 'lo', 'up');
    inNs(turnNs, 'ip', 'addr', 'add', `${a.turn}/32`, 'dev', 'lo');
    inNs(turnNs, 'ip', 'addr', 'add', `${a.turnToServer}/30`, 'dev', `${p}-t2`);
    inNs(turnNs, 'ip', 'link', 'set', `${p}-t2`, 'up');
    inNs(turnNs, 'sysctl', '-qw', 'net.ipv4.ip_forward=0');
    ip('route', 'add', `${a.turn}/32`, 'via', a.turnToServer);
    // TURN host <-> participant
    inNs(turnNs, 'ip', 'link', 'add', `${p}-t1`, 'type', 'veth', 'peer', 'name', `${p}-p`);
    inNs(turnNs, 'ip', 'link', 'set', `${p}-p`, 'netns', participantNs);
    inNs(turnNs, 'ip', 'addr', 'add', `${a.turnToPart}/30`, 'dev', `${p}-t1`);
    inNs(turnNs, 'ip', 'link', 'set', `${p}-t1`, 'up');
    inNs(participantNs, 'ip', 'link', 'set', 'lo', 'up');
    inNs(participantNs, 'ip', 'addr', 'add', `${a.part}/30`, 'dev', `${p}-p`);
    inNs(participantNs, 'ip', 'link', 'set', `${p}-p`, 'up');
    inNs(participantNs, 'ip', 'route', 'add', `${a.turn}/32`, 'via', a.turnToPart);
  } catch (err) {
    close();
    throw err;
  }
  return {
    turnNs,
    participantNs,
    serverAddress: a.server,
    turnAddress: a.turn,
    participantAddress: a.part,
    unusedAddress: a.unused,
    exec: (ns, cmd, ...args) => inNs(ns, cmd, ...args),
    routes(ns, address) {
      try {
        if (ns === '') ip('route', 'get', address);
        else inNs(ns, 'ip', 'route', 'get', address);
        return true;
      } catch {
        return false;
      }
    },
    close,
  };
}
