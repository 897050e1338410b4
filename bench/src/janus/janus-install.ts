/**
 * Janus WebRTC Server 1.1.x from Debian (`janus`, and `janus-tools` for `janus-pp-rec`): installed
 * with apt-get when missing, which needs the network, so only outside the bench's namespace.
 */
import { spawnSync } from 'node:child_process';

const has = (bin: string, arg: string) => spawnSync(bin, [arg], { encoding: 'utf8' }).error === undefined;

/** `janus --version`'s version line, e.g. "1.1.2"; undefined when janus is not installed. */
export function janusVersion(): string | undefined {
  const r = spawnSync('janus', ['--version'], { encoding: 'utf8' });
  if (r.error) return undefined;
  return /\((\d+\.\d+\.\d+)\)/.exec(`${r.stdout}${r.stderr}`)?.[1] ?? 'unknown';
}

export function janusInstalled(): boolean {
  return janusVersion() !== undefined && has('janus-pp-rec', '--help');
}

/** Installs janus + janus-tools with apt-get when either is missing; says so. Throws if it cannot. */
export function ensureJanusInstalled(log: (s: string) => void): string {
  if (!janusInstalled()) {
    log('janus: not installed; installing the Debian packages janus and janus-tools with apt-get');
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    for (const args of [['update'], ['install', '-y', '--no-install-recommends', 'janus', 'janus-tools']]) {
      const r = spawnSync('apt-get', args, { encoding: 'utf8', env, stdio: ['ignore', 'ignore', 'pipe'] });
      if (r.error || r.status !== 0)
        throw new Error(
          `apt-get ${args.join(' ')} failed (${r.error?.message ?? r.stderr.trim().slice(-500)}); install janus and janus-tools by hand`,
        );
    }
    if (!janusInstalled()) throw new Error('janus or janus-pp-rec still missing after apt-get install');
  }
  return janusVersion()!;
}
